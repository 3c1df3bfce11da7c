"""Everything a report shows, gathered from the case into plain Python values.

Gathering and rendering are apart so the HTML builder never touches the database and the
data can be checked in tests without parsing HTML. Every list is capped: a report is read
in a browser by people outside the notebook, and a case of millions of events must still
give a file of a few megabytes that opens in seconds. So the report holds the findings and
the capped lines they cite, never the events themselves; the caps are stated in the report.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import polars as pl

import forensics
from forensics import timeline as tlmod
from forensics.report.lines import EvidenceFile, cap, read_lines

if TYPE_CHECKING:
    from forensics.case import Case

MAX_FINDINGS = 500  # the strongest findings are kept when there are more
LINES_PER_FINDING = 10  # evidence lines shown under each finding
MAX_MANIFEST = 5000  # evidence files listed
MAX_ATTRIBUTION_ITEMS = 50  # evidence items listed per incident
TEXT_CAP = 1000  # any other free text (summaries, explanations, rationales)


@dataclass
class EvidenceLine:
    """One cited log row: where it is, and its text (raw line, else the events summary)."""

    table: str
    evidence_id: int
    line_no: int
    path: str | None
    ts: datetime | None
    text: str
    raw: bool  # True: read verbatim from the file; False: the events-view summary


@dataclass
class Finding:
    host: str | None
    phase: str
    technique: str | None
    ts_start: datetime | None
    ts_end: datetime | None
    score: float | None
    severity: str | None
    summary: str
    query: str
    signals: list[str]
    evidence_count: int
    lines: list[EvidenceLine] = field(default_factory=list)


@dataclass
class Attribution:
    """The attribution section: verdicts per incident, their evidence items, or why not."""

    status: str  # 'ok', 'unavailable' (module absent) or 'error'
    message: str = ""
    incidents: list[dict[str, Any]] = field(default_factory=list)
    items: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


@dataclass
class ReportData:
    generated_at: datetime
    version: str
    case_path: str
    case_name: str | None
    since: datetime | None
    until: datetime | None
    hosts: list[str]
    findings: list[Finding]
    findings_total: int
    phases: dict[str, int]
    figure_json: str
    attribution: Attribution
    decisions: list[dict[str, Any]]
    manifest: list[dict[str, Any]]
    manifest_total: int
    notes: list[str] = field(default_factory=list)


def gather(case: Case, *, since: str | datetime | None = None,
           until: str | datetime | None = None, hosts: list[str] | tuple[str, ...] = (),
           now: datetime | None = None) -> ReportData:
    """Run the timeline over the case (hosts, window) and collect what the report shows."""
    now = now or datetime.now(UTC)
    since_t = tlmod.parse_time(since, now=now) if isinstance(since, str) else \
        tlmod.parse_time(since)
    until_t = tlmod.parse_time(until, now=now) if isinstance(until, str) else \
        tlmod.parse_time(until)
    hosts = sorted(set(hosts))
    notes: list[str] = []

    tl = tlmod.build(case, host=hosts[0] if len(hosts) == 1 else None, since=since_t,
                     until=until_t)
    frame = tl.findings
    if len(hosts) > 1 and frame.height:
        frame = frame.filter(pl.col("host").is_in(hosts))
    total = frame.height
    if total > MAX_FINDINGS:
        keep = frame.with_row_index("__i").sort("score", descending=True, nulls_last=True) \
            .head(MAX_FINDINGS)["__i"]
        frame = frame.with_row_index("__i").filter(pl.col("__i").is_in(keep)).drop("__i")
        notes.append(f"{total} findings; the {MAX_FINDINGS} with the highest scores are shown")
    tl.findings = frame

    findings = _findings(case, frame)
    phases: dict[str, int] = {}
    for f in findings:
        phases[f.phase] = phases.get(f.phase, 0) + 1
    name = case.setting("name")
    attribution = _attribution(case, hosts, since_t, until_t)
    return ReportData(
        generated_at=now, version=forensics.__version__,
        case_path=case.path if case.path == ":memory:" else os.path.abspath(case.path),
        case_name=name, since=since_t, until=until_t, hosts=hosts,
        findings=findings, findings_total=total,
        phases={p: phases[p] for p in (*tlmod.PHASES, *sorted(phases)) if p in phases},
        figure_json=_figure_json(tl, name),
        attribution=attribution,
        decisions=_decisions(case, attribution, hosts),
        manifest=_manifest(case), manifest_total=_count(case, "evidence"),
        notes=notes,
    )


# -- findings and their lines ------------------------------------------------------------

def _findings(case: Case, frame: pl.DataFrame) -> list[Finding]:
    if frame.height == 0:
        return []
    refs = []
    for i, ev in enumerate(frame["evidence"].to_list()):
        for ref in (ev or [])[:LINES_PER_FINDING]:
            refs.append((i, ref["table"], ref["evidence_id"], ref["line_no"]))
    lines = _evidence_lines(case, refs)
    out = []
    for i, row in enumerate(frame.iter_rows(named=True)):
        out.append(Finding(
            host=row["host"], phase=str(row["phase"]), technique=row["technique"],
            ts_start=row["ts_start"], ts_end=row["ts_end"], score=row["score"],
            severity=row["severity"], summary=cap(str(row["summary"] or ""), TEXT_CAP),
            query=str(row["query"]), signals=[str(s) for s in (row.get("signals") or [])],
            evidence_count=int(row.get("evidence_count") or len(row["evidence"] or [])),
            lines=lines.get(i, []),
        ))
    return out


def _evidence_lines(case: Case, refs: list[tuple[int, str, int, int]]
                    ) -> dict[int, list[EvidenceLine]]:
    """Each finding's cited rows: the raw line where the file allows, else the summary."""
    if not refs:
        return {}
    keys = pl.DataFrame(refs, schema={"finding": pl.Int64, "table": pl.String,
                                      "evidence_id": pl.Int32, "line_no": pl.Int64},
                        orient="row").with_row_index("ord")
    case.con.register("__report_refs", keys)
    try:
        rows = case.sql(
            "SELECT r.ord, r.finding, r.\"table\", r.evidence_id, r.line_no, "
            "min(e.ts) AS ts, any_value(e.summary) AS summary "
            "FROM __report_refs r LEFT JOIN events e ON e.source = r.\"table\" "
            "AND e.evidence_id = r.evidence_id AND e.line_no = r.line_no "
            "GROUP BY ALL ORDER BY r.ord")
    finally:
        case.con.unregister("__report_refs")
    files = {
        r["evidence_id"]: EvidenceFile(r["evidence_id"], _locate(case, r["path"]), r["sha256"],
                                       int(r["size_bytes"]), tuple(r["notes"] or ()))
        for r in case.sql(
            "SELECT evidence_id, path, sha256, size_bytes, notes FROM evidence "
            "WHERE list_contains(?, evidence_id)",
            [sorted({r[2] for r in refs})]).iter_rows(named=True)
    }
    wanted: dict[int, set[int]] = {}
    for r in refs:
        wanted.setdefault(r[2], set()).add(r[3])
    texts = {eid: read_lines(files[eid], nos) for eid, nos in wanted.items() if eid in files}
    out: dict[int, list[EvidenceLine]] = {}
    for r in rows.iter_rows(named=True):
        ev = files.get(r["evidence_id"])
        raw = texts.get(r["evidence_id"], {}).get(r["line_no"])
        out.setdefault(r["finding"], []).append(EvidenceLine(
            table=r["table"], evidence_id=r["evidence_id"], line_no=r["line_no"],
            path=ev.path if ev else None, ts=r["ts"],
            text=raw if raw is not None else cap(str(r["summary"] or "(row not found)")),
            raw=raw is not None,
        ))
    return out


def _locate(case: Case, path: str) -> str:
    """Where an evidence file is now. Paths are stored as given to the loader, often
    relative to wherever the analyst ran it; a scheduled report runs elsewhere, so a path
    beside the case file is tried too (the SHA-256 check decides whether it is the file)."""
    if os.path.isabs(path) or os.path.exists(path) or case.path == ":memory:":
        return path
    beside = os.path.join(os.path.dirname(os.path.abspath(case.path)), path)
    return beside if os.path.exists(beside) else path


def _figure_json(tl: tlmod.Timeline, name: str | None) -> str:
    """The timeline figure as JSON. Host names become axis labels, which plotly renders
    as its own small HTML dialect, so they are escaped like the hover text already is."""
    import html

    fig = tl.figure(title=html.escape(f"Incident timeline: {name}" if name else
                                      "Incident timeline"))
    for trace in fig.data:
        if trace.y is not None:
            trace.y = [None if y is None else html.escape(str(y)) for y in trace.y]
    return fig.to_json()


# -- attribution and decisions -------------------------------------------------------------

def _attribution(case: Case, hosts: list[str], since: datetime | None,
                 until: datetime | None) -> Attribution:
    """Verdicts from `forensics.attribution` (imported only here: it is optional)."""
    try:
        from forensics import attribution as attr  # type: ignore[attr-defined]
    except ImportError:
        return Attribution("unavailable", "attribution is not part of this forensics version")
    try:
        incidents: pl.DataFrame = attr.incidents(case)
        if incidents.height and hosts:
            incidents = incidents.filter(pl.col("host").is_in(hosts))
        if incidents.height and since:
            incidents = incidents.filter(pl.col("ts_end").fill_null(pl.col("ts_start")) >= since)
        if incidents.height and until:
            incidents = incidents.filter(pl.col("ts_start") <= until)
        items: dict[str, list[dict[str, Any]]] = {}
        if incidents.height:
            ids = incidents["incident_id"].to_list()
            evidence: pl.DataFrame = attr.evidence(case)
            if evidence.height:
                evidence = evidence.filter(pl.col("incident_id").is_in(ids)) \
                    .sort(["incident_id", "weight"], descending=[False, True])
            for row in evidence.iter_rows(named=True):
                bucket = items.setdefault(str(row["incident_id"]), [])
                if len(bucket) < MAX_ATTRIBUTION_ITEMS:
                    row["explanation"] = cap(str(row.get("explanation") or ""), TEXT_CAP)
                    bucket.append(row)
        return Attribution("ok", incidents=incidents.to_dicts(), items=items)
    except Exception as exc:  # the report still goes out; the section says what failed
        return Attribution("error", f"attribution failed: {type(exc).__name__}: {exc}")


def _decisions(case: Case, attribution: Attribution, hosts: list[str]) -> list[dict[str, Any]]:
    """Analyst decisions as recorded (append-only table), oldest first, current ones marked.

    Read straight from the case table, so a decision shows even when the attribution code
    is absent or fails: it is the analyst's record, not something the report computes.
    """
    if not _table_exists(case, "attribution_decisions"):
        return []
    rows = case.sql("SELECT * FROM attribution_decisions").to_dicts()
    if hosts and attribution.status == "ok":
        ids = {str(i["incident_id"]) for i in attribution.incidents}
        rows = [r for r in rows if str(r.get("incident_id")) in ids]
    latest: dict[str, Any] = {}
    for r in rows:
        key, did = str(r.get("incident_id")), r.get("decision_id") or 0
        latest[key] = max(latest.get(key, did), did)
    for r in rows:
        if "superseded_by" in r:
            r["current"] = r["superseded_by"] is None
        else:
            r["current"] = (r.get("decision_id") or 0) == latest[str(r.get("incident_id"))]
    rows.sort(key=lambda r: (str(r.get("decided_at") or ""), r.get("decision_id") or 0))
    return rows


# -- the manifest ------------------------------------------------------------------------------

def _manifest(case: Case) -> list[dict[str, Any]]:
    return case.sql(
        "SELECT evidence_id, path, sha256, size_bytes, status, format, rows_loaded, "
        "rows_rejected, loaded_at FROM evidence ORDER BY evidence_id LIMIT ?",
        [MAX_MANIFEST]).to_dicts()


def _count(case: Case, table: str) -> int:
    return int(case.con.execute(f'SELECT count(*) FROM "{table}"').fetchall()[0][0])


def _table_exists(case: Case, name: str) -> bool:
    return bool(case.con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?",
        [name]).fetchall()[0][0])


def json_for_script(text: str) -> str:
    """JSON text made safe inside a <script> element: no '<', '>', '&' or line separators
    survive as themselves, so a log string can never close the element."""
    return (text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


__all__ = ["Attribution", "EvidenceLine", "Finding", "ReportData", "gather", "json_for_script"]
