"""Gene vectors from curated knowledge that is not a sentence: GO structure and PROGENy weights."""

import gzip

import numpy as np
import pandas as pd
import pytest

import semst_sc as sst


def test_go_gene_table_groups_genes_that_share_terms(tmp_path):
    terms = {
        "MBP": "myelination; axon ensheathment",
        "PLP1": "myelination; axon ensheathment",
        "MOG": "myelination",
        "GFAP": "astrocyte development; response to wounding",
        "AQP4": "astrocyte development; water transport",
        "SLC1A3": "astrocyte development; response to wounding",
        "CD3E": "T cell activation",
        "CD2": "T cell activation",
        "LCK": "T cell activation",
    }
    table = pd.DataFrame({"symbol": list(terms), "full_name": "x", "go_bp": list(terms.values())})
    path = tmp_path / "genes.tsv"
    table.to_csv(path, sep="\t", index=False)
    vectors = sst.semantics.go_gene_table("human", path, n_components=3, min_genes=2)
    assert list(vectors.index) == list(terms) and vectors.shape[1] == 3
    assert np.allclose(np.linalg.norm(vectors.to_numpy(), axis=1), 1, atol=1e-5)
    v = vectors.to_numpy()
    assert v[0] @ v[1] > 0.9 and abs(v[0] @ v[6]) < 0.5  # MBP ~ PLP1, MBP far from CD3E
    with pytest.raises(ValueError, match="0 GO terms annotate at least min_genes=4 .*lower min_genes"):
        sst.semantics.go_gene_table("human", path, n_components=3, min_genes=4)  # no term of 4 genes here


def test_progeny_gene_table(tmp_path):
    with gzip.open(tmp_path / "progeny_mouse_gene_by_pathway_weight.csv.gz", "wt") as f:
        f.write("gene,Hypoxia,p53\nVegfa,2.5,\nCdkn1a,,3.1\nNone1,,\n")
    table = sst.semantics.progeny_gene_table("mouse", tmp_path)
    assert list(table.index) == ["Vegfa", "Cdkn1a"] and table.loc["Cdkn1a", "Hypoxia"] == 0
    assert sst.semantics.GeneTable(table).lookup(["VEGFA"])[0] == 0  # usable as gene_semantics(model=table)
    with pytest.raises(FileNotFoundError, match="PROGENy"):
        sst.semantics.progeny_gene_table("human", tmp_path)
