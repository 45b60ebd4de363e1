"""The osmFISH mouse somatosensory cortex data (Codeluppi et al., Nat Methods 2018) with its region labels."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

from .. import _constants as C
from ._paths import default_data_dir

_FILE = Path("osmfish") / "osmFISH_SScortex_mouse_all_cells.loom"
_CATEGORICAL = ("Region", "ClusterName")
_EXCLUDED = "Excluded"


def osmfish(path: str | Path | None = None, *, drop_excluded: bool = True) -> AnnData:
    """Load the osmFISH somatosensory cortex cells (33 genes) with their anatomical regions.

    Parameters
    ----------
    path
        The Linnarsson-lab loom file; defaults to
        ``{default_data_dir()}/osmfish/osmFISH_SScortex_mouse_all_cells.loom``.
    drop_excluded
        Drop the cells of region ``'Excluded'`` (1,632 cells outside the annotated regions).

    Returns
    -------
    AnnData with

    - ``X``: raw counts (CSR, float32), cells x genes; ``var['gene_symbol']``: the (mouse) gene symbols;
    - ``obs['Region']``: the anatomical region (categorical, 11 regions without ``'Excluded'``);
    - ``obs['ClusterName']``: the published cell type; the other loom cell attributes in ``obs``;
    - ``obsm['spatial']``: cell centroids (``X``, ``Y``); ``obsm['X_tsne']``: the published t-SNE.

    """
    path = default_data_dir() / _FILE if path is None else Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"osmFISH loom not found at {path}: pass path= to the file osmFISH_SScortex_mouse_all_cells.loom, "
            "or set SEMST_DATA_DIR to the folder that holds osmfish/"
        )
    with h5py.File(path, "r") as f:
        counts = f["matrix"][:]  # genes x cells
        genes = {key: _decode(f["row_attrs"][key][:]) for key in f["row_attrs"]}
        cells = {key: _decode(f["col_attrs"][key][:]) for key in f["col_attrs"]}
    if "Gene" not in genes or not {"CellID", "X", "Y", "Region"} <= cells.keys():
        raise KeyError(f"{path} lacks row_attrs/Gene or col_attrs/CellID, X, Y, Region: expected the osmFISH loom")

    coords = np.column_stack([cells.pop("X"), cells.pop("Y")]).astype(np.float64)
    tsne = np.column_stack([cells.pop("_tSNE_1"), cells.pop("_tSNE_2")]) if "_tSNE_1" in cells else None
    names = cells.pop("CellID")
    obs = pd.DataFrame(cells, index=names)
    for key in _CATEGORICAL:
        if key in obs:
            obs[key] = pd.Categorical(obs[key])
    var = pd.DataFrame(genes).set_index("Gene", drop=False).rename(columns={"Gene": "gene_symbol"})
    var.index.name = None
    adata = AnnData(X=sp.csr_matrix(counts.T.astype(np.float32)), obs=obs, var=var, obsm={C.SPATIAL_KEY: coords})
    if tsne is not None:
        adata.obsm["X_tsne"] = tsne
    adata.obs_names_make_unique()
    adata.var_names_make_unique()
    if drop_excluded:
        adata = adata[adata.obs["Region"] != _EXCLUDED].copy()
        adata.obs["Region"] = adata.obs["Region"].cat.remove_unused_categories()
    return adata


def _decode(values: np.ndarray) -> np.ndarray:
    """Turn the byte strings h5py returns into str; leave numbers alone."""
    return values.astype(str) if values.dtype.kind in "SO" else values
