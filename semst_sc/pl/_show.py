from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np


def finish(fig, show: bool | None, save: str | None):
    """Save (creating the folder) and/or show ``fig`` as scanpy plots do; return it unless it was shown."""
    if save is not None:
        Path(save).expanduser().parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(save, dpi=150, bbox_inches="tight")
    if show or (show is None and save is None):
        plt.show()
        return None
    return fig


def marker_size(n_spots: int, size: float | None) -> float:
    """Marker size in points squared: ``size``, or scaled to the number of spots drawn in one panel."""
    return size if size is not None else float(np.clip(40_000 / n_spots, 0.5, 60))


def map_axes(ax) -> None:
    """Style ``ax`` as a tissue map: equal aspect, image coordinates (y grows downwards), no axes."""
    ax.set_aspect("equal")
    ax.invert_yaxis()
    ax.axis("off")
