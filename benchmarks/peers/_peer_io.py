"""Command line shared by the peer runners: they read an input .h5ad and write one domain label per spot.

Each runner executes in its peer's own virtual environment, so this module imports only what every
peer environment has (anndata, numpy, pandas).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd


def read_args(description: str) -> tuple[ad.AnnData, argparse.Namespace]:
    """Parse ``INPUT N_CLUSTERS SEED OUTPUT`` and read the input.

    Parameters
    ----------
    description
        The runner's help text.

    Returns
    -------
    The input (raw counts of the shared genes in ``X``, ``obsm['spatial']``) and the arguments.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("input", type=Path, help=".h5ad with raw counts in X and obsm['spatial']")
    parser.add_argument("n_clusters", type=int)
    parser.add_argument("seed", type=int)
    parser.add_argument("output", type=Path, help="CSV written: spot names and column 'domain'")
    args = parser.parse_args()
    return ad.read_h5ad(args.input), args


def write_labels(labels, obs_names, path: Path) -> None:
    """Write one domain label per spot, indexed by spot name."""
    pd.DataFrame({"domain": np.asarray(labels).astype(str)}, index=pd.Index(obs_names, name="spot")).to_csv(path)
