from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from anndata import AnnData
from matplotlib.axes import Axes

from .. import _constants as C
from .._docs import doc_params
from .._utils import check_integer, check_is_anndata, get_spatial
from ._show import NA_COLOUR, finish, grid, map_axes, marker_size, sections


@doc_params
def query(
    adata: AnnData,
    *,
    key: str = C.QUERY_KEY,
    spatial_key: str = C.SPATIAL_KEY,
    library_key: str | None = None,
    spot_size: float | None = None,
    cmap: str = "magma",
    vmin: float | str | None = None,
    vmax: float | str | None = None,
    n_genes: int = 8,
    title: str | None = None,
    ncols: int = 4,
    ax: Axes | None = None,
    show: bool | None = None,
    save: str | Path | bool | None = None,
):
    """Show the per-spot score of :func:`semst_sc.tl.query` at the spot positions, with the genes that drive it.

    With ``library_key``, each section gets its own panel, all on one colour scale, ``ncols`` panels per row.

    Parameters
    ----------
    adata
        Spots with the score in ``obs[key]`` and coordinates in ``obsm[spatial_key]``.
    key
        ``obs`` key of the score (the ``key_added`` of :func:`semst_sc.tl.query`).
    spatial_key
        ``obsm`` key of the coordinates.
    library_key
        {doc_library_key}
    spot_size
        Marker size in points squared; by default scaled to the number of spots in each map.
    cmap
        Matplotlib colour map; spots without a score are drawn light grey.
    vmin, vmax
        Ends of the colour scale: a number, a percentile of the scores as scanpy writes it (``"p99"``: their 99th
        percentile, so that a few outlying spots do not compress the scale), or ``None``: the lowest / highest score.
    n_genes
        Driving genes listed under the map.
    title
        Title of the map (with ``library_key``: of each, before the section's name); by default the query's text.
    ncols
        Panels per row (with ``library_key``).
    ax
        A matplotlib axes to draw the map into (one section), its colour bar beside it and the driving genes under
        it; the figure's size and its other axes are left as they are.
    show
        {doc_show}
    save
        {doc_save}

    Returns
    -------
    The matplotlib figure (when ``show`` is False).
    """
    check_is_anndata(adata)
    if key not in adata.obs or key not in adata.uns:
        raise KeyError(f"obs['{key}'] / uns['{key}'] not found: run sst.tl.query(adata, 'text') first")
    result = adata.uns[key]
    if not isinstance(result, dict) or not {"genes", "params"} <= set(result):
        raise KeyError(f"uns['{key}'] is no result of sst.tl.query (no genes, no params): give key= its key_added")
    check_integer(ncols, "ncols")
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a string (one query, one title), got {type(title).__name__}")
    coords = get_spatial(adata, spatial_key)
    panels = sections(adata, library_key, spatial_key)
    if ax is not None and len(panels) > 1:
        raise ValueError(
            f"ax= draws one map, and these are {len(panels)} sections: leave out library_key, or ax=None for a "
            "figure of them all"
        )
    genes = result["genes"].head(n_genes)
    scores = adata.obs[key].to_numpy(dtype=float)
    if not np.isfinite(scores).any():
        raise ValueError(f"obs['{key}'] holds no score (all missing): run sst.tl.query(adata, 'text') again")
    limits = {"vmin": _limit(vmin, scores, np.nanmin), "vmax": _limit(vmax, scores, np.nanmax)}  # for every section
    if limits["vmin"] > limits["vmax"]:
        raise ValueError(f"vmin ({limits['vmin']:g}) is above vmax ({limits['vmax']:g}): give vmin <= vmax")
    nrows, ncols = grid(len(panels), ncols)
    if ax is not None:
        fig, axes = ax.figure, np.array([[ax]])
    else:
        aspect = _aspect([np.ptp(coords[rows, :2], axis=0) for _, rows in panels])
        height = 4.2 * aspect + 0.7  # each map 4.2 inches wide, with room for its title
        fig, axes = plt.subplots(
            nrows, ncols, figsize=(4.6 * ncols + 0.8, height * nrows + 0.5), squeeze=False, layout="constrained"
        )
    colours = plt.get_cmap(cmap).with_extremes(bad=NA_COLOUR)  # a spot without a score is drawn, as scanpy does
    named = f"\u201c{result['params']['text']}\u201d" if title is None else title
    for panel, (section, rows) in zip(axes.ravel(), panels, strict=False):
        size = marker_size(len(rows), spot_size)  # each map's spots fill it alike
        points = panel.scatter(
            *coords[rows, :2].T, c=scores[rows], s=size, cmap=colours, linewidths=0, plotnonfinite=True, **limits
        )
        map_axes(panel, named + (f": {section}" if section else ""))
    for panel in axes.ravel()[len(panels) :]:
        panel.axis("off")
    fig.colorbar(points, ax=list(axes.ravel()), shrink=0.7 / nrows, label="query score")
    # each gene kept with its weight on one line (a no-break space between them)
    drivers = ", ".join(f"{g}\u00a0({w:.2f})" for g, w in zip(genes["gene"], genes["weight"], strict=True))
    if ax is not None:  # the user's figure: the genes under the map, not under the whole figure
        below = textwrap.fill(f"driving genes (weight): {drivers}", 60)  # within the map's width, not the figure's
        ax.text(0.5, -0.02, below, transform=ax.transAxes, ha="center", va="top", fontsize=7)
        return finish(fig, show, save, "query", fit_titles=False)
    fig.supxlabel(f"driving genes (weight): {drivers}", fontsize=7, wrap=True)
    return finish(fig, show, save, "query")


def _aspect(spans: list[np.ndarray]) -> float:
    """Height over width of the tallest map, from each section's (x, y) spans, within 0.25-2.

    A section of one spot (no span) has no shape and is left out; a vertical line of spots counts as tallest.
    """
    ratios = [dy / dx if dx > 0 else np.inf for dx, dy in spans if dx > 0 or dy > 0]
    return float(np.clip(max(ratios, default=1.0), 0.25, 2))


def _limit(value: float | str | None, scores: np.ndarray, default) -> float:
    """Return a colour-scale end: ``value``, the percentile ``"pNN"`` of ``scores``, or ``default(scores)``."""
    if value is None:
        return float(default(scores))
    if isinstance(value, str):
        number = value[1:] if value.startswith("p") else ""
        if not number.replace(".", "", 1).isdecimal() or float(number) > 100:
            raise ValueError(f"a colour-scale end is a number or a percentile 'p0'-'p100' (e.g. 'p99'), got {value!r}")
        return float(np.nanpercentile(scores, float(number)))
    return float(value)
