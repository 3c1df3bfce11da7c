"""Zeek's default ASCII (TSV) writer into `zeek_<path>` tables.

The header block (`#separator`, `#set_separator`, `#empty_field`, `#unset_field`, `#path`,
`#fields`, `#types`) is read with parsezeeklogs' `ZeekHeader`, so separators and markers
follow Zeek's own semantics; the data lines go to polars' CSV reader a whole block at a time,
as text, and are converted by vectorised expressions (`zeek_types`). A new header block
mid-file (concatenated or rotated logs) switches the schema from that line on.

Fast path first, careful path second: a block is parsed in bulk, and only if the bulk parse
says something is off (a header or blank line inside, ragged lines, invalid UTF-8, an
over-long line) are that block's lines checked one by one, so that each bad line becomes a
reject with its line number and the good lines around it still load.
"""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl
from parsezeeklogs import ZeekHeader

from forensics.loaders import zeek_types as zt
from forensics.loaders.base import LoadContext
from forensics.loaders.reading import (
    Block,
    Run,
    has_long_line,
    iter_blocks,
    prefetch,
    split_runs,
)
from forensics.loaders.zeek_common import (
    LINE,
    checked_lines,
    count_blank,
    damaged_tail,
    decode_escaped_cells,
    lines_of,
    store_all,
)
from forensics.loaders.zeek_paths import path_from_filename, stem_path, table_for

_EXTRA = "__extra_field__"


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
        store_all(ctx, prefetch(self._frames(ctx)))

    def _frames(self, ctx: LoadContext) -> Iterator[tuple[str, pl.DataFrame]]:
        """Typed frames, a block at a time, in a background thread (no database access)."""
        header: ZeekHeader | None = None
        for block in iter_blocks(ctx.path):
            ctx.lines_read += block.n_lines
            intact = damaged_tail(ctx, block)
            if intact is None:
                continue
            if header is not None and _header_problem(header) is None:
                raw = self._parse_whole_block(ctx, header, intact)
                if raw is not None:  # the common case: a block of nothing but data lines
                    yield from self._typed(ctx, header, raw, intact.data)
                    continue
            for run in split_runs(intact, b"#"):
                if run.special:
                    if not count_blank(ctx, run.data):
                        header = self._apply_header(ctx, header, run.data)
                    continue
                yield from self._typed_run(ctx, header, run)
        _masked_notes(ctx)

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
            for i, line in enumerate(lines_of(run)):
                if not count_blank(ctx, line):
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
        for line_no, line in checked_lines(ctx, run):
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
        return frame.with_columns(pl.Series(LINE, numbers, dtype=pl.Int64))


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
            row_index_name=LINE,
            row_index_offset=first_line,
            raise_if_empty=False,
        )
    except (pl.exceptions.ComputeError, pl.exceptions.SchemaError, OverflowError):
        return None
    return frame.with_columns(pl.col(LINE).cast(pl.Int64))


def _tsv_frame_clean(frame: pl.DataFrame, fields: list[str], run: Run, ctx: LoadContext) -> bool:
    """The bulk parse is exact when no line was ragged, empty-celled, or over-long."""
    if frame.height != run.n_lines:
        return False
    if frame[_EXTRA].null_count() != frame.height:
        return False
    if any(frame[f].null_count() for f in fields):
        return False
    return not has_long_line(run.data, ctx.options.max_line_bytes)


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
    # Each conversion is computed once, under a temporary name, and the failure test reads
    # the result: eager polars shares no subexpressions, so naming the conversion inside the
    # test would compute every column twice.
    temp = [f"\x00typed{i}" for i in range(len(specs))]  # no Zeek field has a NUL
    fast = [
        zt.from_text(pl.col(f), t, *marks, header.set_separator, fast=True).alias(name)
        for (f, t), name in zip(specs, temp, strict=True)
    ]
    missed = [
        zt.failed(pl.col(f), pl.col(name), t, *marks, masked_ok=False)
        for (f, t), name in zip(specs, temp, strict=True)
    ]
    typed = raw.with_columns(fast).select(
        pl.col(LINE),
        *[pl.col(name).alias(zt.column_name(f)) for (f, _), name in zip(specs, temp,
                                                                      strict=True)],
        pl.any_horizontal(missed).alias("__missed"),
    )
    if typed["__missed"].any():
        typed = _convert_careful(ctx, header, raw, typed)
    typed = typed.drop("__missed")
    return decode_escaped_cells(typed, backslash=True) if escapes else typed


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
    redone = subset.select(pl.col(LINE), *exprs, pl.coalesce(failures).alias("__reason"))
    _note_masked_times(ctx, header, subset)
    bad_rows = redone.filter(pl.col("__reason").is_not_null())
    if bad_rows.height:
        lines = subset.filter(pl.col(LINE).is_in(bad_rows[LINE].implode())).select(
            pl.col(LINE), pl.concat_str(header.fields, separator=header.separator).alias("raw")
        )
        reasons = dict(zip(bad_rows[LINE].to_list(), bad_rows["__reason"].to_list(), strict=True))
        for line_no, text in lines.iter_rows():
            ctx.reject(line_no, reasons[line_no], text)
    fixed = redone.filter(pl.col("__reason").is_null()).drop("__reason").with_columns(
        pl.lit(False).alias("__missed"))
    kept = typed.filter(~pl.col("__missed"))
    return pl.concat([kept, fixed.select(kept.columns).cast(kept.schema)]).sort(LINE)


_MASKED = "masked:"  # ctx.tally key prefix: masked times per field, noted once per file


def _note_masked_times(ctx: LoadContext, header: ZeekHeader, raw: pl.DataFrame) -> None:
    """Count masked times per field; `_masked_notes` writes the file's totals at its end
    (a note per block gave one note per block, each with that block's count)."""
    for field, ztype in zip(header.fields, header.types, strict=True):
        if zt.split_container(ztype)[1] != "time":
            continue
        masked = raw.select(pl.col(field).str.starts_with("X").sum()).item()
        if masked:
            ctx.tally[_MASKED + field] += masked


def _masked_notes(ctx: LoadContext) -> None:
    for key, masked in ctx.tally.items():
        if key.startswith(_MASKED):
            ctx.note(f"{masked} values of {key[len(_MASKED):]} are masked (XXXXXXXXXX.XXXXXX, "
                     "as in Zeek test baselines) and stored as NULL")
