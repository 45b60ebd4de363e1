"""Wall time, peak memory and ARI of the default pipeline, stage by stage, on a simulated Xenium-like tissue (issue 6).

    python benchmarks/scale.py --n-cells 100000 --out benchmarks/results/scale
    python benchmarks/scale.py --n-cells 100000 --processes 2 --out benchmarks/results/scale

Stages: ``simulate`` (``datasets.simulate_tissue(platform="xenium")``: the default tissue of mixed cell types, 300
genes), ``prepare``, ``spatial_graph``, ``feature_graph``, ``gene_semantics`` (``"genes"`` mode, the bundled offline
model, an empty cache: cold), ``semst`` (the defaults: mini-batch from 50,000 cells on), ``cluster`` (GMM with the
true K = 7). With
``--processes P > 1`` the ``semst`` stage runs under ``torchrun`` with P processes: a ``handoff`` stage writes the
prepared tissue to a temporary .h5ad, ``semst`` then runs ``torchrun --nproc-per-node P -m semst_sc train
... --distributed`` (every process reads that file, rank 0 writes the embedding as .npy) and reads the embedding
back. Every process uses ``--threads`` threads (default 1).

``wall_s`` is the stage's wall time; ``peak_mb`` the peak resident memory during the stage, of this process and its
children together (this process's exact peak from the kernel, children sampled every 0.1 s); ``ari`` the ARI of the
domains against the simulated truth (``cluster`` and ``total`` rows). The ``total`` row sums the stages and takes
their largest peak. Rows are appended to ``OUT/scale.csv``.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

COLUMNS = ["n_cells", "processes", "stage", "wall_s", "peak_mb", "ari"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-cells", type=int, required=True, help="simulated cells")
    parser.add_argument("--processes", type=int, default=1, help="processes of the semst stage (torchrun when > 1)")
    parser.add_argument("--threads", type=int, default=1, help="threads per process (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/scale"))
    args = parser.parse_args()
    if args.processes < 1:
        parser.error("--processes must be at least 1")
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[name] = str(args.threads)  # before numpy, torch and numba start their thread pools
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    rows = run(args)
    _append(rows, args.out / "scale.csv")
    for row in rows:
        print(row, flush=True)


def run(args) -> list[dict]:
    """Run the stages in order; return one row per stage and the ``total`` row."""
    import torch
    from sklearn.metrics import adjusted_rand_score

    import semst_sc as sst

    torch.set_num_threads(args.threads)
    monitor = _PeakMemory()
    rows, state = [], {}
    cache = tempfile.TemporaryDirectory(prefix="semst_scale_cache_")
    work = tempfile.TemporaryDirectory(prefix="semst_scale_")

    def stage(name, step):
        monitor.start()
        start = time.perf_counter()
        step()
        wall = time.perf_counter() - start
        rows.append({"stage": name, "wall_s": round(wall, 2), "peak_mb": round(monitor.stop()), "ari": None})
        print(f"{name}: {wall:.1f} s, peak {rows[-1]['peak_mb']} MB", flush=True)

    def simulate():
        state["adata"] = sst.datasets.simulate_tissue(platform="xenium", n_cells=args.n_cells, rng=args.seed)

    def semantics():
        sst.settings.cache_dir, sst.settings.progress = cache.name, False
        sst.pp.gene_semantics(state["adata"])

    def semst():
        if args.processes == 1:
            sst.tl.semst(state["adata"], rng=args.seed)
        else:
            state["adata"].obsm["X_semst"] = _torchrun(state["prepared"], args, Path(work.name))

    def handoff():
        state["prepared"] = Path(work.name) / "prepared.h5ad"
        state["adata"].write_h5ad(state["prepared"])

    def cluster():
        sst.tl.cluster(state["adata"], 7, rng=args.seed)

    stage("simulate", simulate)
    stage("prepare", lambda: sst.pp.prepare(state["adata"]))
    stage("spatial_graph", lambda: sst.pp.spatial_graph(state["adata"]))
    stage("feature_graph", lambda: sst.pp.feature_graph(state["adata"], rng=args.seed))
    stage("gene_semantics", semantics)
    if args.processes > 1:
        stage("handoff", handoff)
    stage("semst", semst)
    stage("cluster", cluster)
    adata = state["adata"]
    ari = round(float(adjusted_rand_score(adata.obs["domain"], adata.obs["semst_domain"])), 4)
    rows[-1]["ari"] = ari
    rows.append(
        {
            "stage": "total",
            "wall_s": round(sum(r["wall_s"] for r in rows), 2),
            "peak_mb": max(r["peak_mb"] for r in rows),
            "ari": ari,
        }
    )
    cache.cleanup()
    work.cleanup()
    return [{"n_cells": args.n_cells, "processes": args.processes, **row} for row in rows]


def _torchrun(prepared: Path, args, work: Path):
    """Train under torchrun with ``args.processes`` processes on the prepared .h5ad; return the embedding."""
    import numpy as np

    out = work / "embedding.npy"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={args.processes}"]
    command += ["-m", "semst_sc", "train", str(prepared), "--output", str(out), "--distributed"]
    command += ["--seed", str(args.seed), "--quiet"]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"torchrun failed:\n{done.stderr[-4000:]}")
    return np.load(out)


class _PeakMemory:
    """Peak resident memory of this process (kernel high-water mark, reset per stage) plus its children (sampled)."""

    def __init__(self, interval: float = 0.1):
        self.interval = interval
        self._stop = threading.Event()
        self._thread = None
        self._peak = 0.0

    def start(self) -> None:
        Path("/proc/self/clear_refs").write_text("5")  # reset this process's VmHWM (Linux)
        self._peak, self._stop = 0.0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return max(self._peak, _status_mb("VmHWM"))

    def _sample(self) -> None:
        import psutil

        me = psutil.Process()
        while not self._stop.is_set():
            total = _status_mb("VmRSS")
            for child in me.children(recursive=True):
                try:
                    total += child.memory_info().rss / 2**20
                except psutil.Error:  # the child ended meanwhile
                    pass
            self._peak = max(self._peak, total)
            self._stop.wait(self.interval)


def _status_mb(field: str) -> float:
    """``VmRSS`` or ``VmHWM`` of this process in MB."""
    status = Path("/proc/self/status").read_text()
    return int(re.search(rf"^{field}:\s+(\d+) kB", status, re.MULTILINE).group(1)) / 1024


def _append(rows: list[dict], path: Path) -> None:
    """Append the rows to the CSV (with a header when the file is new)."""
    import pandas as pd

    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=COLUMNS).to_csv(path, mode="a", header=not path.exists(), index=False)


if __name__ == "__main__":
    main()
