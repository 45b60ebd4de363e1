"""How strongly the spatial loss pulls each pair of neighbours: by how alike their inputs are."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import PCA


def pair_similarity_weights(
    x: np.ndarray,
    graph: sp.spmatrix,
    *,
    n_components: int = 30,
    n_fit: int = 20_000,
    n_random: int = 20_000,
    rng: int = 0,
) -> sp.csr_matrix:
    """Weight each spatial neighbour pair by how much more alike their inputs are than random pairs.

    Each spot's input is reduced to its first ``n_components`` principal components (fitted on up to ``n_fit`` spots);
    a neighbour pair's cosine ``s`` in that space is compared with the cosines of ``n_random`` random pairs: its
    weight is ``clip(2 F(s) - 1, 0, 1)``, ``F`` the share of random pairs less alike. A pair no more alike than the
    median random pair (neighbours across the border of two domains) is not pulled; one more alike than nearly every
    random pair is pulled fully. So the spatial loss smooths within domains and not across their borders, where
    domains are thin (the layers of the olfactory bulb) as where they are wide.

    Parameters
    ----------
    x
        Encoder input, dense spots x genes.
    graph
        Spatial graph (n x n); its pattern gives the pairs.
    n_components
        Principal components the cosines are measured in.
    n_fit
        Spots the components are fitted on (all of them below this number).
    n_random
        Random pairs the neighbour pairs are compared with.
    rng
        Seed of the spots and pairs drawn.

    Returns
    -------
    The weights, a CSR matrix with ``graph``'s pattern.
    """
    n = x.shape[0]
    generator = np.random.default_rng(rng)
    fit_rows = np.sort(generator.choice(n, n_fit, replace=False)) if n > n_fit else slice(None)
    fitted = x[fit_rows]
    pca = PCA(min(n_components, *fitted.shape), random_state=rng).fit(fitted)
    scores = np.vstack([pca.transform(x[start : start + 65_536]) for start in range(0, n, 65_536)])
    scores /= np.maximum(np.linalg.norm(scores, axis=1, keepdims=True), 1e-12)
    coo = sp.coo_matrix(graph)
    similar = np.concatenate(
        [_cosines(scores, coo.row[i : i + 1_000_000], coo.col[i : i + 1_000_000]) for i in range(0, coo.nnz, 1_000_000)]
    )
    pairs = generator.integers(0, n, size=(2, n_random))
    random = np.sort(_cosines(scores, pairs[0], pairs[1]))
    weights = np.clip(2 * np.searchsorted(random, similar) / n_random - 1, 0, 1).astype(np.float32)
    return sp.csr_matrix((weights, (coo.row, coo.col)), shape=(n, n))


def _cosines(unit: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Cosines of the pairs ``(rows[i], cols[i])`` of unit-norm rows."""
    return np.einsum("ij,ij->i", unit[rows], unit[cols])
