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
    # what Python wrote as JSON text (extra; a number or boolean in a text field), as the
    # bulk read writes it
    spots = [(r, name) for r in records for name in ("extra", *r.pop(_AS_JSON, ()))]
    for (record, name), text in zip(spots, bulk_spelled([r[n] for r, n in spots]), strict=True):
        record[name] = text
    schema = {**KNOWN, _LINE: pl.Int64()}
    return pl.DataFrame(records, schema=schema) if records else pl.DataFrame(schema=schema)


_AS_JSON = "__as_json"  # a careful record's text fields that hold a number or boolean


def bulk_spelled(texts: list[str | None]) -> list[str | None]:
    """JSON texts made in Python (`extra` from `merged_extra`, a number in a text field),
    spelled as the bulk read spells the same value, so a line stores one text whichever
    path it takes (and which path that is depends on the lines around it).

    polars writes some numbers otherwise than `json.dumps`: `1.0` as `1`, `1e-7` as
    `0.0000001`, `1.5e20` in full. Reading the Python text back through the same reader,
    as text, gives polars' spelling of the same values. A text holding a backslash (an escape) is
    kept: polars' rendering of such an object is not JSON (see `exact`), and the bulk
    path remakes those lines in Python too.
    """
    at = [i for i, text in enumerate(texts) if text is not None and "\\" not in text]
    if not at:
        return texts
    doc = "\n".join('{"extra":' + texts[i] + "}" for i in at).encode()  # type: ignore[operator]
    spelled = pl.read_ndjson(doc, schema={"extra": pl.String()})["extra"].to_list()
    out = list(texts)
    for i, text in zip(at, spelled, strict=True):
        out[i] = text
    return out


def _record(obj: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """Type-check one object the way the bulk reader would; unknown fields join extra."""
    out: dict[str, Any] = {}
    for name in STRING_FIELDS:
        value = obj.get(name)
        if isinstance(value, (dict, list)):
            return None, f"field {name}: a JSON {type(value).__name__}, not a string"
        if value is None or isinstance(value, str):
            out[name] = value
        else:  # as its JSON text, spelled as the bulk read spells it (`bulk_spelled`)
            out[name] = json.dumps(value)
            out.setdefault(_AS_JSON, []).append(name)
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
    out["extra"], clash = merged_extra(extra, unknown)
    if clash is not None:
        return None, clash_reason(clash)
    return out, None


def merged_extra(extra: dict[str, Any] | None, unknown: dict[str, Any]
                 ) -> tuple[str | None, str | None]:
    """(`extra`'s text, None), or (None, the clashing name): the line's `extra` object as
    written, then its top-level fields outside the spec added as text (a string as it is,
    any other value as its JSON text), in line order. NULL if the line has no `extra` and
    nothing to add; `{}` stays `{}`, as in the bulk path.

    A NULL unknown field is no value: it neither joins extra nor overwrites a member. An
    unknown field that is also a (non-NULL) member of `extra` is a clash: the merged object
    would silently drop one of the two values, and nothing in the format says which was
    meant, so the line is a reject, named by the first such field.
    """
    merged = dict(extra or {})
    for key, value in unknown.items():
        if value is None:
            continue
        if merged.get(key) is not None:
            return None, key
        merged[key] = value if isinstance(value, str) else json.dumps(value,
                                                                       ensure_ascii=False)
    return (json.dumps(merged, ensure_ascii=False) if merged or extra is not None
            else None), None


def clash_reason(key: str) -> str:
    return (f"field {key[:80]} is both a top-level field and a member of extra: which of "
            "the two values is meant cannot be told")


def _extra_entries(frame: pl.DataFrame, ok: pl.Series, raw_line: Callable[[int], bytes]
                   ) -> tuple[pl.Series, pl.Series]:
    """`extra` per row as JSON text, and per row the name of an unknown field that is also a
    member of its `extra` (a reject, see `_clash`), else NULL.

    A row with no unknown field keeps its `extra` object's text (NULL if it has none). A
    row holding one is made again from its own line by `merged_extra`, as the careful path
    makes it: polars types an unknown field per block (a 3 next to a 2.5 became "3.0"),
    so only the line itself gives a text that does not depend on the lines around it.
    Unknown fields are the tolerated exception to the format, so their Python cost is
    paid only where they are.
    """
    n = frame.height
    texts = frame["extra"].cast(pl.String)
    keep = (texts.str.starts_with("{") & ok).fill_null(False)
    extra = pl.select(pl.when(keep).then(texts).otherwise(None).alias("e"))["e"]
    clash = pl.Series("clash", [None] * n, dtype=pl.String)
    unknown = [c for c in frame.columns if c not in KNOWN and c != _LINE and
               not c.startswith("__")]
    if not unknown:
        return extra, clash
    held = (pl.any_horizontal(pl.col(c).is_not_null() for c in unknown) & ok).fill_null(False)
    rows = frame.select(held.alias("h"))["h"].arg_true()
    if rows.len() == 0:
        return extra, clash
    made: list[str | None] = []
    clashes: list[str | None] = []
    for line_no in frame[_LINE].gather(rows).to_list():
        obj = json.loads(raw_line(line_no))  # (polars read it: no NaN or infinity)
        text, key = merged_extra(obj.get("extra"),
                                 {k: v for k, v in obj.items() if k not in KNOWN})
        made.append(text)
        clashes.append(key)
    return (extra.scatter(rows, pl.Series(bulk_spelled(made), dtype=pl.String)),
            clash.scatter(rows, pl.Series(clashes, dtype=pl.String)))


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
    extra, clash = _extra_entries(checked, ok, raw_line)
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
