"""Zeek logs, TSV and JSON, into `zeek_<path>` tables.

TSV: the header block (`#separator`, `#set_separator`, `#empty_field`, `#unset_field`,
`#path`, `#fields`, `#types`) is read with parsezeeklogs' `ZeekHeader`, so separators and
markers follow Zeek's own semantics; the data lines go to polars' CSV reader a block at a
time, as text, and are converted by vectorised expressions (`zeek_types`). A new header
block mid-file (concatenated or rotated logs) switches the schema from that line on.

JSON: polars' NDJSON reader takes a block of lines; types come from the field catalogue so
a JSON conn.log lands in the same columns, with the same types, as a TSV one.

Fast path first, careful path second: a block is parsed in bulk, and only if the bulk
parse says something is off (ragged lines, invalid UTF-8, an over-long line, invalid JSON)
are that block's lines checked one by one, so that each bad line becomes a reject with its
line number and the good lines around it still load.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator

import polars as pl
from parsezeeklogs import ZeekHeader

from forensics.loaders import zeek_types as zt
from forensics.loaders.base import LoadContext
from forensics.loaders.reading import Block, Run, iter_blocks, prefetch, split_runs
from forensics.loaders.zeek_catalog import ZEEK_FIELD_TYPES
from forensics.loaders.zeek_paths import (
    path_from_fields,
    path_from_filename,
    stem_path,
    table_for,
)

_EXTRA = "__extra_field__"
_LINE = "line_no"
_HEX_ESCAPE = re.compile(rb"\\x([0-9a-fA-F]{2})|\\\\")
_HEX_ONLY = re.compile(rb"\\x([0-9a-fA-F]{2})")


def decode_zeek_escapes(value: str, *, backslash: bool = True) -> str:
    """Decode Zeek's `\\xHH` escapes (and, in TSV, `\\\\`) back to text.

    Bytes that do not form valid UTF-8 stay visible as `\\xHH` instead of becoming U+FFFD,
    so nothing an attacker put on the wire is lost from the evidence.
    """
    pattern = _HEX_ESCAPE if backslash else _HEX_ONLY

    def one(m: re.Match[bytes]) -> bytes:
        return bytes([int(m.group(1), 16)]) if m.group(1) else b"\\"

    raw = pattern.sub(one, value.encode("utf-8", errors="surrogateescape"))
    return raw.decode("utf-8", errors="backslashreplace")


def _decode_escaped_cells(frame: pl.DataFrame, backslash: bool) -> pl.DataFrame:
    """Decode escapes only in the (rare) cells holding a backslash; the rest stay as is."""
    updates = []
    for name, dtype in frame.schema.items():
        if dtype == pl.String:
            mask = frame[name].str.contains("\\", literal=True).fill_null(False)
            if not mask.any():
                continue
            idx = mask.arg_true()
            values = [decode_zeek_escapes(v, backslash=backslash) for v in frame[name].gather(idx)]
            updates.append(frame[name].scatter(idx, values))
        elif dtype == pl.List(pl.String):
            mask = (
                frame[name].list.eval(pl.element().str.contains("\\", literal=True)).list.any()
            ).fill_null(False)
            if not mask.any():
                continue
            idx = mask.arg_true()
            values = [
                [decode_zeek_escapes(v, backslash=backslash) if v is not None else None
                 for v in cell]
                for cell in frame[name].gather(idx).to_list()
            ]
            patch = pl.DataFrame({"__row": idx, name: pl.Series(values, dtype=dtype)})
            frame = (frame.with_row_index("__row").update(patch, on="__row")
                     .drop("__row"))  # Series.scatter does not take list values
    return frame.with_columns(updates) if updates else frame


def _damaged_tail(ctx: LoadContext, block: Block) -> Block | None:
    """Reject the partial last line of a damaged stream; return the intact lines before it."""
    if block.damage is None:
        return block
    cut = block.data.rfind(b"\n")
    ctx.reject(
        block.first_line + block.n_lines - 1,
        f"{block.damage}; this line is the incomplete text before the damage",
        block.data[cut + 1 :],
    )
    if cut < 0:
        return None
    return Block(block.data[:cut], block.first_line, block.n_lines - 1)


def _count_blank(ctx: LoadContext, line: bytes) -> bool:
    if line.strip(b" \t\r") == b"":
        ctx.blank_lines += 1
        return True
    return False


def _lines_of(run: Run) -> list[bytes]:
    return run.data.split(b"\n")


# ---------------------------------------------------------------------------------------
# TSV
# ---------------------------------------------------------------------------------------


class ZeekTsv:
    """Zeek's default ASCII writer: `#` header block, tab-separated rows."""

    name = "zeek-tsv"
    family = "zeek"
    description = "Zeek/Bro TSV log (any path), with #separator/#fields/#types headers"

    def sniff(self, path: str, head: bytes) -> float:
        text = head[:65536]
        if b"\n#fields" in text or text.startswith(b"#fields"):
            if b"#separator" in text:
                return 1.0
            if b"#types" in text:
                return 0.9
        return 0.0

    def load(self, ctx: LoadContext) -> None:
        _store_all(ctx, prefetch(self._frames(ctx)))

    def _frames(self, ctx: LoadContext) -> Iterator[tuple[str, pl.DataFrame]]:
        """Typed frames, a block at a time, in a background thread (no database access)."""
        header: ZeekHeader | None = None
        for block in iter_blocks(ctx.path):
            ctx.lines_read += block.n_lines
            intact = _damaged_tail(ctx, block)
            if intact is None:
                continue
            if header is not None and _header_problem(header) is None:
                raw = self._parse_whole_block(ctx, header, intact)
                if raw is not None:  # the common case: a block of nothing but data lines
                    yield from self._typed(ctx, header, raw, intact.data)
                    continue
            for run in split_runs(intact, b"#"):
                if run.special:
                    if not _count_blank(ctx, run.data):
                        header = self._apply_header(ctx, header, run.data)
                    continue
                yield from self._typed_run(ctx, header, run)

    @staticmethod
    def _apply_header(ctx: LoadContext, header: ZeekHeader | None, line: bytes) -> ZeekHeader:
        ctx.header_lines += 1
        text = line.decode("utf-8", errors="replace").rstrip("\r")
        if header is None or text.startswith("#separator"):
            header = ZeekHeader()  # a new header block starts a new schema
        header.apply(text)
        return header

    def _typed_run(
        self, ctx: LoadContext, header: ZeekHeader | None, run: Run
    ) -> Iterator[tuple[str, pl.DataFrame]]:
        problem = _header_problem(header)
        if problem:
            for i, line in enumerate(_lines_of(run)):
                if not _count_blank(ctx, line):
                    ctx.reject(run.first_line + i, problem, line)
            return
        assert header is not None
        yield from self._typed(ctx, header, self._parse(ctx, header, run), run.data)

    @staticmethod
    def _typed(
        ctx: LoadContext, header: ZeekHeader, raw: pl.DataFrame, data: bytes
    ) -> Iterator[tuple[str, pl.DataFrame]]:
        if raw.height == 0:
            return
        path = header.path or ctx.options.zeek_path or path_from_filename(ctx.path)
        path = path or stem_path(ctx.path)
        yield table_for(path), _convert_tsv(ctx, header, raw, escapes=b"\\" in data)

    def _parse_whole_block(
        self, ctx: LoadContext, header: ZeekHeader, block: Block
    ) -> pl.DataFrame | None:
        """One bulk parse of a whole block, accepted only if it has no header, comment or
        blank line and every line is exact; otherwise None and the block is split."""
        sep = header.separator
        if len(sep.encode()) != 1 or b"\r" in block.data:
            return None
        run = Run(block.data, block.first_line, block.n_lines, special=False)
        frame = _read_tsv(block.data, sep, header.fields, block.first_line, empty_is_null=True)
        if frame is None or not _tsv_frame_clean(frame, header.fields, run, ctx):
            return None
        if frame[header.fields[0]].str.starts_with("#").any():
            return None
        return frame.drop(_EXTRA)

    def _parse(self, ctx: LoadContext, header: ZeekHeader, run: Run) -> pl.DataFrame:
        """Raw text columns plus line_no; bad lines are rejected, the rest returned."""
        fields = header.fields
        sep = header.separator
        if len(sep.encode()) == 1 and b"\r" not in run.data:
            frame = _read_tsv(run.data, sep, fields, run.first_line, empty_is_null=True)
            if frame is not None and _tsv_frame_clean(frame, fields, run, ctx):
                return frame.drop(_EXTRA)
        return self._parse_line_by_line(ctx, header, run)

    @staticmethod
    def _parse_line_by_line(ctx: LoadContext, header: ZeekHeader, run: Run) -> pl.DataFrame:
        fields = header.fields
        sep = header.separator
        sep_b = sep.encode("utf-8")
        good: list[list[str]] = []
        numbers: list[int] = []
        limit = ctx.options.max_line_bytes
        for i, line in enumerate(_lines_of(run)):
            line_no = run.first_line + i
            if line.endswith(b"\r"):
                line = line[:-1]
            if _count_blank(ctx, line):
                continue
            if len(line) > limit:
                ctx.reject(line_no, f"line is {len(line)} bytes, over the limit of {limit}", line)
                continue
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                ctx.reject(line_no, f"not valid UTF-8 at byte {exc.start}", line)
                continue
            found = line.count(sep_b) + 1
            if found != len(fields):
                ctx.reject(line_no, f"expected {len(fields)} columns, found {found}", line)
                continue
            good.append(text.split(sep))
            numbers.append(line_no)
        frame = pl.DataFrame(
            good, schema={f: pl.String for f in fields}, orient="row"
        ) if good else pl.DataFrame(schema={f: pl.String for f in fields})
        return frame.with_columns(pl.Series(_LINE, numbers, dtype=pl.Int64))


def _header_problem(header: ZeekHeader | None) -> str | None:
    if header is None or not header.fields:
        return "data line before any #fields header"
    if len(header.types) != len(header.fields):
        return (f"#fields ({len(header.fields)}) and #types ({len(header.types)}) "
                "disagree in length")
    if len(set(header.fields)) != len(header.fields):
        return "#fields names a column twice"
    return None


def _read_tsv(
    data: bytes, sep: str, fields: list[str], first_line: int, *, empty_is_null: bool
) -> pl.DataFrame | None:
    cols = [*fields, _EXTRA]
    try:
        frame = pl.read_csv(
            data,
            has_header=False,
            separator=sep,
            quote_char=None,
            schema={c: pl.String for c in cols},
            missing_columns="insert",
            truncate_ragged_lines=True,
            empty_string_is_null=empty_is_null,
            encoding="utf8",
            row_index_name=_LINE,
            row_index_offset=first_line,
            raise_if_empty=False,
        )
    except (pl.exceptions.ComputeError, pl.exceptions.SchemaError, OverflowError):
        return None
    return frame.with_columns(pl.col(_LINE).cast(pl.Int64))


def _tsv_frame_clean(frame: pl.DataFrame, fields: list[str], run: Run, ctx: LoadContext) -> bool:
    """The bulk parse is exact when no line was ragged, empty-celled, or over-long."""
    if frame.height != run.n_lines:
        return False
    if frame[_EXTRA].null_count() != frame.height:
        return False
    if any(frame[f].null_count() for f in fields):
        return False
    if len(run.data) > ctx.options.max_line_bytes:
        widths = frame.select(
            pl.sum_horizontal([pl.col(f).str.len_bytes() for f in fields]).max()
        ).item()
        if widths + len(fields) - 1 > ctx.options.max_line_bytes:
            return False
    return True


def _convert_tsv(
    ctx: LoadContext, header: ZeekHeader, raw: pl.DataFrame, *, escapes: bool = True
) -> pl.DataFrame:
    """Typed columns; rows with a value that does not fit its Zeek type become rejects.

    Two passes: a cheap conversion of every row, then a careful one (scientific-notation
    times, masked times, the reason for a reject) of only the rows the first pass could
    not convert, which in a healthy log is none.
    """
    specs = list(zip(header.fields, header.types, strict=True))
    marks = (header.unset_field, header.empty_field)
    fast = [
        zt.from_text(pl.col(f), t, *marks, header.set_separator, fast=True)
        .alias(zt.column_name(f))
        for f, t in specs
    ]
    missed = [
        zt.failed(pl.col(f), e, t, *marks, masked_ok=False) for (f, t), e in zip(specs, fast,
                                                                               strict=True)
    ]
    typed = raw.with_columns(pl.any_horizontal(missed).alias("__missed")).select(
        pl.col(_LINE), *fast, pl.col("__missed"))
    if typed["__missed"].any():
        typed = _convert_careful(ctx, header, raw, typed)
    typed = typed.drop("__missed")
    return _decode_escaped_cells(typed, backslash=True) if escapes else typed


def _convert_careful(
    ctx: LoadContext, header: ZeekHeader, raw: pl.DataFrame, typed: pl.DataFrame
) -> pl.DataFrame:
    """Second pass over the rows the cheap pass missed: convert them, or reject with a reason."""
    marks = (header.unset_field, header.empty_field)
    subset = raw.filter(typed["__missed"])
    exprs, failures = [], []
    for field, ztype in zip(header.fields, header.types, strict=True):
        col = pl.col(field)
        conv = zt.from_text(col, ztype, *marks, header.set_separator)
        exprs.append(conv.alias(zt.column_name(field)))
        bad = zt.failed(col, conv, ztype, *marks)
        failures.append(
            pl.when(bad).then(pl.format("column {}: {} is not a valid " + ztype, pl.lit(field),
                                        col.str.slice(0, 80)))
        )
    redone = subset.select(pl.col(_LINE), *exprs, pl.coalesce(failures).alias("__reason"))
    _note_masked_times(ctx, header, subset)
    bad_rows = redone.filter(pl.col("__reason").is_not_null())
    if bad_rows.height:
        lines = subset.filter(pl.col(_LINE).is_in(bad_rows[_LINE].implode())).select(
            pl.col(_LINE), pl.concat_str(header.fields, separator=header.separator).alias("raw")
        )
        reasons = dict(zip(bad_rows[_LINE].to_list(), bad_rows["__reason"].to_list(), strict=True))
        for line_no, text in lines.iter_rows():
            ctx.reject(line_no, reasons[line_no], text)
    fixed = redone.filter(pl.col("__reason").is_null()).drop("__reason").with_columns(
        pl.lit(False).alias("__missed"))
    kept = typed.filter(~pl.col("__missed"))
    return pl.concat([kept, fixed.select(kept.columns).cast(kept.schema)]).sort(_LINE)


def _note_masked_times(ctx: LoadContext, header: ZeekHeader, raw: pl.DataFrame) -> None:
    for field, ztype in zip(header.fields, header.types, strict=True):
        if zt.split_container(ztype)[1] != "time":
            continue
        masked = raw.select(pl.col(field).str.starts_with("X").sum()).item()
        if masked:
            ctx.note(
                f"{masked} values of {field} are masked (XXXXXXXXXX.XXXXXX, as in Zeek test "
                "baselines) and stored as NULL"
            )


def _store_all(ctx: LoadContext, frames: Iterator[tuple[str, pl.DataFrame]]) -> None:
    """Insert consecutive frames of one table and schema as one streamed statement."""
    pending = _Peek(frames)
    while (head := pending.peek()) is not None:
        table, first = head
        _store(ctx, table, _same_kind(pending, table, first.schema))
        ctx.flush_rejects()


def _store(ctx: LoadContext, table: str, frames: Iterator[pl.DataFrame] | pl.DataFrame) -> None:
    """Create or widen the table to fit, cast each frame to the table's types, insert."""
    frames = iter([frames]) if isinstance(frames, pl.DataFrame) else iter(frames)
    first = next(frames, None)
    if first is None:
        return
    wanted = {name: _ddb_of(dtype) for name, dtype in first.schema.items() if name != _LINE}
    actual = ctx.ensure_table(table, wanted)
    casts = [
        pl.col(name).cast(zt.polars_type(actual[name]))
        for name in wanted
        if actual[name] != wanted[name]
    ]

    def cast_all() -> Iterator[pl.DataFrame]:
        for frame in (first, *frames):
            yield frame.with_columns(casts) if casts else frame

    ctx.insert_stream(table, cast_all())


class _Peek:
    """An iterator that can look one item ahead."""

    _EMPTY = object()

    def __init__(self, items: Iterator[tuple[str, pl.DataFrame]]) -> None:
        self._items = items
        self._next: object = self._EMPTY

    def peek(self) -> tuple[str, pl.DataFrame] | None:
        if self._next is self._EMPTY:
            self._next = next(self._items, None)
        return self._next  # type: ignore[return-value]

    def take(self) -> tuple[str, pl.DataFrame] | None:
        item = self.peek()
        self._next = self._EMPTY
        return item


def _same_kind(pending: _Peek, table: str, schema: pl.Schema) -> Iterator[pl.DataFrame]:
    while (item := pending.peek()) is not None and item[0] == table and item[1].schema == schema:
        pending.take()
        yield item[1]


def _ddb_of(dtype: pl.DataType) -> str:
    if isinstance(dtype, pl.List):
        return _ddb_of(dtype.inner) + "[]"
    mapping: list[tuple[pl.DataType, str]] = [
        (pl.Datetime("us", "UTC"), "TIMESTAMPTZ"),
        (pl.Float64(), "DOUBLE"),
        (pl.UInt64(), "UBIGINT"),
        (pl.Int64(), "BIGINT"),
        (pl.Int32(), "INTEGER"),
        (pl.Boolean(), "BOOLEAN"),
    ]
    for pdt, ddb in mapping:
        if dtype == pdt:
            return ddb
    return "VARCHAR"


# ---------------------------------------------------------------------------------------
# JSON
# ---------------------------------------------------------------------------------------

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
        _store_all(ctx, prefetch(self._frames(ctx)))

    def _frames(self, ctx: LoadContext) -> Iterator[tuple[str, pl.DataFrame]]:
        for block in iter_blocks(ctx.path):
            ctx.lines_read += block.n_lines
            intact = _damaged_tail(ctx, block)
            if intact is None:
                continue
            # read_ndjson skips blank lines, so a blank line shows up as a row count that
            # does not match and the careful path (which counts blanks) takes the block
            run = Run(intact.data, intact.first_line, intact.n_lines, special=False)
            frame, order, raw_line = self._parse(ctx, run)
            if frame.height:
                yield from self._by_path(ctx, frame, order, raw_line)

    def _parse(
        self, ctx: LoadContext, run: Run
    ) -> tuple[pl.DataFrame, list[str], Callable[[int], bytes]]:
        first_keys = _first_keys(run.data)
        lines_cache: list[bytes] = []

        def raw_line(line_no: int) -> bytes:
            if not lines_cache:
                lines_cache.extend(_lines_of(run))
            return lines_cache[line_no - run.first_line]

        if b"\r" not in run.data and len(run.data) <= ctx.options.max_line_bytes * run.n_lines:
            frame = _read_ndjson(run.data)
            if frame is not None and frame.height == run.n_lines:
                frame = frame.with_row_index(_LINE, offset=run.first_line).with_columns(
                    pl.col(_LINE).cast(pl.Int64)
                )
                if not _has_long_line(run, ctx):
                    return frame, first_keys, raw_line
        good: list[bytes] = []
        numbers: list[int] = []
        limit = ctx.options.max_line_bytes
        for i, line in enumerate(_lines_of(run)):
            line_no = run.first_line + i
            line = line.rstrip(b"\r")
            if _count_blank(ctx, line):
                continue
            if len(line) > limit:
                ctx.reject(line_no, f"line is {len(line)} bytes, over the limit of {limit}", line)
                continue
            try:
                obj = json.loads(line)
            except UnicodeDecodeError as exc:
                ctx.reject(line_no, f"not valid UTF-8 at byte {exc.start}", line)
                continue
            except ValueError as exc:
                ctx.reject(line_no, f"not valid JSON: {exc}", line)
                continue
            if not isinstance(obj, dict):
                ctx.reject(line_no, f"a JSON {type(obj).__name__}, not an object", line)
                continue
            good.append(line)
            numbers.append(line_no)
        frame = _read_ndjson(b"\n".join(good)) if good else pl.DataFrame()
        if frame is None:  # mixed nested shapes polars cannot unify: text columns
            frame = pl.DataFrame([_flat_text(json.loads(g)) for g in good])
        if frame.height:
            frame = frame.with_columns(pl.Series(_LINE, numbers, dtype=pl.Int64))
        return frame, first_keys, lambda n: dict(zip(numbers, good, strict=True))[n]

    def _by_path(
        self, ctx: LoadContext, frame: pl.DataFrame, order: list[str],
        raw_line: Callable[[int], bytes],
    ) -> Iterator[tuple[str, pl.DataFrame]]:
        fallback = (
            ctx.options.zeek_path
            or path_from_filename(ctx.path)
            or path_from_fields([c for c in frame.columns if c != _LINE])
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
                                or c == _LINE])
            typed = _convert_json(ctx, str(path), part, raw_line)
            if typed.height:
                columns = _column_order(str(path), order, typed.columns)
                yield table_for(str(path)), typed.select(columns)


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
        if name in present and name not in out and name != _LINE:
            out.append(name)
    return [*out, _LINE]


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
    if frame is not None and _all_keys_parsed(data, frame):
        return frame
    try:
        return pl.read_ndjson(data, infer_schema_length=None)
    except Exception:
        return None


def _all_keys_parsed(data: bytes, frame: pl.DataFrame) -> bool:
    in_text = data.count(b'":')
    nulls = data.count(b"null")  # a string containing "null" only forces the slow path
    parsed = sum(frame.height - frame[c].null_count() for c in frame.columns)
    return in_text == parsed + nulls


def _has_long_line(run: Run, ctx: LoadContext) -> bool:
    """Any line longer than the limit? One vectorised pass over the newline positions."""
    limit = ctx.options.max_line_bytes
    if len(run.data) <= limit:
        return False
    import numpy as np

    ends = np.flatnonzero(np.frombuffer(run.data, dtype=np.uint8) == 10)
    bounds = np.concatenate(([-1], ends, [len(run.data)]))
    return bool((np.diff(bounds) - 1).max() > limit)


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
    exprs = []
    failures = []
    for name, dtype in frame.schema.items():
        if name == _LINE:
            continue
        col = pl.col(name)
        if isinstance(dtype, pl.Struct):
            exprs.append(col.struct.json_encode().alias(zt.column_name(name)))
            continue
        if dtype == pl.Null:
            exprs.append(col.cast(pl.String).alias(zt.column_name(name)))
            continue
        ztype = _json_zeek_type(path, name, dtype)
        if ztype is None:
            exprs.append(col.alias(zt.column_name(name)))
            continue
        kind, inner = zt.split_container(ztype)
        target = zt.polars_type(zt.duckdb_type(ztype))
        if inner == "time" and kind is None:
            conv = _json_time(col, dtype)
        elif inner == "time":
            conv = col.list.eval(_json_time(pl.element(), dtype.inner)).cast(target)  # type: ignore[union-attr]
        elif target == pl.Boolean and dtype != pl.Boolean:
            conv = col.cast(pl.String).replace_strict(
                {"true": True, "T": True, "false": False, "F": False}, default=None,
                return_dtype=pl.Boolean)
        else:
            conv = col.cast(target, strict=False)
        exprs.append(conv.alias(zt.column_name(name)))
        if kind is None:
            bad = col.is_not_null() & conv.is_null()
        else:
            bad = col.is_not_null() & (
                conv.is_null() | conv.list.eval(pl.element().is_null()).list.any()
            )
        shown = pl.lit("a list") if isinstance(dtype, pl.List) else (
            col.cast(pl.String).str.slice(0, 80))
        failures.append(
            pl.when(bad).then(pl.format("field {}: {} is not a valid " + ztype, pl.lit(name),
                                        shown))
        )
    reason = pl.coalesce(failures) if failures else pl.lit(None, dtype=pl.String)
    typed = frame.select(pl.col(_LINE), *exprs, reason.alias("__reason"))
    bad_rows = typed.filter(pl.col("__reason").is_not_null())
    for line_no, why in bad_rows.select(_LINE, "__reason").iter_rows():
        ctx.reject(line_no, why, raw_line(line_no))
    typed = typed.filter(pl.col("__reason").is_null()).drop("__reason")
    return _decode_escaped_cells(typed, backslash=False)
