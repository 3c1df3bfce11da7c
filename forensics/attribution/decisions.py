"""The analyst's decisions, kept in the case: append-only, so the file shows every
decision and when it was superseded, never a silently edited answer."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import polars as pl

from forensics.attribution.scoring import VERDICTS
from forensics.errors import UsageError

if TYPE_CHECKING:
    from forensics.case import Case

COLUMNS = ["decision_id", "incident_id", "verdict", "confidence", "analyst", "decided_at",
           "rationale", "accepted", "rejected", "notes", "superseded_by"]


def record_decision(case: Case, incident_id: str, *, verdict: str, confidence: float,
                    analyst: str, rationale: str, accepted: list[str], rejected: list[str],
                    notes: dict[str, str] | None = None, agent_score: float | None = None,
                    intruder_score: float | None = None) -> int:
    """Append one decision and return its id; earlier ones for the incident are superseded."""
    if verdict not in VERDICTS:
        raise UsageError(f"verdict {verdict!r} is not one of {VERDICTS}")
    if not 0.0 <= float(confidence) <= 1.0:
        raise UsageError(f"confidence {confidence!r} must be between 0 and 1")
    if not analyst or not analyst.strip():
        raise UsageError("a decision needs the analyst's name")
    case._writable()
    con = case.con
    con.execute("BEGIN TRANSACTION")
    try:
        (next_id,) = con.execute("SELECT coalesce(max(decision_id), 0) + 1 "
                                 "FROM attribution_decisions").fetchall()[0]
        con.execute(
            "INSERT INTO attribution_decisions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [next_id, incident_id, verdict, float(confidence), analyst.strip(),
             datetime.now(UTC), rationale, list(accepted), list(rejected),
             json.dumps(notes or {}, ensure_ascii=False), agent_score, intruder_score])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return int(next_id)


def decisions(case: Case, incident_id: str | None = None,
              current_only: bool = True) -> pl.DataFrame:
    """Decisions (the current one per incident, or all), with superseded_by computed."""
    present = case.con.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_name = 'attribution_decisions'").fetchall()[0][0]
    if not present:  # an older case opened read-only
        return pl.DataFrame(schema={c: pl.String for c in COLUMNS})
    return case.sql(
        "WITH d AS (SELECT *, lead(decision_id) OVER (PARTITION BY incident_id "
        "ORDER BY decision_id) AS superseded_by FROM attribution_decisions) "
        f"SELECT {', '.join(COLUMNS)} FROM d "
        "WHERE (?::VARCHAR IS NULL OR incident_id = ?) "
        "AND (NOT ? OR superseded_by IS NULL) ORDER BY decision_id",
        [incident_id, incident_id, current_only])
