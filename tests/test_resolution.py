"""Spot or cell resolution: detection, the override, and the neighbourhoods modelled at cell resolution."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.metrics import adjusted_rand_score
from sklearn.neighbors import NearestNeighbors

import semst_sc as sst
from semst_sc._utils import prepared_counts
from semst_sc.datasets import simulate_tissue
from semst_sc.pp._resolution import detect_resolution


@pytest.mark.parametrize(("platform", "expected"), [("visium", "spot"), ("xenium", "cell"), ("visium_hd", "cell")])
def test_platforms_are_classified(platform, expected):
    adata = simulate_tissue(20, 20, platform=platform, n_genes=80, rng=1)
    sst.pp.prepare(adata)
    params = adata.uns["semst_prepare"]["params"]
    assert params["resolution"] == expected
    assert params["resolution_requested"] == "auto"
    assert {"lattice_share", "median_counts"} <= set(params)
    assert ("semst_neighbourhood" in adata.obsp) == (expected == "cell")


def test_rule_needs_a_lattice_and_spot_counts():
    gen = np.random.default_rng(0)
    grid = np.stack(np.meshgrid(np.arange(30.0), np.arange(30.0)), -1).reshape(-1, 2)
    many, few = np.full(len(grid), 3000.0), np.full(len(grid), 150.0)
    assert detect_resolution(grid, many)[0] == "spot"
    assert detect_resolution(grid, few)[0] == "cell"  # lattice bins with few counts (Visium HD)
    scattered = gen.uniform(0, 30, size=(900, 2))
    resolution, evidence = detect_resolution(scattered, many)
    assert resolution == "cell" and evidence["lattice_share"] < 0.3  # cells at irregular positions
    assert evidence["median_counts"] == 3000


def test_the_override_wins():
    cells = simulate_tissue(platform="xenium", n_cells=600, n_genes=60, rng=0)
    spot = sst.pp.prepare(cells, resolution="spot", copy=True)
    assert spot.uns["semst_prepare"]["params"]["resolution"] == "spot"
    assert "semst_neighbourhood" not in spot.obsp
    visium = simulate_tissue(12, 12, n_genes=60, rng=0)
    cell = sst.pp.prepare(visium, resolution="cell", neighbourhood_size=7, copy=True)
    params = cell.uns["semst_prepare"]["params"]
    assert (params["resolution"], params["resolution_requested"], params["neighbourhood_size"]) == ("cell", "cell", 7)
    # preparing again at spot resolution removes the neighbourhoods of the earlier run
    sst.pp.prepare(cell, resolution="spot")
    assert "semst_neighbourhood" not in cell.obsp
    with pytest.raises(ValueError, match="resolution must be 'auto', 'spot' or 'cell'"):
        sst.pp.prepare(visium, resolution="cells")
    with pytest.raises(ValueError, match="neighbourhood_size must be a positive integer"):
        sst.pp.prepare(cells, neighbourhood_size=0)
    with pytest.raises(ValueError, match="must be one of 'capped', 'cells', 'counts', got 'mean'"):
        sst.pp.prepare(cells, neighbourhood_pooling="mean")


@pytest.mark.parametrize("pooling", ["capped", "cells", "counts", None])
def test_cell_resolution_models_the_summed_neighbourhood(pooling):
    adata = simulate_tissue(platform="xenium", n_cells=500, n_genes=60, rng=2)
    sst.pp.prepare(adata, neighbourhood_size=5, **({} if pooling is None else {"neighbourhood_pooling": pooling}))
    pooling = pooling or "capped"  # the default
    assert adata.uns["semst_prepare"]["params"]["neighbourhood_pooling"] == pooling
    genes = adata.var["semst_modelled"].to_numpy()
    coords = adata.obsm["spatial"]
    _, idx = NearestNeighbors(n_neighbors=5).fit(coords).kneighbors(coords)  # itself included
    own = adata.X[:, genes].toarray().astype(np.float64)
    totals = np.asarray(adata.X.sum(axis=1)).ravel()
    ratio = np.median(totals[totals > 0]) / totals
    weight = {"cells": ratio, "capped": np.minimum(ratio, 1), "counts": np.ones_like(totals)}[pooling]
    assert pooling == "counts" or weight.std() > 0.1  # cells of other depths: the weighting is seen
    # capped: the cells above the median brought down to it, the others (half of them) kept as they are
    assert pooling != "capped" or 0.4 < np.mean(weight == 1) < 0.6
    pooled = (own * weight[:, None])[idx].sum(axis=1)  # each cell weighted, or as it is
    pool = adata.obsp["semst_neighbourhood"]
    assert sp.issparse(pool) and (np.diff(pool.indptr) == 5).all()
    np.testing.assert_allclose(pool.diagonal(), weight, rtol=1e-6)
    np.testing.assert_allclose(prepared_counts(adata, genes), pooled, rtol=1e-5)  # the ZINB target
    expected = pooled / pooled.sum(1, keepdims=True) * 1e4
    expected = np.minimum(expected / expected.std(0, ddof=1), 10)
    np.testing.assert_allclose(adata.layers["semst_scaled"][:, genes].toarray(), expected, rtol=1e-4, atol=1e-5)


def test_each_section_caps_at_its_own_median():
    one = simulate_tissue(platform="xenium", n_cells=400, n_genes=60, rng=5)
    deeper = one.copy()
    deeper.X = deeper.X * 3  # the same cells, sequenced three times deeper
    joint = sst.concat_sections({"a": one, "b": deeper})
    sst.pp.prepare(joint, library_key="library_id", neighbourhood_size=5)
    weight = joint.obsp["semst_neighbourhood"].diagonal()
    section = joint.obs["library_id"].to_numpy()
    assert 0.4 < np.mean(weight[section == "a"] == 1) < 0.6  # half of each section's cells capped
    # a section's depth does not change how its cells are pooled (one median over both would cap "b" far more)
    np.testing.assert_allclose(weight[section == "b"], weight[section == "a"], rtol=1e-6)


def test_cell_domains_are_refined_over_each_cells_neighbourhood():
    from semst_sc.tl._refine import majority_vote

    adata = simulate_tissue(platform="xenium", n_cells=600, n_genes=60, rng=1)
    sst.pp.prepare(adata, neighbourhood_size=10)
    sst.pp.spatial_graph(adata)
    rng = np.random.default_rng(0)
    adata.obsm["X_semst"] = np.eye(7)[adata.obs["domain"].cat.codes] + rng.normal(0, 0.6, (adata.n_obs, 7))
    raw = sst.tl.cluster(adata, 7, n_pcs=None, refine=False, copy=True)
    auto = sst.tl.cluster(adata, 7, n_pcs=None, copy=True)  # cell resolution: refined by default
    assert auto.uns["semst_domain"]["params"]["refined_over"] == "semst_neighbourhood"
    codes = raw.obs["semst_domain"].cat.codes.to_numpy()
    expected = majority_vote(codes, adata.obsp["semst_neighbourhood"])
    assert (expected != codes).sum() > 10  # the vote moves cells, over the 10 pooled, not the 6 spatial neighbours
    assert not np.array_equal(expected, majority_vote(codes, adata.obsp["spatial_connectivities"]))
    assert adjusted_rand_score(expected, auto.obs["semst_domain"]) == 1
    voted = sst.tl.refine(raw, copy=True)  # the standalone vote: the same neighbourhood by default
    assert voted.uns["semst_domain"]["params"]["refined_over"] == "semst_neighbourhood"
    assert (voted.obs["semst_domain"].cat.codes.to_numpy() == expected).all()
    for key in ("semst_neighbourhood", "spatial_connectivities", "spatial"):  # as recorded, or a graph prefix
        again = sst.tl.refine(raw, connectivity_key=key, key_added="again", copy=True)
        recorded = again.uns["again"]["params"]["connectivity_key"]
        assert recorded == ("spatial_connectivities" if key == "spatial" else key)
    assert (again.obs["again"].cat.codes.to_numpy() == majority_vote(codes, adata.obsp["spatial_connectivities"])).all()
    truth = adata.obs["domain"]
    assert adjusted_rand_score(truth, auto.obs["semst_domain"]) > adjusted_rand_score(truth, raw.obs["semst_domain"])

    spots = simulate_tissue(20, 20, n_genes=60, rng=0)  # spot resolution: no vote unless asked
    sst.pp.prepare(spots)
    sst.pp.spatial_graph(spots)
    spots.obsm["X_semst"] = rng.normal(size=(spots.n_obs, 5))
    assert sst.tl.cluster(spots, 4, copy=True).uns["semst_domain"]["params"]["refine"] is False


def _overlapping(adata, graph):
    """Per edge of ``graph``: do the two ends' pooled neighbourhoods share a cell?"""
    pool = adata.obsp["semst_neighbourhood"].astype(np.float32)
    edges = graph.tocoo()
    return np.asarray((pool[edges.row].multiply(pool[edges.col])).sum(axis=1)).ravel() > 0


def test_expression_neighbours_lie_outside_the_cells_neighbourhood():
    adata = simulate_tissue(platform="xenium", n_cells=1500, n_genes=80, rng=3)
    sst.pp.prepare(adata)  # neighbourhoods of 20 cells, the default
    near = sst.pp.feature_graph(adata, outside_neighbourhood=False, copy=True)
    assert _overlapping(adata, near.obsp["semst_feature_connectivities"]).mean() > 0.5  # a second spatial graph
    assert not near.uns["semst_feature_neighbors"]["params"]["outside_neighbourhood"]
    sst.pp.feature_graph(adata)
    graph = adata.obsp["semst_feature_connectivities"]
    assert _overlapping(adata, graph).mean() < 0.02  # the disc test misses a few set overlaps at the edges
    assert adata.uns["semst_feature_neighbors"]["params"]["outside_neighbourhood"]
    assert (np.asarray(graph.sum(axis=1)).ravel() >= 14).all()  # still k neighbours per cell
    spot = simulate_tissue(12, 12, n_genes=60, rng=0)  # spot resolution: nothing pooled, nothing passed over
    sst.pp.prepare(spot)
    sst.pp.feature_graph(spot)
    assert not spot.uns["semst_feature_neighbors"]["params"]["outside_neighbourhood"]


@pytest.mark.slow
def test_approximate_search_also_passes_over_the_neighbourhood(monkeypatch):
    from semst_sc.pp import _feature_graph

    adata = simulate_tissue(platform="xenium", n_cells=1500, n_genes=80, rng=3)
    sst.pp.prepare(adata)
    monkeypatch.setattr(_feature_graph, "APPROXIMATE_FROM", 1000)  # NN-descent, as from 100,000 cells
    near = sst.pp.feature_graph(adata, outside_neighbourhood=False, copy=True)
    sst.pp.feature_graph(adata)
    assert adata.uns["semst_feature_neighbors"]["params"]["algorithm"] == "nndescent"
    before = _overlapping(adata, near.obsp["semst_feature_connectivities"]).mean()
    after = _overlapping(adata, adata.obsp["semst_feature_connectivities"]).mean()
    assert after < before / 2, (before, after)  # its 2k candidates: fewer outside neighbours than an exact search


def test_sections_in_one_frame_are_not_mistaken_for_overlap():
    one = simulate_tissue(platform="xenium", n_cells=800, n_genes=60, rng=4)
    joint = sst.concat_sections({"a": one, "b": one.copy()})  # the same coordinates in both sections
    sst.pp.prepare(joint, library_key="library_id", neighbourhood_size=10)
    sst.pp.feature_graph(joint, library_key="library_id")
    edges = joint.obsp["semst_feature_connectivities"].tocoo()
    section = joint.obs["library_id"].to_numpy()
    across = section[edges.row] != section[edges.col]
    assert across.mean() > 0.3
    assert _overlapping(joint, joint.obsp["semst_feature_connectivities"])[~across].mean() < 0.02
    # each cell's twin in the other section has the same neighbourhood and expression: found, not passed over
    twin = {name: i for i, name in enumerate(joint.obs_names)}
    pairs = {(edges.row[e], edges.col[e]) for e in np.flatnonzero(across)}
    twins = [(twin[f"{name}-a"], twin[f"{name}-b"]) for name in one.obs_names]
    assert np.mean([p in pairs for p in twins]) > 0.9
    sst.pp.feature_graph(joint)  # no library_key here: overlaps still judged within the sections prepare pooled in
    edges = joint.obsp["semst_feature_connectivities"].tocoo()
    pairs = set(zip(edges.row, edges.col, strict=True))
    assert np.mean([p in pairs for p in twins]) > 0.9


def test_without_coordinates_auto_is_spot(tissue):
    del tissue.obsm["spatial"]
    sst.pp.prepare(tissue)
    assert tissue.uns["semst_prepare"]["params"]["resolution"] == "spot"


@pytest.mark.slow
def test_cell_resolution_finds_domains_where_cells_alone_find_cell_types():
    adata = simulate_tissue(platform="xenium", n_cells=3000, n_genes=120, rng=0)
    scores = {}
    for resolution in ("spot", "cell"):
        result = sst.run_pipeline(adata, 7, resolution=resolution, semantics=False, n_epochs=60, copy=True)
        scores[resolution] = adjusted_rand_score(adata.obs["domain"], result.obs["semst_domain"])
    assert scores["cell"] > scores["spot"] + 0.2, scores


@pytest.mark.real_data
@pytest.mark.parametrize(
    ("load", "expected"),
    [
        (lambda: sst.datasets.dlpfc("151673"), "spot"),
        (sst.datasets.mouse_ob, "spot"),
        (lambda: sst.datasets.osmfish(drop_excluded=True), "cell"),
        (lambda: sst.datasets.baristaseq(1), "cell"),
        (lambda: sst.datasets.merfish_hypothalamus(0.26), "cell"),
    ],
)
def test_real_platforms_are_classified(load, expected):
    adata = load()
    totals = np.asarray(adata.X.sum(axis=1)).ravel()
    assert detect_resolution(adata.obsm["spatial"], totals)[0] == expected


@pytest.mark.real_data
@pytest.mark.slow
def test_merfish_values_divided_by_cell_volume_give_neighbourhoods_not_cell_classes():
    """Moffitt et al.'s MERFISH as released (not integers) runs, and its domains are not the published cell classes."""
    from fakes import scanpy_warnings

    adata = sst.datasets.merfish_hypothalamus(0.26)
    logged = scanpy_warnings(lambda: sst.run_pipeline(adata, 8, n_epochs=20, semantics=False))
    assert "non-integer values" in logged
    params = adata.uns["semst_prepare"]["params"]
    assert params["resolution"] == "cell" and params["integer_counts"] is False
    known = (adata.obs["Cell_class"] != "Ambiguous").to_numpy()
    # measured: ARI with the cell classes 0.10, PAS 0.035; each cell alone (resolution="spot"): 0.49 and 0.73
    assert adjusted_rand_score(adata.obs["Cell_class"][known], adata.obs["semst_domain"][known]) < 0.2
    assert sst.metrics.pas(adata.obsm["spatial"], adata.obs["semst_domain"]) < 0.1


def test_pooled_counts_block_by_block_equal_the_whole_product():
    from semst_sc._utils import _pooled

    gen = np.random.default_rng(0)
    pool = sp.random(50, 50, density=0.2, format="csr", random_state=0, dtype=np.float32)
    counts = sp.csr_matrix(gen.poisson(1.0, size=(50, 7)).astype(np.float32))
    np.testing.assert_array_equal(_pooled(pool, counts, block=8), (pool @ counts).toarray())


def test_run_pipeline_checks_resolution_arguments_first(tissue):
    with pytest.raises(ValueError, match="neighbourhood_size must be a positive integer"):
        sst.run_pipeline(tissue, 3, neighbourhood_size=0)
    with pytest.raises(ValueError, match="resolution must be 'auto', 'spot' or 'cell'"):
        sst.run_pipeline(tissue, 3, resolution="bins")
    with pytest.raises(ValueError, match="neighbourhood_pooling must be one of 'capped', 'cells', 'counts'"):
        sst.run_pipeline(tissue, 3, neighbourhood_pooling="sum")
    assert "semst_domain" not in tissue.obs
