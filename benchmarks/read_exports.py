"""Wall time and peak memory of ``sst.datasets.read_cosmx`` on simulated CosMx exports, against squidpy's reader.

    python benchmarks/read_exports.py --cells 20000 100000 --genes 1000 6000 --out benchmarks/results/read_exports

No CosMx export is in the shared data, so the flat files are simulated with a run's proportions: cells in fields of
view of 500 cells, about 0.3 counts per gene and cell (a 1,000-plex panel's few hundred counts a cell), ten
negative probes, one ``cell_ID`` 0 row per field; the metadata with local and global centres. Written to a temporary
folder and removed. Each export is read, in a fresh process, by ``read_cosmx`` (chunks of rows into sparse counts)
and, up to ``--squidpy-up-to`` cells x genes, by ``squidpy.read.nanostring`` (the whole table dense); and
``import semst_sc`` alone, the part of each figure that is not reading. ``read_merscope`` reads its tables with the
same code. Writes ``read_exports.csv``: cells, genes, file size, reader, wall seconds, peak resident MB.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from read_gem import measure  # a fresh process: wall seconds, peak resident MB, output

OURS = "import semst_sc as sst; a = sst.datasets.read_cosmx({path!r}); print(a.n_obs, a.n_vars, a.X.nnz)"
SQUIDPY = (
    "import squidpy as sq; a = sq.read.nanostring({path!r}, counts_file='run_exprMat_file.csv', "
    "meta_file='run_metadata_file.csv'); print(a.n_obs, a.n_vars)"
)
IMPORT = "import semst_sc"
FIELD = 500  # cells per field of view


def write_export(folder: Path, n_cells: int, n_genes: int, rng: int = 0, batch: int = 20_000) -> None:
    """Write a CosMx flat-file export of ``n_cells`` random cells and ``n_genes`` genes (plus 10 negative probes)."""
    generator = np.random.default_rng(rng)
    genes = [f"Gene{g}" for g in range(n_genes)] + [f"NegPrb{p}" for p in range(10)]
    fov = np.arange(n_cells) // FIELD + 1
    cell_id = np.arange(n_cells) % FIELD + 1
    with open(folder / "run_exprMat_file.csv", "w") as handle:
        handle.write(",".join(["fov", "cell_ID", *genes]) + "\n")
        for start in range(0, n_cells, batch):
            stop = min(start + batch, n_cells)
            counts = generator.poisson(0.3, size=(stop - start, len(genes)))
            table = pd.DataFrame(counts, columns=genes)
            table.insert(0, "cell_ID", cell_id[start:stop])
            table.insert(0, "fov", fov[start:stop])
            table.to_csv(handle, index=False, header=False)
    local = generator.uniform(0, 4000, size=(n_cells, 2))
    corner = np.column_stack([(fov - 1) % 20, (fov - 1) // 20]) * 4000.0
    meta = pd.DataFrame({"fov": fov, "cell_ID": cell_id, "Area": generator.integers(2000, 9000, n_cells)})
    meta["CenterX_local_px"], meta["CenterY_local_px"] = local.T
    meta["CenterX_global_px"], meta["CenterY_global_px"] = (local + corner).T
    meta.to_csv(folder / "run_metadata_file.csv", index=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--genes", type=int, nargs="+", default=[1000])
    parser.add_argument(
        "--squidpy-up-to", type=int, default=100_000_000, help="read with squidpy up to these cells x genes"
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/read_exports"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    wall, peak, _ = measure(IMPORT)
    results = [{"cells": 0, "genes": 0, "file_mb": 0, "reader": "import semst_sc", "wall_s": round(wall, 1)}]
    results[0]["peak_mb"] = round(peak)
    for n_genes in args.genes:
        for n_cells in args.cells:
            with tempfile.TemporaryDirectory() as folder:
                write_export(Path(folder), n_cells, n_genes)
                size = (Path(folder) / "run_exprMat_file.csv").stat().st_size / 2**20
                readers = [("read_cosmx", OURS)] + (
                    [("squidpy.read.nanostring", SQUIDPY)] * (n_cells * n_genes <= args.squidpy_up_to)
                )
                for reader, code in readers:
                    wall, peak, output = measure(code.format(path=folder))
                    row = {"cells": n_cells, "genes": n_genes, "file_mb": round(size), "reader": reader}
                    results.append(row | {"wall_s": round(wall, 1), "peak_mb": round(peak)})
                    print(results[-1], output, flush=True)
    pd.DataFrame(results).to_csv(args.out / "read_exports.csv", index=False)


if __name__ == "__main__":
    main()
