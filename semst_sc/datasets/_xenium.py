"""Read a Xenium output folder (10x Xenium Onboard Analysis) into AnnData, without spatialdata-io."""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData
from scanpy import logging as logg

from .. import _constants as C
from ._cell_csv import tidy_columns
from ._spaceranger import read_10x

_CENTROIDS = ["x_centroid", "y_centroid"]


def read_xenium(path: str | Path | Sequence[str | Path]) -> AnnData:
    """Read a Xenium output folder: the cells' gene counts and centroids; or several folders as sections.

    Parameters
    ----------
    path
        The Xenium output folder (Xenium Onboard Analysis' ``outs``), holding ``cell_feature_matrix.h5`` (or the
        ``cell_feature_matrix/`` mtx folder) and ``cells.parquet`` (or ``cells.csv.gz``), their names with a prefix
        too, as 10x's downloads have them; ``experiment.xenium`` is read when present. A list of folders reads each
        as a section and joins them with :func:`semst_sc.concat_sections`, each named by its folder, or the folder
        above an ``outs`` folder (``obs['library_id']``).

    Returns
    -------
    AnnData with one observation per cell of the matrix and

    - ``X``: raw counts of the panel's genes (CSR, float32): the ``Gene Expression`` features; control probes and
      codewords, genomic controls and proteins are left out (logged); ``var_names``: gene symbols made unique;
    - ``var['gene_symbol']``, ``var['gene_ids']``: the symbols and Ensembl IDs;
    - ``obs``: the cell table's columns (``transcript_counts``, ``cell_area``, ...), but for the centroids;
    - ``obsm['spatial']``: the cell centroid (``x_centroid``, ``y_centroid``) in µm;
    - ``uns['xenium']``: the single values of ``experiment.xenium`` (run, region, panel, ``pixel_size``, ...).

    Examples
    --------
    >>> adata = sst.datasets.read_xenium("output-XETG00000__0001__Region_1")  # doctest: +SKIP
    >>> sst.run_pipeline(adata, 7)  # doctest: +SKIP
    """
    if not isinstance(path, str | Path):
        from .._sections import concat_folders

        return concat_folders(read_xenium, path)
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"Xenium output folder {path} not found")
    if not path.is_dir():
        raise ValueError(f"{path} is not a folder: pass the Xenium output folder that holds it")
    matrix_file = _find(path, C.XENIUM_MATRICES, "cell-feature matrix")
    adata = _read_matrix(matrix_file)
    cells_file = _find(path, _readable_tables(path), "cell table")
    cells = _read_cells(cells_file)
    missing = ~adata.obs_names.isin(cells.index)
    if missing.any():
        raise ValueError(
            f"{int(missing.sum())} of the {adata.n_obs} cells of {matrix_file.name} (e.g. "
            f"{adata.obs_names[missing][0]!r}) have no row in {cells_file}: the matrix and the "
            "cell table come from different runs, or the table is incomplete"
        )
    cells = cells.loc[adata.obs_names]
    spatial = cells[_CENTROIDS].to_numpy(dtype=np.float64)
    if not np.isfinite(spatial).all():
        bad = cells.index[~np.isfinite(spatial).all(axis=1)]
        raise ValueError(f"{len(bad)} cells of {cells_file} have no centroid (e.g. {bad[0]!r}): restore the cell table")
    obs = tidy_columns(cells.drop(columns=_CENTROIDS))
    obs.index = adata.obs_names
    adata.obs = obs
    adata.obsm[C.SPATIAL_KEY] = spatial
    experiment = path / C.XENIUM_EXPERIMENT
    if experiment.is_file():
        adata.uns["xenium"] = _experiment(experiment)
    return adata


def _readable_tables(path: Path) -> tuple[str, ...]:
    """Return the cell-table patterns this environment reads: parquet needs pyarrow (or fastparquet)."""
    try:
        pd.io.parquet.get_engine("auto")
    except ImportError:
        parquet = next(path.glob(C.XENIUM_CELL_TABLES[0]), None)
        if parquet is not None and all(next(path.glob(p), None) is None for p in C.XENIUM_CELL_TABLES[1:]):
            raise ImportError(f"reading the cell table {parquet} needs pyarrow: pip install pyarrow") from None
        return C.XENIUM_CELL_TABLES[1:]
    return C.XENIUM_CELL_TABLES


def _find(path: Path, patterns: Sequence[str], what: str) -> Path:
    """Return the one file (or folder) of ``path`` matching the first of ``patterns`` that matches any."""
    for pattern in patterns:
        found = sorted(path.glob(pattern))
        if len(found) > 1:
            names = ", ".join(p.name for p in found)
            raise ValueError(f"{path} holds more than one {what} ({names}): put each sample in a folder of its own")
        if found:
            return found[0]
    hint = ""
    if what == "cell-feature matrix" and next(path.glob(C.XENIUM_ZARR), None) is not None:
        hint = " (cell_feature_matrix.zarr.zip is not read: use the .h5 or the mtx folder of the same output)"
    names = " or ".join(p.lstrip("*") for p in patterns)
    raise FileNotFoundError(
        f"no {what} in {path}: a Xenium output folder holds {names}{hint}; pass the folder that Xenium Onboard "
        "Analysis wrote (its 'outs')"
    )


def _read_matrix(matrix_file: Path) -> AnnData:
    """Read the gene-expression features of the cell-feature matrix (a 10x HDF5 file or mtx folder)."""
    with warnings.catch_warnings():  # duplicated symbols are made unique below
        warnings.filterwarnings("ignore", message="Variable names are not unique")
        every = read_10x(matrix_file, "Xenium", "cell_feature_matrix/", gex_only=False)
        genes = (every.var["feature_types"] == "Gene Expression").to_numpy()
        if not genes.any():
            raise ValueError(f"{matrix_file} holds no 'Gene Expression' feature: only controls or codewords")
        left_out = every.var["feature_types"][~genes].value_counts()
        adata = every[:, genes].copy()
    adata.X = sp.csr_matrix(adata.X, dtype=np.float32)
    adata.var["gene_symbol"] = adata.var_names.to_numpy()
    adata.var_names_make_unique()
    others = ", ".join(f"{n} {kind}" for kind, n in left_out.items())
    logg.info(f"read {adata.n_obs} cells x {adata.n_vars} genes from {matrix_file.name}; left out: {others or 'none'}")
    return adata


def _read_cells(cells_file: Path) -> pd.DataFrame:
    """Read the cell table, indexed by cell id as text (ids stored as bytes are decoded)."""
    try:
        if cells_file.name.endswith(".parquet"):
            cells = pd.read_parquet(cells_file)
        else:
            cells = pd.read_csv(cells_file, low_memory=False)
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise ValueError(f"{cells_file} is not a readable Xenium cell table ({err}): restore it") from err
    missing = [c for c in ["cell_id", *_CENTROIDS] if c not in cells.columns]
    if missing:
        raise ValueError(
            f"{cells_file} has no column {', '.join(missing)}: a Xenium cell table holds cell_id, x_centroid and "
            f"y_centroid (columns: {', '.join(map(str, cells.columns))})"
        )
    ids = cells.pop("cell_id")
    ids = ids.map(lambda v: v.decode() if isinstance(v, bytes) else str(v))
    if ids.duplicated().any():
        raise ValueError(f"{cells_file} names cell {ids[ids.duplicated()].iloc[0]!r} twice: restore the cell table")
    cells.index = pd.Index(ids.to_numpy(), name=None)
    return cells


def _experiment(file: Path) -> dict:
    """Return the single values (text, numbers, flags) of ``experiment.xenium``."""
    try:
        meta = json.loads(file.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"{file} is not valid JSON ({err}): restore it from the Xenium output") from err
    if not isinstance(meta, dict):
        raise ValueError(f"{file} is not the JSON object Xenium writes: restore it from the Xenium output")
    return {k: v for k, v in meta.items() if isinstance(v, str | int | float | bool)}
