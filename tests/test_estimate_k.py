"""tl.cluster estimates the number of domains when it is not given, records how, and warns on a bound."""

import anndata as ad
import pytest
from fakes import scanpy_warnings, smoothed_pcs

import semst_sc as sst


@pytest.fixture(scope="module")
def _slide():
    """The simulated tissue of the issue (7 domains), its spatial graph, a cheap embedding (PCs averaged over 6
    spatial neighbours) and the number of domains estimated on it."""
    adata = sst.datasets.simulate_tissue(30, 30, rng=0)
    sst.pp.spatial_graph(adata)
    adata.obsm["X_semst"] = smoothed_pcs(adata)
    sst.tl.cluster(adata, None)
    return adata


@pytest.fixture
def slide(_slide):
    return _slide.copy()


def _check_estimate(adata):
    params = adata.uns["semst_domain"]["params"]
    truth = adata.obs["domain"].nunique()
    assert truth == 7 and params["n_clusters"] is None
    assert abs(params["n_found"] - truth) <= 2, params  # the lowest BIC gave 15, the largest K tried
    assert params["estimated_by"] == "BIC elbow and spatial coherence"
    assert params["n_found"] == min(params["k_elbow"], params["k_coherent"])


def test_the_estimate_is_near_the_truth(slide):
    _check_estimate(slide)


@pytest.mark.slow
def test_the_estimate_after_the_default_pipeline_is_near_the_truth():
    adata = sst.datasets.simulate_tissue(30, 30, rng=0)
    sst.run_pipeline(adata, rng=0)  # `semst-sc run` without --n-clusters
    _check_estimate(adata)


def test_the_curves_are_recorded_and_written(slide, tmp_path):
    params = slide.uns["semst_domain"]["params"]
    assert list(params["bic"]) == list(params["coherence"]) == [str(k) for k in range(2, 16)]
    assert all(0 <= v <= 1 for v in params["coherence"].values())
    slide.write_h5ad(tmp_path / "slide.h5ad")
    read = ad.read_h5ad(tmp_path / "slide.h5ad").uns["semst_domain"]["params"]
    assert read["bic"]["7"] == pytest.approx(params["bic"]["7"]) and read["n_found"] == params["n_found"]


@pytest.mark.parametrize("method", ["gmm", "kmeans"])
@pytest.mark.parametrize("largest", [2, 3])  # 2: one K tried, no curve to read
def test_an_estimate_on_a_bound_warns(slide, method, largest):
    logged = scanpy_warnings(lambda: sst.tl.cluster(slide, None, method=method, max_clusters=largest))
    assert slide.uns["semst_domain"]["params"]["n_found"] == largest
    bound = "only" if largest == 2 else "largest"
    assert f"is the {bound} one tried (2..{largest})" in logged and "pass n_clusters, or widen max_clusters" in logged


def test_an_estimate_inside_the_range_does_not_warn(slide):
    assert "estimated number" not in scanpy_warnings(lambda: sst.tl.cluster(slide, None))
    logged = scanpy_warnings(lambda: sst.tl.cluster(slide, None), level=2)  # but it says the number was estimated
    assert "the number estimated by BIC elbow and spatial coherence over 2..15 (n_clusters sets it)" in logged
    assert "estimated" not in scanpy_warnings(lambda: sst.tl.cluster(slide, 7), level=2)


def test_the_estimate_needs_the_spatial_graph(slide):
    del slide.obsp["spatial_connectivities"]
    with pytest.raises(KeyError, match="sst.pp.spatial_graph"):
        sst.tl.cluster(slide, None)
    sst.tl.cluster(slide, 7)  # a given number needs no graph


def test_the_bic_elbow_and_coherence_rules():
    from semst_sc.tl._cluster import _bic_elbow, _last_coherent

    assert _bic_elbow({2: 0.0, 3: -100.0, 4: -180.0, 5: -220.0, 6: -230.0}) == 4  # gains 100, 80, 40 < 0.6 * 90
    # an unusually large first gain does not set the bar alone: gains 200, 100, 95, 90, 20 against 0.6 * 150
    assert _bic_elbow({2: 0.0, 3: -200.0, 4: -300.0, 5: -395.0, 6: -485.0, 7: -505.0}) == 6
    # one poor fit at K = 3 (gain 40, then 90): smoothed to 100, 71.7, 71.7, 71.7, 20, the search goes on to 6
    assert _bic_elbow({2: 0.0, 3: -100.0, 4: -140.0, 5: -230.0, 6: -315.0, 7: -335.0}) == 6
    assert _bic_elbow({2: 0.0, 3: 10.0, 4: 15.0}) == 2  # more domains only raise the BIC
    assert _bic_elbow({2: 0.0, 3: -100.0, 4: -200.0}) == 4  # no elbow: the largest K tried
    assert _last_coherent({2: 0.9, 3: 0.8, 4: 0.4, 5: 0.7}) == 3
    assert _last_coherent({2: 0.4, 3: 0.8}) == 2 and _last_coherent({2: 0.9, 3: 0.8}) == 3
