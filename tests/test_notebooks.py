"""The analyst notebooks run top to bottom, headless, on the bundled samples."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


@pytest.mark.parametrize("name", sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")))
def test_notebook_executes_without_error(name, monkeypatch):
    # the kernel is a new process: make it import this checkout, installed or not
    monkeypatch.setenv("PYTHONPATH", str(NOTEBOOKS.parent))
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    # the timeline cell rendered a figure and the findings table is not empty
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert any("application/vnd.plotly.v1+json" in o.get("data", {}) for o in outputs)
