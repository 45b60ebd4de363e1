"""One entry point from what a user passes as ``model=`` to a :class:`~semst_sc.semantics.TextEncoder`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import pandas as pd

from .. import _constants as C
from ._decoder import POOLINGS, DecoderEncoder
from ._gene_table import GeneTable
from ._hub import fingerprint, is_decoder, local_folder
from ._object import ObjectEncoder
from ._protocol import TextEncoder
from ._sentence_transformer import DEFAULT_ALIASES, SentenceTransformerEncoder

_HF_PREFIX = "hf:"
BACKENDS = ("auto", "sentence-transformers", "hf")
_CHECKED = (SentenceTransformerEncoder, DecoderEncoder, GeneTable, ObjectEncoder)


def load_text_encoder(
    model: Any = None,
    *,
    backend: Literal["auto", "sentence-transformers", "hf"] = "auto",
    pooling: Literal["mean", "genes"] = "mean",
    trust_remote_code: bool = False,
    device: str | None = None,
    progress: bool | None = None,
) -> TextEncoder:
    """Turn ``model`` into a text encoder: the bundled default, a model name or folder, a gene table or an object.

    Model weights load on first use, so a run whose vectors are all cached never loads them (nor imports torch).

    Parameters
    ----------
    model
        ``None`` or ``"all-MiniLM-L6-v2"``: the bundled offline default; a sentence-transformers name or local
        folder; a Hugging Face decoder LLM (``"hf:<name or folder>"``, or detected from its ``config.json``); a
        DataFrame of gene vectors (:class:`~semst_sc.semantics.GeneTable`); a
        :class:`~semst_sc.semantics.TextEncoder`; or any object with an ``encode(texts)`` method
        (:class:`~semst_sc.semantics.ObjectEncoder`).
    backend
        ``"auto"``: a decoder LLM when the model's ``config.json`` names a ``...ForCausalLM`` architecture and it
        is not a sentence-transformers folder, else sentence-transformers.
    pooling
        Decoder pooling: ``"mean"`` over all tokens or ``"genes"`` over the gene list only.
    trust_remote_code
        Allow a decoder model's own code from its folder or the hub (off unless asked).
    device
        Torch device of the weights; ``None`` reads :attr:`semst_sc.settings.device` when they load.
    progress
        Show the weight-loading progress bars; ``None`` reads :attr:`semst_sc.settings.progress`.

    Returns
    -------
    The encoder, with its ``identity`` (the cache key; ``None`` when its vectors must not be cached).
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be 'mean' or 'genes', got {pooling!r}")
    if isinstance(model, pd.DataFrame):
        return GeneTable(model)
    if isinstance(model, _CHECKED):
        return model
    if model is not None and not isinstance(model, (str, Path)):
        return ObjectEncoder(model)

    name = C.DEFAULT_MODEL if model is None else str(model)
    if name.startswith(_HF_PREFIX):
        name, backend = name[len(_HF_PREFIX) :], "hf"
    if name in DEFAULT_ALIASES and backend != "hf":
        return SentenceTransformerEncoder.bundled(device=device, progress=progress)
    folder = local_folder(name)
    if folder is None and (Path(name).expanduser().exists() or name.startswith(("/", ".", "~"))):
        raise FileNotFoundError(
            f"model {name!r} is a path but no folder (not found, or a file): pass the folder that holds the model "
            f"(config.json and weights), a Hugging Face model name, or model=None for the bundled {C.DEFAULT_MODEL}"
        )
    if backend == "auto":
        backend = "hf" if folder is not None and is_decoder(folder) else "sentence-transformers"
    revision = fingerprint(folder) if folder is not None else ""
    if backend == "hf":
        encoder = DecoderEncoder(
            name,
            folder=folder,
            revision=revision,
            pooling=pooling,
            trust_remote_code=trust_remote_code,
            device=device,
            progress=progress,
        )
    else:
        encoder = SentenceTransformerEncoder(name, folder=folder, revision=revision, device=device, progress=progress)
    if folder is None:  # a hub download: load now, then fingerprint the downloaded snapshot
        _ = encoder.model
        folder = local_folder(name)
        encoder.revision = fingerprint(folder) if folder is not None else ""
    return encoder
