"""How ``sst.tl.query`` weights and combines its genes: the variants compared when the weighting was chosen.

    python benchmarks/query_weighting.py osmfish baristaseq1 baristaseq2 baristaseq3 mouse_ob   # where it was chosen
    python benchmarks/query_weighting.py dlpfc151673 dlpfc151674                                # where it is measured

For each (region, query, single marker) of ``annotate.QUERIES``, the genes' relevance to the query comes from
``sst.tl.query`` (every gene it reads, log-normalised here over those genes) and the spot scores are recomputed here
under each variant: ``A_*`` the weighted mean of the genes'
standardised log-normalised expression, ``C_*`` the logarithm of their weighted pooled counts per 10,000; ``*_current``
the linear weights used before (relevance above the 31st gene's), ``*_soft<t>`` a softmax of the 30 most relevant
genes' relevance at temperature t, ``*_ties`` the most relevant genes alone. The default chosen (``C_soft0.02``) is the
best mean AUROC over the pairs of osmFISH, BaristaSeq and the mouse olfactory bulb; DLPFC was not read to choose it.
Labels are read only to score. Writes ``benchmarks/results/query_weighting/<datasets>.csv``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/: the harness

import numpy as np
import pandas as pd
from annotate import QUERIES
from harness.datasets import DATASETS
from sklearn.metrics import roc_auc_score

import semst_sc as sst

sst.settings.progress = False
OUT = Path(__file__).resolve().parent / "results" / "query_weighting"


def scores(E: np.ndarray, sim: np.ndarray, n: int = 30) -> dict[str, np.ndarray]:
    """Spot scores of every variant from the genes' log-normalised expression ``E`` (most relevant first)."""
    sd = E.std(0)
    Z = (E - E.mean(0)) / np.where(sd > 0, sd, 1)
    n = min(n, len(sim))
    floor = sim[n] if n < len(sim) else sim[:n].min() - 1e-3
    weights = {"current": np.r_[np.maximum(sim[:n] - floor, 0), np.zeros(len(sim) - n)]}
    for tau in (0.01, 0.02, 0.05):
        weights[f"soft{tau}"] = np.r_[np.exp((sim[:n] - sim[0]) / tau), np.zeros(len(sim) - n)]
    weights["ties"] = (sim >= sim[0] - 1e-6).astype(float)
    out = {}
    for name, w in weights.items():
        w = w / w.sum()
        out[f"A_{name}"], out[f"C_{name}"] = Z @ w, np.log1p(np.expm1(E) @ w)
    return out


def main(names: list[str]) -> None:
    rows = []
    for name in names:
        load, label_key, _, organism = DATASETS[name]
        adata = load()
        counts = adata.X.copy()  # raw counts, before prepare
        sst.pp.prepare(adata)
        var_symbols = adata.var["gene_symbol"] if "gene_symbol" in adata.var else adata.var_names
        column = {str(s): j for j, s in reversed(list(enumerate(var_symbols)))}  # the first of duplicated symbols
        labels = adata.obs[label_key].astype("string")
        labelled = labels.notna().to_numpy()
        for region, text, marker in QUERIES[name]:
            sst.tl.query(adata, text, organism=organism, n_genes=adata.n_vars)  # every gene it reads, by relevance
            genes = adata.uns["semst_query"]["genes"]
            read = counts[:, [column[g] for g in genes["gene"]]].toarray().astype(float)
            totals = read.sum(axis=1, keepdims=True)
            E = np.log1p(np.divide(read * 1e4, totals, out=np.zeros_like(read), where=totals > 0))
            y = (labels[labelled] == region).to_numpy()
            row = {"dataset": name, "region": region, "query": text, "marker": marker}
            row |= {
                k: round(roc_auc_score(y, v[labelled]), 4) for k, v in scores(E, genes["similarity"].to_numpy()).items()
            }
            at = list(genes["gene"]).index(marker)
            row["marker_auc"] = round(roc_auc_score(y, E[:, at][labelled]), 4)
            row["top"] = ",".join(genes["gene"].head(6))
            print(row, flush=True)
            rows.append(row)
    OUT.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(OUT / f"{'_'.join(names)}.csv", index=False)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("datasets", nargs="+", choices=sorted(QUERIES), help="data sets with queries (annotate.py)")
    main(parser.parse_args().datasets)
