"""The report as one self-contained HTML document.

Log text is attacker-controlled, and this file is opened by managers and lawyers in their
own browsers, so every value from the case goes through `html.escape` (text and attribute
context alike; no value is ever placed in a URL, style or event attribute), the figure's
data travels as JSON in a non-executing `<script type="application/json">` block with
`<`, `>` and `&` escaped, and a strict Content-Security-Policy allows exactly two inline
scripts, by hash (plotly.js and the few lines that draw the figure), and no network at
all: nothing is fetched when the report is viewed (no CDN, no fonts, no images).
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from forensics.report.gather import (
    LINES_PER_FINDING,
    MAX_FINDINGS,
    MAX_MANIFEST,
    TEXT_CAP,
    Attribution,
    Finding,
    ReportData,
    json_for_script,
)
from forensics.report.lines import cap
from forensics.timeline import PHASE_COLOURS

OPEN_FINDINGS = 30  # findings shown unfolded, with their lines; the others fold

_BOOT = (
    "(function(){var d=document.getElementById('timeline-data');"
    "if(!d||typeof Plotly==='undefined'){return;}"
    "var f=JSON.parse(d.textContent);"
    "Plotly.newPlot('timeline',f.data,f.layout,"
    "{displaylogo:false,responsive:true,showLink:false,showSendToCloud:false});})();"
)

_CSS = """
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       margin: 0 auto; max-width: 1200px; padding: 1rem 2rem 3rem; color: #1d1d1f;
       line-height: 1.4; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: .2rem; margin-top: 2rem; }
table { border-collapse: collapse; width: 100%; font-size: .85rem; margin: .5rem 0; }
th, td { border: 1px solid #ddd; padding: .25rem .4rem; text-align: left; vertical-align: top;
         overflow-wrap: anywhere; }
th { background: #f3f3f5; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code, pre, .mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace;
                   font-size: .8rem; }
pre.line { white-space: pre-wrap; word-break: break-all; margin: 0; }
.meta td:first-child { width: 12rem; font-weight: 600; }
.phase { display: inline-block; padding: .05rem .45rem; border-radius: .6rem; color: #fff;
         font-size: .8rem; font-weight: 600; }
.sev-high { color: #b00020; font-weight: 700; }
.sev-medium { color: #b35c00; font-weight: 600; }
details.finding { border: 1px solid #ddd; border-radius: 4px; margin: .4rem 0;
                  padding: .3rem .6rem; }
details.finding summary { cursor: pointer; }
.muted { color: #666; font-size: .85rem; }
.note { background: #fff8e1; border-left: 4px solid #f0b400; padding: .4rem .8rem; }
.from-summary { color: #666; font-style: italic; }
#timeline { min-height: 320px; }
nav a { margin-right: 1rem; }
@media print { #timeline { display: none; } details.finding { break-inside: avoid; } }
"""


def _e(value: object) -> str:
    """Escape any value for HTML text or a quoted attribute."""
    return html.escape("" if value is None else str(value), quote=True)


def _ts(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


def _sha256_source(script: str) -> str:
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def csp(scripts: Iterable[str]) -> str:
    """The policy: no network, no plugins, no forms, only the given inline scripts.

    Styles may be inline (plotly sets them from script; CSS cannot run code, and with
    every fetch directive at 'none' it cannot send anything anywhere either).
    """
    hashes = " ".join(_sha256_source(s) for s in scripts) or "'none'"
    return ("default-src 'none'; "
            f"script-src {hashes}; "
            "style-src 'unsafe-inline'; img-src data: blob:; font-src 'none'; "
            "connect-src 'none'; media-src 'none'; object-src 'none'; frame-src 'none'; "
            "worker-src 'none'; child-src 'none'; manifest-src 'none'; "
            "base-uri 'none'; form-action 'none'")


def render(data: ReportData, plotly_js: str | None = None) -> str:
    """The whole document. `plotly_js` defaults to plotly's own bundled build."""
    if plotly_js is None:
        from plotly.offline import get_plotlyjs

        plotly_js = get_plotlyjs()
    # a script element's text ends at the first "</script"; plotly.js must not contain one
    plotly_js = plotly_js.replace("</script", "<\\/script")
    title = "Incident timeline" + (f": {data.case_name}" if data.case_name else "")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_e(csp([plotly_js, _BOOT]))}">',
        '<meta name="referrer" content="no-referrer">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head><body>",
        f"<header><h1>{_e(title)}</h1>",
        f'<p class="muted">Generated {_e(_ts(data.generated_at))} by forensics '
        f"{_e(data.version)} from case <code>{_e(data.case_path)}</code></p></header>",
        '<nav><a href="#summary">Summary</a><a href="#timeline-section">Timeline</a>'
        '<a href="#findings">Findings</a><a href="#attribution">Attribution</a>'
        '<a href="#decisions">Decisions</a><a href="#manifest">Evidence</a></nav>',
        _summary(data),
        _timeline(data),
        _findings(data.findings, data.findings_total),
        _attribution(data.attribution),
        _decisions(data.decisions),
        _manifest(data.manifest, data.manifest_total),
        f'<footer><p class="muted">forensics {_e(data.version)} · generated '
        f"{_e(_ts(data.generated_at))} · case <code>{_e(data.case_path)}</code> · this file "
        "is self-contained and fetches nothing when opened.</p></footer>",
        f"<script>{plotly_js}</script>",
        f"<script>{_BOOT}</script>",
        "</body></html>",
    ]
    return "\n".join(parts)


# -- sections ------------------------------------------------------------------------------

def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], cls: str = "") -> str:
    """An HTML table; cells are given already escaped (built with _e)."""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(rows_cell for rows_cell in r) + "</tr>" for r in rows)
    return f'<table class="{_e(cls)}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _td(value: object, num: bool = False) -> str:
    return f'<td class="num">{_e(value)}</td>' if num else f"<td>{_e(value)}</td>"


def _phase(phase: str) -> str:
    colour = PHASE_COLOURS.get(phase, "#555555")
    return f'<span class="phase" style="background:{colour}">{_e(phase)}</span>'


def _summary(data: ReportData) -> str:
    window = f"{_ts(data.since) or 'start of the evidence'} → {_ts(data.until) or 'now'}"
    rows = [
        ("Case", data.case_path), ("Case name", data.case_name or "(unnamed)"),
        ("Generated", _ts(data.generated_at)), ("forensics version", data.version),
        ("Window", window), ("Hosts", ", ".join(data.hosts) or "all"),
        ("Findings", f"{data.findings_total}"),
        ("Evidence files", f"{data.manifest_total}"),
    ]
    meta = "".join(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in rows)
    phases = " ".join(f"{_phase(p)} <span class=\"muted\">×{n}</span>"
                      for p, n in data.phases.items()) or "no findings"
    notes = "".join(f'<p class="note">{_e(n)}</p>' for n in data.notes)
    return (f'<section id="summary"><h2>Summary</h2><table class="meta">{meta}</table>'
            f"<p>Phases found: {phases}</p>{notes}</section>")


def _timeline(data: ReportData) -> str:
    rows = [[_td(f.host), f"<td>{_phase(f.phase)}</td>", _td(f.technique), _td(_ts(f.ts_start)),
             _td(_ts(f.ts_end)), _td(f"{f.score:.2f}" if f.score is not None else "", True),
             _td(f.summary)] for f in data.findings]
    table = _table(["host", "phase", "technique", "start", "end", "score", "summary"], rows) \
        if rows else "<p>No findings in this window.</p>"
    return ('<section id="timeline-section"><h2>Timeline</h2>'
            '<p class="muted">One swimlane per host, a segment per finding, coloured by '
            "phase; hover a segment for its summary.</p>"
            '<div id="timeline"></div>'
            f'<script type="application/json" id="timeline-data">'
            f"{json_for_script(data.figure_json)}</script>{table}</section>")


def _findings(findings: list[Finding], total: int) -> str:
    out = ['<section id="findings"><h2>Findings and their evidence</h2>',
           f'<p class="muted">Up to {LINES_PER_FINDING} cited log lines per finding, each cut '
           f"at a few hundred characters; at most {MAX_FINDINGS} findings. A line is shown "
           "verbatim from its file when the file is still in place with the same SHA-256; "
           "otherwise the row's summary from the case is shown, in italics.</p>"]
    if not findings:
        out.append("<p>No findings.</p>")
    for n, f in enumerate(findings, start=1):
        sev = f"sev-{f.severity}" if f.severity in ("high", "medium", "low") else ""
        score = f"{f.score:.2f}" if f.score is not None else "?"
        head = (f"<summary>#{n} {_phase(f.phase)} <b>{_e(f.host)}</b> "
                f'<span class="{sev}">{_e(f.severity)} {_e(score)}</span> '
                f"{_e(_ts(f.ts_start))} · {_e(f.summary)}</summary>")
        info = (f'<p class="muted">query <code>{_e(f.query)}</code> · technique '
                f"{_e(f.technique)} · signals {_e(', '.join(f.signals) or '-')} · "
                f"{_e(f.evidence_count)} rows cited, {_e(len(f.lines))} shown · "
                f"{_e(_ts(f.ts_start))} → {_e(_ts(f.ts_end))}</p>")
        rows = []
        for line in f.lines:
            where = f"{line.path or '(file ' + str(line.evidence_id) + ')'}:{line.line_no}"
            cls = "line" if line.raw else "line from-summary"
            rows.append([_td(_ts(line.ts)), _td(line.table),
                         f'<td class="mono">{_e(where)}</td>',
                         f'<td><pre class="{cls}">{_e(line.text)}</pre></td>'])
        lines = _table(["time", "table", "file:line", "log text"], rows) if rows else \
            "<p class=\"muted\">No rows cited.</p>"
        # the first findings open; the rest one click away (keeps a big report fast to lay out)
        opened = " open" if n <= OPEN_FINDINGS else ""
        out.append(f'<details class="finding"{opened}>{head}{info}{lines}</details>')
    if total > len(findings):
        out.append(f'<p class="note">{_e(total - len(findings))} weaker findings are not '
                   "shown.</p>")
    out.append("</section>")
    return "".join(out)


def _attribution(attr: Attribution) -> str:
    out = ['<section id="attribution"><h2>Attribution: agent or intruder?</h2>']
    if attr.status != "ok":
        out.append(f'<p class="note">{_e(attr.message)}</p></section>')
        return "".join(out)
    if not attr.incidents:
        out.append("<p>No incidents in this window.</p></section>")
        return "".join(out)
    rows = []
    for inc in attr.incidents:
        rows.append([_td(inc.get("incident_id")), _td(inc.get("host")),
                     _td(_ts(inc.get("ts_start"))), _td(_ts(inc.get("ts_end"))),
                     f"<td><b>{_e(inc.get('verdict'))}</b></td>",
                     _td(_num(inc.get("confidence")), True),
                     _td(_num(inc.get("agent_score")), True),
                     _td(_num(inc.get("intruder_score")), True),
                     _td(", ".join(map(str, inc.get("deciding") or []))),
                     _td(", ".join(map(str, inc.get("phases") or [])))])
    out.append(_table(["incident", "host", "start", "end", "verdict", "confidence",
                       "agent score", "intruder score", "deciding evidence", "phases"], rows))
    for inc in attr.incidents:
        items = attr.items.get(str(inc.get("incident_id")), [])
        if not items:
            continue
        irows = [[_td(i.get("item_id")), _td(i.get("name")), _td(i.get("direction")),
                  _td(_num(i.get("weight")), True), _td(i.get("explanation")),
                  _td(i.get("query")), _td(_refs(i.get("rows")))] for i in items]
        heads = ["item", "name", "points to", "weight", "explanation", "query", "rows"]
        out.append(f'<details class="finding"><summary>Evidence for '
                   f"<b>{_e(inc.get('incident_id'))}</b>: {_e(inc.get('verdict'))}</summary>"
                   f"{_table(heads, irows)}</details>")
    out.append("</section>")
    return "".join(out)


def _decisions(decisions: list[dict[str, Any]]) -> str:
    out = ['<section id="decisions"><h2>Analyst decisions</h2>']
    if not decisions:
        out.append("<p>No decisions recorded in this case.</p></section>")
        return "".join(out)
    rows = []
    for d in decisions:
        notes = d.get("notes")
        rows.append([_td(d.get("decision_id"), True), _td(d.get("incident_id")),
                     f"<td><b>{_e(d.get('verdict'))}</b></td>",
                     _td(_num(d.get("confidence")), True), _td(d.get("analyst")),
                     _td(_ts(d.get("decided_at")) if isinstance(d.get("decided_at"), datetime)
                         else d.get("decided_at")),
                     _td(cap(str(d.get("rationale") or ""), TEXT_CAP)),
                     _td(", ".join(map(str, d.get("accepted") or []))),
                     _td(", ".join(map(str, d.get("rejected") or []))),
                     _td(cap(str(notes), TEXT_CAP) if notes else ""),
                     _td("current" if d.get("current") else "superseded")])
    out.append(_table(["#", "incident", "verdict", "confidence", "analyst", "decided at",
                       "rationale", "accepted items", "rejected items", "notes", "status"],
                      rows))
    out.append("</section>")
    return "".join(out)


def _manifest(manifest: list[dict[str, Any]], total: int) -> str:
    rows = [[_td(m["evidence_id"], True), f'<td class="mono">{_e(m["path"])}</td>',
             f'<td class="mono">{_e(m["sha256"])}</td>', _td(m["format"] or m["status"]),
             _td(m["size_bytes"], True), _td(m["rows_loaded"], True),
             _td(m["rows_rejected"], True), _td(_ts(m["loaded_at"]))] for m in manifest]
    more = f'<p class="note">{_e(total - len(manifest))} more files (the first {MAX_MANIFEST} ' \
        "are listed).</p>" if total > len(manifest) else ""
    table = _table(["id", "file", "sha256", "format", "bytes", "rows", "rejects", "loaded at"],
                   rows) if rows else "<p>No evidence loaded.</p>"
    return (f'<section id="manifest"><h2>Evidence manifest</h2><p class="muted">Every file '
            f"in the case, with the SHA-256 of its bytes as loaded.</p>{table}{more}</section>")


def _num(value: object) -> str:
    return f"{value:.2f}" if isinstance(value, float) else ("" if value is None else str(value))


def _refs(rows: object) -> str:
    if not rows:
        return ""
    refs = [f"{r.get('table')}#{r.get('evidence_id')}:{r.get('line_no')}"
            for r in list(rows)[:5] if isinstance(r, dict)]  # type: ignore[call-overload]
    extra = len(list(rows)) - len(refs)  # type: ignore[call-overload]
    return ", ".join(refs) + (f" (+{extra})" if extra > 0 else "")
