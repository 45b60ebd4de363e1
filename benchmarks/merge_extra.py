"""One domain more, merged back (``sst.tl.cluster(merge_extra=True)``), paired with the direct clustering.

    python benchmarks/estimate_k.py embed --cache /tmp/k_fresh \
        --datasets baristaseq1 baristaseq2 baristaseq3 osmfish --seeds 10 11 12 13 14
    python benchmarks/merge_extra.py --cache /tmp/k_fresh --seeds 10 11 12 13 14 \
        --out benchmarks/results/merge/seeds_10_14

Clusters each cached default embedding (``benchmarks/estimate_k.py embed``) into the annotated number of domains twice,
``merge_extra=False`` and ``merge_extra=True``, and writes ``OUT/runs.csv`` (one row per data set and seed: both
ARIs, whether the merged partition was kept, both coherences) and ``OUT/summary.md`` (means by data set, paired
differences, a Wilcoxon signed-rank test over all runs). The clustering is all that differs: both sides share the
training. The annotation is read only to score.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/: the harness

import pandas as pd
from estimate_k import SETS, load_cached
from harness.scores import scores
from harness.tables import markdown
from scipy.stats import wilcoxon

import semst_sc as sst

sst.settings.progress = False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, required=True, help="folder of the cached embeddings")
    parser.add_argument("--datasets", nargs="+", default=["osmfish", "baristaseq1", "baristaseq2", "baristaseq3"])
    parser.add_argument("--seeds", nargs="+", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    unknown = sorted(set(args.datasets) - set(SETS))
    if unknown:
        parser.error(f"unknown data sets {unknown}; known: {list(SETS)}")
    rows = []
    for name in args.datasets:
        for seed in args.seeds:
            path = args.cache / f"{name}_{seed}.npz"
            if not path.exists():
                print(f"missing {path}: run benchmarks/estimate_k.py embed first", file=sys.stderr)
                continue
            adata, truth, k = load_cached(path)
            row = {"dataset": name, "seed": seed, "k": k}
            for side, flag in (("direct", False), ("merge_extra", True)):
                sst.tl.cluster(adata, k, rng=seed, merge_extra=flag)
                row[side] = scores(truth, adata.obs["semst_domain"])["ari"]
            params = adata.uns["semst_domain"]["params"]
            row.update(
                kept_merged=params["extra_kept"],
                coherence_direct=params["extra_coherence"]["direct"],
                coherence_merged=params["extra_coherence"]["merged"],
            )
            rows.append(row)
            print(f"{name} seed {seed}: {row['direct']:.3f} -> {row['merge_extra']:.3f}", flush=True)
    runs = pd.DataFrame(rows)
    runs["difference"] = runs["merge_extra"] - runs["direct"]
    args.out.mkdir(parents=True, exist_ok=True)
    runs.to_csv(args.out / "runs.csv", index=False)
    summary = runs.groupby("dataset", sort=False).agg(
        direct=("direct", "mean"),
        merge_extra=("merge_extra", "mean"),
        difference=("difference", "mean"),
        ahead=("difference", lambda d: int((d > 0).sum())),
        behind=("difference", lambda d: int((d < 0).sum())),
        kept_merged=("kept_merged", "sum"),
        runs=("difference", "size"),
    )
    changed = runs["difference"][runs["difference"] != 0]
    p = wilcoxon(changed).pvalue if len(changed) > 1 else float("nan")
    text = (
        f"# merge_extra against the direct clustering, seeds {' '.join(map(str, args.seeds))}\n\n"
        f"`python benchmarks/merge_extra.py --cache {args.cache} --seeds {' '.join(map(str, args.seeds))} "
        f"--out {args.out}`\n\n{markdown(summary.round(4).reset_index())}\n\n"
        f"All {len(runs)} runs: mean paired difference {runs['difference'].mean():+.4f}, "
        f"{int((runs['difference'] > 0).sum())} ahead, {int((runs['difference'] < 0).sum())} behind, "
        f"Wilcoxon signed-rank p = {p:.2g} (over the {len(changed)} runs that changed).\n"
    )
    (args.out / "summary.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
