"""Run semst_sc, simple baselines and peer methods on one or more labelled slides, each run in its own process.

    python benchmarks/run.py --dataset dlpfc151673 osmfish --methods semst pca_smooth_gmm graphst --seeds 0 1 2 3 4 \\
        --out benchmarks/results/peers
    python benchmarks/run.py --data slide.h5ad --label-key domain --n-clusters 7 --methods semst pca_gmm --out DIR
    python benchmarks/run.py --dataset dlpfc151673 dlpfc151674 dlpfc151673+dlpfc151674 --methods semst pca_smooth_gmm \
        --out DIR
    python benchmarks/run.py --data A.h5ad B.h5ad --label-key domain --n-clusters 7 --methods semst --out DIR

Sections joined by ``+`` (or several ``--data`` files) are fitted jointly: one run over all of them
(``semst_sc.concat_sections``, ``obs['library_id']``, ``run_pipeline(library_key='library_id')``; the baselines smooth
within each section), scored one row per section, named ``SECTION@JOINT`` (e.g.
``dlpfc151673@dlpfc151673+dlpfc151674``) beside the rows of the same section fitted alone. A peer gets a joint run only
where its runner has its authors' multi-sample mode (BANKSY, CellCharter); the others' rows say they have none.

A peer that produces an embedding (GraphST, STAGATE, BANKSY's PCs, CellCharter) is scored with its own default
clustering (row ``<peer>``) and, from the same run, with the shared back-ends of its registry entry
(``harness/backends.py``): ``<peer>+gmm`` is its embedding through semst_sc's clustering (``semst_sc.tl.cluster``:
PCA to 20 components, tied-covariance GMM), ``graphst+gmm+refine`` that followed by GraphST's 50-nearest-spot vote.

Input: raw counts in ``X`` (or ``--layer``), ``obsm['spatial']`` and a label column. Spots whose label is
NaN are clustered but not scored; ``--drop-labels`` removes spots with the given labels before anything
else. Every method gets the same K and, apart from semst (which selects them itself from all genes),
the counts of the same modelled genes: the ``semst_modelled`` genes of ``semst_sc.pp.prepare``.

The methods and how each runs are the registry ``harness/methods.py``, the ``--dataset`` shortcuts
``harness/datasets.py``. Each run is a fresh subprocess: its wall time and peak resident memory (``ru_maxrss`` of
that child) are measured, and a crash becomes a row with status ``failed: <reason>`` (log in ``DIR/logs``). A peer
runs its runner ``benchmarks/peers/<peer>/run.py`` with the python of its own environment
``benchmarks/peers/.venvs/<peer>``, created on first use by ``benchmarks/peers/setup.sh`` from
``benchmarks/peers/<peer>/requirements.txt``; a peer that cannot be installed is reported as
``unavailable: <reason>``.

Writes ``DIR/runs.csv`` (rows already there are not recomputed; ``--retry-failed`` reruns those not ok),
``DIR/labels/<dataset>_<method>_<seed>.csv``, ``DIR/summary.md``, ``DIR/domains.png`` (seed 0 next to
the truth) and ``DIR/accuracy_vs_time.png``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/: the harness

import anndata as ad
import numpy as np
import pandas as pd
from harness import peer_io
from harness.backends import cluster_embedding
from harness.datasets import DATASETS
from harness.methods import METHODS, PEERS_DIR, Method, row_names
from harness.scores import scores
from harness.tables import markdown

import semst_sc as sst

sst.settings.progress = False

COLUMNS = ["method", "dataset", "seed", "ari", "nmi", "pas", "wall_s", "peak_mb", "status"]
#: the obs column of the sections of a joint data set (semst_sc.concat_sections writes it)
LIBRARY_KEY = "library_id"
CHILD_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "MPLBACKEND": "Agg", "PYTHONUNBUFFERED": "1"}


class Unavailable(Exception):
    """A method that cannot be run here (e.g. its peer environment cannot be installed)."""


def main() -> None:
    args = parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for sub in ("labels", "logs"):
        (args.out / sub).mkdir(exist_ok=True)
    runs_file = args.out / "runs.csv"
    rows = pd.read_csv(runs_file, dtype={"dataset": str}).to_dict("records") if runs_file.exists() else []
    done = {key(r) for r in rows if r["status"] == "ok" or not args.retry_failed}
    unavailable: dict[str, str] = {}
    ran = False

    for name, adata, label_key, k, organism in datasets(args):
        todo = [
            (s, m)
            for s in args.seeds
            for m in args.methods
            if not all((r, d, s) in done for r in METHODS[m].rows for d in rows_of(name))
        ]
        if not todo:
            continue
        ran = True
        with tempfile.TemporaryDirectory(prefix="semst_bench_") as tmp:
            inputs = stage(adata, label_key, name, Path(tmp), args.out)
            for seed, method in todo:
                for row in run_one(method, name, seed, k, organism, inputs, args, unavailable):
                    rows = [r for r in rows if key(r) != key(row)] + [row]  # a retried row replaces the old one
                    print(" ".join(f"{field}={value}" for field, value in row.items()), flush=True)
                pd.DataFrame(rows, columns=COLUMNS).to_csv(runs_file, index=False)

    if not ran:  # e.g. a fresh clone's committed results: keep them, the labels for domains.png are not there
        print(f"nothing to run: every requested run is already in {runs_file}; give a new --out to run them again")
        return
    runs = pd.DataFrame(rows, columns=COLUMNS)
    (args.out / "summary.md").write_text(summary(runs))
    plot_domains(runs, args.out)
    plot_accuracy_vs_time(runs, args.out)
    print(f"wrote {runs_file}, summary.md, domains.png and accuracy_vs_time.png in {args.out}")


def key(row: dict) -> tuple[str, str, int]:
    """Identify a run: method, data set, seed."""
    return row["method"], row["dataset"], int(row["seed"])


def rows_of(name: str) -> list[str]:
    """The ``dataset`` values of a run's rows: the name itself, or ``SECTION@JOINT`` per section of a joint run."""
    sections = name.split("+")
    return [name] if len(sections) == 1 else [f"{section}@{name}" for section in sections]


def parse_args() -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args()
    if args.data is not None and (args.label_key is None or args.n_clusters is None):
        parser.error("--data needs --label-key and --n-clusters")
    for name in args.dataset or []:
        unknown = [part for part in name.split("+") if part not in DATASETS]
        if unknown:
            parser.error(f"unknown data set {unknown[0]!r} in --dataset; known: {', '.join(sorted(DATASETS))}")
    return args


def build_parser() -> argparse.ArgumentParser:
    """The command line: methods from the registry, data set shortcuts from the harness."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--data",
        type=Path,
        nargs="+",
        help=".h5ad files with raw counts, obsm['spatial'], a label column (several: joint)",
    )
    source.add_argument(
        "--dataset",
        nargs="+",
        metavar="NAME",
        help=f"data sets in SEMST_DATA_DIR, A+B fitted jointly: {sorted(DATASETS)}",
    )
    parser.add_argument("--label-key", help="obs column of the truth (needed with --data)")
    parser.add_argument("--n-clusters", type=int, help="K (needed with --data; overrides a shortcut's K)")
    parser.add_argument("--layer", help="layer with the raw counts (default: X)")
    parser.add_argument("--name", help="data set name in the results (default: the file name without .h5ad)")
    parser.add_argument("--organism", choices=["human", "mouse"], help="for gene descriptions (semst_*_text)")
    parser.add_argument("--drop-labels", nargs="+", default=[], help="drop spots with these labels first")
    methods = list(METHODS)
    parser.add_argument("--methods", nargs="+", choices=methods, default=methods, metavar="METHOD")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/peers"))
    parser.add_argument("--timeout", type=float, default=7200, help="seconds one run may take")
    parser.add_argument("--retry-failed", action="store_true", help="rerun rows of runs.csv whose status is not ok")
    return parser


def datasets(args: argparse.Namespace):
    """Yield ``(name, adata, label_key, k, organism)``, raw counts in ``X``; a joint one has ``obs['library_id']``."""
    if args.data is not None:
        names = [path.stem for path in args.data]
        if args.name is not None and len(args.data) == 1:
            names = [args.name]
        parts = {
            name: (lambda path=path: ad.read_h5ad(path), None, None, None)
            for name, path in zip(names, args.data, strict=True)
        }
        sources = [("+".join(names), parts)]
    else:
        sources = [(name, {part: DATASETS[part] for part in name.split("+")}) for name in args.dataset]
    for name, parts in sources:
        loaded = {}
        organism = None
        for part, (load, label_key, k, part_organism) in parts.items():
            organism = organism or part_organism
            adata = load()
            label_key, k = args.label_key or label_key, args.n_clusters or k
            if label_key not in adata.obs:
                raise SystemExit(f"{part}: obs has no column {label_key!r}; columns: {list(adata.obs.columns)}")
            if "spatial" not in adata.obsm:
                raise SystemExit(f"{part}: obsm['spatial'] is missing")
            if args.layer is not None:
                adata.X = adata.layers[args.layer]
            if args.drop_labels:
                adata = adata[~adata.obs[label_key].isin(args.drop_labels)].copy()
            loaded[part] = adata
        adata = loaded[name] if len(loaded) == 1 else sst.concat_sections(loaded)
        yield name, adata, label_key, k, args.organism or organism


def stage(adata: ad.AnnData, label_key: str, name: str, tmp: Path, out: Path) -> dict[str, Path]:
    """Write the methods' inputs (no labels in them) and the truth with coordinates for the figures.

    A joint data set's inputs keep ``obs['library_id']``; its truth is written per section (``SECTION@JOINT``).

    Returns
    -------
    ``all``: every gene (semst selects its genes itself); ``shared``: the counts of the modelled genes.
    """
    obs = pd.DataFrame(index=adata.obs_names)
    joint = LIBRARY_KEY in adata.obs
    if joint:
        obs[LIBRARY_KEY] = adata.obs[LIBRARY_KEY].to_numpy()
    counts = ad.AnnData(adata.X, obs=obs, var=adata.var, obsm={"spatial": adata.obsm["spatial"]})
    library_key = LIBRARY_KEY if joint else None
    genes = sst.pp.prepare(counts, library_key=library_key, copy=True).var["semst_modelled"].to_numpy()
    inputs = {"all": tmp / "all_genes.h5ad", "shared": tmp / "shared_genes.h5ad"}
    counts.write_h5ad(inputs["all"])
    counts[:, genes].copy().write_h5ad(inputs["shared"])
    xy = np.asarray(adata.obsm["spatial"])[:, :2]
    truth = pd.DataFrame(
        {"x": xy[:, 0], "y": xy[:, 1], "truth": adata.obs[label_key].to_numpy()}, index=adata.obs_names
    )
    for dataset, spots in sections(name, adata):
        truth[spots].to_csv(out / "labels" / f"{dataset}_truth.csv", index_label="spot")
    return inputs


def sections(name: str, adata: ad.AnnData):
    """Yield ``(dataset, mask)``: each row's data set name (:func:`rows_of`) and its spots."""
    if LIBRARY_KEY not in adata.obs:
        yield name, np.ones(adata.n_obs, dtype=bool)
        return
    for dataset, section in zip(rows_of(name), name.split("+"), strict=True):
        yield dataset, (adata.obs[LIBRARY_KEY] == section).to_numpy()


def run_one(method, dataset, seed, k, organism, inputs, args, unavailable) -> list[dict]:
    """Run one method in a subprocess and score its labels, one row per section, then its embedding through each
    shared back-end of its entry (rows ``<method>+<backend>``); never raises for the method's own failures."""
    entry, rows = METHODS[method], rows_of(dataset)
    row = {"method": method, "seed": seed, "ari": np.nan, "nmi": np.nan, "pas": np.nan}
    row.update({"wall_s": np.nan, "peak_mb": np.nan})
    stem = f"{dataset}_{method}_{seed}"
    labels_file, log = args.out / "labels" / f"{stem}.csv", args.out / "logs" / f"{stem}.log"
    labels_file.unlink(missing_ok=True)
    peer_io.embedding_path(labels_file).unlink(missing_ok=True)

    def each(**fields):  # the same outcome for every row of the run, back-end rows included
        return [{**row, "method": name, "dataset": part, **fields} for name in entry.rows for part in rows]

    try:
        if len(rows) > 1 and not entry.joint:
            raise Unavailable("its runner has no joint mode (several sections): fit the sections one by one")
        command = command_for(method, inputs, k, seed, organism, labels_file, args.out, unavailable)
    except Unavailable as error:
        return each(status=f"unavailable: {error}")
    wall, peak_mb, code = measure(command, log, args.timeout)
    row.update({"wall_s": round(wall, 1), "peak_mb": round(peak_mb)})
    if code != 0:
        reason = f"timed out after {args.timeout:.0f} s" if code is None else last_line(log)
        return each(status=f"failed: {reason} (exit {code}, log {log.name})")
    truths = {name: read_csv(args.out / "labels" / f"{name}_truth.csv") for name in rows}
    scored = score(read_csv(labels_file)["domain"], truths, row, args.out, seed)
    if not entry.backends:
        return scored
    embedding = peer_io.read_embedding(labels_file)
    for backend in entry.backends:
        name = f"{method}+{backend}"
        backend_row = {**row, "method": name}
        if embedding is None:
            reason = f"the runner wrote no embedding ({peer_io.embedding_path(labels_file).name})"
            scored += [{**backend_row, "dataset": part, "status": f"failed: {reason}"} for part in rows]
            continue
        start = time.perf_counter()
        try:
            labels = cluster_embedding(backend, embedding, k, seed, {part: t[["x", "y"]] for part, t in truths.items()})
        except Exception as error:  # a back-end failure is that row's, not the run's
            text = f"{type(error).__name__}: {error}"[:300].replace("|", "/")
            scored += [{**backend_row, "dataset": part, "status": f"failed: {text}"} for part in rows]
            continue
        backend_row["wall_s"] = round(wall + time.perf_counter() - start, 1)  # the peer run and the back-end
        labels.to_frame("domain").to_csv(args.out / "labels" / f"{dataset}_{name}_{seed}.csv", index_label="spot")
        scored += score(labels, truths, backend_row, args.out, seed)
    return scored


def score(predicted: pd.Series, truths: dict[str, pd.DataFrame], row: dict, out: Path, seed: int) -> list[dict]:
    """Score one run's labels (by spot) against the truth of each of its sections, one row each; a joint run's
    labels are also written per section (``labels/SECTION@JOINT_<method>_<seed>.csv``)."""
    scored = []
    for name, truth in truths.items():
        pred = predicted.reindex(truth.index)
        if pred.isna().any():
            scored.append({**row, "dataset": name, "status": f"failed: no label for {int(pred.isna().sum())} spots"})
            continue
        if len(truths) > 1:
            pred.to_frame("domain").to_csv(out / "labels" / f"{name}_{row['method']}_{seed}.csv", index_label="spot")
        result = {key: round(value, 4) for key, value in scores(truth["truth"], pred).items()}
        result["pas"] = round(sst.metrics.pas(truth[["x", "y"]].to_numpy(), pred.to_numpy()), 4)
        scored.append({**row, "dataset": name, **result, "status": "ok"})
    return scored


def command_for(method, inputs, k, seed, organism, labels_file, out, unavailable) -> list[str]:
    """The command line of one run: this script's worker mode, or a peer runner in the peer's environment."""
    entry = METHODS[method]
    if entry.kind == "peer":
        python = ensure_peer(entry, out, unavailable)
        return peer_io.command(python, entry.runner, inputs["shared"], k, seed, labels_file, entry.settings)
    arguments = [str(k), str(seed), str(labels_file)]
    if entry.kind == "semst":
        if entry.needs_organism and organism is None:  # checked here; tables are built in the run's process
            raise Unavailable("gene descriptions need the organism: pass --organism human|mouse")
    data = inputs["all"] if entry.kind == "semst" else inputs["shared"]
    worker_args = [*arguments, organism] if entry.kind == "semst" and organism is not None else arguments
    return [sys.executable, str(Path(__file__).resolve()), "--worker", method, str(data), *worker_args]


def ensure_peer(entry: Method, out: Path, unavailable: dict[str, str]) -> Path:
    """Python of a peer's environment, installed by ``setup.sh`` when missing; raises :class:`Unavailable`.

    Entries sharing a peer folder share its environment and ``unavailable`` (keyed by folder) reason.
    """
    peer, venv = entry.folder.name, entry.venv
    if peer in unavailable:
        raise Unavailable(unavailable[peer])
    if not (venv / ".installed").exists():
        log = out / "logs" / f"setup_{peer}.log"
        print(f"installing {peer} into {venv} (log: {log})", flush=True)
        with open(log, "w") as handle:
            done = subprocess.run(["bash", str(PEERS_DIR / "setup.sh"), peer], stdout=handle, stderr=subprocess.STDOUT)
        if done.returncode != 0:
            unavailable[peer] = f"setup.sh {peer} failed: {last_line(log)} (log {log.name})"
            raise Unavailable(unavailable[peer])
    return venv / "bin" / "python"


def measure(command: list[str], log: Path, timeout: float) -> tuple[float, float, int | None]:
    """Run ``command`` with output to ``log``; wall seconds, peak RSS in MB and exit code (``None``: timed out)."""
    start = time.perf_counter()
    with open(log, "w") as handle:
        child = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env={**os.environ, **CHILD_ENV})
        timed_out = False
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)  # rusage of this child alone
            if pid:
                break
            if not timed_out and time.perf_counter() - start > timeout:
                child.kill()
                timed_out = True
            time.sleep(0.1)
    child.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - start, usage.ru_maxrss / 1024, None if timed_out else child.returncode


def last_line(log: Path) -> str:
    """The last non-empty line of a log (the error of a traceback), shortened, safe in a Markdown table."""
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return (lines[-1] if lines else "no output")[:300].replace("|", "/")


def read_csv(path: Path) -> pd.DataFrame:
    """A labels or truth file, spot names and labels as strings (NaN stays NaN)."""
    return pd.read_csv(path, index_col="spot", dtype={"spot": str, "domain": str, "truth": str})


def worker(method: str, path: str, k: str, seed: str, output: str, organism: str | None = None) -> None:
    """Run one semst variant or baseline on ``path`` and write its labels (the subprocess side of ``measure``)."""
    adata, entry = ad.read_h5ad(path), METHODS[method]
    if entry.kind == "semst":
        settings = entry.pipeline_kwargs(organism)
        library_key = LIBRARY_KEY if LIBRARY_KEY in adata.obs else None
        result = sst.run_pipeline(adata, int(k), rng=int(seed), library_key=library_key, copy=True, **settings)
        labels = result.obs["semst_domain"].to_numpy()
    else:
        labels = entry.function(adata, np.ones(adata.n_vars, dtype=bool), int(k), int(seed))
    spots = pd.Index(adata.obs_names, name="spot")
    pd.DataFrame({"domain": np.asarray(labels).astype(str)}, index=spots).to_csv(output)


def summary(runs: pd.DataFrame) -> str:
    """Markdown: ARI statistics, mean NMI, PAS, wall time and peak memory per data set and method; runs not ok."""
    ok = runs[runs["status"] == "ok"].astype({"ari": float, "nmi": float, "pas": float, "wall_s": float})
    table = (
        ok.groupby(["dataset", "method"], sort=False)
        .agg(
            n=("ari", "size"),
            ari_mean=("ari", "mean"),
            ari_sd=("ari", "std"),
            ari_min=("ari", "min"),
            ari_max=("ari", "max"),
            nmi_mean=("nmi", "mean"),
            pas_mean=("pas", "mean"),
            wall_s=("wall_s", "mean"),
            peak_mb=("peak_mb", "mean"),
        )
        .reset_index()
        .sort_values(["dataset", "method"], key=lambda c: c.map(row_names().index) if c.name == "method" else c)
        .round(3)
    )
    text = (
        "# Benchmark: semst_sc, baselines and peers\n\n"
        "ARI/NMI on labelled spots; PAS = share of spots disagreeing with most of their 10 spatial neighbours "
        "(lower is smoother); wall_s and peak_mb per run, each a fresh process (start-up included). `<peer>+gmm`: the "
        "peer's embedding from the same run through semst_sc's back-end (PCA 20, tied GMM; `+refine`: then GraphST's "
        "50-nearest-spot vote); its wall_s is the peer run's plus the back-end's, its peak_mb the peer run's.\n\n"
        f"{markdown(table)}\n"
    )
    failed = runs[runs["status"] != "ok"][["dataset", "method", "seed", "status"]]
    if len(failed):
        text += f"\n## Runs not ok\n\n{markdown(failed)}\n"
    return text


def plot_domains(runs: pd.DataFrame, out: Path) -> None:
    """``domains.png``: per data set, the truth and the seed-0 domains of every method, colours matched to the truth.

    Data sets whose labels are not in ``out/labels`` (git-ignored, so absent from a fresh clone) are left out;
    without any, the figure is not rewritten.
    """
    import matplotlib.pyplot as plt

    names = sorted(name for name in runs["dataset"].unique() if (out / "labels" / f"{name}_truth.csv").exists())
    if not names:
        return
    methods = [m for m in row_names() if m in set(runs["method"])]
    fig, axes = plt.subplots(len(names), len(methods) + 1, figsize=(2.6 * (len(methods) + 1), 2.8 * len(names)))
    axes = np.atleast_2d(axes)
    for row, name in zip(axes, names, strict=True):
        truth = read_csv(out / "labels" / f"{name}_truth.csv")
        categories = sorted(truth["truth"].dropna().unique())
        codes = truth["truth"].map({c: i for i, c in enumerate(categories)}).fillna(-1).to_numpy(dtype=int)
        draw(row[0], truth, codes, f"{name}: truth")
        for ax, method in zip(row[1:], methods, strict=True):
            file = out / "labels" / f"{name}_{method}_0.csv"
            done = runs[(runs["dataset"] == name) & (runs["method"] == method) & (runs["seed"] == 0)]
            if not file.exists() or done.empty or done["status"].iloc[0] != "ok":
                ax.axis("off")
                ax.set_title(f"{method}: no run", fontsize=8)
                continue
            pred = read_csv(file)["domain"].reindex(truth.index)
            draw(
                ax, truth, match_to_truth(pred, truth["truth"], categories), f"{method} (ARI {done['ari'].iloc[0]:.2f})"
            )
    fig.tight_layout()
    fig.savefig(out / "domains.png", dpi=120)
    plt.close(fig)


def draw(ax, truth: pd.DataFrame, codes: np.ndarray, title: str) -> None:
    """One domain map: colour ``codes`` (-1: unlabelled, grey) at the spots of ``truth``."""
    import matplotlib.pyplot as plt

    colours = plt.get_cmap("tab20")(np.arange(20))
    rgba = np.where(codes[:, None] >= 0, colours[np.maximum(codes, 0) % 20], (0.85, 0.85, 0.85, 1.0))
    ax.scatter(truth["x"], truth["y"], c=rgba, s=float(np.clip(2e4 / len(truth), 0.3, 20)), linewidths=0)
    ax.set_title(title, fontsize=8)
    ax.set_aspect("equal")
    ax.invert_yaxis()
    ax.axis("off")


def match_to_truth(pred: pd.Series, truth: pd.Series, categories: list[str]) -> np.ndarray:
    """Colour codes for predicted domains: each matched one-to-one to a truth label (Hungarian), the rest after."""
    from scipy.optimize import linear_sum_assignment

    labelled = truth.notna()
    table = pd.crosstab(pred[labelled], truth[labelled]).reindex(columns=categories, fill_value=0)
    rows, cols = linear_sum_assignment(-table.to_numpy())
    mapping = {table.index[r]: c for r, c in zip(rows, cols, strict=True)}
    extra = [p for p in sorted(pred.unique()) if p not in mapping]
    mapping.update({p: len(categories) + i for i, p in enumerate(extra)})
    return pred.map(mapping).to_numpy(dtype=int)


def plot_accuracy_vs_time(runs: pd.DataFrame, out: Path) -> None:
    """``accuracy_vs_time.png``: mean ARI (sd as error bar) against mean wall time per method and data set."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ok = runs[runs["status"] == "ok"].astype({"ari": float, "wall_s": float})
    names = sorted(runs["dataset"].unique())
    fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 4), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        stats = (
            ok[ok["dataset"] == name]
            .groupby("method")
            .agg(ari=("ari", "mean"), sd=("ari", "std"), wall=("wall_s", "mean"))
        )
        for i, method in enumerate(m for m in row_names() if m in stats.index):
            s = stats.loc[method]
            ax.errorbar(s["wall"], s["ari"], yerr=np.nan_to_num(s["sd"]), fmt="o", color=f"C{i}", capsize=3)
            ax.annotate(method, (s["wall"], s["ari"]), textcoords="offset points", xytext=(4, 4), fontsize=8)
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set(xlabel="wall time per run (s, log)", ylabel="ARI (mean ± sd over seeds)", title=name)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "accuracy_vs_time.png", dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        worker(*sys.argv[2:])
    else:
        main()
