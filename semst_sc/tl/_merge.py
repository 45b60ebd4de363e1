"""One domain more, merged back: the pair of domains most intertwined in space and alike in expression is joined.

A mixture with K components can split one large domain into two alike, interleaved pieces while two small, distinct
domains share a component (osmFISH's layer 6 and its layers 2-3). Fitting K + 1 components and merging the pair whose
shared border is long for their size and whose expression is close joins the split pieces back and keeps the small
domains apart.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def merge_to(
    labels: np.ndarray, n_clusters: int, graph: sp.spmatrix, rep: np.ndarray, precision: np.ndarray
) -> np.ndarray:
    """Merge domains two at a time, the pair with the largest intertwining over Ward cost first, until ``n_clusters``.

    Parameters
    ----------
    labels
        Integer labels of every observation (any values).
    n_clusters
        Number of domains to end with.
    graph
        Spatial graph (n x n, weighted).
    rep
        The representation the domains were clustered on (n x d).
    precision
        Inverse of the mixture's shared covariance (d x d): the metric of the Ward cost.

    Returns
    -------
    Labels ``0..n_clusters-1``.
    """
    labels = np.unique(labels, return_inverse=True)[1]
    edges = sp.coo_matrix(graph)
    while labels.max() + 1 > n_clusters:
        a, b = _closest_pair(labels, edges, rep, precision)
        labels = np.unique(np.where(labels == b, a, labels), return_inverse=True)[1]
    return labels


def _closest_pair(labels: np.ndarray, edges: sp.coo_matrix, rep: np.ndarray, precision: np.ndarray) -> tuple[int, int]:
    """Return the pair of domains (a, b) with the largest intertwining over Ward cost.

    Intertwining: the edge weight joining a and b (both directions) over the edge weight leaving a's and b's
    observations. Ward cost: n_a n_b / (n_a + n_b) times the squared Mahalanobis distance of their means. Without any
    shared edge, the pair with the smallest Ward cost.
    """
    k = labels.max() + 1
    joint = sp.coo_matrix((edges.data, (labels[edges.row], labels[edges.col])), shape=(k, k)).toarray()
    volume = joint.sum(axis=1)
    intertwining = (joint + joint.T) / np.maximum(np.add.outer(volume, volume), np.finfo(float).tiny)
    np.fill_diagonal(intertwining, 0)
    sizes = np.bincount(labels, minlength=k).astype(float)
    means = np.zeros((k, rep.shape[1]))
    np.add.at(means, labels, rep)
    means /= sizes[:, None]
    gaps = means[:, None, :] - means[None, :, :]
    ward = np.outer(sizes, sizes) / np.add.outer(sizes, sizes) * np.einsum("abi,ij,abj->ab", gaps, precision, gaps)
    score = intertwining / np.maximum(ward, np.finfo(float).tiny) if intertwining.max() > 0 else -ward
    np.fill_diagonal(score, -np.inf)
    a, b = np.unravel_index(np.argmax(score), score.shape)
    return int(a), int(b)
