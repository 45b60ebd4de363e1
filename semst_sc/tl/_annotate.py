from __future__ import annotations

import warnings
from numbers import Real
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData
from scanpy import logging as logg
from scipy.stats import false_discovery_control, hypergeom

from .. import _constants as C
from .._docs import doc_params
from .._utils import check_adata, check_integer, domain_labels, names_column, output_of
from ..semantics._gene_text import organism_of
from ._catalogue import BRAIN_REGIONS, MARKER_SYMBOLS, Entry, check_tissue, entries_for, guess_tissue
from ._gene_knowledge import (
    encode,
    gene_table,
    gene_texts,
    is_noise,
    lognormalised,
    lookup,
    neighbourhood_pool,
    source,
)

#: GO root terms, never reported as enriched
_GO_ROOTS = {"biological_process", "cellular_component", "molecular_function"}
#: a combined marker z-score (Stouffer) of at least this is full support, whatever the domain's best match
_FULL_SUPPORT = 10.0


@doc_params
def annotate_domains(
    adata: AnnData,
    *,
    domain_key: str = C.DOMAIN_KEY,
    organism: Literal["human", "mouse"] | None = None,
    tissue: str | None = "auto",
    gene_text: Any = None,
    gene_symbols: str | None = None,
    layer: str | None = None,
    n_markers: int = 50,
    n_terms: int = 10,
    text_weight: float = 0.2,
    min_confidence: float = 0.15,
    distinct: bool = False,
    cell_types: bool = False,
    neighbourhood: bool | None = None,
    model: Any = None,
    key_added: str = C.DOMAIN_NAME_KEY,
    copy: bool = False,
) -> AnnData | None:
    """Name each domain from its marker genes and gene knowledge, with a confidence.

    For each domain: marker genes (Wilcoxon test of the domain against the other spots, scanpy's
    :func:`~scanpy.tl.rank_genes_groups`, on log-normalised counts; mitochondrial, ribosomal and housekeeping genes and
    control probes left out); GO biological-process and cellular-component terms enriched among them (hypergeometric
    test against the genes read, Benjamini-Hochberg; direct annotations of the gene table); and the best match in a
    built-in catalogue of 53 tissue compartments and cell types (white matter, cortical layers, glia, interneurons,
    vasculature, immune and stromal cells, lymphoid zones, epithelium, tumour, olfactory bulb layers, ...). The marker
    support of an entry is the combined evidence that its markers are higher in the domain than in the rest of the
    slide: the Wilcoxon z-scores of the entry's measured markers, combined by Stouffer's method (sum over the square
    root of their number), scaled by the domain's best support (at least 10) and clipped to [0, 1]. When gene
    descriptions are available it is combined with a text similarity: how much closer the entry's description is to the
    mean text vector of the domain's markers than to those of the slide's other domains (scaled to [0, 1]); the text
    only re-ranks entries the markers support. Domains are named after compartments (layers, white matter, meninges,
    vessels, regions, epithelium, ...), not after cell types scattered among others (interneurons, microglia, immune
    cells), unless ``cell_types=True``. Each domain is named after its best match; with ``distinct=True`` the domains
    are named together, each after a different entry: the assignment of entries to domains with the largest total score
    (scipy's :func:`~scipy.optimize.linear_sum_assignment`). Without gene descriptions the names come from the markers
    alone, without terms, and the log says so.

    Parameters
    ----------
    adata
        Spots with raw counts and domains in ``obs[domain_key]``, e.g. the ``.h5ad`` ``semst-sc run`` writes.
        After :func:`semst_sc.pp.prepare` the modelled genes are read, and every catalogue marker measured (a marker
        that missed the highly variable genes still counts), from where prepare found the counts.
    domain_key
        ``obs`` column of the domains.
    organism
        ``"human"`` or ``"mouse"`` (the gene table read); ``None``: guessed from the case of the symbols
        (mouse when upper-case symbols include mouse-only ones such as ``0610007N19RIK``).
    tissue
        Where the slide comes from, to name its domains only after compartments found there: ``"brain"``, a brain
        region (``"cortex"``, ``"hippocampus"``, ``"striatum"``, ``"thalamus"``, ``"hypothalamus"``,
        ``"cerebellum"``, ``"olfactory bulb"``: its entries, the whole brain's and the immune, vascular and stromal
        ones) or ``"non-neural"`` (every tissue outside the nervous system); ``"auto"``: guessed from the domains'
        best-supported entries in the whole catalogue (``"brain"`` when more of them belong to the nervous system
        than lie outside it, or a brain region when more than half of them are that region's; ``"non-neural"``
        when fewer; the whole catalogue on a tie; logged and recorded);
        ``None``: the whole catalogue.
    gene_text
        Gene knowledge (full names, GO terms, summaries): ``None`` reads
        :func:`semst_sc.datasets.gene_descriptions` of ``organism`` when its files are there and goes on without
        otherwise; ``False``: none; ``"human"``/``"mouse"``; a derived table or a folder of NCBI files (fetch them
        with ``sst.datasets.gene_descriptions(organism, path, download=True)``); or a DataFrame (symbol index or
        column, ``full_name``/``go_bp``/``go_cc``/``summary`` columns).
    gene_symbols
        ``var`` column with gene symbols; by default ``var_names``, or the usual symbol columns when those are
        Ensembl IDs (as :func:`semst_sc.pp.gene_semantics`).
    layer
        Layer with raw counts when :func:`semst_sc.pp.prepare` has not run (``None``: ``X``, or ``layers['counts']``
        when ``X`` holds no counts).
    n_markers
        Top markers per domain (adjusted p < 0.05, log fold change > 0.25), ranked by the Wilcoxon score.
    n_terms
        Enriched terms reported per domain (adjusted p < 0.05).
    text_weight
        Weight of the text similarity in the score, in [0, 1] (0: markers alone). The text model reading gene
        descriptions is a weak signal: markers weigh four times as much by default.
    min_confidence
        Below this confidence a domain is named ``"unassigned"`` (its best match stays in the table).
    distinct
        Name the domains after different entries (the domains beyond the number of entries take their best match);
        ``False``: each domain after its own best match. Measured on 7 labelled data sets
        (``benchmarks/results/annotation``): distinct names are right for fewer regions, with the data set's
        ``tissue`` given or not; a domain that fits two entries (white matter) can lose its own to a weaker domain.
    cell_types
        Name domains after cell types as well (interneurons, microglia, OPCs, astrocytes, immune and mural cells),
        e.g. for clusters of single cells rather than spatial domains; ``False``: compartments alone.
    neighbourhood
        Rank the markers on each observation's neighbourhood (``obsp['semst_neighbourhood']``, which
        :func:`semst_sc.pp.prepare` writes at cell resolution), as the domains were found from them; ``False``: on each
        observation alone (at cell resolution: the markers of the cell types a domain holds more of); ``None``: the
        neighbourhood where it is there.
    model
        Text model (``None``: the bundled all-MiniLM-L6-v2; see :func:`semst_sc.semantics.load_text_encoder`).
    key_added
        ``obs`` key of the names; the table goes to ``uns[key_added.removesuffix('_name') + '_annotation']``.
    copy
        {doc_copy}

    Returns
    -------
    ``None``, or a copy when ``copy=True``. Writes

    ``obs['{key_added}']`` (``'semst_domain_name'``)
        The name of each spot's domain (categorical; ``"unassigned"`` below ``min_confidence``).
    ``uns[...]`` (``'semst_domain_annotation'``: ``key_added`` with ``_annotation`` for ``_name``)
        ``domains``: one row per domain, in the column's order (its categories', else numbers by value)
        (``domain``, ``name``, ``confidence`` in [0, 1], ``best_match`` (the entry the domain was matched to: its
        name above ``min_confidence``), ``score``, ``first_choice`` (the entry that
        fits the domain best on its own; another domain may fit it better), ``runner_up`` (the domain's second
        best entry; with ``distinct``, its best entry no other domain was matched to, or, every entry taken, its
        best other than its own), ``runner_up_score``, ``n_spots``, ``evidence`` (the matched entry's markers that
        are up in the domain, strongest first, with their Wilcoxon z-scores: why the name was given),
        ``markers_measured`` of the entry's ``markers_listed`` (a name resting on one measured marker of a targeted
        panel is weaker evidence than its confidence alone says), ``markers``
        and ``terms`` as ``"; "``-joined text, terms with their adjusted p-values); ``terms``: every enriched term
        (``domain``, ``term``, ``ontology``, ``n_genes``, ``pvalue``, ``padj``, ``genes``); ``params``. The
        confidence is the match's score less half the runner-up's: a close second halves it.
    """
    check_adata(adata)
    if domain_key not in adata.obs:
        raise KeyError(f"obs['{domain_key}'] not found: run sst.tl.cluster(adata) first, or pass domain_key=")
    if holds_other_values(adata, key_added, domain_key):
        raise ValueError(
            f"obs['{key_added}'] holds other values than domain names of an earlier annotation, and would be "
            "overwritten: choose another key_added"
        )
    for name, value in (("text_weight", text_weight), ("min_confidence", min_confidence)):
        if isinstance(value, bool) or not isinstance(value, Real) or not 0 <= value <= 1:
            raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    check_tissue(tissue)
    check_integer(n_markers, "n_markers")
    check_integer(n_terms, "n_terms", minimum=0)
    labels = domain_labels(adata.obs[domain_key]).remove_unused_categories()
    sizes = pd.Series(labels).value_counts()
    small = sizes[sizes < 2]
    if len(small):
        raise ValueError(
            f"domain {small.index[0]!r} of obs['{domain_key}'] has {int(small.iloc[0])} spot: markers need at least "
            "2 spots per domain; merge it into a neighbour or cluster again"
        )
    if len(sizes) < 2:
        raise ValueError(f"obs['{domain_key}'] has {len(sizes)} domain: naming domains needs at least 2")

    pool = neighbourhood_pool(adata, neighbourhood)
    X, symbols = lognormalised(adata, layer, gene_symbols, also=MARKER_SYMBOLS, pool=pool)  # catalogue markers too
    organism = organism_of(symbols, organism)
    table = gene_table(gene_text, organism)
    if table is None:
        logg.warning("no gene knowledge: names from the catalogue's markers alone, no enriched terms")

    markers, z, tested = _markers(X, symbols, labels, n_markers)
    requested = tissue
    if tissue == "auto":
        everything = entries_for(None, cell_types=cell_types)
        support = _support(z, tested, everything)
        tissue = guess_tissue([everything[j] for j, m in zip(support.argmax(axis=1), markers, strict=True) if m])
        logg.info(f"tissue guessed from the domains' best matches: {tissue or 'any (the whole catalogue)'}")
    catalogue = entries_for(tissue, cell_types=cell_types)
    support = _support(z, tested, catalogue)
    domain_names = list(labels.categories.astype(str))
    terms = _enrichment(markers, domain_names, symbols, table) if table is not None else _no_terms()
    similarity = np.zeros_like(support)
    weight = text_weight if table is not None else 0.0
    model_name = ""
    if weight > 0 and any(markers):
        similarity, model_name = _text_similarity(markers, symbols, table, model, catalogue)
    score = (1 - weight) * support + weight * similarity * (support > 0)  # text re-ranks what markers support

    matched, second = _match(score, distinct)
    spelled = {str(g).upper(): str(g) for g in symbols[::-1]}  # as measured (the first of duplicates): Penk, not PENK
    first_choice = np.argmax(score, axis=1)
    rows = []
    for i, domain in enumerate(labels.categories):
        best = matched[i]
        confident = len(markers[i]) > 0
        confidence = float(np.clip(score[i, best] - 0.5 * score[i, second[i]], 0, 1)) if confident else 0.0
        domain_terms = terms[terms["domain"] == str(domain)].head(n_terms)
        rows.append(
            {
                "domain": str(domain),
                "name": catalogue[best].name if confidence >= min_confidence else C.UNASSIGNED,
                "confidence": confidence,
                "best_match": catalogue[best].name if confident else "",
                "score": float(score[i, best]) if confident else 0.0,
                "first_choice": catalogue[first_choice[i]].name if confident else "",
                "runner_up": catalogue[second[i]].name if confident else "",
                "runner_up_score": float(score[i, second[i]]) if confident else 0.0,
                "n_spots": int(sizes[domain]),
                "evidence": _evidence(z[i], tested, catalogue[best], spelled) if confident else "",
                "markers_measured": len(_marker_columns(tested, catalogue[best])) if confident else 0,
                "markers_listed": catalogue[best].n_listed if confident else 0,
                "markers": "; ".join(markers[i]),
                "terms": "; ".join(
                    f"{t} ({p:.1e})" for t, p in zip(domain_terms["term"], domain_terms["padj"], strict=True)
                ),
            }
        )
    domains = pd.DataFrame(rows)
    if tissue == "brain":
        _warn_of_several_regions(domains, [catalogue[best] for best in matched])
    names = domains.set_index("domain")["name"]
    unnamed = domains.loc[domains["name"] == C.UNASSIGNED, "domain"].tolist()
    if unnamed:
        logg.warning(f"{len(unnamed)} domain(s) without markers or a confident match are 'unassigned': {unnamed}")

    out = output_of(adata, copy)
    spot_names = pd.Series(np.asarray(labels, dtype=object), index=adata.obs_names).map(names)
    out.obs[key_added] = pd.Categorical(spot_names, categories=list(dict.fromkeys(domains["name"])))
    out.uns[f"{key_added.removesuffix('_name')}_annotation"] = {
        "domains": domains,
        "terms": terms,
        "params": {
            "domain_key": domain_key,
            "key_added": key_added,
            "organism": organism,
            "tissue": tissue or "",
            "tissue_requested": requested or "",
            "neighbourhood": pool is not None,
            "gene_text": source(gene_text, table, organism),
            "gene_symbols": gene_symbols or "",
            "n_genes": len(symbols),
            "n_markers": n_markers,
            "n_terms": n_terms,
            "text_weight": weight,
            "min_confidence": min_confidence,
            "distinct": distinct,
            "cell_types": cell_types,
            "model": model_name,
            "catalogue_size": len(catalogue),
        },
    }
    return out if copy else None


def holds_other_values(adata: AnnData, key_added: str, domain_key: str) -> bool:
    """Return True when ``obs[key_added]`` holds values naming them would overwrite: not an earlier run's names."""
    table_key = f"{key_added.removesuffix('_name')}_annotation"
    earlier = table_key in adata.uns and names_column(table_key, adata.uns[table_key]) == key_added
    return key_added in adata.obs and (key_added == domain_key or not earlier)


def _match(score: np.ndarray, distinct: bool) -> tuple[np.ndarray, np.ndarray]:
    """Each domain's entry and runner-up (indices into the catalogue) from the domains x entries scores.

    ``distinct``: the entries go to the domains with the largest total score, one entry per domain (the domains beyond
    the number of entries take their best), and a domain's runner-up is its best entry that no other domain took
    (every entry taken: its best other than its own); otherwise each domain's best and second best entries.
    """
    order = np.argsort(-score, axis=1, kind="stable")
    if not distinct:
        return order[:, 0], order[:, 1]
    from scipy.optimize import linear_sum_assignment

    matched = order[:, 0].copy()
    rows, cols = linear_sum_assignment(score, maximize=True)
    matched[rows] = cols
    own = np.zeros(score.shape, dtype=bool)
    own[np.arange(len(score)), matched] = True
    taken_by_others = (own.sum(axis=0) - own) > 0
    free = np.where(taken_by_others | own, -np.inf, score)
    other = np.argmax(np.where(own, -np.inf, score), axis=1)  # a domain matched to its second best: not order[:, 1]
    second = np.where(np.isfinite(free).any(axis=1), np.argmax(free, axis=1), other)
    return matched, second


def _warn_of_several_regions(domains: pd.DataFrame, entries: list[Entry]) -> None:
    """Warn when the names of one slide come from several brain regions: the user may know it is one of them."""
    regions: dict[str, list[str]] = {}
    for domain, name, entry in zip(domains["domain"], domains["name"], entries, strict=True):
        own = [region for region in entry.found_in if region in BRAIN_REGIONS]
        if name != C.UNASSIGNED and len(own) == 1:  # an entry of one region (not glia, vessels, ...)
            regions.setdefault(own[0], []).append(domain)
    if len(regions) > 1:
        where = "; ".join(f"{region}: domains {', '.join(found)}" for region, found in regions.items())
        example = max(regions, key=lambda region: len(regions[region]))
        logg.warning(
            f"the domains are named after {len(regions)} brain regions ({where}); if the slide shows one region, "
            f"name it: annotate_domains(..., tissue='{example}') (CLI: --tissue '{example}')"
        )


def _markers(
    X: sp.csr_matrix, symbols: np.ndarray, labels: pd.Categorical, n_markers: int
) -> tuple[list[list[str]], np.ndarray, dict[str, int]]:
    """Each domain's top markers, and the Wilcoxon z-score of every tested gene in every domain (domains x genes).

    Wilcoxon rank-sum test of each domain against the other spots; noise genes are left out. Returns the markers,
    the z-scores and the column of each tested gene's upper-cased symbol (the first of duplicated symbols).
    """
    import scanpy as sc

    data = AnnData(X, obs=pd.DataFrame({"domain": labels}, index=np.arange(X.shape[0]).astype(str)))
    data.var_names = pd.Index(symbols).astype(str)
    data.var_names_make_unique()
    keep = np.array([not is_noise(s) for s in symbols])
    data = data[:, keep].copy()
    level = sc.settings.verbosity  # scanpy's own timing lines of this inner step: shown at debug level only
    with (
        sc.settings.verbosity.override(level if level >= sc.Verbosity.debug else min(level, sc.Verbosity.warning)),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore", pd.errors.PerformanceWarning)  # scanpy's, one per domain beyond about 20
        sc.tl.rank_genes_groups(data, "domain", method="wilcoxon", use_raw=False, n_genes=data.n_vars, pts=False)
    result = data.uns["rank_genes_groups"]
    column = {name: j for j, name in enumerate(data.var_names)}
    out, z = [], np.zeros((len(labels.categories), data.n_vars))
    for i, domain in enumerate(labels.categories):
        frame = pd.DataFrame(
            {key: result[key][str(domain)] for key in ("names", "scores", "logfoldchanges", "pvals_adj")}
        )
        z[i, [column[name] for name in frame["names"]]] = frame["scores"]
        good = (frame["pvals_adj"] < 0.05) & (frame["logfoldchanges"] > 0.25) & (frame["scores"] > 0)
        out.append(frame.loc[good, "names"].head(n_markers).astype(str).tolist())
    tested = {}
    for j, symbol in enumerate(symbols[keep]):
        tested.setdefault(str(symbol).upper(), j)
    return out, np.nan_to_num(z), tested


def _support(z: np.ndarray, tested: dict[str, int], catalogue: tuple[Entry, ...]) -> np.ndarray:
    """Marker support of each entry in each domain (domains x entries, in [0, 1]).

    Stouffer's combination of the Wilcoxon z-scores of the entry's tested markers, scaled by the domain's largest (at
    least ``_FULL_SUPPORT``); an entry without a tested marker has none.
    """
    combined = np.zeros((z.shape[0], len(catalogue)))
    for j, entry in enumerate(catalogue):
        found = list(_marker_columns(tested, entry).values())
        if found:
            combined[:, j] = z[:, found].sum(axis=1) / np.sqrt(len(found))
    scale = np.maximum(combined.max(axis=1, keepdims=True, initial=0), _FULL_SUPPORT)
    return np.clip(combined / scale, 0, 1)


def _marker_columns(tested: dict[str, int], entry: Entry) -> dict[str, int]:
    """Return the z-score column of each of the entry's tested markers, by upper-cased symbol."""
    return {gene: tested[gene] for gene in dict.fromkeys(g.upper() for g in entry.markers) if gene in tested}


def _evidence(z: np.ndarray, tested: dict[str, int], entry: Entry, spelled: dict[str, str], n: int = 5) -> str:
    """Return the entry's tested markers up in the domain, strongest first: ``"RORB (12.3); ..."`` (z-scores).

    ``spelled``: the measured symbol of each upper-cased one.
    """
    found = _marker_columns(tested, entry)
    up = pd.Series(z[list(found.values())], index=[spelled[gene] for gene in found], dtype=float)
    up = up[up > 0].sort_values(ascending=False, kind="stable").head(n)
    return "; ".join(f"{gene} ({value:.1f})" for gene, value in up.items())


def _no_terms() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "domain": pd.Series(dtype=str),
            "term": pd.Series(dtype=str),
            "ontology": pd.Series(dtype=str),
            "n_genes": pd.Series(dtype=int),
            "pvalue": pd.Series(dtype=float),
            "padj": pd.Series(dtype=float),
            "genes": pd.Series(dtype=str),
        }
    )


def _enrichment(markers: list[list[str]], domains: list[str], symbols: np.ndarray, table: pd.DataFrame) -> pd.DataFrame:
    """GO process and component terms enriched among each domain's markers (hypergeometric, BH per domain)."""
    rows = lookup(table, symbols)
    annotated = rows >= 0
    universe = symbols[annotated]
    incidence, terms = [], []
    for ontology, column in (("BP", "go_bp"), ("CC", "go_cc")):
        if column not in table:
            continue
        values = table[column].to_numpy()[rows[annotated]]
        index: dict[str, int] = {}
        pairs = [
            (g, index.setdefault(t, len(index)))
            for g, text in enumerate(values)
            for t in dict.fromkeys(x.strip() for x in str(text).split(";"))
            if t and t not in _GO_ROOTS
        ]
        if not pairs:
            continue
        g, t = np.array(pairs).T
        incidence.append(sp.csr_matrix((np.ones(len(g)), (g, t)), shape=(len(universe), len(index))))
        terms += [(name, ontology) for name in index]
    if not incidence:
        return _no_terms()
    G = sp.hstack(incidence).tocsc()
    K = np.asarray(G.sum(axis=0)).ravel()
    position = {s: i for i, s in enumerate(universe)}
    out = []
    for domain, genes in zip(domains, markers, strict=True):
        hits = [position[m] for m in genes if m in position]
        if len(hits) < 2:
            continue
        annotated_hits = G[hits].toarray() > 0  # markers x terms
        k = annotated_hits.sum(axis=0)
        tested = np.flatnonzero(k >= 2)
        if len(tested) == 0:
            continue
        p = hypergeom.sf(k[tested] - 1, len(universe), K[tested], len(hits))
        padj = false_discovery_control(p)
        for j in np.argsort(p, kind="stable"):
            if padj[j] >= 0.05:
                continue
            term = tested[j]
            members = [universe[h] for h, has in zip(hits, annotated_hits[:, term], strict=True) if has]
            out.append((domain, *terms[term], int(k[term]), float(p[j]), float(padj[j]), ", ".join(members)))
    frame = pd.DataFrame(out, columns=["domain", "term", "ontology", "n_genes", "pvalue", "padj", "genes"])
    return frame


def _text_similarity(
    markers: list[list[str]], symbols: np.ndarray, table, model, catalogue: tuple[Entry, ...]
) -> tuple[np.ndarray, str]:
    """How much more each entry's description resembles a domain's markers than the slide's other domains' markers.

    A domain's vector is the rank-weighted mean text vector of its markers; its cosine with each entry is taken
    relative to the mean cosine of that entry over the domains (what the whole tissue shares, e.g. "neurons", does
    not name one domain), scaled by the largest such difference and clipped to [0, 1] (0 without markers).
    """
    genes = sorted({g for m in markers for g in m})
    entries = [f"{entry.name}: {entry.description}" for entry in catalogue]
    vectors, name = encode(gene_texts(np.array(genes, dtype=object), table) + entries, model, batch_size=64)
    gene_vectors, entry_vectors = vectors[: len(genes)], vectors[len(genes) :]
    position = {g: i for i, g in enumerate(genes)}
    has = np.array([len(m) > 0 for m in markers])
    cosine = np.zeros((len(markers), len(catalogue)))
    for i, m in enumerate(markers):
        if m:
            weights = 1 / np.log2(np.arange(len(m)) + 2)
            domain = weights @ gene_vectors[[position[g] for g in m]]
            norm = np.linalg.norm(domain)  # 0 where the model gave the markers' texts no vector at all
            cosine[i] = entry_vectors @ (domain / norm) if norm > 0 else 0
    contrast = np.where(has[:, None], cosine - cosine[has].mean(axis=0), 0)
    top = np.abs(contrast).max()
    return (np.clip(contrast / top, 0, 1) if top > 0 else contrast), name
