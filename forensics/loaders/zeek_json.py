"""Zeek's JSON writer (`LogAscii::use_json=T`) and json-streaming logs into `zeek_<path>`.

polars' NDJSON reader takes a whole block of lines; types come from the field catalogue so a
JSON conn.log lands in the same columns, with the same types, as a TSV one. Times may be
epoch numbers or ISO-8601 text; `_path` (json-streaming) splits rows into their tables.
A block polars cannot take whole (invalid JSON, a blank line, an over-long line) is checked
line by line, and each bad line becomes a reject.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import polars as pl

from forensics.loaders import zeek_types as zt
from forensics.loaders.base import LoadContext
from forensics.loaders.jsonkeys import all_keys_parsed
from forensics.loaders.reading import (
    Block,
    Run,
    has_long_line,
    iter_blocks,
    ordered_map,
    prefetch,
)
from forensics.loaders.sieve import LONE_SURROGATE_ESCAPE, json_object_lines
from forensics.loaders.zeek_catalog import ZEEK_FIELD_TYPES
from forensics.loaders.zeek_common import (
    LINE,
    damaged_tail,
    decode_escaped_cells,
    lines_of,
    store_all,
)
from forensics.loaders.zeek_paths import (
    path_from_fields,
    path_from_filename,
    stem_path,
    table_for,
)

_ZEEK_JSON_KEYS = ("_path", "uid", "id.orig_h", "fuid")


class ZeekJson:
    """Zeek's JSON writer (`LogAscii::use_json=T`) and json-streaming logs (`_path`)."""

    name = "zeek-json"
    family = "zeek"
    description = "Zeek JSON log, one object per line (plain or json-streaming with _path)"

    def sniff(self, path: str, head: bytes) -> float:
        for line in head.split(b"\n")[:5]:
            line = line.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                return 0.0
            if not isinstance(obj, dict) or "ts" not in obj:
                return 0.0
            if any(k in obj for k in _ZEEK_JSON_KEYS):
                return 0.95
            return 0.8 if path_from_fields(list(obj)) else 0.0
        return 0.0

    def load(self, ctx: LoadContext) -> None:
        store_all(ctx, prefetch(self._frames(ctx)))

    def _frames(self, ctx: LoadContext) -> Iterator[tuple[str, pl.DataFrame]]:
        # two blocks parsed at once (polars releases the GIL; the parse is the slow side),
        # each counting into its own context, added to the file's in block order
        for part, frames in ordered_map(lambda b: self._block(ctx.fork(), b),
                                        iter_blocks(ctx.path)):
            ctx.absorb(part)
            yield from frames

    def _block(self, ctx: LoadContext, block: Block
               ) -> tuple[LoadContext, list[tuple[str, pl.DataFrame]]]:
        """One block's typed frames by table (in a worker thread, on a forked context)."""
        ctx.lines_read += block.n_lines
        intact = damaged_tail(ctx, block)
        if intact is None:
            return ctx, []
        # read_ndjson skips blank lines, so a blank line shows up as a row count that
        # does not match and the careful path (which counts blanks) takes the block
        run = Run(intact.data, intact.first_line, intact.n_lines, special=False)
        frame, order, raw_line = self._parse(ctx, run)
        if not frame.height:
            return ctx, []
        return ctx, list(self._by_path(ctx, frame, order, raw_line))

    def _parse(
        self, ctx: LoadContext, run: Run
    ) -> tuple[pl.DataFrame, list[str], Callable[[int], bytes]]:
        first_keys = _first_keys(run.data)
        lines_cache: list[bytes] = []

        def raw_line(line_no: int) -> bytes:
            if not lines_cache:
                lines_cache.extend(lines_of(run))
            return lines_cache[line_no - run.first_line]

        if (b"\r" not in run.data
                and len(run.data) <= ctx.options.max_line_bytes * run.n_lines
                and not _may_hold_lone_surrogate(run.data)):
            frame = _read_ndjson(run.data)
            if frame is not None and frame.height == run.n_lines:
                frame = frame.with_row_index(LINE, offset=run.first_line).with_columns(
                    pl.col(LINE).cast(pl.Int64)
                )
                if not has_long_line(run.data, ctx.options.max_line_bytes):
                    return frame, first_keys, raw_line
        good: list[bytes] = []
        numbers: list[int] = []
        objects: list[dict] = []
        for line_no, line, obj in json_object_lines(ctx, run):
            good.append(line)
            objects.append(obj)
            numbers.append(line_no)
        frame = _read_ndjson(b"\n".join(good)) if good else pl.DataFrame()
        if frame is None:  # mixed nested shapes polars cannot unify: text columns
            frame = pl.DataFrame([_flat_text(o) for o in objects])
        if frame.height:
            frame = frame.with_columns(pl.Series(LINE, numbers, dtype=pl.Int64))
        by_line = dict(zip(numbers, good, strict=True))
        return frame, first_keys, by_line.__getitem__

    def _by_path(
        self, ctx: LoadContext, frame: pl.DataFrame, order: list[str],
        raw_line: Callable[[int], bytes],
    ) -> Iterator[tuple[str, pl.DataFrame]]:
        fallback = (
            ctx.options.zeek_path
            or path_from_filename(ctx.path)
            or path_from_fields([c for c in frame.columns if c != LINE])
            or stem_path(ctx.path)
        )
        if "_path" in frame.columns and frame["_path"].dtype == pl.String:
            groups = frame.with_columns(pl.col("_path").fill_null(fallback)).partition_by(
                "_path", as_dict=True
            )
            parts = [(key[0], part) for key, part in groups.items()]
        else:
            parts = [(fallback, frame)]
        for path, part in parts:
            part = part.select([c for c in part.columns if part[c].null_count() < part.height
                                or c == LINE])
            typed = _convert_json(ctx, str(path), part, raw_line)
            if typed.height:
                columns = _column_order(str(path), order, typed.columns)
                yield table_for(str(path)), typed.select(columns)


def _may_hold_lone_surrogate(data: bytes) -> bool:
    """A `\\udXXX` escape: polars would turn a lone one into U+0000 without a word, so such a
    block is read line by line, where each lone surrogate is a reject (pairs still load)."""
    # a backslash first: one memchr pass, and JSON without any escape is the common case
    return b"\\" in data and LONE_SURROGATE_ESCAPE.search(data) is not None


def _first_keys(data: bytes) -> list[str]:
    end = data.find(b"\n")
    try:
        obj = json.loads(data[: end if end >= 0 else len(data)])
    except ValueError:
        return []
    return list(obj) if isinstance(obj, dict) else []


def _column_order(path: str, first_keys: list[str], present: list[str]) -> list[str]:
    """Catalogue order, then first-line order, then the rest; line_no last."""
    known = [zt.column_name(f) for f in ZEEK_FIELD_TYPES.get(path, {})]
    firsts = [zt.column_name(f) for f in first_keys]
    out: list[str] = []
    for name in [*known, *firsts, *present]:
        if name in present and name not in out and name != LINE:
            out.append(name)
    return [*out, LINE]


def _read_ndjson(data: bytes) -> pl.DataFrame | None:
    """Bulk-parse JSON lines; None when polars cannot (the careful path then decides).

    Inferring the schema from every line is four times slower than from the first 100, so
    the short inference is tried first and accepted only if every key written in the text
    was parsed into a non-null cell (or was an explicit null): a key first seen after line
    100, or a value of another type, makes the counts differ and the full inference runs.
    """
    try:
        frame = pl.read_ndjson(data)
    except Exception:  # polars raises several kinds for bad JSON or a changing type
        frame = None
    if frame is not None and all_keys_parsed(data, frame):
        return frame
    try:
        return pl.read_ndjson(data, infer_schema_length=None)
    except Exception:
        return None


def _flat_text(obj: dict) -> dict[str, str | None]:
    return {k: (v if isinstance(v, str) or v is None else json.dumps(v)) for k, v in obj.items()}


def _json_zeek_type(path: str, field: str, dtype: pl.DataType) -> str | None:
    if field in ("ts", "_write_ts"):
        return "time"
    ztype = ZEEK_FIELD_TYPES.get(path, {}).get(field)
    if ztype is None:
        return None
    is_list = zt.split_container(ztype)[0] is not None
    if is_list != isinstance(dtype, pl.List) and dtype != pl.Null:
        return None  # the JSON disagrees with the catalogue: keep what the JSON says
    return ztype


def _json_time(col: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if dtype.is_numeric():
        return zt.time_from_number(col)
    text = col.cast(pl.String)
    return (
        pl.when(text.str.contains(r"^-?[0-9]+(\.[0-9]+)?$"))
        .then(zt.time_from_text(text))
        .otherwise(zt.time_from_iso(text))
    )


def _convert_json(
    ctx: LoadContext, path: str, frame: pl.DataFrame, raw_line: Callable[[int], bytes]
) -> pl.DataFrame:
    """Typed columns; a row with a value that does not fit its Zeek type becomes a reject.

    Each conversion is computed once under a temporary name (eager polars shares no
    subexpressions), the failure test reads it, and reasons are written only for the rows
    that failed, which in a healthy log are none.
    """
    outputs: list[pl.Expr] = []
    converted: list[pl.Expr] = []
    checks: list[tuple[str, str, pl.DataType, pl.Expr]] = []
    for i, (name, dtype) in enumerate(frame.schema.items()):
        if name == LINE:
            continue
        col = pl.col(name)
        out = zt.column_name(name)
        if isinstance(dtype, pl.Struct):
            outputs.append(col.struct.json_encode().alias(out))
            continue
        if dtype == pl.Null:
            outputs.append(col.cast(pl.String).alias(out))
            continue
        ztype = _json_zeek_type(path, name, dtype)
        if ztype is None:
            outputs.append(col.alias(out))
            continue
        temp = f"\x00typed{i}"  # no JSON key of Zeek's has a NUL
        converted.append(_json_conversion(col, dtype, ztype).alias(temp))
        outputs.append(pl.col(temp).alias(out))
        kind = zt.split_container(ztype)[0]
        conv = pl.col(temp)
        if kind is None:
            bad = col.is_not_null() & conv.is_null()
        else:
            bad = col.is_not_null() & (
                conv.is_null() | conv.list.eval(pl.element().is_null()).list.any()
            )
        checks.append((name, ztype, dtype, bad))
    staged = frame.with_columns(converted) if converted else frame
    if checks:
        staged = staged.with_columns(pl.any_horizontal([c[3] for c in checks]).alias("\x00bad"))
        if staged["\x00bad"].any():
            _reject_unconvertible(ctx, staged.filter(pl.col("\x00bad")), checks, raw_line)
            staged = staged.filter(~pl.col("\x00bad"))
    typed = staged.select(pl.col(LINE), *outputs)
    return decode_escaped_cells(typed, backslash=False)


def _json_conversion(col: pl.Expr, dtype: pl.DataType, ztype: str) -> pl.Expr:
    kind, inner = zt.split_container(ztype)
    target = zt.polars_type(zt.duckdb_type(ztype))
    if inner == "time" and kind is None:
        return _json_time(col, dtype)
    if inner == "time":
        return col.list.eval(_json_time(pl.element(), dtype.inner)).cast(target)  # type: ignore[union-attr]
    if target == pl.Boolean and dtype != pl.Boolean:
        return col.cast(pl.String).replace_strict(
            {"true": True, "T": True, "false": False, "F": False}, default=None,
            return_dtype=pl.Boolean)
    return col.cast(target, strict=False)


def _reject_unconvertible(
    ctx: LoadContext, failed: pl.DataFrame,
    checks: list[tuple[str, str, pl.DataType, pl.Expr]], raw_line: Callable[[int], bytes],
) -> None:
    """One reject per failed row, naming the first field that did not convert."""
    reasons = []
    for name, ztype, dtype, bad in checks:
        shown = pl.lit("a list") if isinstance(dtype, pl.List) else (
            pl.col(name).cast(pl.String).str.slice(0, 80))
        reasons.append(pl.when(bad).then(
            pl.format("field {}: {} is not a valid " + ztype, pl.lit(name), shown)))
    why = failed.select(pl.col(LINE), pl.coalesce(reasons).alias("reason"))
    for line_no, reason in why.iter_rows():
        ctx.reject(line_no, reason, raw_line(line_no))
