"""Running one query against a case: parameters bound, absent tables handled, types checked.

Zeek tables exist only when such logs were loaded, and different Zeek versions write
different columns. Rather than make every query defensive, the runner compares what the
header declares with what the case holds:

- a *required* table that is missing: the query is not run; an empty frame with the declared
  output columns comes back, with a note naming the table;
- an *optional* table that is missing: a typed, empty CTE of the same name stands in for it;
- a table that lacks a declared column (or holds it with another type): a CTE of the same
  name selects the declared columns, NULL (or TRY_CAST) where needed, with a note.

CTEs are prepended to the query's own WITH, and a CTE shadows the table of the same name, so
the SQL files stay plain SQL that also runs unchanged in the DuckDB shell on a full case.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import duckdb
import polars as pl

from forensics.queries.header import Query, TableUse

if TYPE_CHECKING:
    from forensics.case import Case


@dataclass
class QueryResult:
    """A query's findings (or answer) and how they were obtained."""

    query: Query
    frame: pl.DataFrame
    params: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    missing_tables: list[str] = field(default_factory=list)
    seconds: float = 0.0
    ran: bool = True


def normalise_type(type_text: str) -> str:
    """DuckDB's canonical spelling of a type ('TIMESTAMPTZ' -> 'TIMESTAMP WITH TIME ZONE')."""
    return str(duckdb.sqltype(type_text))


def _case_columns(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, str]]:
    rows = con.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'main' AND table_catalog = current_database()").fetchall()
    out: dict[str, dict[str, str]] = {}
    for table, column, dtype in rows:
        out.setdefault(table, {})[column] = dtype
    return out


def _stand_in(use: TableUse, present: dict[str, str] | None) -> tuple[str | None, str | None]:
    """(CTE text or None, note or None) for one declared table."""
    if present is None:
        cols = ", ".join(f'NULL::{c.type} AS "{c.name}"' for c in use.columns)
        return (f'"{use.name}" AS (SELECT {cols} WHERE false)',
                f"{use.name} is not in the case; read as empty")
    exprs, missing, recast = [], [], []
    for c in use.columns:
        have = present.get(c.name)
        if have is None:
            exprs.append(f'NULL::{c.type} AS "{c.name}"')
            missing.append(c.name)
        elif normalise_type(have) != normalise_type(c.type):
            exprs.append(f'TRY_CAST("{c.name}" AS {c.type}) AS "{c.name}"')
            recast.append(f"{c.name} ({have})")
        else:
            exprs.append(f'"{c.name}"')
    if not missing and not recast:
        return None, None
    notes = []
    if missing:
        notes.append(f"{use.name} lacks {', '.join(missing)} (read as NULL)")
    if recast:
        notes.append(f"{use.name} holds {', '.join(recast)} (converted)")
    return (f'"{use.name}" AS (SELECT {", ".join(exprs)} FROM main."{use.name}")',
            "; ".join(notes))


def build_sql(query: Query, con: duckdb.DuckDBPyConnection) -> tuple[str | None, list[str],
                                                                       list[str]]:
    """(SQL to run or None when a required table is missing, notes, missing tables)."""
    present = _case_columns(con)
    # views (flows, events) and temp tables are checked by name only
    names = {r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables").fetchall()}
    ctes, notes, missing = [], [], []
    for use in query.tables:
        if use.name not in present and use.name not in names:
            missing.append(use.name)
            if use.required:
                continue
        if use.name in names and use.name not in present:
            continue  # a temp table or view that exists: nothing to adapt
        cte, note = _stand_in(use, present.get(use.name))
        if cte:
            ctes.append(cte)
        if note:
            notes.append(note)
    required_missing = [t for t in missing if query.requires and t in query.requires]
    if required_missing:
        notes.append(f"not run: required table(s) {', '.join(required_missing)} not in the case")
        return None, notes, missing
    body = query.body
    if ctes:
        head = "WITH " + ",\n".join(ctes)
        stripped = body.lstrip()
        if stripped[:4].lower() == "with":
            body = head + ",\n" + stripped[4:].lstrip()
        else:
            body = head + "\n" + stripped
    return body, notes, missing


def empty_frame(query: Query, con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """A frame with the declared output columns and types and no rows."""
    cols = ", ".join(f'NULL::{c.type} AS "{c.name}"' for c in query.output)
    return pl.from_arrow(con.sql(f"SELECT {cols} WHERE false").to_arrow_table())  # type: ignore


def execute(case: Case, query: Query, params: dict[str, Any]) -> QueryResult:
    """Run a prepared case's query with bound parameters; see module docstring."""
    con = case.con
    started = time.perf_counter()
    sql, notes, missing = build_sql(query, con)
    if sql is None:
        return QueryResult(query, empty_frame(query, con), params, notes, missing,
                           time.perf_counter() - started, ran=False)
    relation = con.sql(sql, params=params or None)
    frame = pl.from_arrow(relation.to_arrow_table())
    assert isinstance(frame, pl.DataFrame)
    return QueryResult(query, frame, params, notes, missing, time.perf_counter() - started)


def output_problems(query: Query, con: duckdb.DuckDBPyConnection, sql: str,
                    params: dict[str, Any]) -> list[str]:
    """Differences between the declared output and what the SQL returns (names, types)."""
    relation = con.sql(sql, params=params or None)
    got = list(zip(relation.columns, [str(t) for t in relation.types], strict=True))
    want = [(c.name, normalise_type(c.type)) for c in query.output]
    problems = []
    if [g[0] for g in got] != [w[0] for w in want]:
        problems.append(f"columns {[g[0] for g in got]} != declared {[w[0] for w in want]}")
    for (gname, gtype), (wname, wtype) in zip(got, want, strict=False):
        if gname == wname and gtype != wtype:
            problems.append(f"column {gname} is {gtype}, declared {wtype}")
    return problems
