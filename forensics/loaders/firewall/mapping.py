"""`firewall-mapping`: load a vendor export we have no loader for, from a TOML mapping.

An analyst facing an unknown firewall log (Alibaba Cloud Firewall, MikroTik, ...) writes
a small TOML file saying how to split a line (a regex with named groups, CSV columns, or
JSON paths), which piece is which normalised column, how times are written and how
vendor words map to the vocabulary. No code. The keys are documented in
`docs/firewall_mapping.md`; `forensics/loaders/mappings/mikrotik.toml` is an example.

The mapping path comes from `ctx.options.extra["mapping"]` (a path, or the name of a
mapping shipped in `forensics/loaders/mappings/`). This format never sniffs: which
mapping fits a file is the analyst's decision, not a guess. A mapping with an unknown
key, a bad regex or a missing field is a ConfigError before any row is read.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from forensics.errors import ConfigError
from forensics.loaders.base import LoadContext
from forensics.loaders.firewall import common as c
from forensics.loaders.firewall import timeparse as tp

NAME = "firewall-mapping"
MAPPINGS_DIR = Path(__file__).resolve().parent.parent / "mappings"
KINDS = ("regex", "csv", "json")
TARGETS = ("ts", "ts_end", "sensor", "action", "direction", "src_ip", "src_port", "dst_ip",
           "dst_port", "proto", "bytes", "packets", "rule", "in_interface", "out_interface",
           "tcp_flags")
_TOP = {"mapping", "regex", "csv", "json", "fields", "time", "values", "constants", "extra"}
_MAPPING_KEYS = {"name", "description", "kind", "null_values"}
_TIME_KEYS = {"ts", "ts_end"}


@dataclass
class Mapping:
    """A parsed, validated mapping file."""

    name: str
    kind: str
    source: str
    pattern: str | None = None
    delimiter: str = ","
    header: bool = True
    columns: list[str] = field(default_factory=list)
    comment: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    times: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    constants: dict[str, str] = field(default_factory=dict)
    extra: dict[str, str] = field(default_factory=dict)
    null_values: list[str] = field(default_factory=list)


def resolve(spec: str | os.PathLike[str]) -> Path:
    """A mapping path, or the name of a shipped mapping (`mikrotik`)."""
    path = Path(spec)
    if path.is_file():
        return path
    shipped = MAPPINGS_DIR / f"{spec}.toml"
    if shipped.is_file():
        return shipped
    names = sorted(p.stem for p in MAPPINGS_DIR.glob("*.toml"))
    raise ConfigError(f"mapping {str(spec)!r} not found", hint=f"give a path to a TOML "
                      f"mapping, or one of the shipped names: {', '.join(names)}")


def load_mapping(spec: str | os.PathLike[str]) -> Mapping:
    path = resolve(spec)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", path=str(path)) from None
    return parse_mapping(data, str(path))


def _keys(data: dict[str, Any], valid: set[str] | tuple[str, ...], where: str, src: str
          ) -> None:
    unknown = sorted(set(data) - set(valid))
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(unknown)} in {where}", path=src,
                          hint=f"valid keys there: {', '.join(sorted(valid))}")


def _str_table(data: Any, where: str, src: str) -> dict[str, str]:
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ConfigError(f"{where} must be a table of strings", path=src)
    return dict(data)


def parse_mapping(data: dict[str, Any], src: str = "mapping") -> Mapping:
    """Validate a mapping given as a dict (the TOML's shape)."""
    _keys(data, _TOP, "top level", src)
    head = data.get("mapping", {})
    _keys(head, _MAPPING_KEYS, "[mapping]", src)
    kind = head.get("kind")
    if kind not in KINDS:
        raise ConfigError(f"[mapping] kind must be one of {', '.join(KINDS)}", path=src)
    m = Mapping(name=str(head.get("name", Path(src).stem)), kind=kind, source=src,
                null_values=list(head.get("null_values", [])))
    if kind == "regex":
        spec = data.get("regex", {})
        _keys(spec, {"pattern"}, "[regex]", src)
        m.pattern = spec.get("pattern")
        if not isinstance(m.pattern, str):
            raise ConfigError("[regex] pattern is required for kind = \"regex\"", path=src)
        try:
            groups = set(re.compile(m.pattern).groupindex)
        except re.error as exc:
            raise ConfigError(f"[regex] pattern does not compile: {exc}", path=src) from None
        known = groups
    elif kind == "csv":
        spec = data.get("csv", {})
        _keys(spec, {"delimiter", "header", "columns", "comment"}, "[csv]", src)
        m.delimiter = spec.get("delimiter", ",")
        m.header = bool(spec.get("header", True))
        m.columns = list(spec.get("columns", []))
        m.comment = spec.get("comment")
        if len(m.delimiter) != 1:
            raise ConfigError("[csv] delimiter must be one character", path=src)
        if not m.header and not m.columns:
            raise ConfigError("[csv] needs header = true or a columns list", path=src)
        known = set(m.columns) if m.columns else None
    else:
        known = None
    m.fields = _str_table(data.get("fields", {}), "[fields]", src)
    _keys(m.fields, TARGETS, "[fields]", src)
    m.constants = _str_table(data.get("constants", {}), "[constants]", src)
    _keys(m.constants, TARGETS, "[constants]", src)
    m.times = _str_table(data.get("time", {}), "[time]", src)
    _keys(m.times, _TIME_KEYS, "[time]", src)
    values = data.get("values", {})
    if not isinstance(values, dict):
        raise ConfigError("[values] must hold tables like [values.action]", path=src)
    _keys(values, TARGETS, "[values]", src)
    m.values = {k: _str_table(v, f"[values.{k}]", src) for k, v in values.items()}
    extra = data.get("extra", {})
    if isinstance(extra, list):
        extra = {name: name for name in extra}
    m.extra = _str_table(extra, "extra", src)
    if "ts" not in m.fields:
        raise ConfigError("[fields] must name the source of ts", path=src)
    for name in ("ts", "ts_end"):
        if name in m.fields and name not in m.times:
            raise ConfigError(f"[time] must say how {name} is written (iso, epoch, "
                              "epoch_ms, syslog, or a strftime format)", path=src)
    if known is not None:
        for where, table in (("[fields]", m.fields), ("extra", m.extra)):
            missing = sorted(set(table.values()) - known)
            if missing:
                raise ConfigError(f"{where} names {', '.join(missing)}, which the "
                                  f"{kind} does not define", path=src,
                                  hint=f"defined: {', '.join(sorted(known))}")
    if kind == "json":
        for where, table in (("[fields]", m.fields), ("extra", m.extra)):
            bad = sorted(v for v in table.values() if not v.startswith("$"))
            if bad:
                raise ConfigError(f"{where}: JSON sources must be JSONPath ($.a.b): "
                                  f"{', '.join(bad)}", path=src)
    return m


class FirewallMapping:
    """Any line-based firewall export, described by a TOML mapping (never sniffed)."""

    name = NAME
    family = "firewall"
    description = ("Any firewall log described by a TOML mapping (regex, CSV or JSON lines); "
                   "needs options.extra['mapping']")

    def sniff(self, path: str, head: bytes) -> float:
        return 0.0  # a mapping is the analyst's statement, never a guess

    def load(self, ctx: LoadContext) -> None:
        spec = ctx.options.extra.get("mapping")
        if not spec:
            raise ConfigError("format firewall-mapping needs a mapping file",
                              hint="pass LoadOptions(extra={'mapping': 'path/to/x.toml'})")
        m = load_mapping(spec)
        ctx.note(f"read with mapping {m.name!r} from {m.source}")
        columns = m.columns or None
        stats = {"bsd": 0, "naive": 0}
        fmt = f"mapping:{m.name}"
        for frame in c.line_frames(ctx):
            if m.kind == "csv":
                if m.comment:
                    is_comment = frame["line"].str.starts_with(m.comment)
                    ctx.header_lines += int(is_comment.sum())
                    frame = frame.filter(~is_comment)
                if columns is None and frame.height:
                    columns = c.split_csv(frame["line"].head(1), m.delimiter).to_list()[0]
                    ctx.header_lines += 1
                    frame = frame.slice(1)
                    _check_header(m, columns)
                if frame.height == 0:
                    continue
            out = self._convert(ctx, m, frame, columns, stats)
            c.emit(ctx, c.finish(out, fmt))
        tp.note_assumptions(ctx, stats["bsd"], stats["naive"])

    def _convert(self, ctx: LoadContext, m: Mapping, frame: pl.DataFrame,
                 columns: list[str] | None, stats: dict[str, int]) -> pl.DataFrame:
        line = pl.col("line")
        needed = sorted(set(m.fields.values()) | set(m.extra.values()))
        if m.kind == "regex":
            parts = line.str.extract_groups(m.pattern)
            frame = frame.with_columns(parts.alias("__parts"))
            names = re.compile(m.pattern).groupindex
            src = {n: pl.col("__parts").struct.field(n) for n in names}
            matched = pl.any_horizontal([e.is_not_null() for e in src.values()])
            structural = pl.when(~matched).then(pl.lit("line does not match the mapping's "
                                                       "regex pattern"))
        elif m.kind == "csv":
            assert columns is not None
            frame = frame.with_columns(c.split_csv(frame["line"], m.delimiter).alias("__f"))
            f = pl.col("__f")
            src = {n: f.list.get(i, null_on_oob=True) for i, n in enumerate(columns)}
            structural = pl.coalesce(
                pl.when(f.is_null()).then(pl.lit("unbalanced quotes in the CSV")),
                pl.when(f.list.len() != len(columns)).then(pl.format(
                    f"expected {len(columns)} columns, found {{}}", f.list.len())))
        else:
            src = {p: line.str.json_path_match(p) for p in needed}
            whole = line.str.json_path_match("$")
            structural = pl.coalesce(
                pl.when(whole.is_null()).then(pl.lit("not valid JSON")),
                pl.when(~whole.str.starts_with("{")).then(pl.lit("not a JSON object")))
        nulls = [""] + m.null_values

        def get(name: str) -> pl.Expr:
            e = src[name].cast(pl.String)
            return pl.when(~e.is_in(nulls)).then(e)

        exprs: list[pl.Expr] = []
        reasons: list[pl.Expr] = [structural]
        for target in TARGETS:
            if target in m.fields:
                e = get(m.fields[target])
            elif target in m.constants:
                e = pl.lit(m.constants[target])
            elif target == "sensor" and ctx.options.host:
                e = pl.lit(ctx.options.host)
            else:
                continue
            raw = e
            if target in m.values:
                table = m.values[target]
                e = e.replace(table)
            if target in ("action", "direction"):
                vocab = c.ACTIONS if target == "action" else c.DIRECTIONS
                reasons.append(pl.when(e.is_not_null() & ~e.is_in(vocab)).then(
                    c.bad_text(target, raw, f"mapped to one of {', '.join(vocab)} "
                               f"(add it to [values.{target}])")))
            if target in ("ts", "ts_end"):
                e, why, bsd, naive = _time(ctx, e, m.times[target], target)
                reasons.append(why)
                if target == "ts":
                    exprs += [bsd.alias("__bsd"), naive.alias("__naive")]
            exprs.append(e.alias(target))
        exprs += [get(source).alias(f"__x_{name}") for name, source in m.extra.items()]
        exprs.append(line.alias("message"))
        frame = frame.with_columns(exprs)
        reasons.append(pl.when(pl.col("ts").is_null()).then(pl.lit("no event time")))
        frame = frame.with_columns(
            pl.coalesce(reasons).alias(c.REASON))
        good = frame.filter(pl.col(c.REASON).is_null())
        if "__bsd" in frame.columns:
            stats["bsd"] += int(good["__bsd"].sum())
            stats["naive"] += int(good["__naive"].sum())
        return frame


def _time(ctx: LoadContext, text: pl.Expr, how: str, name: str
          ) -> tuple[pl.Expr, pl.Expr, pl.Expr, pl.Expr]:
    """(value, reason, used-year-less, used-zone-less) for one time column."""
    no = pl.lit(False)
    if how == "iso":
        value, naive = tp.iso_to_utc(text, ctx.options.tz)
        bsd = no
    elif how in ("epoch", "epoch_ms"):
        num = text.cast(pl.Int64, strict=False)
        value = pl.from_epoch(num, "s" if how == "epoch" else "ms").dt.replace_time_zone("UTC")
        bsd = naive = no
    elif how == "syslog":
        value = tp.bsd_to_utc(ctx, text)
        bsd, naive = text.is_not_null(), no
    else:
        aware = "%z" in how or "%Z" in how
        parsed = text.str.to_datetime(how, strict=False, time_unit="us")
        if aware:
            value = parsed.dt.convert_time_zone("UTC")
            naive = no
        else:
            value = tp.local_to_utc(parsed, ctx.options.tz)
            naive = text.is_not_null()
        bsd = no
    why = pl.when(text.is_not_null() & value.is_null()).then(
        c.bad_text(name, text, f"a time written as {how}"))
    return value, why, bsd, naive


def _check_header(m: Mapping, columns: list[str]) -> None:
    missing = sorted((set(m.fields.values()) | set(m.extra.values())) - set(columns))
    if missing:
        raise ConfigError(f"the file's header has no column(s) {', '.join(missing)}",
                          path=m.source, hint=f"header columns: {', '.join(columns)}")
