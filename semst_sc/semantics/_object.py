"""User objects with an ``encode(texts)`` method, read as text encoders."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ._protocol import TextEncoder, check_vectors


class ObjectEncoder:
    """Any object with an ``encode(texts)`` method (e.g. a loaded ``SentenceTransformer``), read as a text encoder.

    Its vectors are cached only when it has an identity: the ``identity`` argument, or the object's own
    ``identity`` attribute. An object that implements the whole :class:`~semst_sc.semantics.TextEncoder`
    protocol keeps its ``name``, ``backend``, ``revision`` and ``identity`` and is called with ``batch_size``
    and ``progress``; either way its output is checked (``len(texts) x d``, finite).

    Parameters
    ----------
    model
        The object; its ``encode`` takes a list of texts and returns one vector per text.
    identity
        Cache key of the object's vectors (change it whenever they change); ``None``: the object's
        ``identity`` attribute if it has one, else its vectors are not cached.
    """

    def __init__(self, model: Any, *, identity: str | None = None):
        if not callable(getattr(model, "encode", None)):
            raise TypeError(
                "model must be a name, a path, a DataFrame of gene vectors or an object with an encode() method, "
                f"got {type(model).__name__}"
            )
        self.model = model
        self._protocol = isinstance(model, TextEncoder)
        if identity is None:
            identity = getattr(model, "identity", None)
        if self._protocol:
            self.name, self.backend, self.revision = str(model.name), str(model.backend), str(model.revision)
            self.identity = None if identity is None else str(identity)
        else:
            self.name = f"object:{type(model).__module__}.{type(model).__qualname__}"
            self.backend, self.revision = "object", ""
            self.identity = None if identity is None else f"object:{identity}"

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Embed ``texts`` with the object's ``encode``.

        Parameters
        ----------
        texts
            The texts.
        batch_size
            Texts per call, passed on when the object takes it.
        progress
            Show a progress bar, passed on (as ``show_progress_bar`` to sentence-transformers-like objects).

        Returns
        -------
        A float32 array, one row per text.
        """
        texts = list(texts)
        if self._protocol:
            vectors = self.model.encode(texts, batch_size=batch_size, progress=progress)
        else:
            try:  # sentence-transformers-like
                vectors = self.model.encode(
                    texts, convert_to_numpy=True, batch_size=batch_size, show_progress_bar=progress
                )
            except TypeError:  # a plain encode(texts)
                vectors = self.model.encode(texts)
        return check_vectors(vectors, len(texts))

    def __repr__(self) -> str:
        return f"ObjectEncoder({self.name!r}, identity={self.identity!r})"
