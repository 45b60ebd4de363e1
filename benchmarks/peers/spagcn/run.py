"""SpaGCN (Hu et al., Nat Methods 2021) on one slide, following its tutorial, without histology.

    benchmarks/peers/.venvs/spagcn/bin/python benchmarks/peers/spagcn/run.py INPUT N_CLUSTERS SEED OUTPUT

Spatial adjacency from the spot coordinates, the tutorial's gene filters and log-normalisation,
``l`` searched for p = 0.5, the Louvain resolution searched by ``search_res`` to give N_CLUSTERS
domains, then the final model (200 epochs); seeds (Python, torch, numpy) all set to SEED. The
optional refinement is not applied. SpaGCN's 50 principal components become one fewer than the
genes on panels with 50 genes or fewer (osmFISH has 33).
"""

import random
import sys
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[2]))  # benchmarks/: the harness's peer protocol

import numpy as np
import scanpy as sc
import scipy.sparse as sp
import SpaGCN as spg
import torch
from harness.peer_io import read_args, write_labels


def main() -> None:
    adata, args = read_args(__doc__)
    x, y = adata.obsm["spatial"][:, 0].tolist(), adata.obsm["spatial"][:, 1].tolist()
    adj = spg.calculate_adj_matrix(x=x, y=y, histology=False)
    spg.prefilter_genes(adata, min_cells=3)
    spg.prefilter_specialgenes(adata)
    sc.pp.normalize_per_cell(adata)
    sc.pp.log1p(adata)
    if sp.issparse(adata.X):  # SpaGCN reads X with the .A attribute that current scipy no longer has
        adata.X = adata.X.toarray()
    num_pcs = min(50, adata.n_vars - 1)
    if num_pcs < 50:  # search_res has no num_pcs argument: its inner SpaGCN.train would ask for 50
        train = spg.SpaGCN.train
        spg.SpaGCN.train = lambda self, *a, **k: train(self, *a, **{"num_pcs": num_pcs, **k})
    l_value = spg.search_l(0.5, adj, start=0.01, end=1000, tol=0.01, max_run=100)
    seeds = {"r_seed": args.seed, "t_seed": args.seed, "n_seed": args.seed}
    res = spg.search_res(
        adata, adj, l_value, args.n_clusters, start=0.7, step=0.1, tol=5e-3, lr=0.05, max_epochs=20, **seeds
    )
    model = spg.SpaGCN()
    model.set_l(l_value)
    random.seed(args.seed)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    model.train(adata, adj, init_spa=True, init="louvain", res=res, tol=5e-3, lr=0.05, max_epochs=200, num_pcs=num_pcs)
    labels, _ = model.predict()
    write_labels(labels, adata.obs_names, args.output)


if __name__ == "__main__":
    main()
