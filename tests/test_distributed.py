"""Distributed training: two processes under torchrun (gloo, CPU) learn an embedding as good as one process."""

import os
import socket
import subprocess
import sys

import anndata as ad
import numpy as np
import pytest
import torch
from sklearn.metrics import adjusted_rand_score

import semst_sc as sst
from semst_sc.nn._distributed import average_terms, distributed_session, process_group, share_from_first

pytestmark = pytest.mark.slow  # subprocesses and end-to-end runs

torch.set_num_threads(1)

STEPS, BATCH = 50, 512


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """The default simulated tissue with both graphs and stand-in semantic vectors, written to .h5ad."""
    adata = sst.datasets.simulate_tissue()
    sst.pp.prepare(adata)
    sst.pp.spatial_graph(adata)
    sst.pp.feature_graph(adata)
    adata.obsm["X_semantic"] = np.random.default_rng(0).standard_normal((adata.n_obs, 16)).astype(np.float32)
    path = tmp_path_factory.mktemp("distributed") / "prepared.h5ad"
    adata.write_h5ad(path)
    return adata, path


def _ari(adata, embedding):
    adata = adata.copy()
    adata.obsm["X_semst"] = embedding
    sst.tl.cluster(adata, 7, rng=0)
    return adjusted_rand_score(adata.obs["domain"], adata.obs["semst_domain"])


@pytest.mark.parametrize("encoder", ["dual", "contrastive"])
def test_two_processes_under_torchrun_match_one_process(prepared, tmp_path, encoder):
    adata, path = prepared
    train_kwargs = {"minibatch": True, "minibatch_size": BATCH}
    single = sst.tl.semst(adata, encoder=encoder, n_epochs=STEPS, train_kwargs=train_kwargs, copy=True)

    out = tmp_path / "embedding.npy"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    command += ["-m", "semst_sc", "train", str(path), "--output", str(out), "--distributed", "--encoder", encoder]
    command += ["--epochs", str(STEPS), "--minibatch-size", str(BATCH), "--seed", "0", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "(2 process(es))" in done.stdout
    embedding = np.load(out)
    assert embedding.shape == single.obsm["X_semst"].shape and np.isfinite(embedding).all()
    assert not np.array_equal(embedding, single.obsm["X_semst"])  # really trained apart

    one, two = _ari(adata, single.obsm["X_semst"]), _ari(adata, embedding)
    assert one > 0.6 and two > 0.6 and abs(one - two) < 0.1, (one, two)


def test_outside_a_process_group_everything_is_local(monkeypatch):
    assert process_group() == (0, 1)
    assert average_terms({"a": torch.tensor(1.5), "b": torch.tensor(2.0)}) == {"a": 1.5, "b": 2.0}
    z = torch.ones(3, 2)
    assert share_from_first(z, (3, 2), torch.device("cpu")) is z
    for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(RuntimeError, match="torchrun --nproc-per-node"):
        with distributed_session("cpu"):
            pass


def test_distributed_outside_torchrun_fails_before_any_work(prepared, tmp_path, monkeypatch, capsys):
    from semst_sc._cli import main

    for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    work = []
    monkeypatch.setattr("semst_sc._cli._read_h5ad", lambda *a, **k: work.append("read"))
    monkeypatch.setattr("semst_sc.pp.prepare", lambda *a, **k: work.append("prepare"))
    out = tmp_path / "trained.h5ad"
    assert main(["train", str(prepared[1]), "--output", str(out), "--distributed", "--quiet"]) == 1
    assert "runs under torchrun" in capsys.readouterr().err
    with pytest.raises(RuntimeError, match="runs under torchrun"):
        sst.run_pipeline(prepared[0].copy(), 3, train_kwargs={"distributed": True})
    assert work == [] and not out.exists()  # the input was not read, nothing prepared


@pytest.mark.parametrize("encoder", ["dual", "contrastive"])
def test_a_single_process_group_trains_like_plain_minibatch(prepared, monkeypatch, encoder):
    """distributed=True in a one-process torchrun-like environment: same result as mini-batch training."""
    adata, _ = prepared
    with socket.socket() as probe:  # a free port for the rendezvous
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for name, value in {"RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}.items():
        monkeypatch.setenv(name, value)
    alone = sst.tl.semst(adata, encoder=encoder, n_epochs=3, train_kwargs={"distributed": True}, copy=True)
    plain = sst.tl.semst(adata, encoder=encoder, n_epochs=3, train_kwargs={"minibatch": True}, copy=True)
    assert not torch.distributed.is_initialized()  # the group made for the call is gone
    params = alone.uns["semst"]["params"]
    assert params["distributed"] is True and params["world_size"] == 1 and params["minibatch"] is True
    np.testing.assert_array_equal(alone.obsm["X_semst"], plain.obsm["X_semst"])


def test_train_command_writes_h5ad_and_rejects_other_outputs(prepared, tmp_path, capsys):
    from semst_sc._cli import main

    _, path = prepared
    out = tmp_path / "trained.h5ad"
    assert main(["train", str(path), "--output", str(out), "--minibatch", "on", "--epochs", "2", "--quiet"]) == 0
    result = ad.read_h5ad(out)
    assert result.obsm["X_semst"].shape == (result.n_obs, 128)
    assert result.uns["semst"]["params"]["minibatch"] and result.uns["semst"]["params"]["n_epochs"] == 2
    assert main(["train", str(path), "--output", str(tmp_path / "x.csv"), "--quiet"]) == 1
    assert ".h5ad or .npy" in capsys.readouterr().err
    earlier = tmp_path / "embedding.npy"
    np.save(earlier, np.arange(3.0))

    def interrupted(file, array, *args, **kwargs):
        file.write(b"half an array")
        raise OSError("No space left on device")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(np, "save", interrupted)
        assert main(["train", str(path), "--output", str(earlier), "--epochs", "2", "--quiet"]) == 1
    np.testing.assert_array_equal(np.load(earlier), np.arange(3.0))  # the earlier file left whole
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".npy") == ["embedding.npy"]
    upper = tmp_path / "upper" / "E.NPY"  # np.save given this name wrote 'E.NPY.npy' beside an empty 'E.NPY'
    assert main(["train", str(path), "--output", str(upper), "--epochs", "2", "--quiet"]) == 0
    assert np.load(upper).shape == (result.n_obs, 128) and [p.name for p in upper.parent.iterdir()] == ["E.NPY"]


def test_train_command_leaves_out_the_domains_of_the_replaced_embedding(prepared, tmp_path, capsys):
    from semst_sc._cli import main

    adata = prepared[0].copy()
    adata.obsm["X_semst"] = adata.obsm["X_semantic"]
    sst.tl.cluster(adata, 3, rng=0)
    adata.obs["semst_domain_name"] = "some layer"
    adata.uns["semst_domain_annotation"] = {"params": {"domain_key": "semst_domain"}}
    adata.obs["custom"] = "other name"  # names under a custom key, and a refinement to another key: of it too
    adata.uns["custom_annotation"] = {"params": {"domain_key": "semst_domain", "key_added": "custom"}}
    sst.pp.spatial_graph(adata)
    sst.tl.refine(adata, key_added="smoothed")
    adata.obs["sample"] = "s1"
    path, out = tmp_path / "clustered.h5ad", tmp_path / "trained.h5ad"
    adata.write_h5ad(path)
    assert main(["train", str(path), "--output", str(out), "--epochs", "2", "--quiet"]) == 0
    result = ad.read_h5ad(out)
    said = capsys.readouterr()
    assert "left out" not in said.out  # a warning: on stderr, as under --quiet warnings still print
    for key in ("obs['semst_domain']", "obs['semst_domain_name']", "obs['custom']", "uns['custom_annotation']"):
        assert key in said.err.split("left out ")[1]
    assert not {"semst_domain", "semst_domain_name", "custom", "smoothed"} & set(result.obs) and "sample" in result.obs
    assert not {"semst_domain", "semst_domain_annotation", "custom_annotation", "smoothed"} & set(result.uns)
    assert "semst" in result.uns
    adata.uns["semst_domain"]["params"]["use_rep"] = "X_pca"  # domains of another representation are kept
    adata.write_h5ad(path)
    assert main(["train", str(path), "--output", str(out), "--epochs", "2", "--quiet"]) == 0
    assert "semst_domain" in ad.read_h5ad(out).obs and "left out" not in capsys.readouterr().err
