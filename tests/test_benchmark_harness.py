import ast
import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.mixture import GaussianMixture

from semst_sc.datasets import simulate_tissue

pytestmark = pytest.mark.slow  # subprocesses and end-to-end runs

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
RUN = BENCHMARKS / "run.py"
COLUMNS = ["method", "dataset", "seed", "ari", "nmi", "pas", "wall_s", "peak_mb", "status"]


def harness(slide: Path, out: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, str(RUN), "--data", str(slide), "--label-key", "domain", "--n-clusters", "7"]
    return subprocess.run([*command, "--out", str(out), *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def slide(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("harness") / "sim.h5ad"
    simulate_tissue(20, 20, rng=0).write_h5ad(path)
    return path


def test_baselines_write_runs_summary_and_figures(slide, tmp_path):
    done = harness(slide, tmp_path, "--methods", "pca_gmm", "pca_smooth_gmm", "--seeds", "0")
    assert done.returncode == 0, done.stderr
    runs = pd.read_csv(tmp_path / "runs.csv")
    assert list(runs.columns) == COLUMNS
    assert (runs["status"] == "ok").all(), runs["status"].tolist()
    assert runs["ari"].between(-1, 1).all()
    assert runs.set_index("method").loc["pca_smooth_gmm", "ari"] > 0.3
    assert (runs["peak_mb"] > 0).all() and (runs["wall_s"] > 0).all()
    assert "pca_smooth_gmm" in (tmp_path / "summary.md").read_text()
    assert (tmp_path / "labels" / "sim_pca_gmm_0.csv").exists()
    assert (tmp_path / "domains.png").stat().st_size > 0
    assert (tmp_path / "accuracy_vs_time.png").stat().st_size > 0

    refine = subprocess.run(
        [sys.executable, str(RUN.with_name("refine.py")), str(tmp_path)], capture_output=True, text=True
    )
    assert refine.returncode == 0, refine.stderr
    table = pd.read_csv(tmp_path / "refine.csv").set_index("method")
    assert table.loc["pca_gmm", "ari"] == pytest.approx(runs.set_index("method").loc["pca_gmm", "ari"], abs=1e-4)
    assert table.loc["pca_gmm", "ari_refined"] > table.loc["pca_gmm", "ari"]  # salt-and-pepper labels smooth out
    nearest = subprocess.run(
        [sys.executable, str(RUN.with_name("refine.py")), str(tmp_path), "--nearest", "50"],
        capture_output=True,
        text=True,
    )
    assert nearest.returncode == 0, nearest.stderr
    voted = pd.read_csv(tmp_path / "refine_nearest50.csv").set_index("method")
    assert voted.loc["pca_gmm", "ari"] == table.loc["pca_gmm", "ari"]
    assert voted.loc["pca_gmm", "ari_refined"] != table.loc["pca_gmm", "ari_refined"]  # another vote
    assert voted.loc["pca_gmm", "ari_refined"] > voted.loc["pca_gmm", "ari"]


def test_rerun_into_committed_results_runs_nothing_and_keeps_them(slide, tmp_path):
    """A fresh clone has runs.csv and the figures, not the git-ignored labels/: a rerun must not break them."""
    assert harness(slide, tmp_path, "--methods", "pca_gmm", "--seeds", "0").returncode == 0
    shutil.rmtree(tmp_path / "labels")
    before = {name: (tmp_path / name).read_bytes() for name in ("runs.csv", "summary.md", "domains.png")}
    done = harness(slide, tmp_path, "--methods", "pca_gmm", "--seeds", "0")
    assert done.returncode == 0, done.stderr
    assert "nothing to run" in done.stdout
    assert {name: (tmp_path / name).read_bytes() for name in before} == before


def test_new_data_set_beside_results_without_labels_draws_what_it_has(slide, tmp_path):
    assert harness(slide, tmp_path, "--methods", "pca_gmm", "--seeds", "0").returncode == 0
    shutil.rmtree(tmp_path / "labels")
    done = harness(slide, tmp_path, "--methods", "pca_gmm", "--seeds", "0", "--name", "other")
    assert done.returncode == 0, done.stderr
    assert sorted(pd.read_csv(tmp_path / "runs.csv")["dataset"]) == ["other", "sim"]
    assert (tmp_path / "domains.png").stat().st_size > 0


def test_unknown_method_is_a_clear_error(slide, tmp_path):
    done = harness(slide, tmp_path, "--methods", "pca_gmm", "nosuch")
    assert done.returncode == 2
    assert "invalid choice: 'nosuch'" in done.stderr
    assert not (tmp_path / "runs.csv").exists()


def test_gene_description_variant_without_organism_is_reported_not_run(slide, tmp_path):
    done = harness(slide, tmp_path, "--methods", "semst_genes_text", "--seeds", "0")
    assert done.returncode == 0, done.stderr
    status = pd.read_csv(tmp_path / "runs.csv")["status"].iloc[0]
    assert status.startswith("unavailable: gene descriptions need the organism"), status


def test_paired_comparison_by_dataset_and_seed(tmp_path):
    rows = []
    for dataset in ("a", "b"):
        for seed in range(4):
            base = 0.5 + 0.05 * seed  # a seed spread far larger than the difference to detect
            rows += [
                {"method": "ref", "dataset": dataset, "seed": seed, "ari": base, "status": "ok"},
                {"method": "better", "dataset": dataset, "seed": seed, "ari": base + 0.01, "status": "ok"},
            ]
    rows.append({"method": "better", "dataset": "c", "seed": 0, "ari": 0.9, "status": "ok"})  # no reference: unpaired
    rows.append({"method": "ref", "dataset": "b", "seed": 9, "ari": float("nan"), "status": "failed: timeout"})
    runs = pd.DataFrame(rows)
    runs.to_csv(tmp_path / "runs.csv", index=False)
    script = RUN.with_name("paired.py")
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path), "--reference", "ref", "--methods", "better"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(tmp_path / "paired_ref.csv").set_index("method")
    assert table.loc["better", "pairs"] == 8 and table.loc["better", "wins"] == 8
    assert table.loc["better", "mean_diff"] == pytest.approx(0.01)
    assert table.loc["better", "wilcoxon_p"] < 0.05
    missing = subprocess.run(
        [sys.executable, str(script), str(tmp_path), "--reference", "ref", "--methods", "absent"],
        capture_output=True,
        text=True,
    )
    assert missing.returncode != 0 and "absent" in missing.stderr


def test_preset_ablation_offers_each_paper_step_alone():
    script = RUN.with_name("preset_ablation.py")
    done = subprocess.run([sys.executable, str(script), "--variants", "nosuch"], capture_output=True, text=True)
    assert done.returncode != 0
    message = done.stderr.strip().splitlines()[-1]
    assert "unknown variants ['nosuch']" in message
    for step in ("prepare", "spatial_graph", "feature_graph", "gene_semantics", "semst", "cluster"):
        assert f"'paper_{step}'" in message


def test_probe_separates_what_a_representation_carries_from_what_clustering_finds(monkeypatch):
    monkeypatch.syspath_prepend(str(RUN.parent))
    from probe import diagnose

    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 100, (1200, 2))
    # a thick domain (x in [0, 3)) beside a thin one ([3, 4)): the annotation is one cut of a continuum
    position = rng.uniform(0, 4, 1200)
    truth = pd.Series(np.where(position < 3, "thick", "thin"))
    features = np.column_stack([position, rng.normal(0, 0.05, 1200)])
    labels = GaussianMixture(2, covariance_type="tied", n_init=5, random_state=0).fit_predict(features)
    found = diagnose(features, labels, truth, xy, k=2, seed=0)
    assert found["probe_ari"] > 0.7  # the representation carries the cut
    assert found["ari"] < 0.4 and found["truth_start_ari"] < 0.4  # the likelihood prefers another one
    assert found["loglik_gain"] <= 1e-6

    noise = diagnose(rng.normal(size=(1200, 2)), labels, truth, xy, k=2, seed=0)
    assert abs(noise["probe_ari"]) < 0.1  # nothing to read: the probe finds nothing


def private_semst_names(source: str) -> list[str]:
    """Private semst_sc names a Python source imports or reaches (``semst_sc._x``, ``from semst_sc... import _x``)."""

    def private(part: str) -> bool:
        return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))

    tree, found, bound = ast.parse(source), [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "semst_sc":
                    found += [alias.name] if any(map(private, alias.name.split("."))) else []
                    bound.add(alias.asname or "semst_sc")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "semst_sc":
            found += [node.module] if any(map(private, node.module.split("."))) else []
            for alias in node.names:
                found += [f"{node.module}.{alias.name}"] if private(alias.name) else []
                bound.add(alias.asname or alias.name)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):  # importlib.import_module("semst_sc._x")
            found += re.findall(r"\bsemst_sc(?:\.\w+)*\._(?!_)\w*", node.value)
    for node in ast.walk(tree):  # sst._pipeline.PRESETS, sst.tl._refine
        if isinstance(node, ast.Attribute) and private(node.attr):
            root = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id in bound:
                found.append(ast.unparse(node))
    return found


def test_private_name_check_catches_every_form():
    for source in (
        "from semst_sc._pipeline import PRESETS",
        "from semst_sc.tl._refine import majority_vote",
        "from semst_sc.tl import _refine",
        "import semst_sc._pipeline",
        "import semst_sc as sst\nsst._pipeline.PRESETS",
        "from semst_sc import tl\ntl._refine.majority_vote",
        "import importlib\nimportlib.import_module('semst_sc._cli')",
    ):
        assert private_semst_names(source), source
    public = "import semst_sc as sst\nfrom semst_sc import PRESETS, tl\nsst.tl.refine\nsst.__version__\nx._private"
    assert private_semst_names(public) == []


def test_benchmarks_use_only_public_semst_sc_names():
    files = [p for p in BENCHMARKS.rglob("*.py") if not any(part.startswith(".") for part in p.parts)]
    assert RUN in files and BENCHMARKS / "harness" / "methods.py" in files
    found = {str(p.relative_to(BENCHMARKS)): private_semst_names(p.read_text()) for p in files}
    assert {file: names for file, names in found.items() if names} == {}


def test_registry_is_every_method_of_run_py_and_every_peer_folder(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # restores sys.path (run.py adds to it) afterwards
    spec = importlib.util.spec_from_file_location("benchmarks_run", RUN)
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)
    from harness.datasets import DATASETS
    from harness.methods import METHODS, PEERS_DIR, names, row_names

    actions = {action.dest: action for action in run.build_parser()._actions}
    assert list(actions["methods"].choices) == list(METHODS) == actions["methods"].default
    assert all(name in actions["dataset"].help for name in DATASETS)  # A+B joins shortcuts, checked in parse_args
    for bad in ("nope", "dlpfc151673+nope"):
        monkeypatch.setattr(sys, "argv", ["run.py", "--dataset", bad])
        with pytest.raises(SystemExit):
            run.parse_args()
    monkeypatch.setattr(sys, "argv", ["run.py", "--dataset", "dlpfc151673+dlpfc151674", "osmfish"])
    assert run.parse_args().dataset == ["dlpfc151673+dlpfc151674", "osmfish"]
    peers = {"graphst", "spagcn", "banksy", "banksy_celltype", "cellcharter", "stagate"}
    assert {"semst", "semst_nosem", "pca_smooth_gmm"} | peers <= set(METHODS)
    assert [name for name in names("peer") if METHODS[name].joint] == ["banksy", "banksy_celltype", "cellcharter"]
    for method in METHODS.values():
        if method.kind == "semst":
            assert method.function is None
        elif method.kind == "baseline":
            assert callable(method.function) and not method.settings
        else:
            assert method.kind == "peer" and method.folder.parent == PEERS_DIR
            assert method.venv == PEERS_DIR / ".venvs" / method.folder.name
    readme = (BENCHMARKS / "README.md").read_text()
    assert [name for name in row_names() if f"| `{name}` |" not in readme] == []  # each documented in the table
    # every peer that produces an embedding is also clustered by the shared back-end, GraphST also refined
    assert {name for name in names("peer") if METHODS[name].backends} == peers - {"spagcn"}
    assert METHODS["graphst"].rows == ["graphst", "graphst+gmm", "graphst+gmm+refine"]

    folders = sorted(p.name for p in PEERS_DIR.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
    assert folders == sorted({METHODS[name].folder.name for name in names("peer")})
    for name in folders:
        runner, requirements = PEERS_DIR / name / "run.py", PEERS_DIR / name / "requirements.txt"
        assert runner.is_file() and requirements.is_file(), name
        assert "from harness.peer_io import" in runner.read_text(), f"{name}: the runner must use the peer protocol"
        packages = [line for line in requirements.read_text().splitlines() if line.strip() and line[0] != "#"]
        assert packages, f"{name}: empty requirements.txt"
        # a peer on torch pins it, so setup.sh installs that CPU build first and pip never pulls a CUDA one
        torch_lines = [line.split("#")[0].strip() for line in packages if re.match(r"torch(?![\w.-])", line)]
        assert torch_lines in ([], ["torch==2.13.0"]), f"{name}: torch must be pinned torch==2.13.0"
    assert all("torch==2.13.0" in (PEERS_DIR / n / "requirements.txt").read_text() for n in ("cellcharter", "stagate"))


def test_banksy_lambda_settings_reach_the_runner(monkeypatch, tmp_path):
    """``banksy`` and ``banksy_celltype``: one runner, one environment, lambda 0.8 and 0.2 on its command line."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location("benchmarks_run", RUN)
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)
    from harness import peer_io
    from harness.methods import METHODS, PEERS_DIR

    domain, celltype = METHODS["banksy"], METHODS["banksy_celltype"]
    assert domain.runner == celltype.runner == PEERS_DIR / "banksy" / "run.py" and domain.venv == celltype.venv
    # a failed setup of the banksy folder makes both unavailable, without a second try
    with pytest.raises(run.Unavailable, match="setup.sh banksy failed"):
        run.ensure_peer(celltype, tmp_path, {"banksy": "setup.sh banksy failed"})

    inputs, labels = {"all": tmp_path / "all.h5ad", "shared": tmp_path / "shared.h5ad"}, tmp_path / "labels.csv"
    monkeypatch.setattr(run, "ensure_peer", lambda entry, out, unavailable: entry.venv / "bin" / "python")
    for entry, value in ((domain, 0.8), (celltype, 0.2)):
        command = run.command_for(entry.name, inputs, 6, 0, "mouse", labels, tmp_path, {})
        assert command == [
            str(PEERS_DIR / ".venvs" / "banksy" / "bin" / "python"),
            str(PEERS_DIR / "banksy" / "run.py"),
            str(inputs["shared"]),
            "6",
            "0",
            str(labels),
            "--lambda",
            str(value),
        ]
        simulate_tissue(4, 4, rng=0).write_h5ad(inputs["shared"])
        monkeypatch.setattr(sys, "argv", command[1:])
        adata, args = peer_io.read_args("runner", {"lambda": 0.8})
        assert adata.n_obs == 16 and args.n_clusters == 6 and vars(args)["lambda"] == value
    monkeypatch.setattr(sys, "argv", command[1:6])
    assert vars(peer_io.read_args("runner", {"lambda": 0.8})[1])["lambda"] == 0.8  # the runner's default


def test_peer_setup_reads_the_peer_folders_and_refuses_unknown_peers():
    done = subprocess.run(["bash", str(BENCHMARKS / "peers" / "setup.sh"), "nosuch"], capture_output=True, text=True)
    assert done.returncode == 2
    peers = sorted(p.parent.name for p in (BENCHMARKS / "peers").glob("*/requirements.txt"))
    assert peers and f"peers: {' '.join(peers)}" in done.stderr
    assert not (BENCHMARKS / "peers" / ".venvs" / "nosuch").exists()


def test_joint_run_scores_each_section_beside_the_single_runs(tmp_path):
    first, second = tmp_path / "first.h5ad", tmp_path / "second.h5ad"
    simulate_tissue(20, 20, rng=0).write_h5ad(first)
    simulate_tissue(18, 22, rng=0).write_h5ad(second)
    out = tmp_path / "out"
    command = [
        sys.executable,
        str(RUN),
        "--label-key",
        "domain",
        "--n-clusters",
        "7",
        "--seeds",
        "0",
        "--out",
        str(out),
    ]
    for data, methods in (
        ([first], ["pca_smooth_gmm"]),
        ([second], ["pca_smooth_gmm"]),
        ([first, second], ["pca_smooth_gmm", "graphst"]),
    ):
        done = subprocess.run(
            [*command, "--data", *map(str, data), "--methods", *methods],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
    runs = pd.read_csv(out / "runs.csv").set_index(["method", "dataset"])
    joint = ["first@first+second", "second@first+second"]
    assert set(runs.loc["pca_smooth_gmm"].index) == {"first", "second", *joint}
    assert (runs.loc["pca_smooth_gmm", "status"] == "ok").all()
    assert (runs.loc["pca_smooth_gmm"].loc[joint, "ari"] > 0.3).all()
    # the joint labels of a section are the joint run's labels of its spots
    both = pd.read_csv(out / "labels" / "first+second_pca_smooth_gmm_0.csv", index_col="spot", dtype=str)
    alone = pd.read_csv(out / "labels" / "second@first+second_pca_smooth_gmm_0.csv", index_col="spot", dtype=str)
    assert alone["domain"].equals(both.loc[alone.index, "domain"])
    assert runs.loc[("graphst", joint[0]), "status"].startswith("unavailable: its runner has no joint mode")
    assert "second@first+second" in (out / "summary.md").read_text()


def graphst_refine_label(labels: np.ndarray, xy: np.ndarray, radius: int = 50) -> list:
    """GraphST's ``utils.refine_label`` as its authors wrote it (distances with numpy instead of ``ot.dist``)."""
    distance = np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1))
    new_type = []
    for i in range(len(labels)):
        index = distance[i].argsort()
        neigh_type = [labels[index[j]] for j in range(1, radius + 1)]
        new_type.append(max(neigh_type, key=neigh_type.count))
    return new_type


def test_refinement_is_graphsts_vote_over_the_50_nearest_spots(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    from harness.backends import refine_nearest

    rng = np.random.default_rng(0)
    for n_labels, radius in ((2, 50), (3, 50), (5, 8), (4, 2)):  # few labels and small radii: many ties
        xy = rng.uniform(0, 100, (300, 2))
        labels = rng.choice([f"d{i}" for i in range(n_labels)], 300)
        assert refine_nearest(labels, xy, radius).tolist() == graphst_refine_label(labels, xy, radius)
    # the spot itself does not vote: with one neighbour, each spot takes its nearest spot's label
    xy = np.array([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0], [6.0, 0.0]])
    assert refine_nearest(np.array(["b", "a", "a", "a"]), xy, 1).tolist() == ["a", "b", "a", "a"]


def test_semst_without_its_network_pools_the_cells_and_finds_domains(monkeypatch):
    """The ablation baseline reads semst_sc's own cell-resolution input: domains, where PCA + GMM finds cell types."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    from harness.baselines import pca_gmm, pooled_pca_gmm
    from sklearn.metrics import adjusted_rand_score

    cells = simulate_tissue(platform="xenium", n_cells=1500, n_genes=80, rng=2)
    genes = np.arange(cells.n_vars)
    before = cells.copy()
    pooled = pooled_pca_gmm(cells, genes, 7, 0)
    alone = pca_gmm(cells, genes, 7, 0)
    domain, cell_type = cells.obs["domain"], cells.obs["cell_type"]
    assert adjusted_rand_score(domain, pooled) > adjusted_rand_score(domain, alone) + 0.2
    assert adjusted_rand_score(cell_type, pooled) < adjusted_rand_score(cell_type, alone)
    assert (cells.X != before.X).nnz == 0 and list(cells.obs) == list(before.obs)  # the input is left as it was


def test_hop_baseline_averages_each_step_over_the_spatial_neighbours_within_a_section(monkeypatch):
    """pca_hops_gmm's features: a spot's PCs, then their means over 1, 2, 3 steps of its 6 nearest spots."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import anndata as ad
    from harness.baselines import hop_pcs, log_pca

    tissue = simulate_tissue(12, 12, rng=0)
    genes = np.arange(tissue.n_vars)
    pcs = log_pca(tissue, genes, 0)
    hops = hop_pcs(tissue, genes, 0)
    assert hops.shape == (tissue.n_obs, 4 * pcs.shape[1])
    np.testing.assert_allclose(hops[:, : pcs.shape[1]], pcs)
    coords = tissue.obsm["spatial"]
    spot = 40
    nearest = np.argsort(np.linalg.norm(coords - coords[spot], axis=1))[1:7]  # the grid: no ties at the sixth
    np.testing.assert_allclose(hops[spot, pcs.shape[1] : 2 * pcs.shape[1]], pcs[nearest].mean(axis=0), rtol=1e-5)

    twice = ad.concat([tissue, tissue], index_unique="-")  # two sections on the same coordinates
    twice.obs["library_id"] = np.repeat(["a", "b"], tissue.n_obs)
    joint = hop_pcs(twice, genes, 0)
    first, second = joint[: tissue.n_obs], joint[tissue.n_obs :]
    np.testing.assert_allclose(first, second, rtol=1e-5, atol=1e-6)  # no neighbour drawn from the other section


FAKE_PEER = """
import sys
from pathlib import Path

sys.path.append(sys.argv.pop(1))  # benchmarks/

import numpy as np
from harness.peer_io import read_args, write_embedding, write_labels
from sklearn.neighbors import NearestNeighbors

adata, args = read_args("a fake peer: one domain, and a spatially smoothed expression embedding")
x = np.log1p(np.asarray(adata.X.todense() if hasattr(adata.X, "todense") else adata.X, dtype=float))
_, idx = NearestNeighbors(n_neighbors=7).fit(adata.obsm["spatial"]).kneighbors(adata.obsm["spatial"])
write_labels(np.zeros(adata.n_obs, dtype=int), adata.obs_names, args.output)
if args.seed == 0:  # seed 1: a runner that writes no embedding
    write_embedding(x[idx].mean(axis=1)[::-1], adata.obs_names[::-1], args.output)  # any spot order
"""


def test_peer_embedding_is_also_scored_with_the_shared_back_end(monkeypatch, tmp_path, slide):
    """One peer run, three rows: its own clustering, its embedding through semst_sc's GMM, and then refined."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location("benchmarks_run", RUN)
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)
    from harness.backends import shared_gmm
    from harness.methods import METHODS, peer

    with pytest.raises(ValueError, match="unknown back-ends"):
        peer("fake", backends=("nosuch",))
    runner = tmp_path / "fake_peer.py"
    runner.write_text(FAKE_PEER)
    monkeypatch.setitem(METHODS, "fake", peer("fake", backends=("gmm", "gmm+refine")))

    def command_for(method, inputs, k, seed, organism, labels_file, out, unavailable):
        return [sys.executable, str(runner), str(BENCHMARKS), *map(str, (inputs["shared"], k, seed, labels_file))]

    monkeypatch.setattr(run, "command_for", command_for)
    out = tmp_path / "out"
    argv = ["run.py", "--data", str(slide), "--label-key", "domain", "--n-clusters", "7", "--out", str(out)]
    monkeypatch.setattr(sys, "argv", [*argv, "--methods", "fake", "--seeds", "0", "1"])
    run.main()
    runs = pd.read_csv(out / "runs.csv").set_index(["method", "seed"])
    assert sorted(runs.index) == [(m, s) for m in ("fake", "fake+gmm", "fake+gmm+refine") for s in (0, 1)]
    assert (runs.xs(0, level="seed")["status"] == "ok").all()
    assert runs.loc[("fake", 0), "ari"] == 0  # its own clustering: one domain
    assert runs.loc[("fake+gmm", 0), "ari"] > 0.3 and runs.loc[("fake+gmm+refine", 0), "ari"] > 0.3
    assert runs.loc[("fake+gmm", 0), "wall_s"] >= runs.loc[("fake", 0), "wall_s"]  # the run and the back-end
    assert runs.loc[("fake+gmm", 1), "status"].startswith("failed: the runner wrote no embedding")
    assert runs.loc[("fake", 1), "status"] == "ok"
    # the back-end row is semst_sc.tl.cluster(method="gmm") on the embedding
    embedding = run.peer_io.read_embedding(out / "labels" / "sim_fake_0.csv")
    labels = run.read_csv(out / "labels" / "sim_fake+gmm_0.csv")["domain"]
    assert labels.equals(shared_gmm(embedding, 7, 0).reindex(labels.index))
    assert "fake+gmm+refine" in (out / "summary.md").read_text()

    # a rerun finds every row of the peer there, back-end rows included, and runs nothing
    monkeypatch.setattr(sys, "argv", [*argv, "--methods", "fake", "--seeds", "0"])
    run.main()
    assert len(pd.read_csv(out / "runs.csv")) == 6


@pytest.mark.parametrize("sections", [False, True])
def test_gpu_benchmark_sends_the_scaled_input_as_factors_that_rebuild_it(sections):
    # the GPU machine gets the scaled input as factors of the counts (a file small enough for the device call);
    # if pp.prepare scales otherwise, gpu_training.py falls back to sending the values: update _scaling_factors
    import scipy.sparse as sp

    import semst_sc as sst

    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec = importlib.util.spec_from_file_location("gpu_training", BENCHMARKS / "gpu_training.py")
        gpu = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(gpu)
    finally:
        sys.path.remove(str(BENCHMARKS))
    adata = simulate_tissue(16, 16, rng=0)
    library_key = None
    if sections:
        adata.obs["section"] = np.where(adata.obsm["spatial"][:, 0] < np.median(adata.obsm["spatial"][:, 0]), "a", "b")
        library_key = "section"
    sst.pp.prepare(adata, library_key=library_key)
    genes = adata.var["semst_modelled"].to_numpy()
    scaled = sp.csr_matrix(adata.layers["semst_scaled"][:, genes], dtype=np.float32)
    counts = sp.csr_matrix(adata.X[:, genes], dtype=np.float32)
    scaled.sort_indices()
    counts.sort_indices()
    codes = np.zeros(adata.n_obs, int) if library_key is None else pd.factorize(adata.obs[library_key])[0]
    factors = gpu._scaling_factors(counts, scaled, codes)
    assert factors is not None
    rebuilt = gpu._rebuild_scaled(counts, factors)
    assert np.array_equal(rebuilt.toarray(), scaled.toarray())
