"""Time and memory of a joint fit against the number of sections, each run a fresh process.

    OMP_NUM_THREADS=1 python benchmarks/joint_scaling.py --out benchmarks/results/joint

Runs ``run_pipeline`` (K given, seed 0) on one section and on the sections joined with ``concat_sections``:
DLPFC 151673 and 151673+151674, BaristaSeq 1, 1+2 and 1+2+3. Writes ``DIR/scaling.csv`` (sections, spots, wall
seconds of the pipeline, peak resident memory of the process) and prints it.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pandas as pd

RUNS = {
    "dlpfc": ["dlpfc151673", "dlpfc151673+dlpfc151674"],
    "baristaseq": ["baristaseq1", "baristaseq1+baristaseq2", "baristaseq1+baristaseq2+baristaseq3"],
}


def child(name: str) -> None:
    """Run the pipeline on ``name`` (sections joined by +) and print spots, seconds and peak MB."""
    from harness.datasets import DATASETS

    import semst_sc as sst

    sst.settings.progress = False
    parts = name.split("+")
    sections = {part: DATASETS[part].load() for part in parts}
    adata = sections[name] if len(parts) == 1 else sst.concat_sections(sections)
    start = time.perf_counter()
    sst.run_pipeline(adata, DATASETS[parts[0]].n_clusters, library_key=None if len(parts) == 1 else "library_id")
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"RESULT {adata.n_obs} {wall:.1f} {peak:.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/joint"))
    args = parser.parse_args()
    rows = []
    for family, names in RUNS.items():
        for name in names:
            done = subprocess.run([sys.executable, __file__, "--child", name], capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(done.stderr[-2000:])
            spots, wall, peak = done.stdout.split("RESULT")[-1].split()
            rows.append(
                {"data": family, "sections": name, "n_sections": len(name.split("+")), "spots": int(spots)}
                | {"wall_s": float(wall), "peak_mb": float(peak)}
            )
            print(rows[-1], flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(args.out / "scaling.csv", index=False)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2])
    else:
        main()
