"""What spatial refinement (``tl.cluster(refine=True)``) would change in a harness run.

    python benchmarks/refine.py benchmarks/results/peers

Reads the domain labels ``run.py`` kept in ``DIR/labels``, applies the majority vote of
``semst_sc.tl.cluster(refine=True)`` (:func:`semst_sc.tl.refine`) on the default spatial graph
(:func:`semst_sc.pp.spatial_graph`) and writes ``DIR/refine.csv`` (method, dataset, seed, ari, ari_refined) and a
per-method mean to stdout. The vote is computed exactly as the pipeline would, since it does not depend on how
domains are numbered.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score

import semst_sc as sst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dir", type=Path, help="an output folder of benchmarks/run.py")
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
            spots.obs["domain"] = pd.Categorical(codes)
            sst.tl.refine(spots, domain_key="domain", key_added="refined")
            refined = spots.obs["refined"].to_numpy()
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
    table.to_csv(args.dir / "refine.csv", index=False)
    print(table.groupby(["dataset", "method"])[["ari", "ari_refined"]].mean().round(3).to_string())


if __name__ == "__main__":
    main()
