"""Small synthetic evidence for query tests: Zeek TSV files written and loaded, rows
inserted into declared tables. Times are epoch seconds from T0 (2026-03-04 08:00 UTC)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

T0 = 1772611200.0
CONFIG = {
    "case": {"name": "synthetic"},
    "networks": {"internal": ["10.42.0.0/16"], "sandbox": ["10.42.7.0/24"]},
    "allow": {"egress": ["151.101.0.223"]},
    "hosts": {"10.42.7.17": {"name": "sb-07", "role": "sandbox"}},
}

ZEEK_FIELDS: dict[str, list[tuple[str, str]]] = {
    "conn": [("ts", "time"), ("uid", "string"), ("id.orig_h", "addr"), ("id.orig_p", "port"),
             ("id.resp_h", "addr"), ("id.resp_p", "port"), ("proto", "enum"),
             ("service", "string"), ("duration", "interval"), ("orig_bytes", "count"),
             ("resp_bytes", "count"), ("conn_state", "string"), ("orig_pkts", "count"),
             ("orig_ip_bytes", "count"), ("resp_pkts", "count"), ("resp_ip_bytes", "count")],
    "ssh": [("ts", "time"), ("uid", "string"), ("id.orig_h", "addr"), ("id.orig_p", "port"),
            ("id.resp_h", "addr"), ("id.resp_p", "port"), ("auth_success", "bool"),
            ("auth_attempts", "count"), ("direction", "enum"), ("client", "string")],
    "dns": [("ts", "time"), ("uid", "string"), ("id.orig_h", "addr"), ("id.orig_p", "port"),
            ("id.resp_h", "addr"), ("id.resp_p", "port"), ("proto", "enum"),
            ("query", "string"), ("answers", "vector[string]")],
    "ssl": [("ts", "time"), ("uid", "string"), ("id.orig_h", "addr"), ("id.orig_p", "port"),
            ("id.resp_h", "addr"), ("id.resp_p", "port"), ("server_name", "string")],
    "http": [("ts", "time"), ("uid", "string"), ("id.orig_h", "addr"), ("id.orig_p", "port"),
             ("id.resp_h", "addr"), ("id.resp_p", "port"), ("host", "string"),
             ("uri", "string")],
}

_uid = 0


def uid() -> str:
    global _uid
    _uid += 1
    return f"C{_uid:017d}"


def conn(t: float, src: str, dst: str, dport: int, *, service: str = "-", dur: float = 1.0,
         ob: int = 100, rb: int = 100, state: str = "SF", pkts: int = 4,
         u: str | None = None) -> list[Any]:
    """One conn.log row (fields as in ZEEK_FIELDS['conn'])."""
    return [T0 + t, u or uid(), src, 40000, dst, dport, "tcp", service, dur, ob, rb, state,
            pkts, ob + 40 * pkts, pkts, rb + 40 * pkts]


def write_zeek(directory: Path, path: str, rows: list[list[Any]]) -> Path:
    """A Zeek TSV log with the standard header; None is unset, lists are sets/vectors."""
    fields = ZEEK_FIELDS[path]
    lines = ["#separator \\x09", "#set_separator\t,", "#empty_field\t(empty)",
             "#unset_field\t-", f"#path\t{path}",
             "#fields\t" + "\t".join(f for f, _ in fields),
             "#types\t" + "\t".join(t for _, t in fields)]
    for row in rows:
        cells = []
        for value in row:
            if value is None:
                cells.append("-")
            elif isinstance(value, bool):
                cells.append("T" if value else "F")
            elif isinstance(value, float):
                cells.append(f"{value:.6f}")
            elif isinstance(value, list):
                cells.append(",".join(value) if value else "(empty)")
            else:
                cells.append(str(value))
        lines.append("\t".join(cells))
    directory.mkdir(parents=True, exist_ok=True)
    out = directory / f"{path}.{len(list(directory.glob(path + '*')))}.log"
    out.write_text("\n".join(lines) + "\n")
    return out


def at(t: float) -> datetime:
    return datetime.fromtimestamp(T0, UTC) + timedelta(seconds=t)


def insert(case: Any, table: str, rows: list[dict[str, Any]]) -> None:
    """Insert rows into a declared table by column name (provenance filled in if absent)."""
    rows = [{"evidence_id": 999, "line_no": i + 1, **r} for i, r in enumerate(rows)]
    frame = pl.DataFrame(rows, infer_schema_length=None)
    case.con.register("_rows", frame.to_arrow())
    try:
        case.con.execute(f'INSERT INTO "{table}" BY NAME SELECT * FROM _rows')
    finally:
        case.con.unregister("_rows")


def load_zeek(case: Any, directory: Path, **logs: list[list[Any]]) -> None:
    """Write each named log (conn=[...], ssh=[...]) and load the directory."""
    for path, rows in logs.items():
        write_zeek(directory, path, rows)
    report = case.load(directory)
    assert report.ok, [f.message for f in report.files]
