from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
from anndata import AnnData

from .. import _constants as C
from .._docs import doc_params
from .._utils import check_is_anndata
from ._show import finish


@doc_params
def loss(
    adata: AnnData,
    *,
    key: str = C.uns_key(C.EMBEDDING_KEY),
    show: bool | None = None,
    save: str | Path | bool | None = None,
):
    """Plot the training loss of :func:`semst_sc.tl.semst`, each term in its own panel.

    Parameters
    ----------
    adata
        Output of :func:`semst_sc.tl.semst`.
    key
        ``uns`` key with ``loss_history``.
    show
        {doc_show}
    save
        {doc_save}

    Returns
    -------
    The matplotlib figure (when ``show`` is False).
    """
    check_is_anndata(adata)
    if key not in adata.uns or "loss_history" not in adata.uns[key]:
        raise KeyError(f"uns['{key}']['loss_history'] not found: run sst.tl.semst(adata) first")
    history = adata.uns[key]["loss_history"]
    fig, axes = plt.subplots(1, len(history), figsize=(3.2 * len(history), 2.8), squeeze=False)
    for ax, (term, values) in zip(axes.ravel(), history.items(), strict=True):
        ax.plot(values)
        ax.set_title(term)
        ax.set_xlabel("training step")  # an epoch in full-batch training, a mini-batch otherwise
    fig.tight_layout()
    return finish(fig, show, save, "loss")
