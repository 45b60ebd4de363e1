from __future__ import annotations

from typing import Any, Literal

from anndata import AnnData

from . import pp, tl

#: settings of each step that differ from the documented defaults, per preset
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "default": {},
    # the reference code's hyper-parameters (METHOD.md sections 1-5), for comparison
    "paper": {
        "prepare": {"min_cells": 100},
        "spatial_graph": {"n_neighbors": 60},
        "feature_graph": {"n_neighbors": 14},
        "gene_semantics": {"mode": "symbols", "top_k": 10},
        "semst": {"n_epochs": 100, "recon_batch_size": None, "pair_batch_size": None},
        "cluster": {"method": "kmeans", "n_pcs": None},
    },
}


def run_pipeline(
    adata: AnnData,
    n_clusters: int | None = None,
    *,
    layer: str | None = None,
    gene_symbols: str | None = None,
    n_top_genes: int = 3000,
    spatial_neighbors: int | None = None,
    model: Any = None,
    semantics: bool = True,
    semantic_mode: Literal["genes", "symbols"] | None = None,
    gene_text: Any = None,
    n_epochs: int | None = None,
    method: str | None = None,
    preset: Literal["default", "paper"] = "default",
    encoder: Literal["dual", "contrastive"] = "dual",
    refine: bool = False,
    rng: int = 0,
    device: str = "auto",
    progress: bool = True,
    copy: bool = False,
) -> AnnData | None:
    """Run the documented default SemST pipeline: prepare, graphs, semantics, model, clustering.

    Parameters
    ----------
    adata
        Spots x genes with raw counts and ``obsm['spatial']``.
    n_clusters
        Number of domains (``None``: estimated, see :func:`semst_sc.tl.cluster`).
    layer
        Layer with the raw counts (``None``: ``X``).
    gene_symbols
        ``var`` column with gene symbols, when ``var_names`` are not symbols.
    n_top_genes
        Genes modelled.
    spatial_neighbors
        Neighbours per spot of the spatial graph (``None``: the default of
        :func:`semst_sc.pp.spatial_graph`, or a graph already in ``obsp``).
    model
        Text encoder for the semantic step (``None``: the bundled offline model).
    semantics
        Use the semantic modulation (FSM); ``False`` trains without it.
    semantic_mode
        ``mode`` of :func:`semst_sc.pp.gene_semantics` (``None``: the preset's, ``"genes"`` by default).
    gene_text
        Gene descriptions for the semantic step (``"human"``, ``"mouse"``, a table or a path; see
        :func:`semst_sc.pp.gene_semantics`); ``None`` reads bare symbols.
    n_epochs
        Training epochs (``None``: the default of :func:`semst_sc.tl.semst`).
    method
        Clustering method (``None``: the preset's, ``"gmm"`` by default).
    preset
        ``"default"``: the documented semst_sc defaults. ``"paper"``: the SemST reference
        hyper-parameters (genes seen in >= 100 spots, 60 spatial neighbours, the per-spot symbol
        prompt, full-batch losses, k-means on the embedding) for comparison; the ZINB still fits the
        raw counts and no epoch is picked on labels.
    encoder
        Spot encoder of :func:`semst_sc.tl.semst`: SemST's ``"dual"`` GCN or the GraphST-style
        ``"contrastive"`` one (both with the FSM when ``semantics=True``).
    refine
        Spatial majority-vote refinement of the domains.
    rng
        Seed used by every step.
    device
        Torch device.
    progress
        Show progress bars.
    copy
        Work on a copy and return it.

    Returns
    -------
    ``None``, or a copy when ``copy=True``; writes every key of the steps it runs, the domains in
    ``obs['semst_domain']``.
    """
    if n_clusters is not None and not 1 <= n_clusters <= adata.n_obs:  # fail before the expensive steps
        raise ValueError(f"n_clusters must be between 1 and the number of spots ({adata.n_obs}), got {n_clusters}")
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {preset!r}")
    steps = {name: dict(settings) for name, settings in PRESETS[preset].items()}
    for step, key, value in (
        ("spatial_graph", "n_neighbors", spatial_neighbors),
        ("semst", "n_epochs", n_epochs),
        ("gene_semantics", "mode", semantic_mode),
        ("cluster", "method", method),
    ):
        if value is not None:  # an explicit argument wins over the preset
            steps.setdefault(step, {})[key] = value
    work = adata.copy()  # compute on a copy: a failure half-way leaves the input untouched
    pp.prepare(work, n_top_genes=n_top_genes, layer=layer, **steps.get("prepare", {}))
    pp.spatial_graph(work, **steps.get("spatial_graph", {}))
    pp.feature_graph(work, rng=rng, **steps.get("feature_graph", {}))
    if semantics:
        pp.gene_semantics(
            work,
            model=model,
            gene_text=gene_text,
            gene_symbols=gene_symbols,
            **steps.get("gene_semantics", {}),
        )
    tl.semst(
        work,
        encoder=encoder,
        semantic_key="X_semantic" if semantics else None,
        rng=rng,
        device=device,
        progress=progress,
        **steps.get("semst", {}),
    )
    tl.cluster(work, n_clusters, refine=refine, rng=rng, **steps.get("cluster", {}))
    if copy:
        return work
    _write_back(adata, work)
    return None


def _write_back(target: AnnData, source: AnnData) -> None:
    """Copy everything the pipeline wrote from ``source`` into ``target``."""
    for name in ("obs", "var"):
        for column in getattr(source, name).columns:
            getattr(target, name)[column] = getattr(source, name)[column]
    for name in ("layers", "obsm", "obsp", "uns"):
        for key, value in getattr(source, name).items():
            getattr(target, name)[key] = value
