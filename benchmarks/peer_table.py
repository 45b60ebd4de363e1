"""The peer table of docs/results.md: one row per data set, one column per method and clustering back-end.

    python benchmarks/peer_table.py benchmarks/results/peers_backend benchmarks/results/single_cell \\
        benchmarks/results/joint > benchmarks/results/peers_backend/table.md

Reads the ``runs.csv`` of one or more ``benchmarks/run.py`` output folders (a row found in several is taken from
the first folder that has it) and prints, per data set and method, the ARI mean (min-max) over the seeds run with
their count, the mean wall time and the mean peak memory. Joint rows (``section@sections``) are left out: one
section alone per row.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pandas as pd
from harness.tables import markdown

#: columns in reading order: semst_sc and the baseline first, then each peer with its own clustering and semst_sc's
METHODS = (
    "semst",
    "pca_smooth_gmm",
    "banksy",
    "banksy+gmm",
    "cellcharter",
    "cellcharter+gmm",
    "stagate",
    "stagate+gmm",
    "graphst",
    "graphst+gmm",
    "graphst+gmm+refine",
)
DATASETS = ("dlpfc151673", "dlpfc151674", "mouse_ob", "osmfish", "baristaseq1", "baristaseq2", "baristaseq3")


def table(folders: list[Path], compact: bool = False) -> pd.DataFrame:
    """ARI mean (min-max), seeds, mean wall time and peak memory per data set (rows) and method (columns);
    ``compact``: the ARI mean and the number of seeds alone."""
    runs = pd.concat([pd.read_csv(f / "runs.csv", dtype={"dataset": str}) for f in folders], ignore_index=True)
    runs = runs[(runs["status"] == "ok") & runs["method"].isin(METHODS) & runs["dataset"].isin(DATASETS)]
    runs = runs.drop_duplicates(["dataset", "method", "seed"])  # the first folder's row wins
    cells = {}
    for (dataset, method), group in runs.groupby(["dataset", "method"]):
        ari = group["ari"]
        cells[dataset, method] = (
            f"{ari.mean():.3f} ({len(ari)})"
            if compact
            else (
                f"{ari.mean():.3f} ({ari.min():.3f}-{ari.max():.3f}), n={len(ari)}, "
                f"{group['wall_s'].mean():.0f} s, {group['peak_mb'].mean() / 1024:.1f} GB"
            )
        )
    rows = [
        {"data": d, **{m: cells.get((d, m), "-") for m in METHODS}} for d in DATASETS if any(k[0] == d for k in cells)
    ]
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", type=Path, help="output folders of benchmarks/run.py")
    parser.add_argument("--compact", action="store_true", help="cells: ARI mean (number of seeds)")
    args = parser.parse_args()
    print(markdown(table(args.folders, args.compact)))


if __name__ == "__main__":
    main()
