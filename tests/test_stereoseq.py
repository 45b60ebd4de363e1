"""Reading Stereo-seq GEM files: bins and cells, both spellings of the format, chunks, and bad files."""

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


@pytest.mark.parametrize(
    "text,kwargs,match",
    [
        ("geneID\tx\ty\tMIDCount\n", {}, "holds no counts"),
        ("#FileFormat=GEMv0.1\ngene\tx\ty\tcount\nA\t1\t2\t3\n", {}, r"no column geneID, MIDCount after its 1 '#'"),
        ("geneID\tx\ty\tMIDCount\nA\t1\t2\t3\n", {"bin_size": "cell"}, "no column CellID"),
        ("geneID\tx\ty\tMIDCount\nA\t1\t2\t3\n", {"bin_size": 0}, "bin_size must be a positive integer"),
        ("geneID\tx\ty\tMIDCount\n\t1\t2\t3\n", {}, "a row without a gene"),
    ],
)
def test_read_gem_bad_files(tmp_path, text, kwargs, match):
    path = tmp_path / "bad.gem"
    path.write_text(text)
    with pytest.raises(ValueError, match=match):
        read_gem(path, **kwargs)
    with pytest.raises(FileNotFoundError, match="not found"):
        read_gem(tmp_path / "missing.gem")
