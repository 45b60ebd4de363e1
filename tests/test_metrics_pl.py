import matplotlib

matplotlib.use("Agg")

import anndata as ad  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import semst_sc as sst  # noqa: E402


def test_evaluate_perfect_and_missing_labels(tissue):
    tissue.obs["semst_domain"] = tissue.obs["domain"].astype(str).astype("category")
    truth = tissue.obs["domain"].astype(object)
    truth.iloc[:10] = np.nan
    tissue.obs["truth"] = truth
    scores = sst.metrics.evaluate(tissue, "truth")
    assert scores["ari"] == pytest.approx(1) and scores["nmi"] == pytest.approx(1)
    assert scores["n_evaluated"] == tissue.n_obs - 10
    unassigned = tissue.obs["semst_domain"].astype(object)
    unassigned.iloc[10:40] = np.nan  # spots without a domain count against it, as one more domain
    tissue.obs["unassigned"] = unassigned
    scores = sst.metrics.evaluate(tissue, "truth", domain_key="unassigned")
    assert scores["n_evaluated"] == tissue.n_obs - 10 and scores["ari"] < 1
    tissue.obs["shuffled"] = np.random.default_rng(0).permutation(tissue.obs["domain"].to_numpy())
    assert sst.metrics.evaluate(tissue, "shuffled")["ari"] < 0.05


def test_evaluate_a_column_against_itself_per_section(tissue):
    tissue.obs["section"] = np.where(np.arange(tissue.n_obs) < 300, "A", "B")
    # each section was scored on obs[[key, key]], two columns: scikit-learn's 'labels_true must be 1D'
    scores = sst.metrics.evaluate(tissue, "domain", domain_key="domain", library_key="section")
    assert scores["ari"] == scores["sections"]["A"]["ari"] == scores["sections"]["B"]["ari"] == pytest.approx(1)


def test_pas_separates_blocks_from_noise():
    xy = np.array([(i, j) for i in range(20) for j in range(20)], dtype=float)
    blocks = (xy[:, 0] >= 10).astype(int)
    noise = np.random.default_rng(0).integers(0, 2, len(xy))
    assert sst.metrics.pas(xy, blocks) < 0.05 < sst.metrics.pas(xy, noise)
    unsure = np.where(xy[:, 0] >= 10, np.nan, blocks)  # one block left without a domain: not a coherent domain
    assert sst.metrics.pas(xy, unsure) >= 0.5
    assert sst.metrics.pas(xy, np.full(len(xy), np.nan)) == 1.0
    for coords, labels in ((xy, blocks[:10]), (xy[:, 0], blocks), (xy[:1], blocks[:1])):
        with pytest.raises(ValueError, match="pas needs the coordinates of at least two spots"):
            sst.metrics.pas(coords, labels)
    with pytest.raises(ValueError, match="NaN or infinite"):
        sst.metrics.pas(np.where(xy > 18, np.nan, xy), blocks)
    with pytest.raises(ValueError, match="n_neighbors must be a positive integer"):
        sst.metrics.pas(xy, blocks, n_neighbors=0)


def test_evaluate_needs_columns(tissue):
    with pytest.raises(KeyError, match="sst.tl.cluster"):
        sst.metrics.evaluate(tissue, "domain")


def test_domains_plot_writes_png(processed, tmp_path):
    out = tmp_path / "d.png"
    fig = sst.pl.domains(processed, color=["domain", "semst_domain"], show=False, save=str(out))
    assert out.stat().st_size > 10_000
    assert len([ax for ax in fig.axes if ax.get_title()]) == 2
    with pytest.raises(KeyError, match=r"obs\['nope'\] not found: pick an existing column"):
        sst.pl.domains(processed, color="nope", show=False)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"color": []}, "color is empty"),
        ({"color": ["domain", "semst_domain"], "title": "one"}, "1 title.* for 2 column"),
        ({"ncols": 0}, "ncols must be a positive integer"),
        ({"color": "score"}, r"continuous values.*sc.pl.embedding.*astype\('category'\)"),
        ({"color": "counts"}, r"not labels \(576 different numbers\)"),  # 576 labels in the legend before
        ({"color": "barcode"}, r"obs\['barcode'\] holds 576 different labels.*identifier.*astype\('category'\)"),
    ],
)
def test_domains_plot_refuses_what_it_cannot_draw(processed, kwargs, match):
    processed.obs["score"] = np.linspace(0, 1, processed.n_obs)
    processed.obs["counts"] = np.arange(processed.n_obs, dtype=np.float32)  # whole numbers, as counts per spot
    processed.obs["barcode"] = processed.obs_names.to_numpy()  # a name per spot: 576 legend entries (45 columns) before
    with pytest.raises(ValueError, match=match):
        sst.pl.domains(processed, show=False, **kwargs)


@pytest.mark.parametrize(
    ("column", "step"),
    [
        ("semst_domain_name", r"sst.tl.annotate_domains\(adata\)"),  # it said sst.tl.cluster for every column
        ("semst_query", r"sst.tl.query\(adata, 'text'\)"),
        ("leiden", r"pick an existing column \(obs columns: .*'semst_domain'"),
        ("CUX2", r"obs\['CUX2'\] not found: it is a gene; draw its expression with sc.pl.embedding\(adata, 'spatial'"),
    ],
)
def test_domains_plot_names_the_step_that_writes_a_missing_column(processed, column, step):
    with pytest.raises(KeyError, match=step):
        sst.pl.domains(processed, color=column, show=False)


def test_whole_number_labels_stored_as_floats_are_drawn_as_labels(processed):
    import matplotlib.pyplot as plt

    codes = processed.obs["domain"].cat.codes.to_numpy().astype(float)
    codes[:5] = np.nan  # labels read from a table with missing values: 0.0, 1.0, ..., NaN
    processed.obs["from_csv"] = codes
    fig = sst.pl.domains(processed, color="from_csv", show=False)
    legend = [t.get_text() for t in fig.legends[0].get_texts()] if fig.legends else []
    legend += [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    assert legend[:2] == ["0", "1"] and legend[-1] == "NA", legend
    plt.close(fig)


def test_plots_save_into_a_new_folder(processed, tmp_path, monkeypatch):
    out = tmp_path / "new" / "folder" / "d.png"
    sst.pl.domains(processed, show=False, save=str(out))
    assert out.stat().st_size > 10_000
    monkeypatch.setenv("HOME", str(tmp_path))  # a path from the home folder, as a user types it
    sst.pl.domains(processed, show=False, save="~/figures/d.png")
    assert (tmp_path / "figures" / "d.png").stat().st_size > 10_000


def test_a_failed_save_leaves_the_earlier_figure_whole(processed, tmp_path, monkeypatch):
    """savefig wrote in place: a full disk or Ctrl-C while saving left a truncated (0-byte) figure."""
    import matplotlib.figure

    out = tmp_path / "d.png"
    sst.pl.domains(processed, show=False, save=str(out))
    before = out.read_bytes()

    def full_disk(fig, fname, **kwargs):
        with open(fname, "wb") as f:
            f.write(b"")
        raise OSError("No space left on device")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", full_disk)
    with pytest.raises(OSError, match="No space left"):
        sst.pl.domains(processed, show=False, save=str(out))
    assert out.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["d.png"]
    monkeypatch.undo()
    sst.pl.domains(processed, show=False, save=str(tmp_path / "no_suffix"))  # matplotlib's format and suffix
    assert (tmp_path / "no_suffix.png").stat().st_size > 10_000


def test_loss_plot(processed, tmp_path):
    fig = sst.pl.loss(processed, show=False, save=str(tmp_path / "l.png"))
    assert [ax.get_title() for ax in fig.axes] == ["total", "zinb", "spatial", "dicr"]
    del processed.uns["semst"]
    with pytest.raises(KeyError, match="sst.tl.semst"):
        sst.pl.loss(processed, show=False)


def test_domains_plot_handles_missing_values(processed):
    processed.obs["partial"] = pd.Categorical(["a"] * 10 + [None] * (processed.n_obs - 10))
    fig = sst.pl.domains(processed, color="partial", show=False)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["a", "NA"]


def test_domains_plot_orders_and_colours_labels_and_draws_small_sections(processed):
    from semst_sc._utils import domain_labels
    from semst_sc.pl._show import distinct_colours

    numbers = pd.Series([str(i) for i in (10, 2, 0, 11, 1)] * 3)
    assert list(domain_labels(numbers).categories) == ["0", "1", "2", "10", "11"]
    layers = pd.Series(pd.Categorical(["WM", "L1"], categories=["L1", "WM"]))
    assert list(domain_labels(layers).categories) == ["L1", "WM"]  # the user's order
    floats = pd.Series([1.0, 0.0, np.nan, 10.0])  # labels read from a table with a missing value
    assert list(domain_labels(floats).categories) == ["0", "1", "10"]
    assert len(set(distinct_colours(22))) == 22 and len(set(distinct_colours(12))) == 12
    processed.obs["section"] = np.where(np.arange(processed.n_obs) < 10, "tiny", "rest")
    fig = sst.pl.domains(processed, library_key="section", show=False)
    assert len([ax for ax in fig.axes if ax.collections]) == 2
    grid = np.stack(np.meshgrid(np.arange(80.0), np.arange(80.0)), axis=-1).reshape(-1, 2)
    slide = ad.AnnData(obs=pd.DataFrame({"label": ["a", "b"] * 3200}), obsm={"spatial": grid})
    slide.obs["section"] = np.where(np.arange(slide.n_obs) < 50, "tiny", "rest")
    fig = sst.pl.domains(slide, color="label", library_key="section", show=False)
    size = {ax.get_title().split(": ")[-1]: ax.collections[0].get_sizes()[0] for ax in fig.axes if ax.collections}
    assert size["tiny"] > 5 * size["rest"]  # each map filled alike: a small section's spots drawn larger


def test_plots_take_scanpys_colours_and_keep_them_in_a_subset(processed):
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_hex

    def colours_of(fig, ax_index=0):  # each drawn domain's colour, by the legend's label
        legend = fig.axes[ax_index].get_legend()
        return {t.get_text(): to_hex(h.get_color()) for t, h in zip(legend.texts, legend.legend_handles, strict=True)}

    domains = processed.obs["semst_domain"].astype("category")
    processed.obs["semst_domain"] = domains
    own = ["#112233", "#445566", "#778899", "#aa0000", "#00aa00", "#0000aa", "#aaaa00", "#00aaaa", "#aa00aa"]
    processed.uns["semst_domain_colors"] = own[: len(domains.cat.categories)]  # as sc.pl.spatial stores them
    expected = dict(zip(map(str, domains.cat.categories), processed.uns["semst_domain_colors"], strict=True))
    fig = sst.pl.domains(processed, show=False)
    assert colours_of(fig) == expected
    plt.close(fig)
    first = str(domains.cat.categories[0])
    subset = processed[processed.obs["semst_domain"] != first].copy()  # anndata drops the category and its colour
    fig = sst.pl.domains(subset, show=False)
    assert colours_of(fig) == {d: c for d, c in expected.items() if d != first}  # each domain keeps its colour
    plt.close(fig)
    processed.uns["semst_domain_colors"] = ["#112233"]  # too few for the categories: not scanpy's colours of them
    fig = sst.pl.domains(processed, show=False)
    assert colours_of(fig) != expected and len(set(colours_of(fig).values())) == len(expected)
    plt.close(fig)


def test_default_colours_of_the_domains_are_kept_in_a_subset(processed):
    """A section or subset lost a domain, and its other domains changed colour: each colour went by position."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_hex

    def colours_of(fig):  # each drawn domain's colour, by the legend's label
        legend = fig.axes[0].get_legend()
        return {t.get_text(): to_hex(h.get_color()) for t, h in zip(legend.texts, legend.legend_handles, strict=True)}

    processed.uns.pop("semst_domain_colors", None)
    fig = sst.pl.domains(processed, show=False)
    whole = colours_of(fig)
    plt.close(fig)
    for dropped in ("0", str(processed.obs["semst_domain"].nunique() - 1)):  # the first domain, the last one
        subset = processed[processed.obs["semst_domain"] != dropped].copy()
        fig = sst.pl.domains(subset, show=False)
        assert colours_of(fig) == {d: c for d, c in whole.items() if d != dropped}
        plt.close(fig)
        assert "semst_domain_colors" not in subset.uns  # adata is not changed
        sst.tl.annotate_domains(subset, gene_text=False)
        fig = sst.pl.domain_report(subset, show=False)
        drawn = {to_hex(c) for collection in fig.axes[0].collections for c in collection.get_facecolors()}
        assert drawn == {c for d, c in whole.items() if d != dropped}
        plt.close(fig)


def test_domains_plot_keeps_the_map_size_for_long_names_and_shares_a_legend_across_sections(processed):
    import matplotlib.pyplot as plt

    long = {
        d: f"a domain with a long descriptive name, number {d}" for d in processed.obs["semst_domain"].cat.categories
    }
    processed.obs["long"] = processed.obs["semst_domain"].map(long)
    for color in ("semst_domain", "long"):
        fig = sst.pl.domains(processed, color=color, show=False)
        fig.canvas.draw()
        width = fig.axes[0].get_window_extent().width / fig.dpi  # the map, in inches
        assert width > 3.5, (color, width)
        plt.close(fig)
    processed.obs["section"] = np.where(
        processed.obsm["spatial"][:, 0] < np.median(processed.obsm["spatial"][:, 0]), "a", "b"
    )
    only_in_b = processed.obs["section"] == "b"
    processed.obs["partial"] = np.where(only_in_b & (processed.obs["semst_domain"] == "0"), "only in b", "elsewhere")
    fig = sst.pl.domains(processed, color=["long", "partial"], library_key="section", show=False)
    legends = [ax.get_legend() for ax in fig.axes]
    assert [legend is not None for legend in legends] == [False, True, False, True]  # one per row, at its end
    assert [t.get_text() for t in legends[3].get_texts()] == ["elsewhere", "only in b"]
    plt.close(fig)


@pytest.mark.parametrize(("shape", "n_sections"), [((12, 12), 1), ((12, 12), 2), ((10, 30), 2), ((30, 10), 3)])
def test_maps_keep_their_size_and_never_overlap_whatever_the_legend(shape, n_sections):
    import anndata as ad
    import matplotlib.pyplot as plt

    nx, ny = shape
    grid = np.array([(x, y) for x in range(nx) for y in range(ny)], dtype=float)
    adata = ad.AnnData(np.zeros((n_sections * len(grid), 1), dtype=np.float32))
    adata.obsm["spatial"] = np.tile(grid, (n_sections, 1))
    adata.obs["section"] = np.repeat([f"s{i}" for i in range(n_sections)], len(grid))
    name = "a domain with a long name from an annotation of the tissue"
    adata.obs["domain"] = [f"{int(x) // 4}: {name}" for x in adata.obsm["spatial"][:, 0]]
    fig = sst.pl.domains(adata, color="domain", library_key="section", show=False)
    fig.canvas.draw()
    maps = sorted((ax.get_window_extent() for ax in fig.axes if ax.collections), key=lambda box: box.x0)
    inches = [min(box.width, box.height) / fig.dpi for box in maps]
    square = min(nx, ny) / max(nx, ny)  # the map's short side, as a share of its long one
    assert min(inches) > 2.9 * square, inches  # as wide as with short names (a 4.2-inch slot)
    assert all(left.x1 < right.x0 for left, right in zip(maps, maps[1:], strict=False)), (
        maps
    )  # side by side, not overlapping
    legend = next(ax.get_legend() for ax in fig.axes if ax.get_legend())
    assert maps[-1].x1 <= legend.get_window_extent().x0
    plt.close(fig)


def test_query_plot_colour_scale_ends(processed):
    import matplotlib.pyplot as plt

    scores = np.random.default_rng(0).normal(size=processed.n_obs)
    scores[:2] = -50  # outlying spots
    processed.obs["semst_query"] = scores
    genes = pd.DataFrame({"gene": ["MBP", "PLP1"], "weight": [0.7, 0.3]})
    processed.uns["semst_query"] = {"genes": genes, "params": {"text": "myelination"}}
    for ends, expected in (
        ({}, (-50, scores.max())),
        ({"vmin": "p1", "vmax": "p99"}, tuple(np.percentile(scores, [1, 99]))),
        ({"vmin": -1.5, "vmax": 2}, (-1.5, 2)),
    ):
        fig = sst.pl.query(processed, show=False, **ends)
        np.testing.assert_allclose(fig.axes[0].collections[0].get_clim(), expected)
        plt.close(fig)
    for bad in ("99", "p101", "pp9"):
        with pytest.raises(ValueError, match="percentile 'p0'-'p100'"):
            sst.pl.query(processed, vmax=bad, show=False)
    with pytest.raises(ValueError, match=r"vmin \(2\) is above vmax \(1\)"):
        sst.pl.query(processed, vmin=2, vmax=1, show=False)


def test_plots_given_the_key_of_another_result_say_which_key_to_give(processed):
    processed.obs["own_score"] = 1.0
    processed.uns["own_score"] = {"mean": 1.0}  # a user's: KeyError 'genes' before
    with pytest.raises(KeyError, match=r"uns\['own_score'\] is no result of sst.tl.query.*give key= its key_added"):
        sst.pl.query(processed, key="own_score", show=False)
    with pytest.raises(KeyError, match=r"uns\['semst_domain'\] is no annotation of sst.tl.annotate_domains.*\[\]"):
        sst.pl.domain_report(processed, key="semst_domain", show=False)  # the clustering's: KeyError 'domain_key'


def test_query_plot_draws_spots_without_a_score_grey(processed):
    from matplotlib.colors import to_rgba

    scores = np.random.default_rng(0).normal(size=processed.n_obs)
    scores[:100] = np.nan  # e.g. a section joined after the query: they were not drawn at all, the tissue cut short
    processed.obs["semst_query"] = scores
    processed.uns["semst_query"] = {"genes": pd.DataFrame({"gene": ["MBP"], "weight": [1.0]}), "params": {"text": "x"}}
    points = sst.pl.query(processed, show=False).axes[0].collections[0]
    assert len(points.get_offsets()) == processed.n_obs
    points.update_scalarmappable()
    np.testing.assert_allclose(points.get_facecolors()[:100], [to_rgba("lightgrey")] * 100)
    assert not np.isclose(points.get_facecolors()[100:], to_rgba("lightgrey")).all(axis=1).any()


def test_query_plot_is_as_tall_as_the_tissue_and_keeps_each_gene_with_its_weight(processed):
    import matplotlib.pyplot as plt

    processed.obs["semst_query"] = np.random.default_rng(0).normal(size=processed.n_obs)
    genes = pd.DataFrame({"gene": [f"GENE{i}" for i in range(30)], "weight": np.full(30, 0.03)})
    processed.uns["semst_query"] = {"genes": genes, "params": {"text": "myelination"}}
    heights = {}
    for stretch in (1.0, 3.0):  # the same tissue, three times as wide
        wide = processed.copy()
        wide.obsm["spatial"] = processed.obsm["spatial"] * np.array([stretch, 1.0])
        fig = sst.pl.query(wide, show=False)
        heights[stretch] = fig.get_size_inches()[1]
        footnote = fig.get_supxlabel()
        plt.close(fig)
    assert heights[3.0] < 0.6 * heights[1.0]  # no empty band above and below a wide map
    wide.obs["section"] = ["stray"] + ["main"] * (wide.n_obs - 1)  # a section of one spot has no shape
    fig = sst.pl.query(wide, library_key="section", show=False)
    assert fig.get_size_inches()[1] == heights[3.0]
    plt.close(fig)
    assert "GENE0\u00a0(0.03), GENE1\u00a0(0.03)" in footnote  # wrapped between genes, never inside one


def test_a_map_about_five_times_wider_than_tall_keeps_its_margins(processed):
    import matplotlib.pyplot as plt

    processed.obsm["spatial"] = processed.obsm["spatial"] * np.array([4.25, 1.0])  # just past the widening
    fig = sst.pl.domains(processed, show=False)
    bottom, top = sorted(fig.axes[0].get_ylim())
    low, high = processed.obsm["spatial"][:, 1].min(), processed.obsm["spatial"][:, 1].max()
    assert bottom < low - 0.04 * (high - low) and top > high + 0.04 * (high - low)  # the edge rows not cut in half
    plt.close(fig)


@pytest.mark.parametrize("shape", ["vertical line", "horizontal line", "one spot"])
def test_maps_of_spots_on_a_line_or_of_one_spot_are_drawn(processed, shape):
    import matplotlib.pyplot as plt

    xy = processed.obsm["spatial"].astype(float)
    if shape == "vertical line":
        xy[:, 0] = 5.0
    elif shape == "horizontal line":
        xy[:, 1] = 5.0
    else:
        processed = processed[:1].copy()
        xy = xy[:1]
    processed.obsm["spatial"] = xy
    processed.obs["semst_query"] = np.linspace(0, 1, processed.n_obs)
    genes = pd.DataFrame({"gene": ["MBP"], "weight": [1.0]})
    processed.uns["semst_query"] = {"genes": genes, "params": {"text": "myelination"}}
    for fig in (sst.pl.domains(processed, show=False), sst.pl.query(processed, show=False)):
        fig.canvas.draw()
        box = fig.axes[0].get_window_extent()
        assert min(box.width, box.height) > 10  # before: a map of no width (or height), every spot clipped away
        assert max(fig.get_size_inches()) < 14  # and no figure of extreme size
        plt.close(fig)


def test_domains_plot_tells_a_label_named_na_from_missing_values(processed):
    processed.obs["odd"] = pd.Categorical(["NA"] * 10 + ["A"] * 10 + [None] * (processed.n_obs - 20))
    fig = sst.pl.domains(processed, color="odd", show=False)
    legend = fig.axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["A", "NA", "NA (missing)"]
    colours = [handle.get_color() for handle in legend.legend_handles]
    assert colours[2] == "lightgrey" and colours[1] != "lightgrey"


def test_plots_of_many_sections_wrap_their_panels(processed):
    import matplotlib.pyplot as plt

    processed.obs["section"] = [f"s{i % 10}" for i in range(processed.n_obs)]  # ten sections
    processed.obs["semst_query"] = np.arange(processed.n_obs, dtype=float)
    genes = pd.DataFrame({"gene": ["MBP"], "weight": [1.0]})
    processed.uns["semst_query"] = {"genes": genes, "params": {"text": "myelination"}}
    for draw, ncols, size in (
        (sst.pl.domains, {}, (4, 3)),  # 4 per row by default: 10 sections in 3 rows
        (sst.pl.domains, {"ncols": 5}, (5, 2)),
        (sst.pl.query, {}, (4, 3)),
        (sst.pl.query, {"ncols": 2}, (2, 5)),
    ):
        fig = draw(processed, library_key="section", show=False, **ncols)
        maps = [ax for ax in fig.axes if ax.collections and ax.get_title()]
        assert len(maps) == 10
        columns = {round(ax.get_position().x0, 3) for ax in maps}
        rows = {round(ax.get_position().y0, 3) for ax in maps}
        assert (len(columns), len(rows)) == size, (draw.__name__, ncols)
        assert fig.get_figwidth() < 25, (draw.__name__, fig.get_figwidth())
        plt.close(fig)
    fig = sst.pl.domains(processed, color=["semst_domain", "section"], library_key="section", ncols=5, show=False)
    assert [ax.get_legend() is not None for ax in fig.axes].count(True) == 4  # one legend per row, 2 rows per column
    plt.close(fig)
    order = [f"s{i}" for i in (9, 3, 0, 1, 2, 4, 5, 6, 7, 8)]  # the user's order of the sections, not the rows'
    processed.obs["section"] = pd.Categorical(processed.obs["section"], categories=order)
    fig = sst.pl.domains(processed, library_key="section", show=False)
    assert [ax.get_title().split(": ")[-1] for ax in fig.axes if ax.collections] == order
    plt.close(fig)


@pytest.mark.parametrize("shape", ["wide", "tall"])
def test_long_section_names_wrap_instead_of_running_into_the_next_panel(processed, shape):
    import matplotlib.pyplot as plt

    if shape == "tall":  # narrow maps drawn close together
        x = processed.obsm["spatial"][:, 0]
        processed = processed[x < np.quantile(x, 0.3)].copy()
    names = ["Xenium_patient_0421_left_hemisphere_section_3", "CosMx_patient_0421_right_hemisphere_section_4"]
    processed.obs["section"] = [names[i % 2] for i in range(processed.n_obs)]
    processed.obs["semst_query"] = np.arange(processed.n_obs, dtype=float)
    genes = pd.DataFrame({"gene": ["MBP"], "weight": [1.0]})
    processed.uns["semst_query"] = {"genes": genes, "params": {"text": "myelination"}}
    draws = (
        lambda: sst.pl.domains(processed, color=["semst_domain", "domain"], library_key="section", show=False),
        lambda: sst.pl.query(processed, library_key="section", show=False),
    )
    for draw in draws:
        fig = draw()
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        maps = [ax for ax in fig.axes if ax.collections and ax.get_title()]
        assert [any(n in ax.get_title().replace("\n", "") for n in names) for ax in maps] == [True] * len(maps)
        assert max(ax.get_title().count("\n") for ax in maps) <= 1  # two lines at most: clear of the row above
        for row in {round(ax.get_position().y0, 3) for ax in maps}:
            left, right = sorted(
                (ax for ax in maps if round(ax.get_position().y0, 3) == row), key=lambda a: a.get_position().x0
            )
            assert left.title.get_window_extent(renderer).x1 < right.title.get_window_extent(renderer).x0
        plt.close(fig)


def test_titles_wrap_between_words(processed):
    import matplotlib.pyplot as plt

    names = [
        "Xenium_patient_0421_left_hemisphere_section_3 of the study on aging",
        "CosMx_patient_0421_right_hemisphere_section_4 of the study",
    ]
    processed.obs["section"] = [names[i % 2] for i in range(processed.n_obs)]
    fig = sst.pl.domains(processed, color=["semst_domain", "domain"], library_key="section", show=False)
    titles = [ax.get_title() for ax in fig.axes if ax.collections and ax.get_title()]
    assert any("\n" in title for title in titles)  # wrapped: the names do not fit on one line
    words = {word for name in names for word in name.split()}
    for title in titles:
        assert set(title.split()) <= words | {"semst_domain:", "domain:"}, title  # no word cut in two
        assert title.count("\n") <= 1, title  # two lines at most: clear of the row above
    plt.close(fig)


def test_a_name_too_long_for_its_panel_breaks_after_an_underscore(processed):
    """A section name of one word too long for its panel was cut inside a part: '..._left_hemispher' / 'e_...'."""
    import matplotlib.pyplot as plt

    names = [f"Xenium_patient_042{k}_left_hemisphere_section_{k}_of_the_aging_study_2024" for k in range(4)]
    processed.obs["section"] = [names[i % 4] for i in range(processed.n_obs)]
    fig = sst.pl.domains(processed, library_key="section", show=False)
    titles = [ax.get_title() for ax in fig.axes if ax.collections and ax.get_title()]
    assert len(titles) == 4 and all(title.count("\n") == 1 for title in titles)  # wrapped, on two lines
    for title in titles:  # broken between words or after an underscore, the name whole
        assert title.replace("_\n", "_").replace("\n", " ") in {f"semst_domain: {name}" for name in names}, title
    plt.close(fig)


def test_palette_colours_the_labels_as_scanpys_does(processed):
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_hex

    labels = list(processed.obs["domain"].cat.categories)

    def drawn(**kwargs):
        fig = sst.pl.domains(processed, color="domain", show=False, **kwargs)
        legend = fig.axes[0].get_legend()
        colours = {
            t.get_text(): to_hex(h.get_color()) for t, h in zip(legend.texts, legend.legend_handles, strict=True)
        }
        plt.close(fig)
        return colours

    listed = [f"#{i:02x}{i:02x}00" for i in range(len(labels))]
    assert drawn(palette=listed) == dict(zip(labels, listed, strict=True))
    by_label = drawn(palette={labels[0]: "black"})
    assert by_label[labels[0]] == "#000000" and by_label[labels[1]] == drawn()[labels[1]]
    assert len(set(drawn(palette="Set1").values())) == len(labels)
    for bad, match in (({"nope": "red"}, "not among the labels"), (["red", "notacolour"], "not a matplotlib colour")):
        with pytest.raises(ValueError, match=match):
            sst.pl.domains(processed, color="domain", palette=bad, show=False)
    assert "domain_colors" not in processed.uns  # adata is not changed


def test_a_map_drawn_into_the_users_axes(processed):
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 4))
    right.set_title("the user's own panel, with a title longer than any map's")
    assert sst.pl.domains(processed, color="domain", ax=left, show=False) is fig
    assert left.collections and left.get_title() == "domain" and left.get_legend() is not None
    assert tuple(fig.get_size_inches()) == (9, 4) and not right.collections
    assert right.get_title() == "the user's own panel, with a title longer than any map's"  # not wrapped
    with pytest.raises(ValueError, match="ax= draws one map, and these are 2"):
        sst.pl.domains(processed, color=["domain", "semst_domain"], ax=left, show=False)
    plt.close(fig)


def test_save_true_writes_to_scanpys_figure_folder(processed, tmp_path):
    import matplotlib.pyplot as plt
    import scanpy as sc

    figdir, suffix = sc.settings.figdir, sc.settings.plot_suffix
    sc.settings.figdir = tmp_path / "figures"
    try:
        sst.pl.domains(processed, show=False, save=True)
        sc.settings.plot_suffix = "_run2"  # scanpy's suffix of every saved figure's name
        sst.pl.domains(processed, show=False, save=True)
    finally:
        sc.settings.figdir, sc.settings.plot_suffix = figdir, suffix
    written = {f"domains.{sc.settings.file_format_figs}", f"domains_run2.{sc.settings.file_format_figs}"}
    assert {p.name for p in (tmp_path / "figures").iterdir()} == written
    assert sst.pl.domains(processed, show=False, save=False) is not None  # scanpy's False: not saved
    with pytest.raises(TypeError, match="save must be a file path, True"):
        sst.pl.domains(processed, show=False, save=1)
    plt.close("all")


def test_plots_follow_scanpys_autoshow_and_autosave(processed, tmp_path, monkeypatch):
    """sc.settings.autoshow = False returned nothing (the figure was shown), autosave = True saved nothing."""
    import matplotlib.pyplot as plt
    import scanpy as sc

    shown = []
    monkeypatch.setattr(plt, "show", lambda *a, **k: shown.append(1))
    sst.tl.annotate_domains(processed, gene_text=False)
    before = sc.settings.autoshow, sc.settings.autosave, sc.settings.figdir
    try:
        sc.settings.autoshow = False
        for draw in (sst.pl.domains, sst.pl.loss, sst.pl.domain_report):
            assert draw(processed) is not None and shown == [], draw
        sc.settings.autoshow, sc.settings.autosave, sc.settings.figdir = True, True, tmp_path / "figures"
        assert sst.pl.domains(processed) is not None and shown == []  # saved, not shown: scanpy's rule
        assert [p.name for p in (tmp_path / "figures").iterdir()] == [f"domains.{sc.settings.file_format_figs}"]
        assert sst.pl.domains(processed, save=False) is None and shown == [1]  # save=False: not saved, shown
    finally:
        sc.settings.autoshow, sc.settings.autosave, sc.settings.figdir = before
    plt.close("all")


def test_legends_of_wrapped_sections_stay_inside_the_figure(processed):
    import matplotlib.pyplot as plt

    processed.obs["section"] = [f"s{i % 5}" for i in range(processed.n_obs)]  # 5 sections, 3 per row: a short row
    processed.obs["long"] = np.where(np.arange(processed.n_obs) % 2, "a rather long category label here", "alpha")
    fig = sst.pl.domains(processed, color="long", library_key="section", ncols=3, show=False)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    assert len(legends) == 2  # one per row
    for legend in legends:
        box = legend.get_window_extent(renderer)
        assert 0 <= box.x0 and box.x1 <= fig.bbox.width, (box, fig.bbox.width)
    starts = [legend.get_window_extent(renderer).x0 for legend in legends]
    assert max(starts) - min(starts) < 0.1 * fig.bbox.width  # the short row's legend too after the last column
    plt.close(fig)


def test_domains_plot_draws_only_the_groups_asked_each_in_its_colour(processed):
    """scanpy's groups= (a TypeError before): the other spots grey as NA, each group in its colour of the whole map."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_hex

    def colours_of(fig):  # each legend label's colour
        legend = fig.axes[0].get_legend()
        return {t.get_text(): to_hex(h.get_color()) for t, h in zip(legend.texts, legend.legend_handles, strict=True)}

    whole = colours_of(sst.pl.domains(processed, show=False))
    plt.close("all")
    for groups in (["1", "2"], "2", [1, 2]):  # as the column's labels, one label, numbers
        fig = sst.pl.domains(processed, groups=groups, show=False)
        asked = ["2"] if groups == "2" else ["1", "2"]
        assert colours_of(fig) == {**{g: whole[g] for g in asked}, "NA": "#d3d3d3"}
        n_drawn = sum(len(c.get_offsets()) for c in fig.axes[0].collections)
        assert n_drawn == processed.n_obs  # the other spots are drawn, grey
        plt.close(fig)
    with pytest.raises(ValueError, match=r"groups \['99'\] are not labels of obs\['semst_domain'\]: give some of"):
        sst.pl.domains(processed, groups=["99"], show=False)


def test_query_plot_takes_a_title_and_an_axes_of_the_user_s_figure(processed):
    """As pl.domains does (a TypeError before): the map in the user's axes, its colour bar and genes beside it."""
    import matplotlib.pyplot as plt

    processed.obs["semst_query"] = np.random.default_rng(0).normal(size=processed.n_obs)
    genes = pd.DataFrame({"gene": ["MBP", "PLP1"], "weight": [0.7, 0.3]})
    processed.uns["semst_query"] = {"genes": genes, "params": {"text": "myelination"}}
    fig = sst.pl.query(processed, title="white matter?", show=False)
    assert fig.axes[0].get_title() == "white matter?"
    plt.close(fig)
    fig, (left, right) = plt.subplots(1, 2)
    assert sst.pl.query(processed, ax=right, show=False) is fig
    assert right.get_title() == "\u201cmyelination\u201d" and len(right.collections) == 1 and not left.collections
    assert any("MBP\u00a0(0.70)" in t.get_text() for t in right.texts)  # the driving genes under the map
    assert len(fig.axes) == 3  # the two axes and the colour bar
    plt.close(fig)
    processed.obs["section"] = np.where(np.arange(processed.n_obs) % 2, "A", "B")
    with pytest.raises(ValueError, match="ax= draws one map, and these are 2 sections"):
        sst.pl.query(processed, library_key="section", ax=plt.subplots()[1], show=False)
    with pytest.raises(TypeError, match="title must be a string"):
        sst.pl.query(processed, title=["a", "b"], show=False)
    plt.close("all")
    processed.obs["semst_query"] = np.nan  # numpy's 'All-NaN slice' warning and an empty scale before
    with pytest.raises(ValueError, match=r"obs\['semst_query'\] holds no score \(all missing\)"):
        sst.pl.query(processed, show=False)


def test_more_labels_than_colours_are_drawn_with_a_warning(processed):
    """A categorical column of 110 labels was drawn with colours repeated, without a word (scanpy warns)."""
    import matplotlib.pyplot as plt
    from fakes import scanpy_warnings

    processed.obs["many"] = pd.Categorical(np.arange(processed.n_obs) % 110)
    logged = scanpy_warnings(lambda: plt.close(sst.pl.domains(processed, color="many", show=False)))
    assert "110 labels, more than the 102 distinct colours" in logged
    assert "colours" not in scanpy_warnings(lambda: plt.close(sst.pl.domains(processed, show=False)))
