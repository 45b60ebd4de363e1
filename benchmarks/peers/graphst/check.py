"""Check that GraphST's adjacency as a torch sparse tensor (``run.py``) computes what its dense matrix computes.

    benchmarks/peers/.venvs/graphst/bin/python benchmarks/peers/graphst/check.py \
        benchmarks/results/peers_backend/graphst_sparse_check.txt

On a simulated Visium-like grid (900 spots, 3,000 genes of Poisson counts), GraphST is set up as ``run.py`` sets it
up, then trained twice from the same seed, once with its dense adjacency and once with the same matrix as a sparse
tensor: the largest differences of the first forward pass, of its gradients and of the embedding after the full
training are written to OUT.txt, with the wall time of each. Any difference is float summation order; the check fails
(exit 1) if the first pass differs by more than 1e-4 relative.
"""

import copy
import sys
import time

import anndata as ad
import numpy as np
import torch
from GraphST import GraphST


def simulated_slide(rng: np.random.Generator) -> ad.AnnData:
    """A 30 x 30 hexagon-free grid with three horizontal bands of different expression (Poisson counts)."""
    rows, cols = np.divmod(np.arange(900), 30)
    band = rows // 10
    rates = rng.gamma(1.0, 1.0, size=(3, 3000))
    counts = rng.poisson(rates[band]).astype(np.float32)
    adata = ad.AnnData(counts)
    adata.obsm["spatial"] = np.c_[cols, rows].astype(float)
    return adata


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


def main() -> None:
    out = sys.argv[1]
    adata = simulated_slide(np.random.default_rng(0))
    dense = GraphST.GraphST(adata, device=torch.device("cpu"), random_seed=0)
    sparse = copy.copy(dense)
    sparse.adj = dense.adj.to_sparse()

    model = GraphST.Encoder(dense.dim_input, dense.dim_output, dense.graph_neigh)
    twin = copy.deepcopy(model)
    features_a = GraphST.permutation(dense.features)
    first = [m(dense.features, features_a, adj) for m, adj in ((model, dense.adj), (twin, sparse.adj))]
    for outputs in first:
        (outputs[1].square().mean() + outputs[2].mean()).backward()
    lines = [
        f"first pass, output {i}: max relative difference {relative(s, d):.2e}"
        for i, (d, s) in enumerate(zip(first[0], first[1], strict=True))
    ]
    gradients = [relative(s.grad, d.grad) for d, s in zip(model.parameters(), twin.parameters(), strict=True)]
    lines.append(f"first pass, gradients: max relative difference {max(gradients):.2e}")
    worst = max(max(relative(s, d) for d, s in zip(*first, strict=True)), max(gradients))

    embeddings = []
    for name, run in (("dense", dense), ("sparse", sparse)):
        GraphST.fix_seed(0)
        start = time.perf_counter()
        embeddings.append(torch.from_numpy(run.train().obsm["emb"]))
        lines.append(f"{name}: 600 epochs in {time.perf_counter() - start:.1f} s")
    lines.append(f"embedding after 600 epochs: max relative difference {relative(embeddings[1], embeddings[0]):.2e}")
    lines.append("ok" if worst < 1e-4 else "FAILED: the sparse adjacency does not compute the dense one")
    with open(out, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    sys.exit(0 if worst < 1e-4 else 1)


if __name__ == "__main__":
    main()
