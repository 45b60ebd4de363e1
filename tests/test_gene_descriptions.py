"""sst.datasets.gene_descriptions: derived tables, NCBI files, mouse -> human fallback, bounded texts."""

import gzip

import pandas as pd
import pytest
from fakes import scanpy_warnings

import semst_sc as sst
from semst_sc import _constants as C
from semst_sc.datasets import gene_descriptions
from semst_sc.datasets._gene_descriptions import format_gene_text

LONG = "First sentence about the gene. " * 30
GO = "; ".join(f"process {i}" for i in range(25))


def _write(path, rows, columns):
    pd.DataFrame(rows, columns=columns).to_csv(path, sep="\t", index=False)


@pytest.fixture
def gene_text_dir(tmp_path):
    human = ["symbol", "entrez_id", "ensembl_ids", "full_name", "gene_type", "synonyms", "refseq_summary", "go_bp"]
    _write(
        tmp_path / "human_gene_text.tsv.gz",
        [
            ["RELN", "5649", "ENSG00000189056", "reelin", "protein-coding", "RL", LONG, GO],
            ["MBP", "4155", "", "myelin basic protein", "protein-coding", "", "Myelin protein.", "biological_process"],
            ["TEC", "7006", "", "tec protein tyrosine kinase", "protein-coding", "", "", ""],
            ["TEC", "100124696", "", "tectorin", "ncRNA", "", "A kinase.", "signalling"],
            ["GFAP", "2670", "", "glial fibrillary acidic protein", "protein-coding", "", "", ""],
        ],
        human,
    )
    mouse = ["symbol", "entrez_id", "ensembl_ids", "mgi_id", "full_name", "gene_type", "synonyms", "refseq_summary"]
    _write(
        tmp_path / "mouse_gene_text.tsv.gz",
        [
            ["Reln", "19699", "", "MGI:103022", "reelin", "protein-coding", "", ""],
            ["Mbp", "17196", "", "MGI:96925", "myelin basic protein", "protein-coding", "", "Mouse myelin."],
            ["Xist", "213742", "", "MGI:98974", "inactive X specific transcripts", "ncRNA", "", ""],
        ],
        mouse,
    )
    return tmp_path


def test_human_table_columns_dedup_and_bounded_text(gene_text_dir):
    table = gene_descriptions("human", gene_text_dir)
    assert table.index.is_unique and table.index.name == "symbol"
    assert {"full_name", "summary", "go_bp", "entrez_id", "text"} <= set(table.columns)
    assert table.loc["TEC", "full_name"] == "tectorin"  # the duplicate with a summary wins
    assert table.loc["MBP", "go_bp"] == "" and table.loc["MBP", "text"] == "MBP: myelin basic protein. Myelin protein."
    reln = table.loc["RELN", "text"]
    assert reln.startswith("RELN: reelin. First sentence about the gene.")
    assert len(reln) < 600 and "process 9;" not in reln and "process 9." in reln  # 10 GO terms
    assert table.loc["GFAP", "text"] == "GFAP: glial fibrillary acidic protein."


def test_mouse_falls_back_to_the_human_summary(gene_text_dir):
    table = gene_descriptions("mouse", gene_text_dir)
    assert table.loc["Reln", "summary_source"] == "human"
    assert table.loc["Reln", "text"].startswith("Reln: reelin. First")
    assert table.loc["Mbp", "summary"] == "Mouse myelin." and table.loc["Mbp", "summary_source"] == "mouse"
    assert table.loc["Xist", "summary_source"] == "" and table.loc["Xist", "text"].startswith("Xist: inactive")
    (gene_text_dir / "human_gene_text.tsv.gz").unlink()
    assert gene_descriptions("mouse", gene_text_dir).loc["Reln", "summary"] == ""


def test_a_file_path_and_a_missing_folder(gene_text_dir, tmp_path):
    assert "RELN" in gene_descriptions("human", gene_text_dir / "human_gene_text.tsv.gz").index
    with pytest.raises(FileNotFoundError, match="download=True"):
        gene_descriptions("human", tmp_path / "nothing")
    with pytest.raises(ValueError, match="organism"):
        gene_descriptions("zebrafish", gene_text_dir)


@pytest.mark.parametrize("name", ["human_gene_text.tsv.gz", "Homo_sapiens.gene_info.gz", "gene2go.gz"])
def test_a_damaged_file_is_named_in_the_error(tmp_path, name):
    """A download cut short raised gzip's bare EOFError, naming no file."""
    whole = gzip.compress(b"symbol\tfull_name\n" + b"MBP\tmyelin basic protein\n" * 1000)
    if name == "gene2go.gz":  # read after gene_info
        (tmp_path / "Homo_sapiens.gene_info.gz").write_bytes(
            gzip.compress(b"#tax_id\tGeneID\tSymbol\tSynonyms\tdbXrefs\tdescription\ttype_of_gene\n")
        )
    (tmp_path / name).write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ValueError, match=f"cannot read the gene-description file .*{name} \\(EOFError.*delete it"):
        gene_descriptions("human", tmp_path)


def test_a_table_without_a_symbol_column_is_refused_not_read_by_row_number(tissue, tmp_path):
    table = tmp_path / "genes.tsv"
    table.write_text("gene\ttext\nMbp\tmyelin basic protein\nGfap\tglial fibrillary acidic protein\n")
    no_symbols = "no 'symbol' column \\(its columns: gene, text\\)"
    sst.pp.prepare(tissue, n_top_genes=300)
    with pytest.raises(ValueError, match=no_symbols):
        gene_descriptions("mouse", table)
    for use in (
        lambda: sst.tl.query(tissue, "myelin", gene_text=str(table)),
        lambda: sst.pp.gene_semantics(tissue, gene_text=str(table)),
    ):
        with pytest.raises(ValueError, match=no_symbols):
            use()
    table.write_text("symbol\ttext\nMbp\tmyelin basic protein\n")  # the same, with its column named
    assert list(gene_descriptions("mouse", table).index) == ["Mbp"]


def test_a_table_without_a_description_column_is_refused(tmp_path):
    """A derived table of symbols alone gave every gene its bare symbol as text, silently."""
    _write(tmp_path / "human_gene_text.tsv.gz", [["MBP", "myelin"]], ["symbol", "desc"])
    refused = r"no description column \(its columns: symbol, desc\).*full_name / summary"
    with pytest.raises(ValueError, match=refused):
        gene_descriptions("human", tmp_path)
    with pytest.raises(ValueError, match=refused):  # a folder as gene_text
        sst.semantics.resolve_gene_text(tmp_path, ["MBP"])


def test_build_from_ncbi_gene_info_and_gene2go(tmp_path):
    header = "#tax_id\tGeneID\tSymbol\tLocusTag\tSynonyms\tdbXrefs\tchromosome\tmap_location\tdescription\ttype_of_gene"
    rows = [
        "9606\t5649\tRELN\t-\tRL\tMIM:600514|Ensembl:ENSG00000189056\t7\t7q22.1\treelin\tprotein-coding",
        "9606\t4155\tMBP\t-\t-\t-\t18\t18q23\tmyelin basic protein\tprotein-coding",
    ]
    with gzip.open(tmp_path / "Homo_sapiens.gene_info.gz", "wt") as f:
        f.write("\n".join([header, *rows]) + "\n")
    go = [
        "#tax_id\tGeneID\tGO_ID\tEvidence\tQualifier\tGO_term\tPubMed\tCategory",
        "9606\t5649\tGO:1\tIDA\tinvolved_in\tneuron migration\t-\tProcess",
        "9606\t5649\tGO:2\tIDA\tNOT involved_in\tdigestion\t-\tProcess",
        "9606\t5649\tGO:3\tIDA\tenables\tbinding\t-\tFunction",
        "10090\t5649\tGO:4\tIDA\tinvolved_in\tmouse only\t-\tProcess",
    ]
    with gzip.open(tmp_path / "gene2go.gz", "wt") as f:
        f.write("\n".join(go) + "\n")
    table = gene_descriptions("human", tmp_path)
    assert table.loc["RELN", "ensembl_ids"] == "ENSG00000189056"
    assert table.loc["RELN", "text"] == "RELN: reelin. GO: neuron migration."
    assert table.loc["MBP", "text"] == "MBP: myelin basic protein."


def test_format_gene_text_bounds():
    text = format_gene_text("X", "name", "word " * 500, "; ".join(["a"] * 50))
    assert len(text) <= len("X: name. ") + C.GENE_TEXT_SUMMARY_CHARS + 5 + len("GO: ") + 3 * C.GENE_TEXT_GO_TERMS + 1
    assert format_gene_text("X") == "X"


def test_gene_semantics_reads_the_table(tissue, gene_text_dir):
    import numpy as np

    sst.pp.prepare(tissue, n_top_genes=300)
    seen = []

    class Encoder:
        def encode(self, texts):
            seen.extend(texts)
            return np.ones((len(texts), 3))

    table = gene_descriptions("human", gene_text_dir)
    sst.pp.gene_semantics(tissue, model=Encoder(), gene_text=table, top_k=50)
    modelled = set(tissue.var_names[tissue.var["semst_modelled"].to_numpy()])
    assert "RELN" in modelled and any(t.startswith("RELN: reelin.") for t in seen)
    params = tissue.uns["semantic"]["params"]
    n = len(modelled & set(table.index))
    assert params["gene_text_coverage"] == pytest.approx(n / len(modelled))
    ensembl = table.set_axis([f"ENSG{i:011d}" for i in range(len(table))])  # keyed by something else than var
    logged = scanpy_warnings(lambda: sst.pp.gene_semantics(tissue, model=Encoder(), gene_text=ensembl, top_k=50))
    assert "match none of the modelled genes" in logged
    assert tissue.uns["semantic"]["params"]["gene_text_coverage"] == 0


@pytest.mark.real_data
def test_real_gene_descriptions(data_dir):
    human = gene_descriptions("human", data_dir / "gene_text")
    assert len(human) > 70_000 and human.index.is_unique
    assert human.loc["RELN", "text"].startswith("RELN: reelin. This gene encodes a large secreted")
    assert "GO: " in human.loc["RELN", "text"] and "biological_process" not in human.loc["A1BG", "text"]
    assert (human["summary"] != "").sum() > 15_000
    mouse = gene_descriptions("mouse", data_dir / "gene_text")
    assert mouse.loc["Reln", "summary_source"] == "human" and "GO: " in mouse.loc["Reln", "text"]
    assert (mouse["summary"] != "").sum() > 10_000


@pytest.mark.real_data
def test_real_gene_text_covers_the_simulated_tissue(tissue, data_dir):
    sst.pp.prepare(tissue, n_top_genes=100)

    class Encoder:
        def encode(self, texts):
            return [[float(len(t)), 1.0] for t in texts]

    path = data_dir / "gene_text" / "human_gene_text.tsv.gz"
    sst.pp.gene_semantics(tissue, model=Encoder(), gene_text=path)
    params = tissue.uns["semantic"]["params"]
    assert params["gene_text"] == str(path) and params["gene_text_coverage"] > 0.9


def test_a_gene_info_file_of_other_columns_is_named(tmp_path):
    """A gene_info without NCBI's columns (an export of another tool) failed with a bare KeyError: 'Symbol'."""
    with gzip.open(tmp_path / "Homo_sapiens.gene_info.gz", "wt") as f:
        f.write("gene\tname\nRELN\treelin\n")
    expected = r"lacks NCBI gene_info's columns \['Symbol', 'GeneID'.*it has \['gene', 'name'\]"
    with pytest.raises(ValueError, match=expected):
        gene_descriptions("human", tmp_path)
