from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from anndata import AnnData

from .. import _constants as C
from .._utils import get_spatial
from ._show import finish


def domains(
    adata: AnnData,
    *,
    color: str | Sequence[str] = C.DOMAIN_KEY,
    spatial_key: str = C.SPATIAL_KEY,
    spot_size: float | None = None,
    title: str | Sequence[str] | None = None,
    ncols: int = 4,
    show: bool | None = None,
    save: str | None = None,
):
    """Show labels (domains, ground truth, any categorical ``obs`` column) at the spot positions.

    Parameters
    ----------
    adata
        Spots with coordinates in ``obsm[spatial_key]``.
    color
        One or several ``obs`` columns, one panel each.
    spatial_key
        ``obsm`` key of the coordinates.
    spot_size
        Marker size in points squared; by default scaled to the number of spots.
    title
        Panel titles; by default the column names.
    ncols
        Panels per row.
    show
        Show the figure; by default when not saving.
    save
        Path of an image file to write.

    Returns
    -------
    The matplotlib figure (when ``show`` is False).
    """
    columns = [color] if isinstance(color, str) else list(color)
    titles = columns if title is None else ([title] if isinstance(title, str) else list(title))
    for column in columns:
        if column not in adata.obs:
            raise KeyError(f"obs['{column}'] not found: run sst.tl.cluster(adata) or pick an existing column")
    coords = get_spatial(adata, spatial_key)
    size = spot_size if spot_size is not None else float(np.clip(40_000 / adata.n_obs, 0.5, 60))
    ncols = min(ncols, len(columns))
    nrows = int(np.ceil(len(columns) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 4 * nrows), squeeze=False)
    for ax, column, name in zip(axes.ravel(), columns, titles, strict=False):
        values = pd.Categorical(adata.obs[column].astype("string"))
        palette = plt.get_cmap("tab20" if len(values.categories) > 10 else "tab10")
        for i, category in enumerate(values.categories):
            where = np.asarray(values == category)
            ax.scatter(
                coords[where, 0], coords[where, 1], s=size, color=palette(i % palette.N), label=category, linewidths=0
            )
        missing = np.asarray(pd.isna(values))
        if missing.any():
            ax.scatter(coords[missing, 0], coords[missing, 1], s=size, color="lightgrey", label="NA", linewidths=0)
        ax.set_title(name)
        ax.set_aspect("equal")
        ax.invert_yaxis()  # image coordinates: y grows downwards
        ax.axis("off")
        ax.legend(loc="center left", bbox_to_anchor=(1, 0.5), frameon=False, markerscale=max(1, 6 / np.sqrt(size)))
    for ax in axes.ravel()[len(columns) :]:
        ax.axis("off")
    fig.tight_layout()
    return finish(fig, show, save)
