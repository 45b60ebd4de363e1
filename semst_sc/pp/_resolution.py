"""Spots or single cells: the resolution of the observations, and the neighbourhood SemST models at cell resolution.

A multi-cell spot (Visium, Spatial Transcriptomics) already averages its surroundings; a single cell (Xenium,
CosMx, MERFISH, osmFISH, BaristaSeq) or a sub-cellular bin (Visium HD) does not, and clustering it by its own
expression finds cell types, not domains. At cell resolution SemST therefore models each observation's
*neighbourhood*: the counts of its nearest observations, itself included, summed with each cell's counts capped at
the median counts per cell (``neighbourhood_pooling="capped"``, the default: no cell outweighs a typical one, and a
nearly empty one is not inflated), as they are (``"counts"``: cells with more RNA weigh more, as under a spot) or with
each cell brought to the median depth (``"cells"``: a neighbourhood's make-up by cells, as BANKSY averages normalised
expression), so that the encoder input, the semantic vector (the neighbourhood's most expressed genes) and the ZINB
target all describe the mixture of cells around it, as a spot would.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.sparse as sp
from sklearn.neighbors import NearestNeighbors

from .._constants import POOLINGS

Resolution = Literal["auto", "spot", "cell"]
Pooling = Literal["capped", "cells", "counts"]

#: observations on a lattice: at least this share of nearest-neighbour distances lies within LATTICE_TOLERANCE of
#: their median (Visium's hexagonal grid: 0.999 on DLPFC; ST's square grid with its jittered spot positions: 0.70
#: on the mouse olfactory bulb; segmented cells: 0.07-0.12 on osmFISH and BaristaSeq)
LATTICE_SHARE = 0.5
LATTICE_TOLERANCE = 0.05
#: a multi-cell spot holds at least this median number of counts (Visium and ST: 1,000-15,000; an 8 µm
#: Visium HD bin: about 100-200)
SPOT_MIN_COUNTS = 500
#: observations pooled into each neighbourhood at cell resolution (itself included): with cells about 10 µm apart, a
#: disc about 50 µm across, about one Visium spot (55 µm); the documented default for every cell-resolution platform
DEFAULT_NEIGHBOURHOOD_SIZE = 20


def detect_resolution(coords: np.ndarray, totals: np.ndarray) -> tuple[str, dict[str, float]]:
    """Classify observations as multi-cell ``"spot"`` or ``"cell"`` (single cells or sub-cellular bins).

    The rule: ``"spot"`` when the observations sit on a regular lattice (at least :data:`LATTICE_SHARE` of the
    nearest-neighbour distances within :data:`LATTICE_TOLERANCE` of their median) *and* hold a median of at least
    :data:`SPOT_MIN_COUNTS` counts; ``"cell"`` otherwise (cells at irregular positions, or lattice bins with
    few counts).

    Parameters
    ----------
    coords
        Observation coordinates (n x 2 or 3).
    totals
        Counts per observation.

    Returns
    -------
    The resolution and the evidence (``lattice_share``, ``median_counts``).
    """
    distances, _ = NearestNeighbors(n_neighbors=2).fit(coords).kneighbors(coords)
    nearest = distances[:, 1]
    median = np.median(nearest)
    lattice_share = float(np.mean(np.abs(nearest - median) <= LATTICE_TOLERANCE * median)) if median > 0 else 0.0
    median_counts = float(np.median(totals))
    spot = lattice_share >= LATTICE_SHARE and median_counts >= SPOT_MIN_COUNTS
    return ("spot" if spot else "cell"), {"lattice_share": lattice_share, "median_counts": median_counts}


def check_pooling(pooling: str) -> None:
    """Raise a clear error for an unknown ``neighbourhood_pooling``."""
    if pooling not in POOLINGS:
        raise ValueError(f"neighbourhood_pooling must be one of {', '.join(map(repr, POOLINGS))}, got {pooling!r}")


def cell_weights(totals: np.ndarray, pooling: Pooling) -> np.ndarray:
    """Weight of each cell's counts in the neighbourhoods that pool it.

    ``"counts"``: 1; ``"cells"``: the median counts per cell (of the cells with counts) over the cell's counts;
    ``"capped"``: that ratio where it is below 1 (cells above the median brought down to it, the others as they are).
    Empty cells weigh 0 under ``"cells"`` and ``"capped"``.
    """
    totals = np.asarray(totals, dtype=np.float64)
    if pooling == "counts":
        return np.ones(len(totals), np.float32)
    filled = totals > 0
    median = np.median(totals[filled]) if filled.any() else 1.0
    weights = np.divide(median, totals, out=np.zeros_like(totals), where=filled)
    if pooling == "capped":
        weights = np.minimum(weights, 1.0)
    return weights.astype(np.float32)


def neighbourhood(coords: np.ndarray, size: int) -> sp.csr_matrix:
    """Binary n x n matrix whose row i marks the ``size`` observations nearest to i, i itself included."""
    n = len(coords)
    _, idx = NearestNeighbors(n_neighbors=size).fit(coords).kneighbors(coords)
    rows = np.repeat(np.arange(n), size)
    return sp.csr_matrix((np.ones(n * size, np.float32), (rows, idx.ravel())), shape=(n, n))
