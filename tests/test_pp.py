import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp
from fakes import CONTROL_PROBES, CountingEncoder, on_a_view, with_control_probes

import semst_sc as sst
from semst_sc.pp._gene_semantics import PROMPT, _top_genes


def test_prepare_scaling_matches_reference(tissue):
    sst.pp.prepare(tissue, n_top_genes=50)
    hvg = tissue.var["semst_modelled"].to_numpy()
    assert hvg.sum() == 50
    counts = tissue.X[:, hvg].toarray().astype(np.float64)
    expected = counts / counts.sum(1, keepdims=True) * 1e4
    expected = np.minimum(expected / expected.std(0, ddof=1), 10)
    scaled = tissue.layers["semst_scaled"].toarray()
    np.testing.assert_allclose(scaled[:, hvg], expected, rtol=1e-4, atol=1e-5)
    assert scaled[:, ~hvg].sum() == 0
    assert tissue.uns["semst_prepare"]["params"]["n_modelled"] == 50


def test_prepare_keeps_x_and_small_panel_uses_all_genes(tissue):
    x_before = tissue.X.copy()
    sst.pp.prepare(tissue, n_top_genes=10_000)
    assert (tissue.X != x_before).nnz == 0
    detected = np.asarray((tissue.X > 0).sum(0)).ravel()
    assert tissue.var["semst_modelled"].sum() == (detected >= max(3, np.ceil(0.01 * tissue.n_obs))).sum()
    assert list(tissue.layers) == ["semst_scaled"]  # no copy of the counts
    assert tissue.uns["semst_prepare"]["params"]["layer"] is None  # tl.semst reads them in X


def test_prepare_models_a_tiny_panel_whole_instead_of_choosing_among_it(tissue):
    from fakes import scanpy_warnings

    for n_genes, n_top in ((10, 5), (3, 1)):  # seurat_v3's fit failed on 10 genes and crashed python on 3
        panel = tissue[:, :n_genes].copy()
        logged = scanpy_warnings(lambda panel=panel, n_top=n_top: sst.pp.prepare(panel, n_top_genes=n_top))
        assert f"modelling all {panel.var['semst_modelled'].sum()} genes, not the n_top_genes={n_top}" in logged
        assert panel.var["semst_modelled"].sum() > n_top


def test_prepare_models_a_panel_whole_when_the_variance_fit_fails(tissue):
    """195 genes of one constant value leave seurat_v3's loess five points: it failed with 'svddc failed in l2fit'."""
    from fakes import scanpy_warnings

    rng = np.random.default_rng(0)
    x = np.hstack([np.full((tissue.n_obs, 195), 2.0), rng.poisson(3, (tissue.n_obs, 5))]).astype(np.float32)
    panel = ad.AnnData(sp.csr_matrix(x), obsm={"spatial": tissue.obsm["spatial"]})
    panel.var_names = [f"G{i}" for i in range(200)]
    logged = scanpy_warnings(lambda: sst.pp.prepare(panel, n_top_genes=10))
    assert "seurat_v3's fit of variance to mean failed on these genes" in logged
    assert panel.var["semst_modelled"].all()
    assert np.isfinite(panel.layers["semst_scaled"].data).all()


def test_prepare_reads_a_layer(tissue):
    tissue.layers["raw"] = tissue.X.copy()
    tissue.X = sp.csr_matrix(np.log1p(tissue.X.toarray()))
    with pytest.raises(ValueError, match="non-integer"):
        sst.pp.prepare(tissue)
    sst.pp.prepare(tissue, layer="raw")
    assert sorted(tissue.layers) == ["raw", "semst_scaled"]  # no copy of the counts
    assert tissue.uns["semst_prepare"]["params"]["layer"] == "raw"


def test_prepare_on_a_view_writes_to_it_silently_and_leaves_the_parent(tissue):
    view, _ = on_a_view(tissue, lambda v: sst.pp.prepare(v, n_top_genes=50))
    assert view.layers["semst_scaled"].shape == view.shape and view.var["semst_modelled"].sum() == 50
    assert view.uns["semst_prepare"]["params"]["n_modelled"] == 50


def test_prepare_copy_of_a_view_is_actual_and_leaves_the_view(tissue):
    _, out = on_a_view(tissue, lambda v: sst.pp.prepare(v, n_top_genes=50, copy=True), copy=True)
    assert out.layers["semst_scaled"].shape == out.shape and "semst_prepare" in out.uns


def test_spatial_graph_knn_is_symmetric_without_self_loops(tissue):
    sst.pp.spatial_graph(tissue, n_neighbors=6)
    a = tissue.obsp["spatial_connectivities"]
    assert (a != a.T).nnz == 0
    assert a.diagonal().sum() == 0
    assert np.asarray(a.sum(1)).min() >= 6
    assert tissue.uns["spatial_neighbors"]["params"]["n_neighbors"] == 6
    d = tissue.obsp["spatial_distances"]
    assert d.nnz == a.nnz and d.data.min() > 0


def test_spatial_graph_default_is_the_first_hexagonal_ring(tissue):
    sst.pp.spatial_graph(tissue)  # k = 6: on the simulated Visium grid, the six touching spots
    assert tissue.uns["spatial_neighbors"]["params"]["n_neighbors"] == 6
    degree = np.asarray(tissue.obsp["spatial_connectivities"].sum(1)).ravel()
    assert np.median(degree) == 6
    first_ring = tissue.obsp["spatial_distances"].data < 110  # spacing 100; border spots reach further
    assert first_ring.mean() > 0.9


def test_spatial_graph_radius_on_hex_grid(tissue):
    sst.pp.spatial_graph(tissue, radius=110)  # spacing 100: the six hexagonal neighbours
    degree = np.asarray(tissue.obsp["spatial_connectivities"].sum(1)).ravel()
    assert degree.max() == 6 and np.median(degree) == 6


@pytest.mark.parametrize("setting", [{"n_neighbors": 6}, {"radius": 110}])
def test_spatial_graph_keeps_spots_at_one_place_as_neighbours(tissue, setting):
    tissue.obsm["spatial"] = tissue.obsm["spatial"].copy()
    tissue.obsm["spatial"][1] = tissue.obsm["spatial"][0]  # two spots at one position: distance 0
    sst.pp.spatial_graph(tissue, **setting)
    a, d = tissue.obsp["spatial_connectivities"], tissue.obsp["spatial_distances"]
    assert a[0, 1] == a[1, 0] == 1 and a.diagonal().sum() == 0
    assert (a != a.T).nnz == 0 and d.nnz == a.nnz  # every edge has its distance, the 0 stored
    assert (d.tocoo().row == a.tocoo().row).all() and (d.tocoo().col == a.tocoo().col).all()
    assert d[0, 1] == 0 and (d.data == 0).sum() == 2  # 0-1 and 1-0, every other distance positive


def test_spatial_graph_uses_squidpy_graph_as_is(tissue):
    import squidpy as sq

    sq.gr.spatial_neighbors_knn(tissue, n_neighs=4)
    before = tissue.obsp["spatial_connectivities"].copy()
    sst.pp.spatial_graph(tissue)
    assert (tissue.obsp["spatial_connectivities"] != before).nnz == 0


def test_spatial_graph_rejects_both_settings(tissue):
    with pytest.raises(ValueError, match="not both"):
        sst.pp.spatial_graph(tissue, n_neighbors=5, radius=100)


def test_spatial_graph_on_a_view_writes_to_it_silently_and_leaves_the_parent(tissue):
    view, _ = on_a_view(tissue, lambda v: sst.pp.spatial_graph(v, n_neighbors=6))
    assert view.obsp["spatial_connectivities"].shape == (view.n_obs, view.n_obs)
    assert view.uns["spatial_neighbors"]["params"]["n_neighbors"] == 6


def test_feature_graph_matches_exact_cosine_neighbours(tissue):
    sst.pp.prepare(tissue, n_top_genes=100)
    sst.pp.feature_graph(tissue, n_neighbors=5, n_comps=None)
    assert tissue.uns["semst_feature_neighbors"]["params"]["n_comps"] == 0  # the full matrix
    a = tissue.obsp["semst_feature_connectivities"]
    assert (a != a.T).nnz == 0 and a.diagonal().sum() == 0
    x = tissue.layers["semst_scaled"][:, tissue.var["semst_modelled"].to_numpy()].toarray()
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    sim = x @ x.T
    np.fill_diagonal(sim, -np.inf)
    for i in range(0, tissue.n_obs, 97):
        nearest = np.argsort(-sim[i])[:5]
        assert set(nearest) <= set(a[i].indices)
    for asked, used in ((200, 0), (50, 50)):  # 200 is not below the 100 modelled genes: no reduction
        sst.pp.feature_graph(tissue, n_neighbors=5, n_comps=asked)
        assert tissue.uns["semst_feature_neighbors"]["params"]["n_comps"] == used


def test_feature_graph_at_cell_resolution_names_spatial_key_when_the_coordinates_are_elsewhere():
    """Coordinates under another obsm key, given to prepare: the error said to store them in obsm['spatial']."""
    cells = sst.datasets.simulate_tissue(15, 15, n_genes=60, platform="xenium", rng=0)
    cells.obsm["xy"] = cells.obsm.pop("spatial")
    sst.pp.prepare(cells, resolution="cell", spatial_key="xy")
    with pytest.raises(KeyError, match=r"obsm\['spatial'\] not found: at cell resolution .* spatial_key= as given"):
        sst.pp.feature_graph(cells)
    assert "semst_feature_connectivities" not in cells.obsp
    sst.pp.feature_graph(cells, spatial_key="xy")
    assert cells.uns["semst_feature_neighbors"]["params"]["outside_neighbourhood"]


def test_feature_graph_needs_prepare(tissue):
    with pytest.raises(KeyError, match=r"sst.pp.prepare"):
        sst.pp.feature_graph(tissue)


def test_feature_graph_on_a_view_writes_to_it_silently_and_leaves_the_parent(tissue):
    sst.pp.prepare(tissue, n_top_genes=50)
    view, _ = on_a_view(tissue, lambda v: sst.pp.feature_graph(v, n_neighbors=5))
    assert view.obsp["semst_feature_connectivities"].shape == (view.n_obs, view.n_obs)
    assert view.uns["semst_feature_neighbors"]["params"]["n_neighbors"] == 5


def test_top_genes_brute_force():
    rng = np.random.default_rng(0)
    dense = rng.poisson(0.5, size=(50, 30)).astype(np.float32) * rng.random((50, 30)).astype(np.float32)
    usable = np.ones(30, bool)
    usable[3] = False
    idx, val = _top_genes(sp.csr_matrix(dense), usable, 4)
    for i in range(50):
        row = dense[i].copy()
        row[3] = -np.inf
        order = sorted(np.flatnonzero(row > 0), key=lambda j: (-row[j], j))[:4]
        assert list(idx[i][idx[i] >= 0]) == order
        np.testing.assert_allclose(val[i][: len(order)], row[order])


def test_top_genes_ties_go_to_the_first_gene_whatever_the_chunks():
    rng = np.random.default_rng(1)
    dense = np.minimum(rng.poisson(1.0, size=(40, 25)), 2).astype(np.float32)  # many ties at 1 and 2
    dense[7] = 0  # a spot without expression
    X = sp.csr_matrix(dense)
    usable = np.ones(25, bool)
    idx, val = _top_genes(X, usable, 5)
    for i in range(40):
        order = sorted(np.flatnonzero(dense[i] > 0), key=lambda j: (-dense[i, j], j))[:5]
        assert list(idx[i][idx[i] >= 0]) == order
    assert (idx[7] == -1).all() and (val[7] == 0).all()
    for chunk in (1, 3, 16):
        chunked = _top_genes(X, usable, 5, chunk=chunk)
        np.testing.assert_array_equal(chunked[0], idx)
        np.testing.assert_array_equal(chunked[1], val)


def test_gene_semantics_genes_mode_same_in_chunks(tissue, monkeypatch):
    from semst_sc.pp import _gene_semantics

    sst.pp.prepare(tissue, n_top_genes=100)
    whole = sst.pp.gene_semantics(tissue, model=CountingEncoder(), copy=True)
    top_genes = _gene_semantics._top_genes
    monkeypatch.setattr(_gene_semantics, "_top_genes", lambda X, usable, k: top_genes(X, usable, k, chunk=50))
    chunked = sst.pp.gene_semantics(tissue, model=CountingEncoder(), copy=True)
    np.testing.assert_array_equal(chunked.obsm["X_semantic"], whole.obsm["X_semantic"])


def test_gene_semantics_reads_only_the_modelled_genes_once(tissue):
    sst.pp.prepare(tissue, n_top_genes=100)
    before = sst.pp.gene_semantics(tissue, model=CountingEncoder(), copy=True)
    scaled = tissue.layers["semst_scaled"].toarray()
    scaled[:, ~tissue.var["semst_modelled"].to_numpy()] = 100.0  # other genes are never top genes
    halves = sp.csr_matrix(scaled)
    n = np.diff(halves.indptr)
    # each entry stored twice, as two halves: a non-canonical CSR layer
    tissue.layers["semst_scaled"] = sp.csr_matrix(
        (np.repeat(halves.data / 2, 2), np.repeat(halves.indices, 2), np.concatenate([[0], np.cumsum(2 * n)])),
        shape=halves.shape,
    )
    after = sst.pp.gene_semantics(tissue, model=CountingEncoder(), copy=True)
    np.testing.assert_array_equal(after.obsm["X_semantic"], before.obsm["X_semantic"])
    assert tissue.layers["semst_scaled"].nnz == 2 * halves.nnz  # the input layer is left as it was


def test_gene_semantics_symbols_mode_texts_and_dedup(tissue):
    sst.pp.prepare(tissue, n_top_genes=100)
    encoder = CountingEncoder()
    sst.pp.gene_semantics(tissue, model=encoder, mode="symbols", top_k=3)
    emb = tissue.obsm["X_semantic"]
    assert emb.shape == (tissue.n_obs, 8) and emb.dtype == np.float32
    assert len(encoder.seen) == len(set(encoder.seen))  # each distinct gene list embedded once
    assert all(t.startswith(PROMPT + " Highly expressed genes: ") for t in encoder.seen)
    # spots with the same top-3 list share a vector; the text lists the spot's top genes in order
    hvg = tissue.var_names[tissue.var["semst_modelled"].to_numpy()]
    x = tissue.layers["semst_scaled"][:, tissue.var["semst_modelled"].to_numpy()].toarray()
    first = ", ".join(hvg[np.argsort(-x[0], kind="stable")[:3]])
    assert f"{PROMPT} Highly expressed genes: {first}" in encoder.seen
    params = tissue.uns["semantic"]["params"]
    assert params["mode"] == "symbols" and params["top_k"] == 3 and params["n_texts"] == len(encoder.seen)
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="top_k must be a positive integer"):
            sst.pp.gene_semantics(tissue, model=encoder, top_k=bad)


def test_gene_semantics_genes_mode_is_weighted_mean(tissue):
    sst.pp.prepare(tissue, n_top_genes=100)
    encoder = CountingEncoder()
    sst.pp.gene_semantics(tissue, model=encoder, mode="genes", top_k=4)
    hvg = tissue.var["semst_modelled"].to_numpy()
    symbols = tissue.var_names[hvg]
    x = tissue.layers["semst_scaled"][:, hvg].toarray()
    top = np.argsort(-x[5], kind="stable")[:4]
    vectors = encoder.encode([symbols[j] for j in top])
    expected = (x[5, top, None] * vectors).sum(0) / x[5, top].sum()
    np.testing.assert_allclose(tissue.obsm["X_semantic"][5], expected, rtol=1e-5)
    assert tissue.uns["semantic"]["params"]["n_texts"] <= hvg.sum()


def test_gene_semantics_default_model_is_offline_and_deterministic(tissue):
    sst.pp.prepare(tissue, n_top_genes=60)
    a = sst.pp.gene_semantics(tissue, copy=True)
    b = sst.pp.gene_semantics(tissue, copy=True)
    assert a.obsm["X_semantic"].shape == (tissue.n_obs, 384)
    np.testing.assert_array_equal(a.obsm["X_semantic"], b.obsm["X_semantic"])
    assert "all-MiniLM-L6-v2" in a.uns["semantic"]["params"]["model"]
    assert "X_semantic" not in tissue.obsm


def test_gene_semantics_reads_symbols_behind_ensembl_ids(tissue):
    symbols = tissue.var_names.to_numpy()
    tissue.var["gene_name"] = symbols
    tissue.var_names = [f"ENSG{i:011d}" for i in range(tissue.n_vars)]
    sst.pp.prepare(tissue, n_top_genes=40)
    encoder = CountingEncoder()
    sst.pp.gene_semantics(tissue, model=encoder, mode="genes")
    assert set(encoder.seen) <= set(symbols)
    assert not any(t.startswith("ENSG") for t in encoder.seen)


def test_gene_semantics_on_a_view_writes_to_it_silently_and_leaves_the_parent(tissue):
    sst.pp.prepare(tissue, n_top_genes=50)
    view, _ = on_a_view(tissue, lambda v: sst.pp.gene_semantics(v, model=CountingEncoder()))
    assert view.obsm["X_semantic"].shape == (view.n_obs, 8) and "semantic" in view.uns


def test_prepare_leaves_control_probes_and_blank_codewords_out(tissue):
    """An .h5ad holding an instrument's control features among the genes (squidpy's readers keep them) modelled them."""
    from fakes import scanpy_warnings

    adata = with_control_probes(tissue, (tissue.obs["domain"] == "WM").to_numpy())
    logged = scanpy_warnings(lambda: sst.pp.prepare(adata, n_top_genes=10_000))
    modelled = adata.var["semst_modelled"]
    assert not modelled[CONTROL_PROBES].any() and modelled[: tissue.n_vars].sum() > 100
    assert f"{len(CONTROL_PROBES)} control probes or blank codewords" in logged and "NegControlProbe_00042" in logged
    assert adata.uns["semst_prepare"]["params"]["n_control_probes"] == len(CONTROL_PROBES)


def test_control_probes_weigh_nothing_in_a_cell_s_counts():
    """The control features' counts entered the totals that cap each cell's weight in its neighbourhood."""
    cells = sst.datasets.simulate_tissue(platform="xenium", n_cells=400, n_genes=60, rng=3)
    with_controls = with_control_probes(cells, np.arange(cells.n_obs) % 2 == 0)  # every other cell: 64 more counts
    for adata in (cells, with_controls):
        sst.pp.prepare(adata, resolution="cell")
    genes = list(cells.var_names)
    assert (with_controls.obsp["semst_neighbourhood"] != cells.obsp["semst_neighbourhood"]).nnz == 0
    np.testing.assert_array_equal(
        with_controls[:, genes].layers["semst_scaled"].toarray(), cells.layers["semst_scaled"].toarray()
    )
