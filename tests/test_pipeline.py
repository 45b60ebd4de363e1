import numpy as np
import pytest
from fakes import CountingEncoder, on_a_view, scanpy_warnings

import semst_sc as sst
from semst_sc._pipeline import PRESETS
from semst_sc.datasets import simulate_tissue
from semst_sc.tl._cluster import edge_coherence


def test_paper_preset_applies_the_reference_settings(tissue):
    out = sst.run_pipeline(tissue, 4, preset="paper", model=CountingEncoder(), n_epochs=2, copy=True)
    assert out.uns["semst_prepare"]["params"]["min_cells"] == 100
    assert out.uns["spatial_neighbors"]["params"]["n_neighbors"] == 60
    assert out.uns["semantic"]["params"]["mode"] == "symbols"
    semst = out.uns["semst"]["params"]
    assert semst["recon_batch_size"] == "" and semst["pair_batch_size"] == ""  # None: every spot and pair
    assert semst["average_from"] == ""  # the last step's parameters, as the reference code
    assert semst["n_epochs"] == 2  # an explicit argument wins over the preset
    assert out.uns["semst_domain"]["params"]["method"] == "kmeans"
    assert out.uns["semst_domain"]["params"]["n_pcs"] is None
    assert out.obs["semst_domain"].nunique() == 4


def test_default_preset_changes_nothing(tissue):
    assert PRESETS["default"] == {}
    out = sst.run_pipeline(tissue, 3, model=CountingEncoder(), n_epochs=2, copy=True)
    assert out.uns["semst_domain"]["params"]["method"] == "gmm"
    assert out.uns["semst"]["params"]["recon_batch_size"] == 1024
    assert out.uns["semst"]["params"]["average_from"] == 0.5


def test_train_kwargs_reach_the_training_over_the_presets(tissue):
    out = sst.run_pipeline(
        tissue, 3, preset="paper", model=CountingEncoder(), n_epochs=2, train_kwargs={"lr": 2e-3}, copy=True
    )
    semst = out.uns["semst"]["params"]
    assert semst["lr"] == 2e-3
    assert semst["recon_batch_size"] == ""  # the preset's own training settings are kept beside the user's


def test_encoder_kwargs_reach_the_encoder(tissue):
    settings = {"latent_dim": 5, "spatial_weight": 0}
    out = sst.run_pipeline(tissue, 3, model=CountingEncoder(), n_epochs=2, encoder_kwargs=settings, copy=True)
    assert out.uns["semst"]["params"]["encoder"] == "dual"
    assert out.uns["semst"]["params"]["encoder_kwargs"] == settings
    assert out.obsm["X_semst"].shape == (tissue.n_obs, 5)
    loss = out.uns["semst"]["loss_history"]
    assert loss["spatial"][0] > 0  # computed, but out of the total
    assert loss["total"][0] == pytest.approx(loss["zinb"][0] + 0.1 * loss["dicr"][0], rel=1e-4)


def test_pipeline_on_a_view_writes_to_it_silently_and_leaves_the_parent(tissue):
    view, _ = on_a_view(tissue, lambda v: sst.run_pipeline(v, 3, model=CountingEncoder(), n_epochs=2))
    assert view.obs["semst_domain"].nunique() == 3 and view.obsm["X_semst"].shape[0] == view.n_obs


def test_pipeline_copy_of_a_view_is_actual_and_leaves_the_view(tissue):
    _, out = on_a_view(
        tissue, lambda v: sst.run_pipeline(v, 3, model=CountingEncoder(), n_epochs=2, copy=True), copy=True
    )
    assert out.obs["semst_domain"].nunique() == 3


def test_unknown_preset_is_rejected_before_work(tissue):
    with pytest.raises(ValueError, match="preset must be one of"):
        sst.run_pipeline(tissue, 3, preset="fast")
    assert "semst_domain" not in tissue.obs


def test_contrastive_encoder_runs_end_to_end(tissue):
    out = sst.run_pipeline(tissue, 3, encoder="contrastive", model=CountingEncoder(), n_epochs=3, copy=True)
    assert out.uns["semst"]["params"]["encoder"] == "contrastive"
    assert out.obsm["X_semst"].shape == (tissue.n_obs, int(out.var["semst_modelled"].sum()))  # reconstruction
    assert set(out.uns["semst"]["loss_history"]) == {"total", "recon", "contrast"}
    assert out.obs["semst_domain"].nunique() == 3


def test_unknown_encoder_is_rejected(tissue):
    sst.pp.prepare(tissue)
    sst.pp.spatial_graph(tissue)
    sst.pp.feature_graph(tissue)
    with pytest.raises(ValueError, match="encoder must be"):
        sst.tl.semst(tissue, encoder="gat", semantic_key=None)
    assert "X_semst" not in tissue.obsm


def test_semantic_mode_and_gene_text_reach_the_semantic_step(tissue):
    encoder = CountingEncoder()
    text = {"GFAP": "glial fibrillary acidic protein, astrocytes"}
    out = sst.run_pipeline(tissue, 3, model=encoder, semantic_mode="symbols", gene_text=text, n_epochs=2, copy=True)
    params = out.uns["semantic"]["params"]
    assert params["mode"] == "symbols"
    assert params["gene_text"] == "mapping"
    assert any("glial fibrillary" in seen for seen in encoder.seen)


@pytest.mark.parametrize("layer", [None, "counts"])
def test_run_pipeline_leaves_the_users_scanpy_keys_alone(tissue, layer):
    """semst_sc writes its own keys: scanpy's highly variable genes and a user's counts layer stay as they were."""
    import numpy as np
    import scanpy as sc

    counts = tissue.X.copy()
    tissue.layers["counts"] = counts
    sc.pp.highly_variable_genes(tissue, flavor="seurat_v3", n_top_genes=50)  # the user's own selection
    var, x = tissue.var.copy(), tissue.X.copy()
    sst.run_pipeline(tissue, 3, layer=layer, model=CountingEncoder(), n_epochs=2)
    for column in ("highly_variable", "highly_variable_rank", "means", "variances", "variances_norm"):
        assert tissue.var[column].equals(var[column]), column
    assert tissue.var["highly_variable"].sum() == 50
    assert tissue.layers["counts"] is counts and (counts != x).nnz == 0  # the same object, unchanged
    assert (tissue.X != x).nnz == 0
    assert set(tissue.layers) == {"counts"}  # no copy of the counts
    assert tissue.var["semst_modelled"].sum() == tissue.uns["semst_prepare"]["params"]["n_modelled"] > 50
    assert tissue.uns["semst_prepare"]["params"]["layer"] == layer  # where tl.semst read the counts
    assert "semst_domain" in tissue.obs and not np.array_equal(tissue.var["semst_modelled"], var["highly_variable"])


def test_run_pipeline_keeps_no_intermediate_layer_unless_asked(tissue):
    import numpy as np
    import scipy.sparse as sp

    out = sst.run_pipeline(tissue, 3, model=CountingEncoder(), n_epochs=2, copy=True)
    assert list(out.layers) == []  # what a user needs, no intermediate:
    assert {"X_semst", "X_semantic"} <= set(out.obsm) and "semst_domain" in out.obs
    assert {"spatial_connectivities", "semst_feature_connectivities"} <= set(out.obsp)
    assert {"params", "loss_history"} <= set(out.uns["semst"])
    with pytest.raises(KeyError, match=r"run sst.pp.prepare\(adata\) first .*keep_intermediates=True"):
        sst.tl.semst(out, n_epochs=2)

    kept = sst.run_pipeline(tissue, 3, model=CountingEncoder(), n_epochs=2, keep_intermediates=True, copy=True)
    assert list(kept.layers) == ["semst_scaled"] and sp.issparse(kept.layers["semst_scaled"])
    np.testing.assert_array_equal(kept.obsm["X_semst"], out.obsm["X_semst"])  # the option changes no result
    sst.tl.semst(kept, n_epochs=2)  # a kept result trains again

    sst.pp.prepare(tissue)  # in place, an earlier prepare's encoder input goes with the rest
    sst.run_pipeline(tissue, 3, model=CountingEncoder(), n_epochs=2)
    assert list(tissue.layers) == []
    np.testing.assert_array_equal(tissue.obsm["X_semst"], out.obsm["X_semst"])


@pytest.fixture(scope="module")
def _cells():
    return simulate_tissue(platform="xenium", n_cells=600, n_genes=60, rng=0)


def test_n_init_keeps_the_training_with_the_most_coherent_domains(_cells):
    out = sst.run_pipeline(_cells, 4, n_init=3, n_epochs=5, semantics=False, copy=True)
    params = out.uns["semst"]["params"]
    seeds, coherence, kept = list(params["init_seeds"]), list(params["init_coherence"]), int(params["init_kept"])
    assert params["n_init"] == 3 and seeds[0] == 0 and len(set(seeds)) == 3
    assert kept == int(np.argmax(coherence)) and params["rng"] == seeds[kept]
    assert len(set(coherence)) > 1  # the trainings differ
    codes = out.obs["semst_domain"].cat.codes.to_numpy()
    assert edge_coherence(codes, out.obsp["spatial_connectivities"]) == pytest.approx(coherence[kept])
    # the embedding kept is the one these domains came from
    again = sst.tl.cluster(out, 4, rng=0, copy=True)
    np.testing.assert_array_equal(again.obs["semst_domain"].to_numpy(), out.obs["semst_domain"].to_numpy())


def test_n_init_says_once_that_earlier_names_are_of_other_domains(_cells):
    """Each training's clustering warned of the names an earlier tl.annotate_domains gave the input's domains."""
    named = _cells.copy()
    named.obs["semst_domain"] = named.obs["domain"].astype(str).astype("category")
    sst.tl.annotate_domains(named, gene_text=False)
    logged = scanpy_warnings(lambda: sst.run_pipeline(named, 4, n_init=3, n_epochs=2, semantics=False))
    assert logged.count("are of the domains before: run sst.tl.annotate_domains again") == 1
    assert "semst_domain_annotation" in named.uns and "semst_domain_name" in named.obs  # kept, as they were


def test_n_init_estimates_the_number_of_domains_on_the_first_training_only(_cells, monkeypatch):
    asked = []
    cluster = sst.tl.cluster

    def recording(adata, n_clusters=None, **kwargs):
        asked.append(n_clusters)
        return cluster(adata, n_clusters, **kwargs)

    monkeypatch.setattr(sst.tl, "cluster", recording)
    out = sst.run_pipeline(_cells, None, n_init=3, n_epochs=2, semantics=False, copy=True)
    assert asked[0] is None and asked[1:] == [asked[1]] * 2 and asked[1] >= 2
    assert out.uns["semst_domain"]["params"]["n_found"] <= asked[1]


def test_one_training_by_default_at_cell_resolution_too(_cells):
    out = sst.run_pipeline(_cells, 4, n_epochs=2, semantics=False, copy=True)
    assert out.uns["semst_prepare"]["params"]["resolution"] == "cell"
    assert out.uns["semst"]["params"]["n_init"] == 1


def test_one_training_by_default_for_spots(processed):
    params = processed.uns["semst"]["params"]
    assert processed.uns["semst_prepare"]["params"]["resolution"] == "spot"
    assert params["n_init"] == 1 and list(params["init_seeds"]) == [0] and params["init_kept"] == 0
