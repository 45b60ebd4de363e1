"""Bad input gets a clear error (or a documented, logged handling) and never changes the user's AnnData."""

import numpy as np
import pytest
import scipy.sparse as sp

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


def _fails(adata, error, match, **kwargs):
    snap = _snapshot(adata)
    with pytest.raises(error, match=match):
        sst.run_pipeline(adata, 3, n_epochs=2, **kwargs)
    _assert_untouched(adata, snap)


def test_missing_coordinates(tissue):
    del tissue.obsm["spatial"]
    _fails(tissue, KeyError, r"obsm\['spatial'\] not found")


def test_nan_coordinates(tissue):
    tissue.obsm["spatial"][3, 0] = np.nan
    _fails(tissue, ValueError, "NaN or infinite coordinates")


def test_duplicate_spot_names(tissue):
    names = tissue.obs_names.to_numpy().copy()
    names[1] = names[0]
    tissue.obs_names = names
    _fails(tissue, ValueError, "obs_names_make_unique")


def test_ensembl_ids_without_symbols(tissue):
    tissue.var_names = [f"ENSG{i:011d}" for i in range(tissue.n_vars)]
    del tissue.var["gene_symbol"]
    _fails(tissue, ValueError, "gene_symbols=")


def test_non_integer_counts(tissue):
    tissue.X = tissue.X.multiply(0.37).tocsr()
    _fails(tissue, ValueError, "non-integer")


def test_negative_counts(tissue):
    tissue.X.data[0] = -1
    _fails(tissue, ValueError, "negative")


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
