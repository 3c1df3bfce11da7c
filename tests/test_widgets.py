"""Widget logic without a browser: set values, observe state and the case."""

from __future__ import annotations

import polars as pl

import forensics
from forensics import attribution, widgets
from tests.attribution_fixtures import XSS, agent_case, intruder_case
from tests.query_fixtures import CONFIG, conn, write_zeek


def _all_html(widget) -> str:
    """Every HTML value in a widget tree."""
    import ipywidgets as w

    out = []
    stack = [widget]
    while stack:
        x = stack.pop()
        if isinstance(x, w.HTML):
            out.append(x.value)
        stack.extend(getattr(x, "children", ()))
    return "\n".join(out)


def test_loader_loads_with_progress_and_summary(tmp_path):
    write_zeek(tmp_path / "logs", "conn", [conn(i, "10.42.7.17", "10.42.0.5", 22)
                                          for i in range(5)])
    (tmp_path / "logs" / "bad.log").write_text("#path\tconn\nnot zeek at all\n")
    case = forensics.open_case(tmp_path / "c.duckdb")
    case.configure(CONFIG)
    loader = widgets.case_loader(case, start=tmp_path)
    assert any(label.startswith("logs") for label, _ in loader.browser.options)
    loader.browser.value = str(tmp_path / "logs")
    assert loader.path.value == str(tmp_path / "logs")
    report = loader.load_button.click() or loader.report
    assert report is not None and loader.progress.value == loader.progress.max >= 2
    assert "rows loaded" in loader.summary.value and "conn" in loader.summary.value
    assert widgets.case_loader(case) is loader  # re-running the cell keeps it
    case.close()


def test_explorer_filters_and_shows_events(tmp_path):
    with agent_case(tmp_path) as case:
        ex = widgets.timeline_explorer(case)
        assert "10.42.7.17" in ex.hosts.options and ex.figure.data
        ex.phases.value = ("tunnel",)
        assert set(ex.selected()["phase"].to_list()) == {"tunnel"}
        ex.finding.value = ex.finding.options[0][1]
        assert "conn" in ex.events.value and "line" in ex.events.value
        lo, hi = ex.range.options[-1][1], ex.range.options[-1][1]
        ex.range.value = (lo, hi)
        assert ex.selected().height <= ex.all.height
        again = widgets.timeline_explorer(case)
        assert again is ex and again.phases.value == ("tunnel",)


def test_wizard_steps_accepts_rejects_and_records(tmp_path):
    with intruder_case(tmp_path, str(tmp_path / "i.duckdb")) as case:
        wiz = widgets.attribution_wizard(case, analyst="ana")
        inc = attribution.incidents(case).filter(pl.col("host") == "10.42.7.17")
        wiz.incident.value = inc["incident_id"][0]
        assert wiz.verdict.value == "intruder" and "intruder" in wiz.verdict_html.value
        n = wiz.items.height
        assert n >= 2 and wiz.prev_button.disabled
        # step through every item; the rows behind each are shown
        for step in range(n):
            assert f"item {step + 1} of {n}" in wiz.position.value
            assert "The rows behind it" in wiz.rows_html.value
            if step < n - 1:
                wiz.next_button.click()
        assert wiz.next_button.disabled
        # reject every intruder item: the verdict updates live
        wiz.go(0)
        for step in range(n):
            wiz.go(step)
            wiz.choice.value = "reject"
            wiz.note.value = f"note {step}"
        assert wiz.verdict.value == "inconclusive"
        assert "inconclusive" in wiz.verdict_html.value
        wiz.go(0)
        wiz.choice.value = "accept"
        wiz.rationale.value = "brute force from a new source"
        wiz.verdict.value = "intruder"
        decision = wiz.record()
        assert decision == 1 and "Recorded decision 1" in wiz.status.value
        d = attribution.decisions(case).row(0, named=True)
        assert d["verdict"] == "intruder" and d["analyst"] == "ana"
        assert len(d["accepted"]) == 1 and len(d["rejected"]) == n - 1
        # re-running the cell gives back the same wizard with the choices kept
        again = widgets.attribution_wizard(case)
        assert again is wiz and again.accepted[inc["incident_id"][0]]
        wiz.record()
        assert attribution.decisions(case, current_only=False)["superseded_by"][0] == 2


def test_wizard_without_analyst_does_not_record(tmp_path):
    with agent_case(tmp_path) as case:
        wiz = widgets.attribution_wizard(case)
        assert wiz.record() is None and "analyst" in wiz.status.value
        assert attribution.decisions(case).height == 0


def test_log_html_is_shown_as_text_everywhere(tmp_path):
    with agent_case(tmp_path, payload=XSS) as case:
        case.sql("UPDATE agent_actions SET output_excerpt = ?", [XSS])
        wiz = widgets.attribution_wizard(case, analyst=XSS)
        wiz.rationale.value = XSS
        tunnel = wiz.items.filter(pl.col("name") == "agent_command_tunnel")
        wiz.go(wiz.items["item_id"].to_list().index(tunnel["item_id"][0]))
        wiz.record()
        ex = widgets.timeline_explorer(case)
        ex.finding.value = ex.finding.options[0][1]
        # a finding summary with a payload (the explorer's hover text and events)
        ex.all = ex.all.with_columns(pl.lit(XSS).alias("summary"))
        ex.refresh()
        ex.show_events()
        html_text = _all_html(wiz.widget) + _all_html(ex.widget)
        assert "&lt;script&gt;" in html_text and "onerror" in html_text
        assert "<script>" not in html_text and "<img" not in html_text
        for trace in ex.figure.data:
            for text in trace.text or []:
                assert text is None or ("<script>" not in text and "<img" not in text)
