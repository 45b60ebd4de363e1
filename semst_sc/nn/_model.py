from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ._fsm import FSM
from ._gcn import GCNEncoder
from ._losses import dicr_loss, spatial_pair_loss, zinb_nll
from ._zinb import ZINBDecoder


@dataclass
class LossWeights:
    """Weights of SemST's three losses."""

    zinb: float = 1.0
    spatial: float = 0.1
    dicr: float = 0.1


class SemSTModel(nn.Module):
    """SemST's dual-view network: spatial and feature GCNs, concatenation, FSM, projection, ZINB decoder.

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
    weights
        Loss weights (default: :class:`LossWeights`).
    """

    def __init__(
        self,
        n_input: int,
        n_output: int,
        semantic_dim: int | None,
        *,
        hidden_dim: int = 256,
        latent_dim: int = 128,
        weights: LossWeights | None = None,
    ):
        super().__init__()
        fused = 2 * latent_dim
        self.weights = LossWeights() if weights is None else weights
        self.spatial_encoder = GCNEncoder(n_input, hidden_dim, latent_dim)
        self.feature_encoder = GCNEncoder(n_input, hidden_dim, latent_dim)
        self.fsm = None if semantic_dim is None else FSM(semantic_dim, fused, head_dim=latent_dim)
        self.projection = nn.Sequential(nn.Linear(fused, fused), nn.ReLU(), nn.Linear(fused, latent_dim))
        self.decoder = ZINBDecoder(latent_dim, n_output, hidden_dim)

    def forward(
        self,
        x: torch.Tensor,
        spatial_adjacency: torch.Tensor,
        feature_adjacency: torch.Tensor,
        semantic: torch.Tensor | None = None,
        decode: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Encode spots; returns the two views, the final embedding ``z`` and the ZINB parameters.

        The decoder runs on the spots indexed by ``decode`` (all spots when ``None``).
        """
        h_spatial = self.spatial_encoder(x, spatial_adjacency)
        h_feature = self.feature_encoder(x, feature_adjacency)
        z = torch.cat([h_spatial, h_feature], dim=1)
        if self.fsm is not None:
            if semantic is None:
                raise ValueError("this model has an FSM: pass the semantic vectors")
            z = self.fsm(z, semantic)
        z = self.projection(z)
        mu, theta, pi = self.decoder(z if decode is None else z[decode])
        return {"h_spatial": h_spatial, "h_feature": h_feature, "z": z, "mu": mu, "theta": theta, "pi": pi}

    def loss(self, data, sample) -> dict[str, torch.Tensor]:
        """ZINB on the sampled spots' counts, spatial pair loss and DICR; ``"total"`` is their weighted sum."""
        out = self(data.x, data.spatial_adjacency, data.feature_adjacency, data.semantic, decode=sample.rows)
        rows = slice(None) if sample.rows is None else sample.rows
        terms = {
            "zinb": zinb_nll(data.counts[rows], out["mu"] * data.size_factors[rows, None], out["theta"], out["pi"]),
            "spatial": spatial_pair_loss(out["z"], sample.pairs, sample.negative),
            "dicr": dicr_loss(out["h_spatial"], out["h_feature"]),
        }
        w = self.weights
        terms["total"] = w.zinb * terms["zinb"] + w.spatial * terms["spatial"] + w.dicr * terms["dicr"]
        return terms

    def embed(self, data) -> torch.Tensor:
        """Return the final embedding ``z`` of every spot."""
        empty = torch.arange(0, device=data.x.device)
        return self(data.x, data.spatial_adjacency, data.feature_adjacency, data.semantic, decode=empty)["z"]
