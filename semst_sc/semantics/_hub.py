"""Hugging Face plumbing shared by the model encoders and their loader: quiet loading, local folders, fingerprints."""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from .._settings import settings

_FULL_HASH_BYTES = 1 << 30  # files up to this size (a sentence-transformer's weights) are hashed whole
_HASHED_SUFFIXES = {".json", ".txt", ".model", ".safetensors", ".bin", ".pt", ".pth"}


def quiet_load(progress: bool | None, load, *args):
    """Call ``load(*args)`` with the Hugging Face progress bars off unless ``progress`` and its load report muted.

    ``progress=None`` reads :attr:`semst_sc.settings.progress`.
    """
    from transformers.utils import logging as hf_logging

    if progress is None:
        progress = settings.progress
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


def placement(device: str | None) -> str:
    """Return where a model runs, for its cache identity: the device, or ``"<n> threads"`` on the CPU.

    Vectors differ in their last digits with the device and the CPU thread count (and a decoder runs in bfloat16 on
    a GPU): a cache filled elsewhere must not be read. ``device=None`` reads :attr:`semst_sc.settings.device`.
    """
    device = settings.resolve_device(device)
    return f"{settings.resolve_threads()} threads" if device == "cpu" else device


def local_folder(name: str) -> Path | None:
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


def is_decoder(folder: Path) -> bool:
    """Return True when ``folder``'s config names a ``...ForCausalLM`` and it is no sentence-transformers folder."""
    if (folder / "modules.json").is_file() or not (folder / "config.json").is_file():
        return False
    architectures = json.loads((folder / "config.json").read_text()).get("architectures") or []
    return any(str(a).endswith("ForCausalLM") for a in architectures)


def fingerprint(folder: str | Path) -> str:
    """Return a short sha256 of a model folder: its files whole, beyond 1 GiB by size, modification time and samples.

    Weights changed anywhere give another fingerprint (a model fine-tuned in its middle layers too), so that cached
    vectors of other weights are never served; a file's digest is computed once per process and file version.

    Parameters
    ----------
    folder
        The model folder.

    Returns
    -------
    16 hex digits.
    """
    folder = Path(folder)
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if not path.is_file() or path.suffix not in _HASHED_SUFFIXES or any(p.startswith(".") for p in relative.parts):
            continue
        stat = path.stat()
        digest.update(f"{relative.as_posix()}\0{stat.st_size}\0".encode())
        digest.update(_file_digest(str(path), stat.st_size, stat.st_mtime_ns))
    return digest.hexdigest()[:16]


@lru_cache(maxsize=256)
def _file_digest(path: str, size: int, mtime_ns: int) -> bytes:
    """sha256 of a file: whole up to :data:`_FULL_HASH_BYTES`; beyond, its modification time and 64 spaced MiB."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        if size <= _FULL_HASH_BYTES:
            for block in iter(lambda: f.read(1 << 24), b""):
                digest.update(block)
        else:  # a decoder's many GB: a change in place moves its modification time
            digest.update(str(mtime_ns).encode())
            for offset in np.linspace(0, size - (1 << 20), 64).astype(np.int64):
                f.seek(int(offset))
                digest.update(f.read(1 << 20))
    return digest.digest()
