"""Cells from their outlines: the centroids of GeoJSON polygons (Space Ranger 4's Visium HD cell segmentations)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd


def outline_centroids(geojson: Path) -> pd.DataFrame:
    """Return each outlined cell's ``cell_id`` and centroid (x, y), indexed by its barcode (``cellid_000000001-1``).

    The centroid of a polygon is its area's (the shoelace formula, holes taken out); of a multi-polygon, the
    area-weighted mean of its parts'. The features are decoded one at a time, so that the outlines of a slide (a
    GeoJSON of hundreds of MB) never stand in memory as Python objects all at once.
    """
    try:
        rows = [(_cell_id(f["properties"]["cell_id"]), *_centroid(f["geometry"])) for f in _features(geojson)]
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, IndexError, ZeroDivisionError) as err:
        raise ValueError(
            f"{geojson} is not a GeoJSON of cell outlines with an integer cell_id each ({type(err).__name__}: "
            f"{err}): restore it from Space Ranger's segmented_outputs"
        ) from err
    table = pd.DataFrame(rows, columns=["cell_id", "x", "y"])
    repeated = table["cell_id"][table["cell_id"].duplicated()].unique()
    if len(repeated):
        raise ValueError(
            f"{geojson} outlines cell {', '.join(map(str, repeated[:5]))} more than once: restore it from Space "
            "Ranger's segmented_outputs"
        )
    table.index = [f"cellid_{cell:09d}-1" for cell in table["cell_id"]]
    return table


def _features(geojson: Path) -> Iterator[dict]:
    """Yield the features of a GeoJSON FeatureCollection one by one, decoding each from the file's text."""
    text = geojson.read_text()
    start = re.search(r'"features"\s*:\s*\[', text)
    if start is None:
        raise ValueError("no 'features' list")
    decoder, between = json.JSONDecoder(), re.compile(r"[\s,]*")
    position = start.end()
    while True:
        position = between.match(text, position).end()
        if position >= len(text):
            raise ValueError("the 'features' list is not closed")
        if text[position] == "]":
            return
        feature, position = decoder.raw_decode(text, position)
        yield feature


def _cell_id(value) -> int:
    """Return a GeoJSON ``cell_id`` (a whole number, possibly written as text or a float) as an int."""
    number = float(value)
    if not number.is_integer():
        raise ValueError(f"cell_id {value!r} is not a whole number")
    return int(number)


def _centroid(geometry: dict) -> tuple[float, float]:
    """Return the area centroid of a GeoJSON Polygon or MultiPolygon, its holes taken out."""
    polygons = {"Polygon": [geometry["coordinates"]], "MultiPolygon": geometry["coordinates"]}[geometry["type"]]
    moments, total = np.zeros(2), 0.0
    for polygon in polygons:
        for k, ring in enumerate(polygon):  # the outer ring, then the holes
            area, centre = _ring_area_centre(np.asarray(ring, dtype=np.float64)[:, :2])
            sign = 1.0 if k == 0 else -1.0
            moments += sign * area * centre
            total += sign * area
    if total <= 0:  # degenerate outlines (no area): the mean of the outer rings' corners
        corners = np.concatenate([np.asarray(polygon[0], dtype=np.float64)[:, :2] for polygon in polygons])
        return float(corners[:, 0].mean()), float(corners[:, 1].mean())
    centre = moments / total
    return float(centre[0]), float(centre[1])


def _ring_area_centre(ring: np.ndarray) -> tuple[float, np.ndarray]:
    """Return the (unsigned) area and the centroid of a closed or open ring of (x, y) corners (shoelace formula)."""
    x, y, x1, y1 = ring[:, 0], ring[:, 1], np.roll(ring[:, 0], -1), np.roll(ring[:, 1], -1)
    cross = x * y1 - x1 * y
    signed = cross.sum() / 2
    if signed == 0:
        return 0.0, ring.mean(axis=0)
    centre = np.array([((x + x1) * cross).sum(), ((y + y1) * cross).sum()]) / (6 * signed)
    return abs(signed), centre
