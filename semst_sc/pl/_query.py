from __future__ import annotations

import matplotlib.pyplot as plt
from anndata import AnnData

from .. import _constants as C
from .._docs import doc_params
from .._utils import get_spatial
from ._show import finish, map_axes, marker_size


@doc_params
def query(
    adata: AnnData,
    *,
    key: str = C.QUERY_KEY,
    spatial_key: str = C.SPATIAL_KEY,
    spot_size: float | None = None,
    cmap: str = "magma",
    n_genes: int = 8,
    show: bool | None = None,
    save: str | None = None,
):
    """Show the per-spot score of :func:`semst_sc.tl.query` at the spot positions, with the genes that drive it.

    Parameters
    ----------
    adata
        Spots with the score in ``obs[key]`` and coordinates in ``obsm[spatial_key]``.
    key
        ``obs`` key of the score (the ``key_added`` of :func:`semst_sc.tl.query`).
    spatial_key
        ``obsm`` key of the coordinates.
    spot_size
        Marker size in points squared; by default scaled to the number of spots.
    cmap
        Matplotlib colour map.
    n_genes
        Driving genes listed under the map.
    show
        {doc_show}
    save
        {doc_save}

    Returns
    -------
    The matplotlib figure (when ``show`` is False).
    """
    if key not in adata.obs or key not in adata.uns:
        raise KeyError(f"obs['{key}'] / uns['{key}'] not found: run sst.tl.query(adata, 'text') first")
    coords = get_spatial(adata, spatial_key)
    size = marker_size(adata.n_obs, spot_size)
    result = adata.uns[key]
    genes = result["genes"].head(n_genes)
    fig, ax = plt.subplots(figsize=(5.4, 5))
    points = ax.scatter(coords[:, 0], coords[:, 1], c=adata.obs[key].to_numpy(), s=size, cmap=cmap, linewidths=0)
    fig.colorbar(points, ax=ax, shrink=0.7, label="query score")
    ax.set_title(f"\u201c{result['params']['text']}\u201d")
    map_axes(ax)
    drivers = ", ".join(f"{g} ({w:.2f})" for g, w in zip(genes["gene"], genes["weight"], strict=True))
    ax.text(0.5, -0.04, f"driving genes (weight): {drivers}", transform=ax.transAxes, ha="center", va="top",
            fontsize=7, wrap=True)  # fmt: skip
    fig.tight_layout()
    return finish(fig, show, save)
