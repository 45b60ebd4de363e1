"""simulate_tissue on Xenium-like cells and Visium-HD-like bins, and its tissue of mixed cell types."""

import numpy as np
import pandas as pd
import pytest
import scanpy as sc
from scipy.spatial import cKDTree
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture

from semst_sc.datasets import simulate_tissue
from semst_sc.datasets._simulate import _CATALOGUES, _MARKERS, CELL_TYPES, DOMAINS, _CellModel


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


# ---------------------------------------------------------------- the cells model (the default tissue)


@pytest.fixture(scope="module")
def many_cells():
    return simulate_tissue(platform="xenium", n_cells=20000, n_genes=20, rng=0)


def _shares(adata):
    """Share of each cell type (columns, in CELL_TYPES order) in each domain (rows)."""
    return pd.crosstab(adata.obs["domain"], adata.obs["cell_type"], normalize="index").reindex(
        index=list(DOMAINS), columns=list(CELL_TYPES), fill_value=0
    )


def test_cells_carry_their_type_and_domain(xenium):
    assert {"domain", "cell_type"} <= set(xenium.obs)
    cell_type = xenium.obs["cell_type"]
    assert isinstance(cell_type.dtype, pd.CategoricalDtype) and list(cell_type.cat.categories) == list(CELL_TYPES)
    simulation = xenium.uns["simulation"]
    assert simulation["params"]["tissue"] == "cells" and len(CELL_TYPES) >= 8
    assert set(simulation["cell_types"]) == set(CELL_TYPES) and "MBP" in simulation["cell_types"]["Oligodendrocyte"]
    assert "GAD1" in simulation["cell_types"]["PVALB"]  # the inhibitory class marker
    table = pd.DataFrame(simulation["proportions"]).T
    assert list(table.index) == list(DOMAINS) and np.allclose(table.sum(axis=1), 1)


def test_domains_are_mixtures_of_cell_types_in_the_tables_proportions(many_cells):
    shares = _shares(many_cells)
    assert ((shares >= 0.05).sum(axis=1) >= 3).all(), shares  # every domain mixes several cell types
    assert ((shares >= 0.02).sum(axis=0) >= 3).all(), shares  # every cell type lives in several domains
    table = pd.DataFrame(many_cells.uns["simulation"]["proportions"]).T[list(CELL_TYPES)]
    deviation = np.abs(shares.to_numpy() - table.to_numpy())  # boundaries mix their two domains' proportions
    assert deviation.max() < 0.06 and deviation.mean() < 0.015, deviation


def test_single_cells_show_their_type_and_neighbourhoods_their_domain():
    """Clustering cells by their own expression finds cell types; averaging over neighbours finds the domains."""
    adata = simulate_tissue(platform="xenium", n_cells=10000, rng=0)
    sc.pp.normalize_total(adata)
    sc.pp.log1p(adata)
    sc.pp.pca(adata, n_comps=30, random_state=0)
    pcs = adata.obsm["X_pca"]
    neighbours = cKDTree(adata.obsm["spatial"]).query(adata.obsm["spatial"], k=16)[1]  # self + 15 neighbours

    def labels(rep):
        return GaussianMixture(len(DOMAINS), covariance_type="tied", n_init=2, random_state=0).fit_predict(rep)

    own, averaged = labels(pcs), labels(pcs[neighbours].mean(axis=1))
    domain, cell_type = adata.obs["domain"], adata.obs["cell_type"]
    assert adjusted_rand_score(domain, own) < 0.3 < adjusted_rand_score(cell_type, own)
    assert adjusted_rand_score(domain, averaged) > 0.6


def test_visium_spots_sum_the_cells_under_them():
    adata = simulate_tissue(30, 30, rng=0)
    n_cells, counts = adata.obs["n_cells"].to_numpy(), adata.obsm["cell_type_counts"]
    assert n_cells.min() >= 1 and 5 < n_cells.mean() < 10
    assert list(counts.columns) == list(CELL_TYPES) and np.array_equal(counts.sum(axis=1), n_cells)
    assert (counts > 0).sum(axis=1).mean() > 3  # a spot holds cells of several types
    dominant = counts.to_numpy().argmax(axis=1)
    assert np.array_equal(adata.obs["cell_type"].cat.codes, dominant)
    library = np.asarray(adata.X.sum(axis=1)).ravel()
    assert np.corrcoef(np.log(library), np.log(n_cells))[0, 1] > 0.3  # more cells, more counts
    assert 1000 < np.median(library) < 6000


def test_visium_hd_bins_are_pieces_of_cells(visium_hd):
    cell_id, cell_type = visium_hd.obs["cell_id"].to_numpy(), visium_hd.obs["cell_type"].cat.codes.to_numpy()
    bins_per_cell = np.bincount(cell_id)
    assert bins_per_cell.min() >= 1 and 1.5 < bins_per_cell.mean() < 3  # ~12 µm cells cut by 8 µm bins
    first = np.unique(cell_id, return_index=True)[1]
    assert np.array_equal(cell_type, cell_type[first][cell_id])  # the bins of one cell share its type
    coords = visium_hd.obsm["spatial"]
    spread = np.array([np.ptp(coords[cell_id == c], axis=0).max() for c in np.flatnonzero(bins_per_cell > 1)[:200]])
    assert spread.max() <= 24  # a cell's bins are next to each other


@pytest.mark.parametrize("platform", ["visium", "xenium", "visium_hd"])
def test_cells_model_is_deterministic(platform):
    kwargs = {"n_cells": 400} if platform != "visium" else {}
    a, b = (simulate_tissue(12, 12, platform=platform, n_genes=40, rng=5, **kwargs) for _ in range(2))
    c = simulate_tissue(12, 12, platform=platform, n_genes=40, rng=6, **kwargs)
    assert (a.X != b.X).nnz == 0 and a.obs.equals(b.obs)
    assert (a.X != c.X).nnz > 0 and not a.obs["cell_type"].equals(c.obs["cell_type"])


def test_programs_tissue_keeps_one_program_per_domain():
    adata = simulate_tissue(platform="xenium", n_cells=500, tissue="programs", rng=0)
    assert "cell_type" not in adata.obs and "cell_types" not in adata.uns["simulation"]
    assert adata.uns["simulation"]["params"]["tissue"] == "programs"
    cells = simulate_tissue(platform="xenium", n_cells=500, rng=0)
    np.testing.assert_array_equal(adata.obsm["spatial"], cells.obsm["spatial"])  # the same slide geometry
    assert adata.obs["domain"].equals(cells.obs["domain"])
    with pytest.raises(ValueError, match="tissue"):
        simulate_tissue(tissue="spots")


def test_cells_model_uses_the_same_genes():
    assert sorted(g for g, _ in _CATALOGUES["cells"]) == sorted(g for g, _ in _CATALOGUES["programs"])
    cell_markers = {g for t in CELL_TYPES for g in _CellModel.markers(t)}
    assert {g for genes in _MARKERS.values() for g in genes} <= cell_markers  # every domain marker has its types
    adata = simulate_tissue(6, 6, n_genes=len(CELL_TYPES))
    assert all(genes for genes in adata.uns["simulation"]["cell_types"].values())  # a prefix has every type
