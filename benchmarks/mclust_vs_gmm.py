"""Tied GMM (``method="gmm"``) against mclust EEE (``method="mclust"``) on the same embeddings (issue 21).

Two embeddings per data set and seed: the default semst_sc pipeline (``obsm['X_semst']`` of
``sst.run_pipeline(adata, K, rng=seed, copy=True)``) and the neighbour-averaged PCA baseline
(:func:`harness.baselines.smoothed_pcs` on the modelled genes). Each is clustered with K given by both back-ends
through :func:`semst_sc.tl.cluster` (20 PCs, no refinement); the annotation is read only to score ARI. Each back-end's
own mixture log-likelihood and BIC (``2 loglik - n_params log n``, higher is better, the mclust convention) are
recorded, computed on the same PCs.

Embeddings are cached under ``--cache`` (outside the repo) so the clustering can be re-run alone.

    python benchmarks/mclust_vs_gmm.py --datasets dlpfc151673 baristaseq1 --seeds 0 1 2 3 4
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))

from harness.baselines import smoothed_pcs  # noqa: E402
from harness.datasets import DATASETS  # noqa: E402
from harness.scores import scores  # noqa: E402

import semst_sc as sst  # noqa: E402

sst.settings.progress = False
EMBEDDINGS = ("semst", "pca_smooth")
BACKENDS = ("gmm", "mclust")


def embedding(name: str, kind: str, seed: int, cache: Path) -> np.ndarray:
    """The cached (or freshly computed) embedding ``kind`` of data set ``name`` for ``seed``."""
    path = cache / f"{name}_{kind}_{seed}.npy"
    if path.exists():
        return np.load(path)
    load, _, k, _ = DATASETS[name]
    adata = load()
    if kind == "semst":
        emb = sst.run_pipeline(adata, k, rng=seed, copy=True).obsm["X_semst"]
    else:
        genes = sst.pp.prepare(adata, copy=True).var["semst_modelled"].to_numpy()
        counts = adata[:, genes].copy()
        emb = smoothed_pcs(counts, np.ones(counts.n_vars, dtype=bool), seed)
    emb = np.asarray(emb, dtype=np.float64)
    np.save(path, emb)
    return emb


def cluster_runs(name: str, kind: str, seeds: list[int], cache: Path, truth: pd.Series) -> list[dict]:
    """Both back-ends on the cached embeddings of one data set: one row per seed and back-end."""
    k = DATASETS[name].n_clusters
    rows = []
    for seed in seeds:
        emb = embedding(name, kind, seed, cache)
        for backend in BACKENDS:
            adata = ad.AnnData(np.zeros((len(emb), 1), np.float32), obsm={"X_semst": emb})
            start = time.perf_counter()
            sst.tl.cluster(adata, k, method=backend, rng=seed)
            seconds = time.perf_counter() - start
            params = adata.uns["semst_domain"]["params"]
            n, d = params["fitted_on"], min(params["n_pcs"] or emb.shape[1], emb.shape[1])
            # tied GMM and mclust EEE have the same free parameters: K means, one covariance, K - 1 proportions
            n_params = k * d + d * (d + 1) // 2 + k - 1
            rows.append(
                {
                    "dataset": name,
                    "embedding": kind,
                    "seed": seed,
                    "backend": backend if backend == "gmm" else f"mclust_{params['model_name']}",
                    "k": k,
                    "n_spots": n,
                    "n_dims": d,
                    **scores(truth, adata.obs["semst_domain"].to_numpy()),
                    "loglik": params["loglik"],
                    "bic_mclust": 2 * params["loglik"] - n_params * math.log(n),
                    "seconds": seconds,
                }
            )
            print(rows[-1], flush=True)
    return rows


def summarise(runs: pd.DataFrame) -> str:
    """Markdown: per data set, embedding and back-end the mean (min-max) ARI and log-likelihood; paired differences."""
    lines = [
        "# Tied GMM vs mclust EEE on the same embeddings (issue 21)",
        "",
        "Made by `benchmarks/mclust_vs_gmm.py`. K given, 20 PCs of the embedding, no refinement; `gmm`: scikit-learn",
        "`GaussianMixture(covariance_type='tied', n_init=5)`; `mclust_EEE`: `tl.cluster(method='mclust')`",
        "(pymclustr, EM seeded by mclust's hierarchical clustering, of 2000 random spots above 2000). loglik: the",
        "mixture log-likelihood each back-end reports for its own fit on the same PCs (higher is better; BIC differs",
        "by the same amount since both models have the same number of parameters). Seeds:",
        f"{', '.join(map(str, sorted(runs['seed'].unique())))}.",
        "",
        "| data set | embedding | ARI gmm | ARI mclust | ARI mclust - gmm (min..max) | mclust better | "
        "loglik mclust - gmm (min..max) | mclust higher loglik | s gmm | s mclust |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    mclust = [b for b in runs["backend"].unique() if b != "gmm"][0]
    keys = ["dataset", "embedding", "seed"]
    wide = runs.pivot_table(index=keys, columns="backend", values=["ari", "loglik", "seconds"], sort=False)
    diffs = []
    for (dataset, kind), block in wide.groupby(level=[0, 1], sort=False):
        g, m = block["ari"]["gmm"], block["ari"][mclust]
        dari, dll = m - g, block["loglik"][mclust] - block["loglik"]["gmm"]
        diffs.append(dari.to_numpy())

        def fmt(x):
            return f"{x.mean():.3f} ({x.min():.3f}..{x.max():.3f})"

        lines.append(
            f"| {dataset} | {kind} | {fmt(g)} | {fmt(m)} | {dari.mean():+.3f} ({dari.min():+.3f}..{dari.max():+.3f}) | "
            f"{(dari > 0).sum()}/{len(dari)} | {dll.mean():+.1f} ({dll.min():+.1f}..{dll.max():+.1f}) | "
            f"{(dll > 0).sum()}/{len(dll)} | {block['seconds']['gmm'].mean():.1f} | "
            f"{block['seconds'][mclust].mean():.1f} |"
        )
    all_diffs = np.concatenate(diffs)
    lines += [
        "",
        f"Over all {len(all_diffs)} paired runs: ARI mclust - gmm {all_diffs.mean():+.4f} "
        f"(min {all_diffs.min():+.3f}, max {all_diffs.max():+.3f}; mclust better in {(all_diffs > 0).sum()}, "
        f"worse in {(all_diffs < 0).sum()}, equal in {(all_diffs == 0).sum()}).",
    ]
    for kind in runs["embedding"].unique():
        sub = wide.xs(kind, level=1)
        d = (sub["ari"][mclust] - sub["ari"]["gmm"]).to_numpy()
        lines.append(f"- {kind}: ARI mclust - gmm {d.mean():+.4f} over {len(d)} paired runs.")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["dlpfc151673", "baristaseq1", "osmfish", "mouse_ob"])
    parser.add_argument("--embeddings", nargs="+", default=list(EMBEDDINGS), choices=EMBEDDINGS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--cache", type=Path, default=Path("/tmp/semst_mclust_embeddings"))
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "mclust")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in args.datasets:
        load, label_key, _, _ = DATASETS[name]
        truth = load().obs[label_key]  # read only to score
        for kind in args.embeddings:
            rows += cluster_runs(name, kind, args.seeds, args.cache, truth)
            runs = pd.DataFrame(rows)
            runs.to_csv(args.out / "runs.csv", index=False)
    (args.out / "summary.md").write_text(summarise(runs))
    print((args.out / "summary.md").read_text())


if __name__ == "__main__":
    main()
