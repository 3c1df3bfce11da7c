"""`forensics notebook run`: parameters injected, executed headless, offline HTML."""

from __future__ import annotations

import os

import nbformat
import pytest

from forensics.cli import EXIT_NOTEBOOK_FAILED, main
from forensics.errors import UsageError
from forensics.report import notebook
from tests.browser import visit
from tests.test_report import ARTIFACTS, REPO, SAMPLE

REPORT_NB = REPO / "notebooks" / "03_report.ipynb"


@pytest.fixture(autouse=True)
def kernel_imports_this_checkout(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(REPO))


def test_parse_params():
    assert notebook.parse_params(["since=24h", "n=7", "hosts=['a', 'b']", "x=None",
                                  "case_path=/srv/c.duckdb"]) == {
        "since": "24h", "n": 7, "hosts": ["a", "b"], "x": None,
        "case_path": "/srv/c.duckdb"}
    with pytest.raises(UsageError):
        notebook.parse_params(["not a name=1"])


def test_injected_after_the_parameters_cell():
    nb = nbformat.read(REPORT_NB, as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    notebook.inject(nb, {"since": "24h"})
    cell = nb.cells[at + 1]
    assert cell.metadata["tags"] == ["injected-parameters"] and "since = '24h'" in cell.source
    notebook.inject(nb, {"since": "7d"})  # re-running replaces, never stacks
    assert sum("injected-parameters" in c.metadata.get("tags", []) for c in nb.cells) == 1


def test_report_notebook_runs_with_parameters_and_exports_offline_html(tmp_path):
    case = tmp_path / "case.duckdb"
    assert main(["load", str(SAMPLE), "--case", str(case), "--config",
                 str(SAMPLE / "case.toml"), "--quiet"]) == 0
    html_out, nb_out = tmp_path / "out.html", tmp_path / "out.ipynb"
    assert main(["notebook", "run", str(REPORT_NB), "--param", f"case_path={case}",
                 "--param", "since=2026-03-04T00:00:00Z", "--param", "hosts=['10.42.7.17']",
                 "--html", str(html_out), "--out", str(nb_out)]) == 0
    executed = nbformat.read(nb_out, as_version=4)
    outputs = "".join(str(o) for c in executed.cells for o in c.get("outputs", []))
    assert str(case) in outputs and "10.42.7.17" in outputs
    doc = html_out.read_text(encoding="utf-8")
    assert "cdnjs" not in doc and "require.js" not in doc and "<script src" not in doc
    assert "<link" not in doc and "Content-Security-Policy" in doc
    seen = visit(html_out, ARTIFACTS / "notebook-03_report.png", plot=".forensics-plot")
    assert seen.requests == [html_out.resolve().as_uri()]
    assert not seen.console_errors and not seen.page_errors
    assert seen.plot_drawn and "tunnel" in seen.text


def test_a_failing_cell_still_writes_the_html_and_exits_8(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("from IPython.display import HTML\n"
                                  "HTML(\"<script>window.__pwned='cell'</script>\")"),
        nbformat.v4.new_code_cell("raise ValueError(f'bad x: {x}')"),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                "language": "python"}})
    path = tmp_path / "fails.ipynb"
    nbformat.write(nb, path)
    out = tmp_path / "fails.html"
    assert main(["notebook", "run", str(path), "--param", "x=41", "--html", str(out)]) == \
        EXIT_NOTEBOOK_FAILED
    seen = visit(out)
    assert "bad x: 41" in seen.text
    assert seen.pwned is None  # the policy allows only the exporter's own scripts
    assert seen.requests == [out.resolve().as_uri()]


def test_nothing_to_write_is_a_usage_error():
    assert main(["notebook", "run", os.fspath(REPORT_NB)]) == 2
