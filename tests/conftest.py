import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(autouse=True, scope="session")
def _semantic_cache(tmp_path_factory):
    """Keep the semantic-vector cache of the test run out of the user's home."""
    os.environ["SEMST_CACHE_DIR"] = str(tmp_path_factory.mktemp("semst_cache"))


def pytest_collection_modifyitems(config, items):
    """Order the longest tests first; skip real-data tests when the data are absent (fail if SEMST_REQUIRE_DATA=1).

    First the real-data and notebook tests (whole slides, minutes each), then the other slow ones, then the rest: with
    one worker per core (``nox -s tests``), minute-long tests started last would leave the other workers idle at the
    end. CI sets SEMST_REQUIRE_DATA=1.
    """
    from semst_sc.datasets import default_data_dir

    def rank(item) -> int:
        if "real_data" in item.keywords or item.path.name == "test_tutorials.py":
            return 0
        return 1 if "slow" in item.keywords else 2

    items.sort(key=rank)  # stable
    data = default_data_dir()
    if (data / "dlpfc").is_dir():
        return
    msg = f"real data not found at {data} (set SEMST_DATA_DIR)"
    if os.environ.get("SEMST_REQUIRE_DATA") == "1":
        raise pytest.UsageError(msg + "; SEMST_REQUIRE_DATA=1 forbids skipping the real-data tests")
    for item in items:
        if "real_data" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=msg))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    from semst_sc.datasets import default_data_dir

    return default_data_dir()


@pytest.fixture(scope="session")
def _tissue():
    from semst_sc.datasets import simulate_tissue

    return simulate_tissue(24, 24, n_genes=300, rng=0)


@pytest.fixture
def tissue(_tissue):
    """A fresh small simulated slide (raw counts, truth in obs['domain'])."""
    return _tissue.copy()


@pytest.fixture(scope="session")
def _processed(_tissue):
    import semst_sc as sst

    adata = _tissue.copy()
    sst.run_pipeline(adata, adata.obs["domain"].nunique(), n_epochs=40, rng=0)
    return adata


@pytest.fixture
def processed(_processed):
    """The small slide after the whole default pipeline (40 epochs)."""
    return _processed.copy()
