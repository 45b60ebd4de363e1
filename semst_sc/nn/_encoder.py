from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from ._data import Batch


class SpotEncoder(nn.Module):
    """Base of the spot encoders :func:`semst_sc.tl.semst` trains: what a new encoder implements.

    A subclass takes ``(n_input, n_output, semantic_dim, **kwargs)``, declares its defaults as class attributes,
    and implements three steps on a :class:`~semst_sc.nn.Batch` (a full graph or a sampled one, the seeds first):

    - :meth:`encode`: the representations of the batch's nodes, per view;
    - :meth:`fuse`: the seeds' representation after the semantic modulation (:class:`~semst_sc.nn.FSM`);
    - :meth:`forward`: the loss terms of a batch and their weighted ``"total"`` (what training minimises).

    :meth:`embed` returns the embedding that is clustered; by default the fused representation, in chunks.
    Register the class in :data:`semst_sc.nn.ENCODERS` to make it available by name.

    Attributes
    ----------
    graphs
        The graphs the encoder convolves over (``"spatial"``, ``"feature"``).
    input_transform
        The encoder input :func:`~semst_sc.tl.semst` builds: ``"scaled"`` (SemST's scaled counts,
        ``layers['semst_scaled']``, each section scaled on its own) or ``"log_standardised"`` (log-normalised,
        standardised per gene over all spots, several sections together: :func:`~semst_sc.nn.standardised_log`).
    n_epochs
        Default number of training steps.
    weight_decay
        Default Adam weight decay.
    supports_minibatch
        Whether it trains on neighbour-sampled mini-batches (2-hop subgraphs).
    embedding
        What :meth:`embed` returns, in words (recorded in ``uns``).
    covariates
        Whether the constructor takes ``n_covariates`` and its decoder the batch's per-spot covariates (the
        one-hot section when several sections are trained together).
    pair_weighting
        How the batch's spatial neighbour pairs are weighted: ``"similarity"`` (:func:`~semst_sc.tl.semst` computes
        :func:`~semst_sc.nn.pair_similarity_weights` into ``Batch.pair_weights``) or ``"uniform"`` (``None``).
    """

    graphs: ClassVar[tuple[str, ...]] = ("spatial", "feature")
    input_transform: ClassVar[str] = "scaled"
    n_epochs: ClassVar[int] = 100
    weight_decay: ClassVar[float] = 5e-4
    supports_minibatch: ClassVar[bool] = True
    embedding: ClassVar[str] = "latent"
    covariates: ClassVar[bool] = False
    pair_weighting: str = "uniform"

    fsm: nn.Module | None

    def encode(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Return the representations of the batch's nodes, per view."""
        raise NotImplementedError

    def fuse(self, views: dict[str, torch.Tensor], semantic: torch.Tensor | None) -> torch.Tensor:
        """Return the modulated representation of the rows of ``views`` (semantic vectors of the same rows)."""
        raise NotImplementedError

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Return the loss terms on ``batch`` and their weighted sum ``"total"``."""
        raise NotImplementedError

    @torch.no_grad()
    def embed(self, batch: Batch, chunk_size: int = 65_536) -> torch.Tensor:
        """Return the seeds' embedding: :meth:`encode` once, then :meth:`fuse` on chunks of ``chunk_size`` seeds."""
        views = {name: h[: batch.n_seeds] for name, h in self.encode(batch).items()}
        semantic = batch.seed_semantic()
        chunks = []
        for start in range(0, batch.n_seeds, chunk_size):
            rows = slice(start, start + chunk_size)
            chunks.append(
                self.fuse({k: v[rows] for k, v in views.items()}, None if semantic is None else semantic[rows])
            )
        return torch.cat(chunks)

    def modulate(self, h: torch.Tensor, semantic: torch.Tensor | None) -> torch.Tensor:
        """Apply the FSM to ``h`` when the encoder has one (an error when its semantic vectors are missing)."""
        if self.fsm is None:
            return h
        if semantic is None:
            raise ValueError("this model has an FSM: pass the semantic vectors")
        return self.fsm(h, semantic)

    @property
    def embedding_dim(self) -> int:
        """Columns of :meth:`embed`'s output."""
        raise NotImplementedError
