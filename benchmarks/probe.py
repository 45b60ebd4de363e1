"""How much of the annotation a representation carries, and how much of it label-free clustering recovers.

    python benchmarks/probe.py --dataset dlpfc151673 dlpfc151674 --seeds 0 1 2 3 4 --out benchmarks/results/probe

For each representation (the semst_sc variants of ``run.py`` and the neighbour-averaged PCs of the
``pca_smooth_gmm`` baseline), on exactly the features its tied-covariance GMM is fitted on:

- ``ari``: the label-free domains (what ``run.py`` scores);
- ``probe_ari``: a linear probe, linear discriminant analysis (a tied-covariance Gaussian per label, the
  supervised twin of that GMM), predicted with 5-fold cross-validation over spatial blocks (25 k-means
  blocks of the coordinates, so no spot is predicted by a model fitted on its neighbours);
- ``truth_start_ari``: the GMM's EM started from the label means instead of k-means, and
  ``loglik_gain`` = its mean log-likelihood per spot minus that of the label-free fit. A negative gain with a
  low ``truth_start_ari`` says the likelihood itself prefers another partition than the annotation.

Labels enter only this diagnosis, never the methods. Writes ``runs.csv`` and ``summary.md``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/: the harness

import numpy as np
import pandas as pd
from harness.baselines import smoothed_pcs
from harness.datasets import DATASETS
from harness.methods import METHODS, names
from harness.tables import markdown
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import GroupKFold, cross_val_predict

import semst_sc as sst

sst.settings.progress = False

BASELINE = "pca_smooth_gmm"
REPRESENTATIONS = ["semst", "semst_nosem", "semst_contrastive_nosem", BASELINE]


def clustered_features(
    adata, method: str, k: int, seed: int, organism: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The features a method's GMM is fitted on and its label-free domains (``organism``: for gene descriptions)."""
    if method == BASELINE:
        genes = sst.pp.prepare(adata, copy=True).var["semst_modelled"].to_numpy()
        counts = adata[:, genes].copy()
        features = smoothed_pcs(counts, np.ones(counts.n_vars, dtype=bool), seed)
        labels = GaussianMixture(k, covariance_type="tied", n_init=5, random_state=seed).fit_predict(features)
        return features, labels
    settings = METHODS[method].pipeline_kwargs(organism)
    result = sst.run_pipeline(adata, k, rng=seed, copy=True, **settings)
    params = result.uns["semst_domain"]["params"]
    features = np.asarray(result.obsm[params["use_rep"]], dtype=np.float64)
    if params["n_pcs"] is not None and features.shape[1] > params["n_pcs"]:
        features = PCA(params["n_pcs"], random_state=seed).fit_transform(features)
    return features, result.obs["semst_domain"].to_numpy()


def diagnose(features, labels, truth, xy, k: int, seed: int) -> dict[str, float]:
    """Label-free ARI, the spatially cross-validated linear probe, and EM started from the label means."""
    keep = truth.notna().to_numpy()
    x, y = features[keep], truth[keep].astype(str).to_numpy()
    blocks = KMeans(25, n_init=1, random_state=seed).fit_predict(xy[keep])
    probe = cross_val_predict(LinearDiscriminantAnalysis(), x, y, cv=GroupKFold(5), groups=blocks)
    means = np.stack([x[y == label].mean(axis=0) for label in np.unique(y)])
    free = GaussianMixture(k, covariance_type="tied", n_init=5, random_state=seed).fit(features)
    start = GaussianMixture(len(means), covariance_type="tied", means_init=means, random_state=seed).fit(features)
    return {
        "ari": adjusted_rand_score(y, labels[keep].astype(str)),
        "probe_ari": adjusted_rand_score(y, probe),
        "truth_start_ari": adjusted_rand_score(y, start.predict(x)),
        "loglik_gain": start.score(features) - free.score(features),
    }


def summary(runs: pd.DataFrame) -> str:
    """Mean (min-max) of each score per data set and representation."""
    table = runs.groupby(["dataset", "method"], sort=False).agg(
        seeds=("seed", "count"),
        **{
            column: (column, lambda s: f"{s.mean():.3f} ({s.min():.3f}-{s.max():.3f})")
            for column in ("ari", "probe_ari", "truth_start_ari", "loglik_gain")
        },
    )
    return markdown(table.reset_index()) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", nargs="+", choices=sorted(DATASETS), default=["dlpfc151673", "dlpfc151674"])
    parser.add_argument("--methods", nargs="+", choices=[*names("semst"), BASELINE], default=REPRESENTATIONS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/probe"))
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in args.dataset:
        load, label_key, k, organism = DATASETS[name]
        adata = load()
        truth = adata.obs[label_key]
        xy = np.asarray(adata.obsm["spatial"], dtype=np.float64)[:, :2]
        adata.obs = adata.obs[[]]  # the methods see no labels
        for seed in args.seeds:
            for method in args.methods:
                features, labels = clustered_features(adata, method, k, seed, organism)
                scores = diagnose(features, labels, truth, xy, k, seed)
                rows.append(
                    {"dataset": name, "method": method, "seed": seed, **{s: round(v, 4) for s, v in scores.items()}}
                )
                print(rows[-1], flush=True)
                pd.DataFrame(rows).to_csv(args.out / "runs.csv", index=False)
    runs = pd.DataFrame(rows)
    (args.out / "summary.md").write_text(summary(runs))
    print(summary(runs))


if __name__ == "__main__":
    main()
