"""The case: one investigation, one DuckDB file, the whole record.

`open_case` creates or opens it; the `Case` owns the connection and is what notebooks,
the CLI and (later) widgets and reports talk to. Everything the analyst decides is
written here too, so the file alone is the evidence of what was done.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from forensics import context as ctxmod
from forensics import schema, views
from forensics.errors import CaseLockedError, ConfigError, ForensicsError, UsageError
from forensics.ingest import LoadReport, ProgressHook, load_files
from forensics.loaders import LoadOptions

DEFAULT_MEMORY_LIMIT = "1GB"


def open_case(
    path: str | os.PathLike[str] = "case.duckdb",
    *,
    read_only: bool = False,
    memory_limit: str | None = DEFAULT_MEMORY_LIMIT,
) -> Case:
    """Open (or create) the case database at `path`; ":memory:" for throw-away work.

    `memory_limit` caps DuckDB's buffer pool (it spills to disk beyond it), so a large load
    or query stays inside a laptop's or a shared notebook server's memory; None lifts it.
    """
    path = os.fspath(path)
    try:
        con = duckdb.connect(path, read_only=read_only)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise CaseLockedError(
                f"{path} is open for writing in another process",
                hint="close the other notebook or wait for the running load to finish",
            ) from None
        raise ForensicsError(f"cannot open case {path}: {exc}") from None
    if memory_limit:
        con.execute("SET memory_limit = ?", [memory_limit])
    return Case(con, path, read_only=read_only)


class Case:
    """An open case. Use as a context manager, or call `close()`."""

    def __init__(self, con: duckdb.DuckDBPyConnection, path: str, *, read_only: bool = False):
        self.con = con
        self.path = path
        self.read_only = read_only
        con.execute("SET TimeZone = 'UTC'")
        if not read_only:
            self._create_schema()

    def _create_schema(self) -> None:
        self.con.execute("BEGIN TRANSACTION")
        for stmt in schema.ddl_statements():
            self.con.execute(stmt)
        self.con.execute(
            "INSERT OR IGNORE INTO case_settings VALUES ('schema_version', ?)",
            [schema.SCHEMA_VERSION],
        )
        views.refresh(self.con)
        self.con.execute("COMMIT")
        (n,) = self.con.execute("SELECT count(*) FROM networks").fetchall()[0]
        if n == 0:
            self._write_context(ctxmod.CaseContext(source="default"))

    # -- loading -------------------------------------------------------------------------

    def load(
        self,
        inputs: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
        *,
        format: str | None = None,
        tz: str | None = None,
        year: int | None = None,
        host: str | None = None,
        zeek_path: str | None = None,
        on_progress: ProgressHook | None = None,
        exclude: Iterable[str | os.PathLike[str]] = (),
        options: dict[str, Any] | None = None,
    ) -> LoadReport:
        """Load files, directories (recursively) or globs; one transaction per file.

        `format` names a format instead of sniffing; `tz` is the zone for times written
        without one (default: the case's timezone setting, else UTC), `year` the year for
        year-less syslog times; `host` names the host when the file does not. Files in
        `exclude` (such as the case config sitting beside the logs) are not loaded.
        `options` are format-specific settings, e.g. `{"mapping": "mikrotik"}` for the
        firewall-mapping format or `{"fields": "timestamp,index,..."}` for a headerless
        nvidia-smi CSV.
        """
        self._writable()
        stated_year = self.setting("year")  # [case] year: the README's year-less syslog year
        options = LoadOptions(
            tz=tz or self.setting("timezone") or "UTC",
            year=year if year is not None else (int(stated_year) if stated_year else None),
            host=host,
            zeek_path=zeek_path,
            extra=dict(options or {}),
        )
        return load_files(self, inputs, format=format, options=options, on_progress=on_progress,
                          exclude=[os.fspath(e) for e in exclude])

    # -- context -------------------------------------------------------------------------

    def configure(
        self,
        config: str | os.PathLike[str] | dict[str, Any] | ctxmod.CaseContext | None = None,
    ) -> ctxmod.CaseContext:
        """Replace the case context (networks, hosts, settings) with a config file or dict."""
        self._writable()
        if config is None:
            parsed = ctxmod.CaseContext(source="default")
        elif isinstance(config, ctxmod.CaseContext):
            parsed = config
        elif isinstance(config, dict):
            parsed = ctxmod.parse_config(config)
        else:
            parsed = ctxmod.load_config(config)
        self._write_context(parsed)
        return parsed

    def add_network(self, cidr: str, scope: str, label: str | None = None) -> None:
        """Add one range from a notebook (scope: internal, sandbox or allowed_egress)."""
        if scope not in ctxmod.SCOPES:
            raise UsageError(f"unknown scope {scope!r}", hint=f"use one of {ctxmod.SCOPES}")
        current = self.context()
        current.networks.append(ctxmod.Network(_valid_cidr(cidr), scope, label))
        self._write_context(current)

    def add_host(self, address: str, name: str | None = None, role: str | None = None) -> None:
        """Name a host from a notebook; replaces an earlier entry for the same address."""
        current = self.context()
        ctxmod.parse_config({"hosts": {address: {}}})  # validates the address
        current.hosts = [h for h in current.hosts if h.address != address]
        current.hosts.append(ctxmod.Host(address, name, role))
        self._write_context(current)

    def context(self) -> ctxmod.CaseContext:
        """The context as stored in the case (defaults left out)."""
        nets = self.con.execute(
            "SELECT cidr, scope, label FROM networks WHERE source NOT LIKE 'default%' "
            "ORDER BY rowid"
        ).fetchall()
        hosts = self.con.execute("SELECT address, name, role FROM hosts ORDER BY rowid").fetchall()
        year = self.setting("year")
        return ctxmod.CaseContext(
            networks=[ctxmod.Network(c, s, lbl) for c, s, lbl in nets],
            hosts=[ctxmod.Host(*h) for h in hosts],
            timezone=self.setting("timezone"),
            year=int(year) if year else None,
            name=self.setting("name"),
            source="notebook",
        )

    def _write_context(self, parsed: ctxmod.CaseContext) -> None:
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute("DELETE FROM networks")
            con.execute("DELETE FROM hosts")
            rows = ctxmod.network_rows(parsed)
            if rows:
                con.executemany("INSERT INTO networks VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            hosts = ctxmod.host_rows(parsed)
            if hosts:
                con.executemany("INSERT INTO hosts VALUES (?, ?, ?, ?)", hosts)
            for key in ("timezone", "year", "name"):
                value = getattr(parsed, key)
                con.execute("DELETE FROM case_settings WHERE key = ?", [key])
                if value is not None:
                    con.execute("INSERT INTO case_settings VALUES (?, ?)", [key, str(value)])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def setting(self, key: str) -> str | None:
        rows = self.con.execute("SELECT value FROM case_settings WHERE key = ?", [key]).fetchall()
        return rows[0][0] if rows else None

    # -- looking -------------------------------------------------------------------------

    def tables(self) -> dict[str, int]:
        """Every table of the case with its row count, declared tables first."""
        names = [
            r[0]
            for r in self.con.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'main' AND table_type = 'BASE TABLE' ORDER BY table_name"
            ).fetchall()
        ]
        declared = [t.name for t in schema.ALL_TABLES if t.name in names]
        rest = [n for n in names if n not in declared]
        out = {}
        for name in declared + rest:
            (n,) = self.con.execute(f'SELECT count(*) FROM "{name}"').fetchall()[0]
            out[name] = int(n)
        return out

    def sql(self, query: str, params: list[Any] | dict[str, Any] | None = None) -> pl.DataFrame:
        """Run SQL with bound parameters (never format values into `query`)."""
        relation = self.con.sql(query, params=params or None)
        if relation is None:  # a statement with no result (DDL, INSERT)
            return pl.DataFrame()
        return pl.from_arrow(relation.to_arrow_table())  # type: ignore[return-value]

    def evidence(self) -> pl.DataFrame:
        return self.sql("SELECT * FROM evidence ORDER BY evidence_id")

    def rejects(self, evidence_id: int | None = None) -> pl.DataFrame:
        """Rejected lines with the file they came from."""
        return self.sql(
            "SELECT r.evidence_id, e.path, r.line_no, r.reason, r.raw, r.raw_bytes "
            "FROM rejects r JOIN evidence e USING (evidence_id) "
            "WHERE ? IS NULL OR r.evidence_id = ? ORDER BY r.evidence_id, r.line_no",
            [evidence_id, evidence_id],
        )

    # -- lifecycle -----------------------------------------------------------------------

    def _writable(self) -> None:
        if self.read_only:
            raise UsageError(f"case {self.path} is open read-only",
                             hint="open it with open_case(path) to change it")

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Case:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Case({self.path!r})"


def _valid_cidr(cidr: str) -> str:
    import ipaddress

    try:
        return str(ipaddress.ip_network(cidr, strict=False))
    except ValueError:
        raise ConfigError(f"{cidr!r} is not a network or address") from None


__all__ = ["Case", "open_case", "Path"]
