"""Parameterised notebooks run headless and exported to one offline HTML file.

`forensics notebook run NB --param since=24h --html out.html` is papermill's idea done with
the libraries the notebooks already need (nbformat, nbclient, nbconvert), so no extra
dependency: the cell tagged `parameters` holds the defaults, a cell tagged
`injected-parameters` is inserted after it with the values given, the notebook runs in a
fresh kernel in its own folder (as in Jupyter), and nbconvert's lab template, stripped of
every CDN script (require.js, MathJax, Mermaid, widgets), writes the HTML. Plotly figures,
which a headless run leaves as JSON only, are drawn by plotly.js inlined once; a strict
Content-Security-Policy allows only those scripts, by hash, so a log string in a cell's
output cannot run in the reader's browser and the page fetches nothing.
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from forensics.errors import ForensicsError, UsageError
from forensics.report.atomic import write_atomic
from forensics.report.gather import json_for_script
from forensics.report.render import csp

PLOTLY_MIME = "application/vnd.plotly.v1+json"
TEMPLATES = Path(__file__).resolve().parent / "templates"
_BOOT = (
    "(function(){if(typeof Plotly==='undefined'){return;}"
    "document.querySelectorAll('script.forensics-plot-data').forEach(function(d){"
    "var f=JSON.parse(d.textContent);var div=document.getElementById(d.dataset.target);"
    "if(div){Plotly.newPlot(div,f.data,f.layout||{},"
    "{displaylogo:false,responsive:true,showLink:false});}});})();"
)


class NotebookFailed(ForensicsError):
    """A cell raised; the HTML (with the error shown in place) was still written."""

    exit_code = 8


@dataclass
class NotebookRun:
    html: Path | None
    notebook: Path | None
    error: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)


def parse_params(items: list[str]) -> dict[str, Any]:
    """NAME=VALUE pairs; VALUE is a Python literal when it reads as one (7, None, [1, 2],
    'x'), else the text itself (24h, case.duckdb), as papermill's -p does."""
    out: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise UsageError(f"--param {item!r} is not NAME=VALUE with NAME a Python name")
        try:
            out[name] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[name] = value
    return out


def inject(nb: Any, params: dict[str, Any]) -> Any:
    """Insert the `injected-parameters` cell after the `parameters` cell (else first)."""
    import nbformat

    nb.cells = [c for c in nb.cells
                if "injected-parameters" not in c.get("metadata", {}).get("tags", [])]
    if not params:
        return nb
    source = "# Parameters given on the command line\n" + "\n".join(
        f"{k} = {v!r}" for k, v in params.items())
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    at = next((i + 1 for i, c in enumerate(nb.cells)
               if "parameters" in c.get("metadata", {}).get("tags", [])), 0)
    nb.cells.insert(at, cell)
    return nb


def _plotly_outputs(nb: Any) -> bool:
    """Turn figure outputs (JSON only after a headless run) into a div plus a data block."""
    import json

    n = 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            fig = out.get("data", {}).get(PLOTLY_MIME)
            if fig is None:
                continue
            n += 1
            target = f"forensics-plot-{n}"
            text = json_for_script(json.dumps(fig))
            out["data"] = {
                "text/html": f'<div id="{target}" class="forensics-plot"></div>'
                             f'<script type="application/json" class="forensics-plot-data" '
                             f'data-target="{target}">{text}</script>',
                "text/plain": "<plotly figure>",
            }
    return n > 0


def to_html(nb: Any, name: str = "notebook") -> str:
    """The executed notebook as one offline HTML page."""
    from nbconvert import HTMLExporter

    has_plots = _plotly_outputs(nb)
    plotly_js = ""
    if has_plots:
        from plotly.offline import get_plotlyjs

        plotly_js = get_plotlyjs().replace("</script", "<\\/script")
    exporter = HTMLExporter(template_name="forensics_offline",
                            extra_template_basedirs=[str(TEMPLATES)], embed_images=True,
                            sanitize_html=False)
    policy = csp([plotly_js, _BOOT] if has_plots else [])
    body, _ = exporter.from_notebook_node(nb, resources={
        "metadata": {"name": name}, "forensics_csp": policy,
        "forensics_plotly_js": plotly_js, "forensics_boot_js": _BOOT})
    return body


def run(notebook: str | os.PathLike[str], *, params: dict[str, Any] | None = None,
        html: str | os.PathLike[str] | None = None,
        output: str | os.PathLike[str] | None = None,
        timeout: int = 600, kernel: str = "python3") -> NotebookRun:
    """Execute `notebook` with `params` in a fresh kernel; write the HTML and/or notebook.

    Raises NotebookFailed after writing the outputs when a cell raised.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    path = Path(notebook)
    if not path.is_file():
        raise UsageError(f"no notebook at {path}")
    nb = inject(nbformat.read(path, as_version=4), params or {})
    error = None
    try:
        NotebookClient(nb, timeout=timeout, kernel_name=kernel,
                       resources={"metadata": {"path": str(path.resolve().parent)}}).execute()
    except CellExecutionError as exc:
        error = str(exc).strip().splitlines()[-1] if str(exc).strip() else "a cell raised"
    result = NotebookRun(None, None, error, dict(params or {}))
    if output:
        result.notebook = write_atomic(output, nbformat.writes(nb))
    if html:
        result.html = write_atomic(html, to_html(nb, path.stem))
    if error:
        raise NotebookFailed(f"{path}: {error}", hint="the outputs show the failing cell")
    return result
