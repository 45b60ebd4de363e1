"""Read a Stereo-seq GEM file (the STOmics SAW pipeline's gene expression matrix) into AnnData."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData
from anndata.utils import make_index_unique
from scanpy import logging as logg

#: the columns naming a row's gene: geneName (symbols, SAW >= 7, beside an Ensembl geneID) first, else geneID
GENE_COLUMNS = ("geneName", "geneID")
#: the columns holding a row's counts (the format's specification and SAW's releases spell it both ways)
#: the count column, as SAW has named it over its releases (the first Stereo-seq data sets: UMICount)
COUNT_COLUMNS = ("MIDCount", "MIDCounts", "UMICount")
#: the column naming a row's cell in a cell-bin GEM: CellID, or label (the first cell-bin GEMs, as stereopy reads them)
CELL_COLUMNS = ("CellID", "label")
#: rows read at a time: a whole-chip GEM holds hundreds of millions
CHUNK_ROWS = 5_000_000


def read_gem(path: str | Path, *, bin_size: int | Literal["cell"] = 50) -> AnnData:
    """Read a Stereo-seq GEM file: the counts of its DNBs summed into square bins, or into the cells of a cell-bin GEM.

    Parameters
    ----------
    path
        A ``.gem`` or ``.gem.gz`` file as SAW writes it: ``#`` header lines, then tab-separated columns ``geneID``
        (and, in newer releases, ``geneName``), ``x``, ``y`` (the DNB on the chip), ``MIDCount`` (or ``MIDCounts``,
        ``UMICount``),
        optionally ``ExonCount`` and, in a cell-bin GEM, ``CellID`` (or ``label``); one row per gene and DNB.
    bin_size
        DNBs per side of a square bin: 50 (the default, "bin50": 25 µm at the chip's 500 nm pitch, the size of a
        Visium spot), or e.g. 20, 100, 200. ``"cell"``: counts summed per ``CellID`` (a cell-bin GEM); rows without
        a ``CellID`` (DNBs in no cell) are left out, with a warning.

    Returns
    -------
    AnnData with one observation per bin (or cell) holding counts, read in chunks of rows (memory grows with the
    bins, not the rows; rows of count 0 are left out; only an empty field is missing, so a gene named ``NA`` is
    text), and

    - ``X``: raw counts (CSR, float32); ``var_names``: ``geneName`` when present (``geneID`` where it is empty),
      else ``geneID``, made unique;
      ``var['gene_ids']``: ``geneID`` (when ``geneName`` names the genes);
    - ``obs['array_col']``, ``obs['array_row']``: the bin's column and row (``x // bin_size``, ``y // bin_size``);
      cells: ``obs['cell_id']``;
    - ``obsm['spatial']``: the bin's centre (x, y) in DNB units; a cell's count-weighted mean DNB position;
    - ``uns['stereoseq']``: ``bin_size`` and ``header``, the file's ``#key=value`` lines.

    Examples
    --------
    >>> adata = sst.datasets.read_gem("SS200000135TL_D1.gem.gz", bin_size=50)  # doctest: +SKIP
    >>> sst.run_pipeline(adata)  # doctest: +SKIP
    """
    path = Path(path).expanduser()
    cells = bin_size == "cell"
    if not cells and (isinstance(bin_size, bool) or not isinstance(bin_size, int | np.integer) or bin_size < 1):
        raise ValueError(
            f"bin_size must be a positive integer (DNBs per side of a bin, e.g. 50) or 'cell', got {bin_size!r}"
        )
    if not path.is_file():
        raise FileNotFoundError(f"GEM file {path} not found")
    header, n_header = _header(path)
    columns = list(next(_chunks(path, n_header, nrows=0)).columns)
    gene_column = next((c for c in GENE_COLUMNS if c in columns), None)
    count_column = next((c for c in COUNT_COLUMNS if c in columns), None)
    cell_column = next((c for c in CELL_COLUMNS if c in columns), None) if cells else None
    missing = [name for name, found in (("geneID", gene_column), ("MIDCount", count_column)) if found is None]
    missing += [c for c in ("x", "y") if c not in columns]
    if cells and cell_column is None:
        missing.append("CellID (bin_size='cell' reads a cell-bin GEM)")
    if missing:
        raise ValueError(
            f"{path.name} is not a Stereo-seq GEM file as read here: no column {', '.join(missing)} after its "
            f"{n_header} '#' header lines (columns: {', '.join(map(str, columns)) or 'none'})"
        )
    ids = "geneID" if gene_column == "geneName" else None  # a gene is its geneID; geneName its symbol
    keys = ["CellID"] if cells else ["array_col", "array_row"]
    genes: dict[str, int] = {}  # gene key -> column
    symbols: list[str] = []
    sums, positions = [], []  # (bin or cell, gene) sums; and each cell's count-weighted position sums
    n_rows = n_read = n_outside = 0
    usecols = [c for c in (gene_column, ids, "x", "y", count_column, cell_column) if c]
    dtype = {gene_column: str, ids: str, "x": np.float64, "y": np.float64, count_column: np.float64, cell_column: str}
    dtype = {column: kind for column, kind in dtype.items() if column in usecols}
    for chunk in _chunks(path, n_header, usecols=usecols, dtype=dtype, chunksize=CHUNK_ROWS):
        for column in (ids or gene_column, "x", "y", count_column):
            if chunk[column].isna().any():
                row = n_read + int(chunk[column].isna().to_numpy().argmax()) + 1
                raise ValueError(f"{path.name}: row {row} after the column names has no {column}")
        if (chunk[count_column] < 0).any():
            raise ValueError(f"{path.name}: negative counts in column {count_column}: a GEM holds counts")
        n_read += len(chunk)
        chunk = chunk[chunk[count_column] > 0]  # a row without a count adds nothing
        if cells:
            outside = chunk[cell_column].isna().to_numpy()  # DNBs in no cell
            n_outside += int(outside.sum())
            chunk = chunk[~outside]
        key = chunk[ids or gene_column]
        codes, uniques = pd.factorize(key)
        names = chunk[gene_column] if ids is None else chunk[gene_column].fillna(chunk[ids])  # no symbol: its ID
        names = names.to_numpy()[np.unique(codes, return_index=True)[1]]
        for gene, symbol in zip(uniques, names, strict=True):
            if gene not in genes:
                genes[gene] = len(genes)
                symbols.append(symbol)
        counts = chunk[count_column].to_numpy()
        x, y = chunk["x"].to_numpy(), chunk["y"].to_numpy()
        frame = pd.DataFrame({"gene": np.array([genes[u] for u in uniques], dtype=np.int64)[codes], "count": counts})
        if cells:
            frame["CellID"] = chunk[cell_column].to_numpy()
            weighted = pd.DataFrame({"CellID": frame["CellID"], "x": x * counts, "y": y * counts, "count": counts})
            positions = [_merge([*positions, weighted], ["CellID"])]  # one row per cell
        else:
            frame["array_col"] = np.floor(x / bin_size).astype(np.int64)
            frame["array_row"] = np.floor(y / bin_size).astype(np.int64)
        sums.append(_merge([frame], [*keys, "gene"]))
        n_rows += len(sums[-1])
        if n_rows > 2 * len(sums[0]):  # merged when the parts outgrow the running sum: memory grows with the bins
            sums = [_merge(sums, [*keys, "gene"])]
            n_rows = len(sums[0])
    if n_outside:
        logg.warning(f"{path.name}: {n_outside} rows without a {cell_column} (DNBs in no cell) are left out")
    if not genes:
        raise ValueError(f"{path.name} holds no counts: no row with a count follows the column names")
    total = _merge(sums, [*keys, "gene"]).sort_values([*keys, "gene"], ignore_index=True)
    observations = total[keys].drop_duplicates().reset_index(drop=True)
    row = pd.MultiIndex.from_frame(observations).get_indexer(pd.MultiIndex.from_frame(total[keys]))
    X = sp.csr_matrix(
        (total["count"].to_numpy(np.float32), (row, total["gene"].to_numpy())), shape=(len(observations), len(genes))
    )
    if cells:
        where = positions[0].set_index("CellID").loc[observations["CellID"]]
        spatial = where[["x", "y"]].to_numpy() / where["count"].to_numpy()[:, None]  # every row here has a count
        obs = pd.DataFrame({"cell_id": observations["CellID"].to_numpy()})
        obs.index = obs["cell_id"].astype(str).to_numpy()
    else:
        obs = observations.astype(np.int64)
        obs.index = (obs["array_col"].astype(str) + "_" + obs["array_row"].astype(str)).to_numpy()
        spatial = (obs[["array_col", "array_row"]].to_numpy(np.float64) + 0.5) * bin_size
    var = pd.DataFrame(index=make_index_unique(pd.Index(symbols, dtype=str)))  # as var_names_make_unique does
    if ids is not None:
        var["gene_ids"] = list(genes)
    adata = AnnData(X=X, obs=obs, var=var)
    adata.obsm["spatial"] = spatial
    adata.uns["stereoseq"] = {"bin_size": bin_size, "header": header}
    logg.info(
        f"read {path.name}: {adata.n_obs} {'cells' if cells else f'bins of {bin_size} x {bin_size} DNBs'}, "
        f"{adata.n_vars} genes, {int(X.sum())} counts"
    )
    return adata


def _chunks(path: Path, n_header: int, **kwargs):
    """Yield the tab-separated table after the header in chunks; a file that cannot be parsed gives a clear error.

    Only an empty field is missing: a gene named ``NA`` or a cell ``None`` is text.
    """
    try:
        compression = "gzip" if _gzipped(path) else None
        reader = pd.read_csv(
            path, sep="\t", skiprows=n_header, keep_default_na=False, na_values=[""], compression=compression, **kwargs
        )
        yield from [reader] if "chunksize" not in kwargs else reader
    except UNREADABLE as error:
        raise _unreadable(path, error) from error


#: what pandas, gzip and the file system raise on a file that is not a readable GEM (EmptyDataError is a ValueError)
UNREADABLE = (OSError, EOFError, ValueError, pd.errors.ParserError)


def _unreadable(path: Path, error: Exception) -> ValueError:
    """Return the error that says ``path`` could not be read as a GEM file, and why."""
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return ValueError(
        f"{path.name} could not be read as a Stereo-seq GEM file ({reason}): a tab-separated table of geneID, x, y "
        "and MIDCount after '#' header lines, plain or gzip-compressed"
    )


def _merge(parts: list[pd.DataFrame], keys: list[str]) -> pd.DataFrame:
    """Return the sums of the other columns of ``parts`` by ``keys``, one row per key."""
    return pd.concat(parts, ignore_index=True).groupby(keys, sort=False).sum().reset_index()


def _gzipped(path: Path) -> bool:
    """Return True when ``path`` holds gzip-compressed data, whatever its name says.

    A download may be renamed, or decompressed on the way and left with its ``.gz``.
    """
    with open(path, "rb") as handle:
        return handle.read(2) == b"\x1f\x8b"


def _header(path: Path) -> tuple[dict[str, str], int]:
    """Return the ``#key=value`` lines at the top of a GEM file as a dict, and how many ``#`` lines there are."""
    header, n = {}, 0
    try:
        opener = gzip.open if _gzipped(path) else open
        with opener(path, "rt", encoding="utf-8-sig") as handle:  # a byte-order mark is not part of the first line
            for line in handle:
                if not line.startswith("#"):
                    break
                n += 1
                key, _, value = line[1:].strip().partition("=")
                if key:
                    header[key.replace("/", "_")] = value  # anndata would nest a key holding "/"
    except UNREADABLE as error:
        raise _unreadable(path, error) from error
    return header, n
