"""The mouse olfactory bulb, Spatial Transcriptomics (Ståhl et al., Science 2016), with its layer labels."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import scipy.sparse as sp
from anndata import AnnData

from ._paths import default_data_dir

_FILE = Path("mouse_ob") / "mouseOB_ST_Stahl2016.h5ad"


def mouse_ob(path: str | Path | None = None) -> AnnData:
    """Load the mouse olfactory bulb section (262 spots, 15,928 genes) with its five layers.

    Parameters
    ----------
    path
        The .h5ad file; defaults to ``{default_data_dir()}/mouse_ob/mouseOB_ST_Stahl2016.h5ad``.

    Returns
    -------
    AnnData with

    - ``X``: raw counts (CSR, float32); ``var['gene_symbol']``: the (mouse) gene symbols;
    - ``obs['layer']``: the layer (categorical, 5 layers from ``'1: Granular Cell Layer'`` to
      ``'5: Olfactory Nerve Layer'``; NaN for 2 unannotated spots);
    - ``obsm['spatial']``: the spot array positions (``x``, ``y``, also in ``obs``).

    """
    path = default_data_dir() / _FILE if path is None else Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"mouse olfactory bulb data not found at {path}: pass path= to the file mouseOB_ST_Stahl2016.h5ad, "
            "or set SEMST_DATA_DIR to the folder that holds mouse_ob/"
        )
    adata = ad.read_h5ad(path)
    adata.X = sp.csr_matrix(adata.X, dtype=np.float32)
    adata.var["gene_symbol"] = adata.var_names.to_numpy()
    return adata
