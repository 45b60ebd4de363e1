"""The LIBD human DLPFC Visium slices (spatialLIBD; Maynard et al., Nat Neurosci 2021) with their layer labels."""

from __future__ import annotations

import urllib.request
from collections.abc import Sequence
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData
from scanpy import logging as logg

from ._paths import default_data_dir
from ._spaceranger import read_spaceranger

#: the ground-truth column of the spatialLIBD metadata
LABEL_KEY = "layer_guess_reordered"
_COUNT_FILE = "filtered_feature_bc_matrix.h5"
_METADATA_FILES = ("metadata.tsv", "metadata.tsv.gz")
_H5_URL = "https://spatial-dlpfc.s3.us-east-2.amazonaws.com/h5/{slice_id}_filtered_feature_bc_matrix.h5"
# spatialLIBD labels and spot positions as redistributed by the SEDR authors (pinned commit)
_SEDR_URL = (
    "https://raw.githubusercontent.com/JinmiaoChenLab/SEDR_analyses/"
    "00084465fa72cfccf54cee0d5b914cdadaee9961/data/DLPFC/{slice_id}/{file}"
)
_SEDR_FILES = ("metadata.tsv", "spatial/tissue_positions_list.csv", "spatial/scalefactors_json.json")


def dlpfc(
    slice_id: str | Sequence[str] = "151673", data_dir: str | Path | None = None, *, download: bool = False
) -> AnnData:
    """Load a DLPFC Visium slice with its manual layer annotation, or several as one AnnData.

    Two layouts are read, in this order:

    A. ``{data_dir}/dlpfc/derived/DLPFC_{slice_id}_top5000.h5ad`` (the benchmark copy: 5,000 genes);
    B. a Space Ranger folder ``{data_dir}/{slice_id}/`` with ``filtered_feature_bc_matrix.h5``,
       ``spatial/tissue_positions_list.csv`` (or ``tissue_positions.csv``) and the spatialLIBD
       ``metadata.tsv(.gz)`` (barcode index, column ``layer_guess_reordered``).

    Parameters
    ----------
    slice_id
        The spatialLIBD sample id, e.g. ``"151673"``; a list, e.g. ``["151673", "151674"]``, joins the slices with
        :func:`semst_sc.concat_sections` (``obs['library_id']`` the sample id, spot names ``"{barcode}-{id}"``).
    data_dir
        Data folder; defaults to :func:`~semst_sc.datasets.default_data_dir` (``$SEMST_DATA_DIR``).
    download
        Download the public spatialLIBD files into ``{data_dir}/{slice_id}/`` (layout B) when neither layout
        is present. Needs internet access (about 20 MB per slice).

    Returns
    -------
    AnnData with

    - ``X``: raw counts (CSR, float32); ``var['gene_symbol']``: gene symbols;
    - ``obs['layer_guess_reordered']``: the layer labels (categorical, NaN where unannotated);
    - ``obs['array_row']``, ``obs['array_col']``; ``obsm['spatial']``: (pxl_col, pxl_row) full-resolution pixels.

    """
    if not isinstance(slice_id, str | int):
        from .._sections import concat_sections

        ids = [str(s) for s in slice_id]
        if not ids or len(set(ids)) < len(ids):
            raise ValueError(f"slice_id={list(slice_id)}: give one or more distinct sample ids")
        return concat_sections({s: dlpfc(s, data_dir, download=download) for s in ids})
    slice_id = str(slice_id)
    root = default_data_dir() if data_dir is None else Path(data_dir).expanduser().resolve()
    derived = root / "dlpfc" / "derived" / f"DLPFC_{slice_id}_top5000.h5ad"
    folder = root / slice_id
    if derived.is_file():
        adata = ad.read_h5ad(derived)
    else:
        if download and not (folder / _COUNT_FILE).is_file():
            _download(slice_id, folder)
        if not (folder / _COUNT_FILE).is_file():
            raise FileNotFoundError(
                f"DLPFC slice {slice_id} not found; tried {derived} and {folder / _COUNT_FILE}. "
                f"Set SEMST_DATA_DIR or pass data_dir= to the folder holding the data, "
                f"or call dlpfc({slice_id!r}, download=True) to fetch it from spatialLIBD"
            )
        adata = read_spaceranger(folder)
        adata.obs[LABEL_KEY] = _read_labels(folder).reindex(adata.obs_names).to_numpy()
    return _standardise(adata)


def _read_labels(folder: Path) -> pd.Series:
    """Read the spatialLIBD layer labels of a slice folder, indexed by barcode."""
    files = [folder / name for name in _METADATA_FILES]
    file = next((f for f in files if f.is_file()), None)
    if file is None:
        raise FileNotFoundError(
            f"layer labels not found; tried {[str(f) for f in files]}: put the spatialLIBD metadata.tsv of the "
            "slice there (or use download=True)"
        )
    metadata = pd.read_csv(file, sep="\t", low_memory=False)
    if "barcode" in metadata.columns:
        metadata = metadata.set_index("barcode")
    if LABEL_KEY not in metadata.columns:
        raise KeyError(f"{file} has no column '{LABEL_KEY}': expected the spatialLIBD spot metadata")
    metadata.index = metadata.index.astype(str)
    return metadata[LABEL_KEY]


def _standardise(adata: AnnData) -> AnnData:
    """Bring both layouts to the same form: CSR float32 counts, categorical labels, unique names."""
    adata.X = sp.csr_matrix(adata.X, dtype=np.float32)
    adata.obs[LABEL_KEY] = pd.Categorical(np.asarray(adata.obs[LABEL_KEY], dtype=object))  # sorted, NaN kept
    if "gene_symbol" not in adata.var:
        adata.var["gene_symbol"] = adata.var_names.to_numpy()
    adata.obs_names_make_unique()
    adata.var_names_make_unique()
    n_unlabelled = int(adata.obs[LABEL_KEY].isna().sum())
    if n_unlabelled:
        logg.info(f"{n_unlabelled} of {adata.n_obs} spots have no layer label (NaN in obs['{LABEL_KEY}'])")
    return adata


def _download(slice_id: str, folder: Path) -> None:
    """Download the counts, labels and spot positions of one slice into a Space Ranger-like folder."""
    files = {_COUNT_FILE: _H5_URL.format(slice_id=slice_id)}
    files.update({name: _SEDR_URL.format(slice_id=slice_id, file=name) for name in _SEDR_FILES})
    for name, url in files.items():
        target = folder / name
        if target.is_file():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        logg.info(f"downloading {url} -> {target}")
        try:
            urllib.request.urlretrieve(url, partial)
        except OSError as error:
            partial.unlink(missing_ok=True)
            raise OSError(
                f"could not download {url} ({error}): check the internet connection, "
                f"or fetch the file by hand and save it as {target}"
            ) from error
        partial.replace(target)
