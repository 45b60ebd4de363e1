from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from anndata import AnnData

from .. import _constants as C
from .._docs import doc_params
from .._utils import check_integer, check_is_anndata, domain_labels, get_spatial, names_of_other_domains
from ._show import finish, grid, map_axes, marker_size, palette, sections, stored_colours


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
    and its top enriched terms. Domains clustered again after they were named are not drawn with the old names: the
    error says to name them again (:func:`semst_sc.tl.cluster` and :func:`semst_sc.tl.refine` warn when they change
    named domains).

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
        Marker size in points squared; by default scaled to the number of spots.
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
    domain_key = annotation["params"]["domain_key"]
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
    size = marker_size(max(len(rows) for _, rows in panels), spot_size)
    everywhere = domain_labels(adata.obs[domain_key])  # colours by the column's categories, as pl.domains gives them
    own = stored_colours(adata, domain_key)  # scanpy's, by domain
    by_domain = own or dict(zip(everywhere.categories, palette(len(everywhere.categories)), strict=True))
    values = everywhere.remove_unused_categories()
    colours = [by_domain[d] for d in values.categories]
    nrows, ncols = grid(len(panels), ncols)
    fig = plt.figure(figsize=(5.5 * ncols + 7.5, max(4.5 * nrows, 0.75 * len(values.categories))))
    layout = fig.add_gridspec(nrows, ncols + 1, width_ratios=[1] * ncols + [1.35])  # the maps, then the text
    maps = [fig.add_subplot(layout[i // ncols, i % ncols]) for i in range(len(panels))]
    for ax, (section, rows) in zip(maps, panels, strict=True):
        for i, domain in enumerate(values.categories):
            where = rows[np.asarray(values[rows] == domain)]
            ax.scatter(coords[where, 0], coords[where, 1], s=size, color=colours[i], linewidths=0)
        map_axes(ax, f"obs['{domain_key}']" + (f": {section}" if section else ""))
    text = fig.add_subplot(layout[:, -1])
    text.axis("off")
    step = 1 / max(len(values.categories), 1)
    knowledge = bool(annotation["params"].get("gene_text", True))  # "" when annotated without gene knowledge
    for i, domain in enumerate(values.categories):
        row = table.loc[str(domain)]
        y = 1 - i * step
        markers = ", ".join(str(row["markers"]).split("; ")[:n_markers]) or "none"
        terms = [t for t in str(row["terms"]).split("; ")[:n_terms] if t] or ["none"]
        text.scatter([0.0], [y - 0.01], s=120, color=colours[i], transform=text.transAxes, clip_on=False)
        text.text(0.03, y, f"{domain}: {row['name']}  (confidence {row['confidence']:.2f})", transform=text.transAxes,
                  fontsize=9, fontweight="bold", va="center")  # fmt: skip
        evidence = ", ".join(e.split(" (")[0] for e in str(row.get("evidence", "")).split("; ")[:n_markers] if e)
        measured = (  # annotations written before this was recorded lack it
            f" ({row['markers_measured']} of its {row['markers_listed']} markers measured)"
            if evidence and "markers_measured" in row
            else ""
        )
        body = f"named for: {evidence or 'none'}{measured}\nmarkers: {markers}"
        if knowledge:  # without gene knowledge no domain has terms: no line of "none" each
            body += f"\nterms: {'; '.join(terms)}"
        text.text(0.03, y - 0.025, body, transform=text.transAxes, fontsize=7.5, va="top", wrap=True)
    fig.tight_layout()
    return finish(fig, show, save, "domain_report")
