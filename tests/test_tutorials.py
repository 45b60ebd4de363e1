"""The tutorial notebooks run top to bottom with the current code, so their text and outputs cannot drift."""

from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "tutorials").glob("*.ipynb"))
#: notebooks that read SEMST_DATA_DIR (skipped without the real data, as the other real-data tests)
REAL_DATA = {"multiple_sections.ipynb"}


@pytest.mark.slow
@pytest.mark.parametrize(
    "path",
    [pytest.param(p, marks=[pytest.mark.real_data] if p.name in REAL_DATA else []) for p in NOTEBOOKS],
    ids=lambda p: p.name,
)
def test_notebook_runs(path, tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    from semst_sc.datasets import default_data_dir

    monkeypatch.setenv("MPLBACKEND", "Agg")
    # the kernel runs in tmp_path: a relative SEMST_DATA_DIR (CI: ../shared/data) must not move with it
    monkeypatch.setenv("SEMST_DATA_DIR", str(default_data_dir().resolve()))
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    errors = [o for cell in notebook.cells for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors


def test_there_are_notebooks():
    assert NOTEBOOKS
