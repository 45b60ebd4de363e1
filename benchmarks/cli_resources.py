"""Wall time and peak memory of ``semst-sc run`` on one DLPFC slice (a fresh process, as a user runs it).

    python benchmarks/cli_resources.py --slice 151673 --out benchmarks/results/cli_resources

Writes ``cli_resources.csv`` with the wall time, the peak resident memory of the process, and the ARI.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/: the harness

import anndata as ad
import pandas as pd
from harness.scores import scores

import semst_sc as sst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slice", default="151673")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/cli_resources"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    source = sst.datasets.default_data_dir() / "dlpfc" / "derived" / f"DLPFC_{args.slice}_top5000.h5ad"
    result = args.out / f"{args.slice}.h5ad"
    command = [
        sys.executable,
        "-m",
        "semst_sc",
        "run",
        str(source),
        "--n-clusters",
        "7",
        "--output",
        str(result),
        "--seed",
        str(args.seed),
        "--quiet",
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env)
    wall = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # kB on Linux
    out = ad.read_h5ad(result)
    row = {
        "slice": args.slice,
        "seed": args.seed,
        "n_spots": out.n_obs,
        "wall_s": round(wall, 1),
        "peak_mb": round(peak_mb),
        "ari": round(scores(out.obs["layer_guess_reordered"], out.obs["semst_domain"])["ari"], 3),
        "command": " ".join(["semst-sc", *command[3:]]),
    }
    result.unlink()
    pd.DataFrame([row]).to_csv(args.out / "cli_resources.csv", index=False)
    print(row)


if __name__ == "__main__":
    main()
