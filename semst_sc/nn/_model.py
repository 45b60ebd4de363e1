from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from .._utils import check_integer, check_number
from ._data import Batch
from ._encoder import SpotEncoder
from ._fsm import FSM
from ._gcn import GCNEncoder
from ._losses import dicr_loss, spatial_pair_loss, zinb_nll
from ._zinb import ZINBDecoder


class SemSTModel(SpotEncoder):
    """SemST's dual-view network: spatial and feature GCNs, concatenation, FSM, projection, ZINB decoder.

    Registered as ``"dual"``. Its loss is ``ZINB + spatial_weight * spatial pairs + dicr_weight * DICR``; the
    clustered embedding is the projection's output.

    Parameters
    ----------
    n_input
        Genes in the encoder input.
    n_output
        Genes decoded (counts modelled by the ZINB).
    semantic_dim
        Dimension of the semantic vectors; ``None`` builds the model without FSM.
    hidden_dim
        Width of each GCN's first layer.
    latent_dim
        Output of each GCN and of the projection; the fused representation has ``2 * latent_dim``.
    spatial_weight, dicr_weight
        Weights of the spatial pair loss and of the DICR loss (the ZINB loss has weight 1).
    pair_weighting
        ``"uniform"`` (the default, as in the reference code): every neighbour pair of the spatial loss pulled alike;
        ``"similarity"``: each pulled by how much more alike the two spots' inputs are than random pairs
        (:func:`~semst_sc.nn.pair_similarity_weights`), so that the loss does not smooth across the border of two
        domains (better where domains are one or two spots wide, ``docs/results.md``).
    n_covariates
        Columns of the per-spot covariates the ZINB decoder sees beside the embedding (the one-hot section of
        several sections; 0: none), so that the embedding need not carry what tells sections apart.
    """

    graphs = ("spatial", "feature")
    input_transform = "scaled"
    n_epochs = 100
    weight_decay = 5e-4
    embedding = "latent"
    covariates = True

    def __init__(
        self,
        n_input: int,
        n_output: int,
        semantic_dim: int | None = None,
        *,
        hidden_dim: int = 256,
        latent_dim: int = 128,
        spatial_weight: float = 0.1,
        dicr_weight: float = 0.1,
        pair_weighting: Literal["uniform", "similarity"] = "uniform",
        n_covariates: int = 0,
    ):
        super().__init__()
        for name, value in (("hidden_dim", hidden_dim), ("latent_dim", latent_dim)):
            check_integer(value, name)
        for name, value in (("spatial_weight", spatial_weight), ("dicr_weight", dicr_weight)):
            check_number(value, name)
        if pair_weighting not in ("similarity", "uniform"):
            raise ValueError(f"pair_weighting must be 'similarity' or 'uniform', got {pair_weighting!r}")
        self.pair_weighting = pair_weighting
        fused = 2 * latent_dim
        self.spatial_weight, self.dicr_weight = spatial_weight, dicr_weight
        self.latent_dim, self.n_covariates = latent_dim, n_covariates
        self.spatial_encoder = GCNEncoder(n_input, hidden_dim, latent_dim)
        self.feature_encoder = GCNEncoder(n_input, hidden_dim, latent_dim)
        self.fsm = None if semantic_dim is None else FSM(semantic_dim, fused, head_dim=latent_dim)
        self.projection = nn.Sequential(nn.Linear(fused, fused), nn.ReLU(), nn.Linear(fused, latent_dim))
        self.decoder = ZINBDecoder(latent_dim, n_output, hidden_dim, n_covariates)

    @property
    def embedding_dim(self) -> int:
        """Columns of the embedding (``latent_dim``)."""
        return self.latent_dim

    def encode(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Return the seeds' spatial and feature views (each GCN on its own graph)."""
        n = batch.n_seeds
        return {
            "spatial": self.spatial_encoder(batch.x["spatial"], batch.adjacency["spatial"])[:n],
            "feature": self.feature_encoder(batch.x["feature"], batch.adjacency["feature"])[:n],
        }

    def fuse(self, views: dict[str, torch.Tensor], semantic: torch.Tensor | None) -> torch.Tensor:
        """Concatenate the views, modulate them (FSM) and project: the embedding ``z``."""
        return self.projection(self.modulate(torch.cat([views["spatial"], views["feature"]], dim=1), semantic))

    def decode(
        self, z: torch.Tensor, covariates: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return the ZINB mean (before size factors), dispersion and dropout probability of each gene."""
        return self.decoder(z, covariates)

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        """ZINB on the reconstructed seeds' counts, spatial pair loss and DICR; ``"total"`` is their weighted sum."""
        views = self.encode(batch)
        z = self.fuse(views, batch.seed_semantic())
        rows = slice(None) if batch.recon_rows is None else batch.recon_rows
        covariates = None if batch.covariates is None else batch.covariates[rows]
        mu, theta, pi = self.decode(z[rows], covariates)
        if batch.pairs.shape[1]:
            spatial = spatial_pair_loss(z, batch.pairs, batch.negative, batch.pair_weights)
        else:  # no neighbour pair among the seeds (a graph without edges)
            spatial = z.sum() * 0
        terms = {
            "zinb": zinb_nll(batch.counts[rows], mu * batch.size_factors[rows, None], theta, pi),
            "spatial": spatial,
            "dicr": dicr_loss(views["spatial"], views["feature"]),
        }
        terms["total"] = terms["zinb"] + self.spatial_weight * terms["spatial"] + self.dicr_weight * terms["dicr"]
        return terms
