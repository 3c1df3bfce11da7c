"""Incidents: a host's findings grouped into time windows.

Attribution is asked per incident, not per finding: a tunnel, the miner behind it and the
scan before it are one story on one host. Findings of one host belong to one incident as
long as each starts within `gap_hours` of the end of the ones before it. Only findings
about internal or sandbox addresses make incidents (wallets, billing accounts and outside
addresses are not hosts an actor acted on; they stay in the timeline and in the evidence).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import polars as pl

from forensics.timeline import PHASES

if TYPE_CHECKING:
    from forensics.case import Case

DEFAULT_GAP_HOURS = 6.0


@dataclass
class Incident:
    """One host and window, with the findings in it (rows of `queries.run_all`)."""

    host: str
    host_name: str | None
    ts_start: datetime
    ts_end: datetime
    findings: list[dict] = field(default_factory=list)

    @property
    def incident_id(self) -> str:
        return f"{self.host}@{self.ts_start:%Y-%m-%dT%H:%M:%SZ}"

    @property
    def phases(self) -> list[str]:
        seen = {f["phase"] for f in self.findings}
        return [p for p in PHASES if p in seen] + sorted(seen - set(PHASES))

    @property
    def activity_start(self) -> datetime:
        """When the activity after getting in began: the first finding that is not access."""
        starts = [f["ts_start"] for f in self.findings if f["phase"] != "access"]
        return min(starts) if starts else self.ts_end

    @property
    def label(self) -> str:
        return f"{self.host_name} ({self.host})" if self.host_name else self.host


def group(case: Case, findings: pl.DataFrame,
          gap_hours: float = DEFAULT_GAP_HOURS) -> list[Incident]:
    """Group findings about internal hosts into incidents (see the module docstring)."""
    if findings.height == 0:
        return []
    scopes = {r[0]: (r[1], r[2]) for r in case.con.execute(
        "SELECT ip, scope, host_name FROM addr_scope").fetchall()}
    gap = timedelta(hours=gap_hours)
    rows = [r for r in findings.sort("ts_start", nulls_last=True).iter_rows(named=True)
            if r["ts_start"] is not None
            and scopes.get(r["host"], ("",))[0] in ("internal", "sandbox")]
    out: list[Incident] = []
    current: dict[str, Incident] = {}
    for row in rows:
        host, end = row["host"], row["ts_end"] or row["ts_start"]
        inc = current.get(host)
        if inc is None or row["ts_start"] > inc.ts_end + gap:
            inc = Incident(host, scopes[host][1], row["ts_start"], end)
            current[host] = inc
            out.append(inc)
        inc.ts_end = max(inc.ts_end, end)
        inc.findings.append(row)
    return sorted(out, key=lambda i: (i.ts_start, i.host))
