from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from anndata import AnnData
from scanpy import logging as logg
from sklearn.decomposition import TruncatedSVD
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import normalize

from .. import _constants as C
from .._docs import doc_params
from .._sections import section_indices
from .._utils import check_adata, check_n_neighbors, require_prepared, sparse_knn_graph, store_graph

#: neighbours per spot of the expression graph (SemST's reference value)
DEFAULT_N_NEIGHBORS = 14
#: from this many spots on, the neighbours are searched approximately (NN-descent) instead of exactly
APPROXIMATE_FROM = 100_000


@doc_params
def feature_graph(
    adata: AnnData,
    *,
    n_neighbors: int = DEFAULT_N_NEIGHBORS,
    n_comps: int | None = 50,
    rng: int = 0,
    library_key: str | None = None,
    balanced: bool = True,
    key_added: str = C.FEATURE_GRAPH_KEY,
    copy: bool = False,
) -> AnnData | None:
    """Build SemST's expression graph: cosine kNN on the scaled expression of the modelled genes.

    The neighbours are exact below 100,000 spots; from there on they come from NN-descent (pynndescent), whose time
    grows about linearly with the spots (an exact search grows with their square).

    With several sections (``library_key``) the neighbours cross sections, which is what lets one domain be learnt
    from all of them. ``balanced`` (the default) takes an equal share of each spot's neighbours from every section,
    as BBKNN does, so that a large or deeply sequenced section cannot become every spot's neighbourhood.

    Parameters
    ----------
    adata
        Output of :func:`semst_sc.pp.prepare`.
    n_neighbors
        Neighbours per spot (before symmetrisation).
    n_comps
        Reduce the expression to this many components (truncated SVD, no centring) before the
        neighbour search, which keeps it fast on large data; ``None`` searches the full matrix.
    rng
        Seed of the SVD.
    library_key
        {doc_library_key}
    balanced
        With ``library_key``: ``ceil(n_neighbors / n_sections)`` neighbours from each section; ``False`` searches
        all spots together.
    key_added
        Prefix of the keys written.
    copy
        {doc_copy}

    Returns
    -------
    ``None``, or a copy when ``copy=True``. Writes

    ``obsp['{key_added}_connectivities']``
        Binary symmetric kNN graph without self loops.
    ``obsp['{key_added}_distances']``
        Cosine distances of the edges.
    ``uns['{key_added}_neighbors']``
        The keys and ``params`` used.
    """
    check_adata(adata)
    genes = require_prepared(adata)
    n = adata.n_obs
    check_n_neighbors(n, n_neighbors, "an expression graph", "or lower n_neighbors")
    X = adata.layers[C.SCALED_LAYER][:, genes]
    if n_comps is not None and n_comps < X.shape[1] - 1:
        X = TruncatedSVD(n_components=n_comps, random_state=rng).fit_transform(X)
    X = normalize(X)  # cosine distance = euclidean on unit vectors / 2
    algorithm = "nndescent" if n >= APPROXIMATE_FROM else "exact"
    groups = section_indices(adata, library_key) if balanced else None
    if groups is None:
        indices, distances = _neighbours(X, X, n_neighbors, algorithm, rng, exclude_self=True)
    else:
        share = int(np.ceil(n_neighbors / len(groups)))
        check_n_neighbors(min(len(g) for g in groups), share, "a balanced expression graph", "or lower n_neighbors")
        found = [_neighbours(X[index], X, share, algorithm, rng, exclude_self=index) for index in groups]
        indices = np.hstack([index[i] for index, (i, _) in zip(groups, found, strict=True)])
        distances = np.hstack([d for _, d in found])
    conn, dist = sparse_knn_graph(indices, (distances**2 / 2).astype(np.float32), n)
    logg.info(f"feature graph: {conn.nnz / n:.1f} neighbours per spot on average")

    out = adata.copy() if copy else adata
    params = {"n_neighbors": n_neighbors, "n_comps": n_comps, "metric": "cosine", "algorithm": algorithm}
    params |= {"library_key": library_key or "", "balanced": bool(balanced and groups is not None)}
    store_graph(out, key_added, conn, dist, params)
    return out if copy else None


def _neighbours(reference, query, k: int, algorithm: str, rng: int, exclude_self) -> tuple[np.ndarray, np.ndarray]:
    """Return the ``k`` nearest rows of ``reference`` to each row of ``query`` (positions in ``reference``).

    ``exclude_self``: ``True`` when ``reference`` is ``query`` (a row is not its own neighbour), or the positions in
    ``query`` of the reference rows (a section searched for every spot, its own spots included).
    """
    if exclude_self is True:
        if algorithm == "exact":
            distances, indices = NearestNeighbors(n_neighbors=k).fit(reference).kneighbors()  # excludes the row itself
            return indices, distances
        return _nndescent(reference, k, rng)
    if algorithm == "exact":
        distances, indices = NearestNeighbors(n_neighbors=k + 1).fit(reference).kneighbors(query)
    else:
        from pynndescent import NNDescent

        index = NNDescent(_float32(reference), n_neighbors=2 * k + 1, random_state=rng)
        indices, distances = index.query(_float32(query), k=k + 1)
    own = np.full(len(query), -1)
    own[exclude_self] = np.arange(len(exclude_self))
    order = np.argsort(indices == own[:, None], axis=1, kind="stable")[:, :k]  # the spot itself last, then dropped
    return np.take_along_axis(indices, order, axis=1), np.take_along_axis(distances, order, axis=1)


def _float32(X):
    return X.astype(np.float32) if sp.issparse(X) else np.asarray(X, dtype=np.float32)


def _nndescent(X: np.ndarray, n_neighbors: int, rng: int) -> tuple[np.ndarray, np.ndarray]:
    """Approximate kNN of every row, itself excluded, with NN-descent.

    Searching 2k + 1 neighbours and keeping the k nearest finds about 90% of the exact neighbours (about 75% when
    searching k + 1) at twice the cost.
    """
    from pynndescent import NNDescent

    search = NNDescent(_float32(X), n_neighbors=2 * n_neighbors + 1, random_state=rng)  # sparse when n_comps=None
    indices, distances = search.neighbor_graph
    order = np.argsort(indices == np.arange(len(X))[:, None], axis=1, kind="stable")[:, :n_neighbors]  # self last
    return np.take_along_axis(indices, order, axis=1), np.take_along_axis(distances, order, axis=1)
