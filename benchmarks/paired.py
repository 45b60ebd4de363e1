"""Paired comparison of semst_sc variants against a reference method in a harness run.

    python benchmarks/paired.py benchmarks/results/peers --reference semst \\
        --methods semst_nosem semst_symbols semst_genes_text semst_symbols_text

Pairs the runs of ``DIR/runs.csv`` by data set and seed (the same data, genes, K and seed) and writes
``DIR/paired_<reference>.csv``: per method, the number of pairs, the mean ARI difference to the reference, how
many pairs it wins, and the p-values of a paired t-test and a Wilcoxon signed-rank test. Seed-to-seed
spread is large next to the differences between variants; pairing by seed is what can separate them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from scipy import stats


def paired(runs: pd.DataFrame, reference: str, methods: list[str]) -> pd.DataFrame:
    """One row per method: ARI differences to ``reference`` over the (dataset, seed) pairs both ran."""
    ok = runs[runs["status"] == "ok"]
    ari = ok.pivot_table(index=["dataset", "seed"], columns="method", values="ari")
    rows = []
    for method in methods:
        if method not in ari or reference not in ari:
            raise SystemExit(f"runs.csv has no ok runs of {method if method not in ari else reference!r}")
        both = ari[[method, reference]].dropna()
        diff = both[method] - both[reference]
        rows.append(
            {
                "method": method,
                "reference": reference,
                "pairs": len(diff),
                "datasets": both.index.get_level_values("dataset").nunique(),
                "mean_diff": round(diff.mean(), 4),
                "wins": int((diff > 0).sum()),
                "t_test_p": round(stats.ttest_rel(both[method], both[reference]).pvalue, 3) if len(diff) > 1 else None,
                "wilcoxon_p": round(stats.wilcoxon(diff).pvalue, 3) if (diff != 0).any() else 1.0,
            }
        )
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dir", type=Path, help="an output folder of benchmarks/run.py")
    parser.add_argument("--reference", default="semst")
    parser.add_argument("--methods", nargs="+", required=True)
    args = parser.parse_args()
    table = paired(pd.read_csv(args.dir / "runs.csv", dtype={"dataset": str}), args.reference, args.methods)
    table.to_csv(args.dir / f"paired_{args.reference}.csv", index=False)
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
