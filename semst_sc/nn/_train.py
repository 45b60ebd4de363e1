from __future__ import annotations

from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from ._losses import dicr_loss, spatial_pair_loss, zinb_nll
from ._model import SemSTModel


@dataclass
class LossWeights:
    """Weights of SemST's three losses."""

    zinb: float = 1.0
    spatial: float = 0.1
    dicr: float = 0.1


def train(
    model: SemSTModel,
    x: torch.Tensor,
    counts: torch.Tensor,
    size_factors: torch.Tensor,
    spatial_adjacency: torch.Tensor,
    feature_adjacency: torch.Tensor,
    positive: torch.Tensor,
    semantic: torch.Tensor | None,
    *,
    n_epochs: int,
    lr: float = 1e-3,
    weight_decay: float = 5e-4,
    weights: LossWeights | None = None,
    recon_batch_size: int | None = 1024,
    generator: torch.Generator,
    progress: bool = True,
) -> dict[str, list[float]]:
    """Train ``model`` full batch for a fixed number of epochs; labels never enter.

    Parameters
    ----------
    model
        The network.
    x
        Encoder input (n x genes).
    counts
        Raw counts the ZINB decoder fits (n x genes).
    size_factors
        Per-spot library size factors (n,).
    spatial_adjacency, feature_adjacency
        Normalised graphs from :func:`gcn_adjacency`.
    positive
        2 x P spatial neighbour pairs for the spatial loss.
    semantic
        Semantic vectors, or ``None`` for a model without FSM.
    n_epochs
        Number of full-batch steps.
    lr, weight_decay
        Adam settings.
    weights
        Loss weights (default: :class:`LossWeights`).
    recon_batch_size
        Spots drawn at random each epoch for the ZINB term, an unbiased estimate of the full
        reconstruction loss at a fraction of its cost; ``None`` uses every spot.
    generator
        Random source of the negative pairs.
    progress
        Show a progress bar.

    Returns
    -------
    Per-epoch values of each loss term and of the total.
    """
    weights = LossWeights() if weights is None else weights
    n = x.shape[0]
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    history: dict[str, list[float]] = {"total": [], "zinb": [], "spatial": [], "dicr": []}
    model.train()
    for _ in tqdm(range(n_epochs), desc="training SemST", disable=not progress):
        negative = torch.randint(0, n, positive.shape, generator=generator).to(x.device)
        rows = None
        if recon_batch_size is not None and recon_batch_size < n:
            rows = torch.randperm(n, generator=generator)[:recon_batch_size].to(x.device)
        out = model(x, spatial_adjacency, feature_adjacency, semantic, decode=rows)
        target = counts if rows is None else counts[rows]
        factors = size_factors if rows is None else size_factors[rows]
        terms = {
            "zinb": zinb_nll(target, out["mu"] * factors[:, None], out["theta"], out["pi"]),
            "spatial": spatial_pair_loss(out["z"], positive, negative),
            "dicr": dicr_loss(out["h_spatial"], out["h_feature"]),
        }
        loss = weights.zinb * terms["zinb"] + weights.spatial * terms["spatial"] + weights.dicr * terms["dicr"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history["total"].append(float(loss.detach()))
        for key, value in terms.items():
            history[key].append(float(value.detach()))
    model.eval()
    return history


@torch.no_grad()
def embed(model: SemSTModel, x, spatial_adjacency, feature_adjacency, semantic) -> torch.Tensor:
    """Return the final embedding of a trained model (eval mode)."""
    model.eval()
    return model(x, spatial_adjacency, feature_adjacency, semantic, decode=torch.arange(0))["z"]
