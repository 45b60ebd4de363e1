from __future__ import annotations

import numpy as np
import scanpy as sc
import scipy.sparse as sp
from anndata import AnnData
from scanpy import logging as logg

from .. import _constants as C
from .._docs import doc_params
from .._utils import check_adata, check_counts, get_matrix


@doc_params
def prepare(
    adata: AnnData,
    *,
    n_top_genes: int = 3000,
    min_cells: int | None = None,
    layer: str | None = None,
    copy: bool = False,
) -> AnnData | None:
    """Select the modelled genes and build SemST's encoder input from raw counts.

    Genes seen in fewer than ``min_cells`` spots are left out, the ``n_top_genes`` most variable
    genes are chosen with scanpy's ``seurat_v3`` flavour on the counts (all kept genes when the
    panel is smaller), and each spot is scaled to 1e4 counts, each gene divided by its standard
    deviation (no centring) and clipped at 10.

    Parameters
    ----------
    adata
        Spots x genes, raw counts in ``X`` or in ``layer``.
    n_top_genes
        Number of highly variable genes to model.
    min_cells
        Minimum number of spots a gene must be detected in. ``None``: 1% of the spots (at least 3).
    layer
        Layer holding the raw counts; ``None`` reads ``X``. The counts are not copied: :func:`semst_sc.tl.semst`
        reads them there again, so keep them unchanged until then.
    copy
        {doc_copy}

    Returns
    -------
    ``None``, or a copy when ``copy=True``. Writes

    ``var['semst_modelled']``
        The modelled genes (boolean).
    ``layers['semst_scaled']``
        The scaled encoder input (sparse, float32, zero outside the modelled genes).
    ``uns['semst_prepare']['params']``
        The parameters used; ``layer`` names where the raw counts are (``None``: ``X``).

    ``X`` and every other key are left as they were: a user's ``layers['counts']`` or scanpy's
    ``var['highly_variable']`` are never written.
    """
    check_adata(adata)
    counts = get_matrix(adata, layer)
    check_counts(counts, "adata.X" if layer is None else f"layers['{layer}']")
    counts = sp.csr_matrix(counts, dtype=np.float32)
    if n_top_genes < 1:
        raise ValueError(f"n_top_genes must be positive, got {n_top_genes}")

    if min_cells is None:
        min_cells = max(3, int(np.ceil(0.01 * adata.n_obs)))
    detected = np.asarray((counts > 0).sum(axis=0)).ravel()
    kept = detected >= min_cells
    if not kept.any():
        raise ValueError(f"no gene is detected in at least min_cells={min_cells} spots: lower min_cells")

    n_hvg = min(n_top_genes, int(kept.sum()))
    hvg = kept.copy()
    if n_hvg < kept.sum():
        sub = AnnData(counts[:, kept])
        table = sc.pp.highly_variable_genes(sub, flavor="seurat_v3", n_top_genes=n_hvg, inplace=False)
        hvg[np.flatnonzero(kept)] = table["highly_variable"].to_numpy()
    logg.info(f"modelling {int(hvg.sum())} of {adata.n_vars} genes (detected in >= {min_cells} spots)")

    scaled = _scale(counts, hvg)

    n_empty = int((np.asarray(counts[:, hvg].sum(axis=1)).ravel() == 0).sum())
    if n_empty:
        logg.warning(
            f"{n_empty} spots have zero counts in the modelled genes: they keep an all-zero encoder input "
            "and are placed by their neighbours; remove them with sc.pp.filter_cells(adata, min_counts=1) if unwanted"
        )

    out = adata.copy() if copy else adata
    out.layers[C.SCALED_LAYER] = scaled
    out.var[C.MODELLED_KEY] = hvg
    out.uns[C.PREPARE_KEY] = {
        "params": {"n_top_genes": n_top_genes, "min_cells": min_cells, "layer": layer, "n_modelled": int(hvg.sum())}
    }
    return out if copy else None


def _scale(counts: sp.csr_matrix, genes: np.ndarray) -> sp.csr_matrix:
    """Scale spots to 1e4 counts, divide genes by their std (no centring), clip at 10; zero outside ``genes``."""
    sub = counts[:, genes]
    totals = np.asarray(sub.sum(axis=1)).ravel()
    factor = np.divide(1e4, totals, out=np.zeros_like(totals), where=totals > 0)
    sub = sp.diags(factor.astype(np.float32)) @ sub
    mean = np.asarray(sub.mean(axis=0)).ravel()
    sq = np.asarray(sub.multiply(sub).mean(axis=0)).ravel()
    std = np.sqrt(np.maximum(sq - mean**2, 0) * sub.shape[0] / max(sub.shape[0] - 1, 1))
    inv = np.divide(1.0, std, out=np.zeros_like(std), where=std > 0)
    sub = (sub @ sp.diags(inv.astype(np.float32))).tocsr()
    np.minimum(sub.data, 10, out=sub.data)
    expand = sp.csr_matrix(
        (np.ones(genes.sum(), np.float32), (np.arange(genes.sum()), np.flatnonzero(genes))),
        shape=(int(genes.sum()), counts.shape[1]),
    )
    out = (sub @ expand).tocsr()
    out.eliminate_zeros()
    return out.astype(np.float32)
