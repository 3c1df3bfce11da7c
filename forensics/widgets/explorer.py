"""The timeline explorer: filter findings by host, phase and source query, narrow the
time range, click a finding (or pick it) and see the raw log events behind it."""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w
import plotly.graph_objects as go
import polars as pl

from forensics import timeline as tlmod
from forensics.widgets.htmlutil import esc, table
from forensics.widgets.registry import get_or_create


class TimelineExplorer:
    def __init__(self, case: Any) -> None:
        self.case = case
        self.hosts = w.SelectMultiple(description="Hosts", rows=5)
        self.phases = w.SelectMultiple(description="Phases", rows=5)
        self.sources = w.SelectMultiple(description="Queries", rows=5)
        self.range = w.SelectionRangeSlider(options=["-"], description="Time",
                                            layout=w.Layout(width="90%"))
        self.finding = w.Dropdown(description="Finding", layout=w.Layout(width="90%"))
        self.events = w.HTML()
        self.figure = go.FigureWidget()
        self.figure.update_layout(height=320, margin={"l": 90, "r": 10, "t": 30, "b": 30})
        for control in (self.hosts, self.phases, self.sources, self.range):
            control.observe(lambda _c: self.refresh(), names="value")
        self.finding.observe(lambda _c: self.show_events(), names="value")
        self.refresh_data()
        self.widget = w.VBox([w.HBox([self.hosts, self.phases, self.sources]), self.range,
                              self.figure, self.finding, self.events])

    def rebind(self, case: Any) -> None:
        self.case = case
        self.refresh_data()

    def refresh_data(self) -> None:
        """Rebuild the timeline from the case (after a load), keeping the filters."""
        self.timeline = tlmod.build(self.case)
        f = self.timeline.findings
        self.all = f.with_row_index("__i") if f.height else pl.DataFrame()
        for control, col in ((self.hosts, "host"), (self.phases, "phase"),
                             (self.sources, "query")):
            values = sorted({v for v in f[col].to_list() if v}) if f.height else []
            keep = tuple(v for v in control.value if v in values)
            control.options = values
            control.value = keep
        stamps = sorted({t for t in (f["ts_start"].to_list() + f["ts_end"].to_list())
                         if t is not None}) if f.height else []
        labels = [(f"{t:%Y-%m-%d %H:%M:%S}", t) for t in stamps] or [("-", None)]
        old = self.range.value
        self.range.options = labels
        self.range.index = (0, len(labels) - 1)
        if old and old[0] in stamps and old[1] in stamps:
            self.range.value = old
        self.refresh()

    def selected(self) -> pl.DataFrame:
        """The findings that pass the filters (all when a filter selects nothing)."""
        f = self.all
        if f.height == 0:
            return f
        if self.hosts.value:
            f = f.filter(pl.col("host").is_in(list(self.hosts.value)))
        if self.phases.value:
            f = f.filter(pl.col("phase").is_in(list(self.phases.value)))
        if self.sources.value:
            f = f.filter(pl.col("query").is_in(list(self.sources.value)))
        lo, hi = self.range.value if self.range.value else (None, None)
        if lo is not None and hi is not None:
            f = f.filter((pl.col("ts_end").fill_null(pl.col("ts_start")) >= lo)
                         & (pl.col("ts_start") <= hi))
        return f

    def refresh(self) -> None:
        f = self.selected()
        with self.figure.batch_update():
            self.figure.data = []
            for phase in tlmod.PHASES:
                part = f.filter(pl.col("phase") == phase) if f.height else f
                if part.height == 0:
                    continue
                xs, ys, texts, ids = [], [], [], []
                for r in part.iter_rows(named=True):
                    hover = (f"<b>{esc(r['phase'])}</b> {esc(r['summary'])[:300]}"
                             f"<br>query: {esc(r['query'])}")
                    xs += [r["ts_start"], r["ts_end"] or r["ts_start"], None]
                    ys += [r["host"], r["host"], None]
                    texts += [hover, hover, None]
                    ids += [r["__i"], r["__i"], None]
                self.figure.add_scatter(x=xs, y=ys, mode="lines+markers", name=phase,
                                        text=texts, customdata=ids,
                                        hovertemplate="%{text}<extra></extra>",
                                        line={"color": tlmod.PHASE_COLOURS[phase], "width": 8})
        for trace in self.figure.data:
            trace.on_click(self._clicked)
        options = [(f"{r['ts_start']:%m-%d %H:%M} {r['host']} {r['phase']}: "
                    f"{(r['summary'] or '')[:90]}", r["__i"])
                   for r in f.iter_rows(named=True)] if f.height else []
        current = self.finding.value
        self.finding.options = options
        if current in [v for _, v in options]:
            self.finding.value = current
        self.show_events()

    def _clicked(self, trace: Any, points: Any, _state: Any) -> None:
        for i in points.point_inds:
            index = trace.customdata[i]
            if index is not None:
                self.finding.value = index
                return

    def show_events(self) -> None:
        index = self.finding.value
        if index is None:
            self.events.value = "<p>Pick a finding to see the log lines behind it.</p>"
            return
        row = self.all.row(index, named=True)
        events = self.timeline.events_for(index)
        rows = [(e["ts"], e["source"], e["summary"], e["path"], e["line_no"])
                for e in events.iter_rows(named=True)] if events.height else []
        self.events.value = (f"<p><b>{esc(row['phase'])}</b> on {esc(row['host'])}: "
                             f"{esc(row['summary'])} <i>({esc(row['query'])})</i></p>"
                             + table(["time", "source", "event", "file", "line"], rows))

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def timeline_explorer(case: Any) -> TimelineExplorer:
    """The explorer for `case` (the same one, filters kept, when the cell is re-run)."""
    return get_or_create(case, "timeline", lambda: TimelineExplorer(case))


__all__ = ["TimelineExplorer", "timeline_explorer", "html"]
