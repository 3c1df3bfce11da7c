"""What the ledger formats share: exact decimal amounts, CSV blocks, the output frame.

Amounts are never floats. Every amount starts as the text the source wrote and is turned
into DECIMAL(38,18) by string operations only: an integer in base units (wei, satoshi,
piconero) is shifted by the chain's precision (18, 8, 12 places, or a token's
`tokenDecimal`), a decimal or scientific-notation text ("6.0E-7") is re-written with its
point moved. A value the column cannot hold exactly (more than 18 decimal places that are
not zero, or more than 20 integer digits) is a reject naming the field, never a rounding.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

import polars as pl

from forensics.loaders.base import LoadContext
from forensics.loaders.reading import Run, iter_blocks, split_runs
from forensics.loaders.sieve import count_blank, damaged_tail  # noqa: F401  (re-exported)

SCALE = 18
INT_DIGITS = 38 - SCALE
AMOUNT = pl.Decimal(38, SCALE)
ENTRY = pl.Struct({"key": pl.String, "value": pl.String})
ENTRIES = pl.List(ENTRY)
LINE = "line_no"
_ZEROS = "0" * 160
_NUMBER = r"^([+-]?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]{1,3}))?$"


def exact_decimal(text: pl.Expr, shift: int | pl.Expr = 0) -> tuple[pl.Expr, pl.Expr]:
    """(DECIMAL(38,18) value, ok flag) for number text times 10**shift, exactly.

    `text` may be an integer ("1000000000000000000"), a decimal ("0.5") or scientific
    ("6.0E-7"); `shift` is -decimals for base units (wei: -18). `ok` is false when the text
    is not a number or the value does not fit DECIMAL(38,18) exactly; NULL text gives
    NULL value and ok true.
    """
    t = text.str.strip_chars()
    parts = t.str.extract_groups(_NUMBER)
    sign = parts.struct.field("1")
    int_part = parts.struct.field("2").fill_null("")
    frac = parts.struct.field("3").fill_null("")
    exp = parts.struct.field("4").cast(pl.Int64, strict=False).fill_null(0)
    digits = pl.concat_str([int_part, frac])
    n = digits.str.len_chars().cast(pl.Int64)
    pos = int_part.str.len_chars().cast(pl.Int64) + exp + shift  # where the point goes
    left = pl.max_horizontal(pl.lit(0, pl.Int64), 1 - pos)
    right = pl.max_horizontal(pl.lit(0, pl.Int64), pos - n)
    padded = pl.concat_str([pl.lit(_ZEROS).str.slice(0, left), digits,
                            pl.lit(_ZEROS).str.slice(0, right)])
    point = pos + left
    whole = padded.str.slice(0, point).str.strip_chars_start("0")
    fraction = padded.str.slice(point).str.strip_chars_end("0")
    is_number = t.str.contains(_NUMBER) & (n > 0) & (left < 150) & (right < 150)
    fits = (whole.str.len_chars() <= INT_DIGITS) & (fraction.str.len_chars() <= SCALE)
    ok = text.is_null() | (is_number & fits).fill_null(False)
    shown = pl.concat_str([
        pl.when(sign == "-").then(pl.lit("-")).otherwise(pl.lit("")),
        pl.when(whole == "").then(pl.lit("0")).otherwise(whole),
        pl.when(fraction == "").then(pl.lit("")).otherwise(pl.lit(".") + fraction),
    ])
    value = pl.when(ok & text.is_not_null()).then(shown).cast(AMOUNT)
    return value, ok


def amount_check(name: str, text: pl.Expr, ok: pl.Expr, what: str = "a decimal amount"
                 ) -> pl.Expr:
    """A reject reason for a failed `exact_decimal`, naming the field and the value."""
    return pl.when(~ok).then(pl.format(
        f"field {name}: '{{}}' is not {what} that DECIMAL(38,18) holds exactly",
        text.str.slice(0, 80)))


def entries(columns: dict[str, pl.Expr]) -> pl.Expr:
    """`extra` entries (List(Struct{key,value})) from named text expressions, nulls left out."""
    pieces = [pl.when(e.is_not_null() & (e.cast(pl.String) != "")).then(
        pl.struct(pl.lit(k).alias("key"), e.cast(pl.String).alias("value")))
        for k, e in columns.items()]
    if not pieces:
        return pl.lit([], dtype=ENTRIES)
    return pl.concat_list(pieces).list.drop_nulls()


def unix_seconds(text: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """(UTC timestamp, ok) from whole Unix seconds written as text."""
    secs = text.str.strip_chars().cast(pl.Int64, strict=False)
    ok = text.is_null() | (secs.is_not_null() & (secs >= 0) & (secs < 32503680000))
    ts = pl.when(ok).then(secs * 1_000_000).cast(pl.Datetime("us", "UTC"))
    return ts, ok


def reject_reasons(frame: pl.DataFrame, reasons: list[pl.Expr]) -> pl.DataFrame:
    return frame.with_columns(pl.coalesce(reasons).alias("__reason") if reasons
                              else pl.lit(None, pl.String).alias("__reason"))


# ---------------------------------------------------------------------------------------
# CSV files: a header line, then data lines read in bulk a block at a time
# ---------------------------------------------------------------------------------------

OVER1, OVER2 = "__over1", "__over2"


def header_fields(head: bytes) -> list[str] | None:
    """The first line of a CSV file as field names (BOM and quotes removed), or None."""
    line = head.removeprefix(b"\xef\xbb\xbf").split(b"\n", 1)[0].rstrip(b"\r")
    if not line or b"\x00" in line:
        return None
    try:
        text = line.decode("utf-8")
        row = next(csv.reader([text]))
    except (UnicodeDecodeError, csv.Error, StopIteration):
        return None
    return [f.strip() for f in row]


def read_csv_rows(ctx: LoadContext, fields: list[str],
                  handle: Callable[[pl.DataFrame, Callable[[int], bytes]], None]) -> None:
    """Read a headed CSV: count the header, pass blocks of data rows to `handle`.

    The frame handed on has one String column per header field plus `OVER1`/`OVER2`
    (fields beyond the header: OVER1 set means exactly one extra field, OVER2 set means
    two or more) and `line_no`. Rows with fewer fields than the header are rejected here.
    Empty fields are empty strings, not NULL, so "missing" and "empty" stay distinct.
    """
    names = [f"c{i}" for i in range(len(fields))]
    first = True
    for block in iter_blocks(ctx.path):
        ctx.lines_read += block.n_lines
        intact = damaged_tail(ctx, block)
        if intact is None:
            continue
        for run in split_runs(intact, None):
            if run.special:
                count_blank(ctx, run.data)
                continue
            if first:
                first = False
                ctx.header_lines += 1
                if run.n_lines == 1:
                    continue
                cut = run.data.index(b"\n")
                run = Run(run.data[cut + 1:], run.first_line + 1, run.n_lines - 1, False)
            frame, raw_line = _parse_run(ctx, run, names)
            if frame.height:
                handle(frame.rename(dict(zip(names, fields, strict=True))), raw_line)


def _parse_run(ctx: LoadContext, run: Run, names: list[str]
               ) -> tuple[pl.DataFrame, Callable[[int], bytes]]:
    lines: list[bytes] = []

    def raw_line(line_no: int) -> bytes:
        if not lines:
            lines.extend(run.data.split(b"\n"))
        return lines[line_no - run.first_line]

    cols = [*names, OVER1, OVER2]
    counts = _field_counts(run.data) if b"\r" not in run.data else None
    if counts is not None and len(run.data) < (1 << 31):
        try:
            frame = pl.read_csv(
                run.data, has_header=False, schema={c: pl.String for c in cols},
                missing_columns="insert", truncate_ragged_lines=True, quote_char='"',
                empty_string_is_null=False, encoding="utf8", raise_if_empty=False,
            )
        except Exception:  # the careful path decides what exactly is wrong
            frame = None
        if frame is not None and frame.height == run.n_lines == counts.len():
            n = len(names)
            frame = frame.with_columns(
                pl.int_range(run.first_line, run.first_line + run.n_lines,
                             dtype=pl.Int64).alias(LINE),
                counts.alias("__n"),
            ).with_columns(
                pl.when(pl.col("__n") > n).then(pl.col(OVER1)).alias(OVER1),
                pl.when(pl.col("__n") > n + 1).then(pl.col(OVER2)).alias(OVER2),
            )
            short = frame.filter(pl.col("__n") < n)
            for line_no, found in short.select(LINE, "__n").iter_rows():
                ctx.reject(line_no, f"expected {n} columns, found {found} (truncated line?)",
                           raw_line(line_no))
            return frame.filter(pl.col("__n") >= n).drop("__n"), raw_line
    return _careful(ctx, run, names), raw_line


_QUOTED = r'"(?:[^"]|"")*"'


def _field_counts(data: bytes) -> pl.Series | None:
    """Fields per line (commas outside quotes + 1), or None when quoting is unbalanced,
    a line is blank-looking, or the bytes are not UTF-8: the careful path then decides."""
    try:
        lines = pl.Series(data.decode("utf-8").split("\n"))
    except UnicodeDecodeError:
        return None
    bare = lines.str.replace_all(_QUOTED, "")
    if bare.str.contains('"', literal=True).any() or (lines.str.strip_chars() == "").any():
        return None
    return (bare.str.count_matches(",", literal=True) + 1).cast(pl.Int64)


def _careful(ctx: LoadContext, run: Run, names: list[str]) -> pl.DataFrame:
    """One line at a time: wrong field counts and undecodable lines become rejects."""
    good: list[list[str | None]] = []
    numbers: list[int] = []
    n = len(names)
    for i, raw in enumerate(run.data.split(b"\n")):
        line_no = run.first_line + i
        line = raw.removesuffix(b"\r")
        if count_blank(ctx, line):
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            ctx.reject(line_no, f"not valid UTF-8 at byte {exc.start}", raw)
            continue
        try:
            row = next(csv.reader(io.StringIO(text), strict=True))
        except (csv.Error, StopIteration) as exc:
            ctx.reject(line_no, f"not a valid CSV line: {exc}", raw)
            continue
        if len(row) < n:
            ctx.reject(line_no, f"expected {n} columns, found {len(row)} (truncated line?)", raw)
            continue
        extra = row[n:]
        cells: list[str | None] = [*row[:n], extra[0] if extra else None,
                                   ",".join(extra[1:]) if len(extra) > 1 else None]
        good.append(cells)
        numbers.append(line_no)
    cols = [*names, OVER1, OVER2]
    frame = pl.DataFrame(good, schema={c: pl.String for c in cols}, orient="row") if good \
        else pl.DataFrame(schema={c: pl.String for c in cols})
    return frame.with_columns(pl.Series(LINE, numbers, dtype=pl.Int64))






def store(ctx: LoadContext, frame: pl.DataFrame, raw_line: Callable[[int], bytes],
          columns: list[pl.Expr]) -> None:
    """Reject rows with a `__reason`, insert the rest as `columns` into ledger_transfers."""
    bad = frame.filter(pl.col("__reason").is_not_null())
    for line_no, why in bad.select(LINE, "__reason").iter_rows():
        ctx.reject(line_no, why, raw_line(line_no))
    good = frame.filter(pl.col("__reason").is_null())
    if good.height:
        ctx.insert("ledger_transfers", good.select(pl.col(LINE), *columns))
