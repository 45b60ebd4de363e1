from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData
from scanpy import logging as logg

from .. import _constants as C
from .._utils import check_adata, looks_like_ensembl, require_prepared, resolve_device
from ._language_model import load_text_encoder

PROMPT = (
    "You are an expert in bioinformatics. Represent the biological state of a cell characterized by the following "
    "highly expressed genes. Focus on capturing the functional essence relevant for spatial domain identification."
)


def gene_semantics(
    adata: AnnData,
    *,
    model: Any = None,
    top_k: int = 10,
    mode: Literal["symbols", "genes"] = "genes",
    gene_symbols: str | None = None,
    batch_size: int = 64,
    device: str = "auto",
    progress: bool = True,
    key_added: str = C.SEMANTIC_KEY,
    copy: bool = False,
) -> AnnData | None:
    """Read each spot's most expressed gene symbols with a language model: SemST's semantic vector.

    Parameters
    ----------
    adata
        Output of :func:`semst_sc.pp.prepare`.
    model
        ``None`` (the bundled offline all-MiniLM-L6-v2), a sentence-transformers name or local path,
        or any object with an ``encode(texts)`` method.
    top_k
        Number of top genes per spot (by the scaled expression of the modelled genes).
    mode
        ``"genes"`` (default): each gene symbol is embedded once and a spot's vector is the
        expression-weighted mean of its top-k genes' vectors; the cost grows with the number of
        genes, not spots (seconds on a Visium slice). ``"symbols"``: the paper's prompt with the
        spot's top-k symbols, one text per distinct gene list (minutes on a Visium slice on a CPU).
    gene_symbols
        Column of ``var`` with gene symbols; by default ``var_names``, or, when those are Ensembl
        IDs, the first of the usual symbol columns (``gene_symbol``, ``gene_name``, ...).
    batch_size
        Texts per model call.
    device
        ``"auto"`` (GPU when available), ``"cpu"`` or ``"cuda"``.
    progress
        Show a progress bar.
    key_added
        Key in ``obsm`` and ``uns``.
    copy
        Return a modified copy instead of writing to ``adata``.

    Returns
    -------
    ``None``, or a copy when ``copy=True``. Writes

    ``obsm['{key_added}']``
        Semantic vectors (float32, n_obs x model dimension).
    ``uns['{key_added}']['params']``
        Model, mode, top_k, prompt and how many texts were embedded.
    """
    check_adata(adata)
    genes = require_prepared(adata)
    if top_k < 1:
        raise ValueError(f"top_k must be positive, got {top_k}")
    if mode not in ("symbols", "genes"):
        raise ValueError(f"mode must be 'symbols' or 'genes', got {mode!r}")

    symbols = _resolve_symbols(adata, gene_symbols)[genes]
    usable = pd.notna(symbols) & (symbols != "")
    if not usable.all():
        logg.warning(f"{int((~usable).sum())} modelled genes have no symbol and are left out of the texts")
    X = sp.csr_matrix(adata.layers[C.SCALED_LAYER][:, genes])
    top_idx, top_val = _top_genes(X, usable, top_k)
    encoder = load_text_encoder(model, resolve_device(device), progress)

    if mode == "symbols":
        lists = [tuple(symbols[i] for i in row[row >= 0]) for row in top_idx]
        unique, inverse = np.unique(np.array([", ".join(g) for g in lists], dtype=object), return_inverse=True)
        texts = [f"{PROMPT} Highly expressed genes: {g if g else 'none'}" for g in unique]
        vectors = encoder.encode(texts, batch_size=batch_size, progress=progress)[inverse.ravel()]
    else:
        used = np.unique(top_idx[top_idx >= 0])
        texts = [str(symbols[i]) for i in used]
        gene_vectors = encoder.encode(texts, batch_size=batch_size, progress=progress)
        position = np.full(len(symbols), -1)
        position[used] = np.arange(len(used))
        vectors = _weighted_mean(gene_vectors, position, top_idx, top_val)
    logg.info(f"embedded {len(texts)} distinct texts for {adata.n_obs} spots with {encoder.name}")

    out = adata.copy() if copy else adata
    out.obsm[key_added] = vectors.astype(np.float32)
    out.uns[key_added] = {
        "params": {
            "model": encoder.name,
            "mode": mode,
            "top_k": top_k,
            "prompt": PROMPT if mode == "symbols" else "",
            "n_texts": len(texts),
            "n_genes_without_symbol": int((~usable).sum()),
        }
    }
    return out if copy else None


def _resolve_symbols(adata: AnnData, column: str | None) -> np.ndarray:
    """Return one symbol per gene (object array, NaN where unknown)."""
    if column is not None:
        if column not in adata.var:
            raise KeyError(f"var['{column}'] not found; var columns: {list(adata.var.columns)}")
        return adata.var[column].astype(object).to_numpy()
    if not looks_like_ensembl(adata.var_names):
        return adata.var_names.to_numpy(dtype=object)
    for candidate in C.SYMBOL_COLUMNS:
        if candidate in adata.var and not looks_like_ensembl(adata.var[candidate].dropna()):
            logg.info(f"reading gene symbols from var['{candidate}']")
            symbols = adata.var[candidate].astype(object).to_numpy()
            unresolved = np.array([looks_like_ensembl([s]) for s in symbols])
            symbols[unresolved] = np.nan
            return symbols
    raise ValueError(
        "var_names look like Ensembl IDs and no gene-symbol column was found: the semantic step needs gene "
        f"symbols. Pass gene_symbols='<var column with symbols>' (looked for {', '.join(C.SYMBOL_COLUMNS)})"
    )


def _top_genes(X: sp.csr_matrix, usable: np.ndarray, k: int, chunk: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """Per spot, the indices (-1 padded) and values of the ``k`` highest positive entries, highest first."""
    n, g = X.shape
    k_eff = min(k, g)
    idx = np.full((n, k), -1, dtype=np.int64)
    val = np.zeros((n, k), dtype=np.float32)
    mask = np.where(usable, 0.0, -np.inf).astype(np.float32)
    for start in range(0, n, chunk):
        block = X[start : start + chunk].toarray() + mask
        part = np.argpartition(-block, k_eff - 1, axis=1)[:, :k_eff]
        part_val = np.take_along_axis(block, part, axis=1)
        # highest first; ties broken by gene index for determinism
        order = np.lexsort((part, -part_val), axis=1)
        part = np.take_along_axis(part, order, axis=1)
        part_val = np.take_along_axis(part_val, order, axis=1)
        positive = part_val > 0
        idx[start : start + chunk, :k_eff] = np.where(positive, part, -1)
        val[start : start + chunk, :k_eff] = np.where(positive, part_val, 0)
    return idx, val


def _weighted_mean(gene_vectors: np.ndarray, position: np.ndarray, top_idx: np.ndarray, top_val: np.ndarray):
    """Expression-weighted mean of each spot's top-gene vectors (zero for spots without expressed genes)."""
    n = top_idx.shape[0]
    valid = top_idx >= 0
    weights = sp.csr_matrix(
        (top_val[valid], (np.nonzero(valid)[0], position[top_idx[valid]])), shape=(n, gene_vectors.shape[0])
    )
    total = np.asarray(weights.sum(axis=1)).ravel()
    weights = sp.diags(np.divide(1.0, total, out=np.zeros_like(total), where=total > 0)) @ weights
    return np.asarray(weights @ gene_vectors)
