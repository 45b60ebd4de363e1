from __future__ import annotations

import torch
import torch.nn.functional as F

_EPS = 1e-10
_CHUNK = 1 << 18  # entries per chunk of the ZINB pass: bounds its temporaries (1 MB each)


def zinb_nll(
    x: torch.Tensor, mu: torch.Tensor, theta: torch.Tensor, pi: torch.Tensor, *, ridge: float = 0.05
) -> torch.Tensor:
    """Mean zero-inflated negative binomial negative log-likelihood of counts ``x``, plus ``ridge * pi**2``.

    The value and its gradients are computed together, in chunks, with the closed-form derivatives (DCA's loss):
    memory holds the three gradients, not the dozens of intermediates autograd would keep.

    Parameters
    ----------
    x
        Observed counts.
    mu, theta, pi
        Mean (size factors included), dispersion and dropout probability, same shape as ``x``.
    ridge
        Penalty on the dropout probability.
    """
    return _ZINB.apply(x, mu, theta, pi, ridge)


class _ZINB(torch.autograd.Function):
    """ZINB NLL with analytic gradients for ``mu``, ``theta`` and ``pi`` (``x`` holds observations: no gradient)."""

    @staticmethod
    def forward(ctx, x, mu, theta, pi, ridge):
        total = torch.zeros((), dtype=torch.float64, device=x.device)
        grads = (
            [torch.empty_like(t, memory_format=torch.contiguous_format) for t in (mu, theta, pi)]
            if ctx.needs_input_grad[1:4] != (False,) * 3
            else None
        )
        flat = [t.reshape(-1) for t in (x, mu, theta, pi)]
        for start in range(0, flat[0].numel(), _CHUNK):
            part = [t[start : start + _CHUNK] for t in flat]
            value, chunk_grads = _zinb_terms(*part, ridge, grads is not None)
            total += value.sum(dtype=torch.float64)
            if grads is not None:
                for g, cg in zip(grads, chunk_grads, strict=True):
                    g.view(-1)[start : start + _CHUNK] = cg
        n = x.numel()
        if grads is not None:
            ctx.save_for_backward(*grads)
        ctx.n = n
        return (total / n).to(mu.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        scale = grad_output / ctx.n
        g_mu, g_theta, g_pi = (g * scale for g in ctx.saved_tensors)
        return None, g_mu, g_theta, g_pi, None


def _zinb_terms(x, mu, theta, pi, ridge: float, with_grads: bool):
    """Per-entry ZINB NLL (plus ridge) and, when asked, its derivatives in ``mu``, ``theta`` and ``pi``.

    Every entry is first scored as a zero; the negative binomial terms (``lgamma``, ``digamma``) are then computed
    on the observed entries alone, usually a small fraction of a count matrix, in float64: near the decoder's cap on
    theta (1e4) their differences (``lgamma(theta) - lgamma(x + theta)``, ~1e5 each) lose every digit in float32.
    """
    theta_eps, theta_mu = theta + _EPS, theta + mu + _EPS
    ratio = torch.log1p(mu / theta_eps)  # log((theta + mu) / theta) >= 0, without the cancellation of two logs
    nb_zero = torch.exp(-theta * ratio)  # NB probability of a zero
    denominator = pi + (1.0 - pi) * nb_zero + _EPS
    value = -torch.log(denominator) + ridge * pi.square()
    observed = torch.nonzero(x > 0).squeeze(1)
    xo, mo, to, po = (t[observed].double() for t in (x, mu, theta, pi))
    to_eps = to + _EPS
    ro = torch.log1p(mo / to_eps)
    value[observed] = (
        torch.lgamma(to_eps)
        + torch.lgamma(xo + 1.0)
        - torch.lgamma(xo + to_eps)
        + (to + xo) * ro
        - xo * torch.log((mo + _EPS) / to_eps)
        - torch.log(1.0 - po + _EPS)
        + ridge * po.square()
    ).to(value.dtype)
    if not with_grads:
        return value, None
    # zeros: d(-log D) = -dD / D with D = pi + (1 - pi) P, P = ((theta + eps) / (theta + mu + eps))**theta
    weight = -(1.0 - pi) * nb_zero / denominator
    d_mu = weight * (-theta / theta_mu)
    d_theta = weight * (-ratio + theta * mu / (theta_eps * theta_mu))
    d_pi = -(1.0 - nb_zero) / denominator + 2.0 * ridge * pi
    # counts > 0
    inv_to, inv_tmo = 1.0 / to_eps, 1.0 / (to + mo + _EPS)
    d_mu[observed] = ((to + xo) * inv_tmo - xo / (mo + _EPS)).to(d_mu.dtype)
    d_theta[observed] = (
        torch.digamma(to_eps) - torch.digamma(xo + to_eps) + ro + (to + xo) * (inv_tmo - inv_to) + xo * inv_to
    ).to(d_theta.dtype)
    d_pi[observed] = (1.0 / (1.0 - po + _EPS) + 2.0 * ridge * po).to(d_pi.dtype)
    return value, (d_mu, d_theta, d_pi)


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


def spatial_pair_loss(
    z: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Pull spatial neighbours together and push random pairs apart: BCE on ``sigmoid(cos(z_i, z_j))``.

    Parameters
    ----------
    z
        n x d embedding.
    positive
        2 x P indices of neighbour pairs (target 1).
    negative
        2 x Q indices of sampled non-neighbour pairs (target 0).
    weights
        P weights of the neighbour pairs' pull (:func:`~semst_sc.nn.pair_similarity_weights`); ``None``: 1 each.
    """
    zn = F.normalize(z, dim=1)
    pos = torch.sigmoid((zn[positive[0]] * zn[positive[1]]).sum(dim=1))
    neg = torch.sigmoid((zn[negative[0]] * zn[negative[1]]).sum(dim=1))
    pull = F.binary_cross_entropy(pos, torch.ones_like(pos), weight=weights)
    return pull + F.binary_cross_entropy(neg, torch.zeros_like(neg))
