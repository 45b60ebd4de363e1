"""The peer protocol: how ``run.py`` calls a peer's runner, and how the runner reads its input and writes its labels.

``PYTHON peers/<peer>/run.py INPUT N_CLUSTERS SEED OUTPUT [--KEY VALUE ...]``, with ``PYTHON`` the interpreter of the
peer's own environment: ``INPUT`` an .h5ad with the raw counts of the shared genes in ``X`` and ``obsm['spatial']``
(no labels), ``OUTPUT`` the CSV the runner writes (spot names, column ``domain``), and the runner's options as the
registry entry gives them (e.g. BANKSY's ``--lambda``).

A runner whose method produces an embedding also writes it beside its labels (:func:`write_embedding`, the file
:func:`embedding_path` of ``OUTPUT``): ``run.py`` then clusters that embedding with the shared back-end of semst_sc as
well (``harness.backends``), from the same peer run, no second training. The labels stay the runner's own clustering.

The runners execute in their peers' environments, so this module imports only what every peer environment has
(anndata, numpy, pandas).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd


def command(
    python: Path,
    runner: Path,
    data: Path,
    n_clusters: int,
    seed: int,
    output: Path,
    options: Mapping[str, Any] | None = None,
) -> list[str]:
    """The command line of one peer run (the ``run.py`` side of the protocol); ``options`` become ``--KEY VALUE``."""
    flags = [text for key, value in (options or {}).items() for text in (f"--{key}", str(value))]
    return [str(python), str(runner), str(data), str(n_clusters), str(seed), str(output), *flags]


def read_args(description: str, options: Mapping[str, Any] | None = None) -> tuple[ad.AnnData, argparse.Namespace]:
    """Parse ``INPUT N_CLUSTERS SEED OUTPUT [--KEY VALUE ...]`` and read the input.

    Parameters
    ----------
    description
        The runner's help text.
    options
        The runner's options and their defaults (a value's type parses the option).

    Returns
    -------
    The input (raw counts of the shared genes in ``X``, ``obsm['spatial']``) and the arguments (an option ``KEY``
    as ``vars(args)[KEY]``).
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("input", type=Path, help=".h5ad with raw counts in X and obsm['spatial']")
    parser.add_argument("n_clusters", type=int)
    parser.add_argument("seed", type=int)
    parser.add_argument("output", type=Path, help="CSV written: spot names and column 'domain'")
    for key, default in (options or {}).items():
        parser.add_argument(f"--{key}", type=type(default), default=default, help=f"default: {default}")
    args = parser.parse_args()
    return ad.read_h5ad(args.input), args


def write_labels(labels, obs_names, path: Path) -> None:
    """Write one domain label per spot, indexed by spot name."""
    pd.DataFrame({"domain": np.asarray(labels).astype(str)}, index=pd.Index(obs_names, name="spot")).to_csv(path)


def embedding_path(output: Path) -> Path:
    """The embedding file of a run whose labels go to ``output``: its stem with ``.embedding.npz`` (same folder)."""
    return Path(output).with_suffix(".embedding.npz")


def write_embedding(embedding, obs_names, output: Path) -> None:
    """Write the embedding the runner's own clustering used (spots x dimensions), beside the labels ``output``."""
    embedding = np.asarray(embedding)
    if embedding.ndim != 2 or embedding.shape[0] != len(obs_names):
        raise ValueError(f"embedding of shape {embedding.shape} for {len(obs_names)} spots")
    np.savez(embedding_path(output), embedding=embedding, spot=np.asarray(obs_names, dtype=str))


def read_embedding(output: Path) -> pd.DataFrame | None:
    """The embedding written beside the labels ``output``, indexed by spot; ``None`` when the runner wrote none."""
    path = embedding_path(output)
    if not path.exists():
        return None
    with np.load(path, allow_pickle=False) as stored:
        return pd.DataFrame(stored["embedding"], index=pd.Index(stored["spot"], name="spot"))
