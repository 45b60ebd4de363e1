import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.mixture import GaussianMixture

from semst_sc.datasets import simulate_tissue

RUN = Path(__file__).resolve().parents[1] / "benchmarks" / "run.py"
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
