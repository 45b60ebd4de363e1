from __future__ import annotations

import torch
import torch.nn.functional as F

_EPS = 1e-10


def zinb_nll(
    x: torch.Tensor, mu: torch.Tensor, theta: torch.Tensor, pi: torch.Tensor, *, ridge: float = 0.05
) -> torch.Tensor:
    """Mean zero-inflated negative binomial negative log-likelihood of counts ``x``, plus ``ridge * pi**2``.

    Parameters
    ----------
    x
        Observed counts.
    mu, theta, pi
        Mean (size factors included), dispersion and dropout probability, same shape as ``x``.
    ridge
        Penalty on the dropout probability.
    """
    nonzero = x > 0
    # NB branch only where a count was seen (most Visium entries are zero): lgamma is the costly part
    xs, ms, ts, ps = x[nonzero], mu[nonzero], theta[nonzero], pi[nonzero]
    nb_case = (
        torch.lgamma(ts + _EPS)
        + torch.lgamma(xs + 1.0)
        - torch.lgamma(xs + ts + _EPS)
        + (ts + xs) * torch.log1p(ms / (ts + _EPS))
        + xs * (torch.log(ts + _EPS) - torch.log(ms + _EPS))
        - torch.log(1.0 - ps + _EPS)
    )
    zero = ~nonzero
    mz, tz, pz = mu[zero], theta[zero], pi[zero]
    zero_nb = torch.exp(tz * (torch.log(tz + _EPS) - torch.log(tz + mz + _EPS)))
    zero_case = -torch.log(pz + (1.0 - pz) * zero_nb + _EPS)
    return (nb_case.sum() + zero_case.sum() + ridge * pi.square().sum()) / x.numel()


def dicr_loss(h1: torch.Tensor, h2: torch.Tensor) -> torch.Tensor:
    """Decorrelation loss between two views: their column-normalised cross-correlation should be the identity.

    Parameters
    ----------
    h1, h2
        Two n x d representations of the same spots.
    """
    a = F.normalize(h1 - h1.mean(dim=0), dim=0)
    b = F.normalize(h2 - h2.mean(dim=0), dim=0)
    c = a.T @ b
    eye = torch.eye(c.shape[0], device=c.device, dtype=c.dtype)
    on = (torch.diagonal(c) - 1).square().mean()
    off = (c * (1 - eye)).square().sum() / max(c.numel() - c.shape[0], 1)
    return on + off


def spatial_pair_loss(z: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
    """Pull spatial neighbours together and push random pairs apart: BCE on ``sigmoid(cos(z_i, z_j))``.

    Parameters
    ----------
    z
        n x d embedding.
    positive
        2 x P indices of neighbour pairs (target 1).
    negative
        2 x Q indices of sampled non-neighbour pairs (target 0).
    """
    zn = F.normalize(z, dim=1)
    pos = torch.sigmoid((zn[positive[0]] * zn[positive[1]]).sum(dim=1))
    neg = torch.sigmoid((zn[negative[0]] * zn[negative[1]]).sum(dim=1))
    return F.binary_cross_entropy(pos, torch.ones_like(pos)) + F.binary_cross_entropy(neg, torch.zeros_like(neg))
