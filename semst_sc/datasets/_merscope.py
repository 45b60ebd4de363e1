"""Read a Vizgen MERSCOPE output folder (a region's cell-by-gene and cell metadata tables) into AnnData."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from anndata import AnnData

from .. import _constants as C
from ._cell_csv import column_names, coordinates, find_one, read_counts, read_metadata, tidy_columns


def read_merscope(path: str | Path | Sequence[str | Path]) -> AnnData:
    """Read a MERSCOPE region folder: the cells' gene counts and centres; or several folders as sections.

    Parameters
    ----------
    path
        The folder of one region (``region_0``), holding ``cell_by_gene.csv`` and ``cell_metadata.csv`` (names with
        a prefix or suffix, such as ``cell_by_gene_S1R1.csv``, and ``.csv.gz`` are read too). A list of folders reads
        each as a section and joins them with :func:`semst_sc.concat_sections`, each named by its folder, a
        ``region_N`` folder with the experiment's (``EXPERIMENT_region_0``; ``obs['library_id']``).

    Returns
    -------
    AnnData with one observation per cell of the count table and

    - ``X``: counts of the panel's genes (CSR, float32); the ``Blank-*`` barcodes are left out and summed per cell
      in ``obs['control_counts']``;
    - ``obs``: the metadata's columns (``fov``, ``volume``, ...), but for the centres;
    - ``obsm['spatial']``: the cell centre (``center_x``, ``center_y``) in µm.

    Examples
    --------
    >>> adata = sst.datasets.read_merscope("202305010900_U2OS_small_set_VMSC00000/region_0")  # doctest: +SKIP
    >>> sst.run_pipeline(adata, 7)  # doctest: +SKIP
    """
    if not isinstance(path, str | Path):
        from .._sections import concat_folders

        return concat_folders(read_merscope, path)
    path = Path(path).expanduser()
    counts_file = find_one(path, C.MERSCOPE_COUNTS, "cell-by-gene table")
    meta_file = find_one(path, C.MERSCOPE_METADATA, "cell metadata table")
    first = column_names(counts_file)[0][0]  # the cell id: 'cell', 'EntityID' or unnamed
    ids, counts, genes, blanks = read_counts(counts_file, [first])
    names = pd.Index(ids[first].to_numpy(), name=None)
    meta = read_metadata(meta_file, index_col=0)
    meta.index = meta.index.astype(str)
    if meta.index.duplicated().any():
        raise ValueError(f"{meta_file} lists cell {meta.index[meta.index.duplicated()][0]!r} twice: restore it")
    if names.duplicated().any():
        raise ValueError(f"{counts_file} lists cell {names[names.duplicated()][0]!r} twice: restore it")
    absent = ~names.isin(meta.index)
    if absent.any():
        raise ValueError(
            f"{int(absent.sum())} of the {len(names)} cells of {counts_file.name} (e.g. {names[absent][0]!r}) have no "
            f"row in {meta_file}: the tables come from different runs, or one is incomplete"
        )
    meta = meta.loc[names]
    spatial = coordinates(meta, ["center_x", "center_y"], meta_file)
    obs = meta.drop(columns=["center_x", "center_y"]).rename_axis(None)
    obs["control_counts"] = blanks
    obs = tidy_columns(obs)
    adata = AnnData(counts, obs=obs, var=pd.DataFrame(index=pd.Index(genes)))
    adata.obsm[C.SPATIAL_KEY] = np.ascontiguousarray(spatial)
    adata.var_names_make_unique()
    return adata
