from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from anndata import AnnData
from scanpy import logging as logg

from . import _constants as C
from . import pp, tl
from ._gene_text_path import check_gene_text_path
from ._sections import section_indices, smallest_section
from ._spatialdata import check_regions_apart, element_coordinates, get_table, is_spatialdata, with_table
from ._utils import (
    check_adata,
    check_integer,
    check_one_frame,
    domain_annotations,
    get_matrix,
    get_spatial,
    view_to_actual,
    warn_of_other_domains,
)
from .pp._feature_graph import DEFAULT_N_NEIGHBORS as FEATURE_NEIGHBORS
from .pp._gene_semantics import _resolve_symbols
from .pp._resolution import Pooling, check_pooling
from .pp._spatial_graph import DEFAULT_N_NEIGHBORS as SPATIAL_NEIGHBORS
from .tl._cluster import edge_coherence

if TYPE_CHECKING:
    from spatialdata import SpatialData

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
        "semst": {
            "n_epochs": 100,
            "train_kwargs": {"recon_batch_size": None, "pair_batch_size": None, "average_from": None},
        },
        "cluster": {"method": "kmeans", "n_pcs": None},
    },
}


def run_pipeline(
    adata: AnnData | SpatialData,
    n_clusters: int | None = None,
    *,
    layer: str | None = None,
    gene_symbols: str | None = None,
    n_top_genes: int = 3000,
    resolution: Literal["auto", "spot", "cell"] = "auto",
    neighbourhood_size: int | None = None,
    neighbourhood_pooling: Pooling = C.DEFAULT_POOLING,
    spatial_neighbors: int | None = None,
    library_key: str | None = None,
    model: Any = None,
    semantics: bool = True,
    semantic_mode: Literal["genes", "symbols"] | None = None,
    gene_text: Any = None,
    n_epochs: int | None = None,
    train_kwargs: dict[str, Any] | None = None,
    encoder_kwargs: dict[str, Any] | None = None,
    method: str | None = None,
    preset: Literal["default", "paper"] = "default",
    encoder: str = "auto",
    refine: bool | None = None,
    merge_extra: bool | None = None,
    n_init: int = 1,
    keep_intermediates: bool = False,
    rng: int = 0,
    table_key: str = C.TABLE_KEY,
    copy: bool = False,
) -> AnnData | SpatialData | None:
    """Run the documented default SemST pipeline: prepare, graphs, semantics, model, clustering.

    Parameters
    ----------
    adata
        Spots x genes with raw counts and ``obsm['spatial']``; or a :class:`spatialdata.SpatialData` (Xenium, CosMx,
        Visium HD read with spatialdata-io), whose table ``table_key`` is the data and receives the results. When that
        table has no ``obsm['spatial']``, the coordinates are the centroids (:func:`spatialdata.get_centroids`, in
        the ``'global'`` coordinate system or the element's only one) of the shapes, points or labels it annotates
        (``uns['spatialdata_attrs']``), written to its ``obsm['spatial']`` with the results.
    n_clusters
        Number of domains (``None``: estimated, see :func:`semst_sc.tl.cluster`).
    layer
        Layer with the raw counts (``None``: ``X``, or ``layers['counts']`` when ``X`` holds none; see
        :func:`semst_sc.pp.prepare`).
    gene_symbols
        ``var`` column with gene symbols, when ``var_names`` are not symbols.
    n_top_genes
        Genes modelled.
    resolution
        ``"spot"`` (multi-cell spots), ``"cell"`` (single cells or sub-cellular bins: each is modelled with its
        neighbourhood) or ``"auto"`` (detected from the lattice and the counts); see :func:`semst_sc.pp.prepare`.
    neighbourhood_size
        Observations pooled per neighbourhood at cell resolution, itself included (``None``: 20).
    neighbourhood_pooling
        At cell resolution, ``"capped"`` (the default): each pooled observation's counts capped at the median counts
        per observation; ``"counts"``: summed as they are; ``"cells"``: each brought to the median counts (every cell
        weighs the same); see :func:`semst_sc.pp.prepare`.
    spatial_neighbors
        Neighbours per spot of the spatial graph (``None``: the default of
        :func:`semst_sc.pp.spatial_graph`, or a graph already in ``obsp``).
    library_key
        ``obs`` column telling several sections apart (e.g. ``'library_id'``, as :func:`semst_sc.concat_sections`
        writes it): one model and one clustering over all sections, so that a domain has the same name in each;
        genes, spatial graphs and scaling are handled per section (see :func:`semst_sc.pp.prepare`). ``None``: one
        section.
    model
        Text encoder for the semantic step (``None``: the bundled offline model).
    semantics
        Use the semantic modulation (FSM); ``False`` trains without it.
    semantic_mode
        ``mode`` of :func:`semst_sc.pp.gene_semantics` (``None``: the preset's, ``"genes"`` by default).
    gene_text
        Gene descriptions for the semantic step (``"human"``, ``"mouse"``, a table, a table's path or a folder of
        the NCBI files; see :func:`semst_sc.pp.gene_semantics`); ``None`` reads bare symbols.
    n_epochs
        Training epochs (``None``: the default of :func:`semst_sc.tl.semst`).
    train_kwargs
        Training settings of :func:`semst_sc.tl.semst` (e.g. ``{"average_from": 0.5}``), over the preset's.
    encoder_kwargs
        Settings of the encoder (:func:`semst_sc.tl.semst`), e.g. ``{"spatial_weight": 0}`` for ``"dual"``; with
        ``encoder="auto"`` they ask for ``"dual"``.
    method
        Clustering method of :func:`semst_sc.tl.cluster` (``None``: the preset's, ``"gmm"`` by default; ``"mclust"``
        needs the optional ``pip install semst_sc[mclust]``).
    preset
        ``"default"``: the documented semst_sc defaults. ``"paper"``: the SemST reference
        hyper-parameters (genes seen in >= 100 spots, 60 spatial neighbours, the per-spot symbol
        prompt, full-batch losses, k-means on the embedding) for comparison; the ZINB still fits the
        raw counts and no epoch is picked on labels.
    encoder
        Spot encoder of :func:`semst_sc.tl.semst`, a name in :data:`semst_sc.nn.ENCODERS`: SemST's ``"dual"``
        GCN or the GraphST-style ``"contrastive"`` one (both with the FSM when ``semantics=True``); ``"auto"``:
        ``"contrastive"`` for several sections (``library_key``) at spot resolution, ``"dual"`` otherwise.
    refine
        Majority-vote refinement of the domains (:func:`semst_sc.tl.cluster`): over each cell's neighbourhood at
        cell resolution, over the spatial neighbours at spot resolution. ``None``: at cell resolution only.
    merge_extra
        Also cluster into one domain more and merge back the pair most intertwined in space and alike in expression,
        keeping the more spatially coherent of the two partitions (:func:`semst_sc.tl.cluster`). ``None``: at cell
        resolution only.
    n_init
        Trainings of the model, each clustered; the one whose domains are the most spatially coherent is kept (the
        largest share of the spatial graph's edge weight inside one domain; with ``n_clusters=None`` the first
        training's estimate is kept for the others). The seeds and each training's coherence are recorded in
        ``uns['semst']['params']``. Three instead of one gained nothing on average at cell resolution (docs/results.md).
    keep_intermediates
        Keep the encoder input ``layers['semst_scaled']`` (sparse) in the result, as needed to train again with
        :func:`semst_sc.tl.semst`. By default it is dropped, which keeps a written ``.h5ad`` light.
    rng
        Seed used by every step (a non-negative integer); further trainings (``n_init``) spawn theirs from it.
    table_key
        The table of a SpatialData ``adata`` (``sdata.tables[table_key]``; spatialdata-io names it ``'table'``).
        Ignored for an AnnData.
    copy
        Work on a copy and return it. For a SpatialData: a new SpatialData holding the result table under
        ``table_key`` and sharing every other element (images, shapes, points, other tables) with the input, uncopied,
        as :meth:`spatialdata.SpatialData.subset` does; the input and its table are left untouched.

    Returns
    -------
    ``None``, or a copy when ``copy=True`` (a SpatialData for a SpatialData). Writes the domains in
    ``obs['semst_domain']``, the embeddings ``obsm['X_semst']`` and (with ``semantics``) ``obsm['X_semantic']``, the
    graphs in ``obsp``, each step's ``uns[...]['params']`` (and ``uns['semst']['loss_history']``) and the modelled genes
    in ``var['semst_modelled']``; with ``keep_intermediates=True`` also ``layers['semst_scaled']``; for a SpatialData
    table without coordinates, ``obsm['spatial']``. ``X``, the raw counts and every key the input already had are left
    as they were (only semst_sc's own keys, and the spatial graph when ``spatial_neighbors`` asks for a new one, are
    replaced). A SpatialData's table is updated in memory; to save it into the .zarr store it was read from:
    ``sdata.delete_element_from_disk(table_key); sdata.write_element(table_key)`` (or ``sdata.write(new_path)``).
    """
    # every argument and the data are checked here, before the first expensive step; nothing is written on failure
    sdata = None
    if is_spatialdata(adata):
        sdata, adata = adata, get_table(adata, table_key)  # the results go in place into this table
        if copy:
            with_table(sdata, table_key, adata)  # the new SpatialData validates its tables: fail now, not at the end
    check_adata(adata)  # an AnnData, with spots and genes, unique spot names
    for name, value in (
        ("n_clusters", n_clusters),
        ("n_epochs", n_epochs),
        ("spatial_neighbors", spatial_neighbors),
        ("neighbourhood_size", neighbourhood_size),
    ):
        check_integer(value, name, optional=True)
    check_integer(n_init, "n_init")
    check_integer(rng, "rng", minimum=0)
    if n_clusters is not None and n_clusters > adata.n_obs:
        raise ValueError(f"n_clusters must be between 1 and the number of spots ({adata.n_obs}), got {n_clusters}")
    from .nn import get_encoder

    # an unknown encoder or setting, or a bad value, fails here, not after the semantic step ("auto" with settings is
    # "dual"): a tiny model is built with the settings
    encoder_class = get_encoder("dual" if encoder == "auto" else encoder)
    tl._semst._check_encoder_kwargs(encoder_class, encoder_kwargs)
    if encoder_kwargs:
        encoder_class(2, 2, None, **encoder_kwargs)
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {preset!r}")
    if method is not None and method not in C.CLUSTER_METHODS:
        raise ValueError(f"method must be one of {', '.join(map(repr, C.CLUSTER_METHODS))}, got {method!r}")
    if resolution not in ("auto", "spot", "cell"):
        raise ValueError(f"resolution must be 'auto', 'spot' or 'cell', got {resolution!r}")
    check_pooling(neighbourhood_pooling)
    if semantic_mode is not None and semantic_mode not in ("genes", "symbols"):
        raise ValueError(f"semantic_mode must be 'genes' or 'symbols', got {semantic_mode!r}")
    get_matrix(adata, layer)  # a missing layer names the layers there are
    if gene_symbols is not None and gene_symbols not in adata.var:
        raise KeyError(
            f"var['{gene_symbols}'] not found: gene_symbols (CLI: --gene-symbols) names the var column with gene "
            f"symbols; var columns: {list(adata.var.columns)}"
        )
    if semantics:  # Ensembl IDs without a symbol column: now, not after the graphs are built
        try:
            _resolve_symbols(adata, gene_symbols, log=False)
        except ValueError as error:
            raise ValueError(
                f"{error}; or semantics=False (CLI: --no-semantics) to find domains without reading the genes as text"
            ) from None
    check_gene_text_path(
        gene_text, "gene_text", "'human', 'mouse', a TSV path, a folder of the NCBI files, a DataFrame or a dict"
    )
    steps = {name: dict(settings) for name, settings in PRESETS[preset].items()}
    if train_kwargs is not None:
        tl._semst._train_options(train_kwargs)  # not a dict, an unknown key or a bad value fails here
        semst_step = steps.setdefault("semst", {})
        semst_step["train_kwargs"] = {**semst_step.get("train_kwargs", {}), **train_kwargs}
        tl._semst._train_options(semst_step["train_kwargs"])  # with the preset's
    for step, key, value in (
        ("spatial_graph", "n_neighbors", spatial_neighbors),
        ("semst", "n_epochs", n_epochs),
        ("gene_semantics", "mode", semantic_mode),
        ("cluster", "method", method),
    ):
        if value is not None:  # an explicit argument wins over the preset
            steps.setdefault(step, {})[key] = value
    clustering = steps.get("cluster", {}).get("method", "gmm")
    if merge_extra and clustering != "gmm":
        chosen = f"method={clustering!r}" if method is not None else f"preset={preset!r} clusters with {clustering!r}"
        raise ValueError(
            f"merge_extra needs method='gmm' (its shared covariance is the metric; CLI: --method gmm), but {chosen}"
        )
    if clustering == "mclust":
        tl._cluster._import_mclust()  # the optional package, before the work
    coordinates = None  # a SpatialData table without obsm['spatial']: the centroids of the elements it annotates
    if sdata is not None and C.SPATIAL_KEY not in adata.obsm:
        coordinates = element_coordinates(sdata, adata, table_key, library_key)  # checked as get_spatial checks
    if sdata is not None:
        check_regions_apart(adata, coordinates, library_key)  # not two samples of spatialdata.concatenate overlaid
    k_feature = steps.get("feature_graph", {}).get("n_neighbors", FEATURE_NEIGHBORS)
    k_spatial = steps.get("spatial_graph", {}).get("n_neighbors")
    if k_spatial is not None or C.connectivities_key(C.SPATIAL_GRAPH_KEY) not in adata.obsp:
        if coordinates is None:
            get_spatial(adata)  # coordinates present, finite and spread out (a squidpy graph already there is kept)
            check_one_frame(adata, C.SPATIAL_KEY, library_key)  # not CosMx fields of view laid on each other
        k_spatial = SPATIAL_NEIGHBORS if k_spatial is None else k_spatial
    minimum = max(k_feature, k_spatial or 0) + 1
    groups = section_indices(adata, library_key)
    if groups is not None:
        share = int(np.ceil(k_feature / len(groups)))
        smallest, where = smallest_section(adata, library_key, groups)
        if smallest < max(share, k_spatial or 0) + 1:
            lower = " (or lower spatial_neighbors)" if (k_spatial or 0) >= share else ""
            raise ValueError(
                f"{where} has {smallest} spots, too few for the neighbour graphs "
                f"({max(share, k_spatial or 0)} neighbours per spot within a section): remove it{lower}"
            )
    if adata.n_obs < minimum:
        graphs = f"{k_feature} expression" + (f" and {k_spatial} spatial" if k_spatial else "")
        raise ValueError(
            f"the slide has {adata.n_obs} spots, too few for the neighbour graphs: SemST needs at least {minimum} "
            f"spots ({graphs} neighbours per spot)"
        )
    work = adata.copy()  # compute on a copy: a failure half-way leaves the input untouched
    before = _snapshot(work)
    if coordinates is not None:
        work.obsm[C.SPATIAL_KEY] = coordinates  # after the snapshot: written back with the results
    pp.prepare(
        work,
        n_top_genes=n_top_genes,
        layer=layer,
        resolution=resolution,
        neighbourhood_size=neighbourhood_size,
        neighbourhood_pooling=neighbourhood_pooling,
        library_key=library_key,
        **steps.get("prepare", {}),
    )
    pp.spatial_graph(work, library_key=library_key, **steps.get("spatial_graph", {}))
    pp.feature_graph(work, rng=rng, library_key=library_key, **steps.get("feature_graph", {}))
    if semantics:
        pp.gene_semantics(
            work,
            model=model,
            gene_text=gene_text,
            gene_symbols=gene_symbols,
            **steps.get("gene_semantics", {}),
        )
    semst_kwargs = {"encoder": encoder, "encoder_kwargs": encoder_kwargs, **steps.get("semst", {})}
    semst_kwargs["semantic_key"] = C.SEMANTIC_KEY if semantics else None
    cluster_kwargs = {"refine": refine, "merge_extra": merge_extra, **steps.get("cluster", {})}
    _train_and_cluster(work, n_init, n_clusters, rng, semst_kwargs, cluster_kwargs)
    if not keep_intermediates:
        for key in INTERMEDIATE_LAYERS:
            del work.layers[key]
    if copy:
        return work if sdata is None else with_table(sdata, table_key, work)
    view_to_actual(adata)  # a view (adata[mask]) becomes an actual AnnData: its parent is left untouched
    _write_back(adata, work, before)  # for a SpatialData, into the table object it holds
    return None


def _train_and_cluster(
    work: AnnData, n_init: int, n_clusters: int | None, rng: int, semst_kwargs: dict, cluster_kwargs: dict
) -> None:
    """Train the model ``n_init`` times, cluster each embedding, and keep in ``work`` the most coherent domains.

    Coherent: the largest share of the spatial graph's edge weight inside one domain. The first training's seed is
    ``rng``, the others' are spawned from it; an estimated number of domains is the first training's, kept for the
    others.
    """
    spawned = np.random.SeedSequence(int(rng)).spawn(n_init - 1)
    seeds = [int(rng), *(int(s.generate_state(1)[0]) for s in spawned)]
    graph = work.obsp[C.connectivities_key(C.SPATIAL_GRAPH_KEY)]
    outputs = (
        ("obsm", C.EMBEDDING_KEY),
        ("uns", C.uns_key(C.EMBEDDING_KEY)),
        ("obs", C.DOMAIN_KEY),
        ("uns", C.DOMAIN_KEY),
    )
    # the names an earlier tl.annotate_domains gave the domains: set aside while each training clusters (which would
    # warn of them each time), then judged once, against the domains kept
    named = {key: work.uns.pop(key) for key in domain_annotations(work, C.DOMAIN_KEY)}
    coherence: list[float] = []
    for i, seed in enumerate(seeds):  # each training overwrites the last; the best one's outputs are kept aside
        tl.semst(work, rng=seed, **semst_kwargs)
        tl.cluster(work, n_clusters, rng=rng, **cluster_kwargs)
        if n_clusters is None:
            n_clusters = work.uns[C.DOMAIN_KEY]["params"]["n_estimated"]
        coherence.append(edge_coherence(work.obs[C.DOMAIN_KEY].cat.codes.to_numpy(), graph))
        if coherence[-1] > max(coherence[:-1], default=-1.0):
            best, kept = {(where, key): getattr(work, where)[key] for where, key in outputs}, i
    for (where, key), value in best.items():
        getattr(work, where)[key] = value
    work.uns.update(named)
    warn_of_other_domains(work, C.DOMAIN_KEY)
    work.uns[C.uns_key(C.EMBEDDING_KEY)]["params"] |= {
        "n_init": n_init,
        "init_seeds": seeds,
        "init_coherence": coherence,
        "init_kept": kept,
    }
    if n_init > 1:
        logg.info(f"kept training {kept + 1} of {n_init}: domain coherence " + ", ".join(f"{c:.3f}" for c in coherence))


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
