from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData
from scanpy import logging as logg
from sklearn.decomposition import TruncatedSVD
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import normalize

from .. import _constants as C
from .._docs import doc_params
from .._sections import section_indices, smallest_section
from .._utils import (
    check_adata,
    check_integer,
    check_n_neighbors,
    get_spatial,
    output_of,
    params_of,
    prepared_of,
    require_prepared,
    sparse_knn_graph,
    store_graph,
)

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
    outside_neighbourhood: bool = True,
    spatial_key: str = C.SPATIAL_KEY,
    key_added: str = C.FEATURE_GRAPH_KEY,
    copy: bool = False,
) -> AnnData | None:
    """Build SemST's expression graph: cosine kNN on the scaled expression of the modelled genes.

    The neighbours are exact below 100,000 spots; from there on they come from NN-descent (pynndescent), whose time
    grows about linearly with the spots (an exact search grows with their square).

    With several sections (``library_key``) the neighbours cross sections, which is what lets one domain be learnt
    from all of them. ``balanced`` (the default) takes an equal share of each spot's neighbours from every section,
    as BBKNN does, so that a large or deeply sequenced section cannot become every spot's neighbourhood.

    At cell resolution (:func:`semst_sc.pp.prepare` pooled each cell's neighbourhood), a cell's expression neighbours
    are searched outside its surroundings: a cell whose neighbourhood overlaps its own is passed over (two discs, each
    from a cell to its farthest pooled cell, that intersect). Their pooled counts share cells, so they look alike
    whatever domain they lie in; kept, they made up 66-78 % of the expression edges on osmFISH and BaristaSeq, and
    the expression graph became a second spatial graph instead of joining distant parts of one domain. Below 100,000
    cells the search reaches far enough to keep ``n_neighbors`` outside neighbours for nearly every cell; above, the
    NN-descent candidates (``2 * n_neighbors``) are filtered, and a cell with fewer outside keeps its nearest
    overlapping ones to make up ``n_neighbors``.

    Parameters
    ----------
    adata
        Output of :func:`semst_sc.pp.prepare`.
    n_neighbors
        Neighbours per spot (before symmetrisation).
    n_comps
        Reduce the expression to this many components (truncated SVD, no centring) before the
        neighbour search, which keeps it fast on large data; ``None`` (or a number not below the modelled genes')
        searches the full matrix, recorded as ``n_comps`` 0.
    rng
        Seed of the SVD.
    library_key
        {doc_library_key}
    balanced
        With ``library_key``: ``ceil(n_neighbors / n_sections)`` neighbours from each section; ``False`` searches
        all spots together.
    outside_neighbourhood
        At cell resolution, pass over cells whose neighbourhood overlaps the cell's own (see above); ``False`` keeps
        them. Ignored at spot resolution.
    spatial_key
        ``obsm`` key of the coordinates, read at cell resolution to tell overlapping neighbourhoods.
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
    check_integer(n_neighbors, "n_neighbors")
    check_integer(n_comps, "n_comps", optional=True)
    check_integer(rng, "rng", minimum=0)
    genes = require_prepared(adata)
    n = adata.n_obs
    check_n_neighbors(n, n_neighbors, "an expression graph", "or lower n_neighbors")
    X = adata.layers[C.SCALED_LAYER][:, genes]
    reduced = n_comps is not None and n_comps < X.shape[1] - 1  # else every modelled gene is read
    if reduced:
        X = TruncatedSVD(n_components=n_comps, random_state=rng).fit_transform(X)
    X = normalize(X)  # on unit vectors, cosine distance = squared euclidean distance / 2
    algorithm = "nndescent" if n >= APPROXIMATE_FROM else "exact"
    groups = section_indices(adata, library_key) if balanced else None
    pooled = adata.obsp.get(C.NEIGHBOURHOOD_KEY) if outside_neighbourhood else None
    outside = None
    if pooled is not None and spatial_key not in adata.obsm:
        raise KeyError(
            f"obsm['{spatial_key}'] not found: at cell resolution the expression graph reads the coordinates "
            "sst.pp.prepare pooled the neighbourhoods with; pass their obsm key, spatial_key= as given to "
            "sst.pp.prepare (or outside_neighbourhood=False)"
        )
    if pooled is not None:  # overlaps judged within the sections prepare pooled in (each its own frame)
        pooled_in = params_of(adata.uns.get(C.PREPARE_KEY)).get("library_key") or library_key
        sections = None if not pooled_in else adata.obs[pooled_in].to_numpy()
        outside = _Outside(pooled, get_spatial(adata, spatial_key), sections)
    if groups is None:
        blocks = [(None, n_neighbors)]
    else:
        share = int(np.ceil(n_neighbors / len(groups)))
        smallest, where = smallest_section(adata, library_key, groups)
        check_n_neighbors(smallest, share, "a balanced expression graph", "or lower n_neighbors", where)
        blocks = [(index, share) for index in groups]
    found = []
    for index, k in blocks:  # the whole slide, or each section in turn as the reference
        # candidates to pass over the overlapping ones: exact, enough for nearly every cell; NN-descent, the 2k it
        # searches anyway (a wider search costs it about the square of the width)
        extra = 0 if outside is None else outside.extra if algorithm == "exact" else k
        wanted = min(k + extra, (n if index is None else len(index)) - 1)
        slack = k if outside is None else 0
        if index is None:
            i, d = _neighbours(X, X, wanted, algorithm, rng, exclude_self=True, slack=slack)
        else:
            i, d = _neighbours(X[index], X, wanted, algorithm, rng, exclude_self=index, slack=slack)
            i = index[i]
        found.append((i[:, :k], d[:, :k]) if outside is None else outside.keep(i, d, k))
    indices, distances = np.hstack([i for i, _ in found]), np.hstack([d for _, d in found])
    if outside is not None:
        logg.info(
            f"feature graph: {outside.skipped:.0%} of the candidates overlap the cell's neighbourhood: passed over"
        )
    conn, dist = sparse_knn_graph(indices, (distances**2 / 2).astype(np.float32), n)
    logg.info(f"feature graph: {conn.nnz / n:.1f} neighbours per spot on average")

    out = output_of(adata, copy)
    params = {"n_neighbors": n_neighbors, "n_comps": n_comps if reduced else 0, "metric": "cosine"}
    params["prepared"] = prepared_of(adata)  # built on this run of sst.pp.prepare
    params["algorithm"] = algorithm
    params |= {"library_key": library_key or "", "balanced": bool(balanced and groups is not None)}
    params |= {"outside_neighbourhood": outside is not None}
    store_graph(out, key_added, conn, dist, params)
    return out if copy else None


def _neighbours(
    reference, query, k: int, algorithm: str, rng: int, exclude_self, slack: int
) -> tuple[np.ndarray, np.ndarray]:
    """Return the ``k`` nearest rows of ``reference`` to each row of ``query`` (positions in ``reference``).

    ``exclude_self``: ``True`` when ``reference`` is ``query`` (a row is not its own neighbour), or the positions in
    ``query`` of the reference rows (a section searched for every spot, its own spots included). ``slack``: NN-descent
    searches ``k + slack + 1`` neighbours for its recall.
    """
    if exclude_self is True:
        if algorithm == "exact":
            distances, indices = NearestNeighbors(n_neighbors=k).fit(reference).kneighbors()  # excludes the row itself
            return indices, distances
        return _nndescent(reference, k, rng, slack)
    if algorithm == "exact":
        distances, indices = NearestNeighbors(n_neighbors=k + 1).fit(reference).kneighbors(query)
    else:
        from pynndescent import NNDescent

        index = NNDescent(_float32(reference), n_neighbors=k + slack + 1, random_state=rng)
        indices, distances = index.query(_float32(query), k=k + 1)
    own = np.full(query.shape[0], -1)
    own[exclude_self] = np.arange(len(exclude_self))
    order = np.argsort(indices == own[:, None], axis=1, kind="stable")[:, :k]  # the spot itself last, then dropped
    return np.take_along_axis(indices, order, axis=1), np.take_along_axis(distances, order, axis=1)


class _Outside:
    """Which candidate expression neighbours have a pooled neighbourhood that overlaps the cell's own.

    Each neighbourhood is taken as the disc from its cell to its farthest pooled cell; two overlap when their discs
    intersect within one section (sections have their own coordinate frames).
    """

    def __init__(self, pooled: sp.csr_matrix, coords: np.ndarray, sections: np.ndarray | None):
        coo = pooled.tocoo()
        self.radius = np.zeros(pooled.shape[0])
        np.maximum.at(self.radius, coo.row, np.linalg.norm(coords[coo.row] - coords[coo.col], axis=1))
        self.coords = coords
        self.section = np.zeros(len(coords), int) if sections is None else pd.factorize(sections)[0]
        #: candidates an exact search adds to the k kept: a disc twice a neighbourhood's radius holds about 4 of them
        self.extra = 4 * int(np.diff(pooled.indptr).max())
        self.searched = self.overlapping = 0

    @property
    def skipped(self) -> float:
        """Share of the candidates searched so far that overlapped."""
        return self.overlapping / max(self.searched, 1)

    def keep(self, indices: np.ndarray, distances: np.ndarray, k: int, chunk: int = 100_000):
        """Return each row's ``k`` nearest candidates that do not overlap it.

        Where fewer than ``k`` do not, the nearest overlapping ones fill the row.
        """
        kept_i, kept_d = [], []
        for start in range(0, len(indices), chunk):
            rows = np.arange(start, min(start + chunk, len(indices)))
            cand = indices[rows]
            gap = np.linalg.norm(self.coords[cand] - self.coords[rows, None], axis=2)
            overlap = gap < self.radius[rows, None] + self.radius[cand]
            overlap &= self.section[cand] == self.section[rows, None]
            order = np.argsort(overlap, axis=1, kind="stable")[:, :k]  # the others first, each group nearest first
            kept_i.append(np.take_along_axis(cand, order, axis=1))
            kept_d.append(np.take_along_axis(distances[rows], order, axis=1))
            self.searched, self.overlapping = self.searched + overlap.size, self.overlapping + int(overlap.sum())
        return np.vstack(kept_i), np.vstack(kept_d)


def _float32(X):
    return X.astype(np.float32) if sp.issparse(X) else np.asarray(X, dtype=np.float32)


def _nndescent(X: np.ndarray, n_neighbors: int, rng: int, slack: int) -> tuple[np.ndarray, np.ndarray]:
    """Approximate kNN of every row, itself excluded, with NN-descent.

    Searching ``n_neighbors + slack + 1`` and keeping the ``n_neighbors`` nearest: with a slack of k, 2k + 1 searched,
    it finds about 90% of the exact neighbours (about 75% when searching k + 1) at twice the cost.
    """
    from pynndescent import NNDescent

    search = NNDescent(_float32(X), n_neighbors=n_neighbors + slack + 1, random_state=rng)  # sparse when n_comps=None
    indices, distances = search.neighbor_graph
    order = np.argsort(indices == np.arange(len(X))[:, None], axis=1, kind="stable")[:, :n_neighbors]  # self last
    return np.take_along_axis(indices, order, axis=1), np.take_along_axis(distances, order, axis=1)
