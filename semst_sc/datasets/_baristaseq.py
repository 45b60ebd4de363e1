"""The BaristaSeq mouse primary visual cortex sections (Chen et al., Nucleic Acids Res 2018) with their layer labels."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import anndata as ad
import numpy as np
import scipy.sparse as sp
from anndata import AnnData

from ._paths import default_data_dir

#: the three adjacent sections of the benchmark copy
SLICES = (1, 2, 3)
_FILE = "BaristaSeq_VISp_slice{slice}.h5ad"


def baristaseq(slices: int | Sequence[int] = 1, data_dir: str | Path | None = None) -> AnnData:
    """Load one BaristaSeq VISp section (79 genes, single cells), or several stacked into one AnnData.

    Parameters
    ----------
    slices
        A section, 1, 2 or 3, or a list of them.
    data_dir
        Data folder holding ``baristaseq/BaristaSeq_VISp_slice{1,2,3}.h5ad``; defaults to
        :func:`~semst_sc.datasets.default_data_dir` (``$SEMST_DATA_DIR``).

    Returns
    -------
    AnnData with

    - ``X``: raw counts (CSR, float32); ``var['gene_symbol']``: the (mouse) gene symbols;
    - ``obs['layer']``: the cortical layer (categorical, 6 classes ``VISp_I`` ... ``VISp_wm``); the other
      published cell attributes in ``obs``;
    - ``obsm['spatial']``: cell positions.

    For a list, the sections are joined with :func:`semst_sc.concat_sections`: ``obs['library_id']`` says the
    section (``'slice1'``, ...) and the cell names become ``'{cell}-slice1'``, ... Each section keeps its own
    coordinates, so the sections overlap in ``obsm['spatial']``: pass ``library_key='library_id'`` to the steps.

    """
    root = default_data_dir() if data_dir is None else Path(data_dir).expanduser().resolve()
    if isinstance(slices, int | np.integer):
        return _read(root, slices)
    slices = list(slices)
    if not slices or len(set(slices)) < len(slices):
        raise ValueError(f"slices={slices}: give distinct sections out of {SLICES}")
    from .._sections import concat_sections

    return concat_sections({f"slice{s}": _read(root, s) for s in slices})


def _read(root: Path, slice_id: int) -> AnnData:
    """One section, counts as CSR float32 and the gene symbols in ``var``."""
    if slice_id not in SLICES:
        raise ValueError(f"BaristaSeq has sections {SLICES}, not {slice_id!r}")
    path = root / "baristaseq" / _FILE.format(slice=slice_id)
    if not path.is_file():
        raise FileNotFoundError(
            f"BaristaSeq section {slice_id} not found at {path}: set SEMST_DATA_DIR or pass data_dir= to the folder "
            "that holds baristaseq/"
        )
    adata = ad.read_h5ad(path)
    adata.X = sp.csr_matrix(adata.X, dtype=np.float32)
    adata.var["gene_symbol"] = adata.var_names.to_numpy()
    return adata
