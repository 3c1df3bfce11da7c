"""Evidence items: what the attribution questions (queries/attr_*.sql) found, tied to
incidents, each with a direction, a weight and a plain-language explanation citing rows.

The SQL finds facts (a command, a login, a run's span); this module only decides which
incident a fact bears on (same host, inside or just before the window) and says so in
words. Every explanation names the file and line of the rows it rests on, so the analyst
can check it in the raw log.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import polars as pl

from forensics.attribution.incidents import Incident
from forensics.attribution.scoring import WEIGHTS

if TYPE_CHECKING:
    from forensics.case import Case

ROW_TYPE = pl.List(pl.Struct({"table": pl.String, "evidence_id": pl.Int32,
                              "line_no": pl.Int64}))
ITEM_SCHEMA = {"incident_id": pl.String, "item_id": pl.String, "name": pl.String,
               "direction": pl.String, "weight": pl.Float64, "explanation": pl.String,
               "query": pl.String, "rows": ROW_TYPE}
COMMAND_LOOKBACK = timedelta(hours=2)   # a command this long before the window explains it
ACCESS_LOOKBACK = timedelta(hours=24)   # a login this long before the window let them in
RUN_SLACK = timedelta(minutes=10)       # a run "covers" a start this close to its edges
MAX_CITED = 3                           # commands quoted in one explanation

_COMMAND_ITEMS = {"tunnel": "agent_command_tunnel", "miner": "agent_command_miner",
                  "pool_url": "agent_command_pool_or_wallet",
                  "wallet": "agent_command_pool_or_wallet", "scan": "agent_command_scan",
                  "spend": "agent_command_spend"}


class _Cite:
    """File names for evidence ids, so explanations say `conn.log line 9`."""

    def __init__(self, case: Case) -> None:
        self.paths = {eid: os.path.basename(p) for eid, p in case.con.execute(
            "SELECT evidence_id, path FROM evidence").fetchall()}

    def row(self, ref: dict[str, Any] | None) -> str:
        if not ref:
            return "no row"
        name = self.paths.get(ref["evidence_id"], ref["table"])
        unit = "record" if name.endswith((".traj", ".json", ".xml", ".parquet")) else "line"
        return f"{name} {unit} {ref['line_no']}"


def _short(text: str | None, limit: int = 140) -> str:
    text = (text or "").replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _t(ts: datetime | None) -> str:
    return f"{ts:%Y-%m-%d %H:%M:%S} UTC" if ts else "an unknown time"


class Builder:
    """Collects items for a list of incidents from the question results."""

    def __init__(self, case: Case, incidents: list[Incident],
                 answers: dict[str, pl.DataFrame]) -> None:
        self.cite = _Cite(case)
        self.incidents = incidents
        self.answers = answers
        self.items: list[dict[str, Any]] = []

    def add(self, inc: Incident, name: str, key: str, explanation: str, query: str,
            rows: Iterable[dict[str, Any]]) -> None:
        direction, weight, _ = WEIGHTS[name]
        seen, unique = set(), []
        for r in rows:
            k = (r["table"], r["evidence_id"], r["line_no"])
            if k not in seen:
                seen.add(k)
                unique.append(dict(r))
        self.items.append({"incident_id": inc.incident_id, "item_id": f"{name}:{key}",
                           "name": name, "direction": direction, "weight": weight,
                           "explanation": explanation, "query": f"{query}.sql",
                           "rows": unique[:50]})

    def rows_of(self, query: str, inc: Incident,
                keep: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        frame = self.answers.get(query)
        if frame is None or frame.height == 0:
            return []
        return [r for r in frame.filter(pl.col("host") == inc.host).iter_rows(named=True)
                if keep(r)]

    def build(self) -> pl.DataFrame:
        for inc in self.incidents:
            self.commands(inc)
            self.access(inc)
            self.pacing(inc)
            self.runs(inc)
            self.gpu(inc)
            self.billing(inc)
        if not self.items:
            return pl.DataFrame(schema=ITEM_SCHEMA)
        return pl.DataFrame(self.items, schema=ITEM_SCHEMA)

    # -- agent commands that explain the findings ----------------------------------------

    def commands(self, inc: Incident) -> None:
        lo, hi = inc.ts_start - COMMAND_LOOKBACK, inc.ts_end
        rows = self.rows_of("attr_agent_commands", inc, lambda r: r["ts"] is not None
                            and lo <= r["ts"] <= hi and r["actor"] in (None, "agent"))
        groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for r in rows:
            name = _COMMAND_ITEMS[r["kind"]]
            if r["kind"] == "spend" and r["destination"]:
                name = "agent_command_pool_or_wallet"  # a transfer to a wallet address
            groups.setdefault((name, r["destination"] or r["kind"]), []).append(r)
        for (name, key), cmds in groups.items():
            confirmed = [c for c in cmds if c["confirmations"] > 0]
            if name in ("agent_command_tunnel", "agent_command_miner") and not confirmed:
                continue  # a command the network never shows does not explain a finding
            who = cmds[0]["host_name"] or inc.host
            quoted = "; ".join(
                f"`{_short(c['command'])}` at {_t(c['ts'])} ({self.cite.row(c['evidence'][0])})"
                for c in cmds[:MAX_CITED])
            more = f" and {len(cmds) - MAX_CITED} more" if len(cmds) > MAX_CITED else ""
            text = f"{who} (agent, run {cmds[0]['run_id'] or '?'}) ran {quoted}{more}."
            if confirmed:
                follow = confirmed[0]["evidence"][1:]
                text += (f" {inc.host} then reached {key} ({self.cite.row(follow[0])}; "
                         f"{sum(c['confirmations'] for c in confirmed)} matching row(s)).")
            self.add(inc, name, key, text, "attr_agent_commands",
                     [e for c in cmds for e in c["evidence"]])

    # -- inbound access before the activity -----------------------------------------------

    def access(self, inc: Incident) -> None:
        lo, hi = inc.ts_start - ACCESS_LOOKBACK, inc.activity_start
        for r in self.rows_of("attr_inbound_access", inc, lambda r: r["first_success"]
                              is not None and lo <= r["first_success"] <= hi):
            src, rows = r["src_ip"], r["evidence"]
            where = f"{inc.label}"
            self.add(inc, "external_login", src,
                     f"external {src} logged in to {where} at {_t(r['first_success'])} "
                     f"({self.cite.row(rows[0])}), before the activity that began at "
                     f"{_t(inc.activity_start)}; {r['successes']} successful login(s) in all.",
                     "attr_inbound_access", rows)
            if r["brute_force"]:
                self.add(inc, "brute_force_then_success", src,
                         f"{src} failed {r['failures']} time(s) from {_t(r['first_failure'])} "
                         f"before its first successful login to {where} "
                         f"({self.cite.row(rows[-1])} is one failure).",
                         "attr_inbound_access", rows)
            if r["first_seen"]:
                self.add(inc, "first_seen_source", src,
                         f"{src} appears nowhere in the network logs before "
                         f"{_t(r['source_first_ts'])}: a source the cluster had never seen.",
                         "attr_inbound_access", rows[:5])

    # -- how the commands were paced ------------------------------------------------------

    def pacing(self, inc: Incident) -> None:
        lo, hi = inc.ts_start - COMMAND_LOOKBACK, inc.ts_end
        rows = self.rows_of("attr_command_pacing", inc, lambda r: r["ts_start"] <= hi
                            and r["ts_end"] >= lo)
        for flag, name in (("machine_paced", "machine_paced"),
                           ("human_paced", "human_paced_commands")):
            hits = [r for r in rows if r[flag]]
            if not hits:
                continue
            n = sum(r["commands"] for r in hits)
            med = sorted(r["median_gap_s"] for r in hits)[len(hits) // 2]
            cv = max(r["gap_cv"] or 0 for r in hits)
            corr = sum(r["corrections"] for r in hits)
            actors = sorted({r["actor"] or "?" for r in hits})
            text = (f"{len(hits)} session(s) on {inc.label} by {', '.join(actors)} around the "
                    f"activity: {n} commands, median gap {med:.1f} s, gap variation up to "
                    f"{cv:.2f}, {corr} correction(s) (first: "
                    f"{self.cite.row(hits[0]['evidence'][0])}).")
            self.add(inc, name, "sessions", text, "attr_command_pacing",
                     [e for r in hits for e in r["evidence"]])

    # -- training windows and recurrence --------------------------------------------------

    def runs(self, inc: Incident) -> None:
        runs = self.rows_of("attr_agent_runs", inc, lambda r: r["ts_start"] is not None)
        if not runs:
            return
        start = inc.activity_start if inc.phases[0] == "access" else inc.ts_start
        covering = [r for r in runs
                    if r["ts_start"] - RUN_SLACK <= start <= r["ts_end"] + RUN_SLACK]
        if covering:
            r = covering[0]
            self.add(inc, "inside_training_window", r["run_id"] or "run",
                     f"the activity on {inc.label} began at {_t(start)}, while run "
                     f"{r['run_id']} was acting on it ({_t(r['ts_start'])} to "
                     f"{_t(r['ts_end'])}, {r['actions']} actions; "
                     f"{self.cite.row(r['evidence'][0])}).", "attr_agent_runs",
                     r["evidence"][:2])
        else:
            spans = ", ".join(f"{r['run_id']} {_t(r['ts_start'])} to {_t(r['ts_end'])}"
                              for r in runs[:3])
            self.add(inc, "outside_training_window", "runs",
                     f"the activity on {inc.label} began at {_t(start)}, when no training "
                     f"run was acting on it (its runs: {spans}).", "attr_agent_runs",
                     [e for r in runs[:3] for e in r["evidence"][:2]])
        lo, hi = inc.ts_start - COMMAND_LOOKBACK, inc.ts_end
        for r in runs:
            if r["recurring_kinds"] and r["ts_start"] <= hi and r["ts_end"] >= lo:
                sample = r["evidence"][2] if len(r["evidence"]) > 2 else r["evidence"][0]
                self.add(inc, "recurrence_across_runs", r["run_id"] or "run",
                         f"run {r['run_id']} on {inc.label} ran {', '.join(r['recurring_kinds'])}"
                         f" commands, and so did run(s) {', '.join(r['other_runs'])}: the same "
                         f"behaviour in two training runs ({self.cite.row(sample)}).",
                         "attr_agent_runs", r["evidence"][2:] or r["evidence"])

    # -- GPU processes and billing ---------------------------------------------------------

    def gpu(self, inc: Incident) -> None:
        lo, hi = inc.ts_start - COMMAND_LOOKBACK, inc.ts_end + COMMAND_LOOKBACK
        for r in self.rows_of("attr_gpu_process_commands", inc,
                              lambda r: lo <= r["ts"] <= hi):
            self.add(inc, "gpu_process_matches_command", r["process_name"],
                     f"GPU process {_short(r['process_name'], 60)} on {inc.label} "
                     f"({self.cite.row(r['evidence'][1] if len(r['evidence']) > 1 else None)}) "
                     f"is the program of `{_short(r['command'])}`, run by "
                     f"{r['actor'] or 'the agent'} at {_t(r['command_ts'])} "
                     f"({self.cite.row(r['evidence'][0])}).",
                     "attr_gpu_process_commands", r["evidence"])

    def billing(self, inc: Incident) -> None:
        frame = self.answers.get("attr_billing_accounts")
        if frame is None or frame.height == 0:
            return
        lo, hi = inc.ts_start - COMMAND_LOOKBACK, inc.ts_end
        for r in frame.iter_rows(named=True):
            if r["host"] == inc.host and r["command_ts"] and lo <= r["command_ts"] <= hi \
                    and r["actor"] in (None, "agent"):
                self.add(inc, "agent_named_billing_account", f"{r['account']}/{r['region']}",
                         f"account {r['account']} ({r['region'] or 'no region'}) was billed "
                         f"{r['billed']:.2f} from {_t(r['first_ts'])}, and the agent on "
                         f"{inc.label} named it: `{_short(r['command'])}` "
                         f"({self.cite.row(r['evidence'][0])}).",
                         "attr_billing_accounts", r["evidence"])
            elif r["host"] is None and (r["new_account"] or r["new_region"]) \
                    and r["first_ts"] <= inc.ts_end and r["last_ts"] >= inc.ts_start:
                what = "account" if r["new_account"] else "region"
                self.add(inc, "unexplained_new_billing", f"{r['account']}/{r['region']}",
                         f"a new {what}, {r['account']} in {r['region'] or 'no region'}, was "
                         f"billed {r['billed']:.2f} from {_t(r['first_ts'])} during this "
                         f"incident, and no command in the logs names it "
                         f"({self.cite.row(r['evidence'][0])}).",
                         "attr_billing_accounts", r["evidence"])
