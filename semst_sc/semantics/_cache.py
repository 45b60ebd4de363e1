"""On-disk cache of text vectors: one checked ``.npz`` shard per (model, prompt, mode), one row per text."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from scanpy import logging as logg

from .. import _constants as C
from .._files import write_atomically

_MAGIC = "semst_sc-semantic-cache"
_VERSION = 1
#: rows kept per shard, the newest: texts of genes stay far below it (600 MB of 768-wide vectors at most); texts of
#: spots (``mode="symbols"``) are nearly one per cell at cell resolution, and would grow the file with every slide
MAX_ROWS = 200_000
#: a temporary file of a write this old (seconds) was left by a process that died while writing: it is removed
STALE_TMP_S = 3600
_FIX = (
    f"Point ${C.CACHE_DIR_ENV} or sst.settings.cache_dir at a writable folder, or set sst.settings.cache_dir = False "
    "to turn the cache off"
)


def folder_problem(folder: str | Path) -> str | None:
    """Return why ``folder`` cannot hold the cache (a file, under a file, not writable), or ``None`` when it can."""
    probe = Path(folder).expanduser()
    while not probe.exists() and probe.parent != probe:  # the folder, or the first of its parents that exists
        probe = probe.parent
    if not probe.is_dir():
        return f"{probe} exists and is not a folder"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"{probe} is not writable"
    return None


def text_key(text: str) -> bytes:
    """Return the sha256 hex digest of ``text`` (the row key in a shard)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest().encode("ascii")


class SemanticCache:
    """Vectors of texts for one (model, prompt, mode), stored in ``{folder}/{hash}.npz``.

    A write adds the new rows to the file as it is on disk then (runs sharing the folder keep each other's rows), keeps
    the newest :data:`MAX_ROWS`, and replaces the file atomically with the permissions the umask gives.

    Parameters
    ----------
    folder
        Cache folder (created on the first write).
    identity
        Identity of the encoder (name plus weights fingerprint, pooling, ...: its
        :attr:`~semst_sc.semantics.TextEncoder.identity`).
    prompt
        The instruction prefixed to the texts.
    mode
        ``"genes"`` or ``"symbols"``.
    """

    def __init__(self, folder: str | Path, identity: str, prompt: str, mode: str):
        self.meta = {"magic": _MAGIC, "version": _VERSION, "model": identity, "prompt": prompt, "mode": mode}
        shard = hashlib.sha256(json.dumps(self.meta, sort_keys=True).encode()).hexdigest()[:32]
        self.path = Path(folder).expanduser() / f"{shard}.npz"

    @classmethod
    def open(cls, folder: str | Path, identity: str, prompt: str, mode: str) -> SemanticCache | None:
        """Return the cache in ``folder``, or ``None`` after a warning when the folder cannot hold one.

        Parameters
        ----------
        folder
            Cache folder (created on the first write). A folder that is a file, lies under a file or cannot be
            written to is not used: the run goes on without the cache.
        identity
            Identity of the encoder (:attr:`semst_sc.semantics.TextEncoder.identity`).
        prompt
            The instruction prefixed to the texts.
        mode
            ``"genes"`` or ``"symbols"``.

        Returns
        -------
        The cache, or ``None``.
        """
        folder = Path(folder).expanduser()
        problem = folder_problem(folder)
        if problem is not None:
            logg.warning(
                f"cannot use the semantic cache folder {folder} ({problem}); running without the cache. {_FIX}"
            )
            return None
        return cls(folder, identity, prompt, mode)

    def load(self, *, warn: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Return the stored keys (``S64``) and vectors; empty when the shard is missing or not trustworthy."""
        empty = np.empty(0, dtype="S64"), np.empty((0, 0), dtype=np.float32)
        if not self.path.is_file():
            return empty
        try:
            with np.load(self.path, allow_pickle=False) as f:
                meta = json.loads(str(f["meta"]))
                keys, vectors = f["keys"], f["vectors"]
            problem = _check(meta, self.meta, keys, vectors)
        except Exception as error:  # noqa: BLE001 - any unreadable file is a cache miss
            problem = f"unreadable ({type(error).__name__}: {error})"
        if problem:
            if warn:
                logg.warning(f"ignoring the semantic cache file {self.path}: {problem}; the vectors are recomputed")
            return empty
        return keys, vectors

    def get_or_compute(self, texts: Sequence[str], compute: Callable[[list[str]], np.ndarray]):
        """Return the vectors of ``texts`` (one row each) and the number of cache hits; compute and store the rest."""
        wanted = np.array([text_key(t) for t in texts], dtype="S64")
        keys, vectors = self.load()
        lookup = {k: i for i, k in enumerate(keys.tolist())}
        rows = np.array([lookup.get(k, -1) for k in wanted.tolist()], dtype=np.int64)
        missing = np.flatnonzero(rows < 0)
        if len(missing) == 0:
            return vectors[rows], len(texts)
        new = np.asarray(compute([texts[i] for i in missing]), dtype=np.float32)
        if len(keys) and new.shape[1] != vectors.shape[1]:  # same identity, other output: trust nothing stored
            logg.warning(f"the semantic cache file {self.path} holds vectors of another size; it is rebuilt")
            hit = np.flatnonzero(rows >= 0)
            full = np.empty((len(texts), new.shape[1]), dtype=np.float32)
            full[missing] = new
            if len(hit):
                full[hit] = compute([texts[i] for i in hit])
            keys, vectors = keys[:0], vectors[:0, :0]
            rows[:], missing, new = -1, np.arange(len(texts)), full
        out = np.empty((len(texts), new.shape[1]), dtype=np.float32)
        hit = rows >= 0
        if hit.any():
            out[hit] = vectors[rows[hit]]
        out[missing] = new
        new_keys, first = np.unique(wanted[missing], return_index=True)
        order = np.argsort(first)  # in the order asked for: the rows dropped first are the oldest
        self._add(new_keys[order], new[first[order]])
        return out, int(hit.sum())

    def _add(self, new_keys: np.ndarray, new_vectors: np.ndarray) -> None:
        """Store new rows: added to the shard as it is on disk now, the oldest rows dropped beyond :data:`MAX_ROWS`.

        The shard is read again first, so that rows another process stored since this one read it are kept.
        """
        keys, vectors = self.load(warn=False)
        if len(keys) and vectors.shape[1] != new_vectors.shape[1]:  # vectors of another size: none kept
            keys, vectors = keys[:0], vectors[:0]
        fresh = ~np.isin(new_keys, keys)
        keys = np.concatenate([keys, new_keys[fresh]])[-MAX_ROWS:]
        vectors = np.concatenate([vectors.reshape(-1, new_vectors.shape[1]), new_vectors[fresh]])[-MAX_ROWS:]
        try:
            self._write(keys, vectors)
        except OSError as error:  # a full disk or a folder made read-only meanwhile: the vectors are still good
            logg.warning(
                f"cannot write the semantic cache file {self.path} ({type(error).__name__}: {error}); the vectors "
                f"are not stored. {_FIX}"
            )

    def _write(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        """Write the shard atomically: a temporary file in the same folder, then ``os.replace``."""
        meta = dict(self.meta, n=len(keys), dim=int(vectors.shape[1]), checksum=_checksum(keys, vectors))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for stale in self.path.parent.glob(f".{self.path.name}.*"):  # of writes whose process died
            with contextlib.suppress(OSError):
                if time.time() - stale.stat().st_mtime > STALE_TMP_S:
                    stale.unlink()

        def save(partial: str) -> None:
            with open(partial, "wb") as f:
                np.savez(f, meta=np.array(json.dumps(meta)), keys=keys, vectors=vectors)

        write_atomically(self.path, save)


def _checksum(keys: np.ndarray, vectors: np.ndarray) -> str:
    digest = hashlib.sha256(np.ascontiguousarray(keys, dtype="S64").tobytes())
    digest.update(np.ascontiguousarray(vectors, dtype=np.float32).tobytes())
    return digest.hexdigest()


def _check(meta: dict, expected: dict, keys: np.ndarray, vectors: np.ndarray) -> str | None:
    """Return why a loaded shard cannot be trusted, or None."""
    for field, value in expected.items():
        if meta.get(field) != value:
            return f"{field} mismatch"
    if keys.dtype != np.dtype("S64") or vectors.dtype != np.float32 or vectors.ndim != 2:
        return "unexpected array types"
    if keys.shape != (meta.get("n"),) or vectors.shape != (meta.get("n"), meta.get("dim")):
        return f"shape mismatch (keys {keys.shape}, vectors {vectors.shape}, header n={meta.get('n')})"
    if meta.get("checksum") != _checksum(keys, vectors):
        return "checksum mismatch"
    return None
