"""What tl.annotate_domains and tl.query share: gene symbols, log-normalised counts, the gene table, text vectors."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData
from scanpy import logging as logg

from .. import _constants as C
from .._settings import settings
from .._utils import as_csr, find_counts, is_control_probe
from ..datasets._gene_descriptions import gene_descriptions, normalise_gene_table
from ..pp._gene_semantics import _resolve_symbols
from ..semantics import GeneTable, SemanticCache, load_text_encoder, resolve_gene_text

#: genes never taken as markers: mitochondrial, ribosomal (cytosolic and mitochondrial) and ubiquitous housekeeping
#: (nor an instrument's control probes and blank codewords: :func:`semst_sc._utils.is_control_probe`)
NOISE = re.compile(r"^(MT-|MT\.|MRP[LS]\d|RP[LS]\d|RPLP\d|RPSA$|RPS\d+[AXY]?\d*$)", re.IGNORECASE)
HOUSEKEEPING = frozenset(
    "ACTB ACTG1 GAPDH B2M EEF1A1 EEF2 TPT1 FTL FTH1 UBB UBC PPIA HSP90AB1 HSPA8 YWHAZ PGK1 TMSB4X TMSB10 MALAT1 "
    "NEAT1 CALM1 CALM2 PFN1 CFL1 MYL6 NACA HNRNPA1 SERF2 PTMA TUBA1B TUBB UBA52 FAU".split()
)


def is_noise(symbol: str) -> bool:
    """Return True for a mitochondrial, ribosomal or housekeeping gene, or a control probe (never a marker)."""
    return bool(NOISE.match(symbol)) or symbol.upper() in HOUSEKEEPING or is_control_probe(symbol)


def lognormalised(
    adata: AnnData,
    layer: str | None,
    gene_symbols: str | None,
    also: frozenset[str] = frozenset(),
    pool: sp.spmatrix | None = None,
) -> tuple[sp.csr_matrix, np.ndarray]:
    """Return log1p counts per 10,000 of the genes read (CSR, spots x genes) and their symbols.

    After :func:`semst_sc.pp.prepare` (as in ``semst-sc run``'s output) the modelled genes, and those whose upper-cased
    symbol is in ``also``, with the raw counts where prepare found them; otherwise every gene of ``layer`` (``None``:
    ``X``, or ``layers['counts']`` when ``X`` holds no counts). Genes without a symbol are left out. ``pool``: an
    observations x observations matrix the counts are pooled with first (row i: the weights of i's neighbourhood).
    """
    symbols = _resolve_symbols(adata, gene_symbols)
    prepared = C.PREPARE_KEY in adata.uns and C.MODELLED_KEY in adata.var
    if prepared and layer is None:
        layer = adata.uns[C.PREPARE_KEY]["params"].get("layer") or None
    genes = np.array(adata.var[C.MODELLED_KEY], dtype=bool) if prepared else np.ones(adata.n_vars, dtype=bool)
    genes |= np.array([isinstance(s, str) and s.upper() in also for s in symbols])
    genes &= np.array([isinstance(s, str) and s.strip() != "" for s in symbols])
    if not genes.any():
        raise ValueError("no gene has a symbol: pass gene_symbols='<var column with symbols>'")
    counts = sp.csr_matrix(find_counts(adata, layer)[1][:, genes], dtype=np.float32)
    if pool is not None:
        counts = sp.csr_matrix(as_csr(pool, np.float32) @ counts)
    totals = np.asarray(counts.sum(axis=1)).ravel()
    scale = np.divide(1e4, totals, out=np.zeros_like(totals), where=totals > 0)
    X = sp.diags(scale.astype(np.float32)) @ counts
    X.data = np.log1p(X.data)
    return sp.csr_matrix(X), symbols[genes].astype(str)


def neighbourhood_pool(adata: AnnData, neighbourhood: bool | None) -> sp.spmatrix | None:
    """Return the neighbourhoods the counts are pooled with (``obsp['semst_neighbourhood']``), or ``None``."""
    if neighbourhood not in (None, True, False):
        raise TypeError(f"neighbourhood must be None, True or False, got {neighbourhood!r}")
    if neighbourhood and C.NEIGHBOURHOOD_KEY not in adata.obsp:
        raise KeyError(
            f"obsp['{C.NEIGHBOURHOOD_KEY}'] not found: sst.pp.prepare writes it at cell resolution (run it, with "
            "resolution='cell' for spots), or pass neighbourhood=None"
        )
    return adata.obsp[C.NEIGHBOURHOOD_KEY] if neighbourhood is not False and C.NEIGHBOURHOOD_KEY in adata.obsp else None


def gene_table(gene_text: Any, organism: str) -> pd.DataFrame | None:
    """Return the gene-knowledge table (symbol index; ``full_name``, ``go_bp``, ``go_cc``, ``text``) or ``None``.

    ``gene_text``: ``None`` (``sst.datasets.gene_descriptions(organism)`` when its files are found, else nothing),
    ``False`` (nothing), ``"human"``/``"mouse"``, a derived table file or a folder of the NCBI files, a DataFrame, or
    a mapping (dict or Series) symbol -> text, as :func:`semst_sc.pp.gene_semantics` takes them.
    """
    if gene_text is False:
        return None
    if isinstance(gene_text, pd.DataFrame):
        return _with_text(normalise_gene_table(gene_text))
    if isinstance(gene_text, pd.Series | Mapping):
        texts = {str(k): "" if pd.isna(v) else str(v) for k, v in dict(gene_text).items()}
        return normalise_gene_table(pd.DataFrame({"text": list(texts.values())}, index=list(texts)))
    if gene_text is not None and not isinstance(gene_text, str | Path):
        raise TypeError(
            "gene_text must be None, False, 'human'/'mouse', a path, a DataFrame or a mapping symbol -> text, got "
            f"{type(gene_text).__name__}"
        )
    if gene_text is None or gene_text in ("human", "mouse"):
        try:
            return _cached_descriptions(gene_text or organism, None)
        except FileNotFoundError as error:
            if gene_text is not None:
                raise
            logg.warning(f"no gene descriptions ({str(error).split(':')[0]}): going on without gene knowledge")
            return None
    path = Path(gene_text).expanduser()
    if not path.exists():
        raise FileNotFoundError(
            f"gene_text {path} not found: pass a gene-description table or folder (see "
            "sst.datasets.gene_descriptions), a DataFrame, 'human'/'mouse', or False for none"
        )
    files = [path] if path.is_file() else sorted(p for p in path.iterdir() if p.is_file())
    version = tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files)  # an edited file is read again
    return _cached_descriptions(organism, str(path.resolve()), version)


@lru_cache(maxsize=2)
def _cached_descriptions(organism: str, path: str | None, version: tuple = ()) -> pd.DataFrame:
    """Return the gene table, read once per process and version of its files (the human table takes seconds)."""
    table = gene_descriptions(organism, path)
    return table[[c for c in ("full_name", "go_bp", "go_cc", "text") if c in table]]


def source(gene_text: Any, table: pd.DataFrame | None, organism: str) -> str:
    """Return what the gene knowledge came from, for ``uns[...]['params']`` (``""``: none)."""
    if table is None:
        return ""
    if isinstance(gene_text, pd.DataFrame):
        return "DataFrame"
    if isinstance(gene_text, pd.Series | Mapping):
        return "mapping"
    if gene_text is None or gene_text in ("human", "mouse"):
        return f"sst.datasets.gene_descriptions('{gene_text or organism}')"
    return str(Path(gene_text).expanduser().resolve())


def _with_text(table: pd.DataFrame) -> pd.DataFrame:
    if "text" not in table:
        knowledge = resolve_gene_text(table)
        table = table.assign(text=[knowledge.text(s) for s in table.index])
    return table


def lookup(table: pd.DataFrame, symbols: np.ndarray) -> np.ndarray:
    """Return the table row of each symbol (exact, then case-insensitive), -1 where absent."""
    exact = pd.Series(np.arange(len(table)), index=table.index)
    exact = exact[~exact.index.duplicated()]
    upper = pd.Series(np.arange(len(table)), index=table.index.str.upper())
    upper = upper[~upper.index.duplicated()]
    rows = exact.reindex(symbols).to_numpy()
    missing = np.isnan(rows)
    rows[missing] = upper.reindex(pd.Index(symbols[missing]).str.upper()).to_numpy()
    return np.nan_to_num(rows, nan=-1).astype(np.int64)


def encode(texts: list[str], model: Any, batch_size: int) -> tuple[np.ndarray, str]:
    """Embed ``texts`` with the text model (vectors cached as :func:`semst_sc.pp.gene_semantics` caches gene texts).

    Returns the unit-length vectors and the model's name.
    """
    if isinstance(model, pd.DataFrame | GeneTable):
        raise TypeError(
            "model is a gene-vector table, which has no vector for a description or a query: give a text model "
            "(None: the bundled all-MiniLM-L6-v2); gene tables are for sst.pp.gene_semantics"
        )
    encoder = load_text_encoder(model)
    cache = None
    if settings.cache_dir is not None and encoder.identity is not None:
        cache = SemanticCache.open(settings.cache_dir, encoder.identity, "", "genes")
    unique, inverse = np.unique(np.array(texts, dtype=object), return_inverse=True)

    def compute(batch):
        return encoder.encode(batch, batch_size=batch_size, progress=settings.progress)

    vectors = cache.get_or_compute(unique.tolist(), compute)[0] if cache is not None else compute(unique.tolist())
    vectors = vectors[inverse.ravel()]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1), encoder.name


def gene_texts(symbols: np.ndarray, table: pd.DataFrame | None) -> list[str]:
    """Each gene's text, ``"SYMBOL: full name. summary. GO: terms"`` (the bare symbol without a description)."""
    if table is None:
        return [str(s) for s in symbols]
    rows = lookup(table, symbols)
    texts = table["text"].to_numpy()
    out = []
    for symbol, row in zip(symbols, rows, strict=True):
        text = str(texts[row]) if row >= 0 else ""
        if text.upper().startswith(symbol.upper() + ":"):
            text = f"{symbol}:{text[len(symbol) + 1 :]}"  # the data's own spelling, as pp.gene_semantics writes it
        out.append(text or str(symbol))
    return out
