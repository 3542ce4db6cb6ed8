"""Every notebook in notebooks/ (jupytext percent-format .py) runs without error at its small
default sizes: converted to .ipynb in memory and executed cell by cell in a fresh Python
kernel (nbclient), with the Agg backend and the figures written to a temporary folder (the
committed figures in notebooks/figures/ come from larger runs and are left alone).
"""

import pathlib

import jupytext
import nbclient
import pytest

NOTEBOOKS = sorted((pathlib.Path(__file__).parent.parent / "notebooks").glob("*.py"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("JAXTL_FIGURES", str(tmp_path))
    monkeypatch.delenv("JAXTL_NOTEBOOK_FULL", raising=False)
    notebook = jupytext.read(path)
    client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    client.execute()  # raises CellExecutionError if a cell raises
    assert list(tmp_path.glob(f"{path.stem}_*.png")), "the notebook saved no figure"


def test_notebooks_are_there():
    assert {p.stem for p in NOTEBOOKS} >= {"single_task", "transfer", "correlation", "gradient_search", "real_data", "paper_setting",
                                         "feature_transfer", "feature_learning", "deep"}
