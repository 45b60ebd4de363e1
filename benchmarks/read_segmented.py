"""Wall time and peak memory of ``sst.datasets.read_spaceranger`` on simulated Visium HD cell segmentations.

    python benchmarks/read_segmented.py --cells 100000 300000 --out benchmarks/results/read_segmented

No Space Ranger 4 output is in the shared data, so ``segmented_outputs`` is simulated: a
``filtered_feature_cell_matrix.h5`` of ``--genes`` genes (about 100 counts a cell) and a ``cell_segmentations.geojson``
of one 30-corner outline a cell (coordinates rounded to 0.01 pixel). Written to a temporary folder and removed. Each
is read in a fresh process by ``read_spaceranger`` (the outlines decoded one feature at a time, only their centroids
kept) and, for reference, the GeoJSON alone by ``json.load`` (every outline at once, as a reader that parses the whole
file holds them); and ``import semst_sc.datasets`` alone (scanpy and anndata loaded), the part of each figure that is
not reading. Writes ``read_segmented.csv``: cells, size of the GeoJSON, reader, wall seconds, peak resident MB.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp
from read_gem import measure  # a fresh process: wall seconds, peak resident MB, output

OURS = "import semst_sc as sst; a = sst.datasets.read_spaceranger({path!r}); print(a.n_obs, a.n_vars)"
WHOLE = "import json; f = json.load(open({path!r} + '/cell_segmentations.geojson')); print(len(f['features']))"
IMPORT = "import semst_sc.datasets"
CORNERS = 30


def write_segmented(folder: Path, n_cells: int, n_genes: int, rng: int = 0) -> None:
    """Write a Space Ranger 4 ``segmented_outputs`` folder of ``n_cells`` random cells."""
    generator = np.random.default_rng(rng)
    counts = sp.random(n_genes, n_cells, density=min(1.0, 100 / n_genes), format="csc", random_state=generator)
    counts.data = np.ceil(counts.data * 3).astype(np.int32)
    with h5py.File(folder / "filtered_feature_cell_matrix.h5", "w") as f:  # 10x's HDF5 layout, genes x cells
        matrix = f.create_group("matrix")
        for name, values in (("data", counts.data), ("indices", counts.indices), ("indptr", counts.indptr)):
            matrix[name] = values.astype(np.int64 if name != "data" else np.int32)
        matrix["shape"] = np.array(counts.shape, dtype=np.int32)
        matrix["barcodes"] = np.array([f"cellid_{i + 1:09d}-1" for i in range(n_cells)], dtype="S")
        features = matrix.create_group("features")
        features["id"] = np.array([f"ENSG{g:011d}" for g in range(n_genes)], dtype="S")
        features["name"] = np.array([f"Gene{g}" for g in range(n_genes)], dtype="S")
        features["feature_type"] = np.array([b"Gene Expression"] * n_genes)
        features["genome"] = np.array([b"GRCh38"] * n_genes)
        features["_all_tag_keys"] = np.array([b"genome"])
    angles = np.linspace(0, 2 * np.pi, CORNERS + 1)
    centres = generator.uniform(0, 20_000, size=(n_cells, 2))
    with open(folder / "cell_segmentations.geojson", "w") as handle:
        handle.write('{"type": "FeatureCollection", "features": [')
        for i, (x, y) in enumerate(centres):
            ring = np.round(np.column_stack([x + 8 * np.cos(angles), y + 8 * np.sin(angles)]), 2).tolist()
            feature = {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]}}
            handle.write(("," if i else "") + json.dumps(feature | {"properties": {"cell_id": i + 1}}))
        handle.write("]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", type=int, nargs="+", default=[100_000, 300_000])
    parser.add_argument("--genes", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/read_segmented"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    wall, peak, _ = measure(IMPORT)
    results = [{"cells": 0, "geojson_mb": 0, "reader": "import semst_sc.datasets", "wall_s": round(wall, 1)}]
    results[0]["peak_mb"] = round(peak)
    for n_cells in args.cells:
        with tempfile.TemporaryDirectory() as folder:
            # written by another process: a fresh process started from this one would count the writer's memory
            writer = multiprocessing.get_context("spawn").Process(
                target=write_segmented, args=(Path(folder), n_cells, args.genes)
            )
            writer.start()
            writer.join()
            size = (Path(folder) / "cell_segmentations.geojson").stat().st_size / 2**20
            for reader, code in (("read_spaceranger", OURS), ("json.load, the GeoJSON alone", WHOLE)):
                wall, peak, output = measure(code.format(path=folder))
                row = {"cells": n_cells, "geojson_mb": round(size), "reader": reader}
                results.append(row | {"wall_s": round(wall, 1), "peak_mb": round(peak)})
                print(results[-1], output, flush=True)
    pd.DataFrame(results).to_csv(args.out / "read_segmented.csv", index=False)


if __name__ == "__main__":
    main()
