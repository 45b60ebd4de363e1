from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from anndata import AnnData
from matplotlib.colors import ListedColormap, is_color_like
from scanpy import logging as logg

from .._files import write_atomically
from .._sections import section_indices, section_names
from .._utils import domain_labels, overlapping_sections, params_of, sections_column


def finish(fig, show: bool | None, save: str | Path | bool | None, name: str, *, fit_titles: bool = True):
    """Save (creating the folder) and/or show ``fig`` as scanpy plots do; return it unless it was shown.

    ``save=True`` writes ``{name}{plot_suffix}.{format}`` in scanpy's figure folder, as scanpy's plots do;
    ``save=None`` and ``show=None`` follow scanpy's ``settings.autosave`` and ``settings.autoshow`` (a saved figure is
    not shown unless ``show=True``). With ``fit_titles``, titles are first wrapped to the room between each panel and
    its neighbours in the row (a long section name ran over the next panel's title); not in a figure of the user's.
    """
    import scanpy as sc

    if save is None:
        save = bool(sc.settings.autosave)
    if save is False:
        save = None
    if save is True:
        save = Path(sc.settings.figdir) / f"{name}{sc.settings.plot_suffix}.{sc.settings.file_format_figs}"
        logg.warning(f"saving figure to file {save}")  # as scanpy says where it went
    if save is not None and not isinstance(save, str | Path):
        raise TypeError(f"save must be a file path, True (scanpy's figure folder) or None, got {save!r}")
    if fit_titles:
        wrap_titles(fig)
    if save is not None:
        _save(fig, Path(save).expanduser().resolve())
    if show or (show is None and save is None and sc.settings.autoshow):
        plt.show()
        return None
    return fig


#: font sizes (points) tried in turn for a long title, the default first
TITLE_SIZES = (12, 10, 8)


def wrap_titles(fig) -> None:
    """Fit each panel's title to the distance between its centre and its nearest neighbour's in the row, as drawn.

    Wrapped on at most two lines (more would reach into the row above), in a smaller font where two lines are too
    long at the default one.
    """
    if all(len(ax.get_title()) <= 24 for ax in fig.axes):  # fits any panel: no drawing needed
        return
    fig.canvas.draw()  # the layout (and each map's equal aspect) as it will be saved
    renderer = fig.canvas.get_renderer()
    titled = {ax: ax.get_position() for ax in fig.axes if ax.get_title()}
    for ax, box in titled.items():
        centre = box.x0 + box.width / 2
        row = [b.x0 + b.width / 2 for other, b in titled.items() if other is not ax and b.y0 < box.y1 and box.y0 < b.y1]
        room = 0.92 * fig.bbox.width * min((abs(c - centre) for c in row), default=1.0)  # pixels
        _fit_title(ax, ax.get_title().replace("\n", " "), room, renderer)


def _fit_title(ax, text: str, room: float, renderer) -> None:
    """Title ``ax`` with ``text`` on at most two lines ``room`` pixels wide: broken between words where that fits.

    Tried in turn: each font size of :data:`TITLE_SIZES`, each width from the whole text down; a word too long for
    the room (a section name) is broken after an underscore, and only where that does not fit either inside one of
    its parts. Nothing fitting, the last try stays.
    """
    for whole_words, after_underscores in ((True, False), (True, True), (False, False)):
        spaced = text.replace("_", "_ ") if after_underscores else text  # "a_b" may break as "a_" / "b"
        for size in TITLE_SIZES:
            for width in range(len(text), max(8, len(text) // 2 - 1), -1):
                wrapped = textwrap.fill(spaced, width, break_long_words=not whole_words, break_on_hyphens=False)
                wrapped = wrapped.replace("_ ", "_") if after_underscores else wrapped
                if wrapped.count("\n") > 1:  # two lines at most
                    continue
                ax.set_title(wrapped, fontsize=size)
                if ax.title.get_window_extent(renderer).width <= room:
                    return


def marker_size(n_spots: int, size: float | None) -> float:
    """Marker size in points squared: ``size``, or scaled to the number of spots drawn in one panel.

    Each map fills its panel, so a panel of fewer spots shows them larger apart: their markers grow to match.
    """
    return size if size is not None else float(np.clip(40_000 / n_spots, 0.5, 60))


def sections(adata: AnnData, library_key: str | None, spatial_key: str) -> list[tuple[str, np.ndarray]]:
    """Return (name, rows) of each section to draw in its own panel: one unnamed panel when ``library_key`` is None.

    Sections come in the order of the categories of a categorical ``obs[library_key]``, else in the rows' order.

    Warns when, without ``library_key``, the sections of ``obs['library_id']`` (or of the column a joint run modelled)
    would be drawn on top of each other.
    """
    groups = section_indices(adata, library_key, min_size=1)  # any section is drawn, however small
    if groups is None:
        column = sections_column(adata)  # the column a joint run modelled, or 'library_id'
        overlap = overlapping_sections(adata, spatial_key, column)
        if overlap is not None:
            logg.warning(f"{overlap}: drawn on top of each other. Pass library_key='{column}' for a panel each")
        return [("", np.arange(adata.n_obs))]
    panels = list(zip(section_names(adata, library_key), groups, strict=True))
    column = adata.obs[library_key]
    if isinstance(column.dtype, pd.CategoricalDtype):  # the user's order of the sections, not that of the rows
        order = {str(c): i for i, c in enumerate(column.cat.categories)}
        panels.sort(key=lambda panel: order[panel[0]])
    return panels


def grid(n_panels: int, ncols: int) -> tuple[int, int]:
    """Return the rows and columns of a grid of ``n_panels`` panels, at most ``ncols`` per row."""
    ncols = max(1, min(ncols, n_panels))
    return int(np.ceil(n_panels / ncols)), ncols


def map_axes(ax, title: str) -> None:
    """Style ``ax`` as a tissue map titled ``title``: equal aspect, image coordinates (y grows downwards), no axes.

    Called after the spots are drawn. Spots on a line (or one spot) get room across it: with an equal aspect, a map
    of no width or height would be drawn in no space at all.
    """
    ax.set_title(title)
    ax.set_aspect("equal")
    low, high = ax.dataLim.get_points()
    if np.isfinite([low, high]).all():
        spans = high - low
        room = 0.1 * spans.max() if spans.max() > 0 else 1.0
        for k, (get_limits, set_limits) in enumerate(((ax.get_xlim, ax.set_xlim), (ax.get_ylim, ax.set_ylim))):
            if spans[k] < 2 * room:  # widened only: matplotlib's margins are kept where they are wider
                centre, (start, stop) = (low[k] + high[k]) / 2, get_limits()
                set_limits(min(start, centre - room), max(stop, centre + room))
    ax.invert_yaxis()
    ax.axis("off")


#: a map's slot in inches (width, height): the map, its title above it and a margin around it
MAP_SLOT = (4.2, 4.0)
#: inches above a map for its title (two lines at 12 points), and around it
TITLE_ROOM, MAP_MARGIN = 0.55, 0.15


def place_maps(fig, axes: np.ndarray, legend_room: float, *, legend_per_map: bool, min_height: float = 0) -> None:
    """Size ``fig`` and place the grid of maps ``axes`` in inches, each in a :data:`MAP_SLOT`, the legends beside.

    With ``legend_per_map``, each map's legend gets ``legend_room`` inches right of its map; otherwise the legends (one
    per row) share a column ``legend_room`` wide after the last map column. The maps keep their size and never
    overlap, whatever their shapes and the legends' length. A figure made ``min_height`` inches tall (for what is
    drawn beside the maps) keeps the maps at its top.
    """
    nrows, ncols = axes.shape
    slot_width, slot_height = MAP_SLOT
    column_width = slot_width + (legend_room if legend_per_map else 0)
    width, height = column_width * ncols + (0 if legend_per_map else legend_room), max(slot_height * nrows, min_height)
    map_width, map_height = slot_width - 2 * MAP_MARGIN, slot_height - TITLE_ROOM - MAP_MARGIN
    fig.set_size_inches(width, height)
    for r, c in np.ndindex(nrows, ncols):
        ax, left, bottom = axes[r, c], c * column_width + MAP_MARGIN, height - (r + 1) * slot_height + MAP_MARGIN
        ax.set_position([left / width, bottom / height, map_width / width, map_height / height])
        legend = ax.get_legend()
        if legend is not None and legend_per_map:
            legend.set_bbox_to_anchor((1, 0.5), transform=ax.transAxes)  # right of the map as drawn
        elif legend is not None:
            anchor = (ncols * slot_width / width, (bottom + map_height / 2) / height)
            legend.set_bbox_to_anchor(anchor, transform=fig.transFigure)


def stored_colours(adata: AnnData, column: str) -> dict[str, object] | None:
    """Return scanpy's colours of ``obs[column]``'s categories, ``uns['{column}_colors']``, by category; or None.

    Used where the column is categorical and the list holds a valid colour for each category, as ``sc.pl`` reads it:
    a figure of semst_sc then matches scanpy's, and a subset (whose unused categories anndata drops with their
    colours) keeps each domain's colour.
    """
    from matplotlib.colors import is_color_like

    values, stored = adata.obs[column], adata.uns.get(f"{column}_colors")
    if stored is None or not isinstance(values.dtype, pd.CategoricalDtype):
        return None
    stored = list(stored)
    if len(stored) < len(values.cat.categories) or not all(is_color_like(c) for c in stored):
        return None
    return dict(zip(map(str, values.cat.categories), stored, strict=False))


def distinct_colours(n: int) -> list:
    """Return ``n`` distinct colours: matplotlib's tab10 or tab20, beyond 20 scanpy's 28- and 102-colour palettes."""
    from scanpy.plotting import palettes

    if n <= 20:
        cmap = plt.get_cmap("tab10" if n <= 10 else "tab20")
        return [cmap(i) for i in range(n)]
    colours = palettes.default_28 if n <= 28 else palettes.default_102
    if n > len(colours):
        logg.warning(
            f"{n} labels, more than the {len(colours)} distinct colours of scanpy's largest palette: some share a "
            "colour (pass palette=, or draw fewer labels with groups=)"
        )
    return [colours[i % len(colours)] for i in range(n)]


def default_colours(adata: AnnData, column: str) -> list:
    """Return distinct colours of the column's labels; domains of :func:`~semst_sc.tl.cluster` by their number.

    Domain ``i`` of the ``n_found`` a clustering recorded (``uns[column]['params']``) takes the ``i``-th colour, so a
    subset of the spots (one section of several) shows each domain in the colour of the whole slide's map.
    """
    labels = domain_labels(adata.obs[column]).categories
    n_found = params_of(adata.uns.get(column)).get("n_found")
    if n_found is None or not all(str(label).isdigit() for label in labels):
        return distinct_colours(len(labels))
    colours = distinct_colours(max(int(n_found), *(int(label) + 1 for label in labels)))
    return [colours[int(label)] for label in labels]


def colours_from(palette, categories: Sequence[str]) -> list:
    """Return a colour per category from a user's ``palette``, as scanpy's ``palette=`` reads it.

    A colormap name (a qualitative one's colours in turn, another's spread over the categories), a list of colours
    (in the categories' order, repeated when shorter) or a dict by category (the others coloured as by default).
    """
    n = len(categories)
    if isinstance(palette, str):
        cmap = plt.get_cmap(palette)  # a ValueError naming the valid names for another string
        if isinstance(cmap, ListedColormap) and cmap.N <= 32:
            return [cmap(i % cmap.N) for i in range(n)]
        return [cmap(i / max(n - 1, 1)) for i in range(n)]
    if isinstance(palette, Mapping):
        unknown = set(map(str, palette)) - set(categories)
        if unknown:
            raise ValueError(f"palette names {sorted(unknown)}, not among the labels {list(categories)[:10]}")
        default = distinct_colours(n)
        chosen = {str(k): v for k, v in palette.items()}
        colours = [chosen.get(c, default[i]) for i, c in enumerate(categories)]
    else:
        colours = list(palette)
        if not colours:
            raise ValueError("palette is empty: give colours, e.g. ['red', 'tab:blue', '#00ff00']")
        colours = [colours[i % len(colours)] for i in range(n)]
    bad = next((c for c in colours if not is_color_like(c)), None)
    if bad is not None:
        raise ValueError(f"palette holds {bad!r}, which is not a matplotlib colour")
    return colours


#: legend entries per column of a legend beside a 4-inch map
LEGEND_ROWS = 20
#: colour of the spots without a value (scanpy's ``na_color``)
NA_COLOUR = "lightgrey"


def missing_label(values: pd.Series) -> str:
    """Return the legend label of missing values: ``"NA"``, or ``"NA (missing)"`` where a label is ``"NA"`` itself."""
    return "NA (missing)" if "NA" in set(domain_labels(values).categories) else "NA"


def legend_entries(values: pd.Series) -> tuple[list[str], int]:
    """Return the labels ``values`` hold (:func:`labels` order, :func:`missing_label` last), and legend columns."""
    categories = domain_labels(values)
    present = set(categories.dropna().unique())
    missing = [missing_label(values)] if pd.isna(categories).any() else []
    names = [c for c in categories.categories if c in present] + missing
    return names, max(1, int(np.ceil(len(names) / LEGEND_ROWS)))


def _save(fig, path: Path) -> None:
    """Write ``fig`` to ``path`` through a hidden file beside it, renamed when complete.

    An interrupted or failed save (a full disk, Ctrl-C) leaves an earlier figure at ``path`` whole, not truncated.
    """
    if not path.suffix:  # as matplotlib names it
        path = path.with_name(f"{path.name}.{plt.rcParams['savefig.format']}")
    path.parent.mkdir(parents=True, exist_ok=True)
    format_ = path.suffix.lstrip(".").lower()
    write_atomically(path, lambda partial: fig.savefig(partial, dpi=150, bbox_inches="tight", format=format_))
