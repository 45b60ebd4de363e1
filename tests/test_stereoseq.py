"""Reading Stereo-seq GEM files: bins and cells, both spellings of the format, chunks, and bad files."""

import warnings

import numpy as np
import pandas as pd
import pytest
from fakes import write_gem

from semst_sc.datasets import read_gem, simulate_tissue


@pytest.fixture(scope="module")
def bins():
    """Simulated square bins (Visium HD-like, on a lattice) with raw counts."""
    return simulate_tissue(12, 12, platform="visium_hd", rng=0)


def _by_lattice(adata, lattice):
    """The rows of ``adata`` (read from a GEM) in the order of the simulated bins at ``lattice``."""
    names = [f"{col}_{row}" for col, row in lattice]
    return adata[names]


def _counted(bins, genes):
    """The simulated counts of ``genes``, after checking they are all the genes counted (a GEM lists no others)."""
    assert set(genes) == set(bins.var_names[np.asarray(bins.X.sum(axis=0)).ravel() > 0])
    return bins[:, genes].X.toarray()


@pytest.mark.parametrize("columns,suffix", [("geneID", ".gem"), ("geneName", ".gem.gz")])
def test_read_gem_sums_the_dnbs_of_each_bin(bins, tmp_path, columns, suffix):
    path = tmp_path / f"chip{suffix}"
    lattice = write_gem(path, bins, bin_size=50, columns=columns)
    adata = read_gem(path, bin_size=50)
    assert adata.n_obs == bins.n_obs
    read = _by_lattice(adata, lattice)
    np.testing.assert_array_equal(read.X.toarray(), _counted(bins, adata.var_names))  # every count in its bin
    np.testing.assert_array_equal(read.obsm["spatial"], (lattice + 0.5) * 50)
    np.testing.assert_array_equal(read.obs[["array_col", "array_row"]].to_numpy(), lattice)
    assert adata.uns["stereoseq"]["bin_size"] == 50 and adata.uns["stereoseq"]["header"]["Stereo-seqChip"] == "TEST"
    assert ("gene_ids" in adata.var) == (columns == "geneName")


def test_read_gem_in_chunks_and_coarser_bins(bins, tmp_path, monkeypatch):
    import semst_sc.datasets._stereoseq as stereoseq

    path = tmp_path / "chip.gem"
    lattice = write_gem(path, bins, bin_size=50)
    whole = read_gem(path, bin_size=50)
    monkeypatch.setattr(stereoseq, "CHUNK_ROWS", 97)  # a bin's rows spread over several chunks
    chunked = read_gem(path, bin_size=50)
    np.testing.assert_array_equal(chunked.X.toarray(), whole.X.toarray())
    assert list(chunked.obs_names) == list(whole.obs_names)
    coarse = read_gem(path, bin_size=100)  # 2 x 2 bins of 50 in one of 100
    expected = pd.DataFrame(_counted(bins, whole.var_names)).groupby([f"{c}_{r}" for c, r in lattice // 2]).sum()
    np.testing.assert_array_equal(coarse[expected.index].X.toarray(), expected.to_numpy())


def test_read_gem_of_cells(bins, tmp_path, monkeypatch):
    import semst_sc.datasets._stereoseq as stereoseq

    path = tmp_path / "cells.gem"
    lattice = write_gem(path, bins, bin_size=50, cells=True)
    adata = read_gem(path, bin_size="cell")
    read = adata[[str(i + 1) for i in range(bins.n_obs)]]
    np.testing.assert_array_equal(read.X.toarray(), _counted(bins, adata.var_names))
    centre = read.obsm["spatial"] / 50 - lattice  # the count-weighted mean DNB lies inside the cell's square
    assert ((centre >= 0) & (centre < 1)).all()
    monkeypatch.setattr(stereoseq, "CHUNK_ROWS", 97)
    chunked = read_gem(path, bin_size="cell")
    np.testing.assert_array_equal(chunked.X.toarray(), adata.X.toarray())
    np.testing.assert_allclose(chunked.obsm["spatial"], adata.obsm["spatial"])


def test_read_gem_reads_the_file_as_compressed_or_not_whatever_its_name(bins, tmp_path):
    """A gzipped GEM named .gem, or a plain one left named .gem.gz (decompressed on download), was read by its name:
    'could not be read as a Stereo-seq GEM file ... plain or gzip-compressed'."""
    write_gem(tmp_path / "chip.gem.gz", bins)
    expected = read_gem(tmp_path / "chip.gem.gz")
    (tmp_path / "chip.gem.gz").rename(tmp_path / "gzipped.gem")
    write_gem(tmp_path / "plain.gem", bins)
    (tmp_path / "plain.gem").rename(tmp_path / "plain.gem.gz")
    for name in ("gzipped.gem", "plain.gem.gz"):
        adata = read_gem(tmp_path / name)
        np.testing.assert_array_equal(adata.X.toarray(), expected.X.toarray())
        assert adata.uns["stereoseq"]["header"] == expected.uns["stereoseq"]["header"]


def test_read_gem_of_cells_named_in_a_label_column(bins, tmp_path):
    """The first cell-bin GEMs name a row's cell in a column 'label' (stereopy reads both): it was refused."""
    path = tmp_path / "cells.gem"
    write_gem(path, bins, bin_size=50, cells=True)
    expected = read_gem(path, bin_size="cell")
    path.write_text(path.read_text().replace("\tCellID\n", "\tlabel\n"))
    cells = read_gem(path, bin_size="cell")
    assert list(cells.obs_names) == list(expected.obs_names)
    np.testing.assert_array_equal(cells.X.toarray(), expected.X.toarray())
    np.testing.assert_allclose(cells.obsm["spatial"], expected.obsm["spatial"])


@pytest.mark.parametrize(
    "text,kwargs,match",
    [
        ("geneID\tx\ty\tMIDCount\n", {}, "holds no counts"),
        ("#FileFormat=GEMv0.1\ngene\tx\ty\tcount\nA\t1\t2\t3\n", {}, r"no column geneID, MIDCount after its 1 '#'"),
        ("geneID\tx\ty\tMIDCount\nA\t1\t2\t3\n", {"bin_size": "cell"}, "no column CellID"),
        ("geneID\tx\ty\tMIDCount\nA\t1\t2\t3\n", {"bin_size": 0}, "bin_size must be a positive integer"),
        ("geneID\tx\ty\tMIDCount\nA\t1\t2\t3\n\t1\t2\t3\n", {}, "row 2 after the column names has no geneID"),
        ("geneID\tx\ty\tMIDCount\nA\t\t2\t3\n", {}, "row 1 after the column names has no x"),
        ("geneID\tx\ty\tMIDCount\nA\t1\t2\t-3\n", {}, "negative counts in column MIDCount"),
        ("geneID\tx\ty\tMIDCount\nA\t1\t2\tabc\n", {}, "could not be read as a Stereo-seq GEM file"),
        ("", {}, "could not be read as a Stereo-seq GEM file"),
        ("#FileFormat=GEMv0.1\n", {}, "could not be read as a Stereo-seq GEM file"),
        ("geneID\tx\ty\tMIDCount\nA\t1\t2\t0\n", {}, "holds no counts"),
    ],
)
def test_read_gem_bad_files(tmp_path, text, kwargs, match):
    path = tmp_path / "bad.gem"
    path.write_text(text)
    with pytest.raises(ValueError, match=match):
        read_gem(path, **kwargs)
    with pytest.raises(FileNotFoundError, match="not found"):
        read_gem(tmp_path / "missing.gem")


def test_read_gem_reads_the_count_column_of_every_release(tmp_path):
    rows = "#FileFormat=GEMv0.1\n{header}\nMbp\t1\t1\t2\nPlp1\t60\t1\t3\nMbp\t2\t2\t1\n"
    for column in ("MIDCount", "MIDCounts", "UMICount"):  # UMICount: the first Stereo-seq publication's GEMs
        path = tmp_path / f"{column}.gem"
        path.write_text(rows.format(header=f"geneID\tx\ty\t{column}"))
        bins = read_gem(path, bin_size=50)
        assert bins.n_obs == 2 and bins[:, "Mbp"].X.sum() == 3 and bins.X.sum() == 6


def test_read_gem_reads_names_as_text_and_leaves_out_what_holds_nothing(tmp_path, caplog):
    import gzip

    from fakes import scanpy_warnings

    path = tmp_path / "odd.gem"
    rows = ["geneID\tgeneName\tx\ty\tMIDCounts\tCellID", "E1\tNA\t1\t1\t2\t7", "E2\tnan\t3\t1\t1\t7",
            "E3\t\t5\t5\t4\tNone", "E4\tActb\t9\t9\t0\t8", "E4\tActb\t9\t9\t5\t"]  # fmt: skip
    path.write_text("\n".join(rows) + "\n")
    bins = read_gem(path, bin_size=50)
    assert list(bins.var_names) == ["NA", "nan", "E3", "Actb"]  # text, and a missing symbol is its geneID
    path.with_name("twice.gem").write_text("geneID\tgeneName\tx\ty\tMIDCount\nE1\tPcp4\t1\t1\t2\nE2\tPcp4\t3\t1\t1\n")
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="Variable names are not unique")
        assert list(read_gem(path.with_name("twice.gem")).var_names) == ["Pcp4", "Pcp4-1"]
    assert bins.X.sum() == 12 and bins.n_obs == 1
    logged = scanpy_warnings(lambda: read_gem(path, bin_size="cell"))
    assert "1 rows without a CellID (DNBs in no cell) are left out" in logged
    cells = read_gem(path, bin_size="cell")
    assert sorted(cells.obs_names) == ["7", "None"]  # cell 8 held only a zero count
    np.testing.assert_allclose(cells["7"].obsm["spatial"], [[(1 * 2 + 3 * 1) / 3, 1]])
    cells.write_h5ad(tmp_path / "cells.h5ad")
    truncated = tmp_path / "cut.gem.gz"
    truncated.write_bytes(gzip.compress(path.read_bytes() * 50)[:-40])
    with pytest.raises(ValueError, match=f"{truncated.name} could not be read as a Stereo-seq GEM file"):
        read_gem(truncated)
