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
    log_theta = torch.log(theta + _EPS)
    log_theta_mu = torch.log(theta + mu + _EPS)
    nb_case = (
        torch.lgamma(theta + _EPS)
        + torch.lgamma(x + 1.0)
        - torch.lgamma(x + theta + _EPS)
        + (theta + x) * (log_theta_mu - log_theta)
        + x * (log_theta - torch.log(mu + _EPS))
        - torch.log(1.0 - pi + _EPS)
    )
    zero_case = -torch.log(pi + (1.0 - pi) * torch.exp(theta * (log_theta - log_theta_mu)) + _EPS)
    # one dense pass with a select: cheaper than gathering the nonzero entries (deterministic backward)
    return (torch.where(x > 0, nb_case, zero_case).sum() + ridge * pi.square().sum()) / x.numel()


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
