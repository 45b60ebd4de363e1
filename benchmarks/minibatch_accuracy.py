"""ARI of full-batch and mini-batch training on DLPFC Visium slices (issue 6: comparable accuracy).

    python benchmarks/minibatch_accuracy.py --slices 151673 --seeds 0 1 2 --out benchmarks/results/minibatch_accuracy

Per slice, the default preprocessing runs once (``prepare``, both graphs, ``gene_semantics``); then, per seed,
``tl.semst`` with ``minibatch=False`` and with ``minibatch=True`` (the defaults otherwise: 100 steps, 1,024 spots
per mini-batch step) and ``tl.cluster`` (GMM, K = 7). One thread. Writes ``runs.csv`` (one row per slice, seed
and mode: ARI, NMI, training wall time) and ``summary.md``. Labels are read only to score.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/: the harness

LABELS = "layer_guess_reordered"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slices", nargs="+", default=["151673"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/minibatch_accuracy"))
    args = parser.parse_args()
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = "1"
    os.environ["HF_HUB_OFFLINE"] = "1"

    import pandas as pd
    import torch
    from harness.scores import scores
    from harness.tables import markdown

    import semst_sc as sst

    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for slice_id in args.slices:
        adata = sst.datasets.dlpfc(slice_id)
        sst.pp.prepare(adata)
        sst.pp.spatial_graph(adata)
        sst.pp.feature_graph(adata)
        sst.settings.progress = False
        sst.pp.gene_semantics(adata)
        for seed in args.seeds:
            for minibatch in (False, True):
                start = time.perf_counter()
                out = sst.tl.semst(adata, train_kwargs={"minibatch": minibatch}, rng=seed, copy=True)
                wall = time.perf_counter() - start
                sst.tl.cluster(out, 7, rng=seed)
                rows.append(
                    {
                        "dataset": slice_id,
                        "seed": seed,
                        "training": "mini-batch" if minibatch else "full batch",
                        "semst_wall_s": round(wall, 1),
                        **{k: round(v, 4) for k, v in scores(out.obs[LABELS], out.obs["semst_domain"]).items()},
                    }
                )
                print(rows[-1], flush=True)
                pd.DataFrame(rows).to_csv(args.out / "runs.csv", index=False)

    runs = pd.DataFrame(rows)
    table = runs.groupby(["dataset", "training"]).agg(
        ari_mean=("ari", "mean"), ari_sd=("ari", "std"), nmi_mean=("nmi", "mean"), semst_wall_s=("semst_wall_s", "mean")
    )
    (args.out / "summary.md").write_text(
        f"# Full-batch vs mini-batch training on DLPFC (K = 7, seeds {args.seeds}, 1 thread)\n\n"
        f"{markdown(table.round(3).reset_index())}\n"
    )


if __name__ == "__main__":
    main()
