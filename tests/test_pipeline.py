import pytest
from fakes import CountingEncoder

import semst_sc as sst
from semst_sc._pipeline import PRESETS


def test_paper_preset_applies_the_reference_settings(tissue):
    out = sst.run_pipeline(tissue, 4, preset="paper", model=CountingEncoder(), n_epochs=2, copy=True)
    assert out.uns["semst_prepare"]["params"]["min_cells"] == 100
    assert out.uns["spatial_neighbors"]["params"]["n_neighbors"] == 60
    assert out.uns["semantic"]["params"]["mode"] == "symbols"
    semst = out.uns["semst"]["params"]
    assert semst["recon_batch_size"] == "" and semst["pair_batch_size"] == ""  # None: every spot and pair
    assert semst["n_epochs"] == 2  # an explicit argument wins over the preset
    assert out.uns["semst_domain"]["params"]["method"] == "kmeans"
    assert out.uns["semst_domain"]["params"]["n_pcs"] is None
    assert out.obs["semst_domain"].nunique() == 4


def test_default_preset_changes_nothing(tissue):
    assert PRESETS["default"] == {}
    out = sst.run_pipeline(tissue, 3, model=CountingEncoder(), n_epochs=2, copy=True)
    assert out.uns["semst_domain"]["params"]["method"] == "gmm"
    assert out.uns["semst"]["params"]["recon_batch_size"] == 1024


def test_unknown_preset_is_rejected_before_work(tissue):
    with pytest.raises(ValueError, match="preset must be one of"):
        sst.run_pipeline(tissue, 3, preset="fast")
    assert "semst_domain" not in tissue.obs


def test_contrastive_encoder_runs_end_to_end(tissue):
    out = sst.run_pipeline(tissue, 3, encoder="contrastive", model=CountingEncoder(), n_epochs=3, copy=True)
    assert out.uns["semst"]["params"]["encoder"] == "contrastive"
    assert out.obsm["X_semst"].shape == (tissue.n_obs, int(out.var["highly_variable"].sum()))  # reconstruction
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
