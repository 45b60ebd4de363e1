"""Simple baselines: PCA of the log-normalised counts, then a GMM or Leiden; and semst_sc without its network.

Each baseline is ``function(adata, genes, k, rng)`` with the raw counts in ``adata.X`` and returns
one label per spot (the signature the method registry, :mod:`harness.methods`, expects).
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import scanpy as sc
import scipy.sparse as sp
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import NearestNeighbors

import semst_sc as sst


def log_pca(adata: ad.AnnData, genes: np.ndarray, rng: int, n_comps: int = 30) -> np.ndarray:
    """Log-normalised counts of ``genes`` -> PCA."""
    base = ad.AnnData(adata.X[:, genes].copy())
    sc.pp.normalize_total(base)
    sc.pp.log1p(base)
    sc.pp.pca(base, n_comps=n_comps, random_state=rng)
    return base.obsm["X_pca"]


def pca_gmm(adata: ad.AnnData, genes: np.ndarray, k: int, rng: int) -> np.ndarray:
    """Non-spatial baseline: PCA + tied-covariance GMM."""
    return GaussianMixture(k, covariance_type="tied", n_init=5, random_state=rng).fit_predict(
        log_pca(adata, genes, rng)
    )


def smoothed_pcs(adata: ad.AnnData, genes: np.ndarray, rng: int, n_neighbors: int = 6) -> np.ndarray:
    """Each spot's PCs averaged with those of its nearest spatial neighbours (within its section, when
    ``obs['library_id']`` tells several apart; the PCA is joint)."""
    pcs = log_pca(adata, genes, rng)
    sections = adata.obs["library_id"].to_numpy() if "library_id" in adata.obs else np.zeros(adata.n_obs)
    smoothed = np.empty_like(pcs)
    for section in np.unique(sections):
        rows = np.flatnonzero(sections == section)
        _, idx = NearestNeighbors(n_neighbors=n_neighbors + 1).fit(adata.obsm["spatial"][rows]).kneighbors()
        smoothed[rows] = pcs[rows][idx].mean(axis=1)
    return smoothed


def hop_pcs(adata: ad.AnnData, genes: np.ndarray, rng: int, n_neighbors: int = 6, n_hops: int = 3) -> np.ndarray:
    """Each spot's PCs beside their averages over 1 to ``n_hops`` steps of its nearest spatial neighbours (within
    its section; the PCA is joint): CellCharter's neighbourhood aggregation, on log-normalised PCs instead of scVI."""
    pcs = log_pca(adata, genes, rng)
    sections = adata.obs["library_id"].to_numpy() if "library_id" in adata.obs else np.zeros(adata.n_obs)
    hops = np.empty((adata.n_obs, pcs.shape[1] * (n_hops + 1)))
    for section in np.unique(sections):
        rows = np.flatnonzero(sections == section)
        _, idx = NearestNeighbors(n_neighbors=n_neighbors).fit(adata.obsm["spatial"][rows]).kneighbors()
        step = sp.csr_matrix(
            (np.full(idx.size, 1 / n_neighbors), idx.ravel(), np.arange(0, idx.size + 1, n_neighbors)),
            shape=(len(rows), len(rows)),
        )
        blocks = [pcs[rows]]
        for _ in range(n_hops):
            blocks.append(step @ blocks[-1])
        hops[rows] = np.hstack(blocks)
    return hops


def pca_hops_gmm(adata: ad.AnnData, genes: np.ndarray, k: int, rng: int) -> np.ndarray:
    """Spatial baseline: PCs beside their 1- to 3-step neighbourhood averages (:func:`hop_pcs`), clustered by the
    shared back-end (``sst.tl.cluster``: 20 PCs, tied GMM), as the peers' embeddings are in their ``+gmm`` rows."""
    base = ad.AnnData(np.zeros((adata.n_obs, 1), np.float32), obsm={"X_hops": hop_pcs(adata, genes, rng)})
    sst.tl.cluster(base, k, use_rep="X_hops", rng=rng)
    return base.obs["semst_domain"].to_numpy()


def pca_smooth_gmm(adata: ad.AnnData, genes: np.ndarray, k: int, rng: int) -> np.ndarray:
    """Spatial baseline: neighbour-averaged PCs (:func:`smoothed_pcs`), then a tied GMM."""
    return GaussianMixture(k, covariance_type="tied", n_init=5, random_state=rng).fit_predict(
        smoothed_pcs(adata, genes, rng)
    )


def pooled_pca_gmm(adata: ad.AnnData, genes: np.ndarray, k: int, rng: int) -> np.ndarray:
    """semst_sc without its network: its input (``sst.pp.prepare``: at cell resolution each cell's pooled
    neighbourhood), a PCA of that input, and its clustering (``sst.tl.cluster``: tied GMM, the neighbourhood vote at
    cell resolution, and there the extra domain merged back over the spatial graph). What the graph networks,
    semantics and losses add is the difference to ``semst``."""
    sections = [key for key in ("library_id",) if key in adata.obs]  # several sections: pooled within each
    data = ad.AnnData(adata.X[:, genes].copy(), obs=adata.obs[sections].copy(), obsm={"spatial": adata.obsm["spatial"]})
    sst.pp.prepare(data, library_key=sections[0] if sections else None)
    sst.pp.spatial_graph(data, library_key=sections[0] if sections else None)
    n_comps = min(30, int(data.var["semst_modelled"].sum()) - 1)
    sc.pp.pca(
        data, n_comps, layer="semst_scaled", mask_var="semst_modelled", key_added="X_pooled_pca", random_state=rng
    )
    sst.tl.cluster(data, k, use_rep="X_pooled_pca", rng=rng)
    return data.obs["semst_domain"].to_numpy()


def pca_leiden(adata: ad.AnnData, genes: np.ndarray, k: int, rng: int) -> np.ndarray:
    """Non-spatial graph baseline: PCA -> scanpy kNN graph -> Leiden, its resolution searched to give ``k`` clusters."""
    pcs = log_pca(adata, genes, rng)
    base = ad.AnnData(np.zeros((len(pcs), 1), np.float32), obsm={"X_pca": pcs})
    sst.tl.cluster(base, k, method="leiden", use_rep="X_pca", rng=rng)
    return base.obs["semst_domain"].to_numpy()
