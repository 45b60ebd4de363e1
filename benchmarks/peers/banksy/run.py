"""BANKSY (Singhal et al., Nat Genet 2024; PyPI pybanksy) on one slide.

    benchmarks/peers/.venvs/banksy/bin/python benchmarks/peers/banksy/run.py INPUT N_CLUSTERS SEED OUTPUT [--lambda L]

Library-size normalised counts (no log, as the pybanksy DLPFC example), the BANKSY matrix with
``scaled_gaussian`` neighbour weights over 15 spatial neighbours, first-order azimuthal Gabor filter
(``max_m=1``) and the neighbourhood weight lambda = L (default 0.8, the value BANKSY recommends for domain
segmentation; 0.2, its default, is the one for cell typing), 20 PCs, then BANKSY's Leiden partition with its
resolution search for N_CLUSTERS labels (``partition_seed=SEED``).
Python's and numpy's global seeds are set to SEED first, as in the pybanksy examples (its PCA draws from them).
The 20 PCs are also written beside OUTPUT (the embedding run.py clusters with the shared back-end).

Several sections (``obs['library_id']``, a joint run of the harness): BANKSY's multi-sample mode as its R package
runs it (``computeBanksy(group=...)``): each section is normalised and gets its BANKSY matrix from its own spatial
neighbours, the matrices are stacked, and one PCA and one Leiden partition cover all sections.
"""

import random
import sys
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[2]))  # benchmarks/: the harness's peer protocol

import anndata as ad
import numpy as np
import scanpy as sc
import scipy.sparse as sp
from banksy.cluster_methods import run_Leiden_partition
from banksy.embed_banksy import generate_banksy_matrix
from banksy.initialize_banksy import initialize_banksy
from banksy_utils.umap_pca import pca_umap
from harness.peer_io import read_args, write_embedding, write_labels

K_GEOM = 15
DECAY = "scaled_gaussian"


def main() -> None:
    adata, args = read_args(__doc__, {"lambda": 0.8})
    random.seed(args.seed)
    np.random.seed(args.seed)
    lam = vars(args)["lambda"]
    if "library_id" in adata.obs:
        sections = [adata[adata.obs["library_id"] == s].copy() for s in adata.obs["library_id"].unique()]
        parts = [banksy_matrix(section, lam) for section in sections]
        banksy = parts[0]
        stacked = ad.concat([part[DECAY][lam]["adata"] for part in parts])
        banksy[DECAY][lam]["adata"] = stacked
        order = stacked.obs_names
    else:
        banksy, order = banksy_matrix(adata, lam), adata.obs_names
    pca_umap(banksy, pca_dims=[20], plt_remaining_var=False, add_umap=False)
    results, _ = run_Leiden_partition(
        banksy,
        [],
        num_nn=50,
        num_iterations=-1,
        partition_seed=args.seed,
        match_labels=False,
        max_labels=args.n_clusters,
    )
    write_labels(results["labels"].iloc[0].dense, order, args.output)
    write_embedding(banksy[DECAY][lam]["adata"].obsm["reduced_pc_20"], order, args.output)


def banksy_matrix(adata, lam: float) -> dict:
    """Normalise one section and build its BANKSY matrix (``banksy[DECAY][lam]['adata']``)."""
    sc.pp.normalize_total(adata)
    if sp.issparse(adata.X):
        adata.X = np.asarray(adata.X.toarray())
    no_plots = {"plt_edge_hist": False, "plt_nbr_weights": False, "plt_agf_angles": False, "plt_theta": False}
    banksy = initialize_banksy(adata, ("x", "y", "spatial"), K_GEOM, nbr_weight_decay=DECAY, max_m=1, **no_plots)
    banksy, _ = generate_banksy_matrix(adata, banksy, [lam], max_m=1)
    return banksy


if __name__ == "__main__":
    main()
