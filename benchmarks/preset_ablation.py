"""Which setting of ``preset="paper"`` moves the accuracy: the default with one paper setting swapped in at a time.

    python benchmarks/preset_ablation.py --dataset osmfish --seeds 0 1 2 --out benchmarks/results/preset_ablation

Variants: ``default``, ``paper`` and ``paper_<step>`` (the default pipeline with the paper's settings of that one
step, e.g. ``paper_spatial_graph``: 60 spatial neighbours). Writes ``runs.csv`` (one row per run) and ``summary.md``
(ARI mean and range per variant).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import pandas as pd
from _common import markdown, scores
from run import DATASETS

import semst_sc as sst
from semst_sc._pipeline import PRESETS


def variants() -> list[str]:
    """Register one preset per step of the paper preset; return the names of every variant (each a preset)."""
    for step, settings in PRESETS["paper"].items():
        PRESETS[f"paper_{step}"] = {step: settings}  # run_pipeline looks presets up in this table
    return ["default", "paper", *(f"paper_{step}" for step in PRESETS["paper"])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", nargs="+", choices=sorted(DATASETS), default=["osmfish"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--variants", nargs="+", help="subset of the variants (default: all)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/preset_ablation"))
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args.out.mkdir(parents=True, exist_ok=True)
    known = variants()
    chosen = args.variants or known
    unknown = sorted(set(chosen) - set(known))
    if unknown:
        raise SystemExit(f"unknown variants {unknown}; choose from {known}")
    rows = []
    for name in args.dataset:
        load, label_key, k, _ = DATASETS[name]
        adata = load()
        for seed in args.seeds:
            for variant in chosen:
                start = time.perf_counter()
                result = sst.run_pipeline(adata, k, preset=variant, rng=seed, progress=False, copy=True)
                wall = time.perf_counter() - start
                rows.append(
                    {
                        "variant": variant,
                        "dataset": name,
                        "seed": seed,
                        "wall_s": round(wall, 1),
                        **scores(adata.obs[label_key], result.obs["semst_domain"]),
                    }
                )
                print(rows[-1], flush=True)
                pd.DataFrame(rows).to_csv(args.out / "runs.csv", index=False)
    runs = pd.DataFrame(rows)
    summary = runs.groupby(["dataset", "variant"], sort=False).agg(
        seeds=("seed", "size"),
        ari_mean=("ari", "mean"),
        ari_min=("ari", "min"),
        ari_max=("ari", "max"),
        wall_s=("wall_s", "median"),
    )
    (args.out / "summary.md").write_text(markdown(summary.round(3).reset_index()) + "\n")


if __name__ == "__main__":
    main()
