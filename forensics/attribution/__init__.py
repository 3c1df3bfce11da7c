"""Attribution: was it our agent or an external intruder? Evidence, verdicts, decisions.

    from forensics import attribution
    attribution.incidents(case)              # one row per incident: verdict, confidence, ...
    attribution.evidence(case, incident_id)  # the items behind it, each citing rows
    attribution.score(items, accepted={"external_login:203.0.113.66": False})
    attribution.record_decision(case, incident_id, verdict="agent", confidence=0.9,
                                analyst="ana", rationale="...", accepted=[...], rejected=[])
    attribution.decisions(case)              # the current decision per incident

How it works, in three transparent steps:

1. **Incidents** (`incidents.py`): every detection's findings about internal hosts, grouped
   per host into windows (a new window after `gap_hours` without findings).
2. **Evidence items** (`items.py`): the attribution questions (`queries/attr_*.sql`) find
   facts: agent commands that set up the tunnel or the miner and that the network
   confirms, logins from outside (brute force first, sources never seen), the pacing of
   commands, training-run spans and behaviour that recurs across runs, GPU processes
   launched by agent commands, billing accounts named (or not) by a command. Each fact
   that bears on an incident becomes an item with a direction (agent or intruder), a fixed
   weight, an explanation citing file and line, the query that found it and its rows.
3. **The verdict** (`scoring.py`), a documented sum:

       A, I = sums of the weights of the counted agent / intruder items
       T = 0.5
       verdict    = agent if A >= T > I; intruder if I >= T > A; mixed if both >= T;
                    inconclusive if neither
       confidence = min(1, W) * W / (A + I) for agent or intruder (W the winner's sum),
                    min(1, A, I) for mixed, 0 for inconclusive
       deciding   = the winning side's item names, heaviest first

   The weights are in `scoring.WEIGHTS` and docs/attribution.md. An item the analyst
   rejects does not count; `score` recomputes the verdict live.

Decisions go to the case table `attribution_decisions`, append-only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from forensics.attribution.decisions import decisions, record_decision
from forensics.attribution.incidents import DEFAULT_GAP_HOURS, Incident, group
from forensics.attribution.items import ITEM_SCHEMA, Builder
from forensics.attribution.scoring import DECIDE_AT, VERDICTS, WEIGHTS, score

if TYPE_CHECKING:
    from forensics.case import Case

__all__ = ["DECIDE_AT", "INCIDENT_SCHEMA", "QUESTIONS", "VERDICTS", "WEIGHTS", "analyse",
           "decisions", "evidence", "incidents", "record_decision", "score"]

QUESTIONS = ("attr_agent_commands", "attr_inbound_access", "attr_command_pacing",
             "attr_agent_runs", "attr_gpu_process_commands", "attr_billing_accounts")
INCIDENT_SCHEMA = {"incident_id": pl.String, "host": pl.String, "host_name": pl.String,
                   "ts_start": pl.Datetime("us", "UTC"), "ts_end": pl.Datetime("us", "UTC"),
                   "verdict": pl.String, "confidence": pl.Float64, "agent_score": pl.Float64,
                   "intruder_score": pl.Float64, "deciding": pl.List(pl.String),
                   "phases": pl.List(pl.String), "findings": pl.Int64}


def analyse(case: Case, gap_hours: float = DEFAULT_GAP_HOURS
            ) -> tuple[list[Incident], pl.DataFrame]:
    """(incidents, evidence items): runs the detections and the questions once per case
    state (cached on the case until a table's row count or the context changes)."""
    from forensics import queries

    key = (gap_hours, tuple(case.tables().items()))
    cache = getattr(case, "_attribution_cache", None)
    if cache and cache[0] == key:
        return cache[1], cache[2]
    findings = queries.run_all(case)
    incs = group(case, findings, gap_hours)
    answers = {q: queries.run(case, q) for q in QUESTIONS} if incs else {}
    items = Builder(case, incs, answers).build()
    case._attribution_cache = (key, incs, items)  # type: ignore[attr-defined]
    return incs, items


def incidents(case: Case, gap_hours: float = DEFAULT_GAP_HOURS) -> pl.DataFrame:
    """One row per incident (host and window) with its scored verdict."""
    incs, items = analyse(case, gap_hours)
    rows = []
    for inc in incs:
        verdict = score(items.filter(pl.col("incident_id") == inc.incident_id))
        rows.append({"incident_id": inc.incident_id, "host": inc.host,
                     "host_name": inc.host_name, "ts_start": inc.ts_start,
                     "ts_end": inc.ts_end, **verdict, "phases": inc.phases,
                     "findings": len(inc.findings)})
    return pl.DataFrame(rows, schema=INCIDENT_SCHEMA) if rows else \
        pl.DataFrame(schema=INCIDENT_SCHEMA)


def evidence(case: Case, incident_id: str | None = None,
             gap_hours: float = DEFAULT_GAP_HOURS) -> pl.DataFrame:
    """The evidence items of every incident, or of one, heaviest first per incident."""
    _incs, items = analyse(case, gap_hours)
    if incident_id is not None:
        items = items.filter(pl.col("incident_id") == incident_id)
    if items.height == 0:
        return pl.DataFrame(schema=ITEM_SCHEMA)
    return items.sort(["incident_id", "weight", "item_id"], descending=[False, True, False])
