import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from semst_sc._cli import main


@pytest.fixture
def slide(tissue, tmp_path):
    tissue.obs["sample"] = "s1"
    path = tmp_path / "slide.h5ad"
    tissue.write_h5ad(path)
    return path


def test_run_writes_domains_and_keeps_obs(slide, tmp_path, capsys):
    out, png = tmp_path / "out" / "res.h5ad", tmp_path / "figures" / "maps" / "res.png"  # folders created
    code = main(
        [
            "run",
            str(slide),
            "--n-clusters",
            "4",
            "--output",
            str(out),
            "--plot",
            str(png),
            "--epochs",
            "5",
            "--seed",
            "2",
            "--quiet",
        ]
    )
    assert code == 0
    result = ad.read_h5ad(out)
    original = ad.read_h5ad(slide)
    assert set(original.obs.columns) <= set(result.obs.columns)
    assert (result.obs["sample"] == "s1").all()
    assert result.obs["semst_domain"].nunique() == 4
    assert result.uns["semst"]["params"]["rng"] == 2
    assert png.stat().st_size > 5_000
    assert f"{result.n_obs} spots in 4 domains" in capsys.readouterr().out  # spots at spot resolution


@pytest.mark.parametrize("flag", [[], ["--resolution", "cell"], ["--resolution", "spot"]])
def test_run_resolution_flag(tmp_path, flag):
    from semst_sc.datasets import simulate_tissue

    path, out = tmp_path / "cells.h5ad", tmp_path / "res.h5ad"
    simulate_tissue(platform="xenium", n_cells=300, n_genes=40, rng=0).write_h5ad(path)
    args = ["run", str(path), "--n-clusters", "3", "--output", str(out), "--epochs", "2", "--no-semantics", "--quiet"]
    assert main(args + flag) == 0
    params = ad.read_h5ad(out).uns["semst_prepare"]["params"]
    assert params["resolution"] == (flag[1] if flag else "cell")  # auto: single cells are detected
    assert params["resolution_requested"] == (flag[1] if flag else "auto")


def test_run_neighbourhood_size_flag(tmp_path):
    from semst_sc.datasets import simulate_tissue

    path, out = tmp_path / "cells.h5ad", tmp_path / "res.h5ad"
    simulate_tissue(platform="xenium", n_cells=300, n_genes=40, rng=0).write_h5ad(path)
    args = ["run", str(path), "--n-clusters", "3", "--output", str(out), "--epochs", "2", "--no-semantics", "--quiet"]
    assert main(args + ["--neighbourhood-size", "9", "--neighbourhood-pooling", "cells"]) == 0
    result = ad.read_h5ad(out)
    assert result.uns["semst_prepare"]["params"]["neighbourhood_size"] == 9
    assert result.uns["semst_prepare"]["params"]["neighbourhood_pooling"] == "cells"
    pool = result.obsp["semst_neighbourhood"]
    assert (np.diff(pool.indptr) == 9).all() and not np.allclose(pool.data, 1)  # 9 cells, each at the median depth


def test_run_pair_weighting_flag(slide, tmp_path, capsys):
    out = tmp_path / "res.h5ad"
    args = ["run", str(slide), "--n-clusters", "3", "--output", str(out), "--epochs", "2", "--quiet"]
    assert main(args + ["--pair-weighting", "similarity"]) == 0
    params = ad.read_h5ad(out).uns["semst"]["params"]
    assert params["pair_weighting"] == "similarity" and 0 < params["mean_pair_weight"] < 1
    assert main(args + ["--pair-weighting", "similarity", "--encoder", "contrastive"]) == 1  # not its setting
    assert "contrastive has none: leave it out" in capsys.readouterr().err


def test_run_n_init_flag(slide, tmp_path, capsys):
    out = tmp_path / "res.h5ad"
    args = ["run", str(slide), "--n-clusters", "3", "--output", str(out), "--epochs", "2", "--quiet"]
    assert main(args + ["--n-init", "2"]) == 0
    params = ad.read_h5ad(out).uns["semst"]["params"]
    assert params["n_init"] == 2 and len(params["init_coherence"]) == 2
    with pytest.raises(SystemExit):  # refused while parsing, before any work
        main(args + ["--n-init", "0"])
    assert "--n-init" in capsys.readouterr().err


def test_run_merge_extra_flag_reaches_the_clustering(slide, tmp_path):
    out = tmp_path / "res.h5ad"
    args = ["run", str(slide), "--n-clusters", "3", "--output", str(out), "--epochs", "2", "--quiet"]
    assert main(args + ["--merge-extra"]) == 0  # spots: off unless asked
    params = ad.read_h5ad(out).uns["semst_domain"]["params"]
    assert params["merge_extra"] and set(params["extra_coherence"]) == {"direct", "merged"}


def test_run_is_deterministic(slide, tmp_path):
    outs = [tmp_path / f"r{i}.h5ad" for i in range(2)]
    for out in outs:
        assert main(["run", str(slide), "--n-clusters", "3", "--output", str(out), "--epochs", "4", "--quiet"]) == 0
    a, b = (ad.read_h5ad(o) for o in outs)
    np.testing.assert_array_equal(a.obs["semst_domain"].to_numpy(), b.obs["semst_domain"].to_numpy())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "missing.h5ad", "--output", "o.h5ad"], "does not exist"),
        (["run", "{slide}", "--output", "o.csv"], "must end in .h5ad"),
        (["run", "{slide}", "--output", "o.h5ad", "--n-clusters", "100000"], "between 1 and the number of spots"),
        (["run", "{slide}", "--output", "o.h5ad", "--layer", "nope"], "layers['nope'] not found"),
    ],
)
def test_run_errors_are_one_line(slide, tmp_path, capsys, args, message):
    args = [a.format(slide=slide) for a in args]
    args = [str(tmp_path / a) if a.endswith((".h5ad", ".csv")) and "/" not in a else a for a in args]
    assert main([*args, "--quiet", "--epochs", "2"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("semst-sc: error:") and message in err and "\n" not in err


def test_device_is_chosen_on_the_command_line_and_checked_before_any_work(slide, tmp_path, capsys, monkeypatch):
    import torch

    from semst_sc import settings

    monkeypatch.setattr(settings, "_device", settings.device)  # the process-wide setting the CLI sets, put back after
    out = tmp_path / "res.h5ad"
    common = ["run", str(slide), "--n-clusters", "3", "--output", str(out), "--epochs", "2", "--quiet"]
    assert main([*common, "--device", "cpu"]) == 0
    assert ad.read_h5ad(out).uns["semst"]["params"]["device"] == "cpu"
    with pytest.raises(SystemExit):
        main([*common, "--device", "gpu0"])
    assert "device must be one of auto, cpu, cuda, mps (or 'cuda:N'), got 'gpu0'" in capsys.readouterr().err
    out.unlink()
    if not torch.cuda.is_available():
        assert main([*common, "--device", "cuda"]) == 1
        assert "torch sees no CUDA GPU" in capsys.readouterr().err and not out.exists()
    if not torch.backends.mps.is_available():
        assert main([*common, "--device", "mps"]) == 1  # before any work too, not in torch after the graphs
        assert "torch sees no Apple GPU" in capsys.readouterr().err and not out.exists()


def test_demo(tmp_path, capsys):
    assert main(["demo", "--output-dir", str(tmp_path / "small"), "--size", "3", "--quiet"]) == 1
    assert not (tmp_path / "small").exists()  # refused before any work
    assert main(["demo", "--output-dir", str(tmp_path), "--size", "14", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "ARI = " in printed
    ari = float(printed.split("ARI = ")[1].split()[0])
    assert 0 < ari <= 1
    assert (tmp_path / "demo.h5ad").exists() and (tmp_path / "domains.png").stat().st_size > 5_000


@pytest.mark.slow
def test_module_entry_point():
    done = subprocess.run([sys.executable, "-m", "semst_sc", "run", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "--n-clusters" in done.stdout


def test_refine_is_left_to_the_resolution_unless_given():
    from semst_sc._cli import _parser

    run = ["run", "slide.h5ad", "--output", "o.h5ad"]
    assert _parser().parse_args(run).refine is None  # run_pipeline: at cell resolution only
    assert _parser().parse_args([*run, "--refine"]).refine is True
    assert _parser().parse_args([*run, "--no-refine"]).refine is False
    assert _parser().parse_args(run).merge_extra is None  # the same for the extra domain merged back
    assert _parser().parse_args([*run, "--no-merge-extra"]).merge_extra is False


def test_help_imports_no_torch_and_unknown_encoder_fails_first(slide, tmp_path, capsys, monkeypatch):
    code = "import sys; from semst_sc._cli import _parser; _parser(); print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
    read = []  # the encoder is checked before the data are read
    monkeypatch.setattr("anndata.read_h5ad", lambda *a, **k: read.append(a))
    assert main(["run", str(slide), "--output", str(tmp_path / "o.h5ad"), "--encoder", "vae", "--quiet"]) == 1
    assert "encoder must be one of" in capsys.readouterr().err and read == []


def test_help_says_what_each_command_does_with_its_options(capsys):
    helps = {}
    for command in ("run", "train", "query", "demo"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        helps[command] = " ".join(capsys.readouterr().out.split())  # argparse wraps the lines
    assert "where the text model runs" in helps["query"] and "trains" not in helps["query"]
    assert "where the model trains:" in helps["train"] and "text model" not in helps["train"]
    assert "write an image of the domains (.png, .pdf, .svg, ...)" in helps["run"]
    assert "100 for dual, 300 for contrastive" in helps["run"] and "default 40" in helps["demo"]
    assert "a folder of NCBI files" in helps["query"]


def test_method_choices_are_the_clustering_methods(monkeypatch):
    from semst_sc import _cli
    from semst_sc import _constants as C

    # a method added where docs/extending.md says reaches the CLI with no second list to keep in step
    monkeypatch.setattr(C, "CLUSTER_METHODS", (*C.CLUSTER_METHODS, "my_method"))
    args = _cli._parser().parse_args(["run", "in.h5ad", "--output", "o.h5ad", "--method", "my_method"])
    assert args.method == "my_method"


# ---------------------------------------------------------------- fast start, early checks (issue 23: items 3, 7, 10)

_NO_HEAVY_IMPORTS = """
import sys
from pathlib import Path
from semst_sc._cli import main
codes = []
for argv in {argvs!r}:
    try:
        codes.append(main(argv))
    except SystemExit as done:
        codes.append(done.code)
print(codes, sorted(m for m in ("scanpy", "torch", "anndata", "matplotlib") if m in sys.modules))
"""


def test_help_version_and_usage_errors_import_neither_scanpy_nor_torch(slide, tmp_path):
    blocked = tmp_path / "a_file"
    blocked.write_text("")
    out = str(tmp_path / "o.h5ad")
    argvs = [
        ["--help"],
        ["--version"],
        ["run", "--help"],
        ["run"],  # missing arguments
        ["run", str(slide), "--output", out, "--epochs", "0"],
        ["run", str(slide), "--output", out, "--n-clusters", "7.5"],
        ["train", str(slide), "--output", out, "--epochs", "-1"],
        ["run", str(tmp_path / "missing.h5ad"), "--output", out],
        ["run", str(slide), "--output", str(tmp_path / "o.csv")],
        ["run", str(slide), "--output", out, "--gene-text", str(tmp_path / "missing.tsv")],
        ["run", str(slide), "--output", str(blocked / "o.h5ad")],
        ["run", str(slide), "--output", out, "--plot", str(tmp_path / "map.xyz")],
        ["train", str(slide), "--output", str(blocked / "o.npy")],
        ["run", str(slide), "--output", out, "--distinct-names"],  # without --annotate
    ]
    done = subprocess.run(
        [sys.executable, "-c", _NO_HEAVY_IMPORTS.format(argvs=argvs)], capture_output=True, text=True, check=True
    )
    codes, imported = done.stdout.strip().splitlines()[-1].rsplit("] ", 1)
    assert codes == "[0, 0, 0, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1" and imported == "[]", done.stdout[-2000:]


def test_version(capsys):
    import semst_sc

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"semst-sc {semst_sc.__version__}"


def test_module_help_is_fast():
    """`python -m semst_sc --help` imports neither scanpy nor torch (measured with -X importtime)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "semst_sc", "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0 and "run" in done.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    assert "semst_sc._cli" in imported and not {"scanpy", "torch", "anndata"} & imported


def _exit_status(argv):
    """Exit status of ``semst-sc argv``: main's return value, or argparse's exit (2 on a usage error)."""
    try:
        return main(argv)
    except SystemExit as done:
        return done.code


def test_run_keeps_its_result_when_the_domains_found_cannot_be_named(slide, tmp_path, capsys, monkeypatch):
    def run(data, n_clusters, **_):  # a clustering that left one domain of one spot
        domains = data.obs["domain"].astype(str).to_numpy()
        domains[0] = "lonely"
        data.obs["semst_domain"] = pd.Categorical(domains)

    monkeypatch.setattr("semst_sc._pipeline.run_pipeline", run)
    out = tmp_path / "res.h5ad"
    assert main(["run", str(slide), "--output", str(out), "--annotate", "--quiet"]) == 1
    error = capsys.readouterr().err
    assert "the domains are written without names: domain 'lonely'" in error and "has 1 spot" in error
    result = ad.read_h5ad(out)  # the run's work is not lost
    assert result.obs["semst_domain"].iloc[0] == "lonely" and "semst_domain_name" not in result.obs


@pytest.fixture
def no_work(monkeypatch):
    """Record every call of the first expensive step of each command (sst.pp.prepare, sst.tl.semst)."""
    calls = []
    monkeypatch.setattr("semst_sc.pp.prepare", lambda *a, **k: calls.append("prepare"))
    monkeypatch.setattr("semst_sc.tl.semst", lambda *a, **k: calls.append("semst"))
    return calls


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--epochs", "0"], 2, "argument --epochs: must be a positive integer, got 0"),
        (["--n-clusters", "7.5"], 2, "argument --n-clusters: must be a positive integer, got '7.5'"),
        (["--seed", "-3"], 2, "argument --seed: must be an integer >= 0"),
        (["--gene-symbols", "nope"], 1, "var['nope'] not found"),
        (["--gene-text", "/missing/genes.tsv"], 1, "--gene-text /missing/genes.tsv not found"),
        (["--layer", "nope"], 1, "layers['nope'] not found"),
        (["--plot", "{blocked}/map.png"], 1, "cannot write --plot"),
        (["--plot", "{tmp}/map.xyz"], 1, "--plot must end in .png, .pdf, .svg"),
        (["--count-file", "raw.h5"], 1, "--count-file names the matrix inside a Space Ranger folder"),
        (["--bin-size", "50"], 1, "--bin-size sums the DNBs of a Stereo-seq GEM input into bins"),
        (["--encoder", "contrastive", "--pair-weighting", "similarity"], 1, "--pair-weighting is a setting of the"),
        (["--no-semantics", "--semantic-mode", "symbols"], 1, "which --no-semantics leaves out"),
        (["--no-semantics", "--gene-text", "human"], 1, "with --no-semantics, add --annotate"),
        (["--resolution", "spot", "--neighbourhood-size", "5"], 1, "--resolution spot pools no neighbourhood"),
        (["--resolution", "spot", "--neighbourhood-pooling", "cells"], 1, "--resolution spot pools no neighbourhood"),
        (["--bin-size", "cells"], 2, "argument --bin-size: must be a positive integer or 'cell', got 'cells'"),
    ],
)
def test_run_fails_before_any_work(slide, tmp_path, capsys, no_work, args, code, message):
    blocked = tmp_path / "a_file"  # a file where a folder should be: the folder cannot be created
    blocked.write_text("")
    out = tmp_path / "res" / "o.h5ad"
    args = [a.format(blocked=blocked, tmp=tmp_path) for a in args]
    assert _exit_status(["run", str(slide), "--output", str(out), "--quiet", *args]) == code
    err = capsys.readouterr().err
    assert message in err and no_work == [] and not out.exists()


def test_run_annotate_fails_before_any_work_on_what_would_keep_the_names_out(tissue, tmp_path, capsys, no_work):
    own = tissue.copy()
    own.obs["semst_domain_name"] = "mine"  # a column of the user's where --annotate writes the names
    own.write_h5ad(tmp_path / "own.h5ad")
    ensembl = tissue.copy()  # Ensembl IDs and no symbol column: no gene can be read as a name
    ensembl.var_names = [f"ENSG{i:011d}" for i in range(ensembl.n_vars)]
    ensembl.var = ensembl.var.drop(columns=[c for c in ensembl.var.columns if "symbol" in c])
    ensembl.write_h5ad(tmp_path / "ensembl.h5ad")
    for name, extra, message in (
        ("own", [], "obs['semst_domain_name'] of the input holds values of its own"),
        (
            "ensembl",
            ["--no-semantics"],
            "needs gene symbols. Pass gene_symbols='<var column with symbols>' (CLI: --gene",
        ),
    ):
        out = tmp_path / f"{name}_out.h5ad"
        args = ["run", str(tmp_path / f"{name}.h5ad"), "--annotate", "--output", str(out), "--quiet", *extra]
        assert _exit_status(args) == 1
        assert message in capsys.readouterr().err and no_work == [] and not out.exists()


def test_gene_text_folder_without_descriptions_is_refused_first(slide, tmp_path, capsys, no_work):
    folder = tmp_path / "gene_text"  # a folder of the NCBI files is read (run refused any folder before)
    folder.mkdir()
    (folder / "notes.txt").write_text("")
    for command in (["run", str(slide), "--output", str(tmp_path / "o.h5ad")], ["query", str(slide), "myelination"]):
        assert main([*command, "--gene-text", str(folder), "--quiet"]) == 1
        assert f"--gene-text {folder} holds no gene descriptions" in capsys.readouterr().err
    assert no_work == []


def test_run_reads_a_folder_of_gene_descriptions(slide, tmp_path):
    folder, out = tmp_path / "gene_text", tmp_path / "o.h5ad"
    folder.mkdir()
    genes = ad.read_h5ad(slide).var_names
    table = pd.DataFrame({"symbol": genes, "full_name": "a gene", "summary": "", "go_bp": ""})
    table.to_csv(folder / "human_gene_text.tsv.gz", sep="\t", index=False)
    args = ["run", str(slide), "--gene-text", str(folder), "--n-clusters", "3", "--epochs", "2", "--output", str(out)]
    assert main([*args, "--quiet"]) == 0
    params = ad.read_h5ad(out).uns["semantic"]["params"]
    assert params["gene_text"] == f"{folder} (human)" and params["gene_text_coverage"] == 1.0


def test_run_names_the_layouts_it_reads_for_a_folder_of_none(tmp_path, capsys, no_work):
    empty, sample, experiment = (tmp_path / name for name in ("empty", "sample", "experiment"))
    empty.mkdir()
    (sample / "outs" / "spatial").mkdir(parents=True)  # the folder above Space Ranger's outs
    (experiment / "region_0").mkdir(parents=True)  # MERSCOPE's experiment folder, its region inside
    (experiment / "region_0" / "cell_by_gene.csv").write_text("cell,Mbp\n1,3\n")
    for folder, hint in ((empty, ""), (sample, f"it holds outs/: pass {sample / 'outs'}"),
                         (experiment, f"it holds region_0/: pass {experiment / 'region_0'}")):  # fmt: skip
        assert main(["run", str(folder), "--output", str(tmp_path / "o.h5ad"), "--quiet"]) == 1
        error = capsys.readouterr().err
        assert f"{folder} is no output folder semst-sc reads" in error and hint in error
        assert "Xenium" in error and "MERSCOPE" in error and "Stereo-seq" in error
    assert no_work == []


def test_run_output_folder_checked_before_the_data_are_read(slide, tmp_path, capsys, no_work, monkeypatch):
    blocked = tmp_path / "a_file"
    blocked.write_text("")
    read = []
    monkeypatch.setattr("anndata.read_h5ad", lambda *a, **k: read.append(a))
    assert main(["run", str(slide), "--output", str(blocked / "o.h5ad"), "--quiet"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("semst-sc: error: cannot write --output") and "writable location" in err
    assert read == [] and no_work == []
    (tmp_path / "taken.h5ad").mkdir()
    assert main(["run", str(slide), "--output", str(tmp_path / "taken.h5ad"), "--quiet"]) == 1
    assert "is a folder" in capsys.readouterr().err and read == []


def test_output_paths_expand_the_home_folder_and_follow_links(slide, tmp_path, capsys, monkeypatch):
    """--output=~/x went to a folder named '~' (the shell leaves it); a link into a missing folder failed at the end."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(slide), "--output=~/res/o.h5ad", "--n-clusters", "3", "--epochs", "2", "--quiet"]) == 0
    assert (tmp_path / "home" / "res" / "o.h5ad").is_file() and not (tmp_path / "~").exists()
    blocked = tmp_path / "a_file"
    blocked.write_text("")
    link = tmp_path / "link.h5ad"
    link.symlink_to(blocked / "o.h5ad")  # into a folder that cannot be made
    assert main(["run", str(slide), "--output", str(link), "--quiet"]) == 1
    assert "cannot write --output" in capsys.readouterr().err


def test_train_fails_before_any_work(slide, tmp_path, capsys, no_work, monkeypatch):
    blocked = tmp_path / "a_file"
    blocked.write_text("")
    assert _exit_status(["train", str(slide), "--output", str(tmp_path / "e.npy"), "--epochs", "0"]) == 2
    assert "--epochs: must be a positive integer" in capsys.readouterr().err
    assert main(["train", str(slide), "--output", str(blocked / "e.npy"), "--quiet"]) == 1
    assert "cannot write --output" in capsys.readouterr().err
    assert main(["train", str(slide), "--output", str(tmp_path / "e.csv"), "--quiet"]) == 1
    assert "--output must end in .h5ad or .npy" in capsys.readouterr().err
    read = []  # these are refused before the data are read
    monkeypatch.setattr("anndata.read_h5ad", lambda *a, **k: read.append(a))
    for args, message in (
        (["--minibatch", "off", "--minibatch-size", "64"], "leave out --minibatch off"),
        (["--minibatch", "off", "--distributed"], "leave out --minibatch off"),
        (["--minibatch-size", "1"], "--minibatch-size must be at least 2 spots"),
    ):
        assert main(["train", str(slide), "--output", str(tmp_path / "e.npy"), "--quiet", *args]) == 1
        assert message in capsys.readouterr().err
    assert no_work == [] and read == []


def test_failing_plot_leaves_no_result(slide, tmp_path, capsys, monkeypatch):
    """The exit status is never 1 after the .h5ad was written: the plot is drawn first."""

    def broken(*args, **kwargs):
        raise RuntimeError("no display")

    monkeypatch.setattr("semst_sc.pl.domains", broken)
    out = tmp_path / "o.h5ad"
    code = main(
        [
            "run",
            str(slide),
            "--n-clusters",
            "3",
            "--epochs",
            "2",
            "--output",
            str(out),
            "--plot",
            str(tmp_path / "m.png"),
        ]
    )
    assert code == 1 and "no display" in capsys.readouterr().err and not out.exists()


def test_plot_formats_are_matplotlibs():
    from matplotlib.backend_bases import FigureCanvasBase

    from semst_sc._cli import PLOT_FORMATS

    assert set(PLOT_FORMATS) <= set(FigureCanvasBase.get_supported_filetypes())


# ---------------------------------------------------------------- inputs (issue 23: items 8, 9)


@pytest.mark.parametrize("command", ["run", "train"])
@pytest.mark.parametrize("damage", ["truncated", "not_hdf5"])
def test_damaged_h5ad_is_named(slide, tmp_path, capsys, command, damage):
    bad = tmp_path / "damaged.h5ad"
    data = slide.read_bytes()
    bad.write_bytes(data[: len(data) // 3] if damage == "truncated" else b"sample,x,y\n1,2,3\n" * 100)
    assert main([command, str(bad), "--output", str(tmp_path / "o.h5ad"), "--quiet"]) == 1
    err = capsys.readouterr().err.strip()
    assert f"semst-sc: error: {bad} is not a readable .h5ad file" in err and "\n" not in err


def test_run_reads_a_spaceranger_mtx_folder_and_count_file(tmp_path, capsys):
    """Both Space Ranger layouts reach the pipeline (whose first check stops on the 5 spots of the tiny folder)."""
    from fakes import make_spaceranger

    make_spaceranger(tmp_path / "outs", layout="mtx")
    out = str(tmp_path / "o.h5ad")
    assert main(["run", str(tmp_path / "outs"), "--output", out, "--quiet"]) == 1
    assert "the slide has 5 spots, too few for the neighbour graphs" in capsys.readouterr().err
    (tmp_path / "outs" / "filtered_feature_bc_matrix").rename(tmp_path / "outs" / "raw_feature_bc_matrix")
    assert main(["run", str(tmp_path / "outs"), "--output", out, "--quiet"]) == 1
    assert "--count-file" in capsys.readouterr().err
    args = ["run", str(tmp_path / "outs"), "--count-file", "raw_feature_bc_matrix", "--output", out, "--quiet"]
    assert main(args) == 1
    assert "the slide has 5 spots" in capsys.readouterr().err


@pytest.mark.slow
def test_thread_count_is_recorded(slide, tmp_path):
    """Float reductions depend on torch's thread count, so results are reproducible for a seed *and* a count."""
    for threads in (1, 2):
        out = tmp_path / f"t{threads}.h5ad"
        command = [sys.executable, "-m", "semst_sc", "run", str(slide), "--n-clusters", "3", "--output", str(out)]
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1"}
        done = subprocess.run([*command, "--epochs", "3", "--quiet"], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
        assert ad.read_h5ad(out).uns["semst"]["params"]["n_threads"] == threads


def test_run_output_holds_the_results_not_the_intermediates(slide, tmp_path):
    """The written .h5ad is the input plus what a user needs: at most the input's size plus the results' bytes."""
    out, kept = tmp_path / "out.h5ad", tmp_path / "kept.h5ad"
    args = ["run", str(slide), "--n-clusters", "4", "--epochs", "2", "--quiet", "--output"]
    assert main([*args, str(out)]) == 0
    assert main([*args, str(kept), "--keep-intermediates"]) == 0
    result = ad.read_h5ad(out)
    assert list(result.layers) == [] and list(ad.read_h5ad(kept).layers) == ["semst_scaled"]
    results = sum(result.obsm[key].nbytes for key in ("X_semst", "X_semantic")) + sum(
        graph.data.nbytes + graph.indices.nbytes + graph.indptr.nbytes for graph in result.obsp.values()
    )
    size, source = out.stat().st_size, slide.stat().st_size
    # measured: 1.5 MB from a 0.49 MB input (results 1.5 MB uncompressed); before, 2.8 MB with two copies of X
    assert size < source + results, (size, source, results)


# ---------------------------------------------------------------- SpatialData .zarr stores (issue 19, item 5)


@pytest.fixture
def store(tmp_path):
    """A SpatialData .zarr store of 400 Xenium-like cells whose table has no obsm['spatial'] (cells as circles)."""
    import warnings

    from fakes import make_spatialdata

    sdata = make_spatialdata()
    del sdata.tables["table"].obsm["spatial"]
    path = tmp_path / "xenium.zarr"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zarr's notice about a future default
        sdata.write(path)
    return path


def test_run_on_a_spatialdata_store(store, tmp_path, capsys):
    import spatialdata as sd

    out = tmp_path / "res" / "domains.zarr"
    args = ["run", str(store), "--n-clusters", "4", "--epochs", "2", "--quiet", "--output"]
    assert main([*args, str(out)]) == 0
    result = sd.read_zarr(out)
    table = result.tables["table"]
    assert table.obs["semst_domain"].nunique() == 4 and table.obsm["spatial"].shape == (400, 2)
    assert "cells" in result.shapes and table.uns["spatialdata_attrs"]["region"] == "cells"
    assert "semst_domain" not in sd.read_zarr(store).tables["table"].obs  # the input store is not rewritten
    assert [p.name for p in out.parent.iterdir()] == ["domains.zarr"]  # no partial store left beside it
    assert "400 cells in 4 domains" in capsys.readouterr().out  # at cell resolution
    h5ad, png = tmp_path / "table.h5ad", tmp_path / "map.png"  # or the table alone
    assert main([*args, str(h5ad), "--table-key", "table", "--plot", str(png)]) == 0
    assert png.stat().st_size > 5_000  # drawn from the shapes' centroids
    written = ad.read_h5ad(h5ad)
    np.testing.assert_array_equal(written.obs["semst_domain"].to_numpy(), table.obs["semst_domain"].to_numpy())


def test_a_store_written_meanwhile_by_another_run_is_left_whole(tmp_path):
    from semst_sc._cli import _write_store

    target = tmp_path / "out.zarr"

    class Racing:  # another run writes the store while this one writes its own
        def write(self, path, update_sdata_path):
            Path(path).mkdir()
            (Path(path) / "ours").write_text("ours")
            target.mkdir()
            (target / "theirs").write_text("theirs")

    with pytest.raises(FileExistsError, match="written by something else while this run worked"):
        _write_store(Racing(), target)
    assert [p.name for p in target.iterdir()] == ["theirs"] and sorted(tmp_path.iterdir()) == [target]


def test_run_on_a_store_fails_before_any_work(store, slide, tmp_path, capsys, no_work, monkeypatch):
    taken = tmp_path / "taken.zarr"
    taken.mkdir()
    bare = store.rename(tmp_path / "xenium_store")  # a zarr store without the .zarr suffix is one too
    cases = [
        ([str(slide), "--output", str(tmp_path / "o.zarr")], "written for a SpatialData .zarr input only"),
        ([str(slide), "--output", str(tmp_path / "o.h5ad"), "--table-key", "cells"], "--table-key names a table"),
        ([str(bare), "--output", str(taken)], f"--output {taken} already exists"),
        ([str(bare), "--output", str(tmp_path / "o.csv")], "--output must end in .h5ad or .zarr"),
        ([str(bare), "--output", str(tmp_path / "o.zarr"), "--count-file", "m.h5"], "is a SpatialData .zarr store"),
        ([str(bare), "--output", str(tmp_path / "o.zarr"), "--table-key", "cells"], "table 'cells' not found"),
        ([str(bare), "--output", str(bare / "inner.zarr")], "lies inside the input store"),
        ([str(bare), "--output", str(bare / "tables" / "domains.h5ad")], "lies inside the input store"),
    ]
    for args, message in cases:
        assert main(["run", *args, "--quiet"]) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith("semst-sc: error:") and message in err and "\n" not in err, (args, err)
    assert no_work == [] and not (tmp_path / "o.zarr").exists() and not (bare / "inner.zarr").exists()
    assert not (bare / "tables" / "domains.h5ad").exists()
    monkeypatch.setitem(sys.modules, "spatialdata", None)  # spatialdata not installed
    assert main(["run", str(bare), "--output", str(tmp_path / "o.h5ad"), "--quiet"]) == 1
    assert "needs the spatialdata package: pip install spatialdata" in capsys.readouterr().err


@pytest.fixture
def two_sections(tmp_path):
    from semst_sc.datasets import simulate_tissue

    paths = []
    for name, shape in (("left", (16, 16)), ("right", (18, 14))):
        section = simulate_tissue(*shape, n_genes=120, rng=0)
        section.obs["donor"] = name.upper()
        paths.append(tmp_path / f"{name}.h5ad")
        section.write_h5ad(paths[-1])
    return paths


def test_run_several_inputs_fits_them_jointly(two_sections, tmp_path, capsys, monkeypatch):
    out, png = tmp_path / "joint.h5ad", tmp_path / "joint.png"
    args = ["run", *map(str, two_sections), "--n-clusters", "4", "--output", str(out), "--plot", str(png)]
    assert main([*args, "--epochs", "3", "--no-semantics", "--quiet"]) == 0
    result = ad.read_h5ad(out)
    assert list(result.obs["library_id"].cat.categories) == ["left", "right"]
    assert set(result.obs["donor"]) == {"LEFT", "RIGHT"}  # each input's obs columns kept
    assert result.obs_names.str.endswith("-left").sum() == 256
    assert result.uns["semst_prepare"]["params"]["library_key"] == "library_id"
    assert result.uns["spatial_neighbors"]["params"]["library_key"] == "library_id"
    assert png.stat().st_size > 5_000
    assert "of 2 sections in 4 domains" in capsys.readouterr().out

    import matplotlib.pyplot as plt

    table = tmp_path / "genes.tsv"  # a small gene-text table: the query reads no real descriptions
    texts = [f"{g}: myelin sheath, myelination" if g in {"MBP", "PLP1"} else f"{g}: a gene" for g in result.var_names]
    pd.DataFrame({"symbol": result.var_names, "text": texts}).to_csv(table, sep="\t", index=False)
    drawn = []
    monkeypatch.setattr(plt.Figure, "savefig", lambda fig, *a, **k: drawn.append(fig))
    assert main(["query", str(out), "myelination", "--plot", str(tmp_path / "q.png"), "--gene-text", str(table)]) == 0
    assert re.search(r"top genes: (MBP|PLP1) \(0\.\d\d\)", capsys.readouterr().out)  # with its weight
    titles = [ax.get_title() for ax in drawn[0].axes if ax.get_title()]
    assert titles == ["\u201cmyelination\u201d: left", "\u201cmyelination\u201d: right"]  # a panel per section
    limits = {ax.collections[0].get_clim() for ax in drawn[0].axes if ax.get_title()}
    assert len(limits) == 1  # one colour scale
    scores = np.concatenate([np.asarray(ax.collections[0].get_array()) for ax in drawn[0].axes if ax.get_title()])
    query = ["query", str(out), "myelination", "--plot", str(tmp_path / "q.png"), "--gene-text", str(table)]
    assert main([*query, "--vmin", "0", "--vmax", "p90", "--quiet"]) == 0
    clim = drawn[-1].axes[0].collections[0].get_clim()
    np.testing.assert_allclose(clim, (0, np.percentile(scores, 90)), rtol=1e-6)
    plt.close("all")
    for bad in ("p101", "high", "nan", "p1e1", "p5_0", "p+50", "p 50", "p-0"):  # refused as pl.query refuses them
        with pytest.raises(SystemExit):
            main([*query, "--vmax", bad])
        assert "--vmax: must be a number or a percentile 'p0'-'p100'" in capsys.readouterr().err
    assert main([*query, "--vmin", "5", "--vmax", "1"]) == 1
    assert "--vmin 5 is above --vmax 1" in capsys.readouterr().err


def test_run_several_inputs_says_how_to_keep_a_sections_own_library_id(two_sections, tmp_path):
    """The hint was concat_sections' 'pass another library_key', which semst-sc run refuses with several inputs."""
    from fakes import scanpy_warnings

    left = ad.read_h5ad(two_sections[0])
    left.obs["library_id"] = "patient1"
    left.write_h5ad(two_sections[0])
    args = ["run", *map(str, two_sections), "--n-clusters", "3", "--output", str(tmp_path / "o.h5ad"), "--epochs", "2"]
    logged = scanpy_warnings(lambda: main([*args, "--no-semantics", "--quiet"]))
    assert (
        "section 'left' holds obs['library_id'] = 'patient1', replaced by the section's name: name its input file "
        "(less the suffix) or folder 'patient1' to keep it" in logged
    )
    assert "pass another library_key" not in logged


def test_run_library_key_of_one_file(two_sections, tmp_path):
    joined = ad.concat({"a": ad.read_h5ad(two_sections[0]), "b": ad.read_h5ad(two_sections[1])}, index_unique="-")
    path, out = tmp_path / "both.h5ad", tmp_path / "res.h5ad"
    joined.write_h5ad(path)
    args = ["run", str(path), "--library-key", "donor", "--n-clusters", "3", "--output", str(out), "--epochs", "2"]
    assert main([*args, "--no-semantics", "--quiet"]) == 0
    assert ad.read_h5ad(out).uns["semst_prepare"]["params"]["library_key"] == "donor"


def test_several_inputs_need_distinct_names(two_sections, tmp_path, capsys, no_work):
    other = tmp_path / "copy"
    other.mkdir()
    twin = other / "left.h5ad"
    twin.write_bytes(two_sections[0].read_bytes())
    out = str(tmp_path / "o.h5ad")
    assert main(["run", str(two_sections[0]), str(twin), "--output", out, "--quiet"]) == 1
    assert "distinct file stems" in (err := capsys.readouterr().err) and "rename one" in err
    assert main(["run", *map(str, two_sections), "--library-key", "donor", "--output", out, "--quiet"]) == 1
    assert "--library-key names the section column of one .h5ad" in capsys.readouterr().err
    assert no_work == []


def test_messages_keep_their_quotes_and_suffixes_any_case(slide, tmp_path, capsys):
    upper = tmp_path / "SLIDE.H5AD"
    shutil.copy(slide, upper)
    assert main(["query", str(upper), " ?! ", "--quiet"]) == 1  # the input passes; the text is what is wrong
    assert capsys.readouterr().err.strip().endswith("e.g. 'myelination'")
    assert main(["query", str(upper), "myelination", "--output", str(tmp_path / "q.csv"), "--quiet"]) == 1
    assert "must end in .h5ad" in capsys.readouterr().err


def test_query_names_the_input_column_it_would_overwrite_not_a_python_argument(slide, tmp_path, capsys):
    data = ad.read_h5ad(slide)
    data.obs["semst_query"] = 1.0  # a column of the user's own (no uns['semst_query'] of a query)
    clash = tmp_path / "clash.h5ad"
    data.write_h5ad(clash)
    assert main(["query", str(clash), "myelination", "--quiet"]) == 1
    error = capsys.readouterr().err
    # 'choose another key_added' named an argument of sst.tl.query that the command does not have
    assert "obs['semst_query'] of the input holds values of its own" in error and "rename or drop" in error
    assert "key_added" not in error


def test_query_tissue_is_checked_first_and_keeps_the_catalogue_to_it(slide, tmp_path, capsys, monkeypatch):
    table = tmp_path / "genes.tsv"  # bare symbols as text: the catalogue is the knowledge
    names = ad.read_h5ad(slide).var_names
    pd.DataFrame({"symbol": names, "text": names}).to_csv(table, sep="\t", index=False)
    out = tmp_path / "q.h5ad"
    query = ["query", str(slide), "granule cells", "--gene-text", str(table), "--output", str(out), "--quiet"]
    assert main([*query, "--tissue", "olfactory bulb"]) == 0
    assert ad.read_h5ad(out).uns["semst_query"]["params"]["best_entry"] == "olfactory bulb granule cell layer"
    read = []
    monkeypatch.setattr("anndata.read_h5ad", lambda *a, **k: read.append(a))
    assert main([*query, "--tissue", "bulb"]) == 1
    assert "tissue must be one of" in capsys.readouterr().err and read == []


def test_run_on_stereoseq_gem_files(tmp_path, capsys):
    from fakes import write_gem

    from semst_sc.datasets import simulate_tissue

    paths = []
    for name, shape in (("chip_a", (12, 12)), ("chip_b", (10, 12))):
        bins = simulate_tissue(*shape, platform="visium_hd", n_genes=120, rng=0)
        paths.append(tmp_path / f"{name}.gem.gz")
        write_gem(paths[-1], bins, bin_size=20)
    out = tmp_path / "gem.h5ad"
    common = ["--n-clusters", "3", "--epochs", "2", "--no-semantics", "--quiet"]
    assert main(["run", str(paths[0]), "--bin-size", "20", "--output", str(out), *common]) == 0
    result = ad.read_h5ad(out)
    assert result.n_obs == 144 and result.uns["stereoseq"]["bin_size"] == 20
    assert result.obs["semst_domain"].nunique() == 3
    assert main(["run", *map(str, paths), "--bin-size", "20", "--output", str(out), *common]) == 0
    result = ad.read_h5ad(out)
    assert list(result.obs["library_id"].cat.categories) == ["chip_a", "chip_b"]  # named without .gem.gz
    assert result.n_obs == 144 + 120
    capsys.readouterr()
    assert main(["run", str(paths[0]), "--bin-size", "cell", "--output", str(out), *common]) == 1
    assert "no column CellID (bin_size='cell' reads a cell-bin GEM)" in capsys.readouterr().err
    assert main(["run", str(paths[0]), "--bin-size", "200", "--output", str(out), *common]) == 1  # 4 bins
    assert "into 4 bins, fewer than the 15 the domains and the neighbour graphs need" in capsys.readouterr().err


def test_run_on_xenium_output_folders(tmp_path, capsys):
    from fakes import write_xenium

    from semst_sc.datasets import simulate_tissue

    cells = simulate_tissue(platform="xenium", n_cells=300, n_genes=60, rng=0)
    write_xenium(tmp_path / "slide_a" / "outs", cells)
    write_xenium(tmp_path / "slide_b", cells[:200].copy(), cells="csv", layout="mtx", experiment=False)
    for name in ("cell_feature_matrix", "cells.csv.gz"):  # as 10x's downloads name them, no experiment.xenium
        (tmp_path / "slide_b" / name).rename(tmp_path / "slide_b" / f"Xenium_V1_FFPE_{name}")
    out = tmp_path / "xenium.h5ad"
    common = ["--n-clusters", "3", "--epochs", "2", "--no-semantics", "--quiet", "--output", str(out)]
    assert main(["run", str(tmp_path / "slide_a" / "outs"), *common]) == 0
    assert "semst-sc: 300 cells in 3 domains" in capsys.readouterr().out  # cells, not spots, at cell resolution
    result = ad.read_h5ad(out)
    assert result.n_obs == 300 and result.uns["xenium"]["region_name"] == "Region_1"
    assert result.obs["semst_domain"].nunique() == 3 and "transcript_counts" in result.obs
    assert main(["run", str(tmp_path / "slide_a" / "outs"), str(tmp_path / "slide_b"), *common]) == 0
    result = ad.read_h5ad(out)
    assert result.obs["library_id"].value_counts().to_dict() == {"slide_a": 300, "slide_b": 200}
    capsys.readouterr()
    assert main(["run", str(tmp_path / "slide_b"), "--count-file", "m.h5", *common]) == 1
    err = capsys.readouterr().err
    assert "--count-file names the matrix inside a Space Ranger folder, but" in err
    assert "slide_b is a Xenium output folder" in err
    cells_file = tmp_path / "slide_a" / "outs" / "cells.parquet"
    assert main(["run", str(cells_file), *common]) == 1  # a file of the folder: the folder is named
    assert f"is one file of an instrument's output: pass its folder, {cells_file.parent}" in capsys.readouterr().err
    (tmp_path / "slide_a" / "outs" / "cell_feature_matrix.h5").unlink()
    (tmp_path / "slide_a" / "outs" / "experiment.xenium").unlink()
    assert main(["run", str(tmp_path / "slide_a" / "outs"), *common]) == 1  # still a Xenium folder, lacking its matrix
    assert "no cell-feature matrix in" in capsys.readouterr().err


def test_run_on_visium_hd_cell_segmentations(tmp_path, capsys):
    from fakes import write_segmented_outputs

    from semst_sc.datasets import simulate_tissue

    cells = simulate_tissue(platform="xenium", n_cells=300, n_genes=60, rng=0)
    folder = tmp_path / "S1" / "outs" / "segmented_outputs"
    write_segmented_outputs(folder, cells)
    out = tmp_path / "hd.h5ad"
    args = ["run", str(folder), "--n-clusters", "3", "--epochs", "2", "--no-semantics", "--quiet", "--output", str(out)]
    assert main(args) == 0
    assert "semst-sc: 300 cells in 3 domains" in capsys.readouterr().out
    result = ad.read_h5ad(out)
    assert result.obs["semst_domain"].nunique() == 3 and result.uns["semst_prepare"]["params"]["resolution"] == "cell"


def test_run_on_a_file_or_a_renamed_folder_of_visium_hd_cell_segmentations(tmp_path, capsys, no_work):
    """A segmentation's matrix or outlines given for its folder got 'give an .h5ad file...', not the folder to pass;
    a renamed segmentation folder holding the mtx folder alone was no output folder semst-sc reads."""
    from fakes import write_segmented_outputs

    from semst_sc.datasets import simulate_tissue

    cells = simulate_tissue(platform="xenium", n_cells=30, n_genes=12, rng=0)
    folder = tmp_path / "S1" / "outs" / "segmented_outputs"
    write_segmented_outputs(folder, cells)
    out = ["--output", str(tmp_path / "o.h5ad"), "--quiet"]
    for name in ("filtered_feature_cell_matrix.h5", "cell_segmentations.geojson"):
        assert main(["run", str(folder / name), *out]) == 1
        assert f"is one file of an instrument's output: pass its folder, {folder}" in capsys.readouterr().err
    write_segmented_outputs(tmp_path / "S1_cells", cells, layout="mtx")
    main(["run", str(tmp_path / "S1_cells"), *out])
    assert no_work == ["prepare"], capsys.readouterr().err  # read, and on to the work


def test_run_on_merscope_and_cosmx_folders(tmp_path, capsys):
    from fakes import write_cosmx, write_merscope

    from semst_sc.datasets import simulate_tissue

    cells = simulate_tissue(platform="xenium", n_cells=300, n_genes=60, rng=0)
    write_merscope(tmp_path / "merscope" / "region_0", cells)
    write_cosmx(tmp_path / "cosmx", cells, gz=True)
    out = tmp_path / "o.h5ad"
    common = ["--n-clusters", "3", "--epochs", "2", "--no-semantics", "--quiet", "--output", str(out)]
    for folder, scale in ((tmp_path / "merscope" / "region_0", 1), (tmp_path / "cosmx", 8)):
        assert main(["run", str(folder), *common]) == 0
        result = ad.read_h5ad(out)
        assert result.n_obs == 300 and result.obs["semst_domain"].nunique() == 3
        np.testing.assert_allclose(result.obsm["spatial"], cells.obsm["spatial"] * scale)
    capsys.readouterr()
    assert main(["run", str(tmp_path / "cosmx"), "--count-file", "m.h5", *common]) == 1
    assert "cosmx is a CosMx export folder" in capsys.readouterr().err


def test_run_on_an_anndata_zarr_says_what_it_is(tissue, tmp_path, capsys, no_work):
    store = tmp_path / "slide.zarr"
    tissue.write_zarr(store)
    assert main(["run", str(store), "--output", str(tmp_path / "o.h5ad"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "is an AnnData written with write_zarr, not a SpatialData store" in err and "write_h5ad" in err
    assert no_work == []


def test_a_terminated_run_removes_its_partial_output(slide, tmp_path, capsys, monkeypatch):
    """SIGTERM (a batch system's time limit) during a write left the hidden partial .h5ad behind; Ctrl-C did not."""
    import signal

    def terminated(adata, path, **kwargs):
        Path(path).write_bytes(b"half an h5ad")
        os.kill(os.getpid(), signal.SIGTERM)

    def not_handled(signum, frame):  # what runs if semst-sc leaves SIGTERM alone (not the default: it kills pytest)
        raise RuntimeError("SIGTERM not handled")

    previous = signal.signal(signal.SIGTERM, not_handled)
    try:
        monkeypatch.setattr(ad.AnnData, "write_h5ad", terminated)
        out = tmp_path / "o.h5ad"
        args = ["run", str(slide), "--output", str(out), "--n-clusters", "3", "--epochs", "2", "--no-semantics"]
        assert main([*args, "--quiet"]) == 143
        assert "semst-sc: terminated (SIGTERM)" in capsys.readouterr().err
        assert sorted(p.name for p in tmp_path.iterdir()) == [slide.name]
        assert signal.getsignal(signal.SIGTERM) is not_handled  # the caller's handler back
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_an_interrupted_write_leaves_the_file_there_whole(slide, tmp_path, capsys, monkeypatch):
    before = slide.read_bytes()

    def interrupted(adata, path, **kwargs):  # as h5py says a disk is full: the cause past the first line
        Path(path).write_bytes(b"half an h5ad")
        raise OSError("Disable slist on flush dest failure failed (file write failed: time = Sat Dec  5\n"
                      "errno = 28, error message = 'No space left on device', buf = 0x1)")  # fmt: skip

    monkeypatch.setattr(ad.AnnData, "write_h5ad", interrupted)
    args = ["run", str(slide), "--output", str(slide), "--n-clusters", "3", "--epochs", "2", "--no-semantics"]
    assert main([*args, "--quiet"]) == 1  # the output names the input: it was read whole, then written over
    assert f"cannot write {slide.resolve()}: No space left on device" in capsys.readouterr().err
    assert slide.read_bytes() == before and sorted(p.name for p in slide.parent.iterdir()) == [slide.name]
    monkeypatch.undo()
    link, target = tmp_path / "link.h5ad", tmp_path / "target.h5ad"
    link.symlink_to(target)
    umask = os.umask(0o022)
    try:
        assert main([*args[:3], str(link), *args[4:], "--quiet"]) == 0
    finally:
        os.umask(umask)
    assert link.is_symlink() and target.is_file()  # written through the link, as in place
    assert target.stat().st_mode & 0o777 == 0o644  # readable by others, as a file written in place
    target.chmod(0o600)  # a result the user keeps private (or shares with a group): rewritten, it stays so
    assert main([*args[:3], str(target), *args[4:], "--quiet"]) == 0
    assert target.stat().st_mode & 0o777 == 0o600


def test_run_annotate_takes_the_organism_as_query_does(slide, tmp_path, capsys, monkeypatch):
    def run(data, n_clusters, **_):  # the true domains, found in no time
        data.obs["semst_domain"] = data.obs["domain"].astype(str).astype("category")

    monkeypatch.setattr("semst_sc._pipeline.run_pipeline", run)
    table, out = tmp_path / "genes.tsv", tmp_path / "o.h5ad"
    names = ad.read_h5ad(slide).var_names  # human symbols: guessed human unless told
    pd.DataFrame({"symbol": names, "text": names}).to_csv(table, sep="\t", index=False)
    args = ["run", str(slide), "--gene-text", str(table), "--output", str(out), "--quiet"]
    assert _exit_status([*args, "--annotate", "--organism", "mouse"]) == 0
    assert ad.read_h5ad(out).uns["semst_domain_annotation"]["params"]["organism"] == "mouse"
    assert _exit_status([*args, "--organism", "mouse"]) == 1  # without --annotate: nothing would read it
    assert "--organism is about naming the domains: add --annotate" in capsys.readouterr().err


def test_run_on_a_named_output_says_once_what_becomes_of_the_old_names(slide, tmp_path, capsys):
    from fakes import scanpy_warnings

    import semst_sc as sst

    named = ad.read_h5ad(slide)  # an earlier run's output, its domains named
    named.obs["semst_domain"] = named.obs["domain"].astype(str).astype("category")
    sst.tl.annotate_domains(named, gene_text=False)
    named.write_h5ad(tmp_path / "named.h5ad")
    args = ["run", str(tmp_path / "named.h5ad"), "--n-clusters", "3", "--epochs", "2", "--no-semantics", "--quiet"]
    # 'run sst.tl.annotate_domains again' was logged by the clustering inside the run: with --annotate, which names
    # the new domains, and without, beside the run's own word on the names left out
    logged = scanpy_warnings(lambda: main([*args, "--output", str(tmp_path / "plain.h5ad")]))
    assert "annotate_domains again" not in logged
    assert "left out obs['semst_domain_name'], uns['semst_domain_annotation']" in capsys.readouterr().err
    logged = scanpy_warnings(lambda: main([*args, "--annotate", "--output", str(tmp_path / "named_again.h5ad")]))
    assert "annotate_domains again" not in logged and "left out" not in capsys.readouterr().err
    assert "semst_domain_name" in ad.read_h5ad(tmp_path / "named_again.h5ad").obs


@pytest.fixture
def clustered(slide, tmp_path):
    """Run's output as far as naming needs it: the true domains in obs['semst_domain'], named once with no knowledge."""
    import semst_sc as sst

    data = ad.read_h5ad(slide)
    data.obs["semst_domain"] = data.obs["domain"].astype(str).astype("category")
    sst.tl.annotate_domains(data, gene_text=False, tissue=None)
    path = tmp_path / "clustered.h5ad"
    data.write_h5ad(path)
    return path


def test_annotate_names_the_domains_of_a_run_output(clustered, tmp_path, capsys):
    table, out, png = tmp_path / "genes.tsv", tmp_path / "named" / "named.h5ad", tmp_path / "report.png"
    names = ad.read_h5ad(clustered).var_names
    pd.DataFrame({"symbol": names, "text": names}).to_csv(table, sep="\t", index=False)
    before = clustered.read_bytes()
    args = ["annotate", str(clustered), "--gene-text", str(table), "--tissue", "brain", "--organism", "mouse"]
    assert main([*args, "--output", str(out), "--plot", str(png), "--quiet"]) == 0
    result = ad.read_h5ad(out)
    params = result.uns["semst_domain_annotation"]["params"]
    assert (params["tissue"], params["organism"]) == ("brain", "mouse")  # the earlier annotation replaced
    assert params["gene_text"] == str(table.resolve())
    domains = result.uns["semst_domain_annotation"]["domains"]
    named = result.obs["semst_domain"].map(domains.set_index("domain")["name"])
    assert (result.obs["semst_domain_name"] == named).all()
    assert png.stat().st_size > 5_000 and clustered.read_bytes() == before  # the input is not written
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"semst-sc: {len(domains)} domains of {result.n_obs} spots named: ")
    assert f"{domains['domain'][0]} = {domains['name'][0]}" in line and line.endswith(f"-> {png}, {out}")
    assert main(["annotate", str(clustered), "--gene-text", str(table), "--quiet"]) == 0  # no --output: printed only
    assert clustered.read_bytes() == before and "named: " in capsys.readouterr().out


def test_annotate_takes_run_s_naming_options_and_domain_key(clustered, tmp_path, capsys):
    helps = {}
    for command in ("run", "annotate"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        helps[command] = " ".join(capsys.readouterr().out.split())
    for text in ("name domains only after compartments of this tissue", "name the domains after different",
                 "name domains after cell types as well", "organism whose gene knowledge is read"):  # fmt: skip
        assert f"with --annotate: {text}" in helps["run"] and text in helps["annotate"]
    out = tmp_path / "named.h5ad"
    args = ["annotate", str(clustered), "--output", str(out), "--distinct-names", "--cell-types", "--quiet"]
    assert main([*args, "--domain-key", "domain"]) == 0
    params = ad.read_h5ad(out).uns["semst_domain_annotation"]["params"]
    assert params["domain_key"] == "domain" and params["distinct"] and params["cell_types"]


def test_annotate_fails_first_and_leaves_nothing_behind(clustered, tmp_path, capsys, monkeypatch):
    out = tmp_path / "named.h5ad"
    assert main(["annotate", str(clustered), "--output", str(out), "--domain-key", "nope", "--quiet"]) == 1
    error = capsys.readouterr().err
    assert "obs['nope'] not found" in error and "--domain-key" in error and not out.exists()
    own = ad.read_h5ad(clustered)
    del own.uns["semst_domain_annotation"]  # the names column now holds values of the user's own
    own.write_h5ad(tmp_path / "own.h5ad")
    assert main(["annotate", str(tmp_path / "own.h5ad"), "--output", str(out), "--quiet"]) == 1
    assert "obs['semst_domain_name'] of the input holds values of its own" in capsys.readouterr().err
    read = []
    monkeypatch.setattr("anndata.read_h5ad", lambda *a, **k: read.append(a))
    for bad, message in (
        (["--tissue", "bulb"], "tissue must be one of"),
        (["--output", str(tmp_path / "n.csv")], "--output must end in .h5ad"),
        (["--plot", str(tmp_path / "r.xyz")], "--plot must end in .png"),
        (["--gene-text", str(tmp_path / "missing.tsv")], "not found"),
    ):
        assert main(["annotate", str(clustered), *bad, "--quiet"]) == 1
        assert message in capsys.readouterr().err and read == [] and not out.exists()


def test_query_and_annotate_read_the_gene_symbols_run_was_given(tissue, tmp_path, capsys):
    ensembl = tissue.copy()  # Ensembl IDs, the symbols in a column of a name no reader guesses
    ensembl.var["hgnc"] = ensembl.var_names.to_numpy()
    ensembl.var_names = [f"ENSG{i:011d}" for i in range(ensembl.n_vars)]
    ensembl.var = ensembl.var[["hgnc"]]
    ensembl.write_h5ad(tmp_path / "ensembl.h5ad")
    out, named = tmp_path / "out.h5ad", tmp_path / "named.h5ad"
    run = ["run", str(tmp_path / "ensembl.h5ad"), "--gene-symbols", "hgnc", "--n-clusters", "3", "--epochs", "2"]
    assert main([*run, "--output", str(out), "--quiet"]) == 0
    assert ad.read_h5ad(out).uns["semantic"]["params"]["gene_symbols"] == "hgnc"
    # without --gene-symbols, query and annotate read the symbols from var['hgnc'] as run did
    assert main(["query", str(out), "MBP", "--output", str(named), "--quiet"]) == 0
    assert ad.read_h5ad(named).uns["semst_query"]["genes"]["gene"][0] == "MBP"
    assert main(["annotate", str(out), "--output", str(named), "--quiet"]) == 0
    assert ad.read_h5ad(named).uns["semst_domain_annotation"]["params"]["gene_symbols"] == "hgnc"
    assert main([*run, "--no-semantics", "--annotate", "--output", str(out), "--quiet"]) == 0  # no semantic step
    assert main(["query", str(out), "MBP", "--quiet"]) == 0  # the names recorded the column
    lost = ad.read_h5ad(out)
    lost.var = lost.var.drop(columns="hgnc")
    lost.write_h5ad(out)
    assert main(["annotate", str(out), "--quiet"]) == 1
    error = capsys.readouterr().err
    assert "var['hgnc'], the gene symbols recorded in uns['semst_domain_annotation']" in error
    assert "--gene-symbols" in error
