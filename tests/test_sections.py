"""Several sections in one AnnData: joining them, and every step honouring ``library_key``."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from fakes import scanpy_warnings
from sklearn.metrics import adjusted_rand_score
from sklearn.neighbors import NearestNeighbors

import semst_sc as sst
from semst_sc.datasets import simulate_tissue


@pytest.fixture(scope="module")
def _pair():
    """Two sections of the same simulated tissue (same genes, other spots); the second sequenced three times deeper."""
    a = simulate_tissue(20, 20, rng=0)
    b = simulate_tissue(22, 18, rng=0)
    b.X = sp.csr_matrix(b.X * 3)
    return a, b


@pytest.fixture
def pair(_pair):
    return _pair[0].copy(), _pair[1].copy()


@pytest.fixture
def joined(pair):
    return sst.concat_sections({"A": pair[0], "B": pair[1]})


def crosses(graph: sp.spmatrix, sections: np.ndarray) -> int:
    rows, cols = sp.coo_matrix(graph).nonzero()
    return int((sections[rows] != sections[cols]).sum())


def test_concat_sections_joins_on_shared_genes_and_keeps_the_inputs(pair, caplog):
    a, b = pair
    b = b[:, 10:].copy()  # B lacks 10 genes
    b.uns["spatial"] = {"B": {"scalefactors": {"spot_diameter_fullres": 1.0}}}
    a_before, b_before = a.copy(), b.copy()
    joined = sst.concat_sections({"A": a, "B": b})
    assert joined.n_obs == a.n_obs + b.n_obs and joined.n_vars == a.n_vars - 10
    assert list(joined.obs["library_id"].cat.categories) == ["A", "B"]
    assert joined.obs_names[0] == f"{a.obs_names[0]}-A"
    assert joined.obs_names.is_unique
    assert joined.uns["spatial"] == b.uns["spatial"]
    a.uns["spatial"] = {"outs": {"scalefactors": {"spot_diameter_fullres": 2.0}}}  # Space Ranger mtx folders' key
    b.uns["spatial"] = {"outs": {"scalefactors": {"spot_diameter_fullres": 1.0}}}
    spatial = sst.concat_sections({"A": a, "B": b}).uns["spatial"]  # each under its section's name, none lost
    assert {k: v["scalefactors"]["spot_diameter_fullres"] for k, v in spatial.items()} == {"A": 2.0, "B": 1.0}
    b.uns["spatial"] = {"A": {}, "other": {}}  # several entries keep their keys: a clash is refused
    with pytest.raises(ValueError, match=r"uns\['spatial'\]\['A'\] as another section does"):
        sst.concat_sections({"A": a, "B": b})
    b.uns["spatial"] = {"outs": {"scalefactors": {"spot_diameter_fullres": 1.0}}}
    again = sst.concat_sections({"A": a, "B": b})
    again.uns["spatial"]["B"]["scalefactors"]["spot_diameter_fullres"] = 9.0  # the joined object is its own
    assert b.uns["spatial"]["outs"]["scalefactors"]["spot_diameter_fullres"] == 1.0
    b.uns["spatial"] = ["not", "a", "dict"]
    with pytest.raises(TypeError, match=r"section 'B' has a list in uns\['spatial'\]"):
        sst.concat_sections({"A": a, "B": b})
    b.uns["spatial"] = {"B": {"scalefactors": {"spot_diameter_fullres": 1.0}}}
    assert "domain" in joined.obs and joined.obsm["spatial"].shape == (joined.n_obs, 2)
    np.testing.assert_array_equal(joined[joined.obs["library_id"] == "B"].X.toarray(), b.X.toarray())
    for before, after in ((a_before, a), (b_before, b)):
        assert before.obs_names.equals(after.obs_names) and before.var_names.equals(after.var_names)
        assert list(before.obs.columns) == list(after.obs.columns)


def test_concat_sections_names_the_sections_that_lack_genes(pair):
    """As pp.prepare does: the count alone (of the largest panel's genes) said neither which section nor all dropped."""
    a, b = pair
    logged = scanpy_warnings(lambda: sst.concat_sections({"A": a[:, 3:].copy(), "B": b[:, :-10].copy()}))
    n = a.n_vars - 13
    assert f"keeping the {n} genes measured in every section (13 dropped; genes each lacks: {{'A': 3, 'B': 10}})" in (
        logged
    )


def test_concat_sections_warns_of_the_graphs_it_leaves_out(pair):
    """A section's own radius graph was dropped without a word, and the pipeline built its kNN graph instead."""
    a, b = pair
    a.obsp["spatial_connectivities"] = sp.identity(a.n_obs, format="csr")
    b.obsp["semst_feature_connectivities"] = sp.identity(b.n_obs, format="csr")  # built again by every run
    logged = scanpy_warnings(lambda: sst.concat_sections({"A": a, "B": b}))
    assert "obsp ['spatial_connectivities'] (graphs within a section) are left out of the joined AnnData" in logged
    assert "sq.gr.spatial_neighbors(joined, library_key='library_id'" in logged
    assert "semst_feature" not in logged
    del a.obsp["spatial_connectivities"]
    assert "obsp" not in scanpy_warnings(lambda: sst.concat_sections({"A": a, "B": b}))


def test_concat_sections_keeps_the_obs_columns_of_every_section(pair, tmp_path):
    """Instruments write different cell tables (Xenium cell_area, CosMx fov): none is dropped for the others' lack."""
    a, b = (x.copy() for x in pair)
    a.obs["cell_area"] = np.arange(a.n_obs, dtype=float)
    b.obs["fov"] = pd.Categorical(["1"] * b.n_obs)
    joined = sst.concat_sections({"A": a, "B": b})
    in_a = np.asarray(joined.obs["library_id"] == "A")
    np.testing.assert_array_equal(joined.obs["cell_area"][in_a], a.obs["cell_area"])
    assert joined.obs["cell_area"][~in_a].isna().all() and (joined.obs["fov"][~in_a] == "1").all()
    assert joined.obs["fov"][in_a].isna().all() and "domain" in joined.obs
    joined.write_h5ad(tmp_path / "joined.h5ad")


def test_concat_sections_leaves_out_the_names_of_a_sections_earlier_domains(pair):
    """A section run (and named) alone before: its names are of its own domains, and their table is not joined."""
    a, b = pair
    a.obs["semst_domain"] = pd.Categorical(a.obs["domain"].cat.codes.astype(str))
    a.obs["semst_domain_name"] = a.obs["domain"].astype(str)  # as tl.annotate_domains writes them
    a.uns["semst_domain_annotation"] = {"params": {"domain_key": "semst_domain", "key_added": "semst_domain_name"}}
    b.obs["my_names"] = "x"
    logged = scanpy_warnings(lambda: sst.concat_sections({"A": a, "B": b}))
    assert "section 'A' holds obs['semst_domain_name']" in logged and "rename" in logged
    joined = sst.concat_sections({"A": a, "B": b})
    # kept, they named A's earlier domains beside the joint run's (and --annotate refused them as a user's column)
    assert "semst_domain_name" not in joined.obs and "my_names" in joined.obs and "semst_domain" in joined.obs
    assert "semst_domain_name" in a.obs  # the input as it was
    a.obs["earlier_names"] = a.obs.pop("semst_domain_name")  # renamed: the user's column, kept
    assert "earlier_names" in sst.concat_sections({"A": a, "B": b}).obs


def test_concat_sections_says_which_var_columns_are_not_in_every_section(pair):
    """Ensembl var_names, the symbols under another column name in each section: both were dropped without a word."""
    a, b = pair
    for section, column in ((a, "gene_symbol"), (b, "gene_name")):
        section.var = pd.DataFrame({column: section.var_names.to_numpy()}, index=section.var_names)
    logged = scanpy_warnings(lambda: sst.concat_sections({"A": a, "B": b}))
    assert "var columns ['gene_name', 'gene_symbol'] are not in every section and are left out" in logged
    assert "'gene_symbol' in A" in logged and "'gene_name' in B" in logged


def test_concat_sections_explains_sections_that_share_no_genes(pair):
    a, b = pair
    b.var_names = [f"ENSG{i:011d}" for i in range(b.n_vars)]
    with pytest.raises(ValueError, match="share 0 genes.*Ensembl IDs"):
        sst.concat_sections({"A": a, "B": b})
    with pytest.raises(TypeError, match="dict"):
        sst.concat_sections([a, b])


def test_concat_sections_warns_when_a_section_is_already_joined(pair):
    a, b = pair
    logged = scanpy_warnings(lambda: sst.concat_sections({"AB": sst.concat_sections({"A": a, "B": b}), "C": b}))
    assert "section 'AB' already holds 2 sections" in logged


def test_concat_sections_warns_before_replacing_a_sections_own_library_id(pair):
    """A section's one obs['library_id'] value ('patient1') was replaced by the section's name without a word."""
    a, b = pair
    a.obs["library_id"], b.obs["library_id"] = "patient1", "B"
    logged = scanpy_warnings(lambda: sst.concat_sections({"A": a, "B": b}))
    assert "section 'A' holds obs['library_id'] = 'patient1', replaced by the section's name" in logged
    assert "name the section 'patient1' to keep it, or pass another library_key" in logged  # the CLI says its own
    assert "section 'B'" not in logged  # its value is its name: nothing is lost
    assert (a.obs["library_id"] == "patient1").all()


def test_concat_sections_joins_a_column_of_text_and_numbers_into_one_that_can_be_written(pair, tmp_path):
    """Text in one section and numbers in another made an AnnData that write_h5ad refused (the CLI: after the run)."""
    a, b = pair
    a.obs["batch"], b.obs["batch"] = "x", 3
    a.obs["only_a"] = "y"  # missing in B: text and NaN, written as they are
    logged = scanpy_warnings(lambda: sst.concat_sections({"A": a, "B": b}))
    assert "obs columns ['batch'] hold values of different types in the sections" in logged
    joined = sst.concat_sections({"A": a, "B": b})
    joined.write_h5ad(tmp_path / "joined.h5ad")
    assert set(joined.obs["batch"]) == {"x", "3"} and joined.obs["only_a"].isna().sum() == b.n_obs
    assert b.obs["batch"].dtype.kind == "i"  # the input as it was


def test_concat_sections_leaves_out_obsm_arrays_of_other_widths_and_says_which(pair):
    """A PCA of 5 components in one section and of 7 in another was joined cut to 5; obsm one section lacked went."""
    a, b = pair
    a.obsm["X_pca"], b.obsm["X_pca"] = np.ones((a.n_obs, 5)), np.ones((b.n_obs, 7))
    a.obsm["X_umap"] = np.ones((a.n_obs, 2))
    logged = scanpy_warnings(lambda: sst.concat_sections({"A": a, "B": b}))
    assert "obsm ['X_pca', 'X_umap'] are not in every section or differ in width" in logged
    joined = sst.concat_sections({"A": a, "B": b})
    assert "X_pca" not in joined.obsm and joined.obsm["spatial"].shape == (a.n_obs + b.n_obs, 2)
    assert a.obsm["X_pca"].shape == (a.n_obs, 5)
    b.obsm["spatial"] = np.c_[b.obsm["spatial"], np.zeros(b.n_obs)]  # a z for one section: refused, not cut
    with pytest.raises(ValueError, match=r"obsm\['spatial'\] have different numbers of columns \({'A': 2, 'B': 3}\)"):
        sst.concat_sections({"A": a, "B": b})


def test_concat_sections_refuses_to_drop_the_coordinates_of_all(pair):
    a, b = pair
    b = b.copy()
    del b.obsm["spatial"]
    with pytest.raises(KeyError, match="section 'B' has no obsm\\['spatial'\\]"):
        sst.concat_sections({"A": a, "B": b})
    assert "spatial" in a.obsm


def test_concat_sections_names_what_it_cannot_join_or_keep(pair, tmp_path):
    a, b = pair
    with pytest.warns(UserWarning, match="Observation names are not unique"):
        twice = b[np.r_[0:30, 0:30]].copy()  # spot names repeated within a section
    with pytest.raises(ValueError, match="section 'B' has duplicate spot names.*obs_names_make_unique"):
        sst.concat_sections({"A": a, "B": twice})
    with pytest.raises(ValueError, match="section name 'P1/B' holds a '/'"):
        sst.concat_sections({"P1_A": a, "P1/B": b})
    a.var["gene_symbol"] = a.var_names
    b.var["gene_symbol"] = [f"{g}.v2" if i == 0 else g for i, g in enumerate(b.var_names)]  # another release
    logged = scanpy_warnings(lambda: sst.concat_sections({"A": a, "B": b}))
    assert "var columns ['gene_symbol'] differ between the sections and are left out" in logged
    a.obsm["spatial"] = pd.DataFrame(a.obsm["spatial"], index=a.obs_names, columns=["x", "y"])  # as some readers do
    joined = sst.concat_sections({"A": a, "B": b})
    np.testing.assert_array_equal(joined[joined.obs["library_id"] == "A"].obsm["spatial"], a.obsm["spatial"])
    assert isinstance(a.obsm["spatial"], pd.DataFrame)  # the input as it was


def test_a_section_of_log_normalised_values_is_named_not_hidden_behind_another_error(pair):
    import scanpy as sc

    a, b = pair
    a.layers["counts"] = a.X.copy()  # the scanpy layout in one section: counts in a layer, X log-normalised
    sc.pp.normalize_total(a, target_sum=1e4)
    sc.pp.log1p(a)
    logged = scanpy_warnings(lambda: sst.concat_sections({"A": a, "B": b}))
    assert "layers ['counts'] are not in every section and are left out" in logged
    joined = sst.concat_sections({"A": a, "B": b})
    with pytest.raises(ValueError, match="section 'A' of adata.X holds non-integer values .*log"):
        sst.pp.prepare(joined, library_key="library_id")


def test_bad_section_labels_are_clear_errors(joined):
    with pytest.raises(KeyError, match="obs\\['sample'\\] not found"):
        sst.pp.spatial_graph(joined, library_key="sample")
    joined.obs["with_nan"] = joined.obs["library_id"].astype(object)
    joined.obs.iloc[:3, joined.obs.columns.get_loc("with_nan")] = np.nan
    with pytest.raises(ValueError, match="3 spots without a section"):
        sst.pp.prepare(joined, library_key="with_nan")
    joined.obs["tiny"] = np.where(np.arange(joined.n_obs) < 5, "small", "big")
    with pytest.raises(ValueError, match="fewer than 20 spots.*'small': 5"):
        sst.run_pipeline(joined, 7, library_key="tiny")
    joined.obs["uneven"] = np.where(np.arange(joined.n_obs) < 25, "small", "big")
    with pytest.raises(ValueError, match="section 'small' of obs\\['uneven'\\] has 25 spots, too few for a spatial"):
        sst.pp.spatial_graph(joined, n_neighbors=30, library_key="uneven")
    # run_pipeline checks the same before any work, and names the section too (it said 'a section of ... has 25')
    with pytest.raises(ValueError, match="section 'small' of obs\\['uneven'\\] has 25 spots.*spatial_neighbors"):
        sst.run_pipeline(joined, 7, library_key="uneven", spatial_neighbors=30)


def test_spatial_graph_never_crosses_sections(joined, pair):
    sst.pp.spatial_graph(joined, library_key="library_id")
    sections = joined.obs["library_id"].to_numpy()
    graph = joined.obsp["spatial_connectivities"]
    assert crosses(graph, sections) == 0
    alone = pair[1].copy()
    sst.pp.spatial_graph(alone)
    b = np.flatnonzero(sections == "B")
    assert (graph[b][:, b] != alone.obsp["spatial_connectivities"]).nnz == 0
    # sections in a column of the user's own name, without library_key: one frame, as asked, and the overlapping
    # frames join the sections (what library_key prevents)
    joined.obs = joined.obs.rename(columns={"library_id": "slice"})
    sst.pp.spatial_graph(joined, n_neighbors=6)
    assert crosses(joined.obsp["spatial_connectivities"], sections) > 0
    # a graph that links sections is not reused once library_key is given (a run without it came first)
    logged = scanpy_warnings(lambda: sst.pp.spatial_graph(joined, library_key="slice"))
    assert "links spots of different sections" in logged
    assert crosses(joined.obsp["spatial_connectivities"], sections) == 0
    assert joined.uns["spatial_neighbors"]["params"]["library_key"] == "slice"


def test_a_vote_never_runs_over_a_graph_that_links_the_sections_modelled(joined):
    """squidpy's spatial_neighbors without library_key after a joint fit: refine voted across sections silently."""
    sst.run_pipeline(joined, 4, library_key="library_id", n_epochs=2)
    coords = joined.obsm["spatial"]
    joined.obsp["spatial_connectivities"] = sp.csr_matrix(
        NearestNeighbors(n_neighbors=6).fit(coords).kneighbors_graph(mode="connectivity")
    )  # as squidpy.gr.spatial_neighbors(joined) leaves it: neighbours from both overlapping sections
    assert crosses(joined.obsp["spatial_connectivities"], joined.obs["library_id"].to_numpy()) > 0
    before = joined.obs["semst_domain"].copy()
    message = r"obsp\['spatial_connectivities'\] links spots of different sections of obs\['library_id'\]"
    with pytest.raises(ValueError, match=message):
        sst.tl.refine(joined)
    with pytest.raises(ValueError, match=message):
        sst.tl.cluster(joined, None, rng=0)
    pd.testing.assert_series_equal(joined.obs["semst_domain"], before)
    sst.pp.spatial_graph(joined, library_key="library_id", n_neighbors=6)  # the fix the message gives
    sst.tl.refine(joined)


def test_joined_sections_are_not_modelled_as_one_slide_when_library_key_is_forgotten(joined, tmp_path):
    before = joined.copy()
    overlap = "sections 'A' and 'B' lie on top of each other.*library_key='library_id'"
    for step in (lambda: sst.run_pipeline(joined, 4, n_epochs=2), lambda: sst.pp.spatial_graph(joined)):
        with pytest.raises(ValueError, match=overlap):
            step()
    assert joined.obsm.keys() == before.obsm.keys() and joined.obsp.keys() == before.obsp.keys()
    joined.obs["semst_domain"] = joined.obs["domain"]
    for read_only in (
        lambda: sst.pl.domains(joined, show=False, save=str(tmp_path / "one.png")),
        lambda: sst.metrics.evaluate(joined, "domain"),
    ):
        assert "lie on top of each other" in scanpy_warnings(read_only)
    assert "lie on top" not in scanpy_warnings(lambda: sst.metrics.evaluate(joined, "domain", library_key="library_id"))
    # sections laid side by side in one frame are one slide, as given
    b = (joined.obs["library_id"] == "B").to_numpy()
    width = np.ptp(joined.obsm["spatial"][:, 0])
    joined.obsm["spatial"][b, 0] += 1.5 * width
    sst.pp.spatial_graph(joined)
    assert "lie on top" not in scanpy_warnings(lambda: sst.metrics.evaluate(joined, "domain"))


def test_prepare_keeps_genes_of_every_section_and_scales_each_alone(joined):
    b = (joined.obs["library_id"] == "B").to_numpy()
    X = joined.X.tolil()
    X[np.flatnonzero(b)[:, None], [0, 1]] = 0  # genes 0 and 1 not measured in B
    joined.X = X.tocsr()
    logged = scanpy_warnings(lambda: sst.pp.prepare(joined, library_key="library_id"))  # was an info line only
    assert "leaving out 2 genes in every section, as some sections of obs['library_id'] do not detect them" in logged
    assert "(genes each lacks: {'B': 2})" in logged
    modelled = joined.var["semst_modelled"].to_numpy()
    assert not modelled[:2].any() and modelled[2:].sum() > 100
    genes = np.flatnonzero(modelled)
    section = joined[b][:, genes].copy()
    sst.pp.prepare(section, n_top_genes=len(genes), min_cells=1)  # B alone, on the jointly modelled genes
    assert section.var["semst_modelled"].all()
    # B's rows of the joint input are B scaled alone: the deeper section does not stand out
    np.testing.assert_allclose(
        joined.layers["semst_scaled"][b][:, genes].toarray(), section.layers["semst_scaled"].toarray(), rtol=1e-5
    )
    params = joined.uns["semst_prepare"]["params"]
    assert params["library_key"] == "library_id" and len(params["lattice_share"]) == 2


def test_prepare_says_which_section_each_of_its_per_section_values_is(joined):
    # the sections listed in another order than their rows: the per-section evidence could not be told apart
    joined.obs["library_id"] = joined.obs["library_id"].cat.reorder_categories(["B", "A"])
    sst.pp.prepare(joined, library_key="library_id")
    params = joined.uns["semst_prepare"]["params"]
    assert list(params["sections"]) == ["A", "B"]
    for name, median in zip(params["sections"], params["median_counts"], strict=True):
        in_section = (joined.obs["library_id"] == name).to_numpy()
        assert median == np.median(np.asarray(joined.X[in_section].sum(axis=1)).ravel())


def test_maps_and_scores_warn_of_the_sections_modelled_under_another_column(joined, tmp_path):
    # modelled with library_key='sample' (semst-sc run --library-key sample): without library_key the maps and the
    # spatial score overlaid the sections without a word, as only obs['library_id'] was looked at
    joined.obs["sample"] = joined.obs.pop("library_id").astype(str)
    sst.pp.prepare(joined, library_key="sample")
    joined.obs["semst_domain"] = joined.obs["domain"]
    for read_only in (
        lambda: sst.pl.domains(joined, show=False, save=str(tmp_path / "one.png")),
        lambda: sst.metrics.evaluate(joined, "domain"),
    ):
        logged = scanpy_warnings(read_only)
        assert "obs['sample'] holds 2 sections" in logged and "library_key='sample'" in logged
    assert "lie on top" not in scanpy_warnings(lambda: sst.metrics.evaluate(joined, "domain", library_key="sample"))
    # and a joint output run again without library_key (semst-sc run out.h5ad without --library-key sample) was
    # modelled as one slide, its sections overlaid, and read as cells
    with pytest.raises(ValueError, match="obs\\['sample'\\] holds 2 sections.*--library-key sample"):
        sst.run_pipeline(joined, 4, n_epochs=2)


def test_sections_of_different_resolutions_are_named_with_their_evidence(pair):
    a, b = pair
    rng = np.random.default_rng(0)
    b.X = sp.csr_matrix(rng.binomial(b.X.toarray().astype(int), 0.05).astype(np.float32))  # a shallow section
    joined = sst.concat_sections({"A": a, "B shallow": b})
    with pytest.raises(ValueError) as error:
        sst.pp.prepare(joined, library_key="library_id")
    message = str(error.value)
    # which section is read as which, and why: not a bare ['spot', 'cell']
    assert "'A': spot" in message and "'B shallow': cell" in message
    assert "median" in message and "500" in message and "--resolution" in message


def test_cell_resolution_neighbourhoods_stay_in_their_section():
    a = simulate_tissue(platform="xenium", n_cells=800, rng=0)
    b = simulate_tissue(platform="xenium", n_cells=700, rng=1)
    joined = sst.concat_sections({"A": a, "B": b})
    sst.pp.prepare(joined, library_key="library_id")
    assert joined.uns["semst_prepare"]["params"]["resolution"] == "cell"
    assert crosses(joined.obsp["semst_neighbourhood"], joined.obs["library_id"].to_numpy()) == 0


def test_a_small_section_does_not_shrink_the_neighbourhoods_of_the_others():
    big = simulate_tissue(platform="xenium", n_cells=400, rng=0)
    small = big[big.obsm["spatial"][:, 0] < np.quantile(big.obsm["spatial"][:, 0], 0.08)].copy()
    joined = sst.concat_sections({"big": big, "small": small})
    logged = scanpy_warnings(lambda: sst.pp.prepare(joined, library_key="library_id", neighbourhood_size=40))
    assert "pools every observation of section(s) ['small']" in logged and small.n_obs <= 40
    sizes = np.diff(joined.obsp["semst_neighbourhood"].tocsr().indptr)
    in_big = (joined.obs["library_id"] == "big").to_numpy()
    assert (sizes[in_big] == 40).all() and (sizes[~in_big] == small.n_obs).all()


def test_balanced_feature_graph_draws_neighbours_from_every_section(joined):
    sst.pp.prepare(joined, library_key="library_id")
    sst.pp.feature_graph(joined, library_key="library_id")
    graph = sp.csr_matrix(joined.obsp["semst_feature_connectivities"])
    sections = joined.obs["library_id"].to_numpy()
    in_b = np.asarray(graph[:, sections == "B"].sum(axis=1)).ravel()
    in_a = np.asarray(graph[:, sections == "A"].sum(axis=1)).ravel()
    assert (in_a >= 7).all() and (in_b >= 7).all()  # ceil(14 / 2) per section, before symmetrisation adds more
    assert graph.diagonal().sum() == 0
    assert joined.uns["semst_feature_neighbors"]["params"]["balanced"]
    sst.pp.feature_graph(joined, library_key="library_id", n_comps=None)  # no SVD: the search runs on sparse rows
    assert joined.uns["semst_feature_neighbors"]["params"]["n_comps"] == 0
    graph = sp.csr_matrix(joined.obsp["semst_feature_connectivities"])
    assert (np.asarray(graph[:, sections == "A"].sum(axis=1)).ravel() >= 7).all()


def test_joint_pipeline_gives_one_set_of_domains_and_leaves_the_input(joined):
    before = joined.copy()
    result = sst.run_pipeline(joined, 7, library_key="library_id", n_epochs=40, copy=True)
    assert joined.obs.equals(before.obs) and set(joined.obsp) == set(before.obsp)
    sections = result.obs["library_id"].to_numpy()
    assert crosses(result.obsp["spatial_connectivities"], sections) == 0
    scores = sst.metrics.evaluate(result, "domain", library_key="library_id")
    assert set(scores["sections"]) == {"A", "B"}
    assert min(s["ari"] for s in scores["sections"].values()) > 0.5
    # one set of domains: scored against one truth over both sections, the matching holds across them
    assert scores["ari"] > 0.5
    for name in ("A", "B"):  # every domain found is used in both sections, not one set per section
        assert result.obs.loc[sections == name, "semst_domain"].nunique() >= 6
    fig = sst.pl.domains(result, color=["semst_domain", "domain"], library_key="library_id", show=False)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["semst_domain: A", "semst_domain: B", "domain: A", "domain: B"]


def test_clustering_warns_when_the_sections_share_no_domain(joined):
    sst.pp.prepare(joined, library_key="library_id")
    truth = joined.obs["domain"].astype(str).to_numpy()
    aligned = (truth[:, None] == np.unique(truth)).astype(float)  # one compartment, one place, in both sections
    apart = aligned + 10 * (joined.obs["library_id"].to_numpy() == "B")[:, None]  # a batch effect dwarfing it
    said = {}
    for name, rep in (("aligned", aligned), ("apart", apart)):
        joined.obsm[name] = rep + np.random.default_rng(0).normal(scale=0.05, size=rep.shape)
        said[name] = scanpy_warnings(lambda name=name: sst.tl.cluster(joined, 6, use_rep=name, n_pcs=None))
    assert "no domain is shared" not in said["aligned"]
    assert "no domain is shared by the sections of obs['library_id']: each of the 6 domains" in said["apart"]


def test_query_scores_the_sections_on_one_scale_that_depth_does_not_move(joined):
    """B is A's tissue sequenced three times deeper: standardised together, neither section stands out."""
    sst.tl.query(joined, "neurons", gene_text=False)
    means = joined.obs.groupby("library_id", observed=True)["semst_query"].mean()
    assert abs(means["A"] - means["B"]) < 0.1


def test_evaluate_scores_each_section(joined):
    joined.obs["semst_domain"] = joined.obs["domain"].astype(str)
    joined.obs.loc[joined.obs["library_id"] == "B", "semst_domain"] = "one"  # B collapsed to a single domain
    scores = sst.metrics.evaluate(joined, "domain", library_key="library_id")
    assert scores["sections"]["A"]["ari"] == pytest.approx(1.0)
    assert scores["sections"]["B"]["ari"] == pytest.approx(0.0)
    assert 0 < scores["ari"] < 1
    n = joined.obs["library_id"].value_counts()
    assert scores["sections"]["B"]["pas"] == 0  # one domain: perfectly coherent
    assert scores["pas"] == pytest.approx(scores["sections"]["A"]["pas"] * n["A"] / joined.n_obs)


def test_evaluate_says_which_section_has_no_label(joined):
    """A section without any label was left out of the per-section scores without a word."""
    joined.obs["semst_domain"] = joined.obs["domain"].astype(str)
    joined.obs["domain"] = joined.obs["domain"].astype(object).where(joined.obs["library_id"] == "A")
    scores = {}
    logged = scanpy_warnings(lambda: scores.update(sst.metrics.evaluate(joined, "domain", library_key="library_id")))
    assert list(scores["sections"]) == ["A"]
    assert "sections ['B'] of obs['library_id'] have no label in obs['domain'] and are left out" in logged


def test_evaluate_scores_a_section_too_small_to_model(joined):
    """A section of 10 spots (a subset of the slide) was refused as if it were to get its own graphs."""
    joined.obs["semst_domain"] = joined.obs["domain"].astype(str)
    b = np.flatnonzero(joined.obs["library_id"] == "B")
    small = joined[np.r_[np.flatnonzero(joined.obs["library_id"] == "A"), b[:10]]]
    scores = sst.metrics.evaluate(small, "domain", library_key="library_id")
    assert scores["sections"]["B"]["n_evaluated"] == 10


def test_evaluate_scores_the_sections_of_a_view_of_a_backed_file(joined, tmp_path):
    import anndata as ad

    joined.obs["semst_domain"] = joined.obs["domain"]
    joined.write_h5ad(tmp_path / "joined.h5ad")
    backed = ad.read_h5ad(tmp_path / "joined.h5ad", backed="r")
    view = backed[backed.obs["array_row"] < 15]  # as pl.domains draws it
    scores = sst.metrics.evaluate(view, "domain", library_key="library_id")
    assert scores["ari"] == scores["sections"]["A"]["ari"] == scores["sections"]["B"]["ari"] == pytest.approx(1.0)
    backed.file.close()


def test_joint_scores_differ_from_pooled_when_sections_are_swapped(joined):
    """A sanity check of the per-section score: labels swapped between sections are caught."""
    labels = pd.Series(joined.obs["domain"].astype(str).to_numpy(), index=joined.obs_names)
    b = (joined.obs["library_id"] == "B").to_numpy()
    codes = {d: i for i, d in enumerate(sorted(labels.unique()))}
    labels[b] = labels[b].map(lambda d: str((codes[d] + 1) % len(codes)))  # B's domains renamed
    joined.obs["semst_domain"] = labels.to_numpy()
    scores = sst.metrics.evaluate(joined, "domain", library_key="library_id")
    assert scores["sections"]["B"]["ari"] == pytest.approx(1.0)  # within B the partition is right
    assert adjusted_rand_score(joined.obs["domain"], labels) == pytest.approx(scores["ari"])
    assert scores["ari"] < 0.8  # but across sections the names do not match


def test_minibatch_training_works_with_sections(joined):
    sst.pp.prepare(joined, library_key="library_id")
    sst.pp.spatial_graph(joined, library_key="library_id")
    sst.pp.feature_graph(joined, library_key="library_id")
    train = {"minibatch": True, "minibatch_size": 128}
    sst.tl.semst(joined, semantic_key=None, n_epochs=3, train_kwargs=train, covariate_key="library_id")
    assert joined.obsm["X_semst"].shape[0] == joined.n_obs and np.isfinite(joined.obsm["X_semst"]).all()
    assert joined.uns["semst"]["params"]["minibatch"] and joined.uns["semst"]["params"]["n_covariates"] == 2


def test_auto_encoder_is_contrastive_for_several_sections_at_spot_resolution(joined):
    sst.pp.prepare(joined, library_key="library_id")
    sst.pp.spatial_graph(joined, library_key="library_id")
    sst.pp.feature_graph(joined, library_key="library_id")
    assert joined.uns["semst_prepare"]["params"]["resolution"] == "spot"

    def chosen(adata, **kwargs):
        params = sst.tl.semst(adata, semantic_key=None, n_epochs=2, copy=True, **kwargs).uns["semst"]["params"]
        return params["encoder"], params["encoder_requested"]

    assert chosen(joined) == ("contrastive", "auto")
    assert chosen(joined, encoder="dual") == ("dual", "dual")  # a name given wins
    # outside what was measured (mini-batches), or asking what only the dual encoder takes: dual
    assert chosen(joined, train_kwargs={"minibatch": True, "minibatch_size": 128})[0] == "dual"
    assert chosen(joined, covariate_key="library_id")[0] == "dual"
    assert chosen(joined, encoder_kwargs={"latent_dim": 8})[0] == "dual"
    import scanpy

    said = []  # and the log says why
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(scanpy.logging, "info", lambda msg, *a, **k: said.append(msg))
        chosen(joined, encoder_kwargs={"latent_dim": 8})
        chosen(joined, covariate_key="library_id")  # said 'encoder settings given' too
    assert "encoder 'auto': 'dual' (encoder settings given)" in said
    assert "encoder 'auto': 'dual' (covariate_key given)" in said
    one = joined[joined.obs["library_id"] == "A"].copy()
    sst.pp.prepare(one)  # one section
    sst.pp.spatial_graph(one)
    sst.pp.feature_graph(one)
    assert chosen(one) == ("dual", "auto")


def test_the_decoder_can_see_the_section(joined):
    sst.pp.prepare(joined, library_key="library_id")
    sst.pp.spatial_graph(joined, library_key="library_id")
    sst.pp.feature_graph(joined, library_key="library_id")
    plain = sst.tl.semst(joined, encoder="dual", semantic_key=None, n_epochs=3, copy=True)
    told = sst.tl.semst(joined, semantic_key=None, n_epochs=3, covariate_key="library_id", copy=True)
    assert (plain.uns["semst"]["params"]["n_covariates"], told.uns["semst"]["params"]["n_covariates"]) == (0, 2)
    assert not np.allclose(plain.obsm["X_semst"], told.obsm["X_semst"])  # the decoder's input shapes the training
    with pytest.raises(ValueError, match="n_covariates=2"):
        model = sst.nn.SemSTModel(10, 10)  # built without the covariate
        sst.tl.semst(joined, encoder=model, semantic_key=None, n_epochs=2, covariate_key="library_id")
    with pytest.raises(ValueError, match="takes no covariates"):
        sst.tl.semst(joined, encoder="contrastive", semantic_key=None, n_epochs=2, covariate_key="library_id")
    with pytest.raises(KeyError, match="nope"):
        sst.tl.semst(joined, semantic_key=None, n_epochs=2, covariate_key="nope")
    joined.obs["depth"] = np.arange(joined.n_obs).astype(float)
    with pytest.raises(ValueError, match="796 values: a covariate is categorical"):
        sst.tl.semst(joined, semantic_key=None, n_epochs=2, covariate_key="depth")
    assert "X_semst" not in joined.obsm  # every failure before training wrote nothing
