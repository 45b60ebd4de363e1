"""End-to-end on real DLPFC data (slow; reads SEMST_DATA_DIR)."""

import anndata as ad
import numpy as np
import pytest
import scanpy as sc
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture

from semst_sc._cli import main

pytestmark = pytest.mark.real_data


def _non_spatial_baseline(adata, labels_key, k, rng=0):
    """PCA + tied GMM on the log-normalised counts of the same genes: no spatial information."""
    base = ad.AnnData(adata.X[:, adata.var["semst_modelled"].to_numpy()].copy())
    sc.pp.normalize_total(base)
    sc.pp.log1p(base)
    sc.pp.pca(base, n_comps=30, random_state=rng)
    pred = GaussianMixture(k, covariance_type="tied", n_init=5, random_state=rng).fit_predict(base.obsm["X_pca"])
    keep = adata.obs[labels_key].notna().to_numpy()
    return adjusted_rand_score(adata.obs[labels_key][keep].astype(str), pred[keep])


def test_cli_on_dlpfc_151673_beats_non_spatial_baseline(data_dir, tmp_path):
    """The CLI on a real Visium slide, at half the default training (the default's accuracy: benchmarks/run.py).

    Measured, seed 0: ARI 0.567 at 50 epochs (0.565 at the default 100), the baseline 0.441.
    """
    source = data_dir / "dlpfc" / "derived" / "DLPFC_151673_top5000.h5ad"
    out = tmp_path / "151673.h5ad"
    args = ["run", str(source), "--n-clusters", "7", "--output", str(out), "--seed", "0", "--epochs", "50", "--quiet"]
    assert main(args) == 0
    result = ad.read_h5ad(out)
    original = ad.read_h5ad(source)
    assert set(original.obs.columns) <= set(result.obs.columns)
    assert result.obs["semst_domain"].nunique() == 7
    keep = result.obs["layer_guess_reordered"].notna().to_numpy()
    ari = adjusted_rand_score(result.obs["layer_guess_reordered"][keep].astype(str), result.obs["semst_domain"][keep])
    baseline = _non_spatial_baseline(result, "layer_guess_reordered", 7)
    print(f"151673: SemST ARI {ari:.3f}, non-spatial PCA+GMM ARI {baseline:.3f}")
    # seed-to-seed spread of the model is a few hundredths; a model no better than expression alone fails here
    assert ari > baseline + 0.05, (ari, baseline)
    assert np.isfinite(result.obsm["X_semst"]).all()
