"""The timeline: every detection's findings over a case, a host or a window, in phases.

`build(case, ...)` runs the detections (`forensics.queries.run_all`) and returns a
`Timeline`: the findings ordered by time and phase, the raw events behind any finding
(`Timeline.events_for`), and a plotly figure with one swimlane per host. Parsing, detection
and display stay apart: this module only orders and joins what the queries found, and
plotly is imported only when a figure is asked for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import polars as pl

from forensics.errors import UsageError

if TYPE_CHECKING:
    from forensics.case import Case

PHASES = ("access", "recon", "tunnel", "mining", "monetisation", "exfiltration")
PHASE_COLOURS = {
    "access": "#d62728", "recon": "#ff7f0e", "tunnel": "#9467bd",
    "mining": "#8c564b", "monetisation": "#2ca02c", "exfiltration": "#1f77b4",
}
TIMELINE_COLUMNS = ["host", "phase", "technique", "ts_start", "ts_end", "score", "severity",
                    "summary", "query"]
_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_time(value: str | datetime | None, *, now: datetime | None = None) -> datetime | None:
    """An absolute ISO-8601 time (zone-less is UTC) or a duration back from now ("24h", "7d")."""
    if value is None or isinstance(value, datetime):
        if isinstance(value, datetime) and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value
    m = _RELATIVE.match(value)
    if m:
        seconds = float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
        return (now or datetime.now(UTC)) - timedelta(seconds=seconds)
    try:
        stamp = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{value!r} is not a time",
                         hint="use ISO-8601 (2026-03-04T08:00:00Z) or a duration (24h, 7d)"
                         ) from None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


@dataclass
class Timeline:
    """Findings in phase order, and the case they came from (for the raw events)."""

    case: Case
    findings: pl.DataFrame

    def table(self) -> pl.DataFrame:
        """One row per finding: host, phase, technique, ts_start, ts_end, score, summary."""
        return self.findings.select(TIMELINE_COLUMNS) if self.findings.height else \
            pl.DataFrame(schema={c: pl.String for c in TIMELINE_COLUMNS})

    def hosts(self) -> list[str]:
        return sorted({h for h in self.findings["host"].to_list() if h}) if \
            self.findings.height else []

    def lanes(self) -> list[str]:
        """Swimlane labels: a host's name and address together when the case knows both."""
        if not self.findings.height:
            return []
        col = "lane" if "lane" in self.findings.columns else "host"
        return sorted({h for h in self.findings[col].to_list() if h})

    def events_for(self, index: int) -> pl.DataFrame:
        """The raw events (from the `events` view) behind finding number `index`."""
        refs = self.findings["evidence"][index]
        if refs is None or len(refs) == 0:
            return pl.DataFrame()
        keys = pl.DataFrame(list(refs), schema={"table": pl.String, "evidence_id": pl.Int32,
                                               "line_no": pl.Int64}, orient="row")
        con = self.case.con
        con.register("__timeline_refs", keys)
        try:
            return self.case.sql(
                "SELECT e.*, ev.path FROM events e "
                "JOIN __timeline_refs r ON e.source = r.\"table\" "
                "AND e.evidence_id = r.evidence_id AND e.line_no = r.line_no "
                "JOIN evidence ev ON ev.evidence_id = e.evidence_id "
                "ORDER BY e.ts, e.evidence_id, e.line_no")
        finally:
            con.unregister("__timeline_refs")

    def figure(self, title: str = "Incident timeline") -> Any:
        """A plotly figure: a swimlane per host, a segment per finding, coloured by phase.

        Every log-derived string in the hover text is HTML-escaped: logs are written by
        attackers and plotly renders hover text as HTML.
        """
        import html

        import plotly.graph_objects as go

        fig = go.Figure()
        frame = self.findings
        for phase in PHASES:
            part = frame.filter((pl.col("phase") == phase) & pl.col("ts_start").is_not_null()) \
                if frame.height else frame
            if part.height == 0:
                continue
            xs: list[Any] = []
            ys: list[Any] = []
            texts: list[Any] = []
            for row in part.iter_rows(named=True):
                hover = "<br>".join([
                    f"<b>{html.escape(str(row['phase']))}</b> "
                    f"({html.escape(str(row['technique'] or ''))}) "
                    f"score {row['score']:.2f}",
                    html.escape(str(row["summary"] or ""))[:300],
                    f"{row['ts_start']:%Y-%m-%d %H:%M:%S} → {row['ts_end']:%H:%M:%S} UTC",
                    f"query: {html.escape(str(row['query']))}",
                ])
                start, end = row["ts_start"], row["ts_end"] or row["ts_start"]
                xs += [start, end, None]
                lane = row.get("lane") or row["host"]
                ys += [lane, lane, None]
                texts += [hover, hover, None]
            fig.add_trace(go.Scatter(
                x=xs, y=ys, mode="lines+markers", name=phase, text=texts,
                hovertemplate="%{text}<extra></extra>",
                line={"color": PHASE_COLOURS[phase], "width": 10},
                marker={"color": PHASE_COLOURS[phase], "size": 9},
            ))
        fig.update_layout(
            title=title, xaxis_title="time (UTC)", yaxis_title="host",
            yaxis={"type": "category", "categoryorder": "category descending"},
            legend_title="phase", hovermode="closest", height=max(300, 60 * len(self.lanes())),
        )
        focus = self._focus()
        if focus:
            fig.update_xaxes(range=focus)
        return fig

    def _focus(self) -> list[datetime] | None:
        """Open the figure on the alerts (medium and high), not on old low-severity context
        such as a wallet's history months back; zooming out shows everything."""
        f = self.findings
        if not f.height:
            return None
        alerts = f.filter(pl.col("severity").is_in(["medium", "high"])
                          & pl.col("ts_start").is_not_null())
        timed = f.filter(pl.col("ts_start").is_not_null())
        if not alerts.height or not timed.height:
            return None
        a0 = alerts["ts_start"].min()
        a1 = alerts.select(pl.col("ts_end").fill_null(pl.col("ts_start")).max()).item()
        t0 = timed["ts_start"].min()
        t1 = timed.select(pl.col("ts_end").fill_null(pl.col("ts_start")).max()).item()
        span, full = (a1 - a0), (t1 - t0)
        if full <= 2 * span or span.total_seconds() <= 0:
            return None
        pad = span * 0.05
        return [a0 - pad, a1 + pad]


def build(case: Case, *, host: str | None = None, since: str | datetime | None = None,
          until: str | datetime | None = None) -> Timeline:
    """Run every detection and order the findings of the case (or one host, or a window)."""
    from forensics import queries

    since_t, until_t = parse_time(since), parse_time(until)
    findings = queries.run_all(case)
    if findings.height == 0:
        return Timeline(case, findings)
    names = dict(case.sql("SELECT address, name FROM hosts WHERE name IS NOT NULL").rows())
    address_of = {name: address for address, name in names.items()}
    lane = {h: (f"{names[h]} ({h})" if h in names else
                f"{h} ({address_of[h]})" if h in address_of else h)
            for h in findings["host"].drop_nulls().unique().to_list()}
    findings = findings.with_columns(
        pl.col("host").replace_strict(lane, default=pl.col("host"),
                                      return_dtype=pl.String).alias("lane"))
    if host:  # a host by address or by name: GPU files name hosts, flows give addresses
        wanted = lane.get(host, host)
        findings = findings.filter((pl.col("host") == host) | (pl.col("lane") == wanted))
    if since_t:
        findings = findings.filter(pl.col("ts_end").fill_null(pl.col("ts_start")) >= since_t)
    if until_t:
        findings = findings.filter(pl.col("ts_start") <= until_t)
    order = {p: i for i, p in enumerate(PHASES)}
    findings = findings.with_columns(
        pl.col("phase").replace_strict(order, default=len(PHASES)).alias("__phase_order")
    ).sort(["ts_start", "__phase_order", "host"], nulls_last=True).drop("__phase_order")
    return Timeline(case, findings)
