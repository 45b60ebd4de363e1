"""Training beside another busy process, on the threads asked for and on the threads numba leaves behind.

    OMP_NUM_THREADS=1 python benchmarks/threads.py --out benchmarks/results/threads

scanpy's ``seurat_v3`` gene selection (run by ``sst.pp.prepare`` when it selects genes) starts numba's OpenMP layer,
which sets OpenMP's thread count, torch's included, to one per core. This script records torch's count before and
after ``prepare``, then trains the contrastive encoder (its default 300 epochs) on 144 simulated spots while a
single-threaded matrix product runs in another process: on the threads asked for (``OMP_NUM_THREADS``, what
``sst.tl.semst`` now uses) and on the count numba left (what it used before). Writes ``OUT/results.csv``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import torch

import semst_sc as sst

sst.settings.progress = False
BUSY = "import numpy as np\na = np.random.rand(2000, 2000).astype(np.float32)\nwhile True:\n    a @ a\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    asked = sst.settings.resolve_threads()
    adata = sst.datasets.simulate_tissue(24, 24, n_genes=300, rng=0)[:144].copy()
    before = torch.get_num_threads()
    sst.pp.prepare(adata, n_top_genes=200)  # 200 of 300 genes: seurat_v3 selection, numba
    left = torch.get_num_threads()
    sst.pp.spatial_graph(adata)
    sst.pp.feature_graph(adata)
    sst.pp.gene_semantics(adata)
    sst.tl.semst(adata, encoder="contrastive", n_epochs=5, copy=True)  # warm-up
    rows = []
    busy = subprocess.Popen([sys.executable, "-c", BUSY], env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        time.sleep(2)
        for label, threads in (("asked for", asked), ("left by numba", left), ("asked for, again", asked)):
            sst.settings.n_threads = threads
            start = time.perf_counter()
            sst.tl.semst(adata, encoder="contrastive", copy=True)
            rows.append({"threads": label, "n_threads": threads, "seconds": round(time.perf_counter() - start, 1)})
            print(rows[-1], flush=True)
    finally:
        busy.kill()
        sst.settings.n_threads = None
    table = pd.DataFrame(rows).assign(torch_threads_before_prepare=before, torch_threads_after_prepare=left)
    table.to_csv(args.out / "results.csv", index=False)
    print(f"wrote {args.out / 'results.csv'}")


if __name__ == "__main__":
    main()
