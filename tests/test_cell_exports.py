"""Reading MERSCOPE region folders and CosMx flat-file exports: counts, positions, controls, and bad folders."""

import numpy as np
import pandas as pd
import pytest
from fakes import write_cosmx, write_merscope

import semst_sc.datasets._cell_csv as cell_csv
from semst_sc.datasets import read_cosmx, read_merscope, simulate_tissue


@pytest.fixture(scope="module")
def cells():
    """Simulated single cells: a targeted panel, centres in µm."""
    return simulate_tissue(platform="xenium", n_cells=160, n_genes=40, rng=1)


@pytest.mark.parametrize("suffix,gz", [("", False), ("_S1R1", True)])
def test_read_merscope(cells, tmp_path, monkeypatch, suffix, gz):
    monkeypatch.setattr(cell_csv, "CHUNK_VALUES", 37 * 43)  # a table of several chunks (37 rows of 43 columns)
    ids = write_merscope(tmp_path / "region_0", cells, suffix=suffix, gz=gz)
    adata = read_merscope(tmp_path / "region_0")
    assert list(adata.obs_names) == ids and list(adata.var_names) == list(cells.var_names)  # no Blank-*
    np.testing.assert_array_equal(adata.X.toarray(), cells.X.toarray())
    assert adata.X.dtype == np.float32
    np.testing.assert_allclose(adata.obsm["spatial"], cells.obsm["spatial"])  # matched by id, not by row
    assert (adata.obs["control_counts"] == 2).all() and list(adata.obs["fov"][:2]) == [0, 0]
    assert "center_x" not in adata.obs


@pytest.mark.parametrize("gz", [False, True])
def test_read_cosmx_places_cells_on_the_slide(cells, tmp_path, gz):
    names = write_cosmx(tmp_path / "flat", cells, gz=gz)
    adata = read_cosmx(tmp_path / "flat")
    assert list(adata.obs_names) == names  # the cell_ID 0 rows (outside every cell) left out
    assert list(adata.var_names) == list(cells.var_names)  # no NegPrb*, SystemControl*
    np.testing.assert_array_equal(adata.X.toarray(), cells.X.toarray())
    np.testing.assert_allclose(adata.obsm["spatial"], cells.obsm["spatial"] * 8)  # global, not per field
    assert (adata.obs["control_counts"] == 3).all()
    assert adata.obs["fov"].nunique() == 4 and "CenterX_local_px" in adata.obs
    assert adata.obs["fov"].dtype == adata.obs["cell_ID"].dtype == np.int64  # numbers, as squidpy reads them
    assert [f"{c}_{f}" for c, f in zip(adata.obs["cell_ID"], adata.obs["fov"], strict=True)] == names


def test_read_cosmx_of_atomx_with_a_cell_name_column(tmp_path):
    """AtoMx exports name each cell in a third text column ('c_1_1_1'), which was read as a gene and refused."""
    (tmp_path / "S1_exprMat_file.csv").write_text(
        "fov,cell_ID,cell,AATK,Negative1,ABL1\n1,1,c_1_1_1,1,1,2\n1,2,c_1_1_2,3,0,4\n"
    )
    (tmp_path / "S1_metadata_file.csv").write_text(
        "cell,fov,cell_ID,Area.um2,CenterX_global_px,CenterY_global_px\nc_1_1_2,1,2,5,11,12\nc_1_1_1,1,1,5,21,22\n"
    )
    adata = read_cosmx(tmp_path)
    assert list(adata.var_names) == ["AATK", "ABL1"]
    np.testing.assert_array_equal(adata.X.toarray(), [[1, 2], [3, 4]])
    np.testing.assert_array_equal(adata.obsm["spatial"], [[21, 22], [11, 12]])
    assert list(adata.obs["cell"]) == ["c_1_1_1", "c_1_1_2"] and list(adata.obs["control_counts"]) == [1, 0]


def test_a_gene_written_twice_is_named_as_anndata_names_it(tmp_path):
    (tmp_path / "cell_by_gene.csv").write_text("cell,Gad1,Gad1,Sst\n10,1,2,3\n11,4,5,6\n")  # pandas: Gad1, Gad1.1
    (tmp_path / "cell_metadata.csv").write_text(",fov,center_x,center_y\n10,0,1.0,2.0\n11,0,3.0,4.0\n")
    with pytest.warns(UserWarning, match="Variable names are not unique"):
        adata = read_merscope(tmp_path)
    assert list(adata.var_names) == ["Gad1", "Gad1-1", "Sst"]
    np.testing.assert_array_equal(adata.X.toarray(), [[1, 2, 3], [4, 5, 6]])


def test_read_cosmx_matches_fields_written_as_decimals(tmp_path):
    """One table writes a field of view '1', the other '1.0' (a table saved through a float column)."""
    (tmp_path / "S1_exprMat_file.csv").write_text("fov,cell_ID,AATK,ABL1\n1,0,9,9\n1,1,1,2\n1,2,3,4\n")
    (tmp_path / "S1_metadata_file.csv").write_text(
        "fov,cell_ID,Area,CenterX_global_px,CenterY_global_px\n1.0,2.0,5,11,12\n1.0,1.0,5,21,22\n"
    )
    adata = read_cosmx(tmp_path)
    assert list(adata.obs_names) == ["1_1", "2_1"]
    np.testing.assert_array_equal(adata.obsm["spatial"], [[21, 22], [11, 12]])


def test_exports_as_sections(cells, tmp_path):
    write_cosmx(tmp_path / "slide_1", cells)
    write_cosmx(tmp_path / "slide_2", cells[:90].copy())
    adata = read_cosmx([tmp_path / "slide_1", tmp_path / "slide_2"])
    assert adata.obs["library_id"].value_counts().to_dict() == {"slide_1": 160, "slide_2": 90}
    write_merscope(tmp_path / "a" / "region_0", cells)
    write_merscope(tmp_path / "a" / "region_1", cells[:70].copy())
    write_merscope(tmp_path / "b" / "region_0", cells)
    regions = [tmp_path / "a" / "region_0", tmp_path / "a" / "region_1", tmp_path / "b" / "region_0"]
    adata = read_merscope(regions)  # regions named with their experiment
    assert adata.obs["library_id"].value_counts().to_dict() == {"a_region_0": 160, "b_region_0": 160, "a_region_1": 70}
    with pytest.raises(ValueError, match="distinct names"):
        read_merscope([tmp_path / "a" / "region_0", tmp_path / "a" / "region_0"])


def test_bad_exports_say_what_is_wrong(cells, tmp_path):
    with pytest.raises(FileNotFoundError, match="output folder .* not found"):
        read_merscope(tmp_path / "nowhere")
    folder = tmp_path / "region_0"
    write_merscope(folder, cells)
    meta = pd.read_csv(folder / "cell_metadata.csv", index_col=0)
    meta.iloc[:-2].to_csv(folder / "cell_metadata.csv")
    with pytest.raises(ValueError, match="2 of the 160 cells of cell_by_gene.csv .* have no row in"):
        read_merscope(folder)
    meta.drop(columns="center_y").to_csv(folder / "cell_metadata.csv")
    with pytest.raises(ValueError, match="has no column center_y"):
        read_merscope(folder)
    meta.to_csv(folder / "cell_metadata_copy.csv")
    with pytest.raises(
        ValueError, match="more than one cell metadata table .*: put each sample in a folder of its own"
    ):
        read_merscope(folder)
    (folder / "cell_metadata_copy.csv").unlink()
    counts = pd.read_csv(folder / "cell_by_gene.csv").astype(object)
    counts.iloc[3, 2] = "many"
    counts.to_csv(folder / "cell_by_gene.csv", index=False)
    with pytest.raises(ValueError, match="holds a count that is not a number"):
        read_merscope(folder)
    counts.iloc[3, 2] = None
    counts.to_csv(folder / "cell_by_gene.csv", index=False)
    with pytest.raises(ValueError, match="has empty or non-numeric counts"):
        read_merscope(folder)
    (folder / "cell_by_gene.csv").unlink()
    with pytest.raises(FileNotFoundError, match=r"no cell-by-gene table \(\*cell_by_gene\*"):
        read_merscope(folder)

    flat = tmp_path / "flat"
    write_cosmx(flat, cells)
    meta_file = next(flat.glob("*metadata_file.csv"))
    meta = pd.read_csv(meta_file)
    meta.drop(columns="CenterX_global_px").to_csv(meta_file, index=False)
    with pytest.raises(ValueError, match="has no column CenterX_global_px"):
        read_cosmx(flat)
    pd.concat([meta, meta.iloc[:1]]).to_csv(meta_file, index=False)
    with pytest.raises(ValueError, match="lists cell .* twice"):
        read_cosmx(flat)
    meta.drop(columns="fov").to_csv(meta_file, index=False)
    with pytest.raises(ValueError, match="has no column fov"):
        read_cosmx(flat)


@pytest.mark.parametrize("content", [b"", b"not gzip"], ids=["empty", "not_gzip"])
def test_a_damaged_merscope_count_table_is_named(cells, tmp_path, content):
    """The cell id column was looked up before the table was checked: pandas' or gzip's error named no file."""
    folder = tmp_path / "region_0"
    write_merscope(folder, cells, gz=True)
    (folder / "cell_by_gene.csv.gz").write_bytes(content)
    with pytest.raises(ValueError, match=r"cell_by_gene.csv.gz is not a readable CSV table .*restore it"):
        read_merscope(folder)


@pytest.mark.parametrize("read", [read_merscope, read_cosmx])
def test_every_control_feature_prepare_knows_is_left_out_of_the_genes(cells, tmp_path, read):
    """Each reader kept a list of its own ('Blank*'; 'NegPrb', 'Negative', ...): a MERSCOPE export with 'BLANK_0006'
    or 'NegPrb5' columns kept them as genes, and their counts out of obs['control_counts']."""
    from fakes import CONTROL_PROBES

    write, name = (write_merscope, "cell_by_gene.csv") if read is read_merscope else (write_cosmx, "*exprMat_file.csv")
    write(tmp_path / "export", cells)
    table = next((tmp_path / "export").glob(name))
    counts = pd.read_csv(table)
    counts[CONTROL_PROBES] = 1
    counts.to_csv(table, index=False)
    adata = read(tmp_path / "export")
    assert list(adata.var_names) == list(cells.var_names)
    assert (adata.obs["control_counts"] >= len(CONTROL_PROBES)).all()
