from __future__ import annotations

import torch
from torch import nn


class FSM(nn.Module):
    r"""Fine-grained Semantic Modulation: :math:`\hat Z = (1 + \alpha(e)) \odot Z + \beta(e)`, per spot.

    The semantic vector ``e`` goes through a head MLP (``d_e -> d_e/2 -> head_dim``) and a
    modulation MLP (``head_dim -> hidden_dim -> 2 * feature_dim``) whose output is split into
    ``alpha`` and ``beta``. The last layer starts at zero, so an untrained FSM is the identity: the
    modulation is a residual calibration that any encoder can take.

    Parameters
    ----------
    semantic_dim
        Dimension ``d_e`` of the semantic vectors.
    feature_dim
        Dimension of the representation ``Z`` that is modulated.
    head_dim
        Output dimension of the semantic head.
    hidden_dim
        Hidden width of the modulation MLP.
    """

    def __init__(self, semantic_dim: int, feature_dim: int, *, head_dim: int = 128, hidden_dim: int = 256):
        super().__init__()
        half = max(semantic_dim // 2, 1)
        self.head = nn.Sequential(nn.Linear(semantic_dim, half), nn.ReLU(), nn.Linear(half, head_dim))
        self.modulation = nn.Sequential(
            nn.Linear(head_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, 2 * feature_dim)
        )
        nn.init.zeros_(self.modulation[-1].weight)
        nn.init.zeros_(self.modulation[-1].bias)

    def forward(self, z: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        """Modulate ``z`` (n x feature_dim) with the semantic vectors ``e`` (n x semantic_dim)."""
        if z.shape[0] != e.shape[0]:
            raise ValueError(f"z has {z.shape[0]} rows but e has {e.shape[0]}")
        alpha, beta = self.modulation(self.head(e)).chunk(2, dim=-1)
        return (1 + alpha) * z + beta
