from pathlib import Path

import numpy as np
import pytest

import semst_sc as sst
from semst_sc._settings import Settings


def test_settings_defaults_and_validation(monkeypatch, tmp_path):
    s = Settings()
    assert s.device == "auto" and s.progress is True and s.n_threads is None
    monkeypatch.setenv("SEMST_CACHE_DIR", str(tmp_path))
    assert s.cache_dir == tmp_path
    s.cache_dir = False
    assert s.cache_dir is None
    s.cache_dir = "~/somewhere"
    assert s.cache_dir == Path.home() / "somewhere"
    monkeypatch.chdir(tmp_path)
    s.cache_dir = "relative"
    monkeypatch.chdir(Path.home())  # a relative folder moved with the working directory
    assert s.cache_dir == tmp_path / "relative"
    s.device = "cuda:1"
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    with pytest.raises(ValueError, match="torch sees no CUDA GPU.*'auto' or 'cpu'"):
        s.resolve_device()
    assert s.resolve_device("cpu") == "cpu" and s.resolve_device("auto") == "cpu"
    monkeypatch.setattr("torch.cuda.is_available", lambda: True)
    monkeypatch.setattr("torch.cuda.device_count", lambda: 2)
    assert s.resolve_device() == "cuda:1" and s.resolve_device("auto") == "cuda"
    with pytest.raises(ValueError, match="'cuda:2' but torch sees 2 CUDA GPU"):  # before any work, not in torch
        s.resolve_device("cuda:2")
    monkeypatch.setattr("torch.backends.mps.is_available", lambda: False)
    with pytest.raises(ValueError, match="'mps' but torch sees no Apple GPU"):
        s.resolve_device("mps")
    for bad in ("gpu", "cuda:x", "cpu:0", "", "cuda:", "cuda:01", "cuda:-1"):  # torch's "Invalid device string"
        with pytest.raises(ValueError, match="device must be one of"):
            s.device = bad
    with pytest.raises(AttributeError, match="settings has no 'cache': the settings are device, progress, cache_dir"):
        s.cache = False  # a misspelt cache_dir
    with pytest.raises(AttributeError, match=r"no 'verbosity' \(scanpy's: sc.settings.verbosity"):
        s.verbosity = 2  # scanpy's setting: a bare AttributeError before
    with pytest.raises(ValueError, match="empty path"):
        s.cache_dir = ""
    s.n_threads = np.int64(2)
    assert s.n_threads == 2 and type(s.n_threads) is int
    with pytest.raises(TypeError, match="progress"):
        s.progress = "yes"
    with pytest.raises(ValueError, match="n_threads"):
        s.n_threads = 0


def test_settings_is_one_shared_instance():
    assert sst.settings is sst._settings.settings
    assert "device=" in repr(sst.settings)


def test_training_threads_follow_the_request_not_what_another_library_set(monkeypatch, tissue):
    """numba's OpenMP layer (scanpy's seurat_v3 genes, run by pp.prepare) sets every OpenMP count to one per core."""
    import torch

    from semst_sc import nn

    s = Settings()
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert s.resolve_threads() == torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert s.resolve_threads() == 1
    s.n_threads = 3
    assert s.resolve_threads() == 3

    sst.pp.prepare(tissue, n_top_genes=100)
    sst.pp.spatial_graph(tissue)
    sst.pp.feature_graph(tissue)
    seen, train = [], nn.train
    monkeypatch.setattr(nn, "train", lambda *a, **k: seen.append(torch.get_num_threads()) or train(*a, **k))
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # as numba leaves it on two cores
    try:
        sst.tl.semst(tissue, semantic_key=None, n_epochs=1)
        assert seen == [1] and tissue.uns["semst"]["params"]["n_threads"] == 1
        assert torch.get_num_threads() == 2  # torch's count is left as it was found
    finally:
        torch.set_num_threads(before)


def test_text_model_runs_on_the_threads_asked_for_and_torch_is_restored(monkeypatch):
    import numpy as np
    import torch

    from semst_sc.semantics import SentenceTransformerEncoder

    class Model:  # stands in for the loaded sentence-transformers model
        def encode(self, texts, **kwargs):
            seen.append(torch.get_num_threads())
            return np.ones((len(texts), 4), dtype=np.float32)

    seen = []
    encoder = SentenceTransformerEncoder("stand-in")
    encoder._model = Model()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # as numba leaves it on two cores
    try:
        assert encoder.encode(["MBP", "PLP1"]).shape == (2, 4) and seen == [1]
        assert torch.get_num_threads() == 2
        with pytest.raises(RuntimeError, match="inside"), sst.settings.torch_threads():
            raise RuntimeError("inside")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
