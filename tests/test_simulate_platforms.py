"""simulate_tissue on Xenium-like cells and Visium-HD-like bins."""

import numpy as np
import pytest
from scipy.spatial import cKDTree

from semst_sc.datasets import simulate_tissue
from semst_sc.datasets._simulate import DOMAINS


@pytest.fixture(scope="module")
def xenium():
    return simulate_tissue(platform="xenium", n_cells=3000, rng=0)


@pytest.fixture(scope="module")
def visium_hd():
    return simulate_tissue(platform="visium_hd", n_cells=3000, rng=0)


def _neighbour_agreement(adata, k=6):
    """Share of cells whose domain is the majority domain of their k nearest neighbours."""
    codes = adata.obs["domain"].cat.codes.to_numpy()
    _, idx = cKDTree(adata.obsm["spatial"]).query(adata.obsm["spatial"], k=k + 1)
    majority = np.array([np.bincount(row, minlength=len(DOMAINS)).argmax() for row in codes[idx[:, 1:]]])
    return np.mean(majority == codes)


def test_xenium_cells_are_irregular_single_cells_with_a_targeted_panel(xenium):
    assert xenium.shape == (3000, 300) and xenium.obs_names[0] == "cell_0000" and xenium.obs_names.is_unique
    assert "array_row" not in xenium.obs and xenium.obsm["spatial"].shape == (3000, 2)
    assert not any(g.startswith(("MT-", "RPL", "RPS")) for g in xenium.var_names)  # no mitochondrial, ribosomal
    nearest = cKDTree(xenium.obsm["spatial"]).query(xenium.obsm["spatial"], k=2)[0][:, 1]
    assert 3 < np.median(nearest) < 15 and nearest.std() > 1  # cells about 10 µm apart, irregularly
    library = np.asarray(xenium.X.sum(axis=1)).ravel()
    assert 100 < np.median(library) < 400
    params = xenium.uns["simulation"]["params"]
    assert params["platform"] == "xenium" and params["n_cells"] == 3000 and params["spacing"] == 10.0


def test_visium_hd_bins_form_a_square_grid(visium_hd):
    assert visium_hd.shape == (3000, 300) and visium_hd.obs_names[0] == "bin_0000"
    row, col = visium_hd.obs["array_row"].to_numpy(), visium_hd.obs["array_col"].to_numpy()
    np.testing.assert_array_equal(visium_hd.obsm["spatial"], 8.0 * np.column_stack([col, row]))
    assert len(set(zip(row, col, strict=True))) == 3000
    assert abs(row.max() - col.max()) <= 2  # n_rows == n_cols by default: a square slide
    library = np.asarray(visium_hd.X.sum(axis=1)).ravel()
    assert 50 < np.median(library) < 300


@pytest.mark.parametrize("platform", ["xenium", "visium_hd"])
def test_platforms_keep_the_truth_spatially_coherent(platform, xenium, visium_hd):
    adata = xenium if platform == "xenium" else visium_hd
    assert list(adata.obs["domain"].cat.categories) == list(DOMAINS)
    assert adata.obs["domain"].nunique() == len(DOMAINS)
    assert _neighbour_agreement(adata) > 0.9
    X = adata.X
    assert X.format == "csr" and X.dtype == np.float32 and np.array_equal(X.data, np.round(X.data))


@pytest.mark.parametrize("platform", ["xenium", "visium_hd"])
def test_platforms_are_deterministic(platform):
    a, b = (simulate_tissue(platform=platform, n_cells=500, n_genes=50, rng=1) for _ in range(2))
    c = simulate_tissue(platform=platform, n_cells=500, n_genes=50, rng=2)
    assert (a.X != b.X).nnz == 0 and np.array_equal(a.obsm["spatial"], b.obsm["spatial"])
    assert a.obs["domain"].equals(b.obs["domain"])
    assert (a.X != c.X).nnz > 0


def test_n_cells_defaults_to_the_grid_size_and_follows_its_aspect():
    adata = simulate_tissue(10, 30, platform="visium_hd")
    assert adata.n_obs == 300
    extent = adata.obsm["spatial"].max(axis=0)
    assert 2 < extent[0] / extent[1] < 4.5  # wide slide: 30 columns for 10 rows


def test_platform_arguments_are_checked():
    with pytest.raises(ValueError, match="platform"):
        simulate_tissue(platform="merfish")
    with pytest.raises(ValueError, match="n_cells"):
        simulate_tissue(n_cells=100)  # Visium's size is n_rows x n_cols
    with pytest.raises(ValueError, match="n_cells"):
        simulate_tissue(platform="xenium", n_cells=2)
    with pytest.raises(ValueError, match="n_genes"):
        simulate_tissue(platform="xenium", n_cells=100, n_genes=601)
    assert simulate_tissue(platform="xenium", n_cells=100, n_genes=600).n_vars == 600


def test_default_visium_slide_records_its_platform():
    adata = simulate_tissue(6, 6)
    assert adata.obs_names[0] == "spot_0000" and {"array_row", "array_col"} <= set(adata.obs)
    assert adata.uns["simulation"]["params"]["platform"] == "visium"
