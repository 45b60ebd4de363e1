import json

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
import scipy.sparse as sp
from fakes import BARCODES, GENE_IDS, GENE_NAMES, make_spaceranger, write_10x_h5
from scipy.spatial import cKDTree
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture

from semst_sc import datasets
from semst_sc.datasets import (
    baristaseq,
    default_data_dir,
    dlpfc,
    merfish_hypothalamus,
    mouse_ob,
    osmfish,
    read_spaceranger,
    simulate_tissue,
)
from semst_sc.datasets._simulate import DOMAINS, MAX_GENES

# ---------------------------------------------------------------- paths


def test_public_api():
    assert set(datasets.__all__) == {
        "default_data_dir",
        "simulate_tissue",
        "dlpfc",
        "read_spaceranger",
        "read_gem",
        "read_xenium",
        "read_merscope",
        "read_cosmx",
        "osmfish",
        "baristaseq",
        "mouse_ob",
        "merfish_hypothalamus",
        "gene_descriptions",
    }


def test_default_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("SEMST_DATA_DIR", str(tmp_path))
    assert default_data_dir() == tmp_path.resolve()
    monkeypatch.delenv("SEMST_DATA_DIR")
    monkeypatch.chdir(tmp_path)
    assert default_data_dir() == (tmp_path / ".." / "shared" / "data").resolve()


# ---------------------------------------------------------------- simulated tissue


@pytest.fixture(scope="module")
def sim():
    return simulate_tissue()


def test_simulate_shape_and_layout(sim):
    assert sim.shape == (1600, 300)
    assert sim.obs_names.is_unique and sim.obs_names[0] == "spot_0000"
    assert {"array_row", "array_col", "domain"} <= set(sim.obs)
    row, col = sim.obs["array_row"].to_numpy(), sim.obs["array_col"].to_numpy()
    assert np.array_equal(row % 2, col % 2)  # Visium: odd rows shifted by half a spot
    coords = sim.obsm["spatial"]
    assert coords.dtype == np.float64 and coords.shape == (1600, 2)
    # x follows the columns, y the rows; every spot away from the border has six neighbours at distance 100
    assert np.corrcoef(coords[:, 0], col)[0, 1] > 0.99 and np.corrcoef(coords[:, 1], row)[0, 1] > 0.99
    counts = np.array([len(n) - 1 for n in cKDTree(coords).query_ball_point(coords, r=101)])
    interior = (row > 0) & (row < 39) & (col > 1) & (col < 78)
    assert (counts[interior] == 6).all()
    nearest = cKDTree(coords).query(coords, k=2)[0][:, 1]
    np.testing.assert_allclose(nearest, 100)


def test_simulate_domains(sim):
    domain = sim.obs["domain"]
    assert isinstance(domain.dtype, pd.CategoricalDtype)
    assert list(domain.cat.categories) == list(DOMAINS)
    fractions = domain.value_counts(normalize=True)
    assert (fractions >= 0.03).all(), fractions
    # layers are bands: the mean row increases from Layer1 to WM
    depth = sim.obs.groupby("domain", observed=True)["array_row"].mean()
    assert depth[list(DOMAINS[:-1])].is_monotonic_increasing


def test_simulate_counts(sim):
    X = sim.X
    assert sp.issparse(X) and X.format == "csr" and X.dtype == np.float32
    assert (X.data >= 0).all() and np.array_equal(X.data, np.round(X.data))
    zeros = 1 - X.nnz / np.prod(X.shape)
    assert 0.65 < zeros < 0.9
    library = np.asarray(X.sum(axis=1)).ravel()
    assert 1000 < np.median(library) < 6000


def test_simulate_genes(sim):
    assert sim.var_names.is_unique
    assert list(sim.var["gene_symbol"]) == list(sim.var_names)
    for gene in ("RELN", "CUX2", "RORB", "PCP4", "TLE4", "MBP", "CLDN5", "ACTB", "GAPDH", "MT-CO1"):
        assert gene in sim.var_names
    markers = sim.uns["simulation"]["markers"]
    assert set(markers) == set(DOMAINS) and "MBP" in markers["WM"]
    cell_types = sim.uns["simulation"]["cell_types"]
    assert "MBP" in cell_types["Oligodendrocyte"] and "CLDN5" in cell_types["Endothelial"]
    assert set(sim.uns["simulation"]["proportions"]) == set(DOMAINS)
    params = sim.uns["simulation"]["params"]
    assert (params["n_rows"], params["n_cols"], params["n_genes"], params["rng"]) == (40, 40, 300, 0)


def test_simulate_marker_biology(sim):
    norm = sc.pp.normalize_total(sim, target_sum=1e4, inplace=False)["X"]
    mbp = np.asarray(norm[:, sim.var_names.get_loc("MBP")].todense()).ravel()
    domain = sim.obs["domain"].to_numpy()
    assert mbp[domain == "WM"].mean() > 3 * mbp[domain == "Layer2_3"].mean()
    cldn5 = np.asarray(norm[:, sim.var_names.get_loc("CLDN5")].todense()).ravel()
    assert cldn5[domain == "Vessel"].mean() > 3 * cldn5[domain != "Vessel"].mean()


def test_simulate_deterministic():
    a, b = simulate_tissue(12, 10, n_genes=80, rng=3), simulate_tissue(12, 10, n_genes=80, rng=3)
    assert (a.X != b.X).nnz == 0
    assert a.obs.equals(b.obs) and a.obsm["cell_type_counts"].equals(b.obsm["cell_type_counts"])
    c = simulate_tissue(12, 10, n_genes=80, rng=4)
    assert (a.X != c.X).nnz > 0


def test_simulate_in_blocks_of_spots():
    from semst_sc.datasets._simulate import _BLOCK

    adata = simulate_tissue(90, 100, rng=2)  # more spots than one block
    assert adata.n_obs > _BLOCK and adata.shape == (9000, 300)
    X = adata.X
    assert X.format == "csr" and X.dtype == np.float32 and X.has_canonical_format
    assert np.array_equal(X.data, np.round(X.data)) and (X.data > 0).all()
    assert 0.65 < 1 - X.nnz / np.prod(X.shape) < 0.9
    library = np.asarray(X.sum(axis=1)).ravel()
    first, rest = library[:_BLOCK], library[_BLOCK:]  # the blocks follow one model
    assert 1000 < np.median(first) < 6000 and 1000 < np.median(rest) < 6000
    assert adata.obs["domain"].nunique() == len(DOMAINS)


def test_simulate_h5ad_roundtrip(tmp_path):
    adata = simulate_tissue(8, 8, n_genes=20)
    adata.write_h5ad(tmp_path / "sim.h5ad")
    back = ad.read_h5ad(tmp_path / "sim.h5ad")
    assert (back.X != adata.X).nnz == 0 and back.uns["simulation"]["params"]["n_genes"] == 20
    assert back.obs.equals(adata.obs) and back.obsm["cell_type_counts"].equals(adata.obsm["cell_type_counts"])
    assert back.uns["simulation"]["proportions"]["WM"]["Oligodendrocyte"] == 0.68


def test_simulate_gene_limits():
    assert simulate_tissue(6, 6, n_genes=MAX_GENES).n_vars == MAX_GENES >= 600
    with pytest.raises(ValueError, match="n_genes"):
        simulate_tissue(6, 6, n_genes=MAX_GENES + 1)
    with pytest.raises(ValueError, match="2 x 2"):
        simulate_tissue(1, 6)


def test_simulate_spatial_smoothing_beats_expression_alone(sim):
    """The domains are only moderately separable per spot but recoverable with spatial smoothing."""
    adata = sim.copy()
    sc.pp.normalize_total(adata)
    sc.pp.log1p(adata)
    sc.pp.pca(adata, n_comps=30, random_state=0)
    pcs = adata.obsm["X_pca"]
    neighbours = cKDTree(adata.obsm["spatial"]).query(adata.obsm["spatial"], k=7)[1]  # self + 6 neighbours
    truth = adata.obs["domain"]

    def ari(rep):
        gmm = GaussianMixture(len(DOMAINS), covariance_type="tied", n_init=3, random_state=0)
        return adjusted_rand_score(truth, gmm.fit_predict(rep))

    alone, smoothed = ari(pcs), ari(pcs[neighbours].mean(axis=1))
    assert 0.2 < alone < 0.75, alone
    assert smoothed > alone + 0.15 and smoothed > 0.75, (alone, smoothed)


# ---------------------------------------------------------------- Space Ranger folders


@pytest.mark.parametrize("positions", ["list", "new", "list_with_header", "new_without_header", "parquet"])
def test_read_spaceranger(tmp_path, positions):
    counts = make_spaceranger(tmp_path / "outs", positions=positions)
    adata = read_spaceranger(tmp_path / "outs")
    assert list(adata.obs_names) == BARCODES[:5]  # in-tissue spots only
    assert list(adata.var_names) == ["MBP", "PLP1", "ACTB", "PCP4", "PCP4-1"]
    assert list(adata.var["gene_symbol"]) == GENE_NAMES
    assert list(adata.var["gene_ids"]) == GENE_IDS
    assert sp.issparse(adata.X)
    np.testing.assert_array_equal(adata.X.toarray(), counts[:5])
    assert list(adata.obs["array_row"]) == [0, 0, 0, 1, 1]
    assert (adata.obs["in_tissue"] == 1).all()
    np.testing.assert_allclose(adata.obsm["spatial"][1], [2020.0, 1010.0])  # (pxl_col, pxl_row)
    assert adata.uns["spatial"]["fake_library"]["scalefactors"]["tissue_hires_scalef"] == 0.15


def test_read_spaceranger_of_visium_hd_bin_folders(tmp_path):
    """Space Ranger 3 writes Visium HD positions as parquet; two samples' bin folders are named apart."""
    folders = [tmp_path / s / "outs" / "binned_outputs" / "square_008um" for s in ("sample_a", "sample_b")]
    for folder in folders:
        make_spaceranger(folder, positions="parquet")
    adata = read_spaceranger(folders)
    assert list(adata.obs["library_id"].cat.categories) == ["sample_a_square_008um", "sample_b_square_008um"]
    assert adata.n_obs == 10
    table = pd.read_parquet(folders[0] / "spatial" / "tissue_positions.parquet")
    table.drop(columns="in_tissue").to_parquet(folders[0] / "spatial" / "tissue_positions.parquet")
    with pytest.raises(ValueError, match="tissue_positions.parquet has no column in_tissue"):
        read_spaceranger(folders[0])


def test_visium_hd_folders_that_are_not_bin_folders_say_what_to_pass(tmp_path):
    outs = tmp_path / "S1" / "outs"
    for bins in ("square_002um", "square_008um"):
        make_spaceranger(outs / "binned_outputs" / bins, positions="parquet")
    (outs / "spatial").mkdir()  # the tissue images, no positions
    for folder in (outs, outs / "binned_outputs"):
        with pytest.raises(
            FileNotFoundError, match=r"is a Visium HD output: pass one of its bin folders, .*square_002um"
        ):
            read_spaceranger(folder)
    (outs / "segmented_outputs").mkdir()
    with pytest.raises(FileNotFoundError, match=r"square_008um\}.*, or its cell segmentations, .*segmented_outputs"):
        read_spaceranger(outs)
    cells_only = tmp_path / "S2" / "outs"
    (cells_only / "segmented_outputs").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r"Visium HD output: pass its cell segmentations, .*segmented_outputs"):
        read_spaceranger(cells_only)


def test_read_spaceranger_of_visium_hd_cell_segmentations(tmp_path):
    from fakes import write_segmented_outputs

    from semst_sc.datasets import simulate_tissue

    cells = simulate_tissue(platform="xenium", n_cells=60, n_genes=20, rng=0)
    folders = [tmp_path / s / "outs" / "segmented_outputs" for s in ("sample_a", "sample_b")]
    for folder in folders:
        write_segmented_outputs(folder, cells)
    adata = read_spaceranger(folders[0])
    assert adata.n_obs == 60 and list(adata.var["gene_symbol"]) == list(cells.var_names)
    np.testing.assert_allclose(adata.obsm["spatial"], cells.obsm["spatial"], atol=1e-9)  # the outlines' centroids
    np.testing.assert_array_equal(adata.X.toarray(), np.asarray(cells.X.todense()))
    assert adata.obs_names[0] == "cellid_000000001-1" and adata.obs["cell_id"].iloc[-1] == 60
    joint = read_spaceranger(folders)
    assert list(joint.obs["library_id"].cat.categories) == ["sample_a_segmented_outputs", "sample_b_segmented_outputs"]

    outlines = folders[0] / "cell_segmentations.geojson"
    outlines.rename(folders[0] / "graphclust_annotated_cell_segmentations.geojson")  # the annotated file alone
    np.testing.assert_allclose(read_spaceranger(folders[0]).obsm["spatial"], cells.obsm["spatial"], atol=1e-9)
    (folders[0] / "graphclust_annotated_cell_segmentations.geojson").unlink()
    with pytest.raises(FileNotFoundError, match="no cell outlines in .*cell_segmentations.geojson"):
        read_spaceranger(folders[0])
    write_segmented_outputs(folders[0], cells[:59].copy())  # the matrix's last cell has no outline
    write_10x_h5(
        folders[0] / "filtered_feature_cell_matrix.h5",
        np.ones((60, 20), dtype=int),
        [f"cellid_{i + 1:09d}-1" for i in range(60)],
        [f"ENSG{i:011d}" for i in range(20)],
        list(cells.var_names),
    )
    assert read_spaceranger(folders[0]).n_obs == 59  # a cell without an outline is left out (a raw matrix has many)
    for features, message in (
        ('[{"geometry": null}]', "is not a GeoJSON of cell outlines with an integer cell_id each"),
        ('[{"geometry": {"type": "MultiPolygon", "coordinates": []}, "properties": {"cell_id": 1}}]', "is not a"),
        (f"[{json.dumps(_square(0, 0, 1, cell_id=1.5))}]", "cell_id 1.5 is not a whole number"),
        (f"[{json.dumps(_square(0, 0, 1))}, {json.dumps(_square(5, 5, 1))}]", "outlines cell 1 more than once"),
    ):
        outlines.write_text(f'{{"type": "FeatureCollection", "features": {features}}}')
        with pytest.raises(ValueError, match=message):
            read_spaceranger(folders[0])


def test_visium_hd_cell_segmentations_of_the_mtx_folder_alone(tmp_path):
    """Space Ranger 4 writes the cells' counts as filtered_feature_cell_matrix.h5 and as the mtx folder
    filtered_feature_cell_matrix/; the folder alone was not read (nor told a segmentation folder apart when renamed)."""
    from fakes import write_segmented_outputs

    cells = simulate_tissue(platform="xenium", n_cells=30, n_genes=12, rng=0)
    for name in ("segmented_outputs", "sample_a_cells"):
        write_segmented_outputs(tmp_path / name, cells, layout="mtx")
        adata = read_spaceranger(tmp_path / name)
        np.testing.assert_array_equal(adata.X.toarray(), np.asarray(cells.X.todense()))
        np.testing.assert_allclose(adata.obsm["spatial"], cells.obsm["spatial"], atol=1e-9)
        assert list(adata.var["gene_symbol"]) == list(cells.var_names)


def _square(x, y, half, *, cell_id=1, hole=None):
    """A GeoJSON feature: the square of ``half`` side around (x, y), less the square ``hole`` (x, y, half)."""

    def ring(cx, cy, h):
        return [[cx - h, cy - h], [cx + h, cy - h], [cx + h, cy + h], [cx - h, cy + h], [cx - h, cy - h]]

    rings = [ring(x, y, half)] + ([] if hole is None else [ring(*hole)])
    geometry = {"type": "Polygon", "coordinates": rings}
    return {"type": "Feature", "geometry": geometry, "properties": {"cell_id": cell_id}}


def test_cell_outline_centroids_take_holes_out():
    from semst_sc.datasets._outlines import _centroid

    assert _centroid(_square(5, 5, 5)["geometry"]) == (5.0, 5.0)
    x, y = _centroid(_square(5, 5, 5, hole=(7.5, 5, 2.5))["geometry"])  # the right half's middle cut out
    assert y == pytest.approx(5) and x == pytest.approx((100 * 5 - 25 * 7.5) / 75)


def test_read_spaceranger_names_a_damaged_file(tmp_path):
    make_spaceranger(tmp_path / "outs")
    positions = tmp_path / "outs" / "spatial" / "tissue_positions_list.csv"
    lines = positions.read_text().splitlines()
    positions.write_text("\n".join(f"{line},extra" for line in lines) + "\n")
    with pytest.raises(ValueError, match="tissue_positions_list.csv has 7 columns"):
        read_spaceranger(tmp_path / "outs")
    positions.unlink()
    with pytest.raises(FileNotFoundError, match="restore the positions file"):
        read_spaceranger(tmp_path / "outs")
    make_spaceranger(tmp_path / "other")
    (tmp_path / "other" / "spatial" / "scalefactors_json.json").write_text("{broken")
    with pytest.raises(ValueError, match="scalefactors_json.json is not valid JSON"):
        read_spaceranger(tmp_path / "other")
    make_spaceranger(tmp_path / "third")
    positions = tmp_path / "third" / "spatial" / "tissue_positions_list.csv"
    lines = positions.read_text().splitlines()
    barcode = lines[1].split(",")[0]
    for text, match in (  # pandas' errors named neither the file nor the fix
        ("", "tissue_positions_list.csv is not a readable positions table"),
        ("\n".join([*lines, lines[1]]) + "\n", f"tissue_positions_list.csv lists barcode '{barcode}' twice"),
        ("\n".join([lines[0], lines[1].replace(",1,", ",yes,", 1)]) + "\n", "holds a position that is not a number"),
    ):
        positions.write_text(text)
        with pytest.raises(ValueError, match=match):
            read_spaceranger(tmp_path / "third")


def test_read_spaceranger_of_several_folders_joins_sections(tmp_path):
    first = make_spaceranger(tmp_path / "sample_a" / "outs")
    make_spaceranger(tmp_path / "sample_b" / "outs")
    adata = read_spaceranger([tmp_path / "sample_a" / "outs", tmp_path / "sample_b" / "outs"])
    assert list(adata.obs["library_id"].cat.categories) == ["sample_a", "sample_b"]
    assert adata.n_obs == 10 and adata.obs_names[0] == f"{BARCODES[0]}-sample_a"
    np.testing.assert_array_equal(adata[adata.obs["library_id"] == "sample_a"].X.toarray(), first[:5])
    assert list(adata.uns["spatial"]) == ["sample_a", "sample_b"]  # both files say 'fake_library': none lost
    with pytest.raises(ValueError, match="distinct names"):
        read_spaceranger([tmp_path / "sample_a" / "outs", tmp_path / "sample_a" / "outs"])


def test_read_spaceranger_mtx_folder(tmp_path):
    """Both Space Ranger layouts give the same AnnData (the mtx folder has no library id: the folder name is used)."""
    counts = make_spaceranger(tmp_path / "outs", layout="mtx")
    assert not (tmp_path / "outs" / "filtered_feature_bc_matrix.h5").exists()
    adata = read_spaceranger(tmp_path / "outs")
    make_spaceranger(tmp_path / "h5" / "outs")
    reference = read_spaceranger(tmp_path / "h5" / "outs")
    assert list(adata.obs_names) == BARCODES[:5]
    assert list(adata.var_names) == list(reference.var_names) == ["MBP", "PLP1", "ACTB", "PCP4", "PCP4-1"]
    assert list(adata.var["gene_symbol"]) == GENE_NAMES and list(adata.var["gene_ids"]) == GENE_IDS
    assert sp.issparse(adata.X) and adata.X.format == "csr" and adata.X.dtype == reference.X.dtype == np.float32
    np.testing.assert_array_equal(adata.X.toarray(), counts[:5])
    assert adata.obs.equals(reference.obs)
    np.testing.assert_array_equal(adata.obsm["spatial"], reference.obsm["spatial"])
    assert list(adata.uns["spatial"]) == ["outs"]
    assert adata.uns["spatial"]["outs"]["scalefactors"] == reference.uns["spatial"]["fake_library"]["scalefactors"]


def test_an_mtx_folder_decompressed_by_hand_is_named_with_the_fix(tmp_path):
    import gzip

    from fakes import write_xenium

    make_spaceranger(tmp_path / "outs", layout="mtx")
    xenium = simulate_tissue(platform="xenium", n_cells=30, n_genes=25, rng=0)
    write_xenium(tmp_path / "xenium", xenium, cells="csv", layout="mtx")
    for folder in (tmp_path / "outs" / "filtered_feature_bc_matrix", tmp_path / "xenium" / "cell_feature_matrix"):
        for packed in folder.glob("*.gz"):  # as gunzip leaves them
            packed.with_suffix("").write_bytes(gzip.decompress(packed.read_bytes()))
            packed.unlink()
    for read in (lambda: read_spaceranger(tmp_path / "outs"), lambda: datasets.read_xenium(tmp_path / "xenium")):
        with pytest.raises(ValueError, match="holds matrix.mtx, features.tsv, barcodes.tsv uncompressed.*gzip them"):
            read()


def test_read_spaceranger_names_a_damaged_matrix_or_image(tmp_path):
    import gzip

    import h5py

    make_spaceranger(tmp_path / "names" / "outs")
    with h5py.File(tmp_path / "names" / "outs" / "filtered_feature_bc_matrix.h5", "r+") as f:
        f["matrix/features/name"][0] = "Gè".encode()  # a custom reference's name, UTF-8 as Space Ranger writes it
    with pytest.raises(ValueError, match="holds a name that is not ASCII \\('Gè'\\).*filtered_feature_bc_matrix/"):
        read_spaceranger(tmp_path / "names" / "outs")
    make_spaceranger(tmp_path / "cut" / "outs")
    matrix = tmp_path / "cut" / "outs" / "filtered_feature_bc_matrix.h5"
    matrix.write_bytes(matrix.read_bytes()[:500])
    with pytest.raises(ValueError, match="filtered_feature_bc_matrix.h5 is not a readable 10x count matrix"):
        read_spaceranger(tmp_path / "cut" / "outs")
    for name in ("matrix", "other"):  # HDF5 without the datasets of either 10x layout: scanpy's bare Exception
        matrix.unlink()
        with h5py.File(matrix, "w") as f:
            f[f"{name}/barcodes"] = [b"AAAC-1"]
        with pytest.raises(ValueError, match="filtered_feature_bc_matrix.h5 is not a readable 10x count matrix"):
            read_spaceranger(tmp_path / "cut" / "outs")
    make_spaceranger(tmp_path / "image" / "outs")
    (tmp_path / "image" / "outs" / "spatial" / "tissue_hires_image.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="tissue_hires_image.png is not a readable PNG image"):
        read_spaceranger(tmp_path / "image" / "outs")
    make_spaceranger(tmp_path / "mixed" / "outs", layout="mtx")  # one file gunzipped, the others not
    packed = tmp_path / "mixed" / "outs" / "filtered_feature_bc_matrix" / "barcodes.tsv.gz"
    packed.with_suffix("").write_bytes(gzip.decompress(packed.read_bytes()))
    packed.unlink()
    with pytest.raises(ValueError, match="holds barcodes.tsv uncompressed"):
        read_spaceranger(tmp_path / "mixed" / "outs")


def test_read_spaceranger_count_file(tmp_path):
    counts = make_spaceranger(tmp_path / "outs", layout="mtx")
    (tmp_path / "outs" / "filtered_feature_bc_matrix").rename(tmp_path / "outs" / "raw_matrix")
    with pytest.raises(FileNotFoundError, match="count_file=") as info:
        read_spaceranger(tmp_path / "outs")
    assert "filtered_feature_bc_matrix.h5" in str(info.value) and "--count-file" in str(info.value)
    by_folder = read_spaceranger(tmp_path / "outs", count_file="raw_matrix")
    np.testing.assert_array_equal(by_folder.X.toarray(), counts[:5])
    write_10x_h5(tmp_path / "outs" / "raw_feature_bc_matrix.h5", counts)
    by_file = read_spaceranger(tmp_path / "outs", count_file="raw_feature_bc_matrix.h5")
    np.testing.assert_array_equal(by_file.X.toarray(), counts[:5])
    (tmp_path / "outs" / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no matrix.mtx"):
        read_spaceranger(tmp_path / "outs", count_file="empty")
    with pytest.raises(FileNotFoundError, match="nope.h5"):
        read_spaceranger(tmp_path / "outs", count_file="nope.h5")


def test_read_spaceranger_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="filtered_feature_bc_matrix.h5"):
        read_spaceranger(tmp_path)
    make_spaceranger(tmp_path / "outs")
    (tmp_path / "outs" / "spatial" / "tissue_positions_list.csv").unlink()
    with pytest.raises(FileNotFoundError, match="tissue_positions"):
        read_spaceranger(tmp_path / "outs")


# ---------------------------------------------------------------- DLPFC


def test_dlpfc_spaceranger_layout(tmp_path):
    make_spaceranger(tmp_path / "151673")
    # spatialLIBD metadata as written by R: the header has no name for the barcode column
    labels = ["Layer1", "Layer3", "WM", "NA", "Layer3", "Layer6"]
    lines = ["barcode\tlayer_guess_reordered"] + [f"{b}\t{b}\t{lab}" for b, lab in zip(BARCODES, labels, strict=True)]
    (tmp_path / "151673" / "metadata.tsv").write_text("\n".join(lines) + "\n")
    adata = dlpfc("151673", data_dir=tmp_path)
    assert adata.n_obs == 5 and sp.issparse(adata.X) and adata.X.format == "csr"
    assert "gene_symbol" in adata.var
    layer = adata.obs["layer_guess_reordered"]
    assert isinstance(layer.dtype, pd.CategoricalDtype)
    assert list(layer.cat.categories) == ["Layer1", "Layer3", "WM"]
    assert layer.isna().tolist() == [False, False, False, True, False]
    assert adata.obsm["spatial"].shape == (5, 2)


def test_dlpfc_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="SEMST_DATA_DIR") as info:
        dlpfc("151673", data_dir=tmp_path)
    assert "DLPFC_151673_top5000.h5ad" in str(info.value) and "download=True" in str(info.value)
    make_spaceranger(tmp_path / "151673")
    with pytest.raises(FileNotFoundError, match="metadata.tsv"):
        dlpfc("151673", data_dir=tmp_path)


@pytest.mark.real_data
def test_dlpfc_real(data_dir):
    adata = dlpfc("151673", data_dir=data_dir)
    assert adata.shape == (3639, 5000)
    assert adata.obs_names.is_unique
    assert sp.issparse(adata.X) and adata.X.format == "csr"
    assert np.array_equal(adata.X.data, np.round(adata.X.data))
    assert "gene_symbol" in adata.var and "MBP" in set(adata.var["gene_symbol"])
    layer = adata.obs["layer_guess_reordered"]
    assert list(layer.cat.categories) == ["Layer1", "Layer2", "Layer3", "Layer4", "Layer5", "Layer6", "WM"]
    assert layer.isna().sum() == 28
    coords = adata.obsm["spatial"]
    assert coords.shape == (3639, 2) and np.isfinite(coords).all()


@pytest.mark.real_data
def test_dlpfc_several_slices_join_as_sections(data_dir):
    adata = dlpfc(["151673", "151674"], data_dir=data_dir)
    assert list(adata.obs["library_id"].cat.categories) == ["151673", "151674"]
    assert (adata.obs["library_id"] == "151673").sum() == 3639
    assert adata.n_vars == 2340  # the genes both benchmark copies hold (each its own 5,000 most variable)
    assert "gene_symbol" in adata.var and adata.obs_names.is_unique
    assert adata.obs["layer_guess_reordered"].notna().sum() > 6000


@pytest.mark.real_data
def test_osmfish_real(data_dir):
    adata = osmfish(data_dir / "osmfish" / "osmFISH_SScortex_mouse_all_cells.loom")
    assert adata.shape == (4839, 33)
    assert adata.obs_names.is_unique and sp.issparse(adata.X) and adata.X.dtype == np.float32
    regions = adata.obs["Region"]
    assert isinstance(regions.dtype, pd.CategoricalDtype) and len(regions.cat.categories) == 11
    assert "Excluded" not in regions.cat.categories
    assert "ClusterName" in adata.obs and "Gad2" in adata.var_names
    assert adata.obsm["spatial"].shape == (4839, 2) and np.isfinite(adata.obsm["spatial"]).all()
    assert osmfish(data_dir / "osmfish" / "osmFISH_SScortex_mouse_all_cells.loom", drop_excluded=False).n_obs == 6471


def test_osmfish_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="osmFISH"):
        osmfish(tmp_path / "absent.loom")


# ---------------------------------------------------------------- BaristaSeq

BARISTASEQ_LAYERS = ["VISp_I", "VISp_II/III", "VISp_IV", "VISp_V", "VISp_VI", "VISp_wm"]


def assert_counts(adata):
    assert sp.issparse(adata.X) and adata.X.format == "csr" and adata.X.dtype == np.float32
    assert np.array_equal(adata.X.data, np.round(adata.X.data)) and (adata.X.data >= 0).all()
    assert adata.obs_names.is_unique and list(adata.var["gene_symbol"]) == list(adata.var_names)
    assert adata.obsm["spatial"].shape == (adata.n_obs, 2) and np.isfinite(adata.obsm["spatial"]).all()


@pytest.mark.real_data
@pytest.mark.parametrize(("section", "n_cells"), [(1, 1525), (2, 2042), (3, 1690)])
def test_baristaseq_real(data_dir, section, n_cells):
    adata = baristaseq(section, data_dir=data_dir)
    assert adata.shape == (n_cells, 79)
    assert_counts(adata)
    assert list(adata.obs["layer"].cat.categories) == BARISTASEQ_LAYERS and adata.obs["layer"].notna().all()
    assert "library_id" not in adata.obs


@pytest.mark.real_data
def test_baristaseq_sections_stacked(data_dir):
    adata = baristaseq([3, 1], data_dir=data_dir)
    assert adata.shape == (1690 + 1525, 79)
    assert_counts(adata)
    assert adata.obs["library_id"].value_counts().to_dict() == {"slice3": 1690, "slice1": 1525}
    one = baristaseq(1, data_dir=data_dir)
    assert list(adata.obs_names[-3:]) == [f"{name}-slice1" for name in one.obs_names[-3:]]
    part = adata[adata.obs["library_id"] == "slice1"]
    assert (part.X != one.X).nnz == 0 and np.array_equal(part.obsm["spatial"], one.obsm["spatial"])
    assert list(adata.obs["layer"].cat.categories) == BARISTASEQ_LAYERS


def test_baristaseq_bad_sections(tmp_path):
    with pytest.raises(FileNotFoundError, match="SEMST_DATA_DIR") as info:
        baristaseq(2, data_dir=tmp_path)
    assert "BaristaSeq_VISp_slice2.h5ad" in str(info.value)
    with pytest.raises(ValueError, match="not 4"):
        baristaseq(4, data_dir=tmp_path)
    with pytest.raises(ValueError, match="distinct"):
        baristaseq([1, 1], data_dir=tmp_path)


# ---------------------------------------------------------------- MERFISH hypothalamus


@pytest.mark.real_data
def test_merfish_hypothalamus_real(data_dir):
    adata = merfish_hypothalamus(path=data_dir / "merfish_hypothalamus" / "hypothalamus.rda")
    assert adata.shape == (11162, 156) and not adata.var_names.str.startswith("Blank").any()
    assert sp.issparse(adata.X) and adata.X.dtype == np.float32 and (adata.X.data >= 0).all()
    assert not np.array_equal(adata.X.data, np.round(adata.X.data))  # divided by cell volume, as released
    assert adata.obs["bregma"].value_counts().to_dict() == {"0.26": 5584, "0.21": 5578}
    assert adata.obs_names.is_unique and "Astrocyte" in adata.obs["Cell_class"].cat.categories
    one = merfish_hypothalamus(0.21, path=data_dir / "merfish_hypothalamus" / "hypothalamus.rda")
    part = adata[adata.obs["bregma"] == "0.21"]
    assert (part.X != one.X).nnz == 0 and np.array_equal(part.obsm["spatial"], one.obsm["spatial"])


def test_merfish_hypothalamus_bad_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="SEMST_DATA_DIR"):
        merfish_hypothalamus(path=tmp_path / "absent.rda")
    with pytest.raises(ValueError, match=r"bregma must be among \(0.26, 0.21\), got \[0.3\]"):
        merfish_hypothalamus(0.3, path=tmp_path / "absent.rda")


# ---------------------------------------------------------------- mouse olfactory bulb


@pytest.mark.real_data
def test_mouse_ob_real(data_dir):
    adata = mouse_ob(data_dir / "mouse_ob" / "mouseOB_ST_Stahl2016.h5ad")
    assert adata.shape == (262, 15928)
    assert_counts(adata)
    layer = adata.obs["layer"]
    assert isinstance(layer.dtype, pd.CategoricalDtype) and len(layer.cat.categories) == 5
    assert layer.isna().sum() == 2


def test_mouse_ob_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("SEMST_DATA_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="SEMST_DATA_DIR") as info:
        mouse_ob()
    assert str(tmp_path / "mouse_ob" / "mouseOB_ST_Stahl2016.h5ad") in str(info.value)
