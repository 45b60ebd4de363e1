from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from tqdm.auto import tqdm


@dataclass
class TrainingData:
    """Everything a spot-embedding model trains on, as tensors on one device.

    Attributes
    ----------
    x
        Encoder input (n x genes).
    counts
        Raw counts the decoder fits (n x genes).
    size_factors
        Per-spot library size factors (n,).
    spatial_adjacency, feature_adjacency
        Normalised graphs from :func:`~semst_sc.nn.gcn_adjacency`.
    positive
        2 x P spatial neighbour pairs.
    semantic
        Semantic vectors (n x d), or ``None`` for a model without FSM.
    """

    x: torch.Tensor
    counts: torch.Tensor
    size_factors: torch.Tensor
    spatial_adjacency: torch.Tensor
    feature_adjacency: torch.Tensor
    positive: torch.Tensor
    semantic: torch.Tensor | None = None

    @property
    def n_obs(self) -> int:
        """Number of spots."""
        return self.x.shape[0]


@dataclass
class Sample:
    """The random draws of one training step.

    Attributes
    ----------
    rows
        Spots whose counts are reconstructed this step (``None``: all).
    pairs
        2 x B spatial neighbour pairs (targets 1).
    negative
        2 x B random pairs (targets 0).
    permutation
        A random order of the spots (corrupted views of contrastive models).
    """

    rows: torch.Tensor | None
    pairs: torch.Tensor
    negative: torch.Tensor
    permutation: torch.Tensor


def draw(
    data: TrainingData, recon_batch_size: int | None, pair_batch_size: int | None, generator: torch.Generator
) -> Sample:
    """Draw the spots and pairs of one step on the CPU generator, then move them to the data's device."""
    n, device = data.n_obs, data.x.device
    rows = None
    if recon_batch_size is not None and recon_batch_size < n:
        rows = torch.randperm(n, generator=generator)[:recon_batch_size].to(device)
    pairs = data.positive
    if pair_batch_size is not None and pair_batch_size < pairs.shape[1]:
        pairs = pairs[:, torch.randint(0, pairs.shape[1], (pair_batch_size,), generator=generator).to(device)]
    negative = torch.randint(0, n, pairs.shape, generator=generator).to(device)
    return Sample(rows, pairs, negative, torch.randperm(n, generator=generator).to(device))


def train(
    model: nn.Module,
    data: TrainingData,
    *,
    n_epochs: int,
    lr: float = 1e-3,
    weight_decay: float = 5e-4,
    recon_batch_size: int | None = 1024,
    pair_batch_size: int | None = 16384,
    generator: torch.Generator,
    progress: bool = True,
) -> dict[str, list[float]]:
    """Train ``model`` full batch for a fixed number of epochs with Adam; labels never enter.

    Parameters
    ----------
    model
        A module with ``loss(data, sample) -> dict`` (loss terms and their weighted ``"total"``) and
        ``embed(data)``, such as :class:`~semst_sc.nn.SemSTModel` or :class:`~semst_sc.nn.ContrastiveGCN`.
    data
        The inputs.
    n_epochs
        Number of full-batch steps.
    lr, weight_decay
        Adam settings.
    recon_batch_size
        Spots drawn at random each epoch for the reconstruction term, an unbiased estimate of the
        full term at a fraction of its cost; ``None`` uses every spot.
    pair_batch_size
        Neighbour pairs drawn at random each epoch for the spatial loss (with as many random pairs
        as negatives); ``None`` uses every pair.
    generator
        Random source of the draws.
    progress
        Show a progress bar.

    Returns
    -------
    Per-epoch values of each loss term and of the total.
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    history: dict[str, list[float]] = {}
    model.train()
    for _ in tqdm(range(n_epochs), desc=f"training {type(model).__name__}", disable=not progress):
        terms = model.loss(data, draw(data, recon_batch_size, pair_batch_size, generator))
        optimizer.zero_grad()
        terms["total"].backward()
        optimizer.step()
        for key in ("total", *(k for k in terms if k != "total")):
            history.setdefault(key, []).append(float(terms[key].detach()))
    model.eval()
    return history


@torch.no_grad()
def embed(model: nn.Module, data: TrainingData) -> torch.Tensor:
    """Return the spot embedding of a trained model (eval mode)."""
    model.eval()
    return model.embed(data)
