from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from anndata import AnnData
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from scanpy import logging as logg
from scanpy.plotting import palettes

from .. import _constants as C
from .._docs import doc_params
from .._utils import (
    check_integer,
    check_is_anndata,
    domain_labels,
    get_spatial,
    is_whole,
    names_column,
    names_of_other_domains,
    params_of,
)
from ._show import (
    MAP_MARGIN,
    NA_COLOUR,
    colours_from,
    default_colours,
    finish,
    grid,
    legend_entries,
    map_axes,
    marker_size,
    missing_label,
    place_maps,
    sections,
    stored_colours,
)


@doc_params
def domains(
    adata: AnnData,
    *,
    color: str | Sequence[str] = C.DOMAIN_KEY,
    spatial_key: str = C.SPATIAL_KEY,
    library_key: str | None = None,
    spot_size: float | None = None,
    title: str | Sequence[str] | None = None,
    palette: str | Sequence | Mapping | None = None,
    groups: str | Sequence[str] | None = None,
    ncols: int = 4,
    ax: Axes | None = None,
    show: bool | None = None,
    save: str | Path | bool | None = None,
):
    """Show labels (domains, ground truth, any categorical ``obs`` column) at the spot positions.

    With ``library_key``, each section gets its own panel per column, all with the same colour for the same label.

    Parameters
    ----------
    adata
        Spots with coordinates in ``obsm[spatial_key]``.
    color
        One or several ``obs`` columns, one panel each. Domains named by :func:`~semst_sc.tl.annotate_domains` (and
        not clustered again since) read ``"3: white matter"`` in the legend (of several annotations, the default
        ``key_added``'s, else the first by ``uns`` key). Labels, not measurements: whole numbers stored as floats
        (0.0, 1.0, NaN) are drawn as labels; other floats, and numbers or strings of more different values than
        scanpy's largest palette has colours (102: counts per spot, cell IDs), are refused unless categorical (a query
        score: :func:`~semst_sc.pl.query`).
    spatial_key
        ``obsm`` key of the coordinates.
    library_key
        {doc_library_key}
    spot_size
        Marker size in points squared; by default scaled to the number of spots in each map.
    title
        Panel titles, one per column; by default the column names (with the section name when ``library_key``).
    palette
        Colours of the labels, as scanpy's ``palette``: a colormap name, a list of colours in the labels' order, or a
        dict by label (the others as by default). ``None``: scanpy's ``uns['{{column}}_colors']`` where valid, else
        distinct colours (the domains of :func:`~semst_sc.tl.cluster` by their number, so that a subset or one section
        shows each in the colour of the whole slide). ``adata`` is not changed.
    groups
        Draw only these labels (a domain's number, or its ``"3: white matter"`` as the legend reads), the other spots
        grey as ``NA``, as scanpy's ``groups=``; each label keeps its colour.
    ncols
        Panels per row (with ``library_key``: a panel per section, each column's sections starting a new row).
    ax
        A matplotlib axes to draw one map into (one column, one section), its legend right of it; the figure's size
        and its other axes are left as they are.
    show
        {doc_show}
    save
        {doc_save}

    Returns
    -------
    The matplotlib figure (when ``show`` is False).
    """
    check_is_anndata(adata)
    into = ax
    columns = [color] if isinstance(color, str) else list(color)
    titles = columns if title is None else ([title] if isinstance(title, str) else list(title))
    if not columns:
        raise ValueError("color is empty: name one or several obs columns, e.g. color='semst_domain'")
    if len(titles) != len(columns):
        raise ValueError(f"{len(titles)} title(s) for {len(columns)} column(s): give one title per column, or none")
    check_integer(ncols, "ncols")
    for column in columns:
        if column not in adata.obs:
            steps = {
                C.DOMAIN_KEY: "run sst.tl.cluster(adata) (or sst.run_pipeline) first",
                C.DOMAIN_NAME_KEY: "run sst.tl.annotate_domains(adata) first",
                C.QUERY_KEY: "run sst.tl.query(adata, 'text') first, and draw it with sst.pl.query",
            }
            how = steps.get(column, f"pick an existing column (obs columns: {list(adata.obs.columns)})")
            if column in adata.var_names:  # scanpy's color= takes a gene too; pl.domains draws labels
                how = f"it is a gene; draw its expression with sc.pl.embedding(adata, 'spatial', color='{column}')"
            raise KeyError(f"obs['{column}'] not found: {how}")
        values = adata.obs[column]
        fractions = pd.api.types.is_float_dtype(values) and not is_whole(values)
        too_many = not isinstance(values.dtype, pd.CategoricalDtype) and values.nunique() > len(palettes.default_102)
        if fractions or (too_many and pd.api.types.is_numeric_dtype(values)):
            raise ValueError(
                f"obs['{column}'] holds continuous values, not labels ({values.nunique()} different numbers): draw "
                f"it with sc.pl.embedding(adata, 'spatial', color='{column}') (a query score: sst.pl.query); labels "
                f"stored as numbers: adata.obs['{column}'] = adata.obs['{column}'].astype('category')"
            )
        if too_many:  # a legend of every spot's name (and a scatter per name): unreadable, and slow on a slide
            raise ValueError(
                f"obs['{column}'] holds {values.nunique()} different labels, more than scanpy's largest palette has "
                f"colours ({len(palettes.default_102)}): an identifier of each spot? Pick a column of labels; to "
                f"draw it all the same: adata.obs['{column}'] = adata.obs['{column}'].astype('category')"
            )
    for key, entry in adata.uns.items():  # names of domains since clustered again
        names_key = names_column(key, entry)
        domain_key = params_of(entry).get("domain_key")
        if names_key in columns and domain_key and key in names_of_other_domains(adata, domain_key):
            logg.warning(f"obs['{names_key}'] names the domains before obs['{domain_key}'] changed: annotate again")
    shown = {column: _with_domain_names(adata, column) for column in columns}
    if groups is not None:
        shown = {column: _only(adata.obs[column], values, groups, column) for column, values in shown.items()}
    coords = get_spatial(adata, spatial_key)
    section_rows = sections(adata, library_key, spatial_key)
    if library_key is None:  # the columns, ncols per row
        ncols = grid(len(columns), ncols)[1]
        panels = [(column, name, section_rows[0][1]) for column, name in zip(columns, titles, strict=True)]
        rows_of_panels = [panels[i : i + ncols] for i in range(0, len(panels), ncols)]
    else:  # each column's sections, ncols per row, each column starting a row
        ncols = grid(len(section_rows), ncols)[1]
        rows_of_panels = [
            [(column, f"{name}: {section}", rows) for section, rows in section_rows[i : i + ncols]]
            for column, name in zip(columns, titles, strict=True)
            for i in range(0, len(section_rows), ncols)
        ]
    nrows = len(rows_of_panels)
    legends = {column: legend_entries(shown[column]) for column in columns}  # every section's labels
    if into is not None:
        if nrows * ncols != 1:
            raise ValueError(
                f"ax= draws one map, and these are {sum(map(len, rows_of_panels))} (columns x sections): give one "
                "color and no library_key, or leave ax=None for a figure of them all"
            )
        fig, axes = into.figure, np.array([[into]])
    else:
        fig, axes = plt.subplots(nrows, ncols, squeeze=False)
    for axes_row, panels in zip(axes, rows_of_panels, strict=True):
        for i, (ax, (column, name, rows)) in enumerate(zip(axes_row, panels, strict=False)):
            everywhere = domain_labels(shown[column])  # colours shared by every section
            own = stored_colours(adata, column)  # scanpy's, in the order of the column's categories (names or not)
            if isinstance(palette, Mapping):  # keyed by the column's labels: "3" colours "3: white matter" too
                shown_as = dict(zip(domain_labels(adata.obs[column]).categories, everywhere.categories, strict=True))
                chosen = colours_from({shown_as.get(str(k), k): v for k, v in palette.items()}, everywhere.categories)
            elif palette is not None:
                chosen = colours_from(palette, everywhere.categories)
            else:
                chosen = list(own.values()) if own is not None else default_colours(adata, column)
            colours = dict(zip(everywhere.categories, chosen, strict=True))
            missing = missing_label(shown[column])
            colours[missing] = NA_COLOUR
            values = everywhere[rows].astype(object)
            values[pd.isna(values)] = missing
            xy, size = coords[rows], marker_size(len(rows), spot_size)  # each map's spots fill it alike
            for category in legends[column][0]:
                where = np.asarray(values == category)
                if where.any():
                    ax.scatter(xy[where, 0], xy[where, 1], s=size, color=colours[category], linewidths=0)
            map_axes(ax, name)
            if library_key is None or i == len(panels) - 1:  # sections: one legend per row, after its last column
                names, n_legend_columns = legends[column]
                handles = [Line2D([], [], marker="o", linestyle="", color=colours[n], label=n) for n in names]
                beside = ax if library_key is None else axes_row[-1]
                beside.legend(handles=handles, loc="center left", frameon=False, ncol=n_legend_columns)
        for ax in axes_row[len(panels) :]:
            ax.axis("off")
    if into is not None:  # the user's layout: only the legend placed, right of the map
        into.get_legend().set_bbox_to_anchor((1, 0.5), transform=into.transAxes)
        return finish(fig, show, save, "domains", fit_titles=False)
    renderer = fig.canvas.get_renderer()  # the legends' widths as drawn, without drawing the maps
    room = max(ax.get_legend().get_window_extent(renderer).width / fig.dpi for ax in fig.axes if ax.get_legend())
    place_maps(fig, axes, room + MAP_MARGIN, legend_per_map=library_key is None)
    return finish(fig, show, save, "domains")


def _only(values: pd.Series, shown: pd.Series, groups: str | Sequence[str], column: str) -> pd.Series:
    """Return ``shown`` (the labels as the legend reads them) with the labels outside ``groups`` missing.

    A group is a label of ``values`` (``obs[column]``: ``"3"``) or of ``shown`` (``"3: white matter"``). The categories
    stay, so each label keeps its colour.
    """
    wanted = [groups] if isinstance(groups, str) else [str(group) for group in groups]
    labels = domain_labels(values)
    legend = domain_labels(shown)
    as_shown = dict(zip(labels.categories, legend.categories, strict=True)) | {c: c for c in legend.categories}
    unknown = [group for group in wanted if group not in as_shown]
    if unknown:
        raise ValueError(
            f"groups {unknown} are not labels of obs['{column}']: give some of {list(labels.categories)[:12]} "
            f"(or as the legend reads them: {list(legend.categories)[:12]})"
        )
    keep = {as_shown[group] for group in wanted}
    legend = pd.Series(legend, index=shown.index)
    return legend.where(legend.isin(keep))


def _with_domain_names(adata: AnnData, column: str) -> pd.Series:
    """``obs[column]``, each domain read ``"3: white matter"`` where :func:`~semst_sc.tl.annotate_domains` named them.

    An annotation of the domains as they were before clustering again is not used (``domains`` warns of it). Of
    several, that of ``uns['semst_domain_annotation']`` (the default ``key_added``), else the first by ``uns`` key:
    the same after an ``.h5ad`` round trip, which reorders ``uns``.
    """
    stale = None
    for key in sorted(adata.uns, key=lambda k: (k != C.ANNOTATION_KEY, k)):
        entry = adata.uns[key]
        if not key.endswith("_annotation") or params_of(entry).get("domain_key") != column or "domains" not in entry:
            continue
        stale = names_of_other_domains(adata, column) if stale is None else stale
        if names_column(key, entry) not in adata.obs or key in stale:
            continue
        names = entry["domains"].set_index("domain")["name"].astype(str)
        names.index = names.index.astype(str)
        values = domain_labels(adata.obs[column])
        renamed = [f"{domain}: {names[domain]}" if domain in names.index else domain for domain in values.categories]
        return pd.Series(values.rename_categories(renamed), index=adata.obs_names)
    return adata.obs[column]
