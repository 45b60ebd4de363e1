"""GraphST (Long et al., Nat Commun 2023) on one slide, as its tutorial runs it, on the CPU.

    benchmarks/peers/.venvs/graphst/bin/python benchmarks/peers/graphst/run.py INPUT N_CLUSTERS SEED OUTPUT

GraphST preprocesses the raw counts itself (seurat_v3 genes, log-normalised, scaled), trains its
graph contrastive model for its default 600 epochs with ``random_seed=SEED`` and clusters the
embedding with its pure-Python clustering: Leiden, its resolution searched from 2.0 down to 0.1
(step 0.01) until it gives N_CLUSTERS domains, no refinement (mclust needs R). It also writes the embedding
(``obsm['emb']``) beside OUTPUT, which run.py clusters with the shared back-end and with GraphST's refinement.

One change of arithmetic, not of model: GraphST keeps its normalised 3-nearest-spot adjacency as a dense n x n matrix
and multiplies it into its 3,000-gene reconstruction every epoch (about 40 GFLOP per epoch on a Visium slide, most of
an hour per run on this CPU). Here the same matrix is handed to GraphST's own ``torch.mm(adj, ...)`` as a torch sparse
tensor: the same products over the same nonzeros, in another summation order (``benchmarks/peers/graphst/check.py``
compares the two on one slide).
"""

import sys
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[2]))  # benchmarks/: the harness's peer protocol

import torch
from GraphST import GraphST
from GraphST.utils import clustering
from harness.peer_io import read_args, write_embedding, write_labels


def main() -> None:
    adata, args = read_args(__doc__)
    model = GraphST.GraphST(adata, device=torch.device("cpu"), random_seed=args.seed)
    model.adj = model.adj.to_sparse()  # its nonzeros only: GraphST's dense products, as sparse ones
    adata = model.train()
    clustering(adata, args.n_clusters, method="leiden", start=0.1, end=2.0, increment=0.01, refinement=False)
    write_labels(adata.obs["domain"], adata.obs_names, args.output)
    write_embedding(adata.obsm["emb"], adata.obs_names, args.output)


if __name__ == "__main__":
    main()
