"""CellCharter (Varrone et al., Nat Genet 2024; PyPI cellcharter) on one slide, its documented defaults, on the CPU.

    benchmarks/peers/.venvs/cellcharter/bin/python benchmarks/peers/cellcharter/run.py INPUT N_CLUSTERS SEED OUTPUT

Its spatial-transcriptomics workflow: scVI (scvi-tools, its default model: 10 latent dimensions, zero-inflated
negative binomial) on the raw counts, trained with ``early_stopping=True`` and ``scvi.settings.seed = SEED``; the
Delaunay spatial graph (``squidpy.gr.spatial_neighbors(coord_type="generic", delaunay=True)``) with CellCharter's
``remove_long_links`` (its default 99th distance percentile); ``aggregate_neighbors(n_layers=3)`` of the scVI
embedding (each cell's own features and the mean of its 1-, 2- and 3-hop neighbours); then CellCharter's Gaussian
mixture ``cc.tl.Cluster(n_clusters=N_CLUSTERS, random_state=SEED)`` (full covariances, its defaults).

Several sections (``obs['library_id']``, a joint run of the harness): CellCharter's multi-sample mode, scVI with the
section as its batch and the spatial graph and aggregation within each section (``library_key``/``sample_key``); one
mixture covers all sections. The aggregated embedding (``X_cellcharter``) is also written beside OUTPUT, for run.py's
shared back-end.
"""

import sys
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[2]))  # benchmarks/: the harness's peer protocol

import cellcharter as cc
import numpy as np
import scvi
import squidpy as sq
from harness.peer_io import read_args, write_embedding, write_labels

LIBRARY_KEY = "library_id"
N_LAYERS = 3
QUIET_CPU = {"accelerator": "cpu", "devices": 1, "enable_progress_bar": False}


def main() -> None:
    adata, args = read_args(__doc__)
    adata.obsm["spatial"] = np.asarray(adata.obsm["spatial"], dtype=float)[:, :2]
    joint = LIBRARY_KEY in adata.obs
    if joint:
        adata.obs[LIBRARY_KEY] = adata.obs[LIBRARY_KEY].astype("category")
    library_key = LIBRARY_KEY if joint else None
    scvi.settings.seed = args.seed
    scvi.model.SCVI.setup_anndata(adata, batch_key=library_key)
    model = scvi.model.SCVI(adata)
    model.train(early_stopping=True, **QUIET_CPU)
    adata.obsm["X_scVI"] = model.get_latent_representation(adata).astype(np.float32)
    sq.gr.spatial_neighbors(adata, library_key=library_key, coord_type="generic", delaunay=True)
    cc.gr.remove_long_links(adata)
    cc.gr.aggregate_neighbors(
        adata, n_layers=N_LAYERS, use_rep="X_scVI", out_key="X_cellcharter", sample_key=library_key
    )
    gmm = cc.tl.Cluster(n_clusters=args.n_clusters, random_state=args.seed, trainer_params=QUIET_CPU)
    gmm.fit(adata, use_rep="X_cellcharter")
    write_labels(gmm.predict(adata, use_rep="X_cellcharter"), adata.obs_names, args.output)
    write_embedding(adata.obsm["X_cellcharter"], adata.obs_names, args.output)


if __name__ == "__main__":
    main()
