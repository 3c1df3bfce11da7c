"""The case loader: pick files or folders on the server, load them with a progress bar,
see what was loaded and what was rejected."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import ipywidgets as w

from forensics.widgets.htmlutil import esc, table
from forensics.widgets.registry import get_or_create


class CaseLoader:
    """A path box and a file browser of the server's filesystem, a config box, Load."""

    def __init__(self, case: Any, start: str | os.PathLike[str] = ".") -> None:
        self.case = case
        self.path = w.Text(value=str(start), description="Evidence",
                           layout=w.Layout(width="70%"))
        self.config = w.Text(value="", description="Config", placeholder="case.toml (optional)",
                             layout=w.Layout(width="70%"))
        self.browser = w.Select(options=[], rows=8, description="Browse",
                                layout=w.Layout(width="70%"))
        self.load_button = w.Button(description="Load", button_style="primary")
        self.progress = w.IntProgress(value=0, min=0, max=1, description="Files")
        self.summary = w.HTML()
        self.rejects = w.HTML()
        self.report: Any = None
        self.browser.observe(self._browse, names="value")
        self.load_button.on_click(lambda _b: self.load())
        self.path.observe(lambda _c: self.refresh_browser(), names="value")
        self.refresh_browser()
        self.widget = w.VBox([self.path, self.browser, self.config,
                              w.HBox([self.load_button, self.progress]),
                              self.summary, self.rejects])

    def rebind(self, case: Any) -> None:
        self.case = case

    def refresh_browser(self) -> None:
        """List the folder in the path box (or the folder of the file in it)."""
        here = Path(self.path.value).expanduser()
        folder = here if here.is_dir() else here.parent
        try:
            entries = sorted(folder.iterdir(), key=lambda p: (not p.is_dir(), p.name))
        except OSError:
            entries = []
        options = [("..", str(folder.parent))] + [
            (p.name + ("/" if p.is_dir() else ""), str(p)) for p in entries[:500]]
        self._refreshing = True
        try:
            self.browser.options = options
            self.browser.value = None
        finally:
            self._refreshing = False

    def _browse(self, change: dict[str, Any]) -> None:
        if change["new"] and not getattr(self, "_refreshing", False):
            self.path.value = change["new"]

    def _on_progress(self, done: int, total: int, path: str, result: Any) -> None:
        self.progress.max = max(total, 1)
        self.progress.value = done
        self.summary.value = f"<p>loading {done}/{total}: {esc(os.path.basename(path))}</p>"

    def load(self) -> Any:
        """Load the path (file, folder or glob) into the case; show summary and rejects."""
        self.progress.value = 0
        config = self.config.value.strip()
        try:
            if config:
                self.case.configure(config)
            self.report = self.case.load(self.path.value, on_progress=self._on_progress,
                                         exclude=[config] if config else [])
        except Exception as exc:  # shown to the analyst, not raised into the widget loop
            self.summary.value = f"<p style='color:#b00'>error: {esc(exc)}</p>"
            return None
        frame = self.report.to_polars()
        rows = [(r["file"], r["format"], r["status"], r["rows"], r["rejects"])
                for r in frame.iter_rows(named=True)]
        self.summary.value = (f"<p>{len(rows)} file(s), {self.report.rows} rows loaded, "
                              f"{self.report.rejects} rejected</p>"
                              + table(["file", "format", "status", "rows", "rejects"], rows))
        rej = self.case.rejects().head(50)
        self.rejects.value = "" if rej.height == 0 else "<h4>Rejects</h4>" + table(
            ["file", "line", "reason", "raw"],
            [(r["path"], r["line_no"], r["reason"], r["raw"]) for r in rej.iter_rows(named=True)])
        return self.report

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def case_loader(case: Any, start: str | os.PathLike[str] = ".") -> CaseLoader:
    """The loader for `case` (the same one when the cell is re-run)."""
    return get_or_create(case, "loader", lambda: CaseLoader(case, start))
