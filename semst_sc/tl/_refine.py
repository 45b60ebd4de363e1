from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

from .. import _constants as C
from .._docs import doc_params
from .._utils import as_csr, check_adata, obsp_key, output_of, require_graph, warn_of_other_domains


@doc_params
def refine(
    adata: AnnData,
    *,
    domain_key: str = C.DOMAIN_KEY,
    connectivity_key: str | None = None,
    key_added: str | None = None,
    copy: bool = False,
) -> AnnData | None:
    """Smooth domain labels by a spatial majority vote: a spot takes the label most of its neighbours share.

    A spot is relabelled only when more than half of its neighbours agree on another label (a tie is no majority),
    so domain borders stay where they are and isolated spots join their surroundings. At cell resolution the
    neighbours are, by default, the cells :func:`~semst_sc.pp.prepare` pooled for each cell, as in
    :func:`semst_sc.tl.cluster`. Each call votes once more over the labels it finds: a second call in place
    smooths the smoothed labels again (``n_changed`` then counts the last vote's changes).

    Parameters
    ----------
    adata
        Spots with labels in ``obs[domain_key]`` and a spatial graph.
    domain_key
        ``obs`` column with the labels to refine.
    connectivity_key
        {doc_connectivity_key} ``None``: ``obsp['semst_neighbourhood']`` at cell resolution, the spatial graph
        otherwise.
    key_added
        ``obs`` column written (``None``: overwrite ``domain_key``); its parameters go to ``uns[key_added]``.
    copy
        {doc_copy}

    Returns
    -------
    ``None``, or a copy when ``copy=True``. Writes

    ``obs['{key_added}']``
        The refined labels (categorical, the categories of ``obs[domain_key]``).
    ``uns['{key_added}']['params']``
        ``domain_key``, ``connectivity_key`` (the ``obsp`` key of the graph voted over) and ``n_changed``, the
        number of spots relabelled. Refining the domains of :func:`~semst_sc.tl.cluster` in place updates its params
        instead: ``refine`` True, ``refined_over`` (the ``obsp`` key of the graph voted over), ``n_changed`` and
        ``n_found`` (the domains left: one the vote emptied keeps its category, unused).
    """
    check_adata(adata)
    if domain_key not in adata.obs:
        raise KeyError(f"obs['{domain_key}'] not found: run sst.tl.cluster(adata) first")
    if connectivity_key is None:
        graph, connectivity_key = vote_graph(adata, C.SPATIAL_GRAPH_KEY)
    else:
        graph = require_graph(adata, connectivity_key, "sst.pp.spatial_graph(adata)", spatial=True)
        connectivity_key = obsp_key(adata, connectivity_key)
    labels = pd.Categorical(adata.obs[domain_key])
    if (labels.codes < 0).any():
        raise ValueError(f"obs['{domain_key}'] has missing labels: refine labels of every spot")
    refined = majority_vote(labels.codes.astype(np.int64), graph)
    key_added = domain_key if key_added is None else key_added
    domains = pd.Series(pd.Categorical.from_codes(refined, categories=labels.categories), index=adata.obs_names)
    warn_of_other_domains(adata, key_added, domains)
    out = output_of(adata, copy)
    n_changed = int((refined != labels.codes).sum())
    entry = dict(out.uns.get(key_added, {})) if key_added == domain_key else {}
    if "method" in entry.get("params", {}):  # a clustering's params, now of refined domains (in cluster's own words)
        params = {"refine": True, "refined_over": connectivity_key, "n_changed": n_changed}
        params["n_found"] = len(np.unique(refined))  # a domain the vote emptied is found no more
    else:
        params = {"domain_key": domain_key, "connectivity_key": connectivity_key, "n_changed": n_changed}
    entry["params"] = {**entry.get("params", {}), **params}
    out.obs[key_added] = domains
    out.uns[key_added] = entry
    return out if copy else None


def vote_graph(adata: AnnData, connectivity_key: str) -> tuple[sp.csr_matrix, str]:
    """Return the graph a default vote runs over, and its ``obsp`` key (which, as ``connectivity_key``, names it again).

    At cell resolution each cell's neighbourhood (``obsp['semst_neighbourhood']``, written by
    :func:`~semst_sc.pp.prepare` at cell resolution only), otherwise the graph of ``connectivity_key``.
    """
    if C.NEIGHBOURHOOD_KEY in adata.obsp:
        return as_csr(adata.obsp[C.NEIGHBOURHOOD_KEY]), C.NEIGHBOURHOOD_KEY
    return require_graph(adata, connectivity_key, "sst.pp.spatial_graph(adata)", spatial=True), obsp_key(
        adata, connectivity_key
    )


def majority_vote(labels: np.ndarray, graph: sp.spmatrix) -> np.ndarray:
    """Relabel each spot with the label of more than half of its neighbours in ``graph``, when there is one.

    Parameters
    ----------
    labels
        Integer labels ``0..K-1``.
    graph
        Sparse n x n adjacency: each entry of non-zero weight is one vote (a stored zero, such as an empty cell's
        weight in a pooled neighbourhood, is none).

    Returns
    -------
    The refined integer labels.
    """
    n, k = len(labels), int(labels.max()) + 1
    onehot = sp.csr_matrix((np.ones(n), (np.arange(n), labels)), shape=(n, k))
    adjacency = sp.csr_matrix(graph, copy=True)
    adjacency.eliminate_zeros()  # as nn.gcn_adjacency reads it: a stored zero is no edge
    adjacency.data[:] = 1
    votes = adjacency @ onehot  # sparse: at most min(degree, K) labels per spot, at millions of cells too
    majority = np.asarray(votes.argmax(axis=1)).ravel()
    switch = votes.max(axis=1).toarray().ravel() > np.asarray(adjacency.sum(axis=1)).ravel() / 2
    return np.where(switch, majority, labels)
