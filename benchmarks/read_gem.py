"""Wall time and peak memory of ``sst.datasets.read_gem`` on simulated Stereo-seq GEM files of growing size.

    python benchmarks/read_gem.py --rows 1000000 4000000 16000000 --out benchmarks/results/read_gem

No Stereo-seq slide is in the shared data, so the files are simulated with a chip's proportions: DNBs on a
10,000 x 10,000 grid (a 5 mm x 5 mm region at the 500 nm pitch: 40,000 bins of 50 x 50), 20,000 genes whose counts
follow a Zipf law, one row per gene and DNB in random order (SAW's ``#SortedBy=None``), written to a temporary
folder and removed. Each file is read, in a fresh process, with ``bin_size=50``; for the smaller files also by
``pandas.read_csv`` of every row at once, the memory a reader without chunks would need; and ``import semst_sc``
alone, the part of each figure that is not reading. Writes ``read_gem.csv``: rows, file size, wall seconds, peak
resident MB.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

READ = "import semst_sc as sst; a = sst.datasets.read_gem({path!r}, bin_size=50); print(a.n_obs, a.n_vars, a.X.nnz)"
IMPORT = "import semst_sc"
WHOLE = "import semst_sc, pandas as pd; t = pd.read_csv({path!r}, sep='\\t', comment='#'); print(len(t))"


def write_gem(path: Path, n_rows: int, rng: int = 0, batch: int = 2_000_000) -> None:
    """Write ``n_rows`` random GEM rows (random DNBs and Zipf-distributed genes) to ``path``."""
    generator = np.random.default_rng(rng)
    with open(path, "w") as handle:
        handle.write("#FileFormat=GEMv0.1\n#SortedBy=None\n#BinSize=1\n#OffsetX=0\n#OffsetY=0\n")
        handle.write("geneID\tx\ty\tMIDCount\n")
        for start in range(0, n_rows, batch):
            n = min(batch, n_rows - start)
            genes = np.minimum(generator.zipf(1.3, n), 20_000) - 1
            table = pd.DataFrame(
                {
                    "geneID": np.char.add("Gene", genes.astype(str)),
                    "x": generator.integers(0, 10_000, n),
                    "y": generator.integers(0, 10_000, n),
                    "MIDCount": generator.geometric(0.7, n),
                }
            )
            table.to_csv(handle, sep="\t", index=False, header=False)


def measure(code: str) -> tuple[float, float, str]:
    """Run ``code`` in a fresh Python; return its wall seconds, peak resident MB and output."""
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    output = process.stdout.read().strip()
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {code}")
    return time.perf_counter() - start, usage.ru_maxrss / 1024, output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 4_000_000, 16_000_000])
    parser.add_argument("--whole-up-to", type=int, default=4_000_000, help="read whole with pandas up to these rows")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/read_gem"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    wall, peak, _ = measure(IMPORT)
    results = [{"rows": 0, "file_mb": 0, "reader": "import semst_sc", "wall_s": round(wall, 1), "peak_mb": round(peak)}]
    with tempfile.TemporaryDirectory() as folder:
        for n_rows in args.rows:
            path = Path(folder) / f"chip_{n_rows}.gem"
            write_gem(path, n_rows)
            size = path.stat().st_size / 2**20
            readers = [("read_gem (bin50)", READ)] + (
                [("pandas, every row", WHOLE)] if n_rows <= args.whole_up_to else []
            )
            for reader, code in readers:
                wall, peak, output = measure(code.format(path=str(path)))
                results.append({"rows": n_rows, "file_mb": round(size), "reader": reader, "wall_s": round(wall, 1),
                                "peak_mb": round(peak), "output": output})  # fmt: skip
                print(results[-1], flush=True)
            path.unlink()
    table = pd.DataFrame(results)
    table.to_csv(args.out / "read_gem.csv", index=False)
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
