"""Every notebook in notebooks/ runs top to bottom, as a user would run it, with its small
default parameters (each notebook's `parameters` cell; `FULL = True` there gives the full size).

Each notebook states its headline result in markdown (**Headline**) and asserts it in a check
cell, with tolerances measured at the default size: a wrong model or a run that blows up makes
the notebook, and so this test, fail."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no notebook"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path: Path, tmp_path: Path):
    nb = nbformat.read(path, as_version=4)
    assert any("parameters" in c.get("metadata", {}).get("tags", []) for c in nb.cells), \
        f"{path.name} has no cell tagged 'parameters'"
    assert any(c.cell_type == "markdown" and "**Headline**" in c.source for c in nb.cells), \
        f"{path.name} states no **Headline** result"
    checks = [c for c in nb.cells if c.cell_type == "code" and "\nassert " in "\n" + c.source]
    assert checks, f"{path.name} has no check cell (a code cell with assert statements)"
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()          # raises CellExecutionError, with the traceback, on any failing cell
    images = sum(1 for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                 if "image/png" in o.get("data", {}))
    assert images >= 1, f"{path.name} drew no figure"
