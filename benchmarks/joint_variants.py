"""How to join sections: the joint default against the alternatives it was chosen over, paired by seed.

    OMP_NUM_THREADS=1 python benchmarks/joint_variants.py --dataset dlpfc151673+dlpfc151674 --seeds 0 1 2 3 4 \\
        --out benchmarks/results/joint

Variants (each one semst_sc pipeline over all sections, K given, labels only to score):

- ``default``: ``run_pipeline(library_key=...)``: genes in every section, variable genes across sections,
  per-section scaling, spatial graphs within sections, a balanced expression graph;
- ``pooled_graph``: the same, with the expression graph searched over all spots together
  (``feature_graph(balanced=False)``);
- ``global_scaling``: genes and scaling chosen on the pooled spots as if one section (``prepare`` without
  ``library_key``), the graphs as in ``default``; at cell resolution ``prepare`` also pools each cell's neighbourhood
  then, and over the overlapping frames it takes cells of other sections into it (BaristaSeq's rows in
  ``variants.md``; DLPFC is read at spot resolution either way);
- ``decoder_section``: the default with the section one-hot fed to the ZINB decoder (``tl.semst(covariate_key=...)``,
  scVI's batch covariate);
- ``steps_per_section``: the default trained for 100 steps per section instead of 100 (each section reconstructed
  as often as alone);
- ``half_steps``: the default trained for 50 steps instead of 100;
- ``no_semantics``: the default without the semantic vectors (no FSM);
- ``mnn_graph``: the default with the expression graph rebuilt as fastMNN/Seurat anchor it: the 14 nearest spots
  within the spot's own section, and across sections only mutual nearest neighbours (each among the other's 14
  nearest in the other section);
- ``stacked``: nothing told apart (every step without ``library_key``; the sections' coordinate frames overlap, as a
  naive concatenation would leave them).

Writes ``DIR/variants.csv`` (one row per variant, seed and section; rows there are kept) and ``DIR/variants.md``
(mean, min-max and the paired difference to ``default`` per section, and how mixed the sections are in the embedding:
the share of a spot's 15 embedding neighbours from other sections over the share chance would give; spatially smooth
embeddings lower it too, as a spot's closest neighbours are then those beside it).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import pandas as pd
from harness.datasets import DATASETS
from harness.tables import markdown
from sklearn.metrics import adjusted_rand_score

import semst_sc as sst

sst.settings.progress = False
VARIANTS = (
    "default",
    "pooled_graph",
    "global_scaling",
    "stacked",
    "decoder_section",
    "steps_per_section",
    "half_steps",
    "no_semantics",
    "mnn_graph",
)


def run(adata, k: int, seed: int, variant: str) -> tuple[pd.Series, np.ndarray]:
    """Domains and embedding of one variant (see the module docstring)."""
    if variant == "default":
        work = sst.run_pipeline(adata, k, library_key="library_id", rng=seed, copy=True)
        return work.obs["semst_domain"], work.obsm["X_semst"]
    work = adata.copy()
    sections = None if variant == "stacked" else "library_id"
    one_slide = variant in ("global_scaling", "stacked")  # prepare sees one slide: the section column renamed, as
    if one_slide:  # semst_sc asks for sections in overlapping frames when they are meant to be one slide
        work.obs = work.obs.rename(columns={"library_id": "section"})
    sst.pp.prepare(work, library_key=None if one_slide else sections)
    if variant == "global_scaling":
        work.obs = work.obs.rename(columns={"section": "library_id"})
    sst.pp.spatial_graph(work, n_neighbors=6, library_key=sections)
    sst.pp.feature_graph(work, rng=seed, library_key=sections, balanced=variant != "pooled_graph")
    if variant == "mnn_graph":
        _mnn_graph(work, seed)
    if variant != "no_semantics":
        sst.pp.gene_semantics(work)
    n_epochs = {"steps_per_section": 100 * adata.obs["library_id"].nunique(), "half_steps": 50}.get(variant)
    sst.tl.semst(
        work,
        rng=seed,
        n_epochs=n_epochs,
        semantic_key=None if variant == "no_semantics" else "X_semantic",
        covariate_key=sections if variant == "decoder_section" else None,
    )
    sst.tl.cluster(work, k, rng=seed)
    return work.obs["semst_domain"], work.obsm["X_semst"]


def _mnn_graph(work, seed: int, k: int = 14) -> None:
    """Replace the expression graph by kNN within each section plus mutual nearest neighbours across sections (on
    the same unit-length 50-component SVD as ``pp.feature_graph``)."""
    import scipy.sparse as sp
    from sklearn.decomposition import TruncatedSVD
    from sklearn.neighbors import NearestNeighbors
    from sklearn.preprocessing import normalize

    genes = work.var["semst_modelled"].to_numpy()
    X = normalize(TruncatedSVD(50, random_state=seed).fit_transform(work.layers["semst_scaled"][:, genes]))
    sections = work.obs["library_id"].to_numpy()
    groups = [np.flatnonzero(sections == s) for s in pd.unique(sections)]

    def knn(a, b, n):  # the n nearest spots of b (as a |a| x |b| 0/1 matrix) to each spot of a
        found = NearestNeighbors(n_neighbors=n).fit(X[b]).kneighbors(X[a], return_distance=False)
        return sp.csr_matrix((np.ones(found.size), (np.repeat(np.arange(len(a)), n), found.ravel())), (len(a), len(b)))

    edges = []
    for i, a in enumerate(groups):
        within = (knn(a, a, k + 1) - sp.eye(len(a))).tocoo()  # a spot is its own nearest: dropped
        edges.append((a[within.row[within.data > 0]], a[within.col[within.data > 0]]))
        for b in groups[i + 1 :]:
            mutual = knn(a, b, k).multiply(knn(b, a, k).T).tocoo()
            edges.append((a[mutual.row], b[mutual.col]))
    rows, cols = (np.concatenate(e) for e in zip(*edges, strict=True))
    conn = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), (work.n_obs, work.n_obs))
    conn = ((conn + conn.T) > 0).astype(np.float32).tocsr()
    r, c = conn.nonzero()
    dist = sp.csr_matrix(((1 - np.einsum("ij,ij->i", X[r], X[c])).astype(np.float32), (r, c)), conn.shape)
    work.obsp["semst_feature_connectivities"], work.obsp["semst_feature_distances"] = conn, dist


def mixing(embedding: np.ndarray, sections: np.ndarray, n_neighbors: int = 15) -> pd.Series:
    """Per section: the share of its spots' embedding neighbours from other sections, over the share expected if
    the sections were mixed at random (1: as mixed as chance; 0: every neighbour from the spot's own section)."""
    from sklearn.neighbors import NearestNeighbors

    neighbours = NearestNeighbors(n_neighbors=n_neighbors + 1).fit(embedding).kneighbors(return_distance=False)
    other = (sections[neighbours[:, 1:]] != sections[:, None]).mean(axis=1)
    sizes = pd.Series(sections).value_counts()
    expected = (len(sections) - sizes) / (len(sections) - 1)
    return pd.Series(other).groupby(sections).mean() / expected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, help="sections joined by +, e.g. dlpfc151673+dlpfc151674")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/joint"))
    args = parser.parse_args()
    parts = args.dataset.split("+")
    loaded = {part: DATASETS[part].load() for part in parts}
    label_key, k = DATASETS[parts[0]].label_key, DATASETS[parts[0]].n_clusters
    adata = sst.concat_sections(loaded)
    args.out.mkdir(parents=True, exist_ok=True)
    file = args.out / "variants.csv"
    rows = pd.read_csv(file, dtype={"seed": int}).to_dict("records") if file.exists() else []
    done = {(r["dataset"], r["variant"], r["seed"]) for r in rows}
    for seed in args.seeds:
        for variant in args.variants:
            if (args.dataset, variant, seed) in done:
                continue
            start = time.perf_counter()
            domains, embedding = run(adata, k, seed, variant)
            wall = time.perf_counter() - start
            mixed = mixing(embedding, adata.obs["library_id"].astype(str).to_numpy())
            for part in parts:
                keep = (adata.obs["library_id"] == part).to_numpy() & adata.obs[label_key].notna().to_numpy()
                ari = adjusted_rand_score(adata.obs[label_key][keep].astype(str), domains[keep].astype(str))
                row = {"dataset": args.dataset, "section": part, "variant": variant, "seed": seed}
                rows.append({**row, "ari": round(ari, 4), "mixing": round(mixed[part], 3), "wall_s": round(wall, 1)})
                print(rows[-1], flush=True)
            pd.DataFrame(rows).to_csv(file, index=False)
    (args.out / "variants.md").write_text(summary(pd.DataFrame(rows)))


def summary(runs: pd.DataFrame) -> str:
    """Markdown: ARI mean (min-max) per section and variant, and the paired difference to ``default``."""
    lines = []
    for (dataset, section), group in runs.groupby(["dataset", "section"], sort=False):
        base = group[group["variant"] == "default"].set_index("seed")["ari"]
        for variant, rows in group.groupby("variant", sort=False):
            ari = rows.set_index("seed")["ari"]
            diff = (ari - base).dropna()
            paired = f"{diff.mean():+.3f} ({diff.min():+.3f} to {diff.max():+.3f})" if variant != "default" else ""
            lines.append(
                {
                    "dataset": dataset,
                    "section": section,
                    "variant": variant,
                    "n": len(ari),
                    "ari": f"{ari.mean():.3f} ({ari.min():.3f}-{ari.max():.3f})",
                    "vs default (paired)": paired,
                    "mixing": f"{rows['mixing'].mean():.2f}" if rows.get("mixing", pd.Series()).notna().any() else "",
                    "wall_s": round(rows["wall_s"].mean(), 1),
                }
            )
    return (
        "# Joining sections: the default and its alternatives\n\n"
        "`python benchmarks/joint_variants.py` (one thread); ARI per section, mean (min-max) over seeds, "
        "the paired difference to the default, and the mixing of the sections in the embedding (the share of a "
        "spot's 15 embedding neighbours from other sections over the share chance would give).\n\n"
        + markdown(pd.DataFrame(lines))
        + "\n"
    )


if __name__ == "__main__":
    main()
