"""The one interface of the semantic step: anything that turns texts into vectors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class TextEncoder(Protocol):
    """What :func:`semst_sc.pp.gene_semantics` needs of a text model or a gene-knowledge table.

    Language models (:class:`~semst_sc.semantics.SentenceTransformerEncoder`,
    :class:`~semst_sc.semantics.DecoderEncoder`), precomputed gene-vector tables
    (:class:`~semst_sc.semantics.GeneTable`) and wrapped user objects (:class:`~semst_sc.semantics.ObjectEncoder`)
    all satisfy it. Implement it to plug a new model in: ``sst.pp.gene_semantics(adata, model=MyEncoder())``.

    Attributes
    ----------
    name
        What the encoder is (model name or path), recorded in ``uns[key_added]['params']['model']``.
    backend
        Kind of encoder, e.g. ``"sentence-transformers"``, ``"hf"``, ``"table"`` or ``"object"``.
    revision
        Fingerprint of the weights and configuration (``""`` when unknown).
    identity
        Key of the on-disk vector cache: a string that changes whenever the vectors of the same texts would change
        (name, weights fingerprint, pooling, ...), or ``None`` when the encoder has no stable identity: its vectors
        are then never cached.
    """

    name: str
    backend: str
    revision: str
    identity: str | None

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Embed ``texts``.

        Parameters
        ----------
        texts
            The texts; a text's vector must not depend on the other texts of the call.
        batch_size
            Texts per model call.
        progress
            Show a progress bar.

        Returns
        -------
        A float32 array, one row per text (``len(texts) x d``).
        """
        ...


def check_vectors(vectors, n: int) -> np.ndarray:
    """Return ``vectors`` as a float32 ``n x d`` array; raise a clear error when an encoder returned something else."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != n:
        raise ValueError(f"the model's encode() returned shape {vectors.shape} for {n} texts")
    if not np.isfinite(vectors).all():
        raise ValueError("the model's encode() returned NaN or infinite values; check the model and its dtype")
    return vectors
