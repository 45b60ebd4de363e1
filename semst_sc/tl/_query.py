from __future__ import annotations

import textwrap
from typing import Any, Literal

import numpy as np
import pandas as pd
from anndata import AnnData
from scanpy import logging as logg

from .. import _constants as C
from .._docs import doc_params
from .._utils import check_adata, check_integer, output_of, params_of
from ..pp._gene_semantics import _resolve_symbols
from ..semantics._gene_text import organism_of
from ._catalogue import MARKER_SYMBOLS, TISSUES, check_tissue, entries_for
from ._gene_knowledge import encode, gene_table, gene_texts, is_noise, lognormalised, neighbourhood_pool, source

#: softmax temperature of the genes' weights (cosine similarities of all-MiniLM-L6-v2), chosen on query / region
#: pairs of osmFISH, BaristaSeq and the mouse olfactory bulb, not on DLPFC where the query is measured
#: (benchmarks/annotate.py)
_TEMPERATURE = 0.02
#: a query whose best gene (or catalogue entry) is less similar than this matches nothing the tissue is about: warned.
#: Set label-free on the simulated Xenium panel with the human gene text: 15 biological queries scored 0.44 ("T
#: cells") to 1.0, 7 unrelated ones ("zzqqxx", "banana", "the weather in Paris", ...) 0.16 to 0.32
MIN_SIMILARITY = 0.35
#: catalogue entries of other tissues this close to the best one make a query ambiguous without ``tissue=``: warned
#: ("granule cells": dentate gyrus 0.73, cerebellar granule layer 0.70, olfactory bulb granule cell layer 0.63)
AMBIGUOUS = 0.1
#: a gene carrying this share of the weights makes the query that gene's map: said
ONE_GENE = 0.9


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
    catalogue: bool = True,
    tissue: str | None = None,
    neighbourhood: bool | None = None,
    model: Any = None,
    key_added: str = C.QUERY_KEY,
    copy: bool = False,
) -> AnnData | None:
    """Score each spot for a free-text query ("myelination", "reactive astrocytes", "hypoxia", "B cells").

    Each gene's text (``"SYMBOL: full name. summary. GO: terms"`` from the gene descriptions, the bare symbol
    without them) and the query are embedded with the text model. The markers of the built-in catalogue of
    compartments and cell types (:func:`semst_sc.tl.annotate_domains`) are gene knowledge too: a gene listed by an
    entry is at least as relevant as the entry's name or description is similar to the query ("astrocytes" reaches
    AQP4 and SLC1A3 through the astrocyte entry, where the text of the genes alone points at glia in general); an entry
    is matched by its name, its description and the other names it is called by ("oligodendrocytes" and "myelin" reach
    white matter, "OPCs" the oligodendrocyte precursors).
    The ``n_genes`` most relevant genes drive the score, weighted by a softmax of their relevance (temperature
    0.02: a gene 0.05 less similar to the query than the most relevant one weighs 12 times less), so that the genes
    the query is about drive it, not the many loosely related ones of a small panel. A query that is a measured gene's
    symbol ("Mbp") or var name (an Ensembl ID) maps that gene, modelled or not. A spot's score is the logarithm
    of its weighted sum of those genes' counts per 10,000, standardised over the spots: pooling the counts before the
    logarithm lets a spot's few counts of sparse genes add up instead of each gene's noise being scaled up. At cell
    resolution the counts are those of each cell's neighbourhood, as the model reads them (:func:`semst_sc.pp.prepare`),
    so that the map shows where the query's cells are, not which single cells happened to catch its genes. The
    gene vectors are cached on disk with those of :func:`semst_sc.pp.gene_semantics` (:data:`semst_sc.settings`
    ``cache_dir``), so a repeated query embeds only the query. Deterministic: the same data and query give the same
    scores, whatever the cache held before (the bundled text model embeds each text alone).

    Parameters
    ----------
    adata
        Spots with raw counts; after :func:`semst_sc.pp.prepare` (``semst-sc run``'s output) its modelled genes and,
        with ``catalogue``, every catalogue marker measured.
    text
        The query.
    organism
        ``"human"`` or ``"mouse"``; ``None``: guessed from the case of the symbols (mouse when
        upper-case symbols include mouse-only ones such as ``0610007N19RIK``).
    gene_text
        Gene knowledge, as in :func:`semst_sc.tl.annotate_domains` (``None``: the descriptions of ``organism``
        when their files are there; ``False``: bare symbols, a much weaker query).
    gene_symbols
        ``var`` column with gene symbols (default: ``var_names``, or the usual columns when those are Ensembl IDs).
    layer
        Layer with raw counts when :func:`semst_sc.pp.prepare` has not run (``None``: ``X``, or ``layers['counts']``
        when ``X`` holds no counts).
    n_genes
        Genes that drive the score.
    catalogue
        Let the catalogue's markers count as above; ``False``: the genes' own text alone.
    tissue
        Keep the catalogue to the entries of this tissue, as in :func:`semst_sc.tl.annotate_domains` (``'brain'``, a
        brain region such as ``'cortex'`` or ``'olfactory bulb'``, or ``'non-neural'``): on an olfactory bulb,
        ``"granule cells"`` then reaches the bulb's granule cells, not the cerebellum's. ``None``: every entry.
    neighbourhood
        Score each observation's neighbourhood (``obsp['semst_neighbourhood']``, which :func:`semst_sc.pp.prepare`
        writes at cell resolution); ``False``: each observation alone; ``None``: the neighbourhood where it is there.
    model
        Text model (``None``: the bundled all-MiniLM-L6-v2).
    key_added
        ``obs`` key of the score; the genes and parameters go to ``uns[key_added]``.
    copy
        {doc_copy}

    Returns
    -------
    ``None``, or a copy when ``copy=True``. Writes

    ``obs['{key_added}']`` (``'semst_query'``)
        The score of each spot (float32, standardised: 0 is the average spot, positive where the query's genes are
        high). Several sections are standardised together, on one scale: a section richer in the query's genes scores
        higher, one sequenced deeper does not (the counts are per 10,000 first).
    ``uns['{key_added}']``
        ``genes``: the driving genes (``gene``, ``similarity``: its relevance to the query, ``weight``, summing to 1,
        and ``via``: the catalogue entry it came through, ``"its symbol"`` for the gene a query names by its symbol
        (ranked first), or ``""`` for its own text); ``params`` (``text``, ``organism``, ``gene_text``, ``model``,
        ``n_genes``, ``catalogue``, ``tissue`` (``""``: every entry), ``neighbourhood``, and ``best_entry`` with its
        similarity ``best_entry_similarity``).
    """
    check_adata(adata)
    if not isinstance(text, str) or not any(character.isalnum() for character in text):
        raise ValueError(f"the query text is empty: give words to search for, e.g. 'myelination', got {text!r}")
    check_integer(n_genes, "n_genes")
    check_tissue(tissue)
    if holds_other_scores(adata, key_added):
        raise ValueError(f"obs['{key_added}'] holds other values than a query's scores: choose another key_added")
    asked = _named_gene(adata, text.strip(), gene_symbols)  # a gene the query names, by its symbol or var name
    also = (MARKER_SYMBOLS if catalogue else frozenset()) | {asked.upper()}  # read even when not modelled
    pool = neighbourhood_pool(adata, neighbourhood)
    X, symbols = lognormalised(adata, layer, gene_symbols, also=also, pool=pool)
    keep = np.array([not is_noise(s) for s in symbols], dtype=bool)
    if not keep.any():
        raise ValueError(
            f"none of the {len(symbols)} genes can carry a query: all are mitochondrial, ribosomal or housekeeping "
            "genes or control probes (check gene_symbols=, or the genes kept)"
        )
    X, symbols = X[:, keep], symbols[keep]
    organism = organism_of(symbols, organism)
    table = gene_table(gene_text, organism)
    if table is None:
        logg.warning("no gene knowledge: the query is compared with bare gene symbols, a weak signal")

    entries = entries_for(tissue) if catalogue else ()
    names, descriptions = [e.name for e in entries], [f"{e.name}: {e.description}" for e in entries]
    also_called = [name for e in entries for name in e.also_called]
    texts = [*gene_texts(symbols, table), *names, *descriptions, *also_called, text.strip()]
    vectors, model_name = encode(texts, model, 64)
    relevance = vectors[:-1] @ vectors[-1]
    similarity, via = relevance[: len(symbols)], np.full(len(symbols), "", dtype=object)
    best_entry, best_match = "", float("nan")
    said = textwrap.shorten(text.strip(), 80, placeholder=" ...")  # the query as messages quote it
    upper = np.char.upper(symbols.astype(str))
    if entries:
        by_entry = relevance[len(symbols) :]
        match = np.maximum(by_entry[: len(entries)], by_entry[len(entries) : 2 * len(entries)])
        owner = np.repeat(np.arange(len(entries)), [len(e.also_called) for e in entries])
        np.maximum.at(match, owner, by_entry[2 * len(entries) :])  # an entry matches as well as its closest name
        similarity, via = _through_catalogue(similarity, symbols, entries, match)
        best = int(match.argmax())
        best_entry, best_match = names[best], float(match.max())
        if tissue is None:
            named_as = params_of(adata.uns.get(C.ANNOTATION_KEY)).get("tissue", "")  # the slide's names' tissue
            _warn_when_tissues_compete(said, entries, match, named_as)
        if best_match >= MIN_SIMILARITY and not set(upper) & {g.upper() for g in entries[best].markers}:
            logg.warning(
                f"the query {said!r} is closest to the catalogue's {best_entry!r} (similarity {best_match:.2f}), but "
                f"none of its markers ({', '.join(entries[best].spelled_for(organism)[:6])}, ...) is measured here: "
                "the genes' own text drives the map"
            )
    named = upper == asked.upper()  # a measured gene's symbol: that gene first
    similarity, via = np.where(named, 1.0, similarity), np.where(named, "its symbol", via)
    order = np.argsort(-similarity, kind="stable")
    n = min(n_genes, len(symbols))
    top = order[:n]
    if similarity[top[0]] < MIN_SIMILARITY:
        logg.warning(
            f"the query {said!r} matches no gene's text well (best: {symbols[top[0]]}, similarity "
            f"{similarity[top[0]]:.2f} < {MIN_SIMILARITY}): its map may mean little; ask in biological terms (a cell "
            "type, a process, a structure)"
        )
    weights = np.exp((similarity[top] - similarity[top[0]]) / _TEMPERATURE)
    weights /= weights.sum()
    if weights[0] >= ONE_GENE and via[top[0]] != "its symbol":
        through = f", through the catalogue's {via[top[0]]!r}" if via[top[0]] else ""
        logg.warning(
            f"the query {said!r} rests on one gene, {symbols[top[0]]} (weight {weights[0]:.2f}{through}): its map is "
            "that gene's expression (few of the genes the query is about are measured here; see "
            f"uns['{key_added}']['genes'])"
        )
    pooled = np.log1p(np.expm1(X[:, top].toarray().astype(np.float64)) @ weights)
    std = pooled.std()
    score = ((pooled - pooled.mean()) / (std if std > 0 else 1)).astype(np.float32)

    out = output_of(adata, copy)
    out.obs[key_added] = score
    out.uns[key_added] = {
        "genes": pd.DataFrame(
            {"gene": symbols[top], "similarity": similarity[top], "weight": weights, "via": via[top].astype(str)}
        ),
        "params": {
            "text": text.strip(),
            "organism": organism,
            "gene_text": source(gene_text, table, organism),
            "model": model_name,
            "n_genes": n,
            "catalogue": bool(catalogue),
            "tissue": tissue or "",
            "neighbourhood": pool is not None,
            "best_entry": best_entry,
            "best_entry_similarity": best_match,
        },
    }
    return out if copy else None


def holds_other_scores(adata: AnnData, key_added: str) -> bool:
    """Return True when ``obs[key_added]`` holds values a query's score would overwrite: not an earlier query's."""
    return key_added in adata.obs and "text" not in params_of(adata.uns.get(key_added))


def _named_gene(adata: AnnData, text: str, gene_symbols: str | None) -> str:
    """Return the symbol of the gene whose var name (an Ensembl ID) ``text`` is, else ``text`` itself."""
    hits = np.flatnonzero(adata.var_names.str.upper() == text.upper())
    if hits.size == 0:
        return text
    symbol = _resolve_symbols(adata, gene_symbols, log=False)[hits[0]]
    return symbol if isinstance(symbol, str) else text


def _warn_when_tissues_compete(said: str, entries, match: np.ndarray, named_as: str = "") -> None:
    """Warn when entries of different tissues match the query about as well as the best one does.

    Entries of the whole brain or of any tissue (immune, vascular) compete with none: ``tissue=`` keeps them.
    ``named_as``: the tissue the slide's domains were named for (:func:`semst_sc.tl.annotate_domains`), suggested
    first when it tells the tissues apart (a brain region or ``"non-neural"``).
    """
    close = [j for j in np.argsort(-match, kind="stable") if match[j] >= max(MIN_SIMILARITY, match.max() - AMBIGUOUS)]
    places = dict.fromkeys(t for j in close for t in entries[j].found_in[:1] if t in TISSUES and t != "brain")
    if len(places) > 1:
        matches = ", ".join(f"{entries[j].name} ({match[j]:.2f})" for j in close[:4]) + (", ..." if close[4:] else "")
        examples = ", ".join(repr(t) for t in list(places)[:3])
        if named_as in TISSUES and named_as != "brain":  # "granule cells" on a bulb: its own granule cells
            examples = f"{named_as!r}, the tissue its domains were named for (uns['{C.ANNOTATION_KEY}']); or {examples}"
        logg.warning(
            f"the query {said!r} matches catalogue entries of different tissues about as well: {matches}; pass "
            f"tissue= (e.g. {examples}; CLI: --tissue) to keep to the one the slide comes from"
        )


def _through_catalogue(similarity: np.ndarray, symbols: np.ndarray, entries, match: np.ndarray):
    """Lift each gene to the query similarity ``match`` of the best catalogue entry listing it, where that is higher.

    Returns the lifted similarities and, per gene, the entry it was lifted through (``""`` where its own text won).
    """
    upper = pd.Index([str(s).upper() for s in symbols])
    through = np.full((len(symbols), len(entries)), -np.inf)
    for j, entry in enumerate(entries):
        through[upper.isin([g.upper() for g in entry.markers]), j] = match[j]
    lifted = through.max(axis=1) > similarity
    names = np.array([e.name for e in entries], dtype=object)
    return np.maximum(similarity, through.max(axis=1)), np.where(lifted, names[through.argmax(axis=1)], "")
