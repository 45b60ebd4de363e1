from __future__ import annotations

import warnings

import numpy as np
import scanpy as sc
import scipy.sparse as sp
from anndata import AnnData
from scanpy import logging as logg

from .. import _constants as C
from .._docs import doc_params
from .._sections import MIN_SHARED_GENES, block_diagonal, genes_lacking, section_indices, section_names
from .._utils import (
    as_csr,
    check_adata,
    check_counts,
    check_integer,
    check_one_frame,
    find_counts,
    get_spatial,
    is_control_probe,
    output_of,
    prepared_stamp,
)
from ._resolution import (
    DEFAULT_NEIGHBOURHOOD_SIZE,
    LATTICE_SHARE,
    SPOT_MIN_COUNTS,
    Pooling,
    Resolution,
    cell_weights,
    check_pooling,
    detect_resolution,
    neighbourhood,
)

#: the most variable genes are chosen among at least this many: scanpy's seurat_v3 fit of variance to mean fails on
#: fewer (on the simulated tissue: 'svddc failed' at 6 genes, 'near singularities' at 10, a crash at 3; fine from 15)
MIN_GENES_TO_SELECT = 50


@doc_params
def prepare(
    adata: AnnData,
    *,
    n_top_genes: int = 3000,
    min_cells: int | None = None,
    layer: str | None = None,
    resolution: Resolution = "auto",
    neighbourhood_size: int | None = None,
    neighbourhood_pooling: Pooling = C.DEFAULT_POOLING,
    spatial_key: str = C.SPATIAL_KEY,
    library_key: str | None = None,
    copy: bool = False,
) -> AnnData | None:
    """Select the modelled genes and build SemST's encoder input from raw counts.

    An instrument's control features among the genes (Xenium's ``NegControlProbe_*``, ``BLANK_*`` and other
    codewords, MERSCOPE's ``Blank-*``, CosMx's ``NegPrb*``, ``SystemControl*``) are left out, with a warning.
    Genes seen in fewer than ``min_cells`` spots are left out, the ``n_top_genes`` most variable
    genes are chosen with scanpy's ``seurat_v3`` flavour on the counts (all kept genes when the
    panel is smaller, holds fewer than :data:`MIN_GENES_TO_SELECT`, or the fit fails), and each spot is scaled to
    1e4 counts, each gene divided by its standard deviation (no centring) and clipped at 10.

    At cell resolution (single cells, or sub-cellular bins) a spot is replaced by its neighbourhood: the summed
    counts of its ``neighbourhood_size`` nearest observations, itself included, each observation's counts capped at
    the median counts per observation (``neighbourhood_pooling``). The encoder input, the semantic vectors and the
    ZINB target then all describe the mix of cells around each cell, so that the domains found are tissue
    neighbourhoods, not cell types.

    Several sections (``library_key``) are modelled together: only genes detected in every section are kept (a warning
    names the sections that lack some, and how many), the variable genes are chosen across sections (scanpy's
    ``batch_key``), the resolution is detected per section (they must agree), neighbourhoods never cross sections and
    cap counts at their own section's median, and each section's genes are divided by their standard deviation within
    that section, so that a section's overall depth or gene-wise efficiency does not become a domain. That scaled
    layer is the ``"dual"`` encoder's input; the ``"contrastive"`` encoder (:func:`~semst_sc.tl.semst`'s ``"auto"``
    for several sections at spot resolution) reads the counts instead, standardised over all sections together
    (:func:`semst_sc.nn.standardised_log`): a section's depth is taken out there too, its gene-wise efficiency not.

    Parameters
    ----------
    adata
        Spots x genes, raw counts in ``X`` or in ``layer``. Non-negative non-integer values (counts divided by cell
        volume, as some MERFISH releases hold them) are modelled as counts, with a warning; log-transformed values,
        values normalised to one total per spot and negative (scaled) values raise an error, unless ``layer`` is
        ``None`` and ``layers['counts']`` holds integer counts (scanpy's layout): those are then read, with a
        warning.
    n_top_genes
        Number of highly variable genes to model.
    min_cells
        Minimum number of spots a gene must be detected in. ``None``: 1% of the spots (at least 3).
    layer
        Layer holding the raw counts; ``None`` reads ``X`` (or ``layers['counts']``, as above). The counts are not
        copied: :func:`semst_sc.tl.semst` reads them there again, so keep them unchanged until then.
    resolution
        ``"spot"`` (multi-cell spots: Visium, ST), ``"cell"`` (single cells or bins: Xenium, CosMx, MERFISH,
        Visium HD) or ``"auto"``: ``"spot"`` when the observations sit on a regular lattice and hold a median of at
        least 500 counts, ``"cell"`` otherwise (without coordinates: ``"spot"``). The rule and its evidence are
        recorded in ``uns['semst_prepare']['params']``.
    neighbourhood_size
        Observations pooled per neighbourhood at cell resolution, itself included (``None``: 20); in a section with
        fewer, all of its observations (with a warning).
    neighbourhood_pooling
        At cell resolution, how the pooled counts are summed: ``"capped"`` (the default), each observation's counts
        capped at the median counts per observation (one with more is brought down to the median, one with fewer
        kept as it is: no cell outweighs a typical one, and a nearly empty one is not inflated); ``"counts"``, as
        they are (cells with more RNA weigh more); or ``"cells"``, each brought to the median (the neighbourhood's
        make-up by cells, as BANKSY). Measured in ``docs/method.md``.
    spatial_key
        Key of the coordinates in ``obsm`` (read to detect the resolution and build the neighbourhoods).
    library_key
        {doc_library_key}
    copy
        {doc_copy}

    Returns
    -------
    ``None``, or a copy when ``copy=True``. Writes

    ``var['semst_modelled']``
        The modelled genes (boolean).
    ``layers['semst_scaled']``
        The scaled encoder input (sparse, float32, zero outside the modelled genes).
    ``obsp['semst_neighbourhood']``
        At cell resolution: the neighbourhoods (row i holds the weights of the observations pooled for i: each one's
        median counts over its counts with ``"cells"``, that ratio capped at 1 with ``"capped"``, 1 with ``"counts"``).
    ``uns['semst_prepare']['params']``
        The parameters used (at cell resolution ``neighbourhood_size`` and ``neighbourhood_pooling`` too);
        ``layer`` names where the raw counts are (``None``: ``X``), ``integer_counts`` whether they were integers,
        ``n_modelled`` the number of genes modelled, ``n_control_probes`` the number of control features left out,
        ``stamp`` a fingerprint of the output (the expression graph and the semantic vectors record it, and
        :func:`~semst_sc.tl.semst` refuses those of an earlier run);
        ``resolution`` the resolution used (``resolution_requested`` the one asked), with the detection evidence
        (``lattice_share``, ``median_counts``) under ``auto``; with ``library_key``, ``sections``: the section names,
        in the order of the evidence's values (one per section).

    ``X`` and every other key are left as they were: a user's ``layers['counts']`` or scanpy's
    ``var['highly_variable']`` are never written (at spot resolution, an ``obsp['semst_neighbourhood']`` of an earlier
    run at cell resolution is removed).
    """
    check_adata(adata)
    check_integer(n_top_genes, "n_top_genes")
    check_integer(min_cells, "min_cells", minimum=0, optional=True)
    layer, counts, integer_counts = find_counts(adata, layer)
    where = "adata.X" if layer is None else f"layers['{layer}']"
    counts = as_csr(counts, np.float32)
    if resolution not in ("auto", "spot", "cell"):
        raise ValueError(f"resolution must be 'auto', 'spot' or 'cell', got {resolution!r}")
    check_integer(neighbourhood_size, "neighbourhood_size", optional=True)
    size = DEFAULT_NEIGHBOURHOOD_SIZE if neighbourhood_size is None else neighbourhood_size
    check_pooling(neighbourhood_pooling)
    groups = section_indices(adata, library_key)
    if groups is not None and not integer_counts:  # one section of other values (log-normalised, say) among counts
        for name, index in zip(section_names(adata, library_key), groups, strict=True):
            check_counts(counts[index], f"section {name!r} of {where}")
    if spatial_key in adata.obsm:
        check_one_frame(adata, spatial_key, library_key)
    sections = groups or [np.arange(adata.n_obs)]
    # an instrument's control features among the genes (squidpy's readers keep them): not counts of the cell
    controls = np.array([is_control_probe(name) for name in adata.var_names], dtype=bool)
    totals = np.asarray((counts[:, np.flatnonzero(~controls)] if controls.any() else counts).sum(axis=1)).ravel()
    labels = None if groups is None else section_names(adata, library_key)
    resolved, evidence = _resolve(adata, totals, resolution, spatial_key, sections, labels, library_key)
    pool = None
    if resolved == "cell":
        names = ["the slide"] if groups is None else section_names(adata, library_key)
        whole = [str(name) for name, index in zip(names, sections, strict=True) if len(index) <= size]
        if whole:
            pooled = f"section(s) {whole} of obs['{library_key}']" if groups is not None else "the slide"
            logg.warning(
                f"neighbourhood_size={size} pools every observation of {pooled}: all of its cells get the same input "
                "and fall in one domain; lower neighbourhood_size"
            )
        coords = get_spatial(adata, spatial_key)
        blocks = [neighbourhood(coords[index], min(size, len(index))) for index in sections]
        pool = blocks[0] if groups is None else block_diagonal(blocks, sections, adata.n_obs)
        # each pooled cell weighted as neighbourhood_pooling says, against its own section's median; in place
        weights = np.empty(adata.n_obs, np.float32)
        for index in sections:
            weights[index] = cell_weights(totals[index], neighbourhood_pooling)
        pool.data *= weights[pool.indices]

    if min_cells is None:
        min_cells = max(3, int(np.ceil(0.01 * adata.n_obs)))
    detected = np.asarray((counts > 0).sum(axis=0)).ravel()
    kept = detected >= min_cells
    if not detected.any():
        raise ValueError(
            "the counts are all zero: pass layer= with the raw counts (CLI: --layer), or check how the matrix was read"
        )
    if controls.any():
        names = ", ".join(adata.var_names[controls][:3]) + (", ..." if controls.sum() > 3 else "")
        logg.warning(
            f"{int(controls.sum())} control probes or blank codewords among the genes ({names}) are not modelled: "
            "they measure background, not expression"
        )
        kept &= ~controls
    if controls.all():
        raise ValueError(
            f"every one of the {adata.n_vars} features is a control probe or blank codeword: no gene to model (were "
            "the genes read? check the reader or the var_names)"
        )
    if not kept.any():
        raise ValueError(f"no gene is detected in at least min_cells={min_cells} spots: lower min_cells")
    if groups is not None:
        seen = [np.asarray((counts[index] > 0).sum(axis=0)).ravel() > 0 for index in groups]
        everywhere = np.logical_and.reduce(seen)
        if (kept & ~everywhere).any():  # one small or shallow section costs every section these genes
            lacking = genes_lacking({name: found[kept] for name, found in zip(labels, seen, strict=True)})
            logg.warning(
                f"leaving out {int((kept & ~everywhere).sum())} genes in every section, as some sections of "
                f"obs['{library_key}'] do not detect them (genes each lacks: {lacking}): remove a small or shallow "
                "section to keep them for the others"
            )
        kept &= everywhere
        if kept.sum() < MIN_SHARED_GENES:
            raise ValueError(
                f"only {int(kept.sum())} genes are detected in every section of obs['{library_key}'] (at least "
                f"{MIN_SHARED_GENES} are needed): check that the sections measure the same genes under the same names"
            )

    n_hvg = min(n_top_genes, int(kept.sum()))
    hvg = kept.copy()
    if n_hvg < kept.sum() < MIN_GENES_TO_SELECT:
        logg.warning(
            f"modelling all {int(kept.sum())} genes, not the n_top_genes={n_top_genes} most variable: among fewer than "
            f"{MIN_GENES_TO_SELECT} genes seurat_v3's fit of variance to mean is unreliable (it fails, or crashes)"
        )
    elif n_hvg < kept.sum():
        sub = AnnData(counts[:, kept])
        batch_key = None
        if groups is not None:
            batch_key = "section"
            sub.obs[batch_key] = adata.obs[library_key].astype(str).to_numpy()
        try:
            with warnings.catch_warnings():  # non-integer values: warned about below, once
                warnings.filterwarnings("ignore", message=".*seurat_v3.* expects raw count data")
                table = sc.pp.highly_variable_genes(
                    sub, flavor="seurat_v3", n_top_genes=n_hvg, batch_key=batch_key, inplace=False
                )
            hvg[np.flatnonzero(kept)] = table["highly_variable"].to_numpy()
        except ValueError as error:  # skmisc's loess, on genes of too few distinct means and variances
            logg.warning(
                f"modelling all {int(kept.sum())} genes, not the n_top_genes={n_top_genes} most variable: seurat_v3's "
                f"fit of variance to mean failed on these genes ({error!s}); they vary too little, or too many are "
                "copies of one another"
            )
    logg.info(f"modelling {int(hvg.sum())} of {adata.n_vars} genes (detected in >= {min_cells} spots)")

    modelled = counts[:, hvg] if pool is None else (pool @ counts[:, hvg]).tocsr()
    n_empty = int((np.asarray(modelled.sum(axis=1)).ravel() == 0).sum())
    modelled = sp.csr_matrix(modelled, dtype=np.float32)
    if groups is None:
        scaled = _scale(modelled, hvg)
    else:  # each section standardised on its own; rows put back in their order
        order = np.concatenate(groups)
        scaled = sp.vstack([_scale(modelled[index], hvg) for index in groups]).tocsr()[np.argsort(order)]
    if n_empty:
        logg.warning(
            f"{n_empty} spots have zero counts in the modelled genes: they keep an all-zero encoder input "
            "and are placed by their neighbours; remove them with sc.pp.filter_cells(adata, min_counts=1) if unwanted"
        )

    if not integer_counts:
        logg.warning(
            f"{where} holds non-integer values (counts divided by cell volume, as some MERFISH releases hold them): "
            "they are modelled as counts; pass the raw counts instead (layer=...) if you have them"
        )

    out = output_of(adata, copy)
    out.layers[C.SCALED_LAYER] = scaled
    out.var[C.MODELLED_KEY] = hvg
    if pool is not None:
        out.obsp[C.NEIGHBOURHOOD_KEY] = pool
    elif C.NEIGHBOURHOOD_KEY in out.obsp:  # from an earlier run at cell resolution
        del out.obsp[C.NEIGHBOURHOOD_KEY]
    params = {"n_top_genes": n_top_genes, "min_cells": min_cells, "layer": layer, "n_modelled": int(hvg.sum())}
    params["integer_counts"] = integer_counts
    params["n_control_probes"] = int(controls.sum())
    params["stamp"] = prepared_stamp(scaled, hvg)  # the steps built on this output record it
    params |= {"resolution": resolved, "resolution_requested": resolution, **evidence, "library_key": library_key or ""}
    if labels is not None:  # the sections, in the order of the per-section evidence
        params["sections"] = labels
    if pool is not None:
        params["neighbourhood_size"] = int(size)
        params["neighbourhood_pooling"] = neighbourhood_pooling
    out.uns[C.PREPARE_KEY] = {"params": params}
    return out if copy else None


def _resolve(
    adata: AnnData,
    totals: np.ndarray,
    resolution: str,
    spatial_key: str,
    sections,
    names: list[str] | None = None,
    library_key: str | None = None,
) -> tuple[str, dict]:
    """Return the resolution to use and, under ``"auto"``, the evidence of :func:`detect_resolution`.

    With several sections (``names``, of ``obs[library_key]``) each is judged on its own (a list of evidence per
    section); they must agree, and the error names each section's resolution and its evidence.
    """
    if resolution != "auto":
        return resolution, {}
    if spatial_key not in adata.obsm:
        logg.info(f"no obsm['{spatial_key}']: resolution 'spot' (the neighbourhoods of cell resolution need them)")
        return "spot", {}
    coords = get_spatial(adata, spatial_key)
    found = [detect_resolution(coords[index], totals[index]) for index in sections]
    kinds = {kind for kind, _ in found}
    if len(kinds) > 1:
        names = names or [str(i) for i in range(len(found))]
        each = "; ".join(
            f"{name!r}: {kind} ({e['lattice_share']:.0%} of nearest-neighbour distances on a lattice, median "
            f"{e['median_counts']:.0f} counts per observation)"
            for name, (kind, e) in zip(names, found, strict=True)
        )
        raise ValueError(
            f"the sections of obs['{library_key}'] differ in resolution, {each}. A spot sits on a lattice "
            f"(at least {LATTICE_SHARE:.0%} of the distances) and holds a median of at least {SPOT_MIN_COUNTS} "
            "counts, a cell does not: pass resolution='spot' or 'cell' (CLI: --resolution), or leave out the "
            "sections of the other kind"
        )
    resolved = kinds.pop()
    shares = [e["lattice_share"] for _, e in found]
    medians = [e["median_counts"] for _, e in found]
    each = "" if len(found) == 1 else " (the lowest of the sections)"
    logg.info(
        f"resolution {resolved!r}: {min(shares):.0%} of nearest-neighbour distances on a lattice, "
        f"median {min(medians):.0f} counts per observation{each}"
    )
    if len(found) == 1:
        return resolved, found[0][1]
    return resolved, {"lattice_share": shares, "median_counts": medians}


def _scale(sub: sp.csr_matrix, genes: np.ndarray) -> sp.csr_matrix:
    """Scale spots to 1e4 counts, divide genes by their std (no centring), clip at 10; zero outside ``genes``.

    ``sub`` (float32 CSR) holds the counts of the ``genes`` columns only and is scaled in place, so that no copy of
    a large matrix is made; the result, sharing its arrays, has every column.
    """
    totals = np.asarray(sub.sum(axis=1)).ravel()
    factor = np.divide(1e4, totals, out=np.zeros_like(totals), where=totals > 0)
    sub.data *= np.repeat(factor.astype(np.float32), np.diff(sub.indptr))
    mean = np.asarray(sub.mean(axis=0)).ravel()
    sq = np.asarray(sub.multiply(sub).mean(axis=0)).ravel()
    std = np.sqrt(np.maximum(sq - mean**2, 0) * sub.shape[0] / max(sub.shape[0] - 1, 1))
    inv = np.divide(1.0, std, out=np.zeros_like(std), where=std > 0)
    sub.data *= inv.astype(np.float32)[sub.indices]
    np.minimum(sub.data, 10, out=sub.data)
    out = sp.csr_matrix((sub.data, np.flatnonzero(genes)[sub.indices], sub.indptr), shape=(sub.shape[0], len(genes)))
    out.eliminate_zeros()
    return out
