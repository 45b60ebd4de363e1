"""Data set shortcuts of the benchmark scripts (``--dataset NAME``): one line per data set.

A shortcut is a loader returning an AnnData with raw counts in ``X`` and ``obsm['spatial']``, the ``obs`` column of
the annotation (read only to score), K and the organism whose gene descriptions the ``semst_*_text`` variants read
(``None``: unknown). The loaders read ``SEMST_DATA_DIR`` through :mod:`semst_sc.datasets`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import anndata as ad

import semst_sc as sst


class Dataset(NamedTuple):
    """A data set shortcut; unpacks as ``load, label_key, n_clusters, organism``."""

    load: Callable[[], ad.AnnData]
    label_key: str
    n_clusters: int
    organism: str | None


DATASETS: dict[str, Dataset] = {
    "dlpfc151673": Dataset(lambda: sst.datasets.dlpfc("151673"), "layer_guess_reordered", 7, "human"),
    "dlpfc151674": Dataset(lambda: sst.datasets.dlpfc("151674"), "layer_guess_reordered", 7, "human"),
    "osmfish": Dataset(lambda: sst.datasets.osmfish(drop_excluded=True), "Region", 11, "mouse"),
    "baristaseq1": Dataset(lambda: sst.datasets.baristaseq(1), "layer", 6, "mouse"),
    "baristaseq2": Dataset(lambda: sst.datasets.baristaseq(2), "layer", 6, "mouse"),
    "baristaseq3": Dataset(lambda: sst.datasets.baristaseq(3), "layer", 6, "mouse"),
    "mouse_ob": Dataset(sst.datasets.mouse_ob, "layer", 5, "mouse"),
    # the simulated tissue of mixed cell types (obs['domain'] the truth, obs['cell_type'] what cells alone find)
    "sim_xenium100k": Dataset(
        lambda: sst.datasets.simulate_tissue(platform="xenium", n_cells=100_000, rng=0), "domain", 7, "human"
    ),
}
