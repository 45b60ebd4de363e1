"""Cells x genes CSV exports (Vizgen MERSCOPE, NanoString CosMx) read in chunks into sparse counts.

squidpy's readers (``squidpy.read.vizgen``, ``squidpy.read.nanostring``) hold the whole table dense in memory and do
not read ``.csv.gz``; a whole-slide CosMx export of a 6,000-gene panel does not fit that way, so the tables are read
here a block of rows at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._utils import is_control_probe

#: values (rows x columns) of a count table read at a time: 20 MB as float32, whatever the panel's size
CHUNK_VALUES = 5_000_000


def find_one(folder: Path, pattern: str, what: str) -> Path:
    """Return the one file of ``folder`` matching ``pattern``; raise naming what is missing or ambiguous."""
    if not folder.is_dir():
        raise FileNotFoundError(f"output folder {folder} not found")
    found = sorted(p for p in folder.glob(pattern) if p.is_file() and p.name.lower().endswith((".csv", ".csv.gz")))
    if not found:
        raise FileNotFoundError(f"no {what} ({pattern}) in {folder}: pass the folder the instrument's export wrote")
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise ValueError(f"{folder} holds more than one {what} ({names}): put each sample in a folder of its own")
    return found[0]


def read_counts(
    file: Path, id_columns: Sequence[str], text_columns: Sequence[str] = ()
) -> tuple[pd.DataFrame, sp.csr_matrix, list[str], np.ndarray]:
    """Read a cells x genes count table in chunks.

    Returns the rows' ``id_columns`` (as text), the counts of the genes (CSR, float32), the gene names (as written:
    a duplicated name twice, for ``var_names_make_unique``), and each row's sum over the control columns
    (:func:`semst_sc._utils.is_control_probe`), which are left out of the counts, as are ``text_columns`` where the
    table has them.
    """
    header, written = column_names(file)
    as_written = {name: text or name for name, text in zip(header, written, strict=True)}
    missing = [c for c in id_columns if c not in header]
    if missing:
        raise ValueError(f"{file} has no column {', '.join(missing)} (columns: {', '.join(header[:8])}, ...)")
    features = [c for c in header if c not in id_columns and c not in text_columns]
    controls = np.array([is_control_probe(c) for c in features], dtype=bool)
    genes = [as_written[c] for c, control in zip(features, controls, strict=True) if not control]
    if not genes:
        raise ValueError(f"{file} holds no gene column, only {', '.join(features[:5]) or 'ids'}")
    dtype = {**{c: str for c in [*id_columns, *text_columns]}, **{c: np.float32 for c in features}}
    ids, blocks, control_sums = [], [], []
    for chunk in _chunks(file, dtype, max(1, CHUNK_VALUES // len(header))):
        values = chunk[features].to_numpy(dtype=np.float32)
        if not np.isfinite(values).all():
            raise ValueError(f"{file} has empty or non-numeric counts: restore it from the export")
        ids.append(chunk[list(id_columns)])
        blocks.append(sp.csr_matrix(values[:, ~controls]))
        control_sums.append(values[:, controls].sum(axis=1))
    if not ids:
        raise ValueError(f"{file} holds no cells")
    return (
        pd.concat(ids, ignore_index=True),
        sp.vstack(blocks, format="csr"),
        genes,
        np.concatenate(control_sums),
    )


def column_names(file: Path) -> tuple[list[str], list[str]]:
    """Return a CSV table's column names as pandas reads them (``'Gad1.1'`` for a second ``Gad1``) and as written.

    An empty or damaged file raises an error naming it.
    """
    try:
        header = [str(c) for c in pd.read_csv(file, nrows=0).columns]
        written = pd.read_csv(file, header=None, nrows=1, dtype=str).iloc[0].fillna("").tolist()
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise ValueError(f"{file} is not a readable CSV table ({err}): restore it from the export") from err
    return header, written


def _chunks(file: Path, dtype: dict, rows: int):
    """Yield ``rows`` rows of the table at a time; a row the parser cannot read raises an error naming the file."""
    reader = pd.read_csv(file, dtype=dtype, chunksize=rows)
    while True:
        try:
            chunk = next(reader, None)
        except (OSError, ValueError, TypeError, pd.errors.ParserError) as err:
            raise ValueError(
                f"{file} holds a count that is not a number, or is not a readable count table ({err}): restore it "
                "from the export"
            ) from err
        if chunk is None:
            return
        yield chunk


def read_metadata(file: Path, dtype: dict | None = None, index_col: int | None = None) -> pd.DataFrame:
    """Read a cell metadata table, raising an error that names a damaged file."""
    try:
        return pd.read_csv(file, dtype=dtype, index_col=index_col, low_memory=False)  # one type per column
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise ValueError(f"{file} is not a readable cell metadata table ({err}): restore it from the export") from err


def tidy_columns(table: pd.DataFrame) -> pd.DataFrame:
    """Return ``table`` with columns an .h5ad can hold: text (bytes decoded) as categories, dates as text.

    A column of mixed values (numbers and text, lists) becomes text, so that writing the result never fails after
    the work.
    """
    table = table.copy()
    for column in table.columns:
        values = table[column]
        if isinstance(values.dtype, pd.CategoricalDtype):
            values = values.astype(object)
        if pd.api.types.is_datetime64_any_dtype(values) or pd.api.types.is_timedelta64_dtype(values):
            values = values.astype(str).where(values.notna())
        if values.dtype != object:
            table[column] = values
            continue
        values = values.map(_decoded)
        filled = values[values.notna()]
        numbers = filled.map(lambda v: isinstance(v, int | float | np.number) and not isinstance(v, bool | np.bool_))
        if len(filled) and numbers.all():
            table[column] = pd.to_numeric(values)
        else:
            table[column] = values.map(lambda v: v if v is None or isinstance(v, str) else str(v)).astype("category")
    return table


def _decoded(value):
    """Return text for bytes, None for a missing value, else the value."""
    if isinstance(value, bytes):
        return value.decode()
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return value


def coordinates(meta: pd.DataFrame, columns: Sequence[str], file: Path) -> np.ndarray:
    """Return the cells' coordinates from ``columns`` of ``meta`` (float64); raise when absent or not finite."""
    missing = [c for c in columns if c not in meta.columns]
    if missing:
        raise ValueError(f"{file} has no column {', '.join(missing)}: the cells' positions are needed")
    xy = meta[list(columns)].to_numpy(dtype=np.float64)
    bad = ~np.isfinite(xy).all(axis=1)
    if bad.any():
        raise ValueError(f"{int(bad.sum())} cells of {file} have no position (e.g. {meta.index[bad][0]!r}): restore it")
    return xy
