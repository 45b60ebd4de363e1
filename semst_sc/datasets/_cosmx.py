"""Read a NanoString CosMx flat-file export (expression matrix and cell metadata) into AnnData."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from anndata import AnnData

from .. import _constants as C
from ._cell_csv import coordinates, find_one, read_counts, read_metadata, tidy_columns

_ID_COLUMNS = ["fov", "cell_ID"]
_GLOBAL = ["CenterX_global_px", "CenterY_global_px"]


def read_cosmx(path: str | Path | Sequence[str | Path]) -> AnnData:
    """Read a CosMx flat-file export: the cells' gene counts and positions on the slide; or several as sections.

    Parameters
    ----------
    path
        The folder of one slide's flat files (AtoMx export), holding ``*_exprMat_file.csv`` and
        ``*_metadata_file.csv`` (``.csv.gz`` read too). A list of folders reads each as a section and joins them
        with :func:`semst_sc.concat_sections`, each named by its folder (``obs['library_id']``).

    Returns
    -------
    AnnData with one observation per cell (``cell_ID`` 0, a field of view's transcripts outside every cell, is
    left out), named ``'{cell_ID}_{fov}'`` as :func:`squidpy.read.nanostring` names them, and

    - ``X``: counts of the panel's genes (CSR, float32); the negative probes and system controls (``NegPrb*``,
      ``Negative<n>``, ``SystemControl*``, ``FalseCode*``) are left out and summed per cell in
      ``obs['control_counts']``;
    - ``obs``: the metadata's columns (``fov``, ``Area``, ``CenterX_local_px``, ...), but for the global centres;
    - ``obsm['spatial']``: the cell centre on the slide (``CenterX_global_px``, ``CenterY_global_px``), in pixels.
      Not the centre within its field of view (squidpy's ``obsm['spatial']``): fields of view are pieces of one
      tissue, and a domain spans them.

    Examples
    --------
    >>> adata = sst.datasets.read_cosmx("Lung5_Rep1/Lung5_Rep1-Flat_files_and_images")  # doctest: +SKIP
    >>> sst.run_pipeline(adata, 7)  # doctest: +SKIP
    """
    if not isinstance(path, str | Path):
        from .._sections import concat_folders

        return concat_folders(read_cosmx, path)
    path = Path(path).expanduser()
    counts_file = find_one(path, C.COSMX_COUNTS, "expression matrix")
    meta_file = find_one(path, C.COSMX_METADATA, "cell metadata table")
    ids, counts, genes, controls = read_counts(
        counts_file,
        _ID_COLUMNS,
        text_columns=("cell",),  # AtoMx's name
    )
    in_cell = _id_text(ids["cell_ID"]).to_numpy() != "0"
    names = _names(ids[in_cell])
    if names.duplicated().any():
        raise ValueError(f"{counts_file} lists cell {names[names.duplicated()][0]!r} twice: restore it")
    meta = read_metadata(meta_file, dtype={c: str for c in _ID_COLUMNS})
    missing = [c for c in _ID_COLUMNS if c not in meta.columns]
    if missing:
        raise ValueError(f"{meta_file} has no column {', '.join(missing)}: a CosMx metadata table names each cell")
    meta.index = _names(meta)
    if meta.index.duplicated().any():
        raise ValueError(f"{meta_file} lists cell {meta.index[meta.index.duplicated()][0]!r} twice: restore it")
    absent = ~names.isin(meta.index)
    if absent.any():
        raise ValueError(
            f"{int(absent.sum())} of the {len(names)} cells of {counts_file.name} (e.g. {names[absent][0]!r}) have no "
            f"row in {meta_file}: the tables come from different runs, or one is incomplete"
        )
    meta = meta.loc[names]
    spatial = coordinates(meta, _GLOBAL, meta_file)
    obs = meta.drop(columns=_GLOBAL)
    obs["control_counts"] = controls[in_cell]
    for column in _ID_COLUMNS:  # read as text to name the cells exactly; numbers, as the export writes them
        numbers = pd.to_numeric(obs[column].str.strip(), errors="coerce")
        if numbers.notna().all() and (numbers == numbers.round()).all():
            obs[column] = numbers.astype(np.int64)
    obs = tidy_columns(obs)
    adata = AnnData(counts[np.flatnonzero(in_cell)], obs=obs, var=pd.DataFrame(index=pd.Index(genes)))
    adata.obsm[C.SPATIAL_KEY] = np.ascontiguousarray(spatial)
    adata.var_names_make_unique()
    return adata


def _names(table: pd.DataFrame) -> pd.Index:
    """Name cells ``'{cell_ID}_{fov}'``, as squidpy does; a cell id is unique within its field of view only."""
    return pd.Index(_id_text(table["cell_ID"]) + "_" + _id_text(table["fov"]), name=None)


def _id_text(values: pd.Series) -> pd.Series:
    """Return ids as text, whole numbers written as integers: ``'1.0'`` in one table matches ``'1'`` in the other."""
    text = values.str.strip()
    numbers = pd.to_numeric(text, errors="coerce")
    whole = (numbers.notna() & (numbers == numbers.round())).to_numpy()
    text[whole] = numbers[whole].astype(np.int64).astype(str)
    return text
