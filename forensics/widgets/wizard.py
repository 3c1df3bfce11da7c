"""The attribution wizard: one incident at a time, one evidence item at a time (the agent
hypothesis first, then the intruder's), accept or reject each with a note, the verdict
recomputed live, and the analyst's decision written to the case."""

from __future__ import annotations

from typing import Any

import ipywidgets as w
import polars as pl

from forensics import attribution
from forensics.widgets.htmlutil import esc, table
from forensics.widgets.registry import get_or_create

_COLOURS = {"agent": "#1f77b4", "intruder": "#d62728", "mixed": "#9467bd",
            "inconclusive": "#7f7f7f"}


class AttributionWizard:
    def __init__(self, case: Any, analyst: str = "") -> None:
        self.case = case
        self.accepted: dict[str, dict[str, bool]] = {}
        self.notes: dict[str, dict[str, str]] = {}
        self.step = 0
        self.incident = w.Dropdown(description="Incident", layout=w.Layout(width="95%"))
        self.header = w.HTML()
        self.item_html = w.HTML()
        self.choice = w.ToggleButtons(options=["accept", "reject"], value="accept",
                                      description="This item")
        self.note = w.Text(description="Note", placeholder="why (kept with the decision)",
                           layout=w.Layout(width="95%"))
        self.rows_html = w.HTML()
        self.prev_button = w.Button(description="◀ Previous")
        self.next_button = w.Button(description="Next ▶")
        self.position = w.HTML()
        self.verdict_html = w.HTML()
        self.verdict = w.Dropdown(options=list(attribution.VERDICTS), description="Verdict")
        self.analyst = w.Text(value=analyst, description="Analyst")
        self.rationale = w.Textarea(description="Rationale", layout=w.Layout(width="95%"))
        self.record_button = w.Button(description="Record decision", button_style="success")
        self.status = w.HTML()
        self.history = w.HTML()
        self.incident.observe(lambda _c: self._open_incident(), names="value")
        self.choice.observe(self._on_choice, names="value")
        self.note.observe(self._on_note, names="value")
        self.prev_button.on_click(lambda _b: self.go(self.step - 1))
        self.next_button.on_click(lambda _b: self.go(self.step + 1))
        self.record_button.on_click(lambda _b: self.record())
        self.widget = w.VBox([
            self.incident, self.header,
            w.HBox([self.prev_button, self.position, self.next_button]),
            self.item_html, self.choice, self.note, self.rows_html,
            w.HTML("<hr>"), self.verdict_html,
            self.verdict, self.analyst, self.rationale, self.record_button, self.status,
            self.history])
        self.refresh_data()

    # -- data --------------------------------------------------------------------------

    def rebind(self, case: Any) -> None:
        self.case = case
        self.refresh_data()

    def refresh_data(self) -> None:
        """Re-read incidents and evidence from the case; keeps choices and notes."""
        self.incidents = attribution.incidents(self.case)
        self.items_all = attribution.evidence(self.case)
        options = [(f"{r['host_name'] or r['host']} ({r['host']}) "
                    f"{r['ts_start']:%Y-%m-%d %H:%M} · scored {r['verdict']} "
                    f"{r['confidence']:.2f}", r["incident_id"])
                   for r in self.incidents.iter_rows(named=True)]
        current = self.incident.value
        self.incident.options = options
        values = [v for _, v in options]
        target = current if current in values else (values[0] if values else None)
        if self.incident.value != target:
            self.incident.value = target  # opens it (observer)
        else:
            self._open_incident()

    @property
    def items(self) -> pl.DataFrame:
        """The current incident's items: the agent hypothesis first, then the intruder's."""
        if self.incident.value is None or self.items_all.height == 0:
            return self.items_all.clear()
        mine = self.items_all.filter(pl.col("incident_id") == self.incident.value)
        return mine.sort(["direction", "weight", "item_id"], descending=[False, True, False])

    def current_score(self) -> dict[str, Any]:
        return attribution.score(self.items, self.accepted.get(self.incident.value or "", {}))

    # -- navigation ----------------------------------------------------------------------

    def _open_incident(self) -> None:
        inc_id = self.incident.value
        self.step = 0
        if inc_id is None:
            self.header.value = "<p>No incident to attribute in this case.</p>"
            self._show_item()
            return
        r = self.incidents.filter(pl.col("incident_id") == inc_id).row(0, named=True)
        self.header.value = (
            f"<p><b>{esc(r['host_name'] or r['host'])}</b> ({esc(r['host'])}), "
            f"{r['ts_start']:%Y-%m-%d %H:%M} to {r['ts_end']:%Y-%m-%d %H:%M} UTC · "
            f"phases: {esc(', '.join(r['phases']))} · {r['findings']} finding(s)</p>")
        self.verdict.value = self.current_score()["verdict"]
        self._show_item()
        self._show_history()

    def go(self, step: int) -> None:
        self.step = max(0, min(step, max(self.items.height - 1, 0)))
        self._show_item()

    def _show_item(self) -> None:
        items = self.items
        n = items.height
        self.prev_button.disabled = self.step <= 0
        self.next_button.disabled = self.step >= n - 1
        if n == 0:
            self.position.value = "<p>&nbsp;no evidence items&nbsp;</p>"
            self.item_html.value = ("<p>No evidence either way for this incident: the "
                                    "verdict stays inconclusive unless you decide otherwise."
                                    "</p>")
            self.rows_html.value = ""
            self._show_verdict()
            return
        item = items.row(self.step, named=True)
        inc = self.incident.value or ""
        self.position.value = (f"<p>&nbsp;{esc(item['direction'])} hypothesis · item "
                               f"{self.step + 1} of {n}&nbsp;</p>")
        self.item_html.value = (
            f"<p><b style='color:{_COLOURS[item['direction']]}'>{esc(item['direction'])}"
            f"</b> · <b>{esc(item['name'])}</b> · weight {item['weight']:.2f} · "
            f"<code>{esc(item['query'])}</code></p><p>{esc(item['explanation'])}</p>")
        with self.choice.hold_trait_notifications(), self.note.hold_trait_notifications():
            self._syncing = True
            self.choice.value = "reject" if self.accepted.get(inc, {}).get(
                item["item_id"]) is False else "accept"
            self.note.value = self.notes.get(inc, {}).get(item["item_id"], "")
            self._syncing = False
        self.rows_html.value = self._rows_table(item["rows"])
        self._show_verdict()

    def _rows_table(self, rows: list[dict[str, Any]] | None) -> str:
        if not rows:
            return ""
        keys = [f"{r['table']}:{r['evidence_id']}:{r['line_no']}" for r in rows]
        events = self.case.sql(
            "SELECT e.ts, e.source, e.summary, ev.path, e.line_no FROM events e "
            "JOIN evidence ev USING (evidence_id) WHERE list_contains(?::VARCHAR[], "
            "e.source || ':' || e.evidence_id || ':' || e.line_no) "
            "ORDER BY e.ts NULLS LAST, e.evidence_id, e.line_no", [keys])
        return "<p>The rows behind it:</p>" + table(
            ["time", "source", "event", "file", "line"],
            [tuple(r) for r in events.iter_rows()])

    # -- choices -------------------------------------------------------------------------

    def _current_item_id(self) -> str | None:
        items = self.items
        return items["item_id"][self.step] if items.height else None

    def _on_choice(self, change: dict[str, Any]) -> None:
        if getattr(self, "_syncing", False):
            return
        item_id = self._current_item_id()
        if item_id is None:
            return
        self.accepted.setdefault(self.incident.value or "", {})[item_id] = \
            change["new"] == "accept"
        self.verdict.value = self.current_score()["verdict"]
        self._show_verdict()

    def _on_note(self, change: dict[str, Any]) -> None:
        if getattr(self, "_syncing", False):
            return
        item_id = self._current_item_id()
        if item_id is not None:
            self.notes.setdefault(self.incident.value or "", {})[item_id] = change["new"]

    def accept(self, item_id: str, accepted: bool = True, note: str | None = None) -> None:
        """Accept or reject an item by id (what the toggle does, for scripts and tests)."""
        inc = self.incident.value or ""
        self.accepted.setdefault(inc, {})[item_id] = accepted
        if note is not None:
            self.notes.setdefault(inc, {})[item_id] = note
        self.verdict.value = self.current_score()["verdict"]
        self._show_item()

    def _show_verdict(self) -> None:
        s = self.current_score()
        self.verdict_html.value = (
            f"<p>Verdict from the items you accept: <b style='color:{_COLOURS[s['verdict']]}'>"
            f"{esc(s['verdict'])}</b>, confidence {s['confidence']:.2f} (agent "
            f"{s['agent_score']:.2f}, intruder {s['intruder_score']:.2f}, decides at "
            f"{attribution.DECIDE_AT:.2f}); deciding: {esc(', '.join(s['deciding']) or '-')}"
            "</p>")

    # -- decision ------------------------------------------------------------------------

    def record(self) -> int | None:
        """Write the decision (verdict, accepted/rejected items, notes) to the case."""
        inc = self.incident.value
        if inc is None:
            self.status.value = "<p style='color:#b00'>no incident selected</p>"
            return None
        if not self.analyst.value.strip():
            self.status.value = "<p style='color:#b00'>enter the analyst's name first</p>"
            return None
        s = self.current_score()
        ids = self.items["item_id"].to_list()
        choices = self.accepted.get(inc, {})
        accepted = [i for i in ids if choices.get(i, True)]
        rejected = [i for i in ids if choices.get(i, True) is False]
        confidence = s["confidence"] if self.verdict.value == s["verdict"] else 0.0
        try:
            decision_id = attribution.record_decision(
                self.case, inc, verdict=self.verdict.value, confidence=confidence,
                analyst=self.analyst.value, rationale=self.rationale.value,
                accepted=accepted, rejected=rejected,
                notes={k: v for k, v in self.notes.get(inc, {}).items() if v},
                agent_score=s["agent_score"], intruder_score=s["intruder_score"])
        except Exception as exc:
            self.status.value = f"<p style='color:#b00'>not recorded: {esc(exc)}</p>"
            return None
        self.status.value = (f"<p>Recorded decision {decision_id}: {esc(self.verdict.value)}"
                             f" for {esc(inc)}.</p>")
        self._show_history()
        return decision_id

    def _show_history(self) -> None:
        inc = self.incident.value
        if inc is None:
            self.history.value = ""
            return
        d = attribution.decisions(self.case, inc, current_only=False)
        if d.height == 0:
            self.history.value = "<p>No decision recorded yet for this incident.</p>"
            return
        self.history.value = "<p>Decisions so far:</p>" + table(
            ["id", "verdict", "confidence", "analyst", "when", "rationale", "superseded by"],
            [(r["decision_id"], r["verdict"], r["confidence"], r["analyst"], r["decided_at"],
              r["rationale"], r["superseded_by"]) for r in d.iter_rows(named=True)])

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def attribution_wizard(case: Any, analyst: str = "") -> AttributionWizard:
    """The wizard for `case` (the same one, choices and notes kept, when re-run)."""
    wiz = get_or_create(case, "wizard", lambda: AttributionWizard(case, analyst))
    if analyst and not wiz.analyst.value:
        wiz.analyst.value = analyst
    return wiz
