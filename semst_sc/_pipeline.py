from __future__ import annotations

from typing import Any, Literal

from anndata import AnnData

from . import _constants as C
from . import pp, tl

#: the layers run_pipeline computes on the way and drops from its result unless keep_intermediates=True
INTERMEDIATE_LAYERS = (C.SCALED_LAYER,)

#: settings of each step that differ from the documented defaults, per preset
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "default": {},
    # the reference code's hyper-parameters (METHOD.md sections 1-5), for comparison
    "paper": {
        "prepare": {"min_cells": 100},
        "spatial_graph": {"n_neighbors": 60},
        "feature_graph": {"n_neighbors": 14},
        "gene_semantics": {"mode": "symbols", "top_k": 10},
        "semst": {"n_epochs": 100, "train_kwargs": {"recon_batch_size": None, "pair_batch_size": None}},
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
    encoder: str = "dual",
    refine: bool = False,
    keep_intermediates: bool = False,
    rng: int = 0,
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
        Spot encoder of :func:`semst_sc.tl.semst`, a name in :data:`semst_sc.nn.ENCODERS`: SemST's ``"dual"``
        GCN or the GraphST-style ``"contrastive"`` one (both with the FSM when ``semantics=True``).
    refine
        Spatial majority-vote refinement of the domains.
    keep_intermediates
        Keep the encoder input ``layers['semst_scaled']`` (sparse) in the result, as needed to train again with
        :func:`semst_sc.tl.semst`. By default it is dropped, which keeps a written ``.h5ad`` light.
    rng
        Seed used by every step.
    copy
        Work on a copy and return it.

    Returns
    -------
    ``None``, or a copy when ``copy=True``. Writes the domains in ``obs['semst_domain']``, the embeddings
    ``obsm['X_semst']`` and ``obsm['X_semantic']``, the graphs in ``obsp``, each step's ``uns[...]['params']``
    (and ``uns['semst']['loss_history']``) and the modelled genes in ``var['semst_modelled']``; with
    ``keep_intermediates=True`` also ``layers['semst_scaled']``. ``X``, the raw counts and every key the input
    already had are left as they were (only semst_sc's own keys, and the spatial graph when
    ``spatial_neighbors`` asks for a new one, are replaced).
    """
    if n_clusters is not None and not 1 <= n_clusters <= adata.n_obs:  # fail before the expensive steps
        raise ValueError(f"n_clusters must be between 1 and the number of spots ({adata.n_obs}), got {n_clusters}")
    from .nn import get_encoder

    get_encoder(encoder)  # an unknown name fails here, not after the semantic step
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
    before = _snapshot(work)
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
        **steps.get("semst", {}),
    )
    tl.cluster(work, n_clusters, refine=refine, rng=rng, **steps.get("cluster", {}))
    if not keep_intermediates:
        for key in INTERMEDIATE_LAYERS:
            del work.layers[key]
    if copy:
        return work
    _write_back(adata, work, before)
    return None


_MAPPINGS = ("layers", "obsm", "obsp", "uns")


def _snapshot(adata: AnnData) -> dict[str, dict[str, Any]]:
    """Return the objects under every key of ``adata``'s mappings, to tell later which keys the steps (re)wrote."""
    return {name: dict(getattr(adata, name).items()) for name in _MAPPINGS}


def _write_back(target: AnnData, source: AnnData, before: dict[str, dict[str, Any]]) -> None:
    """Copy into ``target`` what the pipeline wrote in ``source`` (a copy of it, as it was at ``before``).

    Only keys the steps wrote are copied: the user's own objects stay in place. A key of ``before`` that
    ``source`` no longer has (an intermediate layer) is removed from ``target``.
    """
    for name in ("obs", "var"):
        frame = getattr(target, name)
        for column, values in getattr(source, name).items():
            if column not in frame or not frame[column].equals(values):
                frame[column] = values
    for name in _MAPPINGS:
        mapping, old = getattr(target, name), before[name]
        for key, value in getattr(source, name).items():
            if old.get(key) is not value:
                mapping[key] = value
        for key in old.keys() - getattr(source, name).keys():
            del mapping[key]
