"""What spatial refinement (``tl.cluster(refine=True)``, or GraphST's vote) would change in a harness run.

    python benchmarks/refine.py benchmarks/results/peers
    python benchmarks/refine.py benchmarks/results/contrastive_vote --nearest 50

Reads the domain labels ``run.py`` kept in ``DIR/labels``, applies the majority vote of
``semst_sc.tl.cluster(refine=True)`` (:func:`semst_sc.tl.refine`) on the default spatial graph
(:func:`semst_sc.pp.spatial_graph`) and writes ``DIR/refine.csv`` (method, dataset, seed, ari, ari_refined) and a
per-method mean to stdout. The vote is computed exactly as the pipeline would, since it does not depend on how
domains are numbered. ``--nearest N``: GraphST's vote instead (each spot takes the most frequent label of its N
nearest spots, ``harness.backends.refine_nearest``), written to ``DIR/refine_nearest<N>.csv``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score

import semst_sc as sst

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/: the harness
from harness.backends import refine_nearest  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dir", type=Path, help="an output folder of benchmarks/run.py")
    parser.add_argument("--nearest", type=int, default=None, help="GraphST's vote over this many nearest spots")
    args = parser.parse_args()
    runs = pd.read_csv(args.dir / "runs.csv", dtype={"dataset": str})
    rows = []
    for dataset, group in runs[runs["status"] == "ok"].groupby("dataset"):
        truth = pd.read_csv(args.dir / "labels" / f"{dataset}_truth.csv", index_col=0)
        coords = truth[["x", "y"]].to_numpy()
        spots = ad.AnnData(np.zeros((len(truth), 1), np.float32), obsm={"spatial": coords})  # graphs need no genes
        sst.pp.spatial_graph(spots)
        labelled = truth["truth"].notna().to_numpy()
        for run in group.itertuples():
            labels = pd.read_csv(args.dir / "labels" / f"{dataset}_{run.method}_{run.seed}.csv", index_col=0)
            codes = pd.factorize(labels["domain"].reindex(truth.index))[0]
            if (codes < 0).any():  # a method that did not label every spot: nothing to refine
                continue
            if args.nearest is None:
                spots.obs["domain"] = pd.Categorical(codes)
                sst.tl.refine(spots, domain_key="domain", key_added="refined")
                refined = spots.obs["refined"].to_numpy()
            else:
                refined = refine_nearest(codes, coords, args.nearest)
            rows.append(
                {
                    "method": run.method,
                    "dataset": dataset,
                    "seed": run.seed,
                    "ari": adjusted_rand_score(truth["truth"][labelled], codes[labelled]),
                    "ari_refined": adjusted_rand_score(truth["truth"][labelled], refined[labelled]),
                }
            )
    table = pd.DataFrame(rows)
    name = "refine.csv" if args.nearest is None else f"refine_nearest{args.nearest}.csv"
    table.to_csv(args.dir / name, index=False)
    print(table.groupby(["dataset", "method"])[["ari", "ari_refined"]].mean().round(3).to_string())


if __name__ == "__main__":
    main()
