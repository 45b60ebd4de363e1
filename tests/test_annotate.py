"""Naming domains (tl.annotate_domains), searching the tissue in words (tl.query), their plots and CLI."""

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from fakes import on_a_view

import semst_sc as sst
from semst_sc._cli import main
from semst_sc.tl._annotate import _support
from semst_sc.tl._catalogue import CATALOGUE, MARKER_SYMBOLS, Entry, entries_for, guess_tissue
from semst_sc.tl._gene_knowledge import lognormalised

#: the simulation's compartments (its marker programs are real human biology) and the names that are right for them
EXPECTED = {
    "Layer1": {"cortical layer 1", "astrocytes", "pia and meninges"},
    "Layer2_3": {"cortical layer 2/3"},
    "Layer4": {"cortical layer 4"},
    "Layer5": {"cortical layer 5"},
    "Layer6": {"cortical layer 6", "cortical layer 6b"},
    "WM": {"white matter"},
    "Vessel": {"endothelium and blood vessels", "pericytes and smooth muscle"},
}


@pytest.fixture(scope="session")
def gene_text(_tissue):
    """The human gene descriptions of SEMST_DATA_DIR, cut to the simulated genes (a small table, fast to read)."""
    table = sst.datasets.gene_descriptions("human")
    return table[table.index.isin(_tissue.var_names)].copy()


@pytest.fixture(scope="session")
def _annotated(_tissue, gene_text):
    adata = _tissue.copy()
    sst.settings.progress = False
    sst.tl.annotate_domains(adata, domain_key="domain", gene_text=gene_text)
    return adata


@pytest.mark.slow
@pytest.mark.real_data
def test_names_the_simulated_compartments(_annotated, tmp_path):
    table = _annotated.uns["semst_domain_annotation"]["domains"].set_index("domain")
    for domain, names in EXPECTED.items():
        assert table.loc[domain, "name"] in names, table.loc[domain].to_dict()
        assert 0 < table.loc[domain, "confidence"] <= 1
    assert table.loc["WM", "confidence"] > 0.4
    assert "MBP" in table.loc["WM", "markers"].split("; ")
    assert not any(m.startswith(("MT-", "RPL", "RPS")) for m in "; ".join(table["markers"]).split("; "))
    terms = _annotated.uns["semst_domain_annotation"]["terms"]
    wm_terms = terms[terms["domain"] == "WM"]
    assert (wm_terms["padj"] < 0.05).all() and wm_terms["term"].str.contains("myelin").any()
    name = _annotated.obs["semst_domain_name"]
    assert (name[_annotated.obs["domain"] == "WM"] == "white matter").all()
    _annotated.write_h5ad(tmp_path / "named.h5ad")  # the annotation is .h5ad-writable
    back = ad.read_h5ad(tmp_path / "named.h5ad")
    assert back.uns["semst_domain_annotation"]["domains"].shape == table.reset_index().shape


def test_without_gene_text_names_from_markers(tissue, monkeypatch):
    import scanpy

    warnings = []
    monkeypatch.setattr(scanpy.logging, "warning", lambda msg, *args, **kwargs: warnings.append(msg))
    sst.tl.annotate_domains(tissue, domain_key="domain", gene_text=False)
    result = tissue.uns["semst_domain_annotation"]
    names = result["domains"].set_index("domain")["name"]
    assert names["WM"] == "white matter" and names["Layer5"] == "cortical layer 5"
    evidence = [e.split(" (") for e in result["domains"].set_index("domain").loc["WM", "evidence"].split("; ")]
    wm_markers = next(e.markers for e in CATALOGUE if e.name == "white matter")
    z = [float(value.rstrip(")")) for _, value in evidence]
    assert len(evidence) == 5 and {gene for gene, _ in evidence} <= set(wm_markers)  # why it was named so
    assert z == sorted(z, reverse=True) and z[-1] > 0
    assert result["terms"].empty and result["params"]["gene_text"] == "" and result["params"]["text_weight"] == 0
    assert any("no gene knowledge" in w for w in warnings)


def test_annotate_domains_on_a_view_writes_to_it_silently_and_leaves_the_parent(tissue):
    view, _ = on_a_view(tissue, lambda v: sst.tl.annotate_domains(v, domain_key="domain", gene_text=False))
    assert view.obs["semst_domain_name"].notna().all() and "semst_domain_annotation" in view.uns


def test_evidence_spells_the_genes_as_measured(tissue):
    tissue.var_names = [g.capitalize() for g in tissue.var_names]  # mouse symbols: Mbp, not MBP
    sst.tl.annotate_domains(tissue, domain_key="domain", organism="mouse", gene_text=False)
    evidence = tissue.uns["semst_domain_annotation"]["domains"].set_index("domain").loc["WM", "evidence"]
    genes = [e.split(" (")[0] for e in evidence.split("; ")]
    assert genes and set(genes) <= set(tissue.var_names), genes


def test_an_organism_the_symbols_contradict_is_warned(tissue):
    from fakes import scanpy_warnings

    logged = scanpy_warnings(lambda: sst.tl.query(tissue, "myelination", organism="mouse", gene_text=False))
    assert "organism='mouse', but the gene symbols are written as human symbols are" in logged
    # no gene knowledge is read with gene_text=False, nor the organism's with a table given: the warning said so
    assert "mouse gene knowledge is read" not in logged
    assert "(the mouse gene descriptions when gene_text is None or a folder)" in logged
    assert "organism=" not in scanpy_warnings(lambda: sst.tl.query(tissue, "myelination", gene_text=False))
    with pytest.raises(ValueError, match="organism must be 'human', 'mouse' or None, got 'rat'"):
        sst.tl.query(tissue, "myelination", organism="rat", gene_text=False)


def test_mouse_symbols_written_in_upper_case_are_taken_as_mouse(tissue):
    """Some pipelines write mouse symbols in upper case (0610007N19RIK): taken as human, the human gene knowledge was
    read and organism='mouse' was warned as wrong, telling the user to pass 'human'."""
    from fakes import scanpy_warnings

    human = list(tissue.var_names)
    riken = [f"{i:07d}N19RIK" for i in range(5)] + ["GM13889", "A230065H16RIK"]  # mouse-only forms, upper-cased
    tissue.var_names = riken + human[len(riken) :]
    logged = scanpy_warnings(lambda: sst.tl.query(tissue, "myelination", gene_text=False), level=2)
    assert tissue.uns["semst_query"]["params"]["organism"] == "mouse"
    assert "mouse (upper-case, but 7 are mouse-only symbols such as 0000000N19RIK)" in logged
    logged = scanpy_warnings(lambda: sst.tl.query(tissue, "myelination", organism="mouse", gene_text=False))
    assert "organism=" not in logged
    logged = scanpy_warnings(lambda: sst.tl.query(tissue, "myelination", organism="human", gene_text=False))
    assert "organism='human', but the gene symbols are written as mouse symbols are (0000000N19RIK" in logged
    tissue.var_names = ["GM2A", "0610007N19RIK", *human[2:]]  # a human symbol and one odd name: not a mouse slide
    sst.tl.query(tissue, "myelination", gene_text=False)
    assert tissue.uns["semst_query"]["params"]["organism"] == "human"


def test_info_level_shows_semst_messages_but_not_scanpys_timing_lines(tissue):
    import scanpy as sc
    from fakes import scanpy_warnings

    after = []

    def annotate():
        sst.tl.annotate_domains(tissue, domain_key="domain", gene_text=False)
        after.append(sc.settings.verbosity)

    logged = scanpy_warnings(annotate, level=2)  # at info level
    assert "no gene knowledge" in logged  # semst_sc's own messages still reach the user
    assert "ranking genes" not in logged and "finished" not in logged  # the internal marker test's log lines do not
    assert after == [sc.Verbosity.info]  # the user's verbosity is back after the call
    assert "ranking genes" in scanpy_warnings(annotate, level=4)  # at debug level, everything


def test_a_domain_without_markers_is_unassigned(tissue):
    labels = tissue.obs["domain"].astype(str).to_numpy()
    random = np.random.default_rng(0).choice(tissue.n_obs, 60, replace=False)
    labels[random] = "random"
    tissue.obs["mixed"] = pd.Categorical(labels)
    sst.tl.annotate_domains(tissue, domain_key="mixed", gene_text=False)
    table = tissue.uns["semst_domain_annotation"]["domains"].set_index("domain")
    assert table.loc["random", "confidence"] < 0.15 and table.loc["random", "name"] == "unassigned"
    assert table.loc["WM", "name"] == "white matter"


def test_the_domains_table_keeps_the_order_of_the_domains(tissue):
    numbers = np.arange(tissue.n_obs) % 12  # more than ten domains: as strings "10" would come before "2"
    tissue.obs["numbers"] = numbers
    tissue.obs["ordered"] = pd.Categorical(numbers.astype(str), categories=[str(i) for i in range(11, -1, -1)])
    for key, order in (("numbers", range(12)), ("ordered", range(11, -1, -1))):
        sst.tl.annotate_domains(tissue, domain_key=key, gene_text=False, min_confidence=0)
        table = tissue.uns["semst_domain_annotation"]["domains"]
        assert table["domain"].tolist() == [str(i) for i in order], key


def test_domains_are_named_after_different_entries_unless_asked(tissue):
    labels = tissue.obs["domain"].astype(str).to_numpy()
    wm = np.flatnonzero(labels == "WM")
    labels[wm[::2]] = "WM_half"  # white matter split in two domains: both fit "white matter" best
    tissue.obs["split"] = pd.Categorical(labels)
    named = {}
    for distinct in (True, False):
        out = sst.tl.annotate_domains(tissue, domain_key="split", gene_text=False, distinct=distinct, copy=True)
        named[distinct] = out.uns["semst_domain_annotation"]["domains"].set_index("domain")
        assert out.uns["semst_domain_annotation"]["params"]["distinct"] is distinct
    alone, together = named[False], named[True]
    assert alone.loc["WM", "best_match"] == alone.loc["WM_half", "best_match"] == "white matter"
    matched = together["best_match"][together["best_match"] != ""]
    assert matched.is_unique  # one entry per domain
    assert "white matter" in set(together.loc[["WM", "WM_half"], "name"])
    other = together.loc[["WM", "WM_half"]].query("best_match != 'white matter'").iloc[0]
    assert other["first_choice"] == "white matter" and other["runner_up"] not in set(matched)
    unsplit = together.drop(["WM", "WM_half"])
    assert (unsplit["name"] == alone.drop(["WM", "WM_half"])["name"]).all()  # the others keep their names


def test_a_runner_up_is_never_the_entry_matched_when_every_entry_is_taken():
    from semst_sc.tl._annotate import _match

    score = np.array([[0.9, 0.8], [0.85, 0.1], [0.5, 0.4]])  # three domains, two entries
    matched, second = _match(score, distinct=True)
    assert list(matched) == [1, 0, 0]  # domain 0 gives its best entry to domain 1, domain 2 takes its best
    assert list(second) == [0, 1, 1] and (matched != second).all()  # each its best other than its own


def test_domains_are_named_after_compartments_unless_asked(tissue):
    compartments = {entry.name for entry in CATALOGUE if entry.kind == "compartment"}
    assert {entry.kind for entry in CATALOGUE} == {"compartment", "cell type"} and len(compartments) > 30
    matched = {}
    for cell_types in (False, True):
        out = sst.tl.annotate_domains(tissue, domain_key="domain", gene_text=False, cell_types=cell_types, copy=True)
        table = out.uns["semst_domain_annotation"]["domains"]
        assert out.uns["semst_domain_annotation"]["params"]["cell_types"] is cell_types
        matched[cell_types] = set(table[["best_match", "first_choice", "runner_up"]].to_numpy().ravel())
    assert matched[False] <= compartments
    assert matched[True] - compartments  # cell types (astrocytes, OPCs) come back as runners-up
    assert {e.name for e in entries_for("cortex", cell_types=False)} < {e.name for e in entries_for("cortex")}


def _carcinoma(rng: int = 0) -> ad.AnnData:
    """Three domains of a non-neural slide: tumour epithelium, stroma and a lymphoid follicle (real markers)."""
    programs = {
        "tumour": ["EPCAM", "KRT8", "KRT18", "KRT19", "CDH1", "CLDN4", "ELF3"],
        "stroma": ["COL1A1", "COL1A2", "COL3A1", "DCN", "LUM", "FBLN1", "POSTN"],
        "follicle": ["MS4A1", "CR2", "FCER2", "CXCL13", "CD19", "CD79A", "PAX5"],
    }
    genes = [g for program in programs.values() for g in program] + [f"GENE{i}" for i in range(60)]
    generator = np.random.default_rng(rng)
    domains = np.repeat(list(programs), 80)
    rate = np.full((len(domains), len(genes)), 0.5)
    for domain, program in programs.items():
        rate[np.ix_(domains == domain, [genes.index(g) for g in program])] = 8.0
    obs = pd.DataFrame({"domain": pd.Categorical(domains)}, index=[f"spot{i}" for i in range(len(domains))])
    return ad.AnnData(generator.poisson(rate).astype(np.float32), obs=obs, var=pd.DataFrame(index=genes))


def test_the_tissue_is_guessed_from_the_domains_best_matches(tissue):
    sst.tl.annotate_domains(tissue, domain_key="domain", gene_text=False)  # tissue="auto", the default
    params = tissue.uns["semst_domain_annotation"]["params"]
    assert params["tissue_requested"] == "auto" and params["tissue"] == "cortex"  # most domains are cortical layers
    slide = _carcinoma()
    sst.tl.annotate_domains(slide, domain_key="domain", gene_text=False, organism="human")
    result = slide.uns["semst_domain_annotation"]
    assert result["params"]["tissue"] == "non-neural"
    names = result["domains"].set_index("domain")["name"]
    expected = {"follicle": "lymphoid follicle", "stroma": "fibroblasts and stroma", "tumour": "epithelium"}
    assert names.to_dict() == expected
    everything = sst.tl.annotate_domains(slide, domain_key="domain", gene_text=False, tissue=None, copy=True)
    assert everything.uns["semst_domain_annotation"]["params"]["tissue"] == ""
    tie = [next(e for e in CATALOGUE if e.name == n) for n in ("white matter", "epithelium", "T cells")]
    assert guess_tissue(tie) is None and guess_tissue(tie[:1] + tie) == "brain"


def test_the_guess_narrows_to_a_brain_region_that_most_domains_match():
    def entries(*names):
        return [next(e for e in CATALOGUE if e.name == n) for n in names]

    cortex = entries("cortical layer 2/3", "cortical layer 4", "cortical layer 5", "white matter")
    assert guess_tissue(cortex + entries("olfactory bulb mitral cell layer")) == "cortex"  # 3 of 5: not a bulb
    bulb = entries("olfactory nerve layer", "olfactory bulb granule cell layer", "olfactory bulb mitral cell layer")
    assert guess_tissue(bulb + entries("white matter")) == "olfactory bulb"
    mixed = entries("cortical layer 2/3", "cortical layer 4", "hippocampus", "dentate gyrus", "striatum")
    mixed += entries("white matter")
    assert guess_tissue(mixed) == "brain"  # cortex 2 of 6: the hippocampus and striatum keep their names
    assert guess_tissue(cortex[:2] + entries("white matter", "endothelium and blood vessels")) == "brain"  # 2 of 4


def test_marker_support_combines_the_z_scores_of_an_entry_s_markers():
    z = np.array([[40.0, 0.0, 20.0], [0.0, 30.0, -10.0]])  # domains x tested genes
    tested = {"A": 0, "B": 1}  # column of each tested symbol (a duplicated symbol: its first column, as _markers)
    entries = (
        Entry("a and c", ("any",), "compartment", ("a", "C"), ""),  # C was not tested
        Entry("a and b", ("any",), "compartment", ("A", "B"), ""),
        Entry("none", ("any",), "compartment", ("X",), ""),
    )
    support = _support(z, tested, entries)
    np.testing.assert_allclose(support, [[1.0, 1 / np.sqrt(2), 0.0], [0.0, 1.0, 0.0]])  # each domain by its best
    weak = _support(z / 10, tested, entries)  # no entry reaches full support (a Stouffer z of 10) in either domain
    np.testing.assert_allclose(weak, [[0.4, 0.4 / np.sqrt(2), 0.0], [0.0, 0.3 / np.sqrt(2), 0.0]])


def test_catalogue_markers_are_read_beyond_the_modelled_genes(tissue):
    sst.pp.prepare(tissue)
    tissue.var.loc[["MBP", "PLP1", "MOBP"], "semst_modelled"] = False  # as when they miss the highly variable genes
    assert "MBP" not in lognormalised(tissue, None, None)[1]
    assert "MBP" in lognormalised(tissue, None, None, also=MARKER_SYMBOLS)[1]
    sst.tl.annotate_domains(tissue, domain_key="domain", gene_text=False)
    table = tissue.uns["semst_domain_annotation"]["domains"].set_index("domain")
    assert {"MBP", "PLP1", "MOBP"} <= set(table.loc["WM", "markers"].split("; "))
    sst.tl.query(tissue, "myelination", gene_text=False)
    assert "MBP" in set(tissue.uns["semst_query"]["genes"]["gene"])  # through the white matter entry


def test_annotation_and_query_leave_the_modelled_genes_as_prepare_chose_them(tissue):
    """They read catalogue markers beyond the modelled genes: that switched those genes on in var (copy=True too)."""
    sst.pp.prepare(tissue)
    tissue.var.loc[["MBP", "PLP1", "MOBP"], "semst_modelled"] = False
    tissue.var["gene_symbol"] = tissue.var_names.to_numpy()
    tissue.var.loc[tissue.var_names[:3], "gene_symbol"] = ""  # genes without a symbol are not read
    before = tissue.var["semst_modelled"].copy()
    sst.tl.annotate_domains(tissue, domain_key="domain", gene_text=False, gene_symbols="gene_symbol", copy=True)
    pd.testing.assert_series_equal(tissue.var["semst_modelled"], before)
    sst.tl.query(tissue, "myelination", gene_text=False, gene_symbols="gene_symbol")
    pd.testing.assert_series_equal(tissue.var["semst_modelled"], before)


def test_ensembl_var_names_are_read_through_the_symbol_column(tissue):
    tissue.var["gene_symbol"] = tissue.var_names.to_numpy()
    tissue.var_names = [f"ENSG{i:011d}" for i in range(tissue.n_vars)]
    copy = sst.tl.annotate_domains(tissue, domain_key="domain", gene_text=False, copy=True)
    assert "semst_domain_name" not in tissue.obs  # copy=True leaves the input alone
    assert copy.uns["semst_domain_annotation"]["domains"].set_index("domain").loc["WM", "name"] == "white matter"


def test_tissue_keeps_the_names_of_that_tissue(tissue):
    names = {}
    for where in ("cortex", "non-neural"):
        out = sst.tl.annotate_domains(tissue, domain_key="domain", gene_text=False, tissue=where, copy=True)
        table = out.uns["semst_domain_annotation"]["domains"].set_index("domain")
        allowed = {entry.name for entry in entries_for(where)} | {"unassigned", ""}
        assert set(table["name"]) | set(table["runner_up"]) <= allowed
        assert out.uns["semst_domain_annotation"]["params"]["tissue"] == where
        names[where] = table["best_match"]
    assert names["cortex"]["WM"] == "white matter" and names["non-neural"]["WM"] != "white matter"
    assert {entry.name for entry in entries_for("olfactory bulb")} >= {"olfactory nerve layer", "astrocytes", "T cells"}
    assert "cortical layer 5" not in {entry.name for entry in entries_for("olfactory bulb")}
    with pytest.raises(ValueError, match="tissue must be one of"):
        sst.tl.annotate_domains(tissue, domain_key="domain", gene_text=False, tissue="liverr")


def test_cli_checks_the_tissue_before_reading(tmp_path, capsys):
    slide = tmp_path / "missing.h5ad"
    slide.write_bytes(b"not an h5ad: never read when the arguments are wrong")
    argv = ["run", str(slide), "--n-clusters", "7", "--output", str(tmp_path / "out.h5ad"), "--quiet"]
    assert main([*argv, "--tissue", "cortex"]) == 1
    assert "add --annotate" in capsys.readouterr().err
    assert main([*argv, "--distinct-names"]) == 1
    assert "--distinct-names is about naming the domains: add --annotate" in capsys.readouterr().err
    assert main([*argv, "--cell-types"]) == 1
    assert "--cell-types is about naming the domains: add --annotate" in capsys.readouterr().err
    assert main([*argv, "--annotate", "--tissue", "liverr"]) == 1
    assert "tissue must be one of" in capsys.readouterr().err


def test_scanpy_layout_is_annotated_from_the_counts_layer(tissue):
    """Domains found by another tool, X log-normalised and the counts in layers['counts']: the same names as from X."""
    import scanpy as sc

    sst.tl.annotate_domains(tissue, domain_key="domain", gene_text=False)
    expected = tissue.uns["semst_domain_annotation"]["domains"]
    layout = tissue.copy()
    layout.layers["counts"] = layout.X.copy()
    sc.pp.normalize_total(layout, target_sum=1e4)
    sc.pp.log1p(layout)
    sst.tl.annotate_domains(layout, domain_key="domain", gene_text=False)
    pd.testing.assert_frame_equal(layout.uns["semst_domain_annotation"]["domains"], expected)


def test_bad_input_gives_clear_errors(tissue):
    with pytest.raises(KeyError, match="sst.tl.cluster"):
        sst.tl.annotate_domains(tissue, domain_key="nope", gene_text=False)
    labels = tissue.obs["domain"].astype(str).to_numpy()
    labels[0] = "lonely"
    tissue.obs["one"] = pd.Categorical(labels)
    with pytest.raises(ValueError, match="'lonely'.*1 spot"):
        sst.tl.annotate_domains(tissue, domain_key="one", gene_text=False)
    for blank in ("  ", " ... ", None):
        with pytest.raises(ValueError, match="query text is empty"):
            sst.tl.query(tissue, blank)
    noise = tissue.copy()
    noise.var_names = [f"MT-{i}" for i in range(noise.n_vars)]
    with pytest.raises(ValueError, match="none of the 300 genes can carry a query"):
        sst.tl.query(noise, "myelination", gene_text=False)
    with pytest.raises(FileNotFoundError, match="gene_text"):
        sst.tl.annotate_domains(tissue, domain_key="domain", gene_text="/no/such/table.tsv")


def test_query_matches_catalogue_entries_by_the_other_names_they_are_called(tissue):
    """ "oligodendrocytes" reached the precursors' markers, "myelin" the microglia's, "OPCs" an unrelated entry."""
    for text, entry, domain in (
        ("oligodendrocytes", "white matter", "WM"),
        ("myelin", "white matter", "WM"),
        ("OPCs", "oligodendrocyte precursor cells", None),
    ):
        sst.tl.query(tissue, text, gene_text=False)
        result = tissue.uns["semst_query"]
        assert result["params"]["best_entry"] == entry, text
        assert (result["genes"]["via"].head(5) == entry).all(), result["genes"].head(5)
        if domain is not None:
            assert tissue.obs.groupby("domain", observed=True)["semst_query"].mean().idxmax() == domain
    sst.tl.query(tissue, "inhibitory neurons", gene_text=False)  # every interneuron entry, not excitatory neurons
    via = set(tissue.uns["semst_query"]["genes"]["via"].head(6))
    assert via == {"PV interneurons", "SST interneurons", "VIP interneurons"}


def test_query_keeps_the_catalogue_to_a_tissue(tissue, tmp_path):
    from fakes import scanpy_warnings

    for where, entry in (
        ("olfactory bulb", "olfactory bulb granule cell layer"),
        ("cerebellum", "cerebellar granule layer"),
    ):
        sst.tl.query(tissue, "granule cells", gene_text=False, tissue=where)
        params = tissue.uns["semst_query"]["params"]
        assert params["best_entry"] == entry and params["tissue"] == where
    logged = scanpy_warnings(lambda: sst.tl.query(tissue, "granule cells", gene_text=False))
    assert "matches catalogue entries of different tissues about as well: dentate gyrus" in logged
    assert "tissue= (e.g. 'hippocampus', 'cerebellum'" in logged
    assert tissue.uns["semst_query"]["params"]["tissue"] == ""  # as the annotation records the whole catalogue
    tissue.write_h5ad(tmp_path / "queried.h5ad")
    assert ad.read_h5ad(tmp_path / "queried.h5ad").uns["semst_query"]["params"]["tissue"] == ""
    told = scanpy_warnings(lambda: sst.tl.query(tissue, "granule cells", gene_text=False, tissue="hippocampus"))
    assert "different tissues" not in told
    assert "different tissues" not in scanpy_warnings(
        lambda: sst.tl.query(tissue, "inhibitory neurons", gene_text=False)
    )
    tissue.write_h5ad(tmp_path / "queried.h5ad")  # the parameters stay writable
    before = tissue.obs["semst_query"].copy()
    with pytest.raises(ValueError, match="tissue must be one of"):
        sst.tl.query(tissue, "granule cells", gene_text=False, tissue="liver")
    pd.testing.assert_series_equal(tissue.obs["semst_query"], before)


def test_an_ambiguous_query_suggests_the_tissue_the_domains_were_named_for(tissue):
    """On an olfactory bulb named as one, "granule cells" suggested tissue='hippocampus' or 'cerebellum' alone."""
    from fakes import scanpy_warnings

    tissue.uns["semst_domain_annotation"] = {"params": {"tissue": "olfactory bulb"}}  # as annotate_domains records it
    logged = scanpy_warnings(lambda: sst.tl.query(tissue, "granule cells", gene_text=False))
    assert "e.g. 'olfactory bulb', the tissue its domains were named for (uns['semst_domain_annotation']); or" in logged
    tissue.uns["semst_domain_annotation"]["params"]["tissue"] = "brain"  # no help: the regions are all brain
    assert "(e.g. 'hippocampus'" in scanpy_warnings(lambda: sst.tl.query(tissue, "granule cells", gene_text=False))


def test_mouse_orthologs_spelled_otherwise_are_the_catalogue_markers(tissue):
    """Mouse transferrin (Trf) is the white matter's TF: on a mouse slide it was no marker of anything."""
    wm = next(e for e in CATALOGUE if e.name == "white matter")
    assert wm.markers[wm.markers.index("TF") + 1] == "Trf" and wm.n_listed == len(wm.markers) - 1
    purkinje = next(e for e in CATALOGUE if e.name == "Purkinje cells")
    assert "CA8" in purkinje.markers and "Car8" in purkinje.markers  # CAR8 is neither species' symbol
    mouse = tissue.copy()  # the simulation's MOG (white matter) stands in for transferrin
    mouse.var_names = ["Trf" if g == "MOG" else g.capitalize() for g in tissue.var_names]
    sst.tl.query(mouse, "white matter", gene_text=False)
    genes = mouse.uns["semst_query"]["genes"].set_index("gene")
    assert genes.loc["Trf", "via"] == "white matter"
    measured = {}
    for name, slide in (("Trf", mouse), ("Mog", tissue.copy())):
        slide.var_names = [g.capitalize() for g in slide.var_names] if name == "Mog" else slide.var_names
        sst.tl.annotate_domains(slide, domain_key="domain", gene_text=False)
        table = slide.uns["semst_domain_annotation"]["domains"].set_index("domain")
        measured[name] = table.loc["WM", "markers_measured"]
        assert table.loc["WM", "markers_listed"] == wm.n_listed
    assert measured["Trf"] == measured["Mog"]  # Trf counts as Mog did


def test_query_tissue_warning_counts_regions_only():
    from fakes import scanpy_warnings

    from semst_sc.tl._query import _warn_when_tissues_compete

    def entry(name, where):
        return Entry(name, (where,), "compartment", ("X",), "")

    def warned(places, match):
        entries = [entry(f"e{i}", where) for i, where in enumerate(places)]
        return "different tissues" in scanpy_warnings(lambda: _warn_when_tissues_compete("q", entries, np.array(match)))

    assert warned(["hippocampus", "any", "cerebellum"], [0.8, 0.79, 0.75])  # an immune entry among them silenced it
    assert not warned(["brain", "cortex"], [0.8, 0.79])  # tissue='cortex' keeps the whole brain's entries
    assert not warned(["hippocampus", "cerebellum"], [0.8, 0.6])  # not close


def test_markers_a_query_warns_of_are_spelled_for_the_organism(tissue):
    """On a mouse slide the warning listed human symbols, and both spellings of an ortholog pair (TP63, Trp63)."""
    from fakes import scanpy_warnings

    logged = scanpy_warnings(lambda: sst.tl.query(tissue, "squamous epithelium", gene_text=False))
    assert "none of its markers (KRT5, KRT14, KRT1, KRT10, TP63, SFN, ...)" in logged  # no simulated marker of it
    tissue.var_names = [g.capitalize() for g in tissue.var_names]
    logged = scanpy_warnings(lambda: sst.tl.query(tissue, "squamous epithelium", gene_text=False))
    assert "none of its markers (Krt5, Krt14, Krt1, Krt10, Trp63, Sfn, ...)" in logged
    purkinje = next(e for e in CATALOGUE if e.name == "Purkinje cells")
    assert purkinje.spelled_for("mouse")[:3] == ("Pcp2", "Car8", "Calb1")
    assert "Car8" not in purkinje.spelled_for("human")


def test_query_reaches_genes_through_the_catalogue(tissue):
    sst.tl.query(tissue, "astrocytes", gene_text=False)  # bare symbols: the catalogue is the only knowledge
    genes = tissue.uns["semst_query"]["genes"]
    entry = next(e for e in entries_for(None) if e.name == "astrocytes")
    listed = set(entry.markers) & set(tissue.var_names)  # the astrocyte entry's markers simulated here
    assert len(listed) >= 5
    assert set(genes["gene"].head(len(listed))) == listed
    assert (genes.loc[genes["gene"].isin(listed), "via"] == "astrocytes").all()
    assert tissue.uns["semst_query"]["params"]["best_entry"] == "astrocytes"
    means = tissue.obs.groupby("domain", observed=True)["semst_query"].mean()
    assert means.idxmax() == "Layer1"  # the simulation's astrocyte-rich compartment
    sst.tl.query(tissue, "astrocytes", gene_text=False, catalogue=False)
    alone = tissue.uns["semst_query"]
    assert not set(alone["genes"]["gene"].head(len(listed))) >= listed and (alone["genes"]["via"] == "").all()
    assert alone["params"]["best_entry"] == "" and not alone["params"]["catalogue"]


def test_query_on_a_view_writes_to_it_silently_and_leaves_the_parent(tissue):
    view, _ = on_a_view(tissue, lambda v: sst.tl.query(v, "astrocytes", gene_text=False))
    assert np.isfinite(view.obs["semst_query"]).all() and "semst_query" in view.uns


def test_gene_knowledge_given_every_documented_way_and_keys_of_other_steps_left_alone(tissue, tmp_path):
    texts = {"MBP": "myelin basic protein, a major constituent of the myelin sheath", "GFAP": "astrocyte filament"}
    for given in (texts, pd.Series(texts)):  # a mapping symbol -> text, as pp.gene_semantics takes it
        sst.tl.query(tissue, "myelin sheath", gene_text=given)
        assert tissue.uns["semst_query"]["genes"]["gene"].iloc[0] == "MBP"
        assert tissue.uns["semst_query"]["params"]["gene_text"] == "mapping"
    path = tmp_path / "genes.tsv"
    path.write_text("symbol\ttext\nMBP\tmyelin basic protein of the myelin sheath\nGFAP\tastrocyte filament\n")
    sst.tl.query(tissue, "myelin sheath", gene_text=str(path), catalogue=False)
    assert tissue.uns["semst_query"]["genes"]["gene"].iloc[0] == "MBP"
    path.write_text("symbol\ttext\nMBP\tastrocyte filament\nGFAP\tmyelin basic protein of the myelin sheath\n")
    sst.tl.query(tissue, "myelin sheath", gene_text=str(path), catalogue=False)  # edited: read again
    assert tissue.uns["semst_query"]["genes"]["gene"].iloc[0] == "GFAP"
    with pytest.raises(TypeError, match="gene_text must be None, False, 'human'/'mouse', a path"):
        sst.tl.query(tissue, "myelin", gene_text=3)
    table = pd.DataFrame(np.eye(2), index=["MBP", "GFAP"])
    with pytest.raises(TypeError, match="model is a gene-vector table"):
        sst.tl.query(tissue, "myelin", gene_text=False, model=table)
    tissue.obs["semst_domain"] = tissue.obs["domain"]
    with pytest.raises(ValueError, match="obs\\['domain'\\] holds other values than a query's scores"):
        sst.tl.query(tissue, "myelin", gene_text=False, key_added="domain")
    for key in ("domain", "semst_domain"):
        with pytest.raises(ValueError, match=f"obs\\['{key}'\\] holds other values than domain names"):
            sst.tl.annotate_domains(tissue, gene_text=False, key_added=key)
    assert (tissue.obs["semst_domain"] == tissue.obs["domain"]).all()
    sst.tl.annotate_domains(tissue, gene_text=False, key_added="region_name")
    sst.tl.annotate_domains(tissue, gene_text=False, key_added="region_name")  # its own names: written again


def test_markers_without_any_text_vector_give_finite_confidences(tissue):
    class Lookup:  # a model knowing the catalogue's entries and nothing of the genes
        name, backend, revision, identity = "lookup", "custom", "1", None

        def encode(self, texts, *, batch_size=64, progress=False):
            unknown = [t.split(":")[0].isupper() for t in texts]  # "SYMBOL: ..." gene texts
            rng = np.random.default_rng(0)
            return np.array([np.zeros(8) if u else rng.normal(size=8) for u in unknown], dtype=np.float32)

    tissue.obs["semst_domain"] = tissue.obs["domain"]
    sst.tl.annotate_domains(tissue, model=Lookup(), gene_text=pd.DataFrame({"symbol": ["MBP"], "text": ["myelin"]}))
    table = tissue.uns["semst_domain_annotation"]["domains"]
    assert np.isfinite(table["confidence"]).all() and table["confidence"].between(0, 1).all()


def test_a_query_resting_on_one_gene_says_so(tissue):
    """A panel measuring one white-matter marker: the 'myelination' map is MBP's alone, and was not said to be."""
    from fakes import scanpy_warnings

    others = [g for g in tissue.var_names if g not in MARKER_SYMBOLS][:25]
    panel = tissue[:, ["MBP", *others]].copy()
    logged = scanpy_warnings(lambda: sst.tl.query(panel, "myelination", gene_text=False))
    assert "rests on one gene, MBP (weight 1.00, through the catalogue's 'white matter')" in logged
    assert "rests on one gene" not in scanpy_warnings(lambda: sst.tl.query(tissue, "myelination", gene_text=False))
    assert "rests on one gene" not in scanpy_warnings(lambda: sst.tl.query(panel, "MBP", gene_text=False))


def test_query_on_a_small_panel_is_driven_by_the_genes_it_is_about(tissue):
    """A targeted panel of 30 genes, 5 of them white-matter markers: those carry the query, not the loosely related
    rest (the old linear weights gave the rest a fifth of the weight and an AUROC of 0.89)."""
    from sklearn.metrics import roc_auc_score

    white = [g for g in next(e for e in entries_for(None) if e.name == "white matter").markers if g in tissue.var_names]
    others = [g for g in tissue.var_names if g not in MARKER_SYMBOLS][:25]
    panel = tissue[:, white[:5] + others].copy()
    sst.tl.query(panel, "myelination", gene_text=False)
    genes = panel.uns["semst_query"]["genes"]
    assert genes.loc[genes["gene"].isin(white[:5]), "weight"].sum() > 0.99
    counts = panel.X.toarray() if hasattr(panel.X, "toarray") else np.asarray(panel.X)
    per_10k = counts / counts.sum(axis=1, keepdims=True) * 1e4
    in_wm = (panel.obs["domain"] == "WM").to_numpy()
    score = panel.obs["semst_query"].to_numpy()
    single = [roc_auc_score(in_wm, np.log1p(per_10k[:, panel.var_names.get_loc(g)])) for g in white[:5]]
    assert roc_auc_score(in_wm, score) > max(0.9, np.median(single))
    # the score is the standardised logarithm of the spots' weighted pooled counts per 10,000
    pooled = np.log1p(per_10k[:, [panel.var_names.get_loc(g) for g in genes["gene"]]] @ genes["weight"].to_numpy())
    assert np.allclose(score, (pooled - pooled.mean()) / pooled.std(), atol=1e-4)


@pytest.mark.real_data
def test_a_query_about_nothing_in_the_tissue_is_warned(tissue, gene_text):
    from fakes import scanpy_warnings

    assert "matches no gene's text well" in scanpy_warnings(lambda: sst.tl.query(tissue, "zzqqxx", gene_text=gene_text))
    assert "matches no gene" not in scanpy_warnings(lambda: sst.tl.query(tissue, "T cells", gene_text=gene_text))


@pytest.mark.real_data
def test_a_query_naming_a_measured_gene_maps_that_gene(tissue, gene_text):
    sst.tl.query(tissue, "mbp", gene_text=gene_text)  # its text ("myelin basic protein ...") is not the query's
    first = tissue.uns["semst_query"]["genes"].iloc[0]
    assert (first["gene"], first["via"]) == ("MBP", "its symbol")


def test_a_query_naming_a_gene_by_its_id_or_not_modelled_maps_that_gene(tissue):
    """A gene left out of the modelled genes, or named by its Ensembl ID, was not read: unrelated genes were mapped."""
    sst.pp.prepare(tissue, n_top_genes=50)
    left_out = next(g for g in tissue.var_names[~tissue.var["semst_modelled"]] if g not in MARKER_SYMBOLS)
    sst.tl.query(tissue, left_out, gene_text=False)
    first = tissue.uns["semst_query"]["genes"].iloc[0]
    assert (first["gene"], first["via"]) == (left_out, "its symbol") and first["weight"] > 0.99
    tissue.var["symbol"] = tissue.var_names
    tissue.var_names = [f"ENSG{i:011d}" for i in range(tissue.n_vars)]
    asked = tissue.var_names[list(tissue.var["symbol"]).index(left_out)]
    sst.tl.query(tissue, asked.lower(), gene_text=False, gene_symbols="symbol")
    assert tissue.uns["semst_query"]["genes"].iloc[0]["gene"] == left_out


@pytest.mark.real_data
def test_query_warnings_say_what_is_missing_and_quote_a_long_query_short(tissue, gene_text):
    from fakes import scanpy_warnings

    # the catalogue has B cells, but the simulated panel measures none of their markers
    logged = scanpy_warnings(lambda: sst.tl.query(tissue, "B cells", gene_text=gene_text))
    assert "closest to the catalogue's 'B cells'" in logged and "none of its markers" in logged
    long = "zzqqxx " * 2000
    logged = scanpy_warnings(lambda: sst.tl.query(tissue, long, gene_text=gene_text))
    assert "matches no gene's text well" in logged and len(logged) < 500
    assert tissue.uns["semst_query"]["params"]["text"] == long.strip()


@pytest.mark.slow
@pytest.mark.real_data
def test_query_is_deterministic_and_finds_white_matter(tissue, gene_text):
    sst.tl.query(tissue, "myelination", gene_text=gene_text)
    first = tissue.obs["semst_query"].to_numpy().copy()
    sst.tl.query(tissue, "myelination", gene_text=gene_text)
    assert np.array_equal(first, tissue.obs["semst_query"].to_numpy())
    means = tissue.obs.groupby("domain", observed=True)["semst_query"].mean()
    assert means.idxmax() == "WM"
    genes = tissue.uns["semst_query"]["genes"]
    assert len(genes) == 30 and np.isclose(genes["weight"].sum(), 1)
    assert {"MBP", "MOBP", "PLP1", "MOG", "MAG"} & set(genes["gene"].head(10))
    assert tissue.uns["semst_query"]["params"]["gene_text"] == "DataFrame"
    sst.tl.query(tissue, "myelination", organism="human", key_added="by_name")  # the descriptions of SEMST_DATA_DIR
    assert tissue.uns["by_name"]["params"]["gene_text"] == "sst.datasets.gene_descriptions('human')"


@pytest.mark.real_data
def test_plots(_annotated, gene_text):
    import matplotlib.pyplot as plt

    fig = sst.pl.domain_report(_annotated, show=False)
    drawn = " ".join(t.get_text() for ax in fig.axes for t in ax.texts)
    assert "white matter" in drawn and "named for: " in drawn and "terms: " in drawn
    plt.close(fig)
    adata = _annotated.copy()
    sst.tl.query(adata, "astrocytes", gene_text=gene_text)
    plt.close(sst.pl.query(adata, show=False))
    bare = ad.AnnData(np.zeros((3, 2)), obsm={"spatial": np.arange(6.0).reshape(3, 2)})
    with pytest.raises(KeyError, match="annotate_domains"):
        sst.pl.domain_report(bare, show=False)
    with pytest.raises(KeyError, match="tl.query"):
        sst.pl.query(bare, show=False)


@pytest.mark.slow
@pytest.mark.real_data
def test_cli_run_annotate_and_query(tissue, gene_text, tmp_path, capsys):
    slide, out, png = tmp_path / "slide.h5ad", tmp_path / "out.h5ad", tmp_path / "map.png"
    tissue.var["hgnc"] = tissue.var_names  # Ensembl IDs as names, the symbols in a column only --gene-symbols names
    tissue.var_names = [f"ENSG{i:011d}" for i in range(tissue.n_vars)]
    tissue.write_h5ad(slide)
    table = tmp_path / "genes.tsv"
    gene_text.reset_index().to_csv(table, sep="\t", index=False)
    argv = ["run", str(slide), "--n-clusters", "7", "--output", str(out), "--plot", str(png), "--epochs", "5",
            "--gene-symbols", "hgnc"]  # fmt: skip
    capsys.readouterr()
    assert (
        main([*argv, "--annotate", "--tissue", "cortex", "--distinct-names", "--cell-types", "--gene-text", str(table),
              "--quiet"]) == 0
    )  # fmt: skip
    result = ad.read_h5ad(out)
    named = result.uns["semst_domain_annotation"]["domains"]
    said = ", ".join(f"{d} = {n}" for d, n in zip(named["domain"], named["name"], strict=True))
    assert f"in {len(named)} domains, named: {said} -> {out}" in capsys.readouterr().out  # the names, said
    assert "semst_domain_name" in result.obs and "semst_domain_annotation" in result.uns
    assert result.uns["semst_domain_annotation"]["params"]["distinct"]
    assert result.uns["semst_domain_annotation"]["params"]["cell_types"]
    matched = result.uns["semst_domain_annotation"]["domains"]["best_match"]
    assert matched[matched != ""].is_unique
    assert png.stat().st_size > 5_000
    query_png = tmp_path / "query.png"
    capsys.readouterr()
    code = main(["query", str(out), "myelination", "--plot", str(query_png), "--gene-text", str(table),
                 "--gene-symbols", "hgnc", "--quiet"])  # fmt: skip
    assert code == 0 and query_png.stat().st_size > 5_000
    assert "top genes" in capsys.readouterr().out
    assert main(["query", str(out), " ?! ", "--quiet"]) == 1
    assert "query text is empty" in capsys.readouterr().err


def test_cli_run_on_an_earlier_output_leaves_out_the_names_of_its_domains(tissue, tmp_path, capsys):
    """The names stayed beside the new domains (4 names on 3 domains), and pl.domain_report refused the file."""
    slide, out = tmp_path / "slide.h5ad", tmp_path / "out.h5ad"
    tissue.obs["semst_domain"] = tissue.obs["domain"].astype(str)
    sst.tl.annotate_domains(tissue, gene_text=False)
    sst.tl.annotate_domains(tissue, gene_text=False, key_added="region")
    sst.tl.annotate_domains(tissue, domain_key="domain", gene_text=False, key_added="truth_name")  # not semst's
    tissue.write_h5ad(slide)
    capsys.readouterr()
    assert main(["run", str(slide), "--n-clusters", "3", "--output", str(out), "--epochs", "2", "--quiet"]) == 0
    said = capsys.readouterr()  # a warning, on stderr: a script reading the result line from stdout is not misled
    assert "they named the input's domains; add --annotate" in said.err and "left out" not in said.out
    result = ad.read_h5ad(out)
    assert not {"semst_domain_name", "region"} & set(result.obs)
    assert not {"semst_domain_annotation", "region_annotation"} & set(result.uns)
    assert "truth_name" in result.obs and "truth_annotation" in result.uns


@pytest.mark.parametrize("names", ["semst_domain_name", "region"])  # the default, and one not ending in _name
def test_names_of_earlier_domains_are_flagged(tissue, names):
    import matplotlib.pyplot as plt
    from fakes import scanpy_warnings

    key = f"{names.removesuffix('_name')}_annotation"
    tissue.obs["semst_domain"] = tissue.obs["domain"].astype(str)
    sst.tl.annotate_domains(tissue, gene_text=False, key_added=names)
    subset = tissue[tissue.obs["domain"] != "Vessel"].copy()
    plt.close(sst.pl.domain_report(subset, key=key, show=False))  # fewer spots, the same domains: the names still hold
    sst.pp.spatial_graph(tissue)
    logged = scanpy_warnings(lambda: sst.tl.refine(tissue))
    assert f"names in uns['{key}'] are of the domains before" in logged
    with pytest.raises(ValueError, match="names other domains.*annotate_domains"):
        sst.pl.domain_report(tissue, key=key, show=False)
    logged = scanpy_warnings(lambda: plt.close(sst.pl.domains(tissue, color=names, show=False)))
    assert f"obs['{names}'] names the domains before obs['semst_domain'] changed" in logged
    sst.tl.annotate_domains(tissue, gene_text=False, key_added=names)
    tissue.obsm["X_semst"] = np.random.default_rng(0).normal(size=(tissue.n_obs, 4))
    assert "are of the domains before" in scanpy_warnings(lambda: sst.tl.cluster(tissue, 3, n_pcs=None))


def test_domain_map_legend_reads_the_names_until_clustered_again(tissue):
    import matplotlib.pyplot as plt

    tissue.obs["semst_domain"] = pd.Categorical(pd.factorize(tissue.obs["domain"], sort=True)[0].astype(str))
    sst.tl.annotate_domains(tissue, gene_text=False)
    table = tissue.uns["semst_domain_annotation"]["domains"]
    before = tissue.obs.copy()

    def legend() -> list[str]:
        fig = sst.pl.domains(tissue, show=False)
        texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
        plt.close(fig)
        return texts

    named = sorted(f"{d}: {n}" for d, n in zip(table["domain"], table["name"], strict=True))
    assert sorted(legend()) == named and legend()[0].startswith("0: ")  # the domains' order, each with its name
    pd.testing.assert_frame_equal(tissue.obs, before)  # the plot changes nothing
    other = {**tissue.uns["semst_domain_annotation"], "domains": table.assign(name="other " + table["name"])}
    other["params"] = {**other["params"], "key_added": "aaa_name"}
    tissue.uns = {"aaa_annotation": other, **tissue.uns}  # first in uns, as an .h5ad round trip would put it
    tissue.obs["aaa_name"] = "other " + tissue.obs["semst_domain_name"].astype(str)
    assert sorted(legend()) == named  # of two annotations, the default key's, whatever the order of uns
    del tissue.uns["semst_domain_annotation"]
    assert all(text.split(": ")[1].startswith("other ") for text in legend())
    tissue.obs["semst_domain"] = tissue.obs["semst_domain"].replace({"1": "0"})  # clustered again: names no longer hold
    assert all(": " not in text for text in legend())


def test_domain_report_draws_each_section(tissue):
    import matplotlib.pyplot as plt

    tissue.obs["semst_domain"] = tissue.obs["domain"].astype(str)
    tissue.obs["section"] = np.where(tissue.obsm["spatial"][:, 0] < np.median(tissue.obsm["spatial"][:, 0]), "a", "b")
    sst.tl.annotate_domains(tissue, gene_text=False)
    fig = sst.pl.domain_report(tissue, library_key="section", show=False)
    maps = [ax for ax in fig.axes if ax.collections and ax.get_title()]
    assert [ax.get_title() for ax in maps] == ["obs['semst_domain']: a", "obs['semst_domain']: b"]
    table = tissue.uns["semst_domain_annotation"]["domains"].set_index("domain")
    assert 0 < table.loc["WM", "markers_measured"] <= table.loc["WM", "markers_listed"]
    drawn = " ".join(t.get_text() for ax in fig.axes for t in ax.texts)
    measured, listed = table.loc["WM", ["markers_measured", "markers_listed"]]
    assert f"({measured} of its {listed} markers measured)" in drawn
    assert "terms:" not in drawn  # annotated without gene knowledge: no "terms: none" under every domain
    assert sum(len(c.get_offsets()) for ax in maps for c in ax.collections) == tissue.n_obs  # each spot once
    plt.close(fig)
    from matplotlib.colors import to_hex

    tissue.obs["semst_domain"] = tissue.obs["semst_domain"].astype("category")
    n = len(tissue.obs["semst_domain"].cat.categories)
    tissue.uns["semst_domain_colors"] = [f"#{i:02x}0000" for i in range(n)]  # scanpy's colours, one per domain
    fig = sst.pl.domain_report(tissue, show=False)
    drawn = {to_hex(c.get_facecolor()[0]) for ax in fig.axes if ax.get_title() for c in ax.collections}
    assert drawn == set(tissue.uns["semst_domain_colors"])
    plt.close(fig)
    del tissue.uns["semst_domain_colors"]  # no scanpy colours, and a category no spot holds (first): still alike
    domains = tissue.obs["semst_domain"].cat.add_categories(["empty"])
    tissue.obs["semst_domain"] = domains.cat.reorder_categories(["empty", *domains.cat.categories[:-1]])
    report, plot = sst.pl.domain_report(tissue, show=False), sst.pl.domains(tissue, show=False)
    by_plot = {  # each domain's colour in pl.domains, by its id ("WM: white matter" reads "WM")
        t.get_text().split(": ")[0]: to_hex(h.get_color())
        for t, h in zip(plot.axes[0].get_legend().texts, plot.axes[0].get_legend().legend_handles, strict=True)
    }
    spots = {to_hex(c.get_facecolor()[0]): len(c.get_offsets()) for c in report.axes[0].collections}
    sizes = tissue.obs["semst_domain"].value_counts()
    assert spots == {by_plot[d]: sizes[d] for d in by_plot}
    plt.close(report)
    plt.close(plot)
    for bad in ({"n_markers": -1}, {"n_terms": -1}):
        with pytest.raises(ValueError, match=f"{next(iter(bad))} must be"):
            sst.pl.domain_report(tissue, show=False, **bad)
    tissue.obs["section"] = [f"s{i % 9}" for i in range(tissue.n_obs)]  # nine sections: maps wrapped, 3 per row
    fig = sst.pl.domain_report(tissue, library_key="section", ncols=3, show=False)
    maps = [ax for ax in fig.axes if ax.collections and ax.get_title()]
    assert len({round(ax.get_position().y0, 3) for ax in maps}) == 3 and fig.get_figwidth() < 20
    plt.close(fig)


def test_domain_report_draws_spots_without_a_domain_grey(tissue):
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_hex

    tissue.obs["semst_domain"] = tissue.obs["domain"].astype(str).astype("category")
    sst.tl.annotate_domains(tissue, gene_text=False)
    domains = tissue.obs["semst_domain"].copy()
    domains.iloc[::7] = np.nan  # spots left without a domain: they were not drawn at all
    tissue.obs["semst_domain"] = domains
    fig = sst.pl.domain_report(tissue, show=False)
    drawn = [c for c in fig.axes[0].collections if len(c.get_offsets())]
    spots = {to_hex(c.get_facecolor()[0]): len(c.get_offsets()) for c in drawn}
    assert sum(spots.values()) == tissue.n_obs and spots[to_hex("lightgrey")] == domains.isna().sum()
    drawn = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert f"NA: no domain ({domains.isna().sum()} spots)" in drawn
    plt.close(fig)


def test_domain_report_text_keeps_to_its_column_for_many_domains(tissue):
    import matplotlib.pyplot as plt

    tissue.obs["semst_domain"] = pd.Categorical((np.arange(tissue.n_obs) % 30).astype(str))  # 30 domains
    sst.tl.annotate_domains(tissue, gene_text=False, min_confidence=0)
    fig = sst.pl.domain_report(tissue, show=False)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = sorted((t.get_window_extent(renderer) for t in fig.axes[-1].texts), key=lambda box: -box.y1)
    assert len(texts) == 60  # a heading and a body per domain
    inside = fig.bbox
    assert all(inside.x0 <= box.x0 and box.x1 <= inside.x1 and inside.y0 <= box.y0 for box in texts)
    assert all(upper.y0 >= lower.y1 - 1 for upper, lower in zip(texts, texts[1:], strict=False))  # no overlap
    plt.close(fig)


def test_domains_stored_as_whole_floats_keep_their_names_and_colours(tissue):
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_hex

    tissue.obs["labels"] = tissue.obs["domain"].cat.codes.astype(float)  # 0.0, 1.0, ...: labels as numbers
    sst.tl.annotate_domains(tissue, domain_key="labels", key_added="labels_name", gene_text=False)
    plt.close(sst.pl.domain_report(tissue, key="labels_annotation", show=False))  # not judged stale at once
    fig = sst.pl.domains(tissue, color="labels", palette={"0": "black"}, show=False)  # keyed as before the names
    legend = fig.axes[0].get_legend()
    colours = {t.get_text(): to_hex(h.get_color()) for t, h in zip(legend.texts, legend.legend_handles, strict=True)}
    first = next(label for label in colours if label.startswith("0: "))  # the names are in the legend
    assert colours[first] == "#000000"
    plt.close(fig)


def test_names_from_several_brain_regions_are_flagged(tissue):
    from fakes import scanpy_warnings

    from semst_sc.tl._annotate import _warn_of_several_regions
    from semst_sc.tl._catalogue import CATALOGUE

    tissue.obs["semst_domain"] = tissue.obs["domain"].astype(str)
    logged = scanpy_warnings(lambda: sst.tl.annotate_domains(tissue, gene_text=False, tissue="brain"))
    assert "brain regions" not in logged  # a cortex named after cortical layers, glia and vessels
    entries = {entry.name: entry for entry in CATALOGUE}
    names = ["cortical layer 5", "olfactory bulb mitral cell layer", "astrocytes", "cortical layer 2/3", "unassigned"]
    chosen = [entries[n] for n in names[:4]] + [entries["dentate gyrus"]]  # the last one below min_confidence
    domains = pd.DataFrame({"domain": ["0", "1", "2", "3", "4"], "name": names})
    logged = scanpy_warnings(lambda: _warn_of_several_regions(domains, chosen))
    assert "named after 2 brain regions (cortex: domains 0, 3; olfactory bulb: domains 1)" in logged
    assert "tissue='cortex'" in logged


def test_control_probes_are_never_markers_nor_a_query_s_genes(tissue, gene_text):
    """Control features in the genes (an .h5ad from squidpy's readers), high in one domain, were its first markers."""
    from fakes import CONTROL_PROBES, with_control_probes

    adata = with_control_probes(tissue, (tissue.obs["domain"] == "WM").to_numpy())
    sst.tl.annotate_domains(adata, domain_key="domain", gene_text=False)
    table = adata.uns["semst_domain_annotation"]["domains"].set_index("domain")
    markers = "; ".join(table["markers"]).split("; ")
    assert not set(CONTROL_PROBES) & set(markers) and table.loc["WM", "name"] == "white matter"
    sst.tl.query(adata, "blank negative control probe", gene_text=gene_text)
    assert not set(CONTROL_PROBES) & set(adata.uns["semst_query"]["genes"]["gene"])


def test_cli_query_of_a_cell_slide_counts_cells(tissue, gene_text, tmp_path, capsys):
    """semst-sc run says '... cells in 7 domains' on a cell-resolution slide, and its query said '... spots'."""
    sst.pp.prepare(tissue, resolution="cell")
    tissue.write_h5ad(tmp_path / "cells.h5ad")
    table = tmp_path / "genes.tsv"
    gene_text.reset_index().to_csv(table, sep="\t", index=False)
    capsys.readouterr()
    assert main(["query", str(tmp_path / "cells.h5ad"), "myelination", "--gene-text", str(table), "--quiet"]) == 0
    assert f"on {tissue.n_obs} cells (their neighbourhoods); top genes" in capsys.readouterr().out
    out = tmp_path / "each.h5ad"
    args = ["query", str(tmp_path / "cells.h5ad"), "myelination", "--gene-text", str(table), "--each-cell"]
    assert main([*args, "--output", str(out), "--quiet"]) == 0
    assert f"on {tissue.n_obs} cells; top genes" in capsys.readouterr().out
    assert ad.read_h5ad(out).uns["semst_query"]["params"]["neighbourhood"] is False


def test_query_at_cell_resolution_scores_each_cell_s_neighbourhood(tissue):
    """A cell's own few counts made a speckled map: its neighbourhood (as pp.prepare pools it) shows the domain."""
    from sklearn.metrics import roc_auc_score

    cells = sst.datasets.simulate_tissue(30, 30, platform="xenium", n_cells=2500, rng=0)
    sst.pp.prepare(cells)
    assert cells.uns["semst_prepare"]["params"]["resolution"] == "cell"
    auroc = {}
    for neighbourhood in (None, False):
        sst.tl.query(cells, "myelination", gene_text=False, neighbourhood=neighbourhood)
        auroc[neighbourhood] = roc_auc_score(cells.obs["domain"] == "WM", cells.obs["semst_query"])
        assert cells.uns["semst_query"]["params"]["neighbourhood"] is (neighbourhood is None)
    assert auroc[None] > 0.95 and auroc[None] > auroc[False] + 0.1  # 0.997 and 0.776 when written
    sst.pp.prepare(tissue)  # Visium spots: no neighbourhoods, each spot alone
    sst.tl.query(tissue, "myelination", gene_text=False)
    assert tissue.uns["semst_query"]["params"]["neighbourhood"] is False
    with pytest.raises(KeyError, match=r"obsp\['semst_neighbourhood'\] not found: sst.pp.prepare writes it"):
        sst.tl.query(tissue, "myelination", gene_text=False, neighbourhood=True)
    with pytest.raises(TypeError, match="neighbourhood must be None, True or False"):
        sst.tl.query(tissue, "myelination", gene_text=False, neighbourhood="yes")


def test_annotation_at_cell_resolution_ranks_markers_on_neighbourhoods():
    """Domains found from neighbourhoods are named from their neighbourhoods' markers; False: each cell alone."""
    cells = sst.datasets.simulate_tissue(20, 20, platform="xenium", n_cells=1200, rng=0)
    sst.pp.prepare(cells)
    alone = cells.copy()
    del alone.obsp["semst_neighbourhood"]  # as before prepare pooled anything
    tables = {}
    for name, adata, neighbourhood in (("default", cells, None), ("each_cell", cells, False), ("alone", alone, None)):
        sst.tl.annotate_domains(adata, domain_key="domain", gene_text=False, neighbourhood=neighbourhood)
        tables[name] = adata.uns["semst_domain_annotation"]
    assert tables["default"]["params"]["neighbourhood"] and not tables["each_cell"]["params"]["neighbourhood"]
    pd.testing.assert_frame_equal(tables["each_cell"]["domains"], tables["alone"]["domains"])
    assert not tables["default"]["domains"]["markers"].equals(tables["each_cell"]["domains"]["markers"])
    assert (tables["default"]["domains"]["name"] != "unassigned").all()
    with pytest.raises(KeyError, match=r"obsp\['semst_neighbourhood'\] not found"):
        sst.tl.annotate_domains(alone, domain_key="domain", gene_text=False, neighbourhood=True)
