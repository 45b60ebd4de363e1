"""Naming and query measurement of ``sst.tl.annotate_domains`` and ``sst.tl.query`` on the labelled data sets.

    python benchmarks/run.py --dataset mouse_ob baristaseq1 baristaseq2 baristaseq3 osmfish dlpfc151673 \\
        dlpfc151674 --methods semst --seeds 0 1 2 --out RUNS          # the default pipeline's domains
    python benchmarks/annotate.py --labels RUNS/labels --seeds 0 1 2 --out benchmarks/results/annotation

Naming: each data set is prepared as the default pipeline prepares it (``sst.pp.prepare``), its domains are those
``run.py`` found (``RUNS/labels/<dataset>_<method>_<seed>.csv``, ``--method``: ``semst`` by default), and
``annotate_domains`` names them with the data set's organism and the gene descriptions of ``SEMST_DATA_DIR``. A
region of the annotation is named correctly when the domain holding most of its spots gets one of the names
``benchmarks/annotation_truth.tsv`` lists for it (that table was committed before any result). Labels are read only
to score.

Query: on DLPFC, the AUROC of the ``query`` score for white matter ("myelination") and layer 1 ("astrocytes",
"pia") against the single-marker baselines MBP and AQP4 (log-normalised expression), with the catalogue's markers
(the default), without (``catalogue=False``), with the catalogue kept to the data set's tissue (``tissue=``) and
each cell scored alone at cell resolution (``neighbourhood=False``; the marker over the same neighbourhoods beside), and
the query's wall time with a cold and a warm vector cache; the same on osmFISH, BaristaSeq and the mouse olfactory
bulb (``QUERIES``), where the weighting of the query's genes was chosen. ``--queries-only`` measures the queries
alone and keeps the naming results already in ``OUT``.

Writes ``OUT/regions.csv`` (one row per data set, seed and region), ``OUT/domains.csv`` (one row per domain),
``OUT/query.csv``, ``OUT/timing.csv`` and ``OUT/summary.md``.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/: the harness

import numpy as np
import pandas as pd
from harness.datasets import DATASETS
from harness.tables import markdown
from sklearn.metrics import roc_auc_score

import semst_sc as sst

sst.settings.progress = False

TRUTH = Path(__file__).resolve().parent / "annotation_truth.tsv"
FAMILY = {"dlpfc151673": "dlpfc", "dlpfc151674": "dlpfc", "osmfish": "osmfish", "mouse_ob": "mouse_ob"}
FAMILY |= {f"baristaseq{i}": "baristaseq" for i in (1, 2, 3)}
#: where each data set comes from, as its user would say (``annotate_domains(tissue=...)``): the osmFISH section
#: spans cortex, hippocampus, striatum and a ventricle
TISSUE = {"dlpfc": "cortex", "baristaseq": "cortex", "osmfish": "brain", "mouse_ob": "olfactory bulb"}
#: (region, query, single-marker baseline) per data set: DLPFC is where the query is measured (issue 22's target);
#: the others are where the weighting of the query's genes was chosen (``tl._query._TEMPERATURE``)
DLPFC_QUERIES = (("WM", "myelination", "MBP"), ("Layer1", "astrocytes", "AQP4"), ("Layer1", "pia", "AQP4"))
QUERIES = {
    "dlpfc151673": DLPFC_QUERIES,
    "dlpfc151674": DLPFC_QUERIES,
    "osmfish": (("White matter", "myelination", "Plp1"), ("Ventricle", "ventricle", "Foxj1"),
                ("Ventricle", "choroid plexus", "Ttr")),
    "mouse_ob": (("5: Olfactory Nerve Layer", "olfactory sensory neurons", "Omp"),
                 ("1: Granular Cell Layer", "granule cells", "Penk"),
                 ("4: Glomerular Layer", "dopaminergic neurons", "Th")),
}  # fmt: skip
QUERIES |= {f"baristaseq{i}": (("VISp_wm", "myelination", "Fa2h"), ("VISp_IV", "layer 4", "Rorb")) for i in (1, 2, 3)}


def truth_table() -> dict[tuple[str, str], set[str]]:
    table = pd.read_csv(TRUTH, sep="\t", comment="#")
    return {(r.dataset, r.region): set(r.correct_names.split(";")) for r in table.itertuples()}


def shuffled_gene_text(organism: str, rng: int = 0) -> pd.DataFrame:
    """The gene descriptions with each gene's text (name, summary, GO terms) given to another gene: a control."""
    table = sst.datasets.gene_descriptions(organism)[["full_name", "summary", "go_bp", "go_cc"]]
    order = np.random.default_rng(rng).permutation(len(table))
    return pd.DataFrame(table.to_numpy()[order], index=table.index, columns=table.columns)


def variants(name: str, organism: str) -> dict[str, dict]:
    """The default (the tissue guessed), the whole catalogue, the default told the tissue, the domains named after
    different entries (without and with the tissue), cell types as candidate names beside compartments, two
    controls of what gene knowledge adds (markers alone, and shuffled gene texts), and markers ranked on each cell
    alone at cell resolution, not on its neighbourhood."""
    return {
        "default": {},
        "whole_catalogue": {"tissue": None},
        "with_tissue": {"tissue": TISSUE[FAMILY[name]]},
        "distinct": {"distinct": True},
        "distinct_with_tissue": {"distinct": True, "tissue": TISSUE[FAMILY[name]]},
        "with_cell_types": {"cell_types": True},
        "markers_only": {"text_weight": 0.0},
        "shuffled_text": {"gene_text": shuffled_gene_text(organism)},
        "each_cell": {"neighbourhood": False},
    }


def name_regions(
    name: str, seeds: list[int], labels: Path, truth: dict, method: str = "semst"
) -> tuple[list[dict], list[dict], list[dict]]:
    load, label_key, _, organism = DATASETS[name]
    adata = load()
    sst.pp.prepare(adata)
    regions, domains, timing = [], [], []
    for (variant, kwargs), seed in itertools.product(variants(name, organism).items(), seeds):
        path = labels / f"{name}_{method}_{seed}.csv"
        if not path.exists():
            print(f"skip {name} seed {seed}: {path} not found", flush=True)
            continue
        found = pd.read_csv(path, dtype=str).set_index("spot")["domain"].reindex(adata.obs_names)
        adata.obs["semst_domain"] = pd.Categorical(found)
        start = time.perf_counter()
        sst.tl.annotate_domains(adata, organism=organism, **kwargs)
        timing.append(
            {
                "dataset": name,
                "seed": seed,
                "step": f"annotate_domains ({variant})",
                "wall_s": time.perf_counter() - start,
            }
        )
        table = adata.uns["semst_domain_annotation"]["domains"].set_index("domain")
        for row in table.reset_index().itertuples():
            domains.append(
                {"variant": variant, "dataset": name, "seed": seed, "domain": row.domain, "name": row.name,
                 "best_match": row.best_match,
                 "confidence": round(row.confidence, 3), "runner_up": row.runner_up, "n_spots": row.n_spots,
                 "markers": "; ".join(row.markers.split("; ")[:8]), "terms": "; ".join(row.terms.split("; ")[:3])}
            )  # fmt: skip
        truth_labels = adata.obs[label_key]
        for region in truth_labels.dropna().unique():
            inside = adata.obs.loc[truth_labels == region, "semst_domain"].astype(str)
            majority = inside.value_counts().index[0]
            assigned = table.loc[majority, "name"]
            correct = truth[(FAMILY[name], str(region))]
            regions.append(
                {"variant": variant, "dataset": name, "seed": seed, "region": str(region), "majority_domain": majority,
                 "share": round(float((inside == majority).mean()), 3), "name": assigned,
                 "best_match": table.loc[majority, "best_match"],
                 "confidence": round(float(table.loc[majority, "confidence"]), 3), "correct": assigned in correct}
            )  # fmt: skip
        print(f"{name} {variant} seed {seed}: {sum(r['correct'] for r in regions[-truth_labels.nunique():])}"
              f"/{truth_labels.nunique()} regions named correctly", flush=True)  # fmt: skip
    return regions, domains, timing


def queries(name: str) -> tuple[list[dict], list[dict]]:
    load, label_key, _, organism = DATASETS[name]
    adata = load()
    sst.pp.prepare(adata)
    labelled = adata.obs[label_key].notna().to_numpy()
    truth = adata.obs[label_key].astype(str).to_numpy()
    symbols = (adata.var["gene_symbol"] if "gene_symbol" in adata.var else adata.var_names).astype(str).to_numpy()
    counts = adata.X
    totals = np.asarray(counts.sum(axis=1)).ravel().astype(np.float64)
    pool = adata.obsp.get("semst_neighbourhood")  # pp.prepare's neighbourhoods at cell resolution
    rows, timing = [], []
    for region, text, marker in QUERIES[name]:
        y = truth[labelled] == region
        column = np.flatnonzero(symbols == marker)[0]
        marker_expr = _lognormalised(counts[:, column], totals)
        # the marker over the neighbourhoods a cell-resolution query reads (the same as marker_expr for spots)
        pooled = _lognormalised(pool @ counts[:, column], pool @ totals) if pool is not None else marker_expr
        told = {"tissue": TISSUE[FAMILY[name]]}
        for variant, kwargs in (
            ("default", {}), ("gene_text_only", {"catalogue": False}), ("with_tissue", told),
            ("each_cell", {"neighbourhood": False}),
        ):  # fmt: skip
            times = []
            for _ in range(2):  # the first embeds every gene's text (or reads the cache), the second reads the cache
                start = time.perf_counter()
                sst.tl.query(adata, text, organism=organism, **kwargs)
                times.append(time.perf_counter() - start)
            drivers = adata.uns["semst_query"]["genes"]["gene"].head(8).tolist()
            rows.append(
                {"dataset": name, "region": region, "query": text, "variant": variant,
                 "auroc_query": round(roc_auc_score(y, adata.obs["semst_query"].to_numpy()[labelled]), 4),
                 "marker": marker, "auroc_marker": round(roc_auc_score(y, marker_expr[labelled]), 4),
                 "auroc_marker_pooled": round(roc_auc_score(y, pooled[labelled]), 4),
                 "top_genes": ", ".join(drivers)}
            )  # fmt: skip
            timing += [
                {"dataset": name, "seed": "", "step": f"query {text!r}, {variant} ({when})", "wall_s": t}
                for when, t in zip(("first call of the process", "repeat"), times, strict=True)
            ]
            print(rows[-1], flush=True)
    return rows, timing


def _lognormalised(counts, totals: np.ndarray) -> np.ndarray:
    """Return log1p counts per 10,000 of one gene (a column of ``counts``) given the observations' ``totals``."""
    per_10k = np.asarray(counts.todense()).ravel() * 1e4
    return np.log1p(np.divide(per_10k, totals, out=np.zeros(len(totals)), where=totals > 0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--labels", type=Path, help="the labels folder of benchmarks/run.py (for the naming)")
    parser.add_argument("--datasets", nargs="+", default=list(FAMILY), choices=list(FAMILY))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/annotation"))
    parser.add_argument("--method", default="semst", help="the run.py method whose domains are named")
    parser.add_argument("--queries-only", action="store_true", help="measure the queries; keep OUT's naming results")
    args = parser.parse_args()
    if args.labels is None and not args.queries_only:
        parser.error("--labels is needed to name domains (or measure the queries alone: --queries-only)")
    args.out.mkdir(parents=True, exist_ok=True)
    truth = truth_table()
    regions, domains, timing, query_rows = [], [], [], []
    if args.queries_only:
        regions, domains = (pd.read_csv(args.out / f"{f}.csv").to_dict("records") for f in ("regions", "domains"))
        timing = pd.read_csv(args.out / "timing.csv", dtype={"seed": str}, keep_default_na=False)
        timing = timing[~timing["step"].str.startswith("query ")].to_dict("records")
    else:
        for name in args.datasets:
            r, d, t = name_regions(name, args.seeds, args.labels, truth, args.method)
            regions, domains, timing = regions + r, domains + d, timing + t
    for name in args.datasets:
        if name in QUERIES:
            q, t = queries(name)
            query_rows, timing = query_rows + q, timing + t
    regions, domains, timing = pd.DataFrame(regions), pd.DataFrame(domains), pd.DataFrame(timing)
    query_rows = pd.DataFrame(query_rows)
    timing["wall_s"] = timing["wall_s"].round(2)
    for frame, file in ((regions, "regions"), (domains, "domains"), (query_rows, "query"), (timing, "timing")):
        frame.to_csv(args.out / f"{file}.csv", index=False)
    (args.out / "summary.md").write_text(summary(regions, query_rows, timing, args.seeds, args.method))
    print((args.out / "summary.md").read_text())


def summary(
    regions: pd.DataFrame, query_rows: pd.DataFrame, timing: pd.DataFrame, seeds: list[int], method: str = "semst"
) -> str:
    regions = regions.assign(family=regions["dataset"].map(FAMILY))
    controls = regions.groupby(["variant", "seed"])["correct"].mean().unstack("seed").round(3)
    controls["all seeds"] = regions.groupby("variant")["correct"].mean().round(3)
    told = regions[regions["variant"] == "with_tissue"]
    regions = regions[regions["variant"] == "default"]
    per_seed = regions.groupby(["dataset", "seed"])["correct"].agg(["sum", "count"]).reset_index()
    overall = regions.groupby("seed")["correct"].mean()

    def by_region(rows: pd.DataFrame) -> pd.DataFrame:
        return (
            rows.groupby(["family", "region"])
            .agg(correct=("correct", "sum"), runs=("correct", "size"),
                 names=("name", lambda s: "; ".join(f"{k} ({v})" for k, v in s.value_counts().items())))
            .reset_index()
        )  # fmt: skip

    targets = regions[
        regions["region"].isin(["WM", "VISp_wm", "White matter", "Layer1", "VISp_I", "Pia Layer 1"])
        | (regions["family"] == "mouse_ob")
    ]
    annotate_s = timing[timing["step"] == "annotate_domains (default)"]
    visium = annotate_s[annotate_s["dataset"].str.startswith("dlpfc")]["wall_s"]
    lines = [
        "# Naming domains and searching the tissue in words",
        "",
        f"Seeds {', '.join(map(str, seeds))}; domains of `benchmarks/run.py --methods {method}` (K "
        "given, one thread); `sst.tl.annotate_domains(adata, organism=...)` with the gene descriptions of "
        "`SEMST_DATA_DIR`; correct names from `benchmarks/annotation_truth.tsv`, committed before any result.",
        "",
        f"**Regions whose majority domain is named correctly: {regions['correct'].mean():.1%} of "
        f"{len(regions)}** (per seed: {', '.join(f'{s}: {v:.0%}' for s, v in overall.items())}); white matter, "
        f"layer 1 and the olfactory bulb layers: {targets['correct'].mean():.1%} of {len(targets)}.",
        "",
        f"Told the tissue (`tissue=`: {', '.join(f'{k} {v!r}' for k, v in TISSUE.items())}): "
        f"**{told['correct'].mean():.1%}** of {len(told)}."
        if len(told)
        else "",
        "",
        "How the names are scored was revised after the first version's results on these same data sets (there is no "
        "held-out labelled set here): the first scored the rank-weighted overlap (nDCG) of a domain's top 50 markers "
        "with an entry's and could name a domain after any entry (42.9% by default, 52.1% at best, distinct names told "
        "the tissue). Seen in its per-region table: layers named after interneurons, microglia or immune cells, and "
        "graded layer markers missing from a domain's top 50. The revision (each a general rule, no constant fitted "
        "here): the support of an entry is Stouffer's combination of the Wilcoxon z-scores of all its measured "
        "markers, each domain's supports scaled by its own best (scaled by the slide's best instead, in a first run of "
        "this revision, the domains other than white matter fell below the confidence threshold: 55.0%), and domains "
        "are named after compartments, cell types only with `cell_types=True` (the `with_cell_types` row); "
        "without a tissue the slide is taken as brain or non-neural from its domains' best matches (`tissue='auto'`, "
        "the default; the `whole_catalogue` row is the previous default: 67.5% before the last change); last, every "
        "catalogue marker measured is read, not only the modelled (highly variable) genes (69.6% before: these "
        "figures, up to 72.1%, on the labels of an earlier machine); then the guess of the tissue narrows to a brain "
        "region when more than half of the domains' best matches are that region's, so a cortex slice is not named "
        "after olfactory bulb layers. On the labels here (this machine's, which differ from the earlier machine's: "
        "same code and seed, another CPU) the default before that last change named 70.0% (per seed 68.8, 72.9, "
        "70.8, 68.8, 68.8 %; `before_region_guess/`) and white matter, layer 1 and the bulb layers 67.1%: the change "
        "gains 0 to 2 regions per "
        "seed, BaristaSeq slice 1's white matter on 3 more seeds, and DLPFC layer 6 goes from bulb or hippocampus "
        "names to 'unassigned'. The held-out data sets will tell how far it carries.",
        "",
        "Since session 47 the markers are ranked on each cell's neighbourhood at cell resolution "
        "(`obsp['semst_neighbourhood']`, from which the domains were found; `each_cell`: on each cell alone, the "
        "previous default), pre-registered: kept if, over osmFISH and the three BaristaSeq slices (seeds 0-4, on "
        "labels made at that commit), the region-runs named correctly rose and those of white matter and layer 1 there "
        "did not fall. They rose from 106 to 108 of 145, white matter and layer 1 from 25 to 27 of 40: BaristaSeq "
        "+14 (layer 1 0 -> 8 of 15, layer 6 0 -> 9, slice 1's white matter 5 -> 4), osmFISH -12 (its pia and layer 1 "
        "named 'endothelium and blood vessels' instead of 'pia and meninges' on all 5 seeds, layers 2-3 medial and 3-4 "
        "named after layer 5). A mixed result kept by its rule, not a clear gain. The spot-resolution data sets "
        "are named the same in both variants; their labels (DLPFC, bulb) were made in session 46.",
        "",
        "## Controls: what gene knowledge adds to the name, and naming the domains together",
        "",
        "Share of regions named correctly: `default` (markers and text, `text_weight=0.2`), `markers_only` "
        "(`text_weight=0`) and `shuffled_text` (each gene's description given to another gene). A gain of `default` "
        "over `shuffled_text` would be knowledge; a gain that survives the shuffle is not. `with_tissue`: the default "
        "given the data set's tissue, which keeps the catalogue to the compartments found there, where the default "
        "guesses brain, a brain region or non-neural from the domains' best matches (`tissue='auto'`); "
        "`whole_catalogue` "
        "(`tissue=None`): no tissue, every entry a candidate. `distinct` "
        "(`distinct=True`), with and without the tissue: the domains named together, each after a different entry "
        "(the assignment with the largest total score), where the default names each after its own best match. "
        "`with_cell_types` (`cell_types=True`): cell types (interneurons, microglia, immune cells, ...) as names "
        "beside the compartments.",
        "",
        markdown(controls.reset_index()),
        "",
        "## Per data set and seed (default)",
        "",
        markdown(per_seed.rename(columns={"sum": "correct", "count": "regions"})),
        "",
        "## Per region (default, all seeds): the names given to its majority domain",
        "",
        markdown(by_region(regions)),
        "",
        "## Per region, told the tissue (all seeds)",
        "",
        markdown(by_region(told)) if len(told) else "(not run)",
        "",
        "## Query: AUROC of the per-spot score against one marker gene",
        "",
        "`default`: `sst.tl.query(adata, text)`, the catalogue's markers counting as gene knowledge; "
        "`gene_text_only`: `catalogue=False`, the genes' own descriptions alone, as the query was before; the route "
        "through the catalogue was designed after seeing that version's results in this table. `with_tissue`: "
        "`tissue=` the data set's tissue, as in the naming, which keeps the catalogue to that tissue's entries. "
        "`each_cell`: `neighbourhood=False`, each observation scored alone (the same as `default` at spot "
        "resolution). The marker (`auroc_marker`) is the single gene's log-normalised expression; "
        "`auroc_marker_pooled` the same over the neighbourhoods the default query reads at cell resolution.",
        "",
        "Since session 47 the query scores each cell's neighbourhood at cell resolution (`obsp['semst_neighbourhood']` "
        "of `sst.pp.prepare`), pre-registered: kept if the default's mean AUROC over the 9 osmFISH and BaristaSeq "
        "pairs rose and no pair fell by more than 0.02 against `each_cell` (the previous default) in the same run. "
        "It rose from 0.728 to 0.968, every pair by 0.096 to 0.335; the spot-resolution rows are the same in both "
        "variants. A single marker over the same neighbourhoods scores 0.968 too (the query -0.009 to +0.030 from it). "
        "The 12 pairs outside DLPFC now average 0.924 (0.958 told the tissue), where the paragraphs below quote the "
        "tables before it.",
        "",
        "How the query's genes are weighted and pooled (a softmax of their relevance, temperature 0.02, and the "
        "logarithm of their pooled counts) was chosen on the pairs of osmFISH, BaristaSeq and the mouse olfactory "
        "bulb (the second table; every variant tried: `benchmarks/query_weighting.py`, results in "
        "`benchmarks/results/query_weighting`), not on DLPFC. The weighting before (each of the 30 most relevant "
        "genes weighted by "
        "its relevance above the 31st gene's, the weighted mean of their standardised log-normalised expression) "
        "scored 0.534 on average over those 12 pairs against 0.694 now (alternatives tried there: temperatures 0.01 "
        "and 0.05, the top-relevance genes alone, each with the standardised mean instead of pooled counts: 0.656 "
        "to 0.687), and on DLPFC myelination 0.987 / 0.986, astrocytes 0.565 / 0.555, pia 0.489 / 0.489 "
        "(151673 / 151674).",
        "",
        "An entry is matched by its name, its description and the other names it is called by (`also_called` in "
        "the catalogue: 'oligodendrocytes', 'myelin', 'OPCs', 'periglomerular cells', ...), since 31f594d; the "
        "catalogue kept to the data set's tissue is the `with_tissue` row. Against this table at 2b6631a, the "
        "default's mean over the 12 pairs outside DLPFC rose from 0.693 to 0.744 (the DLPFC rows moved by at most "
        "0.0001): 'dopaminergic neurons' on the bulb 0.262 -> 0.829 (through the glomerular layer, not the striatum), "
        "BaristaSeq 'myelination' 0.641 / 0.534 / 0.482 -> 0.638 / 0.703 / 0.643 (now Cryab alone, through "
        "white matter), but 'granule cells' on the bulb 0.853 -> 0.555: the query now reaches the dentate gyrus "
        "(0.73) before the cerebellar granule layer (0.70), where the bulb's granule cell layer (0.63) is meant; "
        "told the tissue it scores 0.970 (Penk alone 0.951), and a query whose best entries belong to different "
        "tissues is now warned. Told the tissue, the 12 pairs average 0.778. The `gene_text_only` rows, which no "
        "catalogue change touches, moved by -0.025 to +0.019 since that table was made (other commits in between): "
        "differences of that size are not the catalogue's.",
        "",
        "### DLPFC: where the query is measured",
        "",
        markdown(query_rows[query_rows["dataset"].str.startswith("dlpfc")]) if len(query_rows) else "(not run)",
        "",
        "### osmFISH, BaristaSeq, mouse olfactory bulb: where the weighting was chosen",
        "",
        markdown(query_rows[~query_rows["dataset"].str.startswith("dlpfc")]) if len(query_rows) else "(not run)",
        "",
        "## Wall time (one thread, a machine shared with other jobs)",
        "",
        f"annotate_domains on a DLPFC Visium slice: median {visium.median():.1f} s, max {visium.max():.1f} s "
        "(the first call of a process reads the gene table and loads the text model; later calls read both from "
        "memory and the vector cache). The query times below read the gene vectors from the on-disk cache "
        "(`SEMST_CACHE_DIR`, filled by an earlier run); with an empty cache the first query embeds the text of every "
        "modelled gene (3,000 texts), which took 300 s and 308 s on the two slices on one thread of this shared "
        "machine (`sst.tl.query(adata, 'myelination', organism='human')` after `sst.pp.prepare`, run by hand).",
        "",
        markdown(timing[timing["dataset"].str.startswith("dlpfc")]),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
