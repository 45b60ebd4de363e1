from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from anndata import AnnData
from matplotlib.transforms import ScaledTranslation

from .. import _constants as C
from .._docs import doc_params
from .._utils import (
    check_integer,
    check_is_anndata,
    domain_labels,
    get_spatial,
    names_of_other_domains,
    params_of,
)
from ._show import (
    MAP_MARGIN,
    NA_COLOUR,
    default_colours,
    finish,
    grid,
    map_axes,
    marker_size,
    missing_label,
    place_maps,
    sections,
    stored_colours,
)


@doc_params
def domain_report(
    adata: AnnData,
    *,
    key: str = C.ANNOTATION_KEY,
    spatial_key: str = C.SPATIAL_KEY,
    library_key: str | None = None,
    spot_size: float | None = None,
    n_markers: int = 6,
    n_terms: int = 2,
    ncols: int = 4,
    show: bool | None = None,
    save: str | Path | bool | None = None,
):
    """Show the domain map beside each domain's name, confidence, markers and top terms.

    For each domain: the markers of the matched catalogue entry that are up in it (``named for``), its own top markers
    and its top enriched terms, wrapped to a column 6.5 inches wide beside the maps (each map as large as in
    :func:`~semst_sc.pl.domains`); many domains make the figure taller, not their text overlap. Domains clustered
    again after they were named are not drawn with the old names: the error says to name them again
    (:func:`semst_sc.tl.cluster` and :func:`semst_sc.tl.refine` warn when they change named domains).

    Parameters
    ----------
    adata
        Spots after :func:`semst_sc.tl.annotate_domains`, with coordinates in ``obsm[spatial_key]``.
    key
        ``uns`` key of the annotation.
    spatial_key
        ``obsm`` key of the coordinates.
    library_key
        {doc_library_key} Each section gets its own map, ``ncols`` maps per row.
    spot_size
        Marker size in points squared; by default scaled to the number of spots in each map.
    n_markers
        Markers listed per domain (the matched entry's, and the domain's own).
    n_terms
        Enriched terms listed per domain.
    ncols
        Maps per row (with ``library_key``).
    show
        {doc_show}
    save
        {doc_save}

    Returns
    -------
    The matplotlib figure (when ``show`` is False).
    """
    check_is_anndata(adata)
    if key not in adata.uns:
        raise KeyError(f"uns['{key}'] not found: run sst.tl.annotate_domains(adata) first")
    annotation = adata.uns[key]
    domain_key = params_of(annotation).get("domain_key")
    if domain_key is None or "domains" not in annotation:
        annotations = [k for k in adata.uns if k.endswith("_annotation")]
        raise KeyError(
            f"uns['{key}'] is no annotation of sst.tl.annotate_domains: give key= the uns key it wrote (its "
            f"key_added with '_annotation' for '_name'; here: {annotations})"
        )
    if domain_key not in adata.obs:
        raise KeyError(f"obs['{domain_key}'] (the annotated domains) not found: run sst.tl.annotate_domains again")
    if key in names_of_other_domains(adata, domain_key):
        raise ValueError(
            f"uns['{key}'] names other domains than obs['{domain_key}'] holds now (clustered again since?): "
            "run sst.tl.annotate_domains(adata) again"
        )
    check_integer(ncols, "ncols")
    check_integer(n_markers, "n_markers")
    check_integer(n_terms, "n_terms", minimum=0)
    table = annotation["domains"].set_index("domain")
    coords = get_spatial(adata, spatial_key)
    panels = sections(adata, library_key, spatial_key)
    everywhere = domain_labels(adata.obs[domain_key])  # colours by the column's categories, as pl.domains gives them
    own = stored_colours(adata, domain_key)  # scanpy's, by domain
    by_domain = own or dict(zip(everywhere.categories, default_colours(adata, domain_key), strict=True))
    values = everywhere.remove_unused_categories()
    colours = [by_domain[d] for d in values.categories]
    knowledge = bool(annotation["params"].get("gene_text", True))  # "" when annotated without gene knowledge
    blocks = [_block(table.loc[str(d)], d, n_markers, n_terms, knowledge) for d in values.categories]
    unassigned = np.asarray(pd.isna(values))
    if unassigned.any():  # spots without a domain: grey, as pl.domains draws them, and said so in the text
        colours.append(NA_COLOUR)
        blocks.append((f"{missing_label(adata.obs[domain_key])}: no domain ({int(unassigned.sum())} spots)", ""))
    heights = [HEADING_LINE + BODY_LINE * (body.count("\n") + 1) + BLOCK_GAP for _, body in blocks]

    nrows, ncols = grid(len(panels), ncols)
    fig, axes = plt.subplots(nrows, ncols, squeeze=False)
    for ax, (section, rows) in zip(axes.flat, panels, strict=False):
        size = marker_size(len(rows), spot_size)  # each map's spots fill it alike
        for i, domain in enumerate(values.categories):
            where = rows[np.asarray(values[rows] == domain)]
            ax.scatter(coords[where, 0], coords[where, 1], s=size, color=colours[i], linewidths=0)
        where = rows[unassigned[rows]]
        if len(where):
            ax.scatter(coords[where, 0], coords[where, 1], s=size, color=NA_COLOUR, linewidths=0)
        map_axes(ax, f"obs['{domain_key}']" + (f": {section}" if section else ""))
    for ax in axes.flat[len(panels) :]:
        ax.axis("off")
    place_maps(fig, axes, TEXT_WIDTH, legend_per_map=False, min_height=sum(heights) + 2 * MAP_MARGIN)
    width, height = fig.get_size_inches()
    text = fig.add_axes([1 - TEXT_WIDTH / width, 0, TEXT_WIDTH / width, 1])
    text.axis("off")
    inches = _inches(fig, text)
    y = height - MAP_MARGIN  # inches from the bottom, down the column
    for colour, (heading, body), block_height in zip(colours, blocks, heights, strict=True):
        text.scatter([0.1], [y - HEADING_LINE / 2], s=120, color=colour, transform=inches, clip_on=False)
        text.text(0.25, y - HEADING_LINE / 2, heading, transform=inches, fontsize=9, fontweight="bold", va="center")
        text.text(0.25, y - HEADING_LINE, body, transform=inches, fontsize=7.5, va="top", linespacing=1.2)
        y -= block_height
    return finish(fig, show, save, "domain_report")


#: inches of the text column, and of its lines: a domain's heading (9 pt), each line below it (7.5 pt), the gap after
TEXT_WIDTH, HEADING_LINE, BODY_LINE, BLOCK_GAP = 6.5, 0.22, 0.125, 0.12
#: characters of a line of the text column (7.5 pt: about 0.6 em per character, 6.25 of its 6.5 inches)
LINE_CHARACTERS = 100


def _block(row, domain, n_markers: int, n_terms: int, knowledge: bool) -> tuple[str, str]:
    """Return a domain's heading and its lines (named for, markers, terms), wrapped to the text column."""
    heading = textwrap.shorten(f"{domain}: {row['name']}  (confidence {row['confidence']:.2f})", 80, placeholder="...")
    evidence = ", ".join(e.split(" (")[0] for e in str(row.get("evidence", "")).split("; ")[:n_markers] if e)
    measured = (  # annotations written before this was recorded lack it
        f" ({row['markers_measured']} of its {row['markers_listed']} markers measured)"
        if evidence and "markers_measured" in row
        else ""
    )
    markers = ", ".join(str(row["markers"]).split("; ")[:n_markers]) or "none"
    lines = [f"named for: {evidence or 'none'}{measured}", f"markers: {markers}"]
    if knowledge:  # without gene knowledge no domain has terms: no line of "none" each
        terms = [t for t in str(row["terms"]).split("; ")[:n_terms] if t] or ["none"]
        lines.append(f"terms: {'; '.join(terms)}")
    wrapped = (textwrap.fill(line, LINE_CHARACTERS, subsequent_indent="    ", break_on_hyphens=False) for line in lines)
    return heading, "\n".join(wrapped)


def _inches(fig, ax):
    """Return the transform of ``ax``'s column in inches: x from its left edge, y from the figure's bottom."""
    return fig.dpi_scale_trans + ScaledTranslation(ax.get_position().x0 * fig.get_figwidth(), 0, fig.dpi_scale_trans)
