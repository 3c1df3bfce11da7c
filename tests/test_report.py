"""Standalone HTML reports: content, escaping, evidence lines, attribution, atomic writes."""

from __future__ import annotations

import html
import os
import re
import shutil
import sys
import types
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

import forensics
from forensics import report
from forensics.report import atomic, gather, render
from forensics.report.schedule import output_path
from tests.browser import visit

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_logs" / "rome-mini"
ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture
def rome_mini(tmp_path):
    """rome-mini loaded from a copy, so tests may move or change the evidence files."""
    logs = tmp_path / "logs"
    shutil.copytree(SAMPLE, logs)
    case = forensics.open_case(tmp_path / "case.duckdb")
    case.configure(logs / "case.toml")
    case.load(logs, exclude=[logs / "case.toml"])
    yield case, logs
    case.close()


def _text(doc: str) -> str:
    """Visible text of the HTML body, roughly (tags dropped, entities decoded)."""
    body = doc.split("<body>", 1)[1].split("<script>", 1)[0]
    return html.unescape(re.sub(r"<[^>]+>", " ", body))


def test_report_holds_timeline_findings_manifest_and_provenance(rome_mini, tmp_path):
    case, logs = rome_mini
    now = datetime(2026, 3, 5, 6, 15, tzinfo=UTC)
    result = report.export_html(case, tmp_path / "r.html", now=now)
    doc = result.path.read_text(encoding="utf-8")
    text = _text(doc)
    assert result.findings >= 3 and result.size_bytes == len(doc.encode())
    # provenance: when, by which version, from which case
    assert "2026-03-05 06:15:00 UTC" in text and forensics.__version__ in text
    assert str(Path(case.path).resolve()) in text
    # every phase found, and the figure's data
    for phase in ("recon", "tunnel", "mining"):
        assert phase in text
    assert 'id="timeline-data"' in doc and '"type":"scatter"' in doc
    # the manifest: every file with its sha256, rows and rejects
    for row in case.evidence().iter_rows(named=True):
        assert row["sha256"] in doc and Path(row["path"]).name in text
    # a cited line verbatim from conn.log
    conn = (logs / "conn.log").read_text().splitlines()
    tunnel = [ln for ln in conn if "198.51.100.23" in ln][0]
    assert html.escape(tunnel.split("\t")[1]) in doc and tunnel.replace("\t", " ")[:40] in \
        text.replace("\t", " ")


def test_report_is_self_contained_with_a_strict_policy(rome_mini, tmp_path):
    case, _ = rome_mini
    doc = report.export_html(case, tmp_path / "r.html").path.read_text(encoding="utf-8")
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', doc)
    assert policy
    csp = html.unescape(policy.group(1))
    assert "default-src 'none'" in csp and "connect-src 'none'" in csp
    assert "unsafe-inline" not in csp.split("script-src", 1)[1].split(";", 1)[0]
    assert "unsafe-eval" not in csp
    assert len(re.findall(r"'sha256-[A-Za-z0-9+/=]+'", csp)) == 2
    # no element loads anything: no src/href to a URL, no link rel, no @import, no font-face
    assert not re.search(r"<(script|img|link|iframe)[^>]+(src|href)=", doc)
    assert "@import" not in doc.split("<script>")[0] and "@font-face" not in doc


def test_evidence_line_falls_back_to_summary_when_the_file_moved_or_changed(rome_mini,
                                                                           tmp_path):
    case, logs = rome_mini
    first = gather.gather(case)
    lines = [ln for f in first.findings for ln in f.lines]
    assert lines and all(ln.raw for ln in lines if ln.table == "zeek_conn")
    # changed bytes (same size): the sha256 no longer matches, so the line is not trusted
    conn = logs / "conn.log"
    data = bytearray(conn.read_bytes())
    data[-2] = ord("X") if data[-2] != ord("X") else ord("Y")
    conn.write_bytes(bytes(data))
    changed = gather.gather(case)
    assert all(not ln.raw for f in changed.findings for ln in f.lines
               if ln.table == "zeek_conn")
    conn.unlink()
    moved = gather.gather(case)
    fallback = [ln for f in moved.findings for ln in f.lines if ln.table == "zeek_conn"]
    assert fallback and all(not ln.raw and ln.text.startswith("conn ") for ln in fallback)
    doc = render.render(moved, plotly_js="/* plotly */")
    assert 'class="line from-summary"' in doc


def test_lines_are_capped(tmp_path):
    from forensics.report.lines import LINE_CAP, EvidenceFile, read_lines

    big = tmp_path / "big.log"
    big.write_text("a" * 5000 + "\nshort\n")
    import hashlib

    ev = EvidenceFile(1, str(big), hashlib.sha256(big.read_bytes()).hexdigest(),
                      big.stat().st_size)
    got = read_lines(ev, [1, 2])
    assert got[2] == "short"
    assert got[1].startswith("a" * LINE_CAP) and "4500 more characters" in got[1]
    doc_ev = EvidenceFile(1, str(big), ev.sha256, ev.size_bytes,
                          ("line_no is the 1-based index of the step in 'trajectory'",))
    assert read_lines(doc_ev, [1]) == {}


def test_filters_hosts_and_window(rome_mini, tmp_path):
    case, _ = rome_mini
    data = gather.gather(case, hosts=["10.42.7.17"])
    assert data.findings and {f.host for f in data.findings} == {"10.42.7.17"}
    assert gather.gather(case, until="2000-01-01").findings == []
    two = gather.gather(case, hosts=["10.42.7.17", "10.42.0.5"])
    assert {f.host for f in two.findings} <= {"10.42.7.17", "10.42.0.5"}


def test_every_case_string_is_escaped():
    payload = "<script>window.__pwned=1</script>\"'><img src=x onerror=alert(1)>"
    finding = gather.Finding(
        host=payload, phase="mining", technique=payload, ts_start=None, ts_end=None,
        score=0.5, severity=payload, summary=payload, query=payload, signals=[payload],
        evidence_count=1, lines=[gather.EvidenceLine(payload, 1, 2, payload, None, payload,
                                                     True)])
    data = gather.ReportData(
        generated_at=datetime(2026, 3, 5, tzinfo=UTC), version="0", case_path=payload,
        case_name=payload, since=None, until=None, hosts=[payload], findings=[finding],
        findings_total=1, phases={payload: 1},
        figure_json='{"data": [{"text": "' + payload.replace('"', '\\"') + '"}]}',
        attribution=gather.Attribution("ok", incidents=[{
            "incident_id": payload, "host": payload, "verdict": payload, "deciding": [payload],
            "phases": [payload]}], items={payload: [{"item_id": payload, "name": payload,
                                                     "explanation": payload,
                                                     "rows": [{"table": payload}]}]}),
        decisions=[{"decision_id": 1, "incident_id": payload, "verdict": payload,
                    "analyst": payload, "rationale": payload, "notes": payload,
                    "accepted": [payload], "current": True}],
        manifest=[{"evidence_id": 1, "path": payload, "sha256": payload, "format": payload,
                   "status": "loaded", "size_bytes": 1, "rows_loaded": 1, "rows_rejected": 0,
                   "loaded_at": None}], manifest_total=1, notes=[payload])
    doc = render.render(data, plotly_js="/* plotly */")
    assert "<script>window" not in doc and "<img" not in doc
    assert doc.count("<script") == 3  # the data block, plotly.js, the boot script
    assert "\\u003cscript\\u003e" in doc  # inside the JSON data block
    assert html.escape(payload) in doc


def test_attribution_section_from_the_contract(rome_mini, tmp_path, monkeypatch):
    """A stand-in for forensics.attribution (issue 7), shaped like its contract."""
    case, _ = rome_mini
    fake = types.ModuleType("forensics.attribution")
    t0 = datetime(2026, 3, 4, 8, tzinfo=UTC)
    fake.incidents = lambda c: pl.DataFrame({  # type: ignore[attr-defined]
        "incident_id": ["10.42.7.17@2026-03-04T08:00:00Z", "10.9.9.9@2026-03-04T08:00:00Z"],
        "host": ["10.42.7.17", "10.9.9.9"], "ts_start": [t0, t0], "ts_end": [t0, t0],
        "verdict": ["agent", "intruder"], "confidence": [0.83, 0.4],
        "agent_score": [2.5, 0.0], "intruder_score": [0.5, 0.4],
        "deciding": [["agent_log_matches_flow", "no_inbound_access"], ["x"]],
        "phases": [["recon", "tunnel"], ["access"]]})
    fake.evidence = lambda c, incident_id=None: pl.DataFrame({  # type: ignore[attr-defined]
        "incident_id": ["10.42.7.17@2026-03-04T08:00:00Z"], "item_id": ["i1"],
        "name": ["agent_log_matches_flow"], "direction": ["agent"], "weight": [1.5],
        "explanation": ["sb-07 ran `ssh -R 2222:localhost:22 <b>x</b>` (agent log line 88)"],
        "query": ["tunnel_ssh_outbound"],
        "rows": [[{"table": "zeek_conn", "evidence_id": 1, "line_no": 88}]]})
    monkeypatch.setitem(sys.modules, "forensics.attribution", fake)
    monkeypatch.setattr(forensics, "attribution", fake, raising=False)
    case.con.execute(
        "INSERT INTO attribution_decisions (decision_id, incident_id, verdict, confidence, "
        "analyst, decided_at, rationale, accepted, rejected, notes) VALUES "
        "(1, '10.42.7.17@2026-03-04T08:00:00Z', 'intruder', 0.5, 'ana', "
        "'2026-03-04 10:00:00+00', 'first look', ['i1'], [], NULL), "
        "(2, '10.42.7.17@2026-03-04T08:00:00Z', 'agent', 0.9, 'ana', "
        "'2026-03-04 12:00:00+00', 'agent log lines match the <flows>', ['i1'], [], "
        "'{\"i1\": \"checked\"}')")
    doc = report.export_html(case, tmp_path / "r.html").path.read_text(encoding="utf-8")
    text = _text(doc)
    assert "10.42.7.17@2026-03-04T08:00:00Z" in text and "agent_log_matches_flow" in text
    assert "0.83" in text and "intruder" in text
    assert "ssh -R 2222:localhost:22 <b>x</b>" in text  # shown as text, not markup
    assert "agent log lines match the <flows>" in text and "superseded" in text
    assert "current" in text
    # limited to the hosts asked for: the other incident is not in the report
    doc = report.export_html(case, tmp_path / "h.html", hosts=["10.42.7.17"]) \
        .path.read_text(encoding="utf-8")
    assert "10.9.9.9@" not in doc


def test_attribution_absent_or_failing_does_not_stop_the_report(rome_mini, tmp_path,
                                                                monkeypatch):
    case, _ = rome_mini
    monkeypatch.setitem(sys.modules, "forensics.attribution", None)  # import fails
    monkeypatch.delattr(forensics, "attribution", raising=False)  # even if imported before
    doc = report.export_html(case, tmp_path / "a.html").path.read_text(encoding="utf-8")
    assert "attribution is not part of this forensics version" in doc
    broken = types.ModuleType("forensics.attribution")

    def boom(case):
        raise RuntimeError("no weights <configured>")

    broken.incidents = boom  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "forensics.attribution", broken)
    monkeypatch.setattr(forensics, "attribution", broken, raising=False)
    result = report.export_html(case, tmp_path / "b.html")
    assert "no weights &lt;configured&gt;" in result.path.read_text(encoding="utf-8")
    assert any("attribution failed" in n for n in result.notes)


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    target = tmp_path / "out" / "r.html"
    atomic.write_atomic(target, "old")
    assert target.read_text() == "old"

    def fail(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "replace", fail)
    with pytest.raises(atomic.ReportWriteError) as err:
        atomic.write_atomic(target, "new")
    assert err.value.exit_code == 7 and "No space left" in err.value.message
    assert target.read_text() == "old"
    assert sorted(p.name for p in target.parent.iterdir()) == ["r.html"]  # no temp left


def test_output_path_names_files_by_utc_date_and_time():
    now = datetime(2026, 3, 4, 23, 30, 5, tzinfo=UTC)
    assert output_path("reports/timeline-{date}.html", now) == "reports/timeline-2026-03-04.html"
    assert output_path("r-{date}-{time}-{other}.html", now) == "r-2026-03-04-233005-{other}.html"


def test_report_opens_in_chromium_with_no_requests_and_no_errors(rome_mini, tmp_path):
    case, _ = rome_mini
    out = report.export_html(case, tmp_path / "rome-mini.html").path
    seen = visit(out, ARTIFACTS / "report-rome-mini.png", hover=True)
    assert seen.requests == [out.resolve().as_uri()]
    assert not seen.console_errors and not seen.page_errors
    assert seen.plot_drawn
    assert "Incident timeline" in seen.title and "tunnel" in seen.text


def test_case_path_in_memory_and_umask_permissions(tmp_path):
    case = forensics.open_case(":memory:")
    out = report.export_html(case, tmp_path / "empty.html").path
    doc = out.read_text(encoding="utf-8")
    assert "No findings" in doc and ":memory:" in doc
    mask = os.umask(0)
    os.umask(mask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~mask


def test_gzip_evidence_and_paths_relative_to_the_case(tmp_path, monkeypatch):
    """Lines come out of .gz files too, and a relative evidence path is found beside the
    case when the report runs from another folder (cron's working directory is $HOME)."""
    import gzip

    work = tmp_path / "work"
    (work / "logs").mkdir(parents=True)
    with gzip.open(work / "logs" / "conn.log.gz", "wb") as fh:
        fh.write((SAMPLE / "conn.log").read_bytes())
    monkeypatch.chdir(work)
    with forensics.open_case("case.duckdb") as case:
        case.configure(SAMPLE / "case.toml")
        case.load("logs/conn.log.gz")
    monkeypatch.chdir(tmp_path)
    with forensics.open_case(work / "case.duckdb", read_only=True) as case:
        data = gather.gather(case)
    lines = [ln for f in data.findings for ln in f.lines]
    assert lines and all(ln.raw for ln in lines)
    conn = (SAMPLE / "conn.log").read_text().splitlines()
    assert all(ln.text == conn[ln.line_no - 1] for ln in lines)
