"""How the size of the spatial graph moves the default pipeline's ARI on DLPFC (K=7).

    python benchmarks/spatial_neighbors.py --k 6 15 30 60 --seeds 0 1 2 3 4 --out benchmarks/results/spatial_neighbors

Measures the choice of one default k for every platform (not per slice). Writes ``runs.csv``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/: the harness

import pandas as pd
from harness.scores import scores

import semst_sc as sst

sst.settings.progress = False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--k", nargs="+", type=int, default=[6, 15, 30, 60])
    parser.add_argument("--slices", nargs="+", default=["151673", "151674"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/spatial_neighbors"))
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for k in args.k:
        for slice_id in args.slices:
            for seed in args.seeds:
                adata = sst.datasets.dlpfc(slice_id)
                start = time.perf_counter()
                sst.run_pipeline(adata, 7, spatial_neighbors=k, rng=seed)
                rows.append(
                    {
                        "k": k,
                        "dataset": slice_id,
                        "seed": seed,
                        "wall_s": time.perf_counter() - start,
                        **scores(adata.obs["layer_guess_reordered"], adata.obs["semst_domain"]),
                    }
                )
                print(rows[-1], flush=True)
                pd.DataFrame(rows).to_csv(args.out / "runs.csv", index=False)


if __name__ == "__main__":
    main()
