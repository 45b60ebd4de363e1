from __future__ import annotations

import torch
from torch import nn


class ZINBDecoder(nn.Module):
    """Zero-inflated negative binomial decoder (DCA style): latent -> (mu, theta, pi) per gene.

    Parameters
    ----------
    latent_dim
        Input dimension.
    n_genes
        Number of genes decoded.
    hidden_dim
        Width of the shared hidden layer (Linear, BatchNorm, ReLU).
    n_covariates
        Columns of the covariates joined to the latent input (e.g. a one-hot section, as scVI's batch); 0: none.
    """

    def __init__(self, latent_dim: int, n_genes: int, hidden_dim: int = 256, n_covariates: int = 0):
        super().__init__()
        self.n_covariates = n_covariates
        self.hidden = nn.Sequential(
            nn.Linear(latent_dim + n_covariates, hidden_dim), nn.BatchNorm1d(hidden_dim), nn.ReLU()
        )
        self.pi = nn.Linear(hidden_dim, n_genes)
        self.theta = nn.Linear(hidden_dim, n_genes)
        self.mu = nn.Linear(hidden_dim, n_genes)

    def forward(
        self, z: torch.Tensor, covariates: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return the mean (before size factors), dispersion and dropout probability."""
        if (covariates is None) != (self.n_covariates == 0):
            raise ValueError(f"the decoder takes {self.n_covariates} covariate columns: pass them (and only then)")
        h = self.hidden(z if covariates is None else torch.cat([z, covariates], dim=1))
        mu = torch.clamp(torch.exp(self.mu(h)), 1e-5, 1e6)
        theta = torch.clamp(nn.functional.softplus(self.theta(h)), 1e-4, 1e4)
        pi = torch.sigmoid(self.pi(h))
        return mu, theta, pi
