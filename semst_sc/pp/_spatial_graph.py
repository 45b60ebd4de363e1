from __future__ import annotations

from numbers import Real

import numpy as np
import scipy.sparse as sp
from anndata import AnnData
from scanpy import logging as logg
from sklearn.neighbors import NearestNeighbors

from .. import _constants as C
from .._docs import doc_params
from .._sections import block_diagonal, links_sections, section_indices, smallest_section
from .._utils import (
    check_adata,
    check_integer,
    check_n_neighbors,
    check_one_frame,
    get_spatial,
    output_of,
    sparse_knn_graph,
    store_graph,
)

#: squidpy's default and, on Visium's hexagonal grid, the first ring of neighbours
DEFAULT_N_NEIGHBORS = 6


@doc_params
def spatial_graph(
    adata: AnnData,
    *,
    n_neighbors: int | None = None,
    radius: float | None = None,
    spatial_key: str = C.SPATIAL_KEY,
    library_key: str | None = None,
    key_added: str = C.SPATIAL_GRAPH_KEY,
    copy: bool = False,
) -> AnnData | None:
    """Build the spatial neighbour graph, or keep the one squidpy already wrote.

    With neither ``n_neighbors`` nor ``radius`` given, a graph already stored under ``key_added``
    (e.g. by ``squidpy.gr.spatial_neighbors``) is used as is, unless ``library_key`` is given and it links two
    sections (built without ``library_key``): then it is built again, with a warning. Otherwise a
    k-nearest-neighbour graph with k = 6 is built (squidpy's default, Visium's first ring; one default for every
    platform). The graph is symmetric, binary and has no self loops. With ``library_key``, neighbours are found
    within each section only: no edge joins two sections (whose coordinates are separate frames). A graph without
    edges, built or found, is refused (the model would learn nothing spatial); spots without a neighbour are warned
    about.

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
    library_key
        {doc_library_key}
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
    check_integer(n_neighbors, "n_neighbors", optional=True)
    if radius is not None and (isinstance(radius, bool) or not isinstance(radius, Real) or not radius > 0):
        raise ValueError(f"radius must be a positive number (coordinate units), got {radius!r}")
    ckey = C.connectivities_key(key_added)
    if n_neighbors is None and radius is None and ckey in adata.obsp:
        if not links_sections(adata.obsp[ckey], adata, library_key):
            fix = (
                f"build one with n_neighbors= (run_pipeline: spatial_neighbors=), or delete obsp['{ckey}'] to have "
                "the default one built"
            )
            _check_edges(adata.obsp[ckey], f"the existing spatial graph obsp['{ckey}']", fix)
            logg.info(f"using the existing spatial graph obsp['{ckey}']")
            return adata.copy() if copy else None
        logg.warning(
            f"the existing spatial graph obsp['{ckey}'] links spots of different sections of obs['{library_key}']: "
            "built again within each section"
        )
    if n_neighbors is not None and radius is not None:
        raise ValueError("give n_neighbors or radius, not both")
    coords = get_spatial(adata, spatial_key)
    check_one_frame(adata, spatial_key, library_key)
    n = adata.n_obs
    groups = section_indices(adata, library_key) or [np.arange(n)]
    k = DEFAULT_N_NEIGHBORS if n_neighbors is None else int(n_neighbors)
    if radius is None:
        smallest, where = smallest_section(adata, library_key, groups)
        check_n_neighbors(smallest, k, "a spatial graph", "or lower n_neighbors, or pass radius=", where)
    graphs = [_graph(coords[index], k, radius) for index in groups]
    if len(groups) == 1:
        conn, dist = graphs[0]
    else:
        conn = block_diagonal([g[0] for g in graphs], groups, n)
        dist = block_diagonal([g[1] for g in graphs], groups, n)
    params = {"spatial_key": spatial_key, "library_key": library_key or ""}
    params |= {"n_neighbors": k} if radius is None else {"radius": float(radius)}

    _check_edges(conn, f"the spatial graph of radius={radius}", "increase radius, or pass n_neighbors=")
    logg.info(f"spatial graph: {conn.nnz / n:.1f} neighbours per spot on average")

    out = output_of(adata, copy)
    store_graph(out, key_added, conn, dist, params)
    return out if copy else None


def _check_edges(graph: sp.spmatrix, what: str, fix: str) -> None:
    """Raise when ``graph`` has no edge (the model would learn nothing spatial); warn about spots without one."""
    degree = np.diff(sp.csr_matrix(graph).indptr)
    if not degree.any():
        raise ValueError(f"{what} has no edges: no spot has a spatial neighbour; {fix}")
    isolated = int((degree == 0).sum())
    if isolated:
        logg.warning(f"{isolated} spots have no spatial neighbour in {what}: {fix}")


def _graph(coords: np.ndarray, k: int, radius: float | None) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Return the connectivities and distances of a kNN graph (``radius`` None) or a radius graph of one section."""
    n = len(coords)
    if radius is None:
        distances, indices = NearestNeighbors(n_neighbors=k).fit(coords).kneighbors()  # excludes the spot itself
        return sparse_knn_graph(indices, distances, n)
    found = NearestNeighbors(radius=radius).fit(coords).radius_neighbors_graph(mode="distance").tocoo()
    other = found.row != found.col  # the spot itself is no neighbour; a spot at the same place (distance 0) is one
    rows, cols = found.row[other], found.col[other]
    dist = sp.csr_matrix((found.data[other].astype(np.float32), (rows, cols)), shape=(n, n))
    return sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n, n)), dist
