"""Reading Xenium output folders: both matrix layouts, parquet and csv cell tables, sections, and bad folders."""

import numpy as np
import pandas as pd
import pytest
from fakes import XENIUM_CONTROLS, write_xenium

from semst_sc.datasets import read_xenium, simulate_tissue


@pytest.fixture(scope="module")
def cells():
    """Simulated Xenium-like cells: a targeted panel, centroids in µm."""
    return simulate_tissue(platform="xenium", n_cells=150, n_genes=40, rng=0)


@pytest.mark.parametrize("table,layout", [("parquet", "h5"), ("parquet_bytes", "h5"), ("csv", "mtx")])
def test_read_xenium_matches_counts_and_centroids_by_cell_id(cells, tmp_path, table, layout):
    ids = write_xenium(tmp_path / "outs", cells, cells=table, layout=layout)
    adata = read_xenium(tmp_path / "outs")
    assert list(adata.obs_names) == ids  # the matrix's order, the table (reversed) matched by id
    assert list(adata.var_names) == list(cells.var_names)  # controls and codewords left out
    assert not set(XENIUM_CONTROLS) & set(adata.var_names)
    np.testing.assert_array_equal(adata.X.toarray(), cells.X.toarray())
    assert adata.X.dtype == np.float32
    np.testing.assert_allclose(adata.obsm["spatial"], cells.obsm["spatial"])
    np.testing.assert_array_equal(adata.obs["transcript_counts"], np.asarray(cells.X.sum(axis=1)).ravel())
    assert "x_centroid" not in adata.obs and adata.obs["segmentation_method"].dtype == "category"
    assert adata.uns["xenium"] == {"run_name": "test run", "region_name": "Region_1", "pixel_size": 0.2125,
                                   "num_cells": 150}  # fmt: skip
    assert list(adata.var["gene_symbol"]) == list(cells.var_names) and "gene_ids" in adata.var


def test_read_xenium_folders_as_sections(cells, tmp_path):
    write_xenium(tmp_path / "slide_a" / "outs", cells)
    write_xenium(tmp_path / "slide_b", cells[:100].copy(), experiment=False)
    adata = read_xenium([tmp_path / "slide_a" / "outs", tmp_path / "slide_b"])
    assert adata.obs["library_id"].value_counts().to_dict() == {"slide_a": 150, "slide_b": 100}
    with pytest.raises(ValueError, match="distinct names"):
        read_xenium([tmp_path / "slide_b", tmp_path / "slide_b"])
    (tmp_path / "by_patient").mkdir()
    (tmp_path / "by_patient" / "P7").symlink_to(tmp_path / "slide_b")  # a link named for the sample names it
    (tmp_path / "by_patient" / "P8").symlink_to(tmp_path / "slide_a" / "outs")
    linked = read_xenium([tmp_path / "by_patient" / "P7", tmp_path / "by_patient" / "P8"])
    assert list(linked.obs["library_id"].cat.categories) == ["P7", "P8"]


def test_read_xenium_runs_through_the_pipeline(cells, tmp_path):
    import semst_sc as sst

    write_xenium(tmp_path / "outs", cells)
    adata = read_xenium(tmp_path / "outs")
    sst.pp.prepare(adata, n_top_genes=40)
    assert adata.uns["semst_prepare"]["params"]["resolution"] == "cell"  # single cells, not spots


def test_bad_xenium_folders_say_what_is_wrong(cells, tmp_path):
    with pytest.raises(FileNotFoundError, match="Xenium output folder .* not found"):
        read_xenium(tmp_path / "nowhere")
    folder = tmp_path / "outs"
    write_xenium(folder, cells)
    (folder / "cells.parquet").rename(tmp_path / "cells.parquet")
    with pytest.raises(FileNotFoundError, match="no cell table in .*cells.parquet or cells.csv.gz"):
        read_xenium(folder)
    table = pd.read_parquet(tmp_path / "cells.parquet")
    table.iloc[:-3].to_parquet(folder / "cells.parquet")  # three cells of the matrix missing
    with pytest.raises(ValueError, match="3 of the 150 cells of cell_feature_matrix.h5 .* have no row in"):
        read_xenium(folder)
    table.drop(columns="y_centroid").to_parquet(folder / "cells.parquet")
    with pytest.raises(ValueError, match="has no column y_centroid"):
        read_xenium(folder)
    table.assign(x_centroid=np.where(np.arange(150) == 7, np.nan, table["x_centroid"])).to_parquet(
        folder / "cells.parquet"
    )
    with pytest.raises(ValueError, match="1 cells of .* have no centroid"):
        read_xenium(folder)
    pd.concat([table, table.iloc[:1]]).to_parquet(folder / "cells.parquet")
    with pytest.raises(ValueError, match="names cell .* twice"):
        read_xenium(folder)
    table.to_parquet(folder / "cells.parquet")
    (folder / "experiment.xenium").write_text("{not json")
    with pytest.raises(ValueError, match="experiment.xenium is not valid JSON"):
        read_xenium(folder)
    (folder / "experiment.xenium").unlink()
    (folder / "cell_feature_matrix.h5").write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="is not a readable 10x count matrix"):
        read_xenium(folder)
    (folder / "cell_feature_matrix.h5").unlink()
    with pytest.raises(FileNotFoundError, match="no cell-feature matrix in .*cell_feature_matrix.h5 or cell_feature"):
        read_xenium(folder)


def test_a_parquet_table_without_an_engine_is_named(cells, tmp_path, monkeypatch):
    def no_engine(engine):
        raise ImportError("Unable to find a usable engine")

    write_xenium(tmp_path / "outs", cells)
    monkeypatch.setattr(pd.io.parquet, "get_engine", no_engine)
    with pytest.raises(ImportError, match="cell table .*cells.parquet needs pyarrow: pip install pyarrow"):
        read_xenium(tmp_path / "outs")


def test_downloaded_files_with_a_prefix_and_odd_cell_tables(cells, tmp_path):
    """10x's downloads prefix every file; a csv cell table may mix numbers and text, parquet may hold bytes."""
    folder = tmp_path / "download"
    ids = write_xenium(folder, cells, cells="csv", experiment=False)
    for name in ("cell_feature_matrix.h5", "cells.csv.gz"):
        (folder / name).rename(folder / f"Xenium_Prime_Human_Skin_FFPE_{name}")
    table = pd.read_csv(folder / "Xenium_Prime_Human_Skin_FFPE_cells.csv.gz")
    table["qc"] = [1] * (len(table) - 1) + ["n/a"]  # numbers and one text
    table["when"] = pd.Timestamp("2024-01-01")
    table.to_csv(folder / "Xenium_Prime_Human_Skin_FFPE_cells.csv.gz", index=False)
    adata = read_xenium(folder)
    assert list(adata.obs_names) == ids and "qc" in adata.obs
    adata.write_h5ad(tmp_path / "cells.h5ad")  # every column can be written
    (folder / "Xenium_Prime_Human_Skin_FFPE_cells.parquet").write_bytes(b"")
    (folder / "Xenium_Prime_Human_Skin_FFPE_cells.csv.gz").rename(folder / "other_cells.csv.gz")
    with pytest.raises(ValueError, match="is not a readable Xenium cell table"):  # the parquet comes first
        read_xenium(folder)

    write_xenium(tmp_path / "bytes", cells)
    table = pd.read_parquet(tmp_path / "bytes" / "cells.parquet")
    table["segmentation_method"] = pd.Categorical([b"Segmented by nucleus expansion"] * len(table))
    table.to_parquet(tmp_path / "bytes" / "cells.parquet")
    adata = read_xenium(tmp_path / "bytes")
    assert (adata.obs["segmentation_method"] == "Segmented by nucleus expansion").all()


def test_folders_that_are_not_read_say_what_to_pass(cells, tmp_path):
    write_xenium(tmp_path / "outs", cells)
    with pytest.raises(ValueError, match="is not a folder: pass the Xenium output folder"):
        read_xenium(tmp_path / "outs" / "cells.parquet")
    (tmp_path / "outs" / "cell_feature_matrix.h5").rename(tmp_path / "outs" / "cell_feature_matrix.zarr.zip")
    with pytest.raises(FileNotFoundError, match=r"cell_feature_matrix.zarr.zip is not read: use the .h5"):
        read_xenium(tmp_path / "outs")


def test_duplicated_symbols_are_made_unique_without_anndata_warning_of_them(cells, tmp_path):
    import warnings

    twice = cells.copy()
    twice.var_names = [twice.var_names[0], *twice.var_names[:-1]]  # two probes of one gene, as panels have
    write_xenium(tmp_path / "outs", twice)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="Variable names are not unique")
        adata = read_xenium(tmp_path / "outs")
    assert list(adata.var_names[:2]) == [cells.var_names[0], f"{cells.var_names[0]}-1"]
    assert list(adata.var["gene_symbol"][:2]) == [cells.var_names[0]] * 2
