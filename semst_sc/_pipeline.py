from __future__ import annotations

from typing import Any

from anndata import AnnData

from . import pp, tl


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
    n_epochs: int | None = None,
    method: str = "gmm",
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
    n_epochs
        Training epochs (``None``: the default of :func:`semst_sc.tl.semst`).
    method
        Clustering method.
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
    work = adata.copy()  # compute on a copy: a failure half-way leaves the input untouched
    pp.prepare(work, n_top_genes=n_top_genes, layer=layer)
    pp.spatial_graph(work, n_neighbors=spatial_neighbors)
    pp.feature_graph(work, rng=rng)
    if semantics:
        pp.gene_semantics(work, model=model, gene_symbols=gene_symbols, device=device, progress=progress)
    kwargs = {} if n_epochs is None else {"n_epochs": n_epochs}
    tl.semst(
        work, semantic_key="X_semantic" if semantics else None, rng=rng, device=device, progress=progress, **kwargs
    )
    tl.cluster(work, n_clusters, method=method, refine=refine, rng=rng)
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
