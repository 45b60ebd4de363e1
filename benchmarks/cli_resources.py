"""Wall time and peak memory of ``semst-sc run`` on one DLPFC slice (a fresh process, as a user runs it).

    python benchmarks/cli_resources.py --slice 151673 --out benchmarks/results/cli_resources

Runs, one at a time, each in a fresh process: ``semst-sc run`` with an empty semantic-vector cache (a first run:
the language model loads and reads the genes), again with that cache filled (later runs), and the
neighbour-averaged PCA baseline (read, ``pp.prepare``'s genes, PCA, 6-neighbour average, tied GMM) for scale, and
``import scanpy`` / ``import semst_sc`` alone. Writes ``cli_resources.csv``: wall time, peak resident memory of the
process, ARI, and the time as a ratio to the baseline's.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/: the harness

import anndata as ad
import pandas as pd
from harness.scores import scores

import semst_sc as sst

HERE = Path(__file__).resolve().parent
BASELINE = """
import sys; sys.path.insert(0, {here!r})
import anndata as ad, pandas as pd, semst_sc as sst
from harness.baselines import pca_smooth_gmm
adata = ad.read_h5ad({source!r})
sst.pp.prepare(adata)
labels = pca_smooth_gmm(adata, adata.var["semst_modelled"].to_numpy(), 7, {seed})
pd.Series(labels, index=adata.obs_names).to_csv({labels!r})
"""


def measure(command: list[str], env: dict) -> tuple[float, float]:
    """Run ``command`` in a fresh process; return its wall seconds and peak resident MB."""
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed")
    return wall, usage.ru_maxrss / 1024  # kB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slice", default="151673")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/cli_resources"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    source = sst.datasets.default_data_dir() / "dlpfc" / "derived" / f"DLPFC_{args.slice}_top5000.h5ad"
    truth = ad.read_h5ad(source).obs["layer_guess_reordered"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        result, labels = Path(tmp) / "out.h5ad", Path(tmp) / "baseline.csv"
        run = [sys.executable, "-m", "semst_sc", "run", str(source), "--n-clusters", "7", "--output", str(result)]
        run += ["--seed", str(args.seed), "--quiet"]
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "SEMST_CACHE_DIR": str(Path(tmp) / "cache")}
        for case in ("semst-sc run, empty cache", "semst-sc run, cache filled"):
            wall, peak = measure(run, env)
            ari = scores(truth, ad.read_h5ad(result).obs["semst_domain"])["ari"]
            rows.append({"case": case, "wall_s": wall, "peak_mb": peak, "ari": ari, "command": " ".join(run[3:])})
        code = BASELINE.format(here=str(HERE), source=str(source), seed=args.seed, labels=str(labels))
        wall, peak = measure([sys.executable, "-c", code], env)
        ari = scores(truth, pd.read_csv(labels, index_col=0).iloc[:, 0].reindex(truth.index))["ari"]
        rows.append({"case": "PCA + 6-NN average + GMM", "wall_s": wall, "peak_mb": peak, "ari": ari, "command": ""})
        for module in ("scanpy", "semst_sc"):  # import cost, a fresh process each (the second of two: disk cache warm)
            for _ in range(2):
                wall, _ = measure([sys.executable, "-c", f"import {module}"], env)
            # no peak: a child's ru_maxrss starts from the forked copy of this (larger) process
            rows.append({"case": f"import {module}", "wall_s": wall, "peak_mb": None, "ari": None, "command": ""})
    table = pd.DataFrame(rows)
    table.insert(1, "slice", args.slice)
    table.insert(2, "seed", args.seed)
    table.insert(3, "cores", os.cpu_count())
    baseline = table.loc[table["case"] == "PCA + 6-NN average + GMM", "wall_s"].iloc[0]
    table["x_baseline_time"] = table["wall_s"] / baseline
    table = table.round({"wall_s": 2, "peak_mb": 0, "ari": 3, "x_baseline_time": 2})
    table.to_csv(args.out / "cli_resources.csv", index=False)
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
