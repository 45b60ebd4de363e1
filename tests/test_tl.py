import importlib.util
import math

import numpy as np
import pytest
import scipy.sparse as sp
from fakes import on_a_view
from sklearn.metrics import adjusted_rand_score

import semst_sc as sst

needs_mclust = pytest.mark.skipif(
    importlib.util.find_spec("mclust_py") is None, reason="pymclustr (optional, pip install semst_sc[mclust])"
)
METHODS = ["gmm", "kmeans", "leiden", pytest.param("mclust", marks=needs_mclust)]


def _ready(tissue):
    sst.pp.prepare(tissue, n_top_genes=200)
    sst.pp.spatial_graph(tissue)
    sst.pp.feature_graph(tissue)
    sst.pp.gene_semantics(tissue)
    return tissue


def test_semst_writes_embedding_and_history(processed):
    z = processed.obsm["X_semst"]
    assert z.shape == (processed.n_obs, 128) and z.dtype == np.float32 and np.isfinite(z).all()
    info = processed.uns["semst"]
    assert info["params"]["n_epochs"] == 40 and info["params"]["semantic_key"] == "X_semantic"
    history = info["loss_history"]
    assert set(history) == {"total", "zinb", "spatial", "dicr"} and len(history["total"]) == 40
    assert history["total"][-5:].mean() < history["total"][:5].mean()


def test_semst_same_rng_same_embedding(tissue):
    tissue = _ready(tissue)
    a = sst.tl.semst(tissue, n_epochs=5, rng=3, copy=True)
    b = sst.tl.semst(tissue, n_epochs=5, rng=3, copy=True)
    c = sst.tl.semst(tissue, n_epochs=5, rng=4, copy=True)
    np.testing.assert_array_equal(a.obsm["X_semst"], b.obsm["X_semst"])
    assert not np.allclose(a.obsm["X_semst"], c.obsm["X_semst"])
    assert "X_semst" not in tissue.obsm  # copy=True leaves the input alone
    import torch

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    d = sst.tl.semst(tissue, n_epochs=5, rng=3, copy=True)
    assert torch.equal(torch.rand(3), expected)  # the caller's torch random state is left as it was
    np.testing.assert_array_equal(a.obsm["X_semst"], d.obsm["X_semst"])  # and does not reach the training
    for seed in np.arange(3, 4):  # a seed from numpy, as a loop over seeds gives it
        e = sst.tl.semst(tissue, n_epochs=5, rng=seed, copy=True)
        np.testing.assert_array_equal(a.obsm["X_semst"], e.obsm["X_semst"])
    for bad in (None, -1, 2.5):
        with pytest.raises(ValueError, match="rng must be a non-negative integer"):
            sst.tl.semst(tissue, n_epochs=5, rng=bad, copy=True)


def test_semst_refuses_graphs_and_semantics_of_an_earlier_prepare(tissue, tmp_path):
    import anndata as ad

    tissue = _ready(tissue)
    stamp = tissue.uns["semst_prepare"]["params"]["stamp"]
    sst.pp.prepare(tissue, n_top_genes=200)  # the same again: the same input, nothing stale
    assert tissue.uns["semst_prepare"]["params"]["stamp"] == stamp
    sst.tl.semst(tissue, n_epochs=2)
    sst.pp.prepare(tissue, n_top_genes=50)  # other genes: the expression graph and the semantic vectors are stale
    stale = r"expression graph 'semst_feature' was built on an earlier run of sst.pp.prepare .*: run sst.pp.feature_"
    with pytest.raises(ValueError, match=stale + r"graph\(adata\) again$"):  # it said ": sst.pp.feature_graph(adata)"
        sst.tl.semst(tissue, n_epochs=2)
    sst.pp.feature_graph(tissue)
    with pytest.raises(ValueError, match="obsm\\['X_semantic'\\] was built on an earlier.*run sst.pp.gene_semantics"):
        sst.tl.semst(tissue, n_epochs=2, encoder="contrastive")  # no expression graph there: the vectors alone
    sst.pp.gene_semantics(tissue)
    tissue.write_h5ad(tmp_path / "ready.h5ad")  # the fingerprints survive a round trip
    sst.tl.semst(ad.read_h5ad(tmp_path / "ready.h5ad"), n_epochs=2)


@pytest.mark.parametrize(("encoder", "lr"), [("dual", 1.0), ("contrastive", 1e3)])
def test_diverging_training_says_so_and_how_to_fix_it(tissue, encoder, lr):
    tissue = _ready(tissue)
    with pytest.raises(FloatingPointError, match="training diverged at step .*lower the learning rate, now"):
        sst.tl.semst(tissue, encoder=encoder, n_epochs=20, train_kwargs={"lr": lr})
    assert "X_semst" not in tissue.obsm and "semst" not in tissue.uns  # nothing half-written


def test_contrastive_encoder_defaults_follow_graphst(tissue):
    from semst_sc.nn import standardised_log

    counts = np.random.default_rng(0).poisson(3.0, (200, 8)).astype(np.float32)
    counts[:, 0], counts[0, 0] = 0, 50  # a gene seen in one spot only: clipped at 10 standard deviations
    x = standardised_log(counts)
    assert x.max() == 10
    logged = np.log1p(counts / counts.sum(axis=1, keepdims=True) * 1e4)
    expected = np.clip((logged - logged.mean(0)) / logged.std(0), -10, 10)
    np.testing.assert_allclose(x, expected, rtol=1e-5, atol=1e-5)
    tissue = _ready(tissue)
    out = sst.tl.semst(tissue, encoder="contrastive", copy=True)
    params = out.uns["semst"]["params"]
    assert params["n_epochs"] == 300 and params["weight_decay"] == 0.0
    assert len(out.uns["semst"]["loss_history"]["total"]) == 300
    assert out.obsm["X_semst"].shape == (tissue.n_obs, int(tissue.var["semst_modelled"].sum()))
    dual = sst.tl.semst(tissue, n_epochs=2, copy=True).uns["semst"]["params"]
    assert dual["weight_decay"] == 5e-4


def test_semst_without_semantics_and_missing_inputs(tissue):
    sst.pp.prepare(tissue, n_top_genes=100)
    with pytest.raises(KeyError, match=r"sst.pp.spatial_graph"):
        sst.tl.semst(tissue, n_epochs=2)
    sst.pp.spatial_graph(tissue)
    sst.pp.feature_graph(tissue)
    with pytest.raises(KeyError, match=r"sst.pp.gene_semantics"):
        sst.tl.semst(tissue, n_epochs=2)
    tissue.obsm["X_semantic"] = np.full((tissue.n_obs, 8), np.nan, dtype=np.float32)
    with pytest.raises(ValueError, match=r"obsm\['X_semantic'\] has NaN.*gene_semantics"):
        sst.tl.semst(tissue, n_epochs=2)
    sst.tl.semst(tissue, n_epochs=2, semantic_key=None)
    assert tissue.uns["semst"]["params"]["semantic_key"] == ""  # none (.h5ad stores no None)


@pytest.mark.parametrize(
    ("key_added", "message"),
    [
        ("spatial", r"overwrite obsm\['spatial'\], the spatial coordinates"),
        ("X_semantic", r"overwrite obsm\['X_semantic'\], the semantic vectors"),
        ("X_spatial", r"overwrite uns\['spatial'\], which sst.tl.semst did not write"),  # squidpy's images
        ("", "key_added must be an obsm key"),  # an .h5ad cannot store an empty key
        ("X_", "key_added must be an obsm key"),
    ],
)
def test_semst_refuses_a_key_added_that_overwrites_inputs_or_other_outputs(tissue, key_added, message):
    tissue = _ready(tissue)
    tissue.uns["spatial"] = {"library": {"scalefactors": {"spot_diameter_fullres": 1.0}}}
    before = [(tissue.obsm, dict(tissue.obsm)), (tissue.uns, dict(tissue.uns))]
    with pytest.raises(ValueError, match=message):
        sst.tl.semst(tissue, n_epochs=2, key_added=key_added)
    for now, then in before:  # nothing written
        assert now.keys() == then.keys() and all(now[key] is value for key, value in then.items())
    sst.tl.semst(tissue, n_epochs=2, key_added="X_other")
    sst.tl.semst(tissue, n_epochs=2, key_added="X_other")  # an earlier embedding of its own is replaced
    assert tissue.uns["other"]["params"]["n_epochs"] == 2


def test_semst_on_a_view_writes_to_it_silently_and_leaves_the_parent(tissue):
    sst.pp.prepare(tissue, n_top_genes=50)
    sst.pp.spatial_graph(tissue)
    sst.pp.feature_graph(tissue)
    view, _ = on_a_view(tissue, lambda v: sst.tl.semst(v, n_epochs=2, semantic_key=None))
    assert view.obsm["X_semst"].shape[0] == view.n_obs and len(view.uns["semst"]["loss_history"]["total"]) == 2


def test_semst_reads_the_counts_where_prepare_found_them(tissue):
    import scanpy as sc

    tissue.layers["raw"] = tissue.X.copy()
    sst.pp.prepare(tissue, n_top_genes=100, layer="raw")
    sst.pp.spatial_graph(tissue)
    sst.pp.feature_graph(tissue)
    sc.pp.normalize_total(tissue)  # the usual scanpy steps on X, after prepare: no matter, the counts are in "raw"
    sc.pp.log1p(tissue)
    a = sst.tl.semst(tissue, n_epochs=2, semantic_key=None, copy=True)
    tissue.X = tissue.layers["raw"].copy()
    b = sst.tl.semst(tissue, n_epochs=2, semantic_key=None, copy=True)
    np.testing.assert_array_equal(a.obsm["X_semst"], b.obsm["X_semst"])

    sst.pp.prepare(tissue, n_top_genes=100)  # the counts in X, then normalised in place: a clear error
    sc.pp.normalize_total(tissue)
    with pytest.raises(ValueError, match=r"sst.pp.prepare\(adata\) read the raw counts in adata.X"):
        sst.tl.semst(tissue, n_epochs=2, semantic_key=None)
    sst.pp.prepare(tissue, n_top_genes=100, layer="raw")
    del tissue.layers["raw"]
    with pytest.raises(KeyError, match=r"layers\['raw'\] not found: sst.pp.prepare\(adata, layer='raw'\)"):
        sst.tl.semst(tissue, n_epochs=2, semantic_key=None)


def test_semst_beats_non_spatial_baseline_on_simulation(processed):
    import scanpy as sc
    from sklearn.mixture import GaussianMixture

    k = processed.obs["domain"].nunique()
    base = processed.copy()
    sc.pp.normalize_total(base)
    sc.pp.log1p(base)
    sc.pp.pca(base, n_comps=30, mask_var="semst_modelled")
    labels = GaussianMixture(k, covariance_type="tied", n_init=3, random_state=0).fit_predict(base.obsm["X_pca"])
    baseline = adjusted_rand_score(processed.obs["domain"], labels)
    ours = sst.metrics.evaluate(processed, "domain")["ari"]
    assert ours > baseline + 0.05, (ours, baseline)


@pytest.mark.parametrize("method", METHODS)
def test_cluster_reaches_k_and_is_deterministic(processed, method):
    a = sst.tl.cluster(processed, 5, method=method, rng=1, copy=True)
    b = sst.tl.cluster(processed, 5, method=method, rng=1, copy=True)
    labels = a.obs["semst_domain"]
    assert labels.dtype == "category" and labels.nunique() == 5
    np.testing.assert_array_equal(labels.to_numpy(), b.obs["semst_domain"].to_numpy())
    sizes = labels.value_counts().reindex(labels.cat.categories).to_numpy()
    assert (np.diff(sizes) <= 0).all()  # "0" is the largest domain
    params = a.uns["semst_domain"]["params"]
    assert params["method"] == method
    # the params record what was applied: leiden reads the embedding as is, without the PCA or a sample
    assert (params["n_pcs"], params["sample_size"]) == ((None, None) if method == "leiden" else (20, 100_000))
    assert "semst_domain" not in processed.obs or processed.obs["semst_domain"].nunique() != 5


@pytest.mark.parametrize("method", METHODS)
def test_cluster_estimates_k(processed, method):
    out = sst.tl.cluster(processed, None, method=method, max_clusters=9, copy=True)
    params = out.uns["semst_domain"]["params"]
    assert params["n_clusters"] is None and "estimated_by" in params
    assert 2 <= params["n_found"] <= (9 if method != "leiden" else processed.n_obs)
    truth = processed.obs["domain"].nunique()
    if method == "gmm":
        assert abs(params["n_found"] - truth) <= 3


def _blobs(centres, sizes, rng=0):
    """Gaussian blobs in 2-D sharing one full covariance, as an AnnData with the points as its embedding."""
    import anndata as ad

    gen = np.random.default_rng(rng)
    cov = np.array([[1.0, 0.6], [0.6, 1.0]])
    x = np.vstack([gen.multivariate_normal(c, cov, n) for c, n in zip(centres, sizes, strict=True)])
    truth = np.repeat(np.arange(len(sizes)), sizes)
    return ad.AnnData(np.zeros((len(x), 1), np.float32), obsm={"X_semst": x}), truth


@needs_mclust
def test_mclust_eee_recovers_blobs_with_a_shared_covariance():
    import mclust_py

    adata, truth = _blobs([[0, 0], [8, 0]], [150, 100])
    out = sst.tl.cluster(adata, 2, method="mclust", rng=0, copy=True)
    labels = out.obs["semst_domain"].astype(int).to_numpy()
    assert adjusted_rand_score(truth, labels) == 1.0
    params = out.uns["semst_domain"]["params"]
    assert params["method"] == "mclust" and params["model_name"] == "EEE" and params["fitted_on"] == 250
    # the same fit as mclust's own Mclust(G=2, modelNames="EEE"): the fitted shared covariance and proportions
    fit = mclust_py.Mclust(adata.obsm["X_semst"], G=2, model_names=["EEE"])
    assert params["loglik"] == pytest.approx(fit.loglik)
    np.testing.assert_allclose(fit.sigma[:, :, 0], fit.sigma[:, :, 1])
    np.testing.assert_allclose(fit.sigma[:, :, 0], [[1.0, 0.6], [0.6, 1.0]], atol=0.15)
    np.testing.assert_allclose(np.sort(fit.pro), [0.4, 0.6], atol=1e-6)
    # under 2000 spots EM starts from the hierarchical clustering of all of them: the seed changes nothing
    again = sst.tl.cluster(adata, 2, method="mclust", rng=5, copy=True)
    np.testing.assert_array_equal(again.obs["semst_domain"].to_numpy(), out.obs["semst_domain"].to_numpy())


@needs_mclust
def test_mclust_estimates_k_by_its_bic():
    adata, truth = _blobs([[0, 0], [8, 0], [0, 8]], [120, 100, 80])
    out = sst.tl.cluster(adata, None, method="mclust", max_clusters=6, copy=True)
    params = out.uns["semst_domain"]["params"]
    assert params["estimated_by"] == "mclust BIC" and params["n_found"] == 3
    assert adjusted_rand_score(truth, out.obs["semst_domain"].to_numpy()) == 1.0
    assert sorted(params["bic"], key=int) == ["2", "3", "4", "5", "6"]
    assert min(params["bic"], key=params["bic"].get) == "3"
    # mclust's BIC, 2 loglik - (K d + d (d + 1) / 2 + K - 1) log n, stored with scikit-learn's sign
    fixed = sst.tl.cluster(adata, 3, method="mclust", copy=True).uns["semst_domain"]["params"]
    n_params = 3 * 2 + 3 + 2
    assert params["bic"]["3"] == pytest.approx(-(2 * fixed["loglik"] - n_params * math.log(300)))


@needs_mclust
def test_mclust_seeds_em_from_a_random_subset_of_large_data(monkeypatch):
    from semst_sc.tl import _cluster

    monkeypatch.setattr(_cluster, "_MCLUST_HC_SUBSET", 60)  # as R's mclust.options(subset=) above 2000 spots
    adata, truth = _blobs([[0, 0], [8, 0]], [150, 100])
    a = sst.tl.cluster(adata, 2, method="mclust", rng=3, copy=True)
    b = sst.tl.cluster(adata, 2, method="mclust", rng=3, copy=True)
    np.testing.assert_array_equal(a.obs["semst_domain"].to_numpy(), b.obs["semst_domain"].to_numpy())
    assert adjusted_rand_score(truth, a.obs["semst_domain"].to_numpy()) == 1.0


@needs_mclust
def test_mclust_model_name_is_checked_and_used():
    adata, truth = _blobs([[0, 0], [8, 0]], [150, 100])
    with pytest.raises(ValueError, match="model_name"):
        sst.tl.cluster(adata, 2, method="mclust", model_name="XYZ")
    out = sst.tl.cluster(adata, 2, method="mclust", model_name="VVV", copy=True)
    assert out.uns["semst_domain"]["params"]["model_name"] == "VVV"
    assert adjusted_rand_score(truth, out.obs["semst_domain"].to_numpy()) == 1.0
    for method in ("gmm", "kmeans"):  # fitted one shared covariance (or none) whatever the model asked for
        with pytest.raises(ValueError, match="model_name='VVV' is read by method='mclust' only"):
            sst.tl.cluster(adata, 2, method=method, model_name="VVV")


@needs_mclust
def test_mclust_on_one_dimension_names_the_models_that_fit():
    adata, _ = _blobs([[0, 0], [8, 0]], [30, 30])
    with pytest.raises(ValueError, match=r"'EEE' is multivariate .* 1 dimension\(s\): pass a univariate model_name"):
        sst.tl.cluster(adata, 2, method="mclust", n_pcs=1)
    with pytest.raises(ValueError, match=r"'V' is univariate .* have 2 dimension\(s\): pass a multivariate .*n_pcs=1"):
        sst.tl.cluster(adata, 2, method="mclust", model_name="V")
    sst.tl.cluster(adata, 2, method="mclust", model_name="V", n_pcs=1)
    assert adata.obs["semst_domain"].nunique() == 2


def test_mclust_missing_says_how_to_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "mclust_py", None)  # import mclust_py now raises ImportError
    adata, _ = _blobs([[0, 0], [8, 0]], [30, 30])
    with pytest.raises(ImportError, match=r"semst_sc\[mclust\]"):
        sst.tl.cluster(adata, 2, method="mclust")


def test_refine_majority_vote_rule():
    import scipy.sparse as sp

    from semst_sc.tl._refine import majority_vote

    labels = np.array([0, 0, 0, 1, 0, 2, 2])
    edges = [(3, 0), (3, 1), (3, 2), (3, 4), (0, 1), (1, 2), (2, 4), (4, 0), (5, 6), (5, 0)]
    rows, cols = zip(*(edges + [(j, i) for i, j in edges]), strict=True)
    graph = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(7, 7))
    refined = majority_vote(labels, graph)
    assert refined[3] == 0  # outvoted by all four neighbours
    assert refined[5] == 2  # a tie is no majority: the spot keeps its label
    assert (refined[[0, 1, 2, 4, 6]] == labels[[0, 1, 2, 4, 6]]).all()
    graph[5, 6] = 0  # a stored zero (an empty cell's weight in a pooled neighbourhood): no vote
    assert graph.nnz == len(rows)
    assert majority_vote(labels, graph)[5] == 0  # now outvoted by its one neighbour, where 6 made it a tie


def test_refine_in_cluster(processed):
    raw = sst.tl.cluster(processed, 7, method="kmeans", copy=True).obs["semst_domain"]
    refined = sst.tl.cluster(processed, 7, method="kmeans", refine=True, copy=True)
    assert refined.uns["semst_domain"]["params"]["refine"] is True
    changed = adjusted_rand_score(raw, refined.obs["semst_domain"])
    assert 0.5 < changed < 1  # a few outvoted spots move, the domains stay


def test_cluster_on_a_view_writes_to_it_silently_and_leaves_the_parent(processed):
    view, _ = on_a_view(processed, lambda v: sst.tl.cluster(v, 3, method="kmeans"))
    assert view.obs["semst_domain"].nunique() == 3 and view.uns["semst_domain"]["params"]["method"] == "kmeans"
    assert processed.uns["semst_domain"]["params"]["method"] == "gmm"


def test_cluster_copy_of_a_view_is_actual_and_leaves_the_view(processed):
    _, out = on_a_view(processed, lambda v: sst.tl.cluster(v, 3, method="kmeans", copy=True), copy=True)
    assert out.obs["semst_domain"].nunique() == 3


def test_cluster_rejects_bad_arguments(processed):
    with pytest.raises(ValueError, match="between 1 and the number of spots"):
        sst.tl.cluster(processed, processed.n_obs + 1)
    with pytest.raises(ValueError, match="method"):
        sst.tl.cluster(processed, 3, method="dbscan")
    with pytest.raises(KeyError, match="X_other"):
        sst.tl.cluster(processed, 3, use_rep="X_other")
    for kwargs in ({"n_clusters": 2.5}, {"n_clusters": "4"}, {"n_clusters": True}, {"n_pcs": 0}):
        name = next(iter(kwargs))
        with pytest.raises(ValueError, match=rf"{name} must be a positive integer \(or None\)"):
            sst.tl.cluster(processed, **{"n_clusters": 3, **kwargs})


@pytest.mark.parametrize("method", METHODS)
def test_cluster_reads_a_sparse_embedding_and_refuses_one_without_columns(method):
    adata, truth = _blobs([[0, 0], [8, 0]], [30, 30])
    adata.obsm["sparse"] = sp.csr_matrix(adata.obsm["X_semst"])  # failed: 'setting an array element with a sequence'
    dense = sst.tl.cluster(adata, 2, method=method, copy=True).obs["semst_domain"]
    sst.tl.cluster(adata, 2, method=method, use_rep="sparse")
    np.testing.assert_array_equal(adata.obs["semst_domain"].to_numpy(), dense.to_numpy())
    adata.obsm["empty"] = np.zeros((adata.n_obs, 0))  # scikit-learn's 'Found array with 0 feature(s)'; mclust wrote 1
    with pytest.raises(ValueError, match=r"obsm\['empty'\] has no columns: give use_rep an embedding"):
        sst.tl.cluster(adata, 2, method=method, use_rep="empty", n_pcs=None)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_cluster_names_the_spots_of_a_non_finite_embedding_and_the_fix(bad):
    adata, _ = _blobs([[0, 0], [8, 0]], [30, 30])
    adata.obsm["X_pca"] = adata.obsm["X_semst"].copy()
    adata.obsm["X_pca"][[3, 7], 1] = bad
    # it said only "obsm['X_pca'] has NaN or infinite values"
    match = r"obsm\['X_pca'\] has NaN or infinite values in 2 spots \(first: '3'\): compute it again \(the step"
    with pytest.raises(ValueError, match=match):
        sst.tl.cluster(adata, 2, use_rep="X_pca")
    assert "semst_domain" not in adata.obs


@pytest.mark.parametrize("rng", [None, -1, 1.5, np.random.default_rng(0)])
def test_cluster_takes_a_seed_as_the_other_steps(rng):
    adata, _ = _blobs([[0, 0], [8, 0]], [30, 30])
    # None clustered with a fresh seed each time (recorded as None), the others failed with scikit-learn's message
    with pytest.raises(ValueError, match="rng must be a non-negative integer"):
        sst.tl.cluster(adata, 2, method="kmeans", rng=rng)
    assert "semst_domain" not in adata.obs


@pytest.mark.parametrize("method", METHODS)
def test_cluster_says_it_needs_three_spots_and_an_estimate_three_fitted(method):
    for n in (1, 2):  # each method failed its own way: scanpy's or scikit-learn's error, an SVD, 'max_clusters ...'
        adata, _ = _blobs([[0, 0]], [n])
        for n_clusters in (None, 1, n):
            with pytest.raises(ValueError, match=f"clustering needs at least 3 spots, the data have {n}: check"):
                sst.tl.cluster(adata, n_clusters, method=method)
    adata, _ = _blobs([[0, 0], [8, 0]], [30, 30])
    if method != "gmm":  # gmm's estimate reads the spatial graph first
        with pytest.raises(ValueError, match="sample_size=2 spots cannot estimate the number of domains: give at"):
            sst.tl.cluster(adata, method=method, sample_size=2)
    with pytest.raises(ValueError, match="max_clusters must be an integer of at least 2, got 1"):
        sst.tl.cluster(adata, method=method, max_clusters=1)
    sst.tl.cluster(adata, 2, method=method, max_clusters=1)  # not read with n_clusters given
    assert adata.obs["semst_domain"].nunique() == 2


@pytest.mark.filterwarnings("ignore:Number of distinct clusters")  # sklearn's own, about the identical points
def test_cluster_warns_when_it_finds_fewer_domains_than_asked(processed):
    from fakes import scanpy_warnings

    processed.obsm["X_same"] = np.ones((processed.n_obs, 4))
    logged = scanpy_warnings(lambda: sst.tl.cluster(processed, 5, use_rep="X_same", method="kmeans", n_pcs=None))
    assert "1 domains found of the 5 asked" in logged


@pytest.mark.filterwarnings("ignore:Number of distinct clusters")
def test_kmeans_estimates_on_identical_spots(processed):
    from fakes import scanpy_warnings

    processed.obsm["X_same"] = np.ones((processed.n_obs, 4))  # failed: scikit-learn's 'Number of labels is 1'
    logged = scanpy_warnings(lambda: sst.tl.cluster(processed, use_rep="X_same", method="kmeans", max_clusters=4))
    assert processed.obs["semst_domain"].nunique() == 1 and "the smallest one tried" in logged
    assert processed.uns["semst_domain"]["params"]["scores"] == {"2": 0.0, "3": 0.0, "4": 0.0}


def test_cluster_on_a_sample_smaller_than_its_components(processed):
    sst.tl.cluster(processed, 3, sample_size=10, n_pcs=20)
    assert processed.obs["semst_domain"].nunique() == 3
    assert processed.uns["semst_domain"]["params"]["fitted_on"] == 10
    with pytest.raises(ValueError, match="sample_size=3 spots cannot fit 5 domains"):
        sst.tl.cluster(processed, 5, sample_size=3)


def test_the_number_of_domains_is_not_estimated_on_a_graph_without_edges(processed):
    processed.obsp["lonely_connectivities"] = sp.csr_matrix((processed.n_obs, processed.n_obs))  # no edge (a user's)
    with pytest.raises(ValueError, match="obsp\\['lonely_connectivities'\\] has no edges.*or give n_clusters"):
        sst.tl.cluster(processed, connectivity_key="lonely")
    sst.tl.cluster(processed, 4, connectivity_key="lonely", refine=True)  # a given number needs no coherence


def test_public_refine_matches_cluster_refine_and_keeps_the_input(processed):
    raw = sst.tl.cluster(processed, 7, method="kmeans", copy=True)
    in_cluster = sst.tl.cluster(processed, 7, method="kmeans", refine=True, copy=True).obs["semst_domain"]
    before = raw.obs["semst_domain"].copy()
    out = sst.tl.refine(raw, key_added="refined", copy=True)
    assert (raw.obs["semst_domain"] == before).all() and "refined" not in raw.obs  # copy=True leaves the input
    # cluster(refine=True) renumbers by size afterwards: compare partitions, not names
    assert adjusted_rand_score(out.obs["refined"], in_cluster) == 1.0
    assert out.uns["refined"]["params"]["n_changed"] == int((out.obs["refined"] != before).sum()) > 0
    sst.tl.refine(raw)  # in place: the clustering's params say the domains are refined, and over which graph
    params = raw.uns["semst_domain"]["params"]
    assert params["refine"] is True and params["refined_over"] == "spatial_connectivities" and params["n_changed"] > 0
    assert params["method"] == "kmeans" and "domain_key" not in params  # the clustering's params, updated
    sst.tl.refine(out, domain_key="refined")  # a refinement refined again: its own params, not a clustering's
    assert out.uns["refined"]["params"]["domain_key"] == "refined" and "refine" not in out.uns["refined"]["params"]
    with pytest.raises(KeyError, match="tl.cluster"):
        sst.tl.refine(raw, domain_key="nope")
    with pytest.raises(KeyError, match="spatial_graph"):
        sst.tl.refine(raw, connectivity_key="nope")


def test_refine_in_place_counts_the_domains_a_vote_leaves(processed):
    """A domain the vote empties keeps its category, and the clustering's n_found said it was still found."""
    sst.tl.cluster(processed, 7, method="kmeans", rng=0)
    domains = processed.obs["semst_domain"].cat.add_categories("7")
    domains.iloc[0] = "7"  # one spot alone in a domain of its own: the vote gives it to its neighbours
    processed.obs["semst_domain"] = domains
    processed.uns["semst_domain"]["params"]["n_found"] = 8
    sst.tl.refine(processed)
    assert processed.obs["semst_domain"].iloc[0] != "7" and "7" in processed.obs["semst_domain"].cat.categories
    found = processed.obs["semst_domain"].nunique()
    assert processed.uns["semst_domain"]["params"]["n_found"] == found <= 7


class _SmoothMLP(__import__("semst_sc").nn.SpotEncoder):
    """The encoder of docs/extending.md: one file, one registry line."""

    graphs = ("spatial",)
    input_transform = "scaled"
    n_epochs = 7
    weight_decay = 0.0

    def __init__(self, n_input, n_output, semantic_dim=None, *, latent_dim=4):
        import torch

        from semst_sc.nn import FSM

        super().__init__()
        self.mlp = torch.nn.Sequential(torch.nn.Linear(n_input, 16), torch.nn.ReLU(), torch.nn.Linear(16, latent_dim))
        self.fsm = None if semantic_dim is None else FSM(semantic_dim, latent_dim, head_dim=latent_dim)
        self.latent_dim = latent_dim

    @property
    def embedding_dim(self):
        return self.latent_dim

    def encode(self, batch):
        import torch

        return {"spatial": self.mlp(torch.sparse.mm(batch.adjacency["spatial"], batch.x["spatial"]))[: batch.n_seeds]}

    def fuse(self, views, semantic):
        return self.modulate(views["spatial"], semantic)

    def forward(self, batch):
        from semst_sc.nn import spatial_pair_loss

        loss = spatial_pair_loss(self.fuse(self.encode(batch), batch.seed_semantic()), batch.pairs, batch.negative)
        return {"pairs": loss, "total": loss}


def test_refine_on_a_view_writes_to_it_silently_and_leaves_the_parent(processed):
    view, _ = on_a_view(processed, sst.tl.refine)
    assert view.uns["semst_domain"]["params"]["refine"] is True
    assert "refined_over" in view.uns["semst_domain"]["params"]
    assert "refined_over" not in processed.uns["semst_domain"]["params"]


@pytest.mark.parametrize("minibatch", [False, True])
def test_a_registered_encoder_trains_through_tl_semst(tissue, monkeypatch, minibatch):
    from semst_sc import nn

    monkeypatch.setitem(nn.ENCODERS, "smooth_mlp", _SmoothMLP)
    tissue = _ready(tissue)
    del tissue.obsp["semst_feature_connectivities"]  # an encoder without the feature graph does not need it
    out = sst.tl.semst(
        tissue, encoder="smooth_mlp", encoder_kwargs={"latent_dim": 3}, train_kwargs={"minibatch": minibatch}, copy=True
    )
    params = out.uns["semst"]["params"]
    assert (
        out.obsm["X_semst"].shape == (tissue.n_obs, 3) and params["n_epochs"] == 7 and params["minibatch"] is minibatch
    )
    assert params["encoder"] == "smooth_mlp" and params["encoder_kwargs"] == {"latent_dim": 3}
    assert set(params) >= {"lr", "weight_decay", "input", "embedding", "connectivity_key"}
    instance = _SmoothMLP(int(tissue.var["semst_modelled"].sum()), 0, tissue.obsm["X_semantic"].shape[1])
    assert sst.tl.semst(tissue, encoder=instance, n_epochs=2, copy=True).obsm["X_semst"].shape == (tissue.n_obs, 4)
    with pytest.raises(ValueError, match="encoder_kwargs"):
        sst.tl.semst(tissue, encoder=instance, encoder_kwargs={"latent_dim": 2}, copy=True)
    with pytest.raises(ValueError, match="has no FSM"):
        sst.tl.semst(tissue, encoder=_SmoothMLP(5, 0, None), copy=True)
    with pytest.raises(ValueError, match="encoder must be one of"):
        sst.tl.semst(tissue, encoder="vae", copy=True)


@pytest.mark.parametrize("n_input, n_output", [(10, None), (None, 10)])
def test_an_encoder_instance_built_for_other_genes_is_told_how_to_build_it(tissue, n_input, n_output):
    from semst_sc import nn

    tissue = _ready(tissue)
    n_genes = int(tissue.var["semst_modelled"].sum())
    width = tissue.obsm["X_semantic"].shape[1]
    instance = nn.SemSTModel(n_input or n_genes, n_output or n_genes, width)
    with pytest.raises(ValueError, match=rf"build it as SemSTModel\({n_genes}, {n_genes}, {width}\)"):
        sst.tl.semst(tissue, encoder=instance, n_epochs=1, copy=True)


@pytest.mark.parametrize("minibatch", [False, True])
def test_similarity_weighted_pairs_are_an_option_of_the_dual_encoder(tissue, minibatch):
    tissue = _ready(tissue)
    options = {"n_epochs": 3, "train_kwargs": {"minibatch": minibatch}, "copy": True}
    uniform = sst.tl.semst(tissue, **options)
    weighted = sst.tl.semst(tissue, encoder_kwargs={"pair_weighting": "similarity"}, **options)
    assert uniform.uns["semst"]["params"]["pair_weighting"] == "uniform"
    assert uniform.uns["semst"]["params"]["mean_pair_weight"] == 1.0
    params = weighted.uns["semst"]["params"]
    assert params["pair_weighting"] == "similarity" and 0 < params["mean_pair_weight"] < 1
    loss, weighted_loss = uniform.uns["semst"]["loss_history"], weighted.uns["semst"]["loss_history"]
    assert not np.allclose(loss["spatial"], weighted_loss["spatial"])  # the weights reach the loss
    assert loss["zinb"][0] == pytest.approx(weighted_loss["zinb"][0])  # the same model and draws at the first step
    with pytest.raises(ValueError, match="pair_weighting must be 'similarity' or 'uniform'"):
        sst.tl.semst(tissue, encoder_kwargs={"pair_weighting": "cosine"}, **options)


def test_edge_coherence_is_the_share_of_edge_weight_inside_domains():
    import scipy.sparse as sp

    from semst_sc.tl._cluster import edge_coherence

    path = sp.csr_matrix(np.diag(np.ones(3), 1) + np.diag(np.ones(3), -1))  # 0-1-2-3, both directions
    assert edge_coherence(np.array([0, 0, 1, 1]), path) == pytest.approx(2 / 3)
    assert edge_coherence(np.array([0, 1, 0, 1]), path) == 0.0
    assert edge_coherence(np.zeros(4, int), path) == 1.0
    weighted = path.multiply(np.array([[0, 3, 0, 0], [3, 0, 1, 0], [0, 1, 0, 1], [0, 0, 1, 0]])).tocsr()
    assert edge_coherence(np.array([0, 0, 1, 1]), weighted) == pytest.approx(8 / 10)


def _grid_graph(n_rows: int, n_cols: int):
    import scipy.sparse as sp

    index = np.arange(n_rows * n_cols).reshape(n_rows, n_cols)
    pairs = np.vstack(
        [np.c_[index[:, :-1].ravel(), index[:, 1:].ravel()], np.c_[index[:-1].ravel(), index[1:].ravel()]]
    )
    rows, cols = np.r_[pairs[:, 0], pairs[:, 1]], np.r_[pairs[:, 1], pairs[:, 0]]
    return index, sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(index.size, index.size))


def _rep(labels, centres, rng=0):
    noise = np.random.default_rng(rng).normal(scale=0.1, size=(len(labels), 2))
    return np.asarray(centres, dtype=float)[labels] + noise


def test_merge_joins_the_interleaved_alike_pair():
    from semst_sc.tl._merge import merge_to

    _, graph = _grid_graph(12, 12)
    columns = np.tile(np.arange(12), 12)
    # columns 0-5 alternate between domains 0 and 1 (one domain split in interleaved pieces); 6-8: 2; 9-11: 3
    labels = np.where(columns < 6, columns % 2, np.where(columns < 9, 2, 3))
    rep = _rep(labels, [[0, 0], [0.3, 0], [3, 0], [6, 0]])
    merged = merge_to(labels, 3, graph, rep, np.eye(2))
    assert adjusted_rand_score(np.where(labels == 1, 0, labels), merged) == 1.0


def test_merge_weighs_both_space_and_expression():
    from semst_sc.tl._merge import merge_to

    _, graph = _grid_graph(12, 12)
    columns = np.tile(np.arange(12), 12)
    bands = columns // 4  # three bands side by side, each sharing one border with the next
    # expression: band 1 is close to band 0, far from band 2 -> 0 and 1 merge
    merged = merge_to(bands, 2, graph, _rep(bands, [[0, 0], [0.5, 0], [5, 0]]), np.eye(2))
    assert adjusted_rand_score(np.where(bands == 1, 0, bands), merged) == 1.0
    # space: 0 and 2 are the most alike but never touch; 1 touches both -> it merges with the closer of them
    merged = merge_to(bands, 2, graph, _rep(bands, [[0, 0], [2, 0], [0.1, 0]]), np.eye(2))
    assert adjusted_rand_score(np.where(bands == 1, 2, bands), merged) == 1.0
    # the metric is the precision given: a gap along an axis the covariance calls narrow costs much (Euclidean: 1 and 2)
    merged = merge_to(bands, 2, graph, _rep(bands, [[0, 0], [1, 0], [1, 0.8]]), np.diag([1.0, 100.0]))
    assert adjusted_rand_score(np.where(bands == 1, 0, bands), merged) == 1.0


@pytest.fixture(scope="module")
def _cells_embedded():
    cells = sst.datasets.simulate_tissue(platform="xenium", n_cells=600, n_genes=60, rng=0)
    sst.run_pipeline(cells, 4, n_epochs=5, semantics=False)
    return cells


def test_merge_extra_keeps_the_more_coherent_partition_at_cell_resolution(_cells_embedded):
    from semst_sc.tl._cluster import edge_coherence

    cells, graph = _cells_embedded, _cells_embedded.obsp["spatial_connectivities"]
    params = cells.uns["semst_domain"]["params"]
    assert params["merge_extra"] is True  # the default at cell resolution
    coherence = params["extra_coherence"]
    assert params["extra_kept"] == (coherence["merged"] > coherence["direct"])
    assert cells.obs["semst_domain"].nunique() == 4
    codes = cells.obs["semst_domain"].cat.codes.to_numpy()
    assert edge_coherence(codes, graph) == pytest.approx(max(coherence.values()))
    direct = sst.tl.cluster(cells, 4, merge_extra=False, copy=True)
    assert direct.uns["semst_domain"]["params"]["merge_extra"] is False
    assert "extra_coherence" not in direct.uns["semst_domain"]["params"]
    assert edge_coherence(direct.obs["semst_domain"].cat.codes.to_numpy(), graph) == pytest.approx(coherence["direct"])


def test_merge_extra_is_off_for_spots_and_needs_the_mixture(processed):
    params = sst.tl.cluster(processed, 7, copy=True).uns["semst_domain"]["params"]
    assert params["merge_extra"] is False and "extra_coherence" not in params
    on = sst.tl.cluster(processed, 7, merge_extra=True, copy=True).uns["semst_domain"]["params"]
    assert on["merge_extra"] is True and set(on["extra_coherence"]) == {"direct", "merged"}
    with pytest.raises(ValueError, match="merge_extra needs method='gmm'"):
        sst.tl.cluster(processed, 7, method="kmeans", merge_extra=True)


def test_merge_extra_by_default_needs_the_spatial_graph_only_when_asked(_cells_embedded):
    cells = _cells_embedded.copy()
    del cells.obsp["spatial_connectivities"]
    sst.tl.cluster(cells, 4)  # a pooled input clustered without pp.spatial_graph: the vote, no merge
    assert cells.uns["semst_domain"]["params"]["merge_extra"] is False
    with pytest.raises(KeyError, match="spatial_graph"):
        sst.tl.cluster(cells, 4, merge_extra=True)
