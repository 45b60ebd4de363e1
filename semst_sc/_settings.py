"""Global settings of semst_sc, as ``scanpy.settings`` and ``scvi.settings``: set once, read by every step."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from . import _constants as C

_DEVICES = ("auto", "cpu", "cuda", "mps")


class Settings:
    """Cross-cutting knobs: compute device, progress bars, semantic-vector cache folder, torch threads.

    Use the instance ``semst_sc.settings``, e.g. ``sst.settings.device = "cuda"`` or
    ``sst.settings.progress = False``. Functions that need a per-call override (``tl.semst(device=...)``)
    take it and fall back on these values.
    """

    __slots__ = ("_device", "_progress", "_cache_dir", "_n_threads")  # a misspelt setting is an error, not a no-op

    def __setattr__(self, name: str, value) -> None:
        known = [n for n, v in vars(type(self)).items() if isinstance(v, property)]
        if not name.startswith("_") and name not in known:
            where = " (scanpy's: sc.settings.verbosity; semst_sc logs through it)" if name == "verbosity" else ""
            raise AttributeError(f"settings has no {name!r}{where}: the settings are {', '.join(known)}")
        super().__setattr__(name, value)

    def __init__(self):
        self._device = "auto"
        self._progress = True
        self._cache_dir: Path | None | bool = None
        self._n_threads: int | None = None

    @property
    def device(self) -> str:
        """Torch device of training and of the text models.

        ``"auto"`` (a GPU when available), ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.
        """
        return self._device

    @device.setter
    def device(self, value: str) -> None:
        self._device = check_device(value)

    @property
    def progress(self) -> bool:
        """Show progress bars of long steps (training, text embedding)."""
        return self._progress

    @progress.setter
    def progress(self, value: bool) -> None:
        if not isinstance(value, bool):
            raise TypeError(f"settings.progress must be True or False, got {value!r}")
        self._progress = value

    @property
    def cache_dir(self) -> Path | None:
        """Folder of the semantic-vector cache.

        ``$SEMST_CACHE_DIR`` or ``~/.cache/semst_sc`` unless set; ``None`` when set to ``False`` (no cache).
        """
        if self._cache_dir is False:
            return None
        if self._cache_dir is None:
            return Path(os.environ.get(C.CACHE_DIR_ENV) or Path.home() / ".cache" / "semst_sc").expanduser()
        return self._cache_dir

    @cache_dir.setter
    def cache_dir(self, value: str | Path | bool | None) -> None:
        if value is True:
            value = None
        if value is not None and value is not False and not isinstance(value, (str, os.PathLike)):
            raise TypeError(f"settings.cache_dir must be a path, None (the default folder) or False, got {value!r}")
        if isinstance(value, str) and not value.strip():
            raise ValueError("settings.cache_dir is an empty path: give a folder, None (the default folder) or False")
        self._cache_dir = value if value in (None, False) else Path(value).expanduser().absolute()  # cwd may change

    @property
    def n_threads(self) -> int | None:
        """Torch CPU threads used while training (``None``: ``$OMP_NUM_THREADS``, else torch's default, one per core).

        See :meth:`resolve_threads`.
        """
        return self._n_threads

    @n_threads.setter
    def n_threads(self, value: int | None) -> None:
        if value is not None and (not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1):
            raise ValueError(f"settings.n_threads must be a positive integer or None, got {value!r}")
        self._n_threads = None if value is None else int(value)

    def resolve_device(self, device: str | None = None) -> str:
        """Return the torch device to use: ``device`` when given, else :attr:`device`, with ``"auto"`` resolved."""
        device = self._device if device is None else check_device(device)
        import torch

        if device == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r} but torch sees no CUDA GPU (a CPU build of torch, or no driver): "
                "use device='auto' or 'cpu' (CLI: --device auto or cpu)"
            )
        index = device.partition(":")[2]
        if index and int(index) >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r} but torch sees {torch.cuda.device_count()} CUDA GPU(s), numbered from 0: "
                "use device='cuda' or a number below that"
            )
        if device == "mps" and not torch.backends.mps.is_available():
            raise ValueError(
                "device='mps' but torch sees no Apple GPU (MPS): use device='auto' or 'cpu' (CLI: --device auto or cpu)"
            )
        return device

    def resolve_threads(self) -> int:
        """Return the torch threads training uses: :attr:`n_threads`, else ``$OMP_NUM_THREADS``, else torch's count.

        ``$OMP_NUM_THREADS`` is read again at each training because a library that runs OpenMP through numba (scanpy's
        ``seurat_v3`` highly variable genes, in :func:`~semst_sc.pp.prepare`) sets OpenMP's count to one thread per
        core for the whole process, torch's included: training asked to run on one thread ran on two, and on a busy
        machine up to ten times slower.
        """
        if self._n_threads is not None:
            return self._n_threads
        requested = os.environ.get("OMP_NUM_THREADS", "").strip()
        if requested.isdigit() and int(requested) > 0:
            return int(requested)
        import torch

        return torch.get_num_threads()

    @contextmanager
    def torch_threads(self) -> Iterator[int]:
        """Run torch on :meth:`resolve_threads` threads inside the block (training, text models); yields the count.

        Torch's count before the block is set again after it.
        """
        import torch

        before, count = torch.get_num_threads(), self.resolve_threads()
        torch.set_num_threads(count)
        try:
            yield count
        finally:
            torch.set_num_threads(before)

    def __repr__(self) -> str:
        fields = ("device", "progress", "cache_dir", "n_threads")
        return "semst_sc.settings(" + ", ".join(f"{f}={getattr(self, f)!r}" for f in fields) + ")"


def check_device(value) -> str:
    """Raise a clear error unless ``value`` names a torch device semst_sc can use."""
    kind, colon, index = value.partition(":") if isinstance(value, str) else ("", "", "")
    numbered = kind == "cuda" and index.isdecimal() and str(int(index)) == index  # as torch reads it: no "cuda:01"
    if kind not in _DEVICES or (colon and not numbered):
        raise ValueError(f"device must be one of {', '.join(_DEVICES)} (or 'cuda:N'), got {value!r}")
    return value


settings = Settings()
