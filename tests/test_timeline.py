"""The timeline: findings in phases, the raw events behind them, the figure, the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

import forensics
from forensics import timeline
from forensics.cli import main
from forensics.errors import UsageError

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_logs" / "rome-mini"


@pytest.fixture
def rome_mini():
    case = forensics.open_case(":memory:")
    case.configure(SAMPLE / "case.toml")
    case.load(SAMPLE)
    yield case
    case.close()


def test_findings_are_phased_and_ordered(rome_mini):
    tl = timeline.build(rome_mini)
    table = tl.table()
    assert table.columns == timeline.TIMELINE_COLUMNS
    phases = set(table["phase"].to_list())
    assert {"recon", "tunnel", "mining"} <= phases
    starts = table["ts_start"].to_list()
    assert starts == sorted(starts)
    assert set(table["host"].to_list()) >= {"10.42.7.17"}


def test_raw_events_behind_a_finding_point_at_real_lines(rome_mini):
    tl = timeline.build(rome_mini)
    idx = tl.table()["query"].to_list().index("tunnel_ssh_outbound")
    events = tl.events_for(idx)
    assert events.height >= 1
    lines = (SAMPLE / "conn.log").read_text().splitlines()
    for row in events.filter(events["source"] == "zeek_conn").iter_rows(named=True):
        assert "198.51.100.23" in lines[row["line_no"] - 1]


def test_host_and_window_filters(rome_mini):
    assert set(timeline.build(rome_mini, host="10.42.0.5").table()["host"].to_list()) <= {
        "10.42.0.5"}
    late = timeline.build(rome_mini, since="2026-03-04T10:00:00Z").table()
    assert all(t >= datetime(2026, 3, 4, 8, tzinfo=UTC) for t in late["ts_start"].to_list())
    assert timeline.build(rome_mini, until="2000-01-01").table().height == 0


def test_parse_time():
    now = datetime(2026, 3, 5, tzinfo=UTC)
    assert timeline.parse_time("24h", now=now) == datetime(2026, 3, 4, tzinfo=UTC)
    assert timeline.parse_time("2026-03-04T08:00:00") == datetime(2026, 3, 4, 8, tzinfo=UTC)
    with pytest.raises(UsageError):
        timeline.parse_time("yesterday-ish")


def test_figure_has_a_lane_per_host_and_escapes_log_strings(rome_mini):
    tl = timeline.build(rome_mini)
    tl.findings = tl.findings.with_columns(
        summary=tl.findings["summary"] + "<script>alert(1)</script>")
    fig = tl.figure()
    names = {t.name for t in fig.data}
    assert {"recon", "tunnel", "mining"} <= names
    texts = [t for trace in fig.data for t in trace.text if t]
    assert texts and all("<script>" not in t for t in texts)
    assert any("&lt;script&gt;" in t for t in texts)


def test_cli_timeline_json(tmp_path, capsys):
    case = tmp_path / "c.duckdb"
    assert main(["load", str(SAMPLE), "--case", str(case), "--config",
                 str(SAMPLE / "case.toml")]) == 0
    capsys.readouterr()
    assert main(["timeline", "--case", str(case), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and set(rows[0]) == set(timeline.TIMELINE_COLUMNS)
    assert main(["timeline", "--case", str(case), "--since", "nonsense"]) == 2


def test_one_lane_per_host_and_the_figure_opens_on_the_alerts():
    rome = REPO / "sample_logs" / "rome"
    with forensics.open_case(":memory:") as case:
        case.configure(rome / "case.toml")
        case.load(rome)
        tl = timeline.build(case)
        lanes = tl.lanes()
        # GPU files name the host (sb-03), flows give its address: one lane for both
        assert "sb-03 (10.42.7.13)" in lanes and "sb-03" not in lanes
        assert set(tl.findings.filter(tl.findings["lane"] == "sb-03 (10.42.7.13)")["host"]
                   .to_list()) == {"sb-03", "10.42.7.13"}
        assert set(timeline.build(case, host="sb-03").findings["host"].to_list()) == {
            "sb-03", "10.42.7.13"}
        # a wallet's months-old history must not squeeze the incident into a sliver
        x0, x1 = tl.figure().layout.xaxis.range
        assert str(x0) >= "2026-03-03" and str(x1) <= "2026-03-07"
