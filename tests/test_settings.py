from pathlib import Path

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
    s.device = "cuda:1"
    assert s.resolve_device() == "cuda:1" and s.resolve_device("cpu") == "cpu"
    with pytest.raises(ValueError, match="device must be one of"):
        s.device = "gpu"
    with pytest.raises(TypeError, match="progress"):
        s.progress = "yes"
    with pytest.raises(ValueError, match="n_threads"):
        s.n_threads = 0


def test_settings_is_one_shared_instance():
    assert sst.settings is sst._settings.settings
    assert "device=" in repr(sst.settings)
