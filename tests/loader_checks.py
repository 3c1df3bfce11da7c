"""Checks the loader tests share: a load that succeeded with the line accounting exact,
one stored row by (evidence, line), the rejects of one file, and field comparisons."""

from __future__ import annotations

import json

import polars as pl


def load_ok(case, path, rows: int | None = None, rejects: int = 0, **kw):
    """Load one file; it must load, with these counts, and lines read must equal rows
    stored + rejects + header + blank lines in its evidence row."""
    res = case.load(str(path), **kw).files[0]
    assert res.status == "loaded", (res.message, res.detail)
    if rows is not None:
        assert res.rows == rows
    assert res.rejects == rejects
    ev = ev_row(case, res.evidence_id)
    assert ev["lines_read"] == (ev["rows_loaded"] + ev["rows_rejected"] + ev["header_lines"]
                                + ev["blank_lines"])
    return res


def ev_row(case, evidence_id: int) -> dict:
    return case.evidence().filter(pl.col("evidence_id") == evidence_id).row(0, named=True)


def stored_row(case, table: str, evidence_id: int, line_no: int,
               json_columns: tuple[str, ...] = ("extra",)) -> dict:
    """The one row of `table` from this file's line, its JSON text columns decoded."""
    out = case.sql(f'SELECT * FROM "{table}" WHERE evidence_id = ? AND line_no = ?',
                   [evidence_id, line_no]).to_dicts()
    assert len(out) == 1
    row = out[0]
    for name in json_columns:
        row[name] = json.loads(row[name]) if row[name] is not None else None
    return row


def rejects_of(case, evidence_id: int) -> dict[int, str]:
    rows = case.rejects().filter(pl.col("evidence_id") == evidence_id).sort("line_no")
    return {r["line_no"]: r["reason"] for r in rows.to_dicts()}


def check(row: dict, expected: dict) -> None:
    for key, value in expected.items():
        assert row[key] == value, (key, row[key], value)
