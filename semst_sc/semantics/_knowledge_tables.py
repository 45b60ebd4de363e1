"""Gene vectors from curated knowledge that is not a sentence: GO annotation structure and PROGENy pathway weights.

Both are tables for :class:`~semst_sc.semantics.GeneTable` (``sst.pp.gene_semantics(adata, model=table)``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..datasets._gene_descriptions import gene_descriptions
from ..datasets._paths import default_data_dir

_GO_COLUMNS = ("go_bp", "go_mf", "go_cc")


def go_gene_table(
    organism: Literal["human", "mouse"] = "human",
    path: str | Path | None = None,
    *,
    n_components: int = 64,
    min_genes: int = 3,
    rng: int = 0,
) -> pd.DataFrame:
    """Gene vectors from the structure of the GO annotation: genes x GO terms, TF-IDF weighted, truncated SVD.

    Parameters
    ----------
    organism
        ``"human"`` or ``"mouse"`` (mouse genes take the GO terms of the human gene with the upper-cased symbol).
    path
        Folder or table of the gene descriptions, as :func:`semst_sc.datasets.gene_descriptions` reads it.
    n_components
        Dimensions kept.
    min_genes
        GO terms annotated to fewer genes are left out.
    rng
        Seed of the randomised SVD.

    Returns
    -------
    DataFrame of float32 vectors (unit length), indexed by the symbols of the genes with GO terms.
    """
    from sklearn.decomposition import TruncatedSVD

    table = gene_descriptions(organism, path)
    columns = [c for c in _GO_COLUMNS if c in table]
    terms = [
        [f"{c}:{t.strip()}" for c in columns for t in str(row[c]).split(";") if t.strip()]
        for _, row in table[columns].iterrows()
    ]
    keep = np.array([bool(t) for t in terms])
    genes, terms = table.index[keep], [t for t, k in zip(terms, keep, strict=True) if k]
    vocabulary: dict[str, int] = {}
    rows = np.repeat(np.arange(len(terms)), [len(t) for t in terms])
    cols = np.array([vocabulary.setdefault(t, len(vocabulary)) for gene_terms in terms for t in gene_terms])
    X = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(len(terms), len(vocabulary)))
    X.data[:] = 1  # a term listed twice counts once
    df = np.asarray(X.sum(axis=0)).ravel()
    X = X[:, df >= min_genes]
    if X.shape[1] < 2 or X.shape[0] < 2:
        raise ValueError(
            f"{X.shape[1]} GO terms annotate at least min_genes={min_genes} of the {len(terms)} genes with terms: a "
            "table needs at least 2 of each (lower min_genes, or give a table with more genes and GO terms)"
        )
    X = X @ sp.diags(np.log(len(terms) / df[df >= min_genes]).astype(np.float32))
    svd = TruncatedSVD(n_components=min(n_components, X.shape[1] - 1), random_state=rng)
    vectors = svd.fit_transform(X).astype(np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = vectors / np.where(norms > 0, norms, 1)
    return pd.DataFrame(vectors, index=genes, columns=[f"go_{i}" for i in range(vectors.shape[1])])


def progeny_gene_table(organism: Literal["human", "mouse"] = "human", path: str | Path | None = None) -> pd.DataFrame:
    """Gene vectors from PROGENy pathway footprints (Schubert et al. 2018): a gene's weights on 14 pathways.

    Parameters
    ----------
    organism
        ``"human"`` or ``"mouse"``.
    path
        Folder with ``progeny_{organism}_gene_by_pathway_weight.csv.gz`` (default ``{default_data_dir()}/gene_text``).

    Returns
    -------
    DataFrame (genes with a weight on any pathway x 14 pathways, float32, missing weights 0).
    """
    if organism not in ("human", "mouse"):
        raise ValueError(f"organism must be 'human' or 'mouse', got {organism!r}")
    folder = default_data_dir() / "gene_text" if path is None else Path(path).expanduser()
    file = folder / f"progeny_{organism}_gene_by_pathway_weight.csv.gz"
    if not file.is_file():
        raise FileNotFoundError(f"{file} not found: pass path= to the folder with the PROGENy weights")
    table = pd.read_csv(file, index_col=0).fillna(0).astype(np.float32)
    return table[(table != 0).any(axis=1)]
