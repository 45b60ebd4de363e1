"""Which setting of ``preset="paper"`` moves the accuracy: the default with one paper setting swapped in at a time.

    python benchmarks/preset_ablation.py --dataset osmfish --seeds 0 1 2 --out benchmarks/results/preset_ablation

Variants: ``default`` and ``paper`` (the ``semst`` and ``semst_paper`` methods of the registry
``harness/methods.py``) and ``paper_<step>`` (the default pipeline with the paper's settings of that one step, e.g.
``paper_spatial_graph``: 60 spatial neighbours, registered as a preset in ``semst_sc.PRESETS``). Writes ``runs.csv``
(one row per run) and ``summary.md`` (ARI mean and range per variant).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/: the harness

import pandas as pd
from harness.datasets import DATASETS
from harness.methods import METHODS
from harness.scores import scores
from harness.tables import markdown

import semst_sc as sst

sst.settings.progress = False


def variants() -> dict[str, dict]:
    """Every variant and its ``run_pipeline`` keywords; registers one preset per step of the paper preset."""
    found = {"default": dict(METHODS["semst"].settings), "paper": dict(METHODS["semst_paper"].settings)}
    for step, settings in sst.PRESETS["paper"].items():
        sst.PRESETS[f"paper_{step}"] = {step: settings}  # run_pipeline looks presets up in this table
        found[f"paper_{step}"] = {"preset": f"paper_{step}"}
    return found


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
    chosen = args.variants or list(known)
    unknown = sorted(set(chosen) - set(known))
    if unknown:
        raise SystemExit(f"unknown variants {unknown}; choose from {list(known)}")
    rows = []
    for name in args.dataset:
        load, label_key, k, _ = DATASETS[name]
        adata = load()
        for seed in args.seeds:
            for variant in chosen:
                start = time.perf_counter()
                result = sst.run_pipeline(adata, k, rng=seed, copy=True, **known[variant])
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
