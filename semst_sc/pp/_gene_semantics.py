from __future__ import annotations

from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
from anndata import AnnData
from scanpy import logging as logg

from .. import _constants as C
from .._docs import doc_params
from .._settings import settings
from .._utils import check_adata, check_integer, looks_like_ensembl, output_of, prepared_of, require_prepared
from ..semantics import GeneTable, SemanticCache, load_text_encoder, resolve_gene_text

PROMPT = (
    "You are an expert in bioinformatics. Represent the biological state of a cell characterized by the following "
    "highly expressed genes. Focus on capturing the functional essence relevant for spatial domain identification."
)


@doc_params
def gene_semantics(
    adata: AnnData,
    *,
    model: Any = None,
    top_k: int = 10,
    mode: Literal["symbols", "genes"] = "genes",
    gene_text: Any = None,
    gene_symbols: str | None = None,
    backend: Literal["auto", "sentence-transformers", "hf"] = "auto",
    pooling: Literal["mean", "genes"] = "mean",
    trust_remote_code: bool = False,
    batch_size: int = 64,
    key_added: str = C.SEMANTIC_KEY,
    copy: bool = False,
) -> AnnData | None:
    """Read each spot's most expressed genes with a language model: SemST's semantic vector.

    The text model comes from :mod:`semst_sc.semantics`; the compute device, the progress bars and the vector cache
    from :data:`semst_sc.settings` (``device``, ``progress``, ``cache_dir``). Vectors are cached on disk per model,
    prompt, mode and text, so a repeated run embeds nothing; an unusable cache folder is reported and skipped.

    Parameters
    ----------
    adata
        Output of :func:`semst_sc.pp.prepare`.
    model
        ``None`` (the bundled offline all-MiniLM-L6-v2); a sentence-transformers name or local folder; a Hugging
        Face decoder LLM such as Qwen3 (``"hf:<name or folder>"``, or detected from its ``config.json``); a
        DataFrame of precomputed gene vectors (symbols x dimensions, e.g. GenePT; ``mode="genes"`` only);
        a :class:`~semst_sc.semantics.TextEncoder`; or any object with an ``encode(texts)`` method (its vectors
        are cached only when it has an ``identity`` attribute, see :class:`~semst_sc.semantics.ObjectEncoder`).
        See :func:`semst_sc.semantics.load_text_encoder`.
    top_k
        Number of top genes per spot (by the scaled expression of the modelled genes; of tied genes, e.g. at the
        clipping value 10, those first in ``var``).
    mode
        ``"genes"`` (default): each gene's text is embedded once and a spot's vector is the
        expression-weighted mean of its top-k genes' vectors; the cost grows with the number of
        genes, not spots. ``"symbols"``: the paper's prompt with the spot's top-k genes, one text per
        distinct gene list.
    gene_text
        Gene knowledge: ``"human"``/``"mouse"`` (:func:`semst_sc.datasets.gene_descriptions`), a TSV path or
        DataFrame (``symbol`` + ``text``, or ``full_name``/``summary``/``go_bp`` columns), a folder of the NCBI files
        (read by :func:`~semst_sc.datasets.gene_descriptions` for the organism the symbols' case says, or
        mouse-only symbols such as ``0610007N19Rik``), or a
        mapping symbol -> text. In ``"genes"`` mode a gene's text becomes ``"SYMBOL: full name. summary. GO: terms"``;
        in ``"symbols"`` mode the prompt lists ``"SYMBOL (full name)"``. ``None``: bare symbols. Refused with a
        table of gene vectors as ``model``, which embeds no text.
    gene_symbols
        Column of ``var`` with gene symbols; by default ``var_names``, or, when those are Ensembl
        IDs, the first of the usual symbol columns (``gene_symbol``, ``gene_name``, ...).
        Genes without a symbol are left out and counted.
    backend
        ``"auto"``, ``"sentence-transformers"`` or ``"hf"`` (decoder LLM: one forward pass, mean of the
        last hidden state over the non-padding tokens).
    pooling
        Decoder LLMs only: ``"mean"`` over all tokens (the paper) or ``"genes"`` over the gene list only (an encoder
        passed as ``model`` keeps its own; ``uns`` records the pooling used).
    trust_remote_code
        Let a decoder model run its own code (off unless asked).
    batch_size
        Texts per model call, for text models that batch (the bundled sentence-transformer embeds each text alone,
        so that a text's vector does not depend on the texts beside it).
    key_added
        ``obsm`` key; the parameters go to ``uns[key_added.removeprefix('X_')]``.
    copy
        {doc_copy}

    Returns
    -------
    ``None``, or a copy when ``copy=True``. Writes

    ``obsm['{key_added}']``
        Semantic vectors (float32, n_obs x model dimension).
    ``uns['semantic']['params']`` (the ``uns`` key is ``key_added`` without its ``X_`` prefix)
        ``model``, ``backend``, ``revision`` (weights fingerprint), ``pooling``, ``mode``, ``top_k``, ``prompt``,
        ``gene_text`` (source), ``gene_text_coverage`` (share of the modelled genes with a symbol that have a
        description), ``gene_symbols`` (the column given, ``""`` for the default), ``n_texts``,
        ``n_genes_without_symbol``, ``n_genes_not_in_table``, ``cache_dir`` (the cache folder used, ``""`` when none)
        and ``cache_hits``.
    """
    check_adata(adata)
    check_integer(top_k, "top_k")
    check_integer(batch_size, "batch_size")
    if mode not in ("symbols", "genes"):
        raise ValueError(f"mode must be 'symbols' or 'genes', got {mode!r}")
    genes = require_prepared(adata)

    symbols = _resolve_symbols(adata, gene_symbols)[genes]
    usable = np.array([isinstance(s, str) and s.strip() != "" for s in symbols])
    n_without_symbol = int((~usable).sum())
    if not usable.any():  # every spot's vector would be zero
        raise ValueError(
            f"none of the {len(symbols)} modelled genes has a symbol (their names are empty or missing): pass "
            "gene_symbols= the var column with gene symbols (CLI: --gene-symbols), or leave the semantic step out "
            "(run_pipeline's semantics=False; CLI: --no-semantics)"
        )
    if n_without_symbol:
        logg.warning(f"{n_without_symbol} modelled genes have no symbol and are left out of the texts")
    # the device is resolved when the weights load: a fully cached run never imports torch
    encoder = load_text_encoder(model, backend=backend, pooling=pooling, trust_remote_code=trust_remote_code)
    is_table = isinstance(encoder, GeneTable)  # looked up, never cached
    n_not_in_table = 0
    if is_table:
        if mode != "genes":
            raise ValueError("a table of gene vectors gives gene vectors only: use mode='genes' with it")
        if gene_text is not None:
            raise ValueError(
                "gene_text is read by a text model, but model is a table of gene vectors, whose vectors are looked "
                "up by symbol: leave gene_text out (or embed the descriptions with a text model)"
            )
        table_rows = np.where(usable, encoder.lookup(np.where(usable, symbols, "")), -1)
        n_not_in_table = int((usable & (table_rows < 0)).sum())
        if n_not_in_table:
            logg.warning(f"{n_not_in_table} modelled genes are not in the gene-vector table and are left out")
        usable &= table_rows >= 0
        if not usable.any():
            raise ValueError(
                "none of the modelled genes is in the gene-vector table: check that its index holds symbols"
            )

    knowledge = resolve_gene_text(gene_text, symbols[usable]) if gene_text is not None else None
    with_text = np.array(
        [knowledge is not None and u and knowledge.key(s) is not None for s, u in zip(symbols, usable, strict=True)]
    )
    coverage = float(with_text.sum() / max(usable.sum(), 1)) if knowledge is not None else 0.0
    if knowledge is not None and not with_text.any():
        logg.warning(
            "the gene descriptions match none of the modelled genes (are they keyed by the same symbols? see "
            "gene_symbols=): every gene is read by its symbol alone"
        )
    elif knowledge is not None:
        logg.info(
            f"gene descriptions for {int(with_text.sum())} of {int(usable.sum())} modelled genes ({coverage:.0%})"
        )

    X = sp.csr_matrix(adata.layers[C.SCALED_LAYER])  # read in place: no copy of a CSR layer
    usable_columns = np.zeros(adata.n_vars, dtype=bool)
    usable_columns[genes] = usable
    top_idx, top_val = _top_genes(X, usable_columns, top_k)
    top_idx = np.where(top_idx >= 0, np.cumsum(genes)[top_idx] - 1, -1)  # var column -> modelled gene
    prompt = PROMPT if mode == "symbols" else ""
    folder = None if is_table else settings.cache_dir
    cache = None
    if folder is not None and encoder.identity is None:
        logg.info(
            "the model has no stable identity (give it an `identity`, see semst_sc.semantics.TextEncoder): "
            "its vectors are not cached"
        )
    elif folder is not None:
        cache = SemanticCache.open(folder, encoder.identity, prompt, mode)  # None, with a warning, when unusable
    progress = settings.progress

    def embed(texts: list[str]) -> tuple[np.ndarray, int]:
        unique, inverse = np.unique(np.array(texts, dtype=object), return_inverse=True)
        unique = unique.tolist()

        def compute(batch):
            return encoder.encode(batch, batch_size=batch_size, progress=progress)

        vectors, hits = cache.get_or_compute(unique, compute) if cache is not None else (compute(unique), 0)
        return vectors[inverse.ravel()], hits

    hits = 0
    if mode == "symbols":
        label = knowledge.label if knowledge is not None else str
        lists = [", ".join(label(symbols[i]) for i in row[row >= 0]) for row in top_idx]
        unique, inverse = np.unique(np.array(lists, dtype=object), return_inverse=True)
        texts = [f"{PROMPT} {C.GENES_MARKER} {g if g else 'none'}" for g in unique]
        vectors, hits = embed(texts)
        vectors = vectors[inverse.ravel()]
    else:
        used = np.flatnonzero(np.bincount(top_idx[top_idx >= 0], minlength=len(symbols)))
        if is_table:  # symbols looked up, no text embedded
            texts = []
            gene_vectors = encoder.encode([symbols[i] for i in used])
        else:
            texts = [knowledge.text(symbols[i]) if knowledge is not None else str(symbols[i]) for i in used]
            gene_vectors, hits = embed(texts)
        position = np.full(len(symbols), -1)
        position[used] = np.arange(len(used))
        vectors = _weighted_mean(gene_vectors, position, top_idx, top_val)
    logg.info(
        f"embedded {len(texts)} texts for {adata.n_obs} spots with {encoder.name}"
        + (f" ({hits} from the cache in {folder})" if cache is not None else "")
    )

    out = output_of(adata, copy)
    out.obsm[key_added] = vectors.astype(np.float32, copy=False)
    out.uns[C.uns_key(key_added)] = {
        "params": {
            "model": encoder.name,
            "backend": encoder.backend,
            "revision": encoder.revision,
            "pooling": getattr(encoder, "pooling", ""),  # an encoder passed as model= keeps its own
            "mode": mode,
            "top_k": top_k,
            "prompt": prompt,
            "gene_text": knowledge.source if knowledge is not None else "",
            "gene_text_coverage": coverage,
            "gene_symbols": gene_symbols or "",
            "n_texts": len(texts),
            "n_genes_without_symbol": n_without_symbol,
            "n_genes_not_in_table": n_not_in_table,
            "cache_dir": str(folder) if cache is not None else "",
            "cache_hits": hits,
            "prepared": prepared_of(adata),  # the modelled genes of this run of sst.pp.prepare
        }
    }
    return out if copy else None


def _resolve_symbols(adata: AnnData, column: str | None, *, log: bool = True) -> np.ndarray:
    """Return one symbol per gene (object array, NaN where unknown); ``log``: say which column they come from."""
    if column is not None:
        if column not in adata.var:
            raise KeyError(f"var['{column}'] not found; var columns: {list(adata.var.columns)}")
        return adata.var[column].astype(object).to_numpy()
    if not looks_like_ensembl(adata.var_names):
        return adata.var_names.to_numpy(dtype=object)
    for candidate in C.SYMBOL_COLUMNS:
        if candidate in adata.var and not looks_like_ensembl(adata.var[candidate].dropna()):
            if log:
                logg.info(f"reading gene symbols from var['{candidate}']")
            symbols = adata.var[candidate].astype(object).to_numpy()
            unresolved = np.array([looks_like_ensembl([s]) for s in symbols])
            symbols[unresolved] = np.nan
            return symbols
    near = [str(c) for c in adata.var.columns if str(c).lower() in C.SYMBOL_COLUMNS]  # 'Symbol', 'Gene_Name'
    python, cli = (f"'{near[0]}'", near[0]) if near else ("'<var column with symbols>'", "COLUMN")
    raise ValueError(
        "var_names look like Ensembl IDs and no gene-symbol column was found: reading genes as text (the semantic "
        f"step, naming domains, queries) needs gene symbols. Pass gene_symbols={python} (CLI: --gene-symbols {cli}; "
        f"looked for {', '.join(C.SYMBOL_COLUMNS)}; var columns: {list(adata.var.columns)})"
    )


def _top_genes(X: sp.csr_matrix, usable: np.ndarray, k: int, chunk: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """Per spot, the indices (-1 padded) and values of the ``k`` highest positive entries, highest first.

    Ties are broken by the lower gene index. Only the stored entries are read, ``chunk`` spots at a time.
    """
    n = X.shape[0]
    idx = np.full((n, k), -1, dtype=np.int64)
    val = np.zeros((n, k), dtype=np.float32)
    for start in range(0, n, chunk):
        block = X[start : start + chunk]  # a copy
        block.sum_duplicates()  # each row's entries once, in gene order
        m = block.shape[0]
        keep = (block.data > 0) & usable[block.indices]
        rows = np.repeat(np.arange(m), np.diff(block.indptr))[keep]
        cols, vals = block.indices[keep], block.data[keep]
        # each row's k-th highest value, then the entries at least as high, highest first (ties stay in gene order)
        top = vals >= np.partition(_left_aligned(rows, vals, m, k, -np.inf), -k, axis=1)[rows, -k]
        rows, cols, vals = rows[top], cols[top], vals[top]
        top_vals = _left_aligned(rows, vals, m, k, 0)
        order = np.argsort(-top_vals, axis=1, kind="stable")[:, :k]
        idx[start : start + m] = np.take_along_axis(_left_aligned(rows, cols, m, k, -1), order, axis=1)
        val[start : start + m] = np.take_along_axis(top_vals, order, axis=1)
    return idx, val


def _left_aligned(rows: np.ndarray, values: np.ndarray, m: int, width: int, fill: float) -> np.ndarray:
    """Each row's ``values`` (``rows`` sorted) left-aligned in an ``m x max(width, longest row)`` array of ``fill``."""
    sizes = np.bincount(rows, minlength=m)
    out = np.full((m, max(sizes.max(initial=0), width)), fill, dtype=values.dtype)
    out[rows, np.arange(len(rows)) - (np.cumsum(sizes) - sizes)[rows]] = values
    return out


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
