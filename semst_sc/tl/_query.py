from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
from anndata import AnnData
from scanpy import logging as logg

from .. import _constants as C
from .._docs import doc_params
from .._utils import check_adata
from ._gene_knowledge import encode, gene_table, gene_texts, infer_organism, is_noise, lognormalised, source


@doc_params
def query(
    adata: AnnData,
    text: str,
    *,
    organism: Literal["human", "mouse"] | None = None,
    gene_text: Any = None,
    gene_symbols: str | None = None,
    layer: str | None = None,
    n_genes: int = 30,
    model: Any = None,
    key_added: str = C.QUERY_KEY,
    copy: bool = False,
) -> AnnData | None:
    """Score each spot for a free-text query ("myelination", "reactive astrocytes", "hypoxia", "B cells").

    Each gene's text (``"SYMBOL: full name. summary. GO: terms"`` from the gene descriptions, the bare symbol
    without them) and the query are embedded with the text model; the ``n_genes`` genes most similar to the query
    drive the score, each weighted by how much more similar it is than the next gene down. A spot's score is the
    weighted mean of those genes' standardised log-normalised expression. The gene vectors are cached on disk
    with those of :func:`semst_sc.pp.gene_semantics` (:data:`semst_sc.settings` ``cache_dir``), so a repeated query
    embeds only the query. Deterministic: the same data and query give the same scores.

    Parameters
    ----------
    adata
        Spots with raw counts; after :func:`semst_sc.pp.prepare` (``semst-sc run``'s output) its modelled genes.
    text
        The query.
    organism
        ``"human"`` or ``"mouse"``; ``None``: guessed from the case of the symbols.
    gene_text
        Gene knowledge, as in :func:`semst_sc.tl.annotate_domains` (``None``: the descriptions of ``organism``
        when their files are there; ``False``: bare symbols, a much weaker query).
    gene_symbols
        ``var`` column with gene symbols (default: ``var_names``, or the usual columns when those are Ensembl IDs).
    layer
        Layer with raw counts when :func:`semst_sc.pp.prepare` has not run (``None``: ``X``).
    n_genes
        Genes that drive the score.
    model
        Text model (``None``: the bundled all-MiniLM-L6-v2).
    key_added
        ``obs`` key of the score; the genes and parameters go to ``uns[key_added]``.
    copy
        {doc_copy}

    Returns
    -------
    ``None``, or a copy when ``copy=True``. Writes

    ``obs['semst_query']``
        The score of each spot (float32; 0 is the average spot, positive where the query's genes are high).
    ``uns['semst_query']``
        ``genes``: the driving genes (``gene``, ``similarity`` to the query, ``weight``, summing to 1); ``params``
        (``text``, ``organism``, ``gene_text``, ``model``, ``n_genes``).
    """
    check_adata(adata)
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"the query text is empty: give words to search for, e.g. 'myelination', got {text!r}")
    if n_genes < 1:
        raise ValueError(f"n_genes must be positive, got {n_genes}")
    X, symbols = lognormalised(adata, layer, gene_symbols)
    keep = np.array([not is_noise(s) for s in symbols])
    X, symbols = X[:, keep], symbols[keep]
    if organism is None:
        organism = infer_organism(symbols)
        logg.info(f"organism guessed from the gene symbols: {organism}")
    table = gene_table(gene_text, organism)
    if table is None:
        logg.warning("no gene knowledge: the query is compared with bare gene symbols, a weak signal")

    vectors, model_name = encode([*gene_texts(symbols, table), text.strip()], model, batch_size=64)
    similarity = vectors[:-1] @ vectors[-1]
    order = np.argsort(-similarity, kind="stable")
    n = min(n_genes, len(symbols))
    top = order[:n]
    floor = similarity[order[n]] if n < len(symbols) else similarity[top].min() - 1e-3
    weights = np.maximum(similarity[top] - floor, 0)
    weights = weights / weights.sum() if weights.sum() > 0 else np.full(n, 1 / n)
    expression = X[:, top].toarray().astype(np.float64)
    std = expression.std(axis=0)
    standardised = (expression - expression.mean(axis=0)) / np.where(std > 0, std, 1)
    score = (standardised @ weights).astype(np.float32)

    out = adata.copy() if copy else adata
    out.obs[key_added] = score
    out.uns[key_added] = {
        "genes": pd.DataFrame({"gene": symbols[top], "similarity": similarity[top], "weight": weights}),
        "params": {
            "text": text.strip(),
            "organism": organism,
            "gene_text": source(gene_text, table),
            "model": model_name,
            "n_genes": n,
        },
    }
    return out if copy else None
