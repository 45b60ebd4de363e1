"""Time and memory of a joint fit against the number of sections, each run a fresh process.

    OMP_NUM_THREADS=1 python benchmarks/joint_scaling.py --out benchmarks/results/joint

Runs ``run_pipeline`` (K given, seed 0) on one section and on the sections joined with ``concat_sections``:
DLPFC 151673 and 151673+151674, BaristaSeq 1, 1+2 and 1+2+3, each with the default encoder (``"auto"``: dual for
one section, contrastive for several Visium sections), and DLPFC also with each encoder named, so that one and two
sections compare under the same encoder. Writes ``DIR/scaling.csv`` (sections, encoder asked and used, spots, wall
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

#: per data family, (sections joined by +, encoder of run_pipeline)
RUNS = {
    "dlpfc": [
        ("dlpfc151673", "auto"),
        ("dlpfc151673+dlpfc151674", "auto"),
        ("dlpfc151673", "contrastive"),
        ("dlpfc151673+dlpfc151674", "dual"),
    ],
    "baristaseq": [
        (name, "auto") for name in ("baristaseq1", "baristaseq1+baristaseq2", "baristaseq1+baristaseq2+baristaseq3")
    ],
}


def child(name: str, encoder: str) -> None:
    """Run the pipeline on ``name`` (sections joined by +) and print spots, seconds, peak MB and the encoder used."""
    from harness.datasets import DATASETS

    import semst_sc as sst

    sst.settings.progress = False
    parts = name.split("+")
    sections = {part: DATASETS[part].load() for part in parts}
    adata = sections[name] if len(parts) == 1 else sst.concat_sections(sections)
    start = time.perf_counter()
    library_key = None if len(parts) == 1 else "library_id"
    sst.run_pipeline(adata, DATASETS[parts[0]].n_clusters, library_key=library_key, encoder=encoder)
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"RESULT {adata.n_obs} {wall:.1f} {peak:.0f} {adata.uns['semst']['params']['encoder']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/joint"))
    args = parser.parse_args()
    rows = []
    for family, names in RUNS.items():
        for name, encoder in names:
            command = [sys.executable, __file__, "--child", name, encoder]
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(done.stderr[-2000:])
            spots, wall, peak, used = done.stdout.split("RESULT")[-1].split()
            rows.append(
                {"data": family, "sections": name, "n_sections": len(name.split("+")), "encoder": encoder}
                | {"encoder_used": used, "spots": int(spots), "wall_s": float(wall), "peak_mb": float(peak)}
            )
            print(rows[-1], flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(args.out / "scaling.csv", index=False)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], sys.argv[3])
    else:
        main()
