from __future__ import annotations

import matplotlib.pyplot as plt


def finish(fig, show: bool | None, save: str | None):
    """Save and/or show ``fig`` as scanpy plots do; return it unless it was shown."""
    if save is not None:
        fig.savefig(save, dpi=150, bbox_inches="tight")
    if show or (show is None and save is None):
        plt.show()
        return None
    return fig
