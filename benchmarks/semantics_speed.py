"""Time and peak memory of ``sst.pp.gene_semantics`` (issue 3), cold and warm cache.

    python benchmarks/semantics_speed.py --sizes 100000 1000000 --out benchmarks/results/semantics_speed

Measures DLPFC 151673 in both modes (``"genes"``, ``"symbols"``), each with and without ``gene_text="human"``, and
simulated slides of about ``--sizes`` spots in ``"genes"`` mode. Each measurement is a fresh process with its own cache
folder: ``cold`` starts from an empty folder, ``warm`` is the next process on the same folder. Only the
``gene_semantics`` call is timed (loading the model included; reading the data and ``prepare`` are not). ``peak_mb``
is the process's peak resident memory during the call (the peak is reset just before it), ``rss_before_mb`` its
resident memory just before, ``setup_peak_mb`` its peak while loading and preparing the data.

Writes ``semantics_speed.csv`` (one row per measurement, rewritten after each) and ``summary.md``.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/: the harness

import pandas as pd
from harness.tables import markdown

_TAG = "SEMANTICS_SPEED "


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000], help="simulated spots")
    parser.add_argument("--skip-dlpfc", action="store_true", help="only the simulated slides")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/semantics_speed"))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(_TAG + json.dumps(_measure(json.loads(args.child))), flush=True)
        return

    cases = [] if args.skip_dlpfc else [("dlpfc", m, t) for m in ("genes", "symbols") for t in (None, "human")]
    cases += [(f"simulated_{n}", "genes", None) for n in args.sizes]
    args.out.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0]
    rows = []
    for dataset, mode, gene_text in cases:
        with tempfile.TemporaryDirectory(prefix="semst_cache_") as cache:
            for state in ("cold", "warm"):
                case = {"dataset": dataset, "mode": mode, "gene_text": gene_text, "cache": state, "cache_dir": cache}
                rows.append(_run_child(case))
                print(rows[-1], flush=True)
                pd.DataFrame(rows).to_csv(args.out / "semantics_speed.csv", index=False)
    (args.out / "summary.md").write_text(_summary(pd.DataFrame(rows), load))


def _run_child(case: dict) -> dict:
    """Run one measurement in a fresh Python process and return its row."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(case)], env=env, capture_output=True, text=True
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith(_TAG)]
    if done.returncode or not lines:
        raise RuntimeError(f"measurement {case} failed:\n{done.stderr[-4000:]}")
    return json.loads(lines[-1][len(_TAG) :])


def _measure(case: dict) -> dict:
    """Load and prepare the data, then time ``gene_semantics`` alone (in this fresh process)."""
    import semst_sc as sst

    start = time.perf_counter()
    if case["dataset"] == "dlpfc":
        adata = sst.datasets.dlpfc("151673")
    else:
        n = int(case["dataset"].removeprefix("simulated_"))
        n_rows = math.isqrt(n)
        adata = sst.datasets.simulate_tissue(n_rows, -(-n // n_rows))
    sst.pp.prepare(adata)
    setup = time.perf_counter() - start
    gc.collect()
    setup_peak, before = _memory_mb("VmHWM"), _memory_mb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak resident memory (Linux)
    sst.settings.cache_dir, sst.settings.progress = case["cache_dir"], False
    start = time.perf_counter()
    sst.pp.gene_semantics(adata, mode=case["mode"], gene_text=case["gene_text"])
    wall = time.perf_counter() - start
    params = adata.uns["semantic"]["params"]
    return {
        "dataset": "DLPFC 151673" if case["dataset"] == "dlpfc" else case["dataset"].replace("_", " "),
        "n_spots": adata.n_obs,
        "n_modelled_genes": int(adata.var["semst_modelled"].sum()),
        "mode": case["mode"],
        "gene_text": case["gene_text"] or "",
        "cache": case["cache"],
        "wall_s": round(wall, 2),
        "peak_mb": round(_memory_mb("VmHWM")),
        "rss_before_mb": round(before),
        "setup_s": round(setup, 1),
        "setup_peak_mb": round(setup_peak),
        "n_texts": params["n_texts"],
        "cache_hits": params["cache_hits"],
    }


def _memory_mb(field: str) -> float:
    """``VmRSS`` (resident now) or ``VmHWM`` (peak resident) of this process, in MB."""
    status = Path("/proc/self/status").read_text()
    return int(re.search(rf"^{field}:\s+(\d+) kB", status, re.MULTILINE).group(1)) / 1024


def _summary(runs: pd.DataFrame, load: float) -> str:
    """Markdown: the table and the issue's targets."""
    runs = runs.assign(step_mb=runs["peak_mb"] - runs["rss_before_mb"])
    lines = [
        "# gene_semantics: time and peak memory",
        "",
        f"`python benchmarks/semantics_speed.py`; {os.cpu_count()} CPU cores, load average {load:.2f} at the start "
        "(anything above 0 means other jobs shared the cores). `step_mb` = `peak_mb` - `rss_before_mb`: the "
        "memory the call itself adds.",
        "",
        markdown(runs),
        "",
        "Targets (issue 3):",
        "",
    ]
    visium = runs[runs["dataset"] == "DLPFC 151673"]
    for row in visium[(visium["mode"] == "genes") & (visium["cache"] == "cold")].itertuples():
        text = f"gene_text={row.gene_text!r}" if row.gene_text else "bare symbols"
        lines.append(f"- `genes` mode cold on a Visium slice under 15 s: {row.wall_s:.1f} s ({text})")
    warm = visium[visium["cache"] == "warm"]
    if len(warm):
        lines.append(f"- any mode warm on a Visium slice under 2 s: slowest {warm['wall_s'].max():.1f} s")
    sims = runs[runs["dataset"].str.startswith("simulated") & (runs["cache"] == "cold")].sort_values("n_spots")
    for row in sims.itertuples():
        lines.append(
            f"- {row.n_spots} spots, `genes` mode cold: {row.wall_s:.1f} s (target at 1M spots: 10 min); "
            f"the call adds {row.step_mb} MB (peak {row.peak_mb} MB)"
        )
    if len(sims) > 1:
        first, last = sims.iloc[0], sims.iloc[-1]
        slope = (last["step_mb"] - first["step_mb"]) / (last["n_spots"] - first["n_spots"]) * 1024
        lines.append(f"- memory the call adds per extra spot, {first['n_spots']} -> {last['n_spots']}: {slope:.2f} kB")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
