"""A query file: its metadata header, parsed and validated, and its SQL body.

A query is `queries/<name>.sql`. It opens with a block of `--` comment lines holding a TOML
document (stdlib `tomllib`, so no YAML dependency and exact error positions); the SQL
follows. The format is documented in `queries/README.md`. Validation returns *issues*
(pySigma-style) instead of raising on the first problem, so one run lists everything wrong
with a file; `load_query` raises `QueryDefinitionError` carrying all of them.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from forensics.errors import UsageError

PHASES = ("access", "recon", "tunnel", "mining", "monetisation", "exfiltration")
KINDS = ("detection", "question")
PARAM_TYPES = ("int", "float", "str", "bool", "str_list")
SEVERITIES = ("low", "medium", "high")
EVIDENCE_TYPE = 'STRUCT("table" VARCHAR, evidence_id INTEGER, line_no BIGINT)[]'

# The columns every finding row has, in this order, before a query's own columns.
FINDING_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("host", "VARCHAR", "the address or account the finding is about"),
    ("phase", "VARCHAR",
     "incident phase: access, recon, tunnel, mining, monetisation, exfiltration"),
    ("technique", "VARCHAR", "ATT&CK technique id(s), comma separated"),
    ("ts_start", "TIMESTAMPTZ", "first evidence time, UTC"),
    ("ts_end", "TIMESTAMPTZ", "last evidence time, UTC"),
    ("score", "DOUBLE",
     "confidence from 0 (weak) to 1 (certain); the sum of the signal weights, capped at 1"),
    ("severity", "VARCHAR", "low (< 0.4), medium (< 0.7) or high, from the score"),
    ("summary", "VARCHAR", "one line for the analyst"),
    ("signals", "VARCHAR[]", "names of the signals that fired"),
    ("evidence", EVIDENCE_TYPE, "rows that justify the finding (first 50 by time)"),
    ("evidence_count", "BIGINT", "how many evidence rows there are in all"),
)

_ATTACK_ID = re.compile(r"^T\d{4}(\.\d{3})?$")
_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")


class QueryDefinitionError(UsageError):
    """A query file whose header or SQL does not validate; `issues` lists every problem."""

    def __init__(self, path: Path, issues: list[str]) -> None:
        super().__init__(f"{path}: invalid query ({len(issues)} issue(s)): " + "; ".join(issues),
                         hint="see queries/README.md for the header format")
        self.path = path
        self.issues = issues


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    meaning: str = ""


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    default: Any
    meaning: str
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] | None = None


@dataclass(frozen=True)
class TableUse:
    """A table (or view) the query reads, and the columns it reads from it."""

    name: str
    required: bool
    columns: tuple[Column, ...]


@dataclass(frozen=True)
class Query:
    name: str
    title: str
    kind: str
    phase: str
    attack: tuple[str, ...]
    description: str
    tables: tuple[TableUse, ...]
    params: tuple[Param, ...]
    output: tuple[Column, ...]
    body: str
    path: Path
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def requires(self) -> list[str]:
        return [t.name for t in self.tables if t.required]

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        from forensics.errors import UnknownNameError

        raise UnknownNameError(f"parameter of query {self.name}", name,
                               [p.name for p in self.params])


def split_header(text: str) -> tuple[str, str]:
    """(TOML text, SQL body): the leading `--` lines, prefix removed, and the rest."""
    lines = text.splitlines()
    header: list[str] = []
    i = 0
    while i < len(lines) and lines[i].startswith("--"):
        line = lines[i][2:]
        header.append(line[1:] if line.startswith(" ") else line)
        i += 1
    return "\n".join(header), "\n".join(lines[i:]).strip()


def sql_params(body: str) -> set[str]:
    """`$name` parameters the SQL uses, ignoring comments, string literals and identifiers."""
    stripped = re.sub(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/", " ", body,
                      flags=re.S)
    return set(re.findall(r"\$([A-Za-z_][A-Za-z0-9_]*)", stripped))


def _column(spec: Any, where: str, issues: list[str], with_meaning: bool) -> Column | None:
    """'name TYPE' or 'name TYPE: meaning' -> Column."""
    if not isinstance(spec, str):
        issues.append(f"{where}: {spec!r} is not a 'name TYPE' string")
        return None
    head, _, meaning = spec.partition(":") if with_meaning else (spec, "", "")
    name, _, ctype = head.strip().partition(" ")
    if not _IDENT.match(name) or not ctype.strip():
        issues.append(f"{where}: {spec!r} must be 'name TYPE{': meaning' if with_meaning else ''}'")
        return None
    if with_meaning and not meaning.strip():
        issues.append(f"{where}: column {name} has no meaning")
    return Column(name, ctype.strip(), meaning.strip())


def _param(name: str, spec: Any, issues: list[str]) -> Param | None:
    where = f"params.{name}"
    if not isinstance(spec, dict):
        issues.append(f"{where} must be a table")
        return None
    unknown = set(spec) - {"type", "default", "meaning", "min", "max", "choices"}
    if unknown:
        issues.append(f"{where}: unknown keys {sorted(unknown)}")
    ptype, default, meaning = spec.get("type"), spec.get("default"), spec.get("meaning")
    if ptype not in PARAM_TYPES:
        issues.append(f"{where}: type {ptype!r} is not one of {PARAM_TYPES}")
        return None
    if not meaning:
        issues.append(f"{where}: no meaning")
    if "default" not in spec:
        issues.append(f"{where}: no default")
        return None
    choices = spec.get("choices")
    param = Param(name, ptype, default, meaning or "", spec.get("min"), spec.get("max"),
                  tuple(choices) if choices else None)
    from forensics.queries.params import coerce

    try:
        coerce(param, default)
    except UsageError as exc:
        issues.append(f"{where}: default {default!r} is invalid: {exc.message}")
    return param


def parse_query(path: Path, text: str | None = None) -> tuple[Query | None, list[str]]:
    """Parse and validate one query file: (the query or None, every issue found)."""
    issues: list[str] = []
    text = path.read_text(encoding="utf-8") if text is None else text
    toml_text, body = split_header(text)
    try:
        meta = tomllib.loads(toml_text)
    except tomllib.TOMLDecodeError as exc:
        return None, [f"header is not valid TOML: {exc}"]
    known = {"name", "title", "kind", "phase", "attack", "description", "tables", "params",
             "output"}
    for key in sorted(set(meta) - known):
        issues.append(f"unknown header key {key!r} (valid: {', '.join(sorted(known))})")
    for key in ("name", "title", "kind", "phase", "description"):
        if not isinstance(meta.get(key), str) or not meta.get(key):
            issues.append(f"header needs {key} (a string)")
    name = meta.get("name", "")
    if name != path.stem:
        issues.append(f"name {name!r} must equal the file name {path.stem!r}")
    if meta.get("kind") not in KINDS:
        issues.append(f"kind {meta.get('kind')!r} is not one of {KINDS}")
    if meta.get("phase") not in PHASES:
        issues.append(f"phase {meta.get('phase')!r} is not one of {PHASES}")
    attack = meta.get("attack", [])
    if not isinstance(attack, list) or not attack or any(
            not isinstance(a, str) or not _ATTACK_ID.match(a) for a in attack):
        issues.append(f"attack must be a non-empty list of ATT&CK ids like T1046: {attack!r}")
        attack = []

    tables = []
    for tname, spec in (meta.get("tables") or {}).items():
        if not isinstance(spec, dict) or not isinstance(spec.get("columns"), list):
            issues.append(f"tables.{tname} needs columns = ['name TYPE', ...]")
            continue
        cols = [_column(c, f"tables.{tname}", issues, False) for c in spec["columns"]]
        tables.append(TableUse(tname, bool(spec.get("required", True)),
                               tuple(c for c in cols if c)))
    if not tables:
        issues.append("header declares no tables")

    params = []
    for pname, spec in (meta.get("params") or {}).items():
        if not _IDENT.match(pname):
            issues.append(f"parameter name {pname!r} must be lower_snake_case")
        p = _param(pname, spec, issues)
        if p:
            params.append(p)

    out_spec = meta.get("output") or {}
    output: list[Column] = []
    if out_spec.get("finding", meta.get("kind") == "detection"):
        output += [Column(*c) for c in FINDING_COLUMNS]
    for spec in out_spec.get("columns", []):
        col = _column(spec, "output.columns", issues, True)
        if col:
            output.append(col)
    names = [c.name for c in output]
    if len(set(names)) != len(names):
        issues.append(f"output columns repeat a name: {names}")
    if not output:
        issues.append("header declares no output columns")

    if not re.match(r"(?is)^\s*(with|select)\b", body):
        issues.append("the SQL body must be one SELECT (optionally starting WITH)")
    if re.match(r"(?is)^\s*with\s+recursive\b", body):
        issues.append("WITH RECURSIVE is not supported (the runner prepends CTEs)")
    if ";" in re.sub(r"'(?:[^']|'')*'|--[^\n]*", "", body).rstrip().rstrip(";"):
        issues.append("the SQL body must be a single statement")
    used, declared = sql_params(body), {p.name for p in params}
    for missing in sorted(used - declared):
        issues.append(f"${missing} is used in the SQL but not declared under [params]")
    for unused in sorted(declared - used):
        issues.append(f"parameter {unused} is declared but the SQL never uses ${unused}")

    if issues:
        return None, issues
    query = Query(name=name, title=meta["title"], kind=meta["kind"], phase=meta["phase"],
                  attack=tuple(attack), description=meta["description"].strip(),
                  tables=tuple(tables), params=tuple(params), output=tuple(output),
                  body=body.rstrip().rstrip(";"), path=path)
    return query, []


def load_query(path: Path) -> Query:
    """Parse one query file; raises QueryDefinitionError listing every issue."""
    query, issues = parse_query(path)
    if query is None:
        raise QueryDefinitionError(path, issues)
    return query
