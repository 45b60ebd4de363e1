"""Read a Space Ranger output folder (10x Visium) into AnnData."""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import scanpy as sc
import scipy.sparse as sp
from anndata import AnnData
from matplotlib.image import imread
from scanpy import logging as logg

from .. import _constants as C
from ._outlines import outline_centroids

_POSITION_COLUMNS = ["in_tissue", "array_row", "array_col", "pxl_row_in_fullres", "pxl_col_in_fullres"]
# the count matrices read when count_file is not given, in this order: the 10x HDF5 file, then the mtx folder
_COUNT_FILES = ("filtered_feature_bc_matrix.h5", "filtered_feature_bc_matrix")
# Space Ranger >= 2.0 writes tissue_positions.csv (with a header), older versions tissue_positions_list.csv (none):
# whether the first row is a header is read from the file, not assumed from its name
_POSITION_FILES = ("tissue_positions.csv", "tissue_positions_list.csv")
# Space Ranger >= 3 writes the positions of Visium HD bins (binned_outputs/square_008um/spatial/) as parquet
_PARQUET_POSITIONS = "tissue_positions.parquet"
# Space Ranger >= 4 segments Visium HD cells (outs/segmented_outputs/): their counts, and their outlines as GeoJSON
# polygons in full-resolution pixels (the annotated file, with graph-cluster labels, where the plain one is absent);
# the counts as for bins: the 10x HDF5 file, then the mtx folder
_CELL_MATRICES = ("filtered_feature_cell_matrix.h5", "filtered_feature_cell_matrix")
_CELL_OUTLINES = ("cell_segmentations.geojson", "graphclust_annotated_cell_segmentations.geojson")


def read_spaceranger(path: str | Path | Sequence[str | Path], *, count_file: str | None = None) -> AnnData:
    """Read a Space Ranger output folder: counts, in-tissue spot positions and scale factors; or several folders.

    Parameters
    ----------
    path
        The Space Ranger ``outs`` folder, holding the count matrix and ``spatial/tissue_positions.csv``
        (Space Ranger >= 2.0) or ``spatial/tissue_positions_list.csv`` (older; ``.csv.gz`` also read); for Visium
        HD, a folder of ``binned_outputs`` (e.g. ``square_008um``), with ``spatial/tissue_positions.parquet``, or the
        cell segmentations of Space Ranger >= 4, ``segmented_outputs`` (``filtered_feature_cell_matrix.h5`` and
        ``cell_segmentations.geojson``: each cell placed at the centroid of its outline). A list of folders reads each
        as a section and joins them with :func:`semst_sc.concat_sections`, each named by its folder, the folder above
        an ``outs`` folder, or ``SAMPLE_square_008um`` / ``SAMPLE_segmented_outputs`` for a Visium HD bin or
        segmentation folder (``obs['library_id']``).
    count_file
        The count matrix inside ``path``: a 10x HDF5 file (e.g. ``"raw_feature_bc_matrix.h5"``) or a folder in the
        Matrix Market layout (``matrix.mtx.gz``, ``features.tsv.gz``, ``barcodes.tsv.gz``). ``None`` reads
        ``filtered_feature_bc_matrix.h5``, else the folder ``filtered_feature_bc_matrix/``
        (``filtered_feature_cell_matrix.h5``, else ``filtered_feature_cell_matrix/``, in ``segmented_outputs``).

    Returns
    -------
    AnnData with the in-tissue spots (or the segmented cells) found in the matrix and

    - ``X``: raw counts (CSR, float32); ``var_names``: gene symbols made unique;
    - ``var['gene_symbol']``: the gene symbols; ``var['gene_ids']``: the Ensembl IDs;
    - ``obs['in_tissue']``, ``obs['array_row']``, ``obs['array_col']`` (segmented cells: ``obs['cell_id']``);
    - ``obsm['spatial']``: (``pxl_col_in_fullres``, ``pxl_row_in_fullres``), as scanpy and squidpy store it (for
      segmented cells: their outlines' area centroids, in the same full-resolution pixels);
    - ``uns['spatial'][library_id]``: ``scalefactors`` and ``images`` (hires/lowres), those present in ``spatial/``.

    """
    if not isinstance(path, str | Path):
        from .._sections import concat_folders

        return concat_folders(lambda folder: read_spaceranger(folder, count_file=count_file), path)
    path = Path(path).expanduser()
    _check_not_visium_hd_outs(path)
    if _is_segmentation_folder(path):
        return _read_segmented_cells(path, count_file)
    matrix_file = _find_matrix(path, count_file)
    adata = _read_matrix(matrix_file)

    positions = _read_positions(path / "spatial")
    positions = positions[positions["in_tissue"] == 1]
    keep = adata.obs_names.isin(positions.index)
    if not keep.any():
        raise ValueError(
            f"none of the {adata.n_obs} barcodes of {matrix_file} is an in-tissue spot of {path / 'spatial'}: "
            "check that the matrix and the positions come from the same Space Ranger run"
        )
    if not keep.all():
        logg.info(f"dropping {int((~keep).sum())} barcodes of {matrix_file.name} that are not in-tissue spots")
        adata = adata[keep].copy()
    positions = positions.loc[adata.obs_names]
    for column in ("in_tissue", "array_row", "array_col"):
        adata.obs[column] = positions[column].to_numpy()
    adata.obsm[C.SPATIAL_KEY] = positions[["pxl_col_in_fullres", "pxl_row_in_fullres"]].to_numpy(dtype=np.float64)
    library_id = _library_id(matrix_file)
    adata.uns["spatial"] = {library_id: _spatial_metadata(path / "spatial")}
    return adata


def _check_not_visium_hd_outs(path: Path) -> None:
    """Raise, naming the folders to pass, for a Visium HD ``outs`` or its ``binned_outputs``."""
    binned = path if path.name == "binned_outputs" else path / "binned_outputs"
    bins = sorted(p.name for p in binned.glob("square_*um") if p.is_dir()) if binned.is_dir() else []
    segmented = binned.parent / "segmented_outputs"
    if (bins or segmented.is_dir()) and not any((path / name).exists() for name in _COUNT_FILES):
        folders = [f"its cell segmentations, {segmented}"] if segmented.is_dir() else []
        if bins:
            bin_folders = f"{binned}/{{{','.join(bins)}}} (8 µm bins, square_008um, are the usual choice)"
            folders.insert(0, f"one of its bin folders, {bin_folders}")
        raise FileNotFoundError(f"{path} is a Visium HD output: pass {', or '.join(folders)}")


def _is_segmentation_folder(path: Path) -> bool:
    """Return True for Space Ranger's Visium HD cell segmentations (``segmented_outputs``)."""
    return path.name == "segmented_outputs" or any((path / name).exists() for name in _CELL_MATRICES)


def _read_matrix(matrix_file: Path) -> AnnData:
    """Read a 10x count matrix (HDF5 file or mtx folder) with CSR float32 counts and unique gene symbols."""
    with warnings.catch_warnings():  # duplicated symbols are made unique right below
        warnings.filterwarnings("ignore", message="Variable names are not unique")
        adata = read_10x(matrix_file, "Space Ranger", "filtered_feature_bc_matrix/")
    adata.X = sp.csr_matrix(adata.X, dtype=np.float32)
    adata.var["gene_symbol"] = adata.var_names.to_numpy()
    adata.var_names_make_unique()
    return adata


def _read_segmented_cells(path: Path, count_file: str | None) -> AnnData:
    """Read Space Ranger's Visium HD cell segmentations: each cell's counts, at the centroid of its outline."""
    outlines = next((path / name for name in _CELL_OUTLINES if (path / name).is_file()), None)
    if outlines is None:
        raise FileNotFoundError(
            f"no cell outlines in {path} (tried {', '.join(_CELL_OUTLINES)}): restore them from Space Ranger's "
            "segmented_outputs, or pass a bin folder of binned_outputs (e.g. square_008um)"
        )
    matrix_file = _find_matrix(path, count_file, _CELL_MATRICES)
    adata = _read_matrix(matrix_file)
    centroids = outline_centroids(outlines)
    keep = adata.obs_names.isin(centroids.index)
    if not keep.any():
        raise ValueError(
            f"none of the {adata.n_obs} cells of {matrix_file.name} has an outline in {outlines.name}: check that "
            "both come from the same Space Ranger run"
        )
    if not keep.all():  # as barcodes without a position are (e.g. a raw matrix)
        logg.info(f"dropping {int((~keep).sum())} cells of {matrix_file.name} that have no outline in {outlines.name}")
        adata = adata[keep].copy()
    adata.obs["cell_id"] = centroids.loc[adata.obs_names, "cell_id"].to_numpy()
    adata.obsm[C.SPATIAL_KEY] = centroids.loc[adata.obs_names, ["x", "y"]].to_numpy(dtype=np.float64)
    adata.uns["spatial"] = {_library_id(matrix_file): _spatial_metadata(path / "spatial")}
    return adata


def _read_positions(spatial: Path) -> pd.DataFrame:
    """Read the spot positions, indexed by barcode, from whichever positions file the folder has."""
    parquet = spatial / _PARQUET_POSITIONS
    if parquet.is_file():
        try:
            table = pd.read_parquet(parquet)
        except ImportError as err:
            raise ImportError(f"reading {parquet} needs pyarrow: pip install pyarrow") from err
        except (OSError, ValueError) as err:
            raise ValueError(f"{parquet} is not a readable positions table ({err}): restore it") from err
        missing = [c for c in ["barcode", *_POSITION_COLUMNS] if c not in table.columns]
        if missing:
            raise ValueError(f"{parquet} has no column {', '.join(missing)}: restore it from Space Ranger's output")
        return table.set_index(table["barcode"].astype(str).to_numpy())[_POSITION_COLUMNS]
    tried = [str(parquet)]
    for name in _POSITION_FILES:
        for file in (spatial / name, spatial / f"{name}.gz"):
            tried.append(str(file))
            if file.is_file():
                try:
                    table = pd.read_csv(file, header=None, index_col=0, dtype=str)
                except (OSError, ValueError, pd.errors.ParserError) as err:  # empty, damaged
                    raise ValueError(f"{file} is not a readable positions table ({err}): restore it") from err
                if table.shape[1] != len(_POSITION_COLUMNS):
                    raise ValueError(
                        f"{file} has {table.shape[1] + 1} columns: a Space Ranger positions file has 6 (barcode, "
                        "in_tissue, array_row, array_col, pxl_row_in_fullres, pxl_col_in_fullres)"
                    )
                if len(table) and not str(table.iloc[0, 0]).strip().isdigit():  # a header row, whatever the name
                    table = table.iloc[1:]
                try:
                    table = table.apply(pd.to_numeric)
                except ValueError as err:
                    raise ValueError(f"{file} holds a position that is not a number ({err}): restore it") from err
                table.columns = _POSITION_COLUMNS
                table.index = table.index.astype(str)
                if table.index.duplicated().any():
                    twice = table.index[table.index.duplicated()][0]
                    raise ValueError(f"{file} lists barcode {twice!r} twice: restore it from Space Ranger's output")
                return table
    hint = "restore the positions file" if spatial.is_dir() else "the Space Ranger folder needs its spatial/ subfolder"
    raise FileNotFoundError(f"spot positions not found; tried {tried}: {hint}")


def _find_matrix(path: Path, count_file: str | None, defaults: tuple[str, ...] = _COUNT_FILES) -> Path:
    """Return the count matrix of a Space Ranger folder: ``count_file``, else the first of ``defaults`` there is."""
    names = defaults if count_file is None else (count_file,)
    for name in names:
        candidate = path / name
        if candidate.is_file() or (candidate.is_dir() and _mtx_file(candidate) is not None):
            return candidate
    if count_file is not None and (path / count_file).is_dir():
        raise FileNotFoundError(
            f"{path / count_file} holds no matrix.mtx(.gz): count_file names a 10x .h5 file or a folder with "
            "matrix.mtx.gz, features.tsv.gz and barcodes.tsv.gz"
        )
    tried = " or ".join(f"'{name}'" for name in names)
    raise FileNotFoundError(
        f"count matrix not found in {path}: pass the Space Ranger output folder that holds {tried} "
        "(or name the matrix file or mtx folder with count_file=; CLI: --count-file)"
    )


def read_10x(matrix_file: Path, instrument: str, mtx_folder: str, **kwargs) -> AnnData:
    """Read a 10x count matrix (HDF5 file or mtx folder) with scanpy; a damaged file gives an error naming it.

    ``instrument`` and ``mtx_folder`` (the matrix folder the instrument writes beside the HDF5 file) go into the
    messages; ``kwargs`` to scanpy's reader.
    """
    if matrix_file.is_dir():
        check_mtx_folder(matrix_file)
    try:
        if matrix_file.is_dir():
            return sc.read_10x_mtx(matrix_file, var_names="gene_symbols", make_unique=False, **kwargs)
        return sc.read_10x_h5(matrix_file, **kwargs)
    except UnicodeDecodeError as err:  # scanpy decodes the HDF5 file's names as ASCII
        name = err.object.decode("utf-8", errors="replace") if isinstance(err.object, bytes) else str(err.object)
        raise ValueError(
            f"{matrix_file} holds a name that is not ASCII ({name!r}), which scanpy's HDF5 reader cannot read: read "
            f"the {mtx_folder} matrix folder {instrument} wrote beside it, or rename that feature"
        ) from err
    except MemoryError:  # a matrix too large for the memory is not damaged
        raise
    except Exception as err:  # noqa: BLE001 - h5py's OSError or RuntimeError, scanpy's bare Exception: all damage
        raise ValueError(
            f"{matrix_file} is not a readable 10x count matrix ({err}): restore it from the {instrument} output"
        ) from err


def check_mtx_folder(folder: Path) -> None:
    """Raise for a 10x mtx folder of Cell Ranger >= 3's layout with files not gzipped (read as written, gzipped)."""
    if (folder / "genes.tsv").is_file():  # Cell Ranger 2's layout (genes.tsv) is read uncompressed
        return
    names = ("matrix.mtx", "features.tsv", "barcodes.tsv")
    plain = [name for name in names if (folder / name).is_file() and not (folder / f"{name}.gz").is_file()]
    if plain:
        raise ValueError(
            f"{folder} holds {', '.join(plain)} uncompressed: 10x's mtx folders are read as written, gzipped; "
            "compress them again (gzip them there)"
        )


def _mtx_file(folder: Path) -> Path | None:
    """Return the Matrix Market file of a 10x mtx folder, or None."""
    return next((folder / n for n in ("matrix.mtx.gz", "matrix.mtx") if (folder / n).is_file()), None)


def _library_id(matrix_file: Path) -> str:
    """Return the library id stored in the 10x HDF5 file, else the folder name (as scanpy's read_visium does)."""
    if matrix_file.is_dir():  # the mtx layout stores no library id
        return matrix_file.parent.name
    with h5py.File(matrix_file, "r") as f:
        ids = f.attrs.get("library_ids")
    if ids is None or len(ids) == 0:
        return matrix_file.parent.name
    first = ids[0]
    return first.decode() if isinstance(first, bytes) else str(first)


def _spatial_metadata(spatial: Path) -> dict:
    """Collect the scale factors and tissue images present in ``spatial/`` (``uns['spatial'][library_id]`` layout)."""
    metadata: dict = {}
    scalefactors = spatial / "scalefactors_json.json"
    if scalefactors.is_file():
        try:
            metadata["scalefactors"] = json.loads(scalefactors.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(
                f"{scalefactors} is not valid JSON ({err}): restore it from Space Ranger's output"
            ) from err
    images = {
        res: _read_image(spatial / f"tissue_{res}_image.png")
        for res in ("hires", "lowres")
        if (spatial / f"tissue_{res}_image.png").is_file()
    }
    if images:
        metadata["images"] = images
    return metadata


def _read_image(file: Path) -> np.ndarray:
    """Read a tissue image; a damaged one gives an error naming it."""
    try:
        return imread(str(file))
    except (OSError, SyntaxError, ValueError) as err:  # Pillow reports a file that is no PNG as a SyntaxError
        raise ValueError(
            f"{file} is not a readable PNG image ({err}): restore it from Space Ranger's output, or remove it (the "
            "images are drawn under the maps, the domains do not need them)"
        ) from err
