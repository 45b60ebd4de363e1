"""GraphST (Long et al., Nat Commun 2023) on one slide, as its tutorial runs it, on the CPU.

    benchmarks/peers/.venvs/graphst/bin/python benchmarks/peers/graphst/run.py INPUT N_CLUSTERS SEED OUTPUT

GraphST preprocesses the raw counts itself (seurat_v3 genes, log-normalised, scaled), trains its
graph contrastive model for its default 600 epochs with ``random_seed=SEED`` and clusters the
embedding with its pure-Python clustering: Leiden, its resolution searched from 2.0 down to 0.1
(step 0.01) until it gives N_CLUSTERS domains, no refinement (mclust needs R). It also writes the embedding
(``obsm['emb']``) beside OUTPUT, which run.py clusters with the shared back-end and with GraphST's refinement.
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
    adata = model.train()
    clustering(adata, args.n_clusters, method="leiden", start=0.1, end=2.0, increment=0.01, refinement=False)
    write_labels(adata.obs["domain"], adata.obs_names, args.output)
    write_embedding(adata.obsm["emb"], adata.obs_names, args.output)


if __name__ == "__main__":
    main()
