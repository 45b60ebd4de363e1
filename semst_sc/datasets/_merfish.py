"""MERFISH of the mouse hypothalamic preoptic region (Moffitt et al., Science 2018), values as released."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

from .._utils import is_control_probe
from ._paths import default_data_dir

_FILE = Path("merfish_hypothalamus") / "hypothalamus.rda"
_SECTIONS = (0.26, 0.21)


def merfish_hypothalamus(bregma: float | Sequence[float] | None = None, path: str | Path | None = None) -> AnnData:
    """Load the MERFISH sections of the mouse preoptic hypothalamus (animal 1, 156 genes, 11,162 cells).

    The values are those Moffitt et al. released: counts divided by each cell's volume, not integers.
    :func:`semst_sc.pp.prepare` models them as counts and says so in a warning. The five blank (negative control)
    barcodes are left out. There are no domain labels: ``Cell_class`` holds cell types.

    Parameters
    ----------
    bregma
        The section(s) to load, by Bregma position (``0.26``, ``0.21``); ``None``: both, told apart by
        ``obs['bregma']`` (pass ``library_key='bregma'`` to fit them together).
    path
        The .rda file; defaults to ``{default_data_dir()}/merfish_hypothalamus/hypothalamus.rda``.

    Returns
    -------
    AnnData with

    - ``X``: the volume-normalised values (CSR, float32); ``var['gene_symbol']``: the (mouse) gene symbols;
    - ``obs['Cell_class']``: the published cell class (16, incl. ``'Ambiguous'``); ``obs['bregma']``: the section;
    - ``obsm['spatial']``: the cell centroids (µm).

    """
    import rdata

    wanted = _SECTIONS if bregma is None else tuple(np.atleast_1d(bregma).astype(float))
    unknown = [float(b) for b in wanted if not np.isclose(b, _SECTIONS).any()]
    if unknown:
        raise ValueError(f"bregma must be among {_SECTIONS}, got {unknown}")
    path = default_data_dir() / _FILE if path is None else Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"MERFISH hypothalamus data not found at {path}: pass path= to the file hypothalamus.rda, "
            "or set SEMST_DATA_DIR to the folder that holds merfish_hypothalamus/"
        )
    data = rdata.read_rda(path)["hypothalamus"]
    expression = data["expression"]  # genes x cells
    genes = np.asarray(expression.coords[expression.dims[0]].values, dtype=str)
    cells = np.asarray(expression.coords[expression.dims[1]].values, dtype=str)
    locations = data["locations"]
    keep = np.isin(np.round(locations["sdimz"].to_numpy(), 2), np.round(wanted, 2))
    is_gene = ~np.array([is_control_probe(gene) for gene in genes], dtype=bool)  # the blank barcodes left out
    obs = pd.DataFrame(
        {
            "Cell_class": pd.Categorical(np.asarray(data["metadata"]["Cell_class"], dtype=str)[keep]),
            "bregma": pd.Categorical(locations["sdimz"].to_numpy()[keep].round(2).astype(str)),
        },
        index=pd.Index(cells[keep], dtype=object),
    )
    X = np.asarray(expression.values, dtype=np.float32)[is_gene][:, keep].T
    adata = AnnData(sp.csr_matrix(X), obs=obs, var=pd.DataFrame(index=pd.Index(genes[is_gene], dtype=object)))
    adata.var["gene_symbol"] = adata.var_names.to_numpy()
    adata.obsm["spatial"] = locations[["sdimx", "sdimy"]].to_numpy(dtype=np.float64)[keep]
    return adata
