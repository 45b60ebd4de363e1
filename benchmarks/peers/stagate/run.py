"""STAGATE (Dong & Zhang, Nat Commun 2022; PyPI stagate-modern, import STAGATE_pyG) on one slide, as its tutorial.

    benchmarks/peers/.venvs/stagate/bin/python benchmarks/peers/stagate/run.py INPUT N_CLUSTERS SEED OUTPUT \
        [--rad_cutoff R]

The tutorial's steps (DLPFC, STAGATE_pyG): seurat_v3 genes (3,000, or all when the panel is smaller),
``normalize_total(target_sum=1e4)`` and ``log1p``, the radius spatial network ``Cal_Spatial_Net(rad_cutoff=R)``, then
``train_STAGATE`` with its defaults (hidden dims 512 and 30, 1,000 epochs, lr 0.001, ``random_seed=SEED``) on the
CPU. The tutorial's radius is 150 on Visium, which links each spot to its 6 neighbours; R = 0 (the default) takes
1.1 times the median distance to the 6th-nearest spot, which gives that same graph on DLPFC (152.8 there) and about 6
neighbours per spot on any other platform (the tutorial's other radii are for Slide-seq's and Stereo-seq's units).
The tutorial clusters the embedding with R's mclust (EEE), which needs R: here, as for GraphST, the pure-Python
fallback, scanpy's kNN graph of the embedding (its 15 neighbours, as the tutorial's ``sc.pp.neighbors``) and Leiden
(``random_state=SEED``) with its resolution searched from 2.0 down to 0.1 (step 0.01) until it gives N_CLUSTERS
domains (the closest count when none does). The embedding (``obsm['STAGATE']``) is also written beside OUTPUT, for
run.py's shared back-end.
"""

import sys
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[2]))  # benchmarks/: the harness's peer protocol

import numpy as np
import scanpy as sc
import STAGATE_pyG as STAGATE
import torch
from harness.peer_io import read_args, write_embedding, write_labels
from sklearn.neighbors import NearestNeighbors

N_TOP_GENES = 3000
#: the tutorial's 150 on Visium is 1.1 times the distance to a spot's 6th-nearest neighbour
RADIUS_NEIGHBOURS, RADIUS_FACTOR = 6, 1.1


def main() -> None:
    adata, args = read_args(__doc__, {"rad_cutoff": 0.0})
    adata.obsm["spatial"] = np.asarray(adata.obsm["spatial"], dtype=float)[:, :2]
    if adata.n_vars > N_TOP_GENES:
        sc.pp.highly_variable_genes(adata, flavor="seurat_v3", n_top_genes=N_TOP_GENES)
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    rad_cutoff = args.rad_cutoff or radius(adata.obsm["spatial"])
    print(f"rad_cutoff = {rad_cutoff:.4g}", flush=True)
    STAGATE.Cal_Spatial_Net(adata, rad_cutoff=rad_cutoff)
    adata = STAGATE.train_STAGATE(adata, random_seed=args.seed, device=torch.device("cpu"), verbose=False)
    sc.pp.neighbors(adata, use_rep="STAGATE", random_state=args.seed)
    labels = leiden_search(adata, args.n_clusters, args.seed)
    write_labels(labels, adata.obs_names, args.output)
    write_embedding(adata.obsm["STAGATE"], adata.obs_names, args.output)


def radius(xy: np.ndarray) -> float:
    """1.1 times the median distance to the 6th-nearest spot: the tutorial's 150 on Visium, ~6 neighbours anywhere."""
    distances, _ = NearestNeighbors(n_neighbors=RADIUS_NEIGHBOURS + 1).fit(xy).kneighbors(xy)
    return float(RADIUS_FACTOR * np.median(distances[:, RADIUS_NEIGHBOURS]))


def leiden_search(adata, n_clusters: int, seed: int) -> np.ndarray:
    """Leiden on the kNN graph, its resolution searched down from 2.0 (step 0.01) until it gives ``n_clusters``."""
    closest, closest_gap = None, np.inf
    for resolution in np.round(np.arange(2.0, 0.1 - 1e-9, -0.01), 2):
        sc.tl.leiden(adata, resolution=resolution, random_state=seed, flavor="igraph", n_iterations=2, directed=False)
        labels = adata.obs["leiden"].to_numpy()
        gap = abs(len(np.unique(labels)) - n_clusters)
        if gap < closest_gap:
            closest, closest_gap = labels, gap
        if gap == 0:
            print(f"Leiden resolution {resolution}: {n_clusters} domains", flush=True)
            break
    return closest


if __name__ == "__main__":
    main()
