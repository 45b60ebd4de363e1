"""A change against a base revision, paired by data set and seed: ARI, wall time and peak memory.

    python benchmarks/before_after.py --base 4d7e666 --dataset dlpfc151673 dlpfc151674 --methods semst \\
        --seeds 0 1 2 3 4 --out benchmarks/results/before_after

Checks the base revision out into a temporary git worktree and runs its own ``benchmarks/run.py`` there (its
semst_sc imported from that worktree), then this tree's ``run.py``, on the same data sets, methods and seeds,
one run at a time. Writes ``DIR/base/`` and ``DIR/head/`` (each a run.py folder), ``DIR/runs.csv`` (both, base
methods renamed ``<method>@base``), ``DIR/paired.csv`` (per method: head minus base, paired by data set and seed,
from :func:`paired.paired`) and ``DIR/summary.md``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
from harness.tables import markdown
from paired import paired

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="git revision to compare against")
    parser.add_argument("--dataset", nargs="+", required=True)
    parser.add_argument("--methods", nargs="+", default=["semst"])
    parser.add_argument("--seeds", nargs="+", default=["0", "1", "2", "3", "4"])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    common = ["--dataset", *args.dataset, "--methods", *args.methods, "--seeds", *args.seeds]
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "base"
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), args.base], check=True, cwd=HERE)
        try:
            env = {**os.environ, "PYTHONPATH": str(tree)}
            base_out = (args.out / "base").resolve()
            subprocess.run(
                [sys.executable, "benchmarks/run.py", *common, "--out", str(base_out)], check=True, cwd=tree, env=env
            )
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], check=True, cwd=HERE)
    subprocess.run([sys.executable, str(HERE / "run.py"), *common, "--out", str(args.out / "head")], check=True)

    base = pd.read_csv(args.out / "base" / "runs.csv", dtype={"dataset": str})
    head = pd.read_csv(args.out / "head" / "runs.csv", dtype={"dataset": str})
    base["method"] = base["method"] + "@base"
    runs = pd.concat([base, head], ignore_index=True)
    runs.to_csv(args.out / "runs.csv", index=False)
    tables = [paired(runs, f"{m}@base", [m]) for m in args.methods]
    table = pd.concat(tables, ignore_index=True)
    table.to_csv(args.out / "paired.csv", index=False)
    ok = runs[runs["status"] == "ok"]
    stats = ok.groupby(["dataset", "method"]).agg(
        ari_mean=("ari", "mean"),
        ari_min=("ari", "min"),
        ari_max=("ari", "max"),
        wall_s=("wall_s", "median"),
        peak_mb=("peak_mb", "median"),
        runs=("ari", "size"),
    )
    text = [
        f"# {' '.join(args.methods)}: this tree against {args.base}",
        "",
        markdown(stats.round(3).reset_index()),
        "",
    ]
    text += ["Paired by data set and seed (head minus base):", "", markdown(table), ""]
    (args.out / "summary.md").write_text("\n".join(text))
    print("\n".join(text))


if __name__ == "__main__":
    main()
