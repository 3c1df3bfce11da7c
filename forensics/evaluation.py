"""Scoring the detections against a scenario's ground truth.

A scenario (`forensics scenario`, `sample_logs/<name>`) says what really happened in
`ground_truth.json`: each malicious step's phase, host, window and the file lines that show
it, and the traps (what looks bad and is not). This module loads such a folder, runs every
detection and answers the questions an analyst would ask of a tool before trusting it:

- was every malicious step found (recall), on the right host, overlapping its window?
- of what was raised above low severity, how much was about a real step (precision)?
- what did the benign traps raise?

A finding *matches* a step when the phases agree, the times overlap (with `slack` on both
sides, since a finding spans its evidence and a step its activity), and either the finding
is about the step's host (name or address) or its evidence rows include a line the ground
truth names for the step (how a billing account or a wallet finding is tied to a host).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

import forensics
from forensics import timeline

SLACK = timedelta(minutes=15)


@dataclass
class Evaluation:
    scenario: str
    steps: pl.DataFrame  # one row per ground-truth step: found?, by which queries
    findings: pl.DataFrame  # one row per finding: matched step ids, alert?
    per_phase: pl.DataFrame  # phase, steps, found, recall, alerts, true_alerts, precision

    def missed(self) -> list[str]:
        return self.steps.filter(~pl.col("found"))["step"].to_list()

    def false_alerts(self) -> pl.DataFrame:
        return self.findings.filter(pl.col("alert") & (pl.col("steps").list.len() == 0))


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def evaluate(folder: str | Path, *, slack: timedelta = SLACK) -> Evaluation:
    """Load a scenario folder into a throw-away case and score the detections."""
    folder = Path(folder)
    truth = json.loads((folder / "ground_truth.json").read_text())
    with forensics.open_case(":memory:") as case:
        case.configure(folder / "case.toml")
        case.load(folder)
        findings = timeline.build(case).findings
        paths = dict(case.sql("SELECT evidence_id, path FROM evidence").rows())
        names = dict(case.sql("SELECT address, name FROM hosts").rows())
    rel = {eid: str(Path(p).resolve().relative_to(folder.resolve())) for eid, p in paths.items()}
    steps = truth["steps"]
    step_lines = {
        s["id"]: {(e["file"], n) for e in s["evidence"] for n in e["lines"]} for s in steps
    }
    matched: list[list[str]] = []
    for f in findings.iter_rows(named=True):
        hits = []
        refs = {(rel.get(r["evidence_id"]), r["line_no"]) for r in (f["evidence"] or [])}
        f_hosts = {f["host"], names.get(f["host"])}
        for s in steps:
            if s["phase"] != f["phase"] or f["ts_start"] is None:
                continue
            end = f["ts_end"] or f["ts_start"]
            if end < _ts(s["start"]) - slack or f["ts_start"] > _ts(s["end"]) + slack:
                continue
            if {s["host"], s.get("host_ip")} & f_hosts or refs & step_lines[s["id"]]:
                hits.append(s["id"])
        matched.append(hits)
    fr = findings.select("host", "phase", "query", "ts_start", "severity", "score", "summary") \
        if findings.height else pl.DataFrame(schema={"host": pl.String, "phase": pl.String,
                                                     "query": pl.String, "severity": pl.String})
    fr = fr.with_columns(pl.Series("steps", matched, dtype=pl.List(pl.String)),
                         (pl.col("severity") != "low").alias("alert"))
    found_by: dict[str, list[str]] = {s["id"]: [] for s in steps}
    for hits, q in zip(matched, fr["query"].to_list(), strict=True):
        for h in hits:
            found_by[h].append(q)
    st = pl.DataFrame({
        "step": [s["id"] for s in steps], "phase": [s["phase"] for s in steps],
        "actor": [s["actor"] for s in steps], "host": [s["host"] for s in steps],
        "found": [bool(found_by[s["id"]]) for s in steps],
        "queries": [sorted(set(found_by[s["id"]])) for s in steps],
    }, schema={"step": pl.String, "phase": pl.String, "actor": pl.String, "host": pl.String,
               "found": pl.Boolean, "queries": pl.List(pl.String)})
    return Evaluation(truth["scenario"], st, fr, _per_phase(st, fr))


def _per_phase(steps: pl.DataFrame, findings: pl.DataFrame) -> pl.DataFrame:
    rows: list[dict[str, Any]] = []
    for phase in timeline.PHASES:
        s = steps.filter(pl.col("phase") == phase)
        a = findings.filter((pl.col("phase") == phase) & pl.col("alert"))
        true_alerts = a.filter(pl.col("steps").list.len() > 0).height
        rows.append({
            "phase": phase, "steps": s.height, "found": int(s["found"].sum()),
            "recall": (s["found"].sum() / s.height) if s.height else None,
            "alerts": a.height, "true_alerts": true_alerts,
            "precision": (true_alerts / a.height) if a.height else None,
        })
    return pl.DataFrame(rows, schema={"phase": pl.String, "steps": pl.Int64, "found": pl.Int64,
                                      "recall": pl.Float64, "alerts": pl.Int64,
                                      "true_alerts": pl.Int64, "precision": pl.Float64})
