from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from anndata import AnnData
from scanpy import logging as logg
from sklearn.neighbors import NearestNeighbors

from .. import _constants as C
from .._docs import doc_params
from .._utils import check_adata, check_n_neighbors, get_spatial, sparse_knn_graph, store_graph

#: squidpy's default and, on Visium's hexagonal grid, the first ring of neighbours
DEFAULT_N_NEIGHBORS = 6


@doc_params
def spatial_graph(
    adata: AnnData,
    *,
    n_neighbors: int | None = None,
    radius: float | None = None,
    spatial_key: str = C.SPATIAL_KEY,
    key_added: str = C.SPATIAL_GRAPH_KEY,
    copy: bool = False,
) -> AnnData | None:
    """Build the spatial neighbour graph, or keep the one squidpy already wrote.

    With neither ``n_neighbors`` nor ``radius`` given, a graph already stored under ``key_added``
    (e.g. by ``squidpy.gr.spatial_neighbors``) is used as is; otherwise a k-nearest-neighbour graph
    with k = 6 is built (squidpy's default, Visium's first ring; one default for every platform). The
    graph is symmetric, binary and has no self loops.

    Parameters
    ----------
    adata
        Spots with coordinates in ``obsm[spatial_key]``.
    n_neighbors
        Build a kNN graph with this many neighbours per spot.
    radius
        Build a radius graph: spots closer than ``radius`` (coordinate units) are neighbours.
    spatial_key
        Key of the coordinates in ``obsm``.
    key_added
        Prefix of the keys written (squidpy's layout).
    copy
        {doc_copy}

    Returns
    -------
    ``None``, or a copy when ``copy=True``. Writes

    ``obsp['{key_added}_connectivities']``
        Binary symmetric adjacency.
    ``obsp['{key_added}_distances']``
        Euclidean distances of the edges.
    ``uns['{key_added}_neighbors']``
        The keys and ``params`` used.
    """
    check_adata(adata)
    ckey = C.connectivities_key(key_added)
    if n_neighbors is None and radius is None and ckey in adata.obsp:
        logg.info(f"using the existing spatial graph obsp['{ckey}']")
        return adata.copy() if copy else None
    if n_neighbors is not None and radius is not None:
        raise ValueError("give n_neighbors or radius, not both")
    coords = get_spatial(adata, spatial_key)
    n = adata.n_obs

    if radius is not None:
        if radius <= 0:
            raise ValueError(f"radius must be positive, got {radius}")
        dist = NearestNeighbors(radius=radius).fit(coords).radius_neighbors_graph(mode="distance")
        dist = sp.csr_matrix(dist, dtype=np.float32)
        dist.setdiag(0)
        dist.eliminate_zeros()
        conn = (dist > 0).astype(np.float32).tocsr()
        params = {"radius": float(radius), "spatial_key": spatial_key}
    else:
        k = DEFAULT_N_NEIGHBORS if n_neighbors is None else int(n_neighbors)
        check_n_neighbors(n, k, "a spatial graph", "or lower n_neighbors, or pass radius=")
        distances, indices = NearestNeighbors(n_neighbors=k).fit(coords).kneighbors()  # excludes the spot itself
        conn, dist = sparse_knn_graph(indices, distances, n)
        params = {"n_neighbors": k, "spatial_key": spatial_key}

    isolated = int((np.diff(conn.indptr) == 0).sum())
    if isolated:
        logg.warning(f"{isolated} spots have no spatial neighbour: increase radius or n_neighbors")
    logg.info(f"spatial graph: {conn.nnz / n:.1f} neighbours per spot on average")

    out = adata.copy() if copy else adata
    store_graph(out, key_added, conn, dist, params)
    return out if copy else None
