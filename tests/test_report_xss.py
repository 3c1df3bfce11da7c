"""A report over hostile logs: nothing runs in the reader's browser, the payloads show as text.

The fixture (tests/report_fixtures.py) puts <script>, onerror=, onload= and javascript:
payloads in HTTP URIs and user agents, DNS names, agent commands and host names, so they
reach finding summaries, hover labels, axis labels and evidence lines.
"""

from __future__ import annotations

import polars as pl
import pytest

import forensics
from forensics import queries, report
from tests import report_fixtures as hostile
from tests.browser import visit
from tests.test_report import ARTIFACTS


@pytest.fixture
def hostile_case(tmp_path):
    logs = hostile.write(tmp_path / "hostile")
    case = forensics.open_case(tmp_path / "case.duckdb")
    case.configure(logs / "case.toml")
    loaded = case.load(logs, exclude=[logs / "case.toml"])
    assert loaded.ok and loaded.rejects == 0
    yield case
    case.close()


def test_detections_fire_on_the_hostile_logs(hostile_case):
    found = queries.run_all(hostile_case)
    assert {"mining_pool_network", "monetisation_wallets"} <= set(found["query"].to_list())
    # pool names are lower-cased by the detection
    assert any(hostile.SCRIPT.lower() in s for s in found["summary"].to_list())


def test_nothing_runs_and_the_payloads_show_as_text(hostile_case, tmp_path, monkeypatch):
    # a finding about a host whose name is itself a payload: it becomes a swimlane label
    real = queries.run_all

    def with_hostile_host(case, *a, **k):
        frame = real(case, *a, **k)
        return frame.with_columns(host=pl.when(pl.col("query") == "monetisation_wallets")
                                  .then(pl.lit(hostile.HOST)).otherwise(pl.col("host")))

    monkeypatch.setattr(queries, "run_all", with_hostile_host)
    out = report.export_html(hostile_case, tmp_path / "hostile.html").path
    doc = out.read_text(encoding="utf-8")
    assert hostile.SCRIPT not in doc and hostile.IMG not in doc and hostile.SVG not in doc

    seen = visit(out, ARTIFACTS / "report-hostile.png", hover=True)
    assert seen.pwned is None, f"a payload ran: window.__pwned = {seen.pwned}"
    assert "PWNED" not in seen.title
    assert seen.requests == [out.resolve().as_uri()]  # <img src=x> never loaded
    assert not seen.console_errors and not seen.page_errors
    assert seen.plot_drawn
    for payload in (hostile.SCRIPT, hostile.IMG, hostile.SVG, hostile.JS_URI, hostile.HOST):
        assert payload in seen.text, payload
