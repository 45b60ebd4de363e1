"""SpatialData input of run_pipeline (Xenium, CosMx, Visium HD through spatialdata-io): the table, its coordinates.

spatialdata is imported only here and only when a SpatialData arrives, so ``import semst_sc`` stays fast.
"""

from __future__ import annotations

import sys
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from anndata import AnnData
from scanpy import logging as logg

from . import _constants as C
from ._utils import check_spatial, library_key_hint, overlapping_sections

if TYPE_CHECKING:
    from spatialdata import SpatialData

#: the element kinds a table can annotate, as SpatialData names its mappings
_ANNOTATED = ("shapes", "points", "labels")


def is_spatialdata(data: Any) -> bool:
    """Return True when ``data`` is a :class:`spatialdata.SpatialData` (a SpatialData means spatialdata is loaded)."""
    module = sys.modules.get("spatialdata")
    return module is not None and isinstance(data, module.SpatialData)


def import_spatialdata():
    """Import spatialdata, or raise an ImportError that says how to install it."""
    try:
        import spatialdata
    except ImportError as error:
        raise ImportError(
            "SpatialData input (Xenium, CosMx, Visium HD read with spatialdata-io) needs the spatialdata package: "
            "pip install spatialdata (or pip install 'semst-sc[spatialdata]')"
        ) from error
    return spatialdata


def get_table(sdata: SpatialData, table_key: str) -> AnnData:
    """Return ``sdata.tables[table_key]``, or raise an error that lists the tables there are."""
    if table_key not in sdata.tables:
        raise KeyError(
            f"table '{table_key}' not found in the SpatialData: its tables are {list(sdata.tables)}; "
            "name the one with the counts with table_key= (CLI: --table-key)"
        )
    return sdata.tables[table_key]


def check_regions_apart(table: AnnData, coordinates: np.ndarray | None, library_key: str | None) -> None:
    """Raise when, without ``library_key``, the regions a table annotates lie on top of each other.

    ``spatialdata.concatenate`` of two samples gives one table annotating an element of each, both in ``'global'``
    and each from 0: read as one frame, their cells would be each other's neighbours. ``coordinates``: the rows'
    positions when the table has no ``obsm['spatial']``.
    """
    attrs = table.uns.get("spatialdata_attrs") or {}
    region_key = attrs.get("region_key")
    if library_key is not None or region_key is None or region_key not in table.obs:
        return
    overlap = overlapping_sections(table, C.SPATIAL_KEY, region_key, coordinates)
    if overlap is not None:
        raise ValueError(f"{overlap}: they would be modelled as one sample. {library_key_hint(region_key)}")


def element_coordinates(
    sdata: SpatialData, table: AnnData, table_key: str, library_key: str | None = None
) -> np.ndarray:
    """Return the centroids of the shapes, points or labels that ``table`` annotates, one row per table row.

    The table's ``uns['spatialdata_attrs']`` (region, region_key, instance_key) names the elements; each row takes
    the centroid (:func:`spatialdata.get_centroids`, in the ``'global'`` coordinate system or the element's only one)
    of the instance its ``obs[instance_key]`` names. Elements in different coordinate systems are refused unless
    ``library_key`` is the region key (each element a section, its neighbours found within it). The result is
    checked as ``obsm['spatial']`` would be.
    """
    import_spatialdata()
    from spatialdata import get_centroids
    from spatialdata.models import get_table_keys
    from spatialdata.transformations import get_transformation

    missing = f"table '{table_key}' has no obsm['{C.SPATIAL_KEY}']"
    if not table.uns.get("spatialdata_attrs"):
        raise KeyError(
            f"{missing} and annotates no shapes, points or labels (no uns['spatialdata_attrs']): store the cell "
            f"coordinates in obsm['{C.SPATIAL_KEY}'] or annotate an element with "
            "spatialdata.models.TableModel.parse(table, region=..., region_key=..., instance_key=...)"
        )
    regions, region_key, instance_key = get_table_keys(table)
    regions = [regions] if isinstance(regions, str) else list(regions)
    for key in (region_key, instance_key):
        if key not in table.obs:
            raise KeyError(f"{missing}, and obs['{key}'] named in its uns['spatialdata_attrs'] is missing")
    row_regions = table.obs[region_key].astype(str).to_numpy()
    coords, annotated = np.full((table.n_obs, 2), np.nan), np.zeros(table.n_obs, dtype=bool)
    described, systems_used = [], {}
    for region in regions:
        rows = np.flatnonzero(row_regions == region)
        if len(rows) == 0:
            continue
        kind = next((kind for kind in _ANNOTATED if region in getattr(sdata, kind)), None)
        if kind is None:
            raise KeyError(
                f"{missing}, and the element '{region}' it annotates is not in the SpatialData (shapes: "
                f"{list(sdata.shapes)}, points: {list(sdata.points)}, labels: {list(sdata.labels)})"
            )
        element = getattr(sdata, kind)[region]
        systems = list(get_transformation(element, get_all=True))
        if "global" not in systems and len(systems) != 1:
            raise ValueError(
                f"{missing}, and {kind} '{region}' has no 'global' coordinate system but {systems}: store the "
                f"coordinates in obsm['{C.SPATIAL_KEY}'] (e.g. spatialdata.get_centroids in the system you want)"
            )
        system = "global" if "global" in systems else systems[0]
        index = element.index if kind == "shapes" else None  # a GeoDataFrame's ids (points: lazy, labels: none)
        if index is not None and not index.is_unique:
            twice = index[index.duplicated()].tolist()[0]  # a Python value: 4, not np.int64(4)
            raise ValueError(
                f"{missing}, and {kind} '{region}' it annotates has instance ids twice in its index (first: "
                f"{twice!r}): a row of the table cannot name one; give the element unique ids"
            )
        with warnings.catch_warnings():  # dask's divisions of an unsorted index: computed at once, harmless here
            warnings.filterwarnings(
                "ignore", message="The index of the dataframe is not monotonic", category=UserWarning
            )
            centroids = get_centroids(element, coordinate_system=system).compute()
        found = pd.Index(centroids.index).get_indexer(table.obs[instance_key].to_numpy()[rows])
        if (found < 0).any():
            first = table.obs_names[rows[found < 0][0]]
            raise ValueError(
                f"{missing}, and {int((found < 0).sum())} of its rows annotating {kind} '{region}' name no instance "
                f"of it (first: {first!r}; obs['{instance_key}'] is matched against the element's index)"
            )
        coords[rows], annotated[rows] = centroids[["x", "y"]].to_numpy()[found], True
        described.append(f"{kind} '{region}' (coordinate system '{system}')")
        systems_used[region] = system
    if len(set(systems_used.values())) > 1 and not _sections_in_one_system(
        table, region_key, library_key, systems_used
    ):
        raise ValueError(
            f"{missing}, and the elements it annotates are in different coordinate systems ({systems_used}): their "
            f"centroids are not comparable. Fit each as its own section (library_key='{region_key}', CLI: "
            f"--library-key {region_key}), give them a common 'global' system, or store the coordinates in "
            f"obsm['{C.SPATIAL_KEY}']"
        )
    if not annotated.all():
        raise ValueError(
            f"{missing}, and {int((~annotated).sum())} of its rows (first: {table.obs_names[~annotated][0]!r}) "
            f"annotate no element of its region {regions} (obs['{region_key}'])"
        )
    check_spatial(coords, table.obs_names, what=f"the centroids of {', '.join(described)}")
    logg.info(f"{missing}: using the centroids of {', '.join(described)}")
    return coords


def _sections_in_one_system(table: AnnData, region_key: str, library_key: str | None, systems: dict) -> bool:
    """Return True when every section of ``obs[library_key]`` has all its rows in one coordinate system."""
    if library_key is None or library_key not in table.obs:
        return False
    system = table.obs[region_key].astype(str).map(systems)
    return bool((system.groupby(table.obs[library_key].astype(str).to_numpy()).nunique() <= 1).all())


def with_table(sdata: SpatialData, table_key: str, table: AnnData) -> SpatialData:
    """Return a new SpatialData with ``table`` under ``table_key``; every other element is ``sdata``'s, uncopied."""
    spatialdata = import_spatialdata()
    try:
        return spatialdata.SpatialData(
            images=dict(sdata.images),
            labels=dict(sdata.labels),
            points=dict(sdata.points),
            shapes=dict(sdata.shapes),
            tables={**sdata.tables, table_key: table},
            attrs=dict(sdata.attrs),
        )
    except ValueError as error:  # spatialdata's ValidationError, e.g. a region column that is not categorical
        raise ValueError(
            f"copy=True builds a new SpatialData, and the tables do not validate ({error}): fix them (e.g. "
            "TableModel.parse(table, region=..., region_key=..., instance_key=...)) or run in place (copy=False)"
        ) from error
