"""Bad input gets a clear error (or a documented, logged handling) and never changes the user's AnnData."""

import math
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
import scipy.sparse as sp
from fakes import CountingEncoder, scanpy_warnings

import semst_sc as sst


def _snapshot(adata):
    return {
        "X": adata.X.copy(),
        "obs": adata.obs.copy(),
        "var": adata.var.copy(),
        "keys": {name: sorted(getattr(adata, name).keys()) for name in ("obsm", "obsp", "layers", "uns")},
        "spatial": None if "spatial" not in adata.obsm else np.array(adata.obsm["spatial"], copy=True),
    }


def _assert_untouched(adata, snap):
    x = adata.X
    assert (x != snap["X"]).nnz == 0 if sp.issparse(x) else np.array_equal(x, snap["X"], equal_nan=True)
    assert adata.obs.equals(snap["obs"]) and adata.var.equals(snap["var"])
    assert {name: sorted(getattr(adata, name).keys()) for name in ("obsm", "obsp", "layers", "uns")} == snap["keys"]
    if snap["spatial"] is not None:
        np.testing.assert_array_equal(adata.obsm["spatial"], snap["spatial"])


def _fails(adata, error, match, n_clusters=3, **kwargs):
    snap = _snapshot(adata)
    with pytest.raises(error, match=match):
        sst.run_pipeline(adata, n_clusters, n_epochs=2, **kwargs)
    _assert_untouched(adata, snap)


@pytest.fixture
def no_work(monkeypatch):
    """Record calls of the pipeline's first step: a check of the arguments or the data must fail before it."""
    calls = []
    monkeypatch.setattr("semst_sc.pp.prepare", lambda *a, **k: calls.append("prepare"))
    return calls


def _fails_early(adata, no_work, error, match, n_clusters=3, **kwargs):
    _fails(adata, error, match, n_clusters=n_clusters, **kwargs)
    assert no_work == [], "the error came after sst.pp.prepare ran"


def test_missing_coordinates(tissue, no_work):
    del tissue.obsm["spatial"]
    _fails_early(tissue, no_work, KeyError, r"obsm\['spatial'\] not found")


def test_nan_coordinates(tissue, no_work):
    tissue.obsm["spatial"][3, 0] = np.nan
    _fails_early(tissue, no_work, ValueError, "NaN or infinite coordinates")


@pytest.mark.parametrize(
    ("coordinates", "match"),
    [
        (lambda xy, names: sp.csr_matrix(xy), "is a csr_matrix that is not read as numbers"),
        (
            lambda xy, names: pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "fov": "A"}, index=names),
            r"is a DataFrame with columns \['x', 'y', 'fov'\] that is not read as numbers",
        ),
    ],
    ids=["sparse", "text-column"],
)
def test_coordinates_that_are_not_numbers(tissue, coordinates, match):
    """numpy's 'setting an array element with a sequence' or "could not convert string to float: 'A'" before."""
    tissue.obsm["spatial"] = coordinates(tissue.obsm["spatial"], tissue.obs_names)
    keys = {name: sorted(getattr(tissue, name).keys()) for name in ("obsm", "obsp", "layers", "uns")}
    for step in (lambda a: sst.run_pipeline(a, 3, n_epochs=2), sst.pp.prepare, sst.pp.spatial_graph):
        with pytest.raises(ValueError, match=match + r" \(.*\): store each spot's coordinates .* dense n_obs x 2"):
            step(tissue)
    assert keys == {name: sorted(getattr(tissue, name).keys()) for name in keys}


def test_all_spots_at_one_coordinate(tissue, no_work):
    tissue.obsm["spatial"][:] = [120.0, 80.0]
    _fails_early(tissue, no_work, ValueError, r"obsm\['spatial'\] has no spread: all 576 spots are at the same")
    with pytest.raises(ValueError, match="has no spread"):
        sst.pp.spatial_graph(tissue)


def _fields_of_view(tissue, slide_key="spatial_fov"):
    """A CosMx reader's layout: obsm['spatial'] within each of two fields, obsm[slide_key] on the slide.

    ``"spatial_fov"``: squidpy.read.nanostring's; ``"global"``: spatialdata-io's (its table).
    """
    fov = (tissue.obsm["spatial"][:, 0] > np.median(tissue.obsm["spatial"][:, 0])).astype(int)
    tissue.obs["fov"] = fov.astype(str)
    xy = tissue.obsm["spatial"].copy()
    corner = np.array([xy[fov == f].min(axis=0) for f in (0, 1)])
    tissue.obsm[slide_key], tissue.obsm["spatial"] = xy, xy - corner[fov]
    return tissue


def test_positions_within_fields_of_view_are_refused_before_any_work(tissue, no_work):
    _fails_early(_fields_of_view(tissue), no_work, ValueError, r"position within its field of view \(obs\['fov'\]\)")


@pytest.mark.parametrize("slide_key", ["spatial_fov", "global"])
def test_positions_within_fields_of_view_are_refused_by_each_step(tissue, slide_key):
    tissue = _fields_of_view(tissue, slide_key)
    for call in (sst.pp.spatial_graph, sst.pp.prepare):
        with pytest.raises(ValueError, match=rf"adata.obsm\['spatial'\] = adata.obsm\['{slide_key}'\]"):
            call(tissue)
    sst.pp.spatial_graph(tissue, library_key="fov")  # each field a section: fine
    tissue.obsm["spatial"] = tissue.obsm[slide_key]  # the slide positions: fine
    sst.pp.spatial_graph(tissue)


def test_no_spots(tissue, no_work):
    _fails_early(tissue[:0].copy(), no_work, ValueError, r"the data have no spots \(0 spots x 300 genes\)")
    _fails_early(tissue[:, :0].copy(), no_work, ValueError, "the data have no genes")


def test_backed_data(tissue, tmp_path):
    import anndata as ad

    tissue.write_h5ad(tmp_path / "slide.h5ad")
    backed = ad.read_h5ad(tmp_path / "slide.h5ad", backed="r")
    for step in (sst.pp.prepare, sst.run_pipeline, lambda a: sst.tl.query(a, "myelination")):
        with pytest.raises(ValueError, match="backed by .*slide.h5ad.*to_memory"):
            step(backed)
    backed.file.close()


def test_too_few_spots_for_the_graphs(tissue, no_work):
    five = tissue[:5].copy()
    _fails_early(five, no_work, ValueError, r"the slide has 5 spots, too few .* at least 15 spots \(14 expression")
    _fails_early(five, no_work, ValueError, "at least 61 spots", preset="paper")
    with pytest.raises(ValueError, match="too few for a spatial graph of 6 neighbours per spot: at least 7"):
        sst.pp.spatial_graph(five)


def test_too_few_spots_for_the_expression_graph(tissue):
    ten = sst.pp.prepare(tissue[:10].copy(), n_top_genes=50, copy=True)
    with pytest.raises(ValueError, match="the slide has 10 spots, too few for an expression graph .* at least 15"):
        sst.pp.feature_graph(ten)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_clusters": 7.5}, ValueError, "n_clusters must be a positive integer .*got 7.5"),
        ({"n_clusters": "7"}, ValueError, "n_clusters must be a positive integer .*got '7'"),
        ({"n_clusters": 0}, ValueError, "n_clusters must be a positive integer"),
        ({"n_epochs": 0}, ValueError, "n_epochs must be a positive integer"),
        ({"n_epochs": 2.5}, ValueError, "n_epochs must be a positive integer"),
        ({"spatial_neighbors": 0}, ValueError, "spatial_neighbors must be a positive integer"),
        ({"gene_symbols": "nope"}, KeyError, r"var\['nope'\] not found"),
        ({"gene_text": "/missing/genes.tsv"}, FileNotFoundError, "gene_text /missing/genes.tsv not found"),
        ({"gene_text": str(Path(__file__).parent)}, FileNotFoundError, "holds no gene descriptions"),  # a folder
        ({"layer": "nope"}, KeyError, r"layers\['nope'\] not found"),
        ({"method": "dbscan"}, ValueError, "method must be"),
        ({"encoder": ["dual"]}, ValueError, r"encoder must be one of \['contrastive', 'dual'\] or a SpotEncoder"),
        ({"semantic_mode": "words"}, ValueError, "semantic_mode must be"),
        ({"train_kwargs": {"average_from": 1.5}}, ValueError, r"train_kwargs\['average_from'\] must be in \[0, 1\)"),
        ({"train_kwargs": {"epochs": 3}}, ValueError, r"unknown train_kwargs \['epochs'\]"),
        ({"train_kwargs": 0.5}, TypeError, "train_kwargs must be a dict"),
        (
            {"encoder_kwargs": {"spatial_wieght": 0}},
            ValueError,
            r"unknown encoder_kwargs \['spatial_wieght'\] for SemST",
        ),
        ({"encoder_kwargs": {"n_covariates": 2}}, ValueError, r"unknown encoder_kwargs \['n_covariates'\]"),
        ({"encoder": "contrastive", "encoder_kwargs": {"spatial_weight": 0}}, ValueError, "for ContrastiveGCN"),
        ({"encoder_kwargs": [("latent_dim", 8)]}, TypeError, "encoder_kwargs must be a dict"),
        ({"encoder_kwargs": {"pair_weighting": "cosine"}}, ValueError, "pair_weighting must be 'similarity' or"),
        ({"n_init": 0}, ValueError, "n_init must be a positive integer, got 0"),
        ({"method": "kmeans", "merge_extra": True}, ValueError, "merge_extra needs method='gmm'.*method='kmeans'"),
        ({"preset": "paper", "merge_extra": True}, ValueError, "merge_extra needs.*preset='paper' clusters with"),
        ({"n_init": 2.5}, ValueError, "n_init must be a positive integer, got 2.5"),
        ({"rng": -1}, ValueError, "rng must be a non-negative integer, got -1"),
        ({"encoder_kwargs": {"latent_dim": 0}}, ValueError, "latent_dim must be a positive integer, got 0"),
        ({"encoder_kwargs": {"hidden_dim": 2.5}}, ValueError, "hidden_dim must be a positive integer, got 2.5"),
        ({"encoder": "contrastive", "encoder_kwargs": {"latent_dim": 0}}, ValueError, "latent_dim must be a positive"),
        ({"train_kwargs": {"fanouts": (3,)}}, ValueError, r"train_kwargs\['fanouts'\] must be two neighbour counts"),
        ({"train_kwargs": {"fanouts": (3, 0)}}, ValueError, r"each of train_kwargs\['fanouts'\] must be a positive"),
        ({"train_kwargs": {"minibatch_size": 2.5}}, ValueError, r"train_kwargs\['minibatch_size'\] must be an integer"),
        ({"train_kwargs": {"weight_decay": -1}}, ValueError, r"train_kwargs\['weight_decay'\] must be a number of at"),
        ({"train_kwargs": {"weight_decay": math.inf}}, ValueError, r"train_kwargs\['weight_decay'\] must be a number"),
        ({"train_kwargs": {"lr": "1e-3"}}, ValueError, r"train_kwargs\['lr'\] must be a positive number, got '1e-3'"),
        ({"train_kwargs": {"average_from": "0.5"}}, ValueError, r"train_kwargs\['average_from'\] must be in \[0, 1\)"),
        ({"encoder_kwargs": {"spatial_weight": None}}, ValueError, "spatial_weight must be a number of at least 0"),
        ({"encoder_kwargs": {"dicr_weight": -0.1}}, ValueError, "dicr_weight must be a number of at least 0, got -0.1"),
        ({"encoder": "contrastive", "encoder_kwargs": {"recon_weight": "10"}}, ValueError, "recon_weight must be a"),
    ],
)
def test_arguments_are_checked_before_any_work(tissue, no_work, kwargs, error, match):
    kwargs = {"n_clusters": 3, "n_epochs": 2, **kwargs}
    snap = _snapshot(tissue)
    with pytest.raises(error, match=match):
        sst.run_pipeline(tissue, **kwargs)
    _assert_untouched(tissue, snap)
    assert no_work == []


def test_a_missing_optional_clustering_package_is_found_before_any_work(tissue, no_work, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "mclust_py", None)  # import mclust_py now raises ImportError
    _fails_early(tissue, no_work, ImportError, r"semst_sc\[mclust\]", method="mclust")


def test_duplicate_spot_names(tissue):
    names = tissue.obs_names.to_numpy().copy()
    names[1] = names[0]
    tissue.obs_names = names
    _fails(tissue, ValueError, "obs_names_make_unique")


def test_ensembl_ids_without_symbols(tissue):
    tissue.var_names = [f"ENSG{i:011d}" for i in range(tissue.n_vars)]
    del tissue.var["gene_symbol"]
    _fails(tissue, ValueError, "gene_symbols=")


def test_ensembl_ids_without_a_symbol_column_fail_before_any_work_and_say_what_to_pass(tissue, no_work):
    """Space Ranger-like Ensembl IDs: the error came after prepare and the graphs (minutes on a large slide), named
    neither the var columns there are nor --no-semantics, which runs without symbols."""
    symbols = tissue.var_names.to_numpy()
    tissue.var_names = [f"ENSMUSG{i:011d}" for i in range(tissue.n_vars)]
    del tissue.var["gene_symbol"]
    tissue.var["gene_ids"] = tissue.var_names.to_numpy()
    _fails_early(
        tissue, no_work, ValueError, r"var columns: \['gene_ids'\]\); or semantics=False \(CLI: --no-semantics\)"
    )
    tissue.var["Symbol"] = symbols  # a symbol column spelled otherwise than those looked for: named in the error
    _fails_early(tissue, no_work, ValueError, r"Pass gene_symbols='Symbol' \(CLI: --gene-symbols Symbol; looked for")


def test_genes_without_any_symbol_are_refused_not_read_as_zero_vectors(tissue):
    """var_names all empty or missing: every spot's semantic vector was zero, with a warning only."""
    tissue.var_names = pd.Index([np.nan] * tissue.n_vars, dtype=object)
    match = r"none of the \d+ modelled genes has a symbol .* gene_symbols= .* semantics=False"
    _fails(tissue, ValueError, match)
    sst.pp.prepare(tissue)
    with pytest.raises(ValueError, match=match):
        sst.pp.gene_semantics(tissue)
    assert "X_semantic" not in tissue.obsm
    sst.pp.gene_semantics(tissue, gene_symbols="gene_symbol")


@pytest.mark.parametrize(
    ("transform", "match"),
    [
        (lambda x: x.log1p(), "log-transformed counts"),
        (lambda x: sp.csr_matrix(x.multiply(100 / x.sum(axis=1))), "normalised to one total per spot"),
        (lambda x: sp.csr_matrix(x.multiply(1e4 / x.sum(axis=1))).log1p(), "log-normalised to one total per spot"),
    ],
    ids=["log1p", "normalize_total", "normalize_total-log1p"],
)
def test_normalised_values_are_not_taken_for_counts(tissue, transform, match):
    raw = tissue.copy()
    tissue.X = transform(tissue.X.astype(np.float32))
    _fails(tissue, ValueError, f"non-integer values.*{match}")
    tissue.raw = raw  # scanpy's other layout: the counts kept in adata.raw
    _fails(tissue, ValueError, f"non-integer values.*{match}.*adata.raw holds counts: run on adata.raw.to_adata")


def test_log_normalised_values_are_refused_after_genes_were_left_out(tissue):
    """scanpy's usual order (normalise, log, keep the variable genes) left unequal totals: taken for counts before."""
    tissue.raw = tissue.copy()
    sc.pp.normalize_total(tissue, target_sum=1e4)
    sc.pp.log1p(tissue)
    sc.pp.highly_variable_genes(tissue, n_top_genes=tissue.n_vars // 2)
    subset = tissue[:, tissue.var["highly_variable"]].copy()
    match = "log-transformed counts scaled per spot.*adata.raw holds counts: run on adata.raw.to_adata"
    _fails(subset, ValueError, match)
    del subset.raw
    _fails(subset, ValueError, "log-transformed counts scaled per spot")


def test_counts_divided_by_cell_volume_are_modelled_with_a_warning(tissue):
    """As some MERFISH releases hold them: non-negative, non-integer, a different scale per cell."""
    volume = np.random.default_rng(0).uniform(0.5, 2.0, tissue.n_obs)
    tissue.X = sp.csr_matrix(tissue.X.multiply(1 / volume[:, None]), dtype=np.float32)
    logged = scanpy_warnings(lambda: sst.run_pipeline(tissue, 3, n_epochs=2))
    assert "non-integer values (counts divided by cell volume" in logged and "modelled as counts" in logged
    assert tissue.uns["semst_prepare"]["params"]["integer_counts"] is False
    assert tissue.obs["semst_domain"].nunique() == 3
    size = tissue.n_obs  # every cell pooled: that warning names the slide, this one still the matrix
    logged = scanpy_warnings(lambda: sst.pp.prepare(tissue, resolution="cell", neighbourhood_size=size))
    assert "pools every observation of the slide" in logged and "adata.X holds non-integer values" in logged


@pytest.mark.parametrize("transform", ["log-normalised", "scaled", "volume"])
def test_scanpy_layout_reads_the_counts_layer_with_a_warning(tissue, transform):
    """X normalised, log-transformed, scaled (or otherwise non-integer) and the raw counts in layers['counts']."""
    reference = sst.run_pipeline(tissue, 3, n_epochs=2, copy=True)
    counts = tissue.X.copy()
    tissue.layers["counts"] = counts
    if transform == "volume":
        tissue.X = sp.csr_matrix(counts.multiply(1 / np.linspace(0.5, 2.0, tissue.n_obs)[:, None]), dtype=np.float32)
    else:
        sc.pp.normalize_total(tissue, target_sum=1e4)
        sc.pp.log1p(tissue)
        if transform == "scaled":
            tissue.X = tissue.X.toarray()
            sc.pp.scale(tissue)
    X = sp.csr_matrix(tissue.X, copy=True)
    logged = scanpy_warnings(lambda: sst.run_pipeline(tissue, 3, n_epochs=2))
    assert "adata.X holds no raw counts" in logged and "layers['counts']" in logged
    assert tissue.uns["semst_prepare"]["params"]["layer"] == "counts"
    assert tissue.uns["semst_prepare"]["params"]["integer_counts"] is True
    np.testing.assert_array_equal(tissue.obs["semst_domain"], reference.obs["semst_domain"])
    assert (tissue.layers["counts"] != counts).nnz == 0  # the user's matrices untouched
    assert (sp.csr_matrix(tissue.X) != X).nnz == 0


def test_an_anndata_without_x_names_its_layers(tissue):
    """X=None (an AnnData of layers only) failed with numpy's "ufunc 'isfinite' not supported for the input types"."""
    layers_only = ad.AnnData(obs=tissue.obs, var=tissue.var, obsm=dict(tissue.obsm), layers={"raw": tissue.X})
    for step in (sst.pp.prepare, lambda a: sst.run_pipeline(a, 3, n_epochs=2)):
        with pytest.raises(ValueError, match=r"adata.X is empty \(None\): pass layer= .*; layers: \['raw'\]"):
            step(layers_only)
        assert layers_only.X is None and list(layers_only.layers) == ["raw"] and "semst_prepare" not in layers_only.uns
    sst.pp.prepare(layers_only, layer="raw")
    layers_only.layers["counts"] = layers_only.layers.pop("raw")  # scanpy's name: read without layer=
    assert "layers['counts']" in scanpy_warnings(lambda: sst.pp.prepare(layers_only))


def test_a_named_layer_is_never_swapped_for_the_counts_layer(tissue):
    tissue.layers["counts"] = tissue.X.copy()
    tissue.layers["normalised"] = sp.csr_matrix(tissue.X.multiply(1e4 / tissue.X.sum(axis=1)), dtype=np.float32)
    _fails(tissue, ValueError, r"layers\['normalised'\] holds non-integer values normalised", layer="normalised")


def test_negative_counts(tissue):
    tissue.X.data[0] = -1
    _fails(tissue, ValueError, "negative")


def test_all_zero_counts(tissue):
    tissue.X = sp.csr_matrix(tissue.shape, dtype=np.float32)
    _fails(tissue, ValueError, "counts are all zero")


def test_too_many_clusters(tissue):
    snap = _snapshot(tissue)
    with pytest.raises(ValueError, match="between 1 and the number of spots"):
        sst.run_pipeline(tissue, tissue.n_obs + 5, n_epochs=2)
    _assert_untouched(tissue, snap)


def test_model_that_cannot_load_offline(tissue, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    name = "no-such-org/no-such-model"
    _fails(tissue, ValueError, f"cannot load the model '{name}' offline", model=name)


def test_zero_count_spots_are_handled(tissue):
    """Documented handling: a warning, an all-zero encoder input, and a domain from the neighbours."""
    x = tissue.X.tolil()
    x[:4] = 0
    tissue.X = x.tocsr()
    out = sst.run_pipeline(tissue, 4, n_epochs=3, keep_intermediates=True, copy=True)
    assert np.isfinite(out.obsm["X_semst"]).all()
    assert out.obs["semst_domain"].notna().all()
    assert out.layers["semst_scaled"][:4].nnz == 0
    assert "semst_domain" not in tissue.obs


def test_copy_true_never_touches_the_input(tissue):
    snap = _snapshot(tissue)
    for step in (
        lambda a: sst.pp.prepare(a, copy=True),
        lambda a: sst.pp.spatial_graph(a, copy=True),
    ):
        assert step(tissue) is not None
        _assert_untouched(tissue, snap)
    prepared = sst.pp.prepare(tissue, n_top_genes=80, copy=True)
    sst.pp.spatial_graph(prepared)
    snap = _snapshot(prepared)
    out = sst.pp.feature_graph(prepared, copy=True)
    out = sst.pp.gene_semantics(out, copy=True)
    sst.pp.gene_semantics(prepared, copy=True)
    sst.tl.semst(out, n_epochs=2, copy=True)
    _assert_untouched(prepared, snap)
    assert "X_semst" not in out.obsm


def _arrays(matrix):
    return [np.array(a, copy=True) for a in (matrix.data, matrix.indices, matrix.indptr)]


def test_untidy_counts_and_weighted_graphs_are_read_never_rewritten(tissue):
    """scipy tidies a CSR in place; a matrix sharing the user's arrays must not be the one tidied."""
    x = tissue.X.tocsr()
    rows = np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))
    half = np.floor(x.data / 2).astype(np.float32)
    order = np.argsort(np.r_[rows, rows], kind="stable")  # each count split over two entries: a legal, untidy CSR
    untidy = sp.csr_matrix(
        (
            np.r_[x.data - half, half][order],
            np.r_[x.indices, x.indices][order],
            np.r_[0, np.cumsum(2 * np.diff(x.indptr))],
        ),
        shape=x.shape,
    )
    assert not untidy.has_canonical_format and (untidy != x).nnz == 0
    tissue.X = untidy
    before = _arrays(tissue.X)
    prepared = sst.pp.prepare(tissue, n_top_genes=80, copy=True)
    for now, then in zip(_arrays(tissue.X), before, strict=True):
        np.testing.assert_array_equal(now, then)
    tidy = tissue.copy()
    tidy.X = x
    assert (
        sst.pp.prepare(tidy, n_top_genes=80, copy=True).layers["semst_scaled"] != prepared.layers["semst_scaled"]
    ).nnz == 0
    for adata in (tissue, tidy):  # markers from the log of each count, not of its pieces
        adata.obs["semst_domain"] = adata.obs["domain"].astype(str)
        sst.tl.annotate_domains(adata, gene_text=False)
    columns = ["name", "markers", "confidence"]
    table, reference = (a.uns["semst_domain_annotation"]["domains"][columns] for a in (tissue, tidy))
    assert table.equals(reference)

    sst.pp.spatial_graph(prepared)
    graph = prepared.obsp["spatial_connectivities"]
    graph.data[:] = np.random.default_rng(0).uniform(0.1, 1, graph.nnz).astype(np.float32)  # as squidpy's weights
    weights = _arrays(graph)
    sst.pp.feature_graph(prepared)
    out = sst.tl.semst(prepared, n_epochs=2, semantic_key=None, copy=True)
    sst.tl.semst(prepared, n_epochs=2, semantic_key=None)
    for adata in (prepared, out):
        for now, then in zip(_arrays(adata.obsp["spatial_connectivities"]), weights, strict=True):
            np.testing.assert_array_equal(now, then)
    assert np.isfinite(prepared.obsm["X_semst"]).all()


@pytest.mark.parametrize("module", ["_cluster", "_refine"])
def test_cluster_and_refine_write_nothing_until_their_work_is_done(processed, monkeypatch, module):
    """The labels are written with their params, after the last check, never before it."""
    import importlib

    def fail(*args, **kwargs):
        raise RuntimeError("injected failure in the last check")

    monkeypatch.setattr(importlib.import_module(f"semst_sc.tl.{module}"), "warn_of_other_domains", fail)
    snap, params = _snapshot(processed), dict(processed.uns["semst_domain"]["params"])
    step = {"_cluster": lambda: sst.tl.cluster(processed, 3, rng=0), "_refine": lambda: sst.tl.refine(processed)}
    with pytest.raises(RuntimeError, match="injected"):
        step[module]()
    _assert_untouched(processed, snap)
    assert processed.uns["semst_domain"]["params"] == params


def test_counts_of_things_are_integers(processed):
    """A bool or a fraction where a count belongs is refused with the same message everywhere."""
    calls = {
        "n_epochs": lambda v: sst.tl.semst(processed, n_epochs=v, copy=True),
        "n_top_genes": lambda v: sst.pp.prepare(processed, n_top_genes=v, copy=True),
        "n_genes": lambda v: sst.tl.query(processed, "myelination", n_genes=v, gene_text=False),
        "n_markers": lambda v: sst.tl.annotate_domains(processed, n_markers=v, gene_text=False, copy=True),
        "sample_size": lambda v: sst.tl.cluster(processed, 3, sample_size=v, copy=True),
        # these two truncated 6.7 to 6 and built a 1-NN graph of True, or failed inside sklearn
        "n_neighbors": lambda v: sst.pp.spatial_graph(processed, n_neighbors=v, copy=True),
        "n_comps": lambda v: sst.pp.feature_graph(processed, n_comps=v, copy=True),
        "batch_size": lambda v: sst.pp.gene_semantics(processed, model=CountingEncoder(), batch_size=v, copy=True),
    }
    for name, call in calls.items():
        for bad in (True, 2.5, 0):
            with pytest.raises(ValueError, match=rf"{name} must be a positive integer"):
                call(bad)
    with pytest.raises(ValueError, match=r"n_neighbors must be a positive integer, got 2.5"):
        sst.pp.feature_graph(processed, n_neighbors=2.5, copy=True)
    with pytest.raises(ValueError, match=r"n_terms must be a non-negative integer, got -1"):
        sst.tl.annotate_domains(processed, n_terms=-1, gene_text=False, copy=True)
    for name, call in {
        "min_cells": lambda: sst.pp.prepare(processed, min_cells=-1, copy=True),
        "rng": lambda: sst.pp.feature_graph(processed, rng=-1, copy=True),
    }.items():
        with pytest.raises(ValueError, match=rf"{name} must be a non-negative integer( \(or None\))?, got -1"):
            call()
    for bad in (float("nan"), "100", True, -1.0):
        with pytest.raises(ValueError, match=r"radius must be a positive number"):
            sst.pp.spatial_graph(processed, radius=bad, copy=True)
    for bad in (-0.1, 1.5, "0.2"):
        with pytest.raises(ValueError, match=r"min_confidence must be a number in \[0, 1\]"):
            sst.tl.annotate_domains(processed, min_confidence=bad, gene_text=False, copy=True)


def test_a_spatial_graph_without_edges_is_refused(tissue):
    """A squidpy radius graph shorter than the spacing had no edge: the model trained with no spatial information."""
    tissue.obsp["spatial_connectivities"] = sp.csr_matrix((tissue.n_obs, tissue.n_obs), dtype=np.float32)
    # the fix named n_neighbors= only, which run_pipeline calls spatial_neighbors= and the CLI does not take
    fix = r"n_neighbors= \(run_pipeline: spatial_neighbors=\), or delete obsp\['spatial_connectivities'\] to have"
    _fails(tissue, ValueError, r"existing spatial graph obsp\['spatial_connectivities'\] has no edges.*" + fix)
    with pytest.raises(ValueError, match=r"radius=1e-06 has no edges.*increase radius"):
        sst.pp.spatial_graph(tissue, radius=1e-6)
    some = sp.lil_matrix((tissue.n_obs, tissue.n_obs), dtype=np.float32)
    some[0, 1] = some[1, 0] = 1
    tissue.obsp["spatial_connectivities"] = some.tocsr()
    logged = scanpy_warnings(lambda: sst.pp.spatial_graph(tissue))
    assert f"{tissue.n_obs - 2} spots have no spatial neighbour in the existing spatial graph" in logged
    assert "delete obsp['spatial_connectivities'] to have the default one built" in logged
    del tissue.obsp["spatial_connectivities"]
    sst.pp.spatial_graph(tissue)
    assert tissue.uns["spatial_neighbors"]["params"]["n_neighbors"] == 6


@pytest.mark.parametrize(("bad", "message"), [(np.nan, "NaN or infinite"), (-5.0, "negative values")])
def test_counts_are_checked_for_nan_and_negatives_to_the_last_value(bad, message):
    """The check read the first 5,000,000 values only: a NaN beyond them gave a NaN encoder input, silently."""
    x = sp.csr_matrix(np.ones((2600, 2000), dtype=np.float32))  # 5.2 million stored values, as a Visium slide holds
    x.data[-1] = bad
    slide = ad.AnnData(x, obsm={"spatial": np.random.default_rng(0).uniform(0, 1000, (2600, 2))})
    with pytest.raises(ValueError, match=message):
        sst.pp.prepare(slide)
    assert "semst_scaled" not in slide.layers


def test_semst_train_kwargs_that_are_not_a_dict_are_named(processed):
    """tl.semst(train_kwargs='abc') said "unknown train_kwargs ['a', 'b', 'c']"; run_pipeline said what was wrong."""
    for bad in ("abc", [1], 0.5):
        with pytest.raises(TypeError, match="train_kwargs must be a dict of tl.semst training settings"):
            sst.tl.semst(processed, train_kwargs=bad, copy=True)


def test_a_slide_of_control_probes_alone_says_no_gene_was_read(tissue):
    """Only control features: the error said 'lower min_cells', a fix that cannot help."""
    from fakes import CONTROL_PROBES, with_control_probes

    probes = with_control_probes(tissue, np.ones(tissue.n_obs, dtype=bool))[:, CONTROL_PROBES].copy()
    with pytest.raises(ValueError, match=f"every one of the {len(CONTROL_PROBES)} features is a control probe"):
        sst.pp.prepare(probes)
