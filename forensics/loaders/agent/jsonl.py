"""forensics-agent-jsonl: our own one-action-per-line format (docs/agent_jsonl.md).

For RL rollouts and agent frameworks that write no usable log of their own. Every line is
one JSON object carrying the marker `"schema": "forensics.agent/1"`, which is what the
sniffer keys on, so this format never claims somebody else's JSONL.

Fast path first, careful path second (as in zeek.py): a block of lines goes to polars'
NDJSON reader in one call and is validated with vectorised expressions; only when the
bulk read fails (invalid JSON or UTF-8, a field of the wrong JSON type, an over-long line)
are that block's lines parsed one by one, so each bad line becomes a reject with its line
number and the good lines around it still load.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import polars as pl

from forensics.loaders.agent.common import ENTRY, INT32_MAX, INT32_MIN, OUTPUT_CAP
from forensics.loaders.agent.exact import exact_rows
from forensics.loaders.base import LoadContext
from forensics.loaders.jsonkeys import all_keys_parsed
from forensics.loaders.reading import (
    Block,
    Run,
    has_long_line,
    iter_blocks,
    ordered_map,
    prefetch,
    split_runs,
)
from forensics.loaders.sieve import count_blank as _count_blank
from forensics.loaders.sieve import damaged_tail as _damaged_tail
from forensics.loaders.sieve import json_object_lines

MARKER = "forensics.agent/1"
DEFAULT_FRAMEWORK = "forensics-jsonl"
_LINE = "line_no"
_MARKER_RE = re.compile(rb'"schema"\s*:\s*"forensics\.agent/[0-9]+"')

# Field -> polars type of the bulk read. Every other top-level field goes to `extra`.
STRING_FIELDS = ("schema", "time", "run", "trajectory", "host", "actor", "type", "command",
                 "tool", "target", "output", "framework")
INT_FIELDS = ("step", "exit_code")
KNOWN: dict[str, pl.DataType] = {
    **{f: pl.String() for f in STRING_FIELDS},
    **{f: pl.Int64() for f in INT_FIELDS},
    "extra": pl.String(),
}
REQUIRED = ("schema", "run", "trajectory", "step", "actor", "type")
_RFC3339 = r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"


class AgentJsonl:
    """forensics-agent-jsonl (one action per line, marker "schema": "forensics.agent/1")."""

    name = "forensics-agent-jsonl"
    family = "agent"
    description = 'Agent actions as JSONL, one per line, each with "schema": "forensics.agent/1"'

    def sniff(self, path: str, head: bytes) -> float:
        """Claim only lines carrying the marker: all of them (1.0), or most of them (0.9),
        so that a few damaged lines at the top do not make the file unrecognisable."""
        lines = head.split(b"\n")
        if len(head) >= 65536 and len(lines) > 1:
            lines = lines[:-1]  # the last line may be cut off by the head's end
        seen = marked = 0
        for line in lines[:200]:
            line = line.strip()
            if not line:
                continue
            seen += 1
            marked += bool(line.startswith(b"{") and _MARKER_RE.search(line))
        if not marked:
            return 0.0
        if marked == seen:
            return 1.0
        return 0.9 if marked * 2 > seen else 0.0

    def load(self, ctx: LoadContext) -> None:
        # Parse and convert in a thread, one block ahead, while DuckDB writes the previous
        # block: one streamed INSERT for the whole file (see ARCHITECTURE.md).
        state = {"truncated": 0}
        ctx.insert_stream("agent_actions", prefetch(self._frames(ctx, state)))
        if state["truncated"]:
            ctx.note(f"{state['truncated']} outputs longer than {OUTPUT_CAP} characters were "
                     "cut to an excerpt of that length")

    def _frames(self, ctx: LoadContext, state: dict[str, int]) -> Iterator[pl.DataFrame]:
        # Reading (a copy and a newline count per block, under the GIL) in a thread of its
        # own, and two blocks parsed at once (polars releases the GIL): the parse, not
        # DuckDB's write, is the slow side. Each block counts into its own context, added
        # to the file's in block order.
        blocks = prefetch(iter_blocks(ctx.path), depth=1)
        for part, frames, truncated in ordered_map(
                lambda block: self._block(ctx.fork(), block), blocks):
            ctx.absorb(part)
            state["truncated"] += truncated
            yield from frames

    def _block(self, ctx: LoadContext, block: Block
               ) -> tuple[LoadContext, list[pl.DataFrame], int]:
        """One block's converted frames (in a worker thread, on a forked context)."""
        state = {"truncated": 0}
        frames: list[pl.DataFrame] = []
        ctx.lines_read += block.n_lines
        intact = _damaged_tail(ctx, block)
        if intact is None:
            return ctx, frames, 0
        # The whole block in one bulk read first: the reader skips blank lines, so a
        # block with none is known clean by its row count, without a search for them.
        # Otherwise its runs between blank lines go one by one, as before.
        whole = Run(intact.data, intact.first_line, intact.n_lines, special=False)
        frame = _read_run_bulk(ctx, whole)
        if frame is not None:
            runs: Iterator[tuple[Run, pl.DataFrame | None]] = iter([(whole, frame)])
        else:
            runs = ((run, None) for run in split_runs(intact, None))
        for run, bulk in runs:
            if run.special:
                _count_blank(ctx, run.data)
                continue
            out = self._load_run(ctx, run, state, bulk)
            if out is not None and out.height:
                frames.append(out)
        return ctx, frames, state["truncated"]

    def _load_run(self, ctx: LoadContext, run: Run, state: dict[str, int],
                  frame: pl.DataFrame | None = None) -> pl.DataFrame | None:
        """The run's rows, converted; `frame` is its bulk read when already done."""
        lines: list[bytes] = []

        def raw_line(line_no: int) -> bytes:
            if not lines:
                lines.extend(run.data.split(b"\n"))
            return lines[line_no - run.first_line]

        if frame is None:
            frame = _read_run_bulk(ctx, run)
        if frame is None:
            frame = _read_careful(ctx, run)
        if frame.height == 0:
            return None
        return _convert(ctx, frame, raw_line, state)


def _read_run_bulk(ctx: LoadContext, run: Run) -> pl.DataFrame | None:
    """The run read in bulk with line numbers, or None unless every line came through
    exactly (see `exact`: what polars would alter sends the run to the careful path)."""
    if b"\r" in run.data or has_long_line(run.data, ctx.options.max_line_bytes):
        return None
    frame = _read_bulk(run.data)
    if frame is None or frame.height != run.n_lines:
        return None
    frame = exact_rows(frame, run.data)
    if frame is None:
        return None
    return frame.with_columns(
        pl.int_range(run.first_line, run.first_line + run.n_lines, dtype=pl.Int64).alias(_LINE))


SAMPLE_BYTES = 256 << 10
"""Leading bytes (whole lines) of each block checked for top-level fields outside the spec."""


def _read_bulk(data: bytes) -> pl.DataFrame | None:
    """The block read with the spec's field types; None when the careful path must decide.

    Known fields are read with fixed types, so a known field is never missed however late
    it first appears. Fields outside the spec are looked for in the block's first
    SAMPLE_BYTES; if any is there, the block is read with inferred columns so they
    reach `extra`.
    """
    try:
        cut = data.rfind(b"\n", 0, SAMPLE_BYTES) if len(data) > SAMPLE_BYTES else len(data)
        sample = pl.read_ndjson(data[:cut], infer_schema_length=None)
        if set(sample.columns) <= set(KNOWN):
            frame = pl.read_ndjson(data, schema=KNOWN)
            # a field outside the spec first written after the sample would be dropped
            # without a word by the fixed schema: the key count tells, else infer
            if all_keys_parsed(data, frame):
                return frame
        overrides = {k: t for k, t in KNOWN.items() if f'"{k}"'.encode() in data}
        return pl.read_ndjson(data, schema_overrides=overrides,
                              infer_schema_length=None)
    except Exception:  # polars raises several kinds for bad JSON; the careful path decides
        return None


def _read_careful(ctx: LoadContext, run: Run) -> pl.DataFrame:
    """Line by line: reject what is not a well-typed object, keep the rest as records."""
    records: list[dict[str, Any]] = []
    for line_no, line, obj in json_object_lines(ctx, run):
        record, why = _record(obj)
        if record is None:
            ctx.reject(line_no, why or "unusable line", line)
            continue
        record[_LINE] = line_no
        records.append(record)
    schema = {**KNOWN, _LINE: pl.Int64()}
    return pl.DataFrame(records, schema=schema) if records else pl.DataFrame(schema=schema)


def _record(obj: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """Type-check one object the way the bulk reader would; unknown fields join extra."""
    out: dict[str, Any] = {}
    for name in STRING_FIELDS:
        value = obj.get(name)
        if isinstance(value, (dict, list)):
            return None, f"field {name}: a JSON {type(value).__name__}, not a string"
        out[name] = value if value is None or isinstance(value, str) else json.dumps(value)
    for name in INT_FIELDS:
        value = obj.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            return None, f"field {name}: {json.dumps(value)[:80]} is not an integer"
        if isinstance(value, int) and not -(2**63) <= value < 2**63:
            return None, f"field {name}: {value} is out of range"
        out[name] = value
    extra = obj.get("extra")
    if extra is not None and not isinstance(extra, dict):
        return None, f"field extra: a JSON {type(extra).__name__}, not an object"
    unknown = {k: v for k, v in obj.items() if k not in KNOWN}
    clash = _clash(unknown, extra or {})
    if clash is not None:
        return None, clash
    merged = dict(extra or {})
    # a NULL unknown field is no value (as in the bulk path): it neither joins extra nor
    # overwrites a member of it
    merged.update({k: v for k, v in unknown.items() if v is not None})
    out["extra"] = json.dumps(merged, ensure_ascii=False) if merged else None
    return out, None


def _clash(unknown: dict[str, Any], extra: dict[str, Any]) -> str | None:
    """The reject reason when a top-level field outside the spec is also a member of `extra`.

    The spec adds unknown fields to `extra`; two values under one name leave the merged
    object with either the writer's field or its `extra` member silently dropped, and
    nothing in the format says which was meant. So the line is a reject, read from the
    first such name; a NULL on either side is no value and no clash.
    """
    for key, value in unknown.items():
        if value is not None and extra.get(key) is not None:
            return clash_reason(key)
    return None


def clash_reason(key: str) -> str:
    return (f"field {key[:80]} is both a top-level field and a member of extra: which of "
            "the two values is meant cannot be told")


def _as_text(col: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """A JSON value decoded by polars back to text: strings as they are, others as JSON."""
    if dtype == pl.String:
        return col
    if isinstance(dtype, pl.Struct):
        return pl.when(col.is_not_null()).then(col.struct.json_encode())
    if isinstance(dtype, (pl.List, pl.Array)):
        # Wrap in a one-field struct to JSON-encode, then strip the wrapper.
        return pl.when(col.is_not_null()).then(
            pl.struct(col.alias("v")).struct.json_encode().str.slice(5).str.head(-1))
    if dtype == pl.Boolean:
        return pl.when(col).then(pl.lit("true")).when(~col).then(pl.lit("false"))
    return col.cast(pl.String)


def _long(frame: pl.DataFrame, columns: list[str], keys: list[str] | None = None
          ) -> pl.DataFrame:
    """(__i, key, value) for every non-null cell of `columns` (keyed by `keys`, default the
    column names), values as text; for the rows whose `extra` DuckDB itself must make."""
    keys = columns if keys is None else keys
    return pl.concat([
        frame.select(pl.col("__i"), pl.lit(k, dtype=pl.String).alias("key"),
                     _as_text(pl.col(c), frame.schema[c]).alias("value"))
        .filter(pl.col("value").is_not_null())
        for c, k in zip(columns, keys, strict=True)
    ], how="vertical")


def _extra_entries(frame: pl.DataFrame, ok: pl.Series) -> tuple[pl.Series, pl.Series]:
    """`extra`: the line's `extra` object plus its unknown top-level fields, as JSON text;
    and per row the name of an unknown field that is also a member of `extra` (a reject,
    see `_clash`), else NULL.

    Rows with neither get NULL (no object), not an empty one. The text is what DuckDB's
    `to_json(map_from_entries())` makes of the (key, value) entries in this order: unknown
    fields, then the object's members (see `_wide_json`).
    """
    n = frame.height
    none = pl.Series("clash", [None] * n, dtype=pl.String)
    unknown = [c for c in frame.columns if c not in KNOWN and c != _LINE and
               not c.startswith("__")]
    if not unknown:
        # the common case: `extra` is already a JSON object's text; keep it as it is
        texts = frame["extra"].cast(pl.String)
        keep = (texts.str.starts_with("{") & ok).fill_null(False)
        return pl.select(pl.when(keep).then(texts).otherwise(None).alias("e"))["e"], none
    indexed = frame.with_columns(pl.int_range(0, n, dtype=pl.Int64).alias("__i"))
    # one text column per entry key, aligned with the rows
    wide = indexed.select("__i", *[_as_text(pl.col(c), frame.schema[c]).alias(f"__u{j}")
                                   for j, c in enumerate(unknown)])
    keys = list(unknown)
    texts = frame["extra"]
    if texts.null_count() < n:
        objects = (texts.str.starts_with("{") & ok).fill_null(False)
        try:
            # Decode only the objects (most rows usually have none), keeping their row.
            decoded = texts.filter(objects).str.json_decode(infer_schema_length=None)
            if not isinstance(decoded.dtype, pl.Struct):
                raise TypeError("extra did not decode to objects")
            parts = decoded.struct.unnest()
        except Exception:  # values of mixed types polars cannot unify: decode in Python
            rows = [(i, k, v if isinstance(v, str) else json.dumps(v, ensure_ascii=False))
                    for i, (t, o) in enumerate(zip(texts.to_list(), objects.to_list(),
                                                   strict=True)) if t and o
                    for k, v in json.loads(t).items() if v is not None]
            long = pl.concat([
                _long(wide, [f"__u{j}" for j in range(len(unknown))], unknown),
                pl.DataFrame(rows, schema={"__i": pl.Int64, "key": pl.String,
                                           "value": pl.String}, orient="row")])
            return _long_json(indexed.select("__i"), long)
        if parts.width:
            members = parts.select(
                *[_as_text(pl.col(f), parts.schema[f]).alias(f"__x{j}")
                  for j, f in enumerate(parts.columns)],
                indexed["__i"].filter(objects))
            wide = wide.join(members, on="__i", how="left", maintain_order="left")
            keys += parts.columns
    return _wide_json(wide, keys)


def _long_json(rows: pl.DataFrame, long: pl.DataFrame) -> tuple[pl.Series, pl.Series]:
    """`_extra_entries` from (__i, key, value) entries: DuckDB's text per row, and the
    clashing key of rows holding one key twice (those rows get no text)."""
    twice = (long.group_by("__i", "key", maintain_order=True).len()
             .filter(pl.col("len") > 1).group_by("__i", maintain_order=True)
             .agg(pl.col("key").first().alias("clash")))
    made = _duckdb_json(long.join(twice, on="__i", how="anti"))
    out = rows.join(made, on="__i", how="left", maintain_order="left").join(
        twice, on="__i", how="left", maintain_order="left")
    return out["exact"], out["clash"]


def _json_text(col: pl.Expr) -> pl.Expr:
    """A string as a JSON string literal (quotes and escapes), via polars' encoder."""
    return pl.struct(col.alias("s")).struct.json_encode().str.slice(5).str.head(-1)


def _wide_json(wide: pl.DataFrame, keys: list[str]) -> tuple[pl.Series, pl.Series]:
    """Each row's non-null text columns (after `__i`, one per key) as a JSON object, and
    the key a row holds twice (an unknown field and an `extra` member), else NULL.

    Building the text in polars costs a tenth of building MAPs in DuckDB. The two encoders
    differ only in the case of the hex digits of `\\u00XX` escapes (control characters): the
    rows where that can occur (a `\\u00` in the text) are made by DuckDB itself, so every
    text is DuckDB's. A row holding one key twice gets no text: it is a reject (`_clash`).
    """
    columns = [c for c in wide.columns if c != "__i"]
    quoted = pl.select([_json_text(pl.lit(k, dtype=pl.String)).alias(str(i))
                        for i, k in enumerate(keys)]).row(0)
    members = [pl.when(pl.col(c).is_not_null()).then(
        pl.concat_str([pl.lit(q + ":"), _json_text(pl.col(c))]))
        for c, q in zip(columns, quoted, strict=True)]
    body = pl.concat_str(members, separator=",", ignore_nulls=True)
    text = pl.when(body != "").then(pl.concat_str([pl.lit("{"), body, pl.lit("}")]))
    clash = pl.lit(None, dtype=pl.String)
    for key in sorted({k for k in keys if keys.count(k) > 1}, reverse=True):
        both = [c for c, k in zip(columns, keys, strict=True) if k == key]
        held = pl.sum_horizontal([pl.col(c).is_not_null() for c in both]) > 1
        clash = pl.when(held).then(pl.lit(key)).otherwise(clash)
    out = wide.select("__i", text.alias("e"), clash.alias("clash"))
    out = out.with_columns(pl.when(pl.col("clash").is_null()).then(pl.col("e")).alias("e"))
    odd = out["e"].str.contains("\\u00", literal=True).fill_null(False)
    if odd.any():
        rows = wide.filter(odd)
        made = _duckdb_json(_long(rows, columns, keys))
        out = out.join(made, on="__i", how="left", maintain_order="left").select(
            "__i", pl.coalesce("exact", "e").alias("e"), "clash")
    return out["e"], out["clash"]


def _duckdb_json(long: pl.DataFrame) -> pl.DataFrame:
    """(__i, exact): DuckDB's `to_json(map_from_entries())` of each row's entries, on a
    private in-memory connection (the parsing thread must not touch the case's)."""
    import duckdb

    lists = long.group_by("__i", maintain_order=True).agg(
        pl.struct("key", "value").alias("e"))
    con = duckdb.connect()
    try:
        con.register("entries", lists.to_arrow())
        rows = con.execute("SELECT __i, to_json(map_from_entries(e))::VARCHAR FROM entries"
                           ).fetchall()
    finally:
        con.close()
    return pl.DataFrame(rows, schema={"__i": pl.Int64, "exact": pl.String}, orient="row")


def _convert(ctx: LoadContext, frame: pl.DataFrame, raw_line: Callable[[int], bytes],
             state: dict[str, int]) -> pl.DataFrame:
    """Validated rows typed like agent_actions; bad rows become rejects here."""
    missing = [pl.lit(None, dtype=t).alias(c) for c, t in KNOWN.items() if c not in frame.columns]
    if missing:
        frame = frame.with_columns(missing)
    casts = [pl.col(c).cast(t) for c, t in KNOWN.items() if frame.schema[c] != t]
    if casts:  # a column polars read as all-null keeps the Null type
        frame = frame.with_columns(casts)
    time = pl.col("time")
    valid = time.str.contains(_RFC3339)
    all_z = bool(frame.select(time.str.ends_with("Z").or_(time.is_null()).all()).item())
    if all_z:  # the usual case, as the spec recommends: one cheap strptime
        parsed = time.str.strptime(pl.Datetime("us", "UTC"), "%Y-%m-%dT%H:%M:%S%.fZ",
                                   strict=False)
    else:
        parsed = (time.str.replace(r"[Zz]$", "+00:00").str.replace("t", "T", literal=True)
                  .str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%:z", strict=False, time_unit="us")
                  .dt.convert_time_zone("UTC"))
    # computed once, before the checks refer to it: eager polars does not share
    # subexpressions, and the time parse is the dearest expression here
    frame = frame.with_columns(pl.when(valid).then(parsed).alias("__ts"))
    ts = pl.col("__ts")
    # (condition, reason) pairs; a row is bad when a condition is true
    checks: list[tuple[pl.Expr, pl.Expr]] = [
        (pl.col("schema").is_null(), pl.lit("field schema is missing")),
        (pl.col("schema") != MARKER, pl.format(
            "field schema: '{}' is not '" + MARKER + "'", pl.col("schema").str.slice(0, 80))),
        *[(pl.col(f).is_null(), pl.lit(f"field {f} is missing")) for f in REQUIRED
          if f != "schema"],
        *[(pl.col(f) == "", pl.lit(f"field {f} is empty"))
          for f in ("run", "trajectory", "actor", "type")],
        ((pl.col("step") < 0) | (pl.col("step") > INT32_MAX), pl.format(
            "field step: {} is outside 0..2147483647", pl.col("step"))),
        ((pl.col("exit_code") < INT32_MIN) | (pl.col("exit_code") > INT32_MAX),
         pl.format("field exit_code: {} is not a 32-bit integer", pl.col("exit_code"))),
        (time.is_not_null() & ts.is_null(), pl.format(
            "field time: '{}' is not an RFC 3339 time", time.str.slice(0, 80))),
        (pl.col("extra").is_not_null() & ~pl.col("extra").str.starts_with("{"),
         pl.lit("field extra: not a JSON object")),
    ]
    # Two passes: one cheap boolean for every row, the reasons only for the rows it flags.
    # (The conditions alone: polars would build every reason text for every row otherwise.)
    fine = [~cond.fill_null(False) for cond, _ in checks]
    checked = frame.with_columns(pl.all_horizontal(fine).alias("__ok"))
    ok = checked["__ok"]
    if not ok.all():
        why = pl.coalesce([pl.when(cond).then(text) for cond, text in checks])
        bad = checked.filter(~pl.col("__ok")).select(_LINE, why.alias("why"))
        for line_no, why in bad.iter_rows():
            ctx.reject(line_no, why, raw_line(line_no))
    extra, clash = _extra_entries(checked, ok)
    clashing = (clash.is_not_null() & ok).fill_null(False)
    if clashing.any():
        for line_no, key in checked.filter(clashing).select(
                _LINE, clash.filter(clashing).alias("k")).iter_rows():
            ctx.reject(line_no, clash_reason(key), raw_line(line_no))
        ok = ok & ~clashing
    good = checked.with_columns(extra.alias("__extra")).filter(ok)
    output = pl.col("output")
    state["truncated"] += int(good.select((output.str.len_chars() > OUTPUT_CAP).sum()).item())
    return good.select(
        pl.col(_LINE),
        pl.col("__ts").alias("ts"),
        pl.col("__ts").is_not_null().alias("ts_is_absolute"),
        pl.col("framework").fill_null(DEFAULT_FRAMEWORK).alias("framework"),
        pl.col("run").alias("run_id"),
        pl.col("trajectory").alias("trajectory_id"),
        pl.col("step").cast(pl.Int32),
        pl.col("host"),
        pl.col("actor"),
        pl.col("type").alias("action_type"),
        pl.col("command"),
        pl.col("tool").alias("tool_name"),
        pl.col("target"),
        pl.col("exit_code").cast(pl.Int32),
        output.str.slice(0, OUTPUT_CAP).alias("output_excerpt"),
        pl.col("__extra").alias("extra"),
    )


__all__ = ["ENTRY", "MARKER", "AgentJsonl"]
