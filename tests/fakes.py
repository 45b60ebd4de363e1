"""Test doubles shared by the test modules."""

import gzip
import io
import json
import warnings
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import scipy.io
import scipy.sparse as sp


class CountingEncoder:
    """Deterministic text encoder that records the texts it embeds."""

    def __init__(self, dim=8):
        self.dim = dim
        self.seen = []

    def encode(self, texts):
        self.seen.extend(texts)
        return np.stack([np.random.default_rng(len(t) * 7919 + sum(map(ord, t))).normal(size=self.dim) for t in texts])


# ---------------------------------------------------------------- a tiny Space Ranger folder

BARCODES = ["AAAC-1", "AAAG-1", "AACT-1", "AAGA-1", "ACGT-1", "AGGT-1"]
GENE_IDS = ["ENSG00000197971", "ENSG00000123560", "ENSG00000075624", "ENSG00000183036", "ENSG00000999999"]
GENE_NAMES = ["MBP", "PLP1", "ACTB", "PCP4", "PCP4"]  # duplicated symbol on purpose


def write_10x_h5(path: Path, counts: np.ndarray, barcodes=BARCODES, ids=GENE_IDS, names=GENE_NAMES, types=None) -> None:
    """Write a cells x features count matrix as a Cell Ranger v3 HDF5 file (features of ``types``, default genes)."""
    types = ["Gene Expression"] * len(ids) if types is None else types
    m = sp.csc_matrix(counts.T)  # genes x cells, one column per barcode
    with h5py.File(path, "w") as f:
        f.attrs["library_ids"] = np.array([b"fake_library"])
        g = f.create_group("matrix")
        g["data"] = m.data.astype(np.int32)
        g["indices"] = m.indices.astype(np.int64)
        g["indptr"] = m.indptr.astype(np.int64)
        g["shape"] = np.array(m.shape, dtype=np.int32)
        g["barcodes"] = np.array(barcodes, dtype="S")
        features = g.create_group("features")
        features["id"] = np.array(ids, dtype="S")
        features["name"] = np.array(names, dtype="S")
        features["feature_type"] = np.array(types, dtype="S")
        features["genome"] = np.array([b"GRCh38"] * len(ids))
        features["_all_tag_keys"] = np.array([b"genome"])


def write_segmented_outputs(
    folder: Path, cells, *, outlines: str = "cell_segmentations.geojson", layout: str = "h5"
) -> None:
    """Write ``cells`` (an AnnData with ``obsm['spatial']``) as Space Ranger 4's Visium HD ``segmented_outputs``.

    ``filtered_feature_cell_matrix.h5`` (``layout="mtx"``: the ``filtered_feature_cell_matrix/`` folder) with
    barcodes ``cellid_000000001-1``..., and each cell's outline in
    ``outlines``: a hexagon centred on its position, in full-resolution pixels (the last cell a two-part
    multi-polygon of equal parts, centred on it too); cell ids start at 1.
    """
    folder.mkdir(parents=True, exist_ok=True)
    counts = np.asarray(cells.X.todense() if sp.issparse(cells.X) else cells.X).astype(int)
    barcodes = [f"cellid_{i + 1:09d}-1" for i in range(cells.n_obs)]
    ids = [f"ENSG{i:011d}" for i in range(cells.n_vars)]
    if layout == "h5":
        write_10x_h5(folder / "filtered_feature_cell_matrix.h5", counts, barcodes, ids, list(cells.var_names))
    else:
        write_10x_mtx(folder / "filtered_feature_cell_matrix", counts, barcodes, ids, list(cells.var_names))
    angles = np.linspace(0, 2 * np.pi, 7)[:-1]
    features = []
    for i, (x, y) in enumerate(np.asarray(cells.obsm["spatial"], dtype=float)):

        def ring(cx, cy, r=3.0):
            points = [[cx + r * np.cos(a), cy + r * np.sin(a)] for a in angles]
            return [points + [points[0]]]  # closed, as GeoJSON writes rings

        if i == cells.n_obs - 1:
            geometry = {"type": "MultiPolygon", "coordinates": [ring(x - 5, y), ring(x + 5, y)]}
        else:
            geometry = {"type": "Polygon", "coordinates": ring(x, y)}
        features.append({"type": "Feature", "geometry": geometry, "properties": {"cell_id": i + 1}})
    (folder / outlines).write_text(json.dumps({"type": "FeatureCollection", "features": features}))


def write_10x_mtx(folder: Path, counts: np.ndarray, barcodes=BARCODES, ids=GENE_IDS, names=GENE_NAMES, types=None):
    """Write a cells x features count matrix as a Cell Ranger v3 mtx folder (matrix, features, barcodes; gzipped)."""
    types = ["Gene Expression"] * len(ids) if types is None else types
    folder.mkdir(parents=True)
    buffer = io.BytesIO()
    scipy.io.mmwrite(buffer, sp.coo_matrix(counts.T), field="integer")  # genes x cells
    (folder / "matrix.mtx.gz").write_bytes(gzip.compress(buffer.getvalue()))
    features = "".join(f"{i}\t{n}\t{t}\n" for i, n, t in zip(ids, names, types, strict=True))
    (folder / "features.tsv.gz").write_bytes(gzip.compress(features.encode()))
    (folder / "barcodes.tsv.gz").write_bytes(gzip.compress("".join(f"{b}\n" for b in barcodes).encode()))


def make_spaceranger(folder: Path, *, positions: str = "list", layout: str = "h5") -> np.ndarray:
    """Build a tiny Space Ranger folder; the last matrix barcode lies outside the tissue.

    ``layout``: ``"h5"`` writes ``filtered_feature_bc_matrix.h5``, ``"mtx"`` the ``filtered_feature_bc_matrix/``
    folder, ``"both"`` both.
    """
    rng = np.random.default_rng(0)
    counts = rng.poisson(3, size=(len(BARCODES), len(GENE_IDS)))
    (folder / "spatial").mkdir(parents=True)
    if layout in ("h5", "both"):
        write_10x_h5(folder / "filtered_feature_bc_matrix.h5", counts)
    if layout in ("mtx", "both"):
        write_10x_mtx(folder / "filtered_feature_bc_matrix", counts)
    rows = [
        [b, int(i < 5), i // 3, 2 * (i % 3) + (i // 3) % 2, 1000 + 10 * i, 2000 + 20 * i]
        for i, b in enumerate(BARCODES)
    ]
    rows.append(["TTTT-1", 1, 5, 5, 1, 2])  # a spot without counts
    table = pd.DataFrame(
        rows, columns=["barcode", "in_tissue", "array_row", "array_col", "pxl_row_in_fullres", "pxl_col_in_fullres"]
    )
    # "list": the old name, no header; "new": the new name, a header; the two mixed, as files edited by hand are
    if positions == "parquet":  # Visium HD (Space Ranger >= 3): the bins' positions as parquet
        table.to_parquet(folder / "spatial" / "tissue_positions.parquet", index=False)
    else:
        name, header = {
            "list": ("tissue_positions_list.csv", False),
            "new": ("tissue_positions.csv", True),
            "list_with_header": ("tissue_positions_list.csv", True),
            "new_without_header": ("tissue_positions.csv", False),
        }[positions]
        table.to_csv(folder / "spatial" / name, header=header, index=False)
    scalefactors = {"spot_diameter_fullres": 96.4, "tissue_hires_scalef": 0.15, "tissue_lowres_scalef": 0.045}
    (folder / "spatial" / "scalefactors_json.json").write_text(json.dumps(scalefactors))
    return counts


# ---------------------------------------------------------------- a small Xenium-like SpatialData


def make_spatialdata(element: str = "circles", *, scale: float = 1.0):
    """Build a SpatialData of 400 simulated Xenium cells: ``element`` 'cells' and the table 'table' annotating it.

    ``element`` is ``"circles"`` (shapes) or ``"points"``, stored in the reverse order of the table's rows (rows are
    matched by instance id) and mapped to the 'global' coordinate system by a scale of ``scale``. The table keeps
    ``obsm['spatial']`` (the cell centres, unscaled) and the simulation's truth in ``obs['domain']``.
    """
    import spatialdata as sd
    from spatialdata.models import PointsModel, ShapesModel, TableModel
    from spatialdata.transformations import Scale

    from semst_sc.datasets import simulate_tissue

    table = simulate_tissue(platform="xenium", n_cells=400, n_genes=60)
    ids = np.arange(table.n_obs)[::-1]
    xy = table.obsm["spatial"][ids]
    transformations = {"global": Scale([scale, scale], axes=("x", "y"))}
    if element == "circles":
        cells = ShapesModel.parse(
            xy, geometry=0, radius=np.full(len(xy), 5.0), index=pd.Index(ids), transformations=transformations
        )
        elements = {"shapes": {"cells": cells}}
    else:
        with warnings.catch_warnings():  # the unsorted index, on purpose
            warnings.filterwarnings("ignore", message="The index of the dataframe is not monotonic")
            cells = PointsModel.parse(pd.DataFrame(xy, columns=["x", "y"], index=ids), transformations=transformations)
        elements = {"points": {"cells": cells}}
    table.obs["region"] = pd.Categorical(["cells"] * table.n_obs)
    table.obs["cell_id"] = np.arange(table.n_obs)
    table = TableModel.parse(table, region="cells", region_key="region", instance_key="cell_id")
    return sd.SpatialData(**elements, tables={"table": table})


def smoothed_pcs(adata, n_comps=30, n_neighbors=6):
    """A cheap stand-in for a SemST embedding: log-normalised PCs averaged over each spot and its spatial neighbours."""
    import scanpy as sc
    from scipy.spatial import cKDTree

    base = adata.copy()
    sc.pp.normalize_total(base)
    sc.pp.log1p(base)
    sc.pp.pca(base, n_comps=n_comps, random_state=0)
    neighbours = cKDTree(adata.obsm["spatial"]).query(adata.obsm["spatial"], k=n_neighbors + 1)[1]
    return base.obsm["X_pca"][neighbours].mean(axis=1)


def scanpy_warnings(call, level: int = 1) -> str:
    """Run ``call`` and return what scanpy logged at warning level (``level=2``: and at info level)."""
    import scanpy as sc

    stream = io.StringIO()
    verbosity, logfile = sc.settings.verbosity, sc.settings.logfile
    sc.settings.verbosity, sc.settings.logfile = level, stream
    try:
        call()
    finally:
        sc.settings.verbosity, sc.settings.logfile = verbosity, logfile
    return stream.getvalue()


def on_a_view(parent, call, copy: bool = False):
    """Run ``call(view)`` on a view of ``parent`` (its left half), anndata's ImplicitModificationWarning an error.

    Checks that ``parent`` is left as it was (its keys, X, obs and var) and, with ``copy=True``, that the view is too,
    still a view, and that ``call`` returned an actual AnnData. Returns the view (actual now, when written in place)
    and what ``call`` returned.
    """
    import anndata as ad

    def state(adata):
        keys = {name: list(getattr(adata, name).keys()) for name in ("obs", "var", "uns", "obsm", "obsp", "layers")}
        return keys, adata.X.copy(), adata.obs.copy(), adata.var.copy()

    x = parent.obsm["spatial"][:, 0]
    view = parent[x < np.median(x)]
    before, view_before = state(parent), state(view)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ad.ImplicitModificationWarning)
        result = call(view)
    for old, new in ((before, state(parent)), *(((view_before, state(view)),) if copy else ())):
        assert new[0] == old[0]
        assert (sp.csr_matrix(new[1]) != sp.csr_matrix(old[1])).nnz == 0
        assert new[2].equals(old[2]) and new[3].equals(old[3])
    if copy:
        assert view.is_view and isinstance(result, ad.AnnData) and not result.is_view
        assert result.n_obs == view.n_obs < parent.n_obs
    else:
        assert not view.is_view and result is None
    return view, result


def write_gem(path: Path, adata, *, bin_size: int = 50, rng: int = 0, columns: str = "geneID", cells: bool = False):
    """Write ``adata``'s counts (bins on a square lattice) as a Stereo-seq GEM of single DNBs, as SAW writes one.

    Each count of a bin goes to a random DNB inside the bin's square (its ``bin_size`` x ``bin_size`` DNBs); several
    counts of one gene at one DNB become one row. ``columns``: ``"geneID"`` (older GEMs: symbols as geneID, MIDCount),
    ``"geneName"`` (newer: an Ensembl-like geneID beside geneName, MIDCounts). ``cells``: a cell-bin GEM, a ``CellID``
    column naming each bin as a cell. Returns each observation's (array_col, array_row) on the lattice.
    """
    generator = np.random.default_rng(rng)
    xy = adata.obsm["spatial"]
    lattice = np.column_stack([np.unique(xy[:, k], return_inverse=True)[1] for k in (0, 1)])
    counts = sp.coo_matrix(adata.X)
    repeat = counts.data.astype(np.int64)
    obs, gene = np.repeat(counts.row, repeat), np.repeat(counts.col, repeat)
    dnb = lattice[obs] * bin_size + generator.integers(0, bin_size, size=(len(obs), 2))
    rows = pd.DataFrame({"gene": gene, "x": dnb[:, 0], "y": dnb[:, 1], "obs": obs})
    rows = rows.groupby(["gene", "x", "y", "obs"]).size().rename("count").reset_index()
    symbols = np.asarray(adata.var_names)[rows["gene"]]
    if columns == "geneName":
        table = pd.DataFrame({"geneID": [f"ENSMUSG{g:011d}" for g in rows["gene"]], "geneName": symbols})
        count_column = "MIDCounts"
    else:
        table = pd.DataFrame({"geneID": symbols})
        count_column = "MIDCount"
    table["x"], table["y"], table[count_column] = rows["x"], rows["y"], rows["count"]
    table["ExonCount"] = rows["count"]
    if cells:
        table["CellID"] = rows["obs"] + 1
    table = table.sample(frac=1, random_state=rng)  # SAW's rows are in no particular order
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt") as handle:
        handle.write("#FileFormat=GEMv0.1\n#SortedBy=None\n#BinSize=1\n#Stereo-seqChip=TEST\n#OffsetX=0\n#OffsetY=0\n")
        table.to_csv(handle, sep="\t", index=False)
    return lattice


# ---------------------------------------------------------------- a Xenium output folder

XENIUM_CONTROLS = {  # feature name -> type, as Xenium Onboard Analysis writes them beside the panel's genes
    "NegControlProbe_00042": "Negative Control Probe",
    "NegControlCodeword_0500": "Negative Control Codeword",
    "UnassignedCodeword_0001": "Unassigned Codeword",
}


def write_xenium(folder: Path, adata, *, cells: str = "parquet", layout: str = "h5", experiment: bool = True):
    """Write ``adata`` (cells, counts, ``obsm['spatial']`` in µm) as a Xenium output folder; return the cell ids.

    The matrix holds the genes and the control features of :data:`XENIUM_CONTROLS` (one count in every cell);
    the cell table (``cells``: ``"parquet"``, ``"parquet_bytes"`` with ids stored as bytes, or ``"csv"``, gzipped)
    lists the cells in reverse order, with ``transcript_counts``, ``cell_area`` and ``segmentation_method``.
    ``layout``: ``"h5"`` (``cell_feature_matrix.h5``) or ``"mtx"`` (``cell_feature_matrix/``).
    """
    folder.mkdir(parents=True)
    ids = [f"{'abcdefgh'[i % 8]}{i:07d}-1" for i in range(adata.n_obs)]
    genes = list(adata.var_names)
    counts = np.asarray(sp.csr_matrix(adata.X).todense()).astype(np.int64)
    counts = np.hstack([counts, np.ones((adata.n_obs, len(XENIUM_CONTROLS)), dtype=np.int64)])
    names = genes + list(XENIUM_CONTROLS)
    features = dict(
        ids=[f"ENSG{i:011d}" for i in range(len(genes))] + list(XENIUM_CONTROLS),
        names=names,
        types=["Gene Expression"] * len(genes) + list(XENIUM_CONTROLS.values()),
    )
    if layout == "h5":
        write_10x_h5(folder / "cell_feature_matrix.h5", counts, barcodes=ids, **features)
    else:
        write_10x_mtx(folder / "cell_feature_matrix", counts, barcodes=ids, **features)
    xy = adata.obsm["spatial"]
    table = pd.DataFrame(
        {
            "cell_id": [i.encode() for i in ids] if cells == "parquet_bytes" else ids,
            "x_centroid": xy[:, 0],
            "y_centroid": xy[:, 1],
            "transcript_counts": counts[:, : len(genes)].sum(axis=1),
            "cell_area": np.full(adata.n_obs, 60.0),
            "segmentation_method": ["Segmented by boundary stain"] * adata.n_obs,
        }
    ).iloc[::-1]
    if cells == "csv":
        table.to_csv(folder / "cells.csv.gz", index=False)
    else:
        table.to_parquet(folder / "cells.parquet", index=False)
    if experiment:
        meta = {"run_name": "test run", "region_name": "Region_1", "pixel_size": 0.2125, "num_cells": adata.n_obs}
        meta["images"] = {"morphology_filepath": "morphology.ome.tif"}
        (folder / "experiment.xenium").write_text(json.dumps(meta))
    return ids


# ---------------------------------------------------------------- MERSCOPE and CosMx exports


def write_merscope(folder: Path, adata, *, suffix: str = "", gz: bool = False) -> list[str]:
    """Write ``adata`` (cells, counts, ``obsm['spatial']`` in µm) as a MERSCOPE region folder; return the cell ids.

    ``cell_by_gene{suffix}.csv`` holds the genes and two ``Blank-*`` barcodes (one count each per cell);
    ``cell_metadata{suffix}.csv`` lists the cells in reverse order, with ``fov`` and ``volume``.
    """
    folder.mkdir(parents=True)
    ids = [str(10**12 + 7 * i) for i in range(adata.n_obs)]
    counts = pd.DataFrame(np.asarray(sp.csr_matrix(adata.X).todense()).astype(np.int64), columns=adata.var_names)
    counts.insert(0, "cell", ids)
    counts["Blank-0001"] = counts["Blank-0002"] = 1
    xy = adata.obsm["spatial"]
    meta = pd.DataFrame(
        {"fov": np.arange(adata.n_obs) // 50, "volume": 900.0, "center_x": xy[:, 0], "center_y": xy[:, 1]}, index=ids
    ).iloc[::-1]
    end = ".csv.gz" if gz else ".csv"
    counts.to_csv(folder / f"cell_by_gene{suffix}{end}", index=False)
    meta.to_csv(folder / f"cell_metadata{suffix}{end}")
    return ids


def write_cosmx(folder: Path, adata, *, gz: bool = False, scale: float = 8.0) -> list[str]:
    """Write ``adata`` as a CosMx flat-file export; return the cell names ``'{cell_ID}_{fov}'`` in its order.

    The cells are cut into four fields of view by position (ids counted from 1 in each), their global centres are
    ``obsm['spatial'] * scale`` pixels and their local ones relative to the field's corner; each field also has a
    ``cell_ID`` 0 row (transcripts in no cell). Control columns ``NegPrb1``, ``NegPrb2``, ``SystemControl1``.
    """
    folder.mkdir(parents=True)
    xy = adata.obsm["spatial"] * scale
    middle = np.median(xy, axis=0)
    fov = 1 + (xy[:, 0] > middle[0]) + 2 * (xy[:, 1] > middle[1])
    cell_id = np.zeros(adata.n_obs, dtype=int)
    for f in np.unique(fov):
        cell_id[fov == f] = np.arange(1, (fov == f).sum() + 1)
    counts = pd.DataFrame(np.asarray(sp.csr_matrix(adata.X).todense()).astype(np.int64), columns=adata.var_names)
    counts.insert(0, "cell_ID", cell_id)
    counts.insert(0, "fov", fov)
    counts["NegPrb1"], counts["NegPrb2"], counts["SystemControl1"] = 1, 0, 2
    background = counts.groupby("fov").sum().reset_index().assign(cell_ID=0)[counts.columns]
    corner = np.array([[xy[fov == f].min(axis=0)] for f in fov])[:, 0]
    meta = pd.DataFrame({"fov": fov, "cell_ID": cell_id, "Area": 5000})
    meta["CenterX_local_px"], meta["CenterY_local_px"] = (xy - corner).T
    meta["CenterX_global_px"], meta["CenterY_global_px"] = xy.T
    end = ".csv.gz" if gz else ".csv"
    pd.concat([background, counts]).to_csv(folder / f"Run5_Rep1_exprMat_file{end}", index=False)
    meta.iloc[::-1].to_csv(folder / f"Run5_Rep1_metadata_file{end}", index=False)
    (folder / "Run5_Rep1_fov_positions_file.csv").write_text("fov,x_global_px,y_global_px\n1,0,0\n")
    return [f"{c}_{f}" for c, f in zip(cell_id, fov, strict=True)]


# ---------------------------------------------------------------- control features among the genes

#: control features as instruments name them: Xenium, MERSCOPE, CosMx and the MERFISH hypothalamus release
CONTROL_PROBES = [
    "NegControlProbe_00042",
    "NegControlCodeword_0500",
    "UnassignedCodeword_0001",
    "BLANK_0006",
    "Blank-3",
    "Blank_1",
    "NegPrb5",
    "SystemControl1",
]


def with_control_probes(adata, where):
    """``adata`` with the control features of :data:`CONTROL_PROBES` as columns, counts high in ``where``."""
    rng = np.random.default_rng(0)
    controls = rng.poisson(np.where(where[:, None], 8.0, 0.3), size=(adata.n_obs, len(CONTROL_PROBES)))
    from anndata import AnnData

    out = AnnData(
        sp.hstack([sp.csr_matrix(adata.X), sp.csr_matrix(controls, dtype=np.float32)]).tocsr(),
        obs=adata.obs.copy(),
        obsm={"spatial": adata.obsm["spatial"]},
    )
    out.var_names = [*adata.var_names, *CONTROL_PROBES]
    return out
