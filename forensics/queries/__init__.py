"""Prebuilt detections and questions: `queries/*.sql`, listed, described and run.

    from forensics import queries
    queries.list_queries()                               # every query, validated
    print(queries.describe("tunnel_ssh_outbound"))       # what it does, its parameters
    frame = queries.run(case, "recon_internal_scan", min_hosts=5)   # a polars DataFrame
    result = queries.run_result(case, "beacon_pairs")    # frame + notes (missing tables)
    findings = queries.run_all(case)                     # every detection's findings

The registry is the `queries/` directory itself (one explicit place, no registration by
import): a file is a query when its header validates, and an invalid file is an error that
lists every issue, never silently skipped. `FORENSICS_QUERIES_DIR` points elsewhere.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from forensics.errors import UnknownNameError
from forensics.queries.header import FINDING_COLUMNS, Query, QueryDefinitionError, load_query
from forensics.queries.params import bind
from forensics.queries.prepare import prepare
from forensics.queries.runner import QueryResult, execute

if TYPE_CHECKING:
    from forensics.case import Case

__all__ = ["FINDING_COLUMNS", "Query", "QueryDefinitionError", "QueryResult", "describe",
           "get_query", "list_queries", "queries_dir", "run", "run_all", "run_result"]


def queries_dir() -> Path:
    """Where the query files are: $FORENSICS_QUERIES_DIR; else `queries/` at the repository
    root (a checkout or an editable install); else the copy a regular install puts in
    `<prefix>/share/forensics/queries` (pyproject's data-files)."""
    env = os.environ.get("FORENSICS_QUERIES_DIR")
    if env:
        return Path(env)
    checkout = Path(__file__).resolve().parents[2] / "queries"
    if checkout.is_dir():
        return checkout
    installed = Path(sys.prefix) / "share" / "forensics" / "queries"
    return installed if installed.is_dir() else checkout


def list_queries() -> list[Query]:
    """Every query, sorted by name; raises QueryDefinitionError on the first invalid file."""
    return [load_query(p) for p in sorted(queries_dir().glob("*.sql"))]


def get_query(name: str) -> Query:
    path = queries_dir() / f"{name}.sql"
    if not path.is_file() or "/" in name or "\\" in name:
        raise UnknownNameError("query", name, [p.stem for p in queries_dir().glob("*.sql")])
    return load_query(path)


def describe(name: str) -> str:
    """A plain-text description: title, phase, ATT&CK, tables, parameters, output."""
    q = get_query(name)
    lines = [f"{q.name}: {q.title}", f"kind: {q.kind}   phase: {q.phase}   "
             f"ATT&CK: {', '.join(q.attack)}", "", q.description, "", "tables:"]
    for t in q.tables:
        lines.append(f"  {t.name} ({'required' if t.required else 'optional'}): "
                     + ", ".join(c.name for c in t.columns))
    lines += ["", "parameters:"]
    for p in q.params:
        rng = "".join([f" min={p.min}" if p.min is not None else "",
                       f" max={p.max}" if p.max is not None else ""])
        lines.append(f"  {p.name} ({p.type}, default {p.default!r}{rng}): {p.meaning}")
    if not q.params:
        lines.append("  (none)")
    lines += ["", "output:"] + [f"  {c.name} ({c.type}): {c.meaning}" for c in q.output]
    return "\n".join(lines)


def _state(case: Case) -> dict[str, str]:
    state = getattr(case, "_query_state", None)
    if state is None:
        state = {}
        case._query_state = state  # type: ignore[attr-defined]
    return state


def run_result(case: Case, name: str | Query, params: dict[str, Any] | None = None,
               **kwargs: Any) -> QueryResult:
    """Run one query: parameters from `params` and keyword arguments, validated and bound."""
    query = name if isinstance(name, Query) else get_query(name)
    values = bind(query, {**(params or {}), **kwargs})
    prepare(case.con, queries_dir(), _state(case))
    return execute(case, query, values)


def run(case: Case, name: str | Query, params: dict[str, Any] | None = None,
        **kwargs: Any) -> pl.DataFrame:
    """Run one query and return its rows as a polars DataFrame."""
    return run_result(case, name, params, **kwargs).frame


def run_all(case: Case, phase: str | None = None) -> pl.DataFrame:
    """The common finding columns of every detection (optionally of one phase), with a
    `query` column, ordered by start time: the raw material of the timeline."""
    cols = [c[0] for c in FINDING_COLUMNS]
    frames = []
    for q in list_queries():
        if q.kind != "detection" or (phase and q.phase != phase):
            continue
        frame = run(case, q)
        frames.append(frame.select(cols).with_columns(pl.lit(q.name).alias("query")))
    if not frames:
        return pl.DataFrame()
    return pl.concat(frames, how="vertical_relaxed").sort("ts_start", nulls_last=True)
