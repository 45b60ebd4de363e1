"""The shared clustering back-ends: a peer's embedding clustered the way semst_sc clusters its own.

A peer whose runner writes its embedding (:func:`harness.peer_io.write_embedding`) is scored twice from one run:
with its own default clustering (its row ``<peer>``) and with each back-end its registry entry names (rows
``<peer>+<backend>``):

- ``gmm``: ``semst_sc.tl.cluster(adata, K, method="gmm", rng=seed)`` on the embedding, the back-end of semst_sc and
  of the PCA baselines: PCA to 20 components (when the embedding has more), then a Gaussian mixture with one
  shared (tied) covariance, 5 initialisations;
- ``gmm+refine``: the same, then GraphST's refinement (``GraphST.utils.refine_label(radius=50)``,
  :func:`refine_nearest`): each spot takes the most frequent label of its 50 nearest spots (itself excluded).

These run in the semst_sc environment (``run.py``), never in a peer's.
"""

from __future__ import annotations

from collections.abc import Mapping

import anndata as ad
import numpy as np
import pandas as pd
from sklearn.neighbors import NearestNeighbors

import semst_sc as sst

#: GraphST's ``refine_label`` default: the number of nearest spots that vote
REFINE_NEIGHBOURS = 50
BACKENDS = ("gmm", "gmm+refine")


def shared_gmm(embedding: pd.DataFrame, k: int, seed: int) -> pd.Series:
    """Cluster an embedding (spots x dimensions, indexed by spot) with semst_sc's back-end; labels by spot."""
    adata = ad.AnnData(
        np.zeros((len(embedding), 1), dtype=np.float32),
        obs=pd.DataFrame(index=embedding.index.astype(str)),
        obsm={"X_peer": embedding.to_numpy()},
    )
    sst.tl.cluster(adata, k, method="gmm", use_rep="X_peer", rng=seed)
    return pd.Series(adata.obs["semst_domain"].astype(str).to_numpy(), index=embedding.index, name="domain")


def refine_nearest(labels: np.ndarray, xy: np.ndarray, n_neighbours: int = REFINE_NEIGHBOURS) -> np.ndarray:
    """GraphST's ``refine_label``: each spot gets the most frequent label among its ``n_neighbours`` nearest spots.

    As GraphST, the spot itself does not vote and a tie goes to the tied label met first from the nearest spot
    outwards (its ``max(neigh_type, key=neigh_type.count)`` over the neighbours in distance order).
    """
    labels = np.asarray(labels)
    n = len(labels)
    if n < 2:
        return labels.copy()
    _, neighbours = NearestNeighbors(n_neighbors=min(n_neighbours, n - 1)).fit(xy).kneighbors()  # self excluded
    values, codes = np.unique(labels, return_inverse=True)
    voted = codes[neighbours]  # spots x neighbours, nearest first
    hits = voted[:, :, None] == np.arange(len(values))  # spots x neighbours x labels
    counts = hits.sum(axis=1)
    first = np.where(hits.any(axis=1), hits.argmax(axis=1), voted.shape[1])  # where each label is first met
    # among the labels with the most votes, the one met first
    tied = counts == counts.max(axis=1, keepdims=True)
    return values[np.where(tied, first, voted.shape[1] + 1).argmin(axis=1)]


def cluster_embedding(
    backend: str, embedding: pd.DataFrame, k: int, seed: int, positions: Mapping[str, pd.DataFrame]
) -> pd.Series:
    """Labels by spot of one back-end; ``positions``: per section, the ``x``/``y`` of its spots (refinement stays
    within a section)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown back-end {backend!r}; known: {BACKENDS}")
    labels = shared_gmm(embedding, k, seed)
    if backend == "gmm+refine":
        for xy in positions.values():
            spots = xy.index.intersection(labels.index)
            labels[spots] = refine_nearest(labels[spots].to_numpy(), xy.loc[spots, ["x", "y"]].to_numpy())
    return labels
