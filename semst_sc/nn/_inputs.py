"""Encoder inputs computed from counts, without AnnData."""

from __future__ import annotations

import numpy as np


def standardised_log(counts: np.ndarray) -> np.ndarray:
    """GraphST's encoder input: counts scaled to 1e4 per spot, log1p, standardised per gene, clipped at 10.

    Each gene is standardised over all the rows given: with several sections, over all of them together (a section's
    depth is taken out by the scaling per spot, its gene-wise efficiency is not).

    Parameters
    ----------
    counts
        Dense spots x genes raw counts.

    Returns
    -------
    float32 array of the same shape.
    """
    totals = np.maximum(counts.sum(axis=1, keepdims=True), 1.0)
    logged = np.log1p(counts / totals * 1e4)
    scaled = (logged - logged.mean(axis=0)) / np.maximum(logged.std(axis=0), 1e-6)
    return np.clip(scaled, -10, 10).astype(np.float32)
