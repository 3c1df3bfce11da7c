"""Reading billing CSV exports as numbered records, fast when the file is clean.

Billing exports are RFC 4180 CSV with a header line: quoted fields, doubled quotes, and
now and then a quoted field holding a newline (descriptions, JSON tags). Every row must
keep the physical line its record starts on, so the reader works a block of whole lines
at a time (`iter_blocks`) and:

- fast path: pyarrow's multi-threaded CSV parser takes the whole block as text columns,
  empty fields and null tokens already null (`_arrow_table`: cheap chunk cuts first, the
  UTF-8 check only for non-ASCII blocks). When no row was ragged, a record's start line is
  the block's first line plus the lines used by the records before it (1 + the newlines
  inside its quoted fields), so quoted newlines cost one vectorised count, not a Python
  loop. A block whose quote count is odd ends inside a quoted field and is joined to the
  next one before parsing.
- careful path, only for a block the bulk parse found fault with (a ragged row, invalid
  UTF-8, an unterminated quote, a row with no values): Python's `csv` module reads it
  record by record, so each bad line becomes a reject with its number and reason and the
  good records around it still load. A broken multi-line record rejects only its first
  line; reading starts again on the next line, so one stray quote cannot swallow the file.
  A record still open at the end of a block that more blocks follow is not judged there:
  its lines are carried into the next block (`CARRY_LIMIT`). Blocks are joined by quote
  parity, which a stray quote upsets, so a block can end inside a good multi-line record;
  judged at the block's end, that record became rejects and fragments, and what a file
  stored depended on where its blocks happened to end.

Counting: a record spanning several physical lines gives one row, so `lines_read` counts
CSV records (physical lines minus continuation lines); the loader says so in a note.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv

from forensics.loaders.base import LoadContext
from forensics.loaders.reading import Block, iter_blocks
from forensics.loaders.sieve import damaged_tail as _damaged_tail

LINE = "line_no"
BOM = b"\xef\xbb\xbf"
_MERGE_LIMIT = 256 << 20  # stop joining odd-quote blocks past this: a stray quote, not a field
ARROW_BLOCK = 4 << 20  # pyarrow's parallel chunk size within one block
# Blocks smaller than reading's 32 MiB: a ~700-byte FOCUS row is a dozen polars and pyarrow
# copies while it is converted, and the loader keeps a few blocks in flight (prefetch), so
# 8 MiB blocks take a 1M-row load's peak memory down by a few hundred MB at no cost in time.
BLOCK_BYTES = 8 << 20
# The most text a record still open at a block's end may carry into the next block. A good
# record is far smaller; an open quote with no closing one in sight is a stray quote, and
# carrying it on would re-read the rest of the file once per block.
CARRY_LIMIT = 1 << 20


class UnusableFile(ValueError):
    """The file cannot be read as a table at all (no header line)."""


def parse_header(line: bytes) -> list[str]:
    """Column names from the header line (BOM and CR removed, duplicates made unique)."""
    text = line.removeprefix(BOM).rstrip(b"\r").decode("utf-8", errors="replace")
    try:
        names = next(csv.reader([text], strict=True))
    except (csv.Error, StopIteration) as exc:
        raise UnusableFile(f"header line is not valid CSV: {exc}") from None
    out: list[str] = []
    for name in names:
        name = name.strip()
        base, n = name, 2
        while name in out or name == LINE:
            name, n = f"{base}__{n}", n + 1
        out.append(name)
    return out


def head_columns(head: bytes) -> list[str]:
    """Header names from the first 64 KiB, for sniffing; [] when it is not CSV-like."""
    end = head.find(b"\n")
    first = head if end < 0 else head[:end]
    if not first.strip() or b"," not in first:
        return []
    try:
        return parse_header(first)
    except UnusableFile:
        return []


@dataclass
class Records:
    """Good records of one block as text columns (+ line_no), and their raw lines."""

    frame: pl.DataFrame
    raw: Callable[[int], bytes]


def read_records(ctx: LoadContext, null_tokens: tuple[str, ...] = ()) -> tuple[
        list[str], Iterator[Records]]:
    """The header and an iterator of record blocks; counts header, blank and bad lines.

    Empty fields (and `null_tokens`, such as FOCUS's literal NULL) become nulls.
    """
    blocks = iter_blocks(ctx.path, BLOCK_BYTES)
    first = next(blocks, None)
    if first is None:
        return [], iter(())
    ctx.lines_read += first.n_lines
    cut = first.data.find(b"\n")
    header_line = first.data if cut < 0 else first.data[:cut]
    if first.damage is not None and cut < 0:
        ctx.reject(1, f"{first.damage}; this line is the incomplete text before the damage",
                   header_line)
        return [], iter(())
    header = parse_header(header_line)
    ctx.header_lines += 1
    if cut >= 0:
        rest: Block | None = Block(first.data[cut + 1:], 2, first.n_lines - 1, first.damage)
    else:  # the first block held the header line alone
        rest = next(blocks, None)
        if rest is not None:
            ctx.lines_read += rest.n_lines

    def gen() -> Iterator[Records]:
        continuation = 0
        cuts = [False, True]  # pyarrow's chunking: cheap, then quote-aware (_arrow_table)
        pending: Block | None = rest
        stream = iter(blocks)
        while pending is not None:
            block = pending
            pending = next(stream, None)
            if pending is not None:
                ctx.lines_read += pending.n_lines
            # A block ending inside a quoted field is joined with the next one.
            while (pending is not None and block.data.count(b'"') % 2
                   and len(block.data) < _MERGE_LIMIT):
                block = Block(block.data + b"\n" + pending.data, block.first_line,
                              block.n_lines + pending.n_lines, pending.damage)
                pending = next(stream, None)
                if pending is not None:
                    ctx.lines_read += pending.n_lines
            block = _damaged_tail(ctx, block)
            if block is None:
                continue
            recs, cont, carry = _parse_block(ctx, header, block, cuts, null_tokens,
                                             more=pending is not None)
            continuation += cont
            if carry is not None and pending is not None:  # (already counted in lines_read)
                pending = Block(carry.data + b"\n" + pending.data, carry.first_line,
                                carry.n_lines + pending.n_lines, pending.damage)
            if recs is not None and recs.frame.height:
                yield recs
        if continuation:
            ctx.lines_read -= continuation
            ctx.note(f"{continuation} continuation lines belong to records with quoted "
                     "newlines; lines_read counts CSV records, line_no is the line each "
                     "record starts on")

    return header, gen()




def _nulls(frame: pl.DataFrame, header: list[str], tokens: tuple[str, ...]) -> pl.DataFrame:
    bad = ["", *tokens]
    return frame.with_columns(
        pl.when(pl.col(c).is_in(bad)).then(None).otherwise(pl.col(c)).alias(c) for c in header
    )


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


def _parse_block(ctx: LoadContext, header: list[str], block: Block, cuts: list[bool],
                 tokens: tuple[str, ...], more: bool = False
                 ) -> tuple[Records | None, int, Block | None]:
    """(records, continuation lines, lines to carry into the next block) for one block;
    fast path first. Empty fields and `tokens` are nulls in the records. `more`: another
    block follows, so a record still open at this one's end is carried, not judged."""
    if block.n_lines == 1 and block.data.strip(b" \t\r") == b"":
        ctx.blank_lines += 1
        return None, 0, None
    fast = _fast(ctx, header, block, cuts, tokens)
    if fast is not None:
        return (*fast, None)
    recs, cont, carry = _careful(ctx, header, block, more)
    return ((Records(_nulls(recs.frame, header, tokens), recs.raw) if recs else None), cont,
            carry)


def _arrow_table(header: list[str], data: bytes, cuts: list[bool],
                 nulls: tuple[str, ...] | None) -> pa.Table | None:
    """The block as text columns, or None when pyarrow finds fault with it (a ragged row,
    invalid UTF-8, an unterminated quote).

    pyarrow cuts its input into chunks it parses in parallel. Cutting at any newline is a
    third cheaper than cutting only outside quotes (`newlines_in_values`), and a cut inside
    a quoted field is not silent: the parser ends that chunk out of step with the cut and
    pyarrow raises. So the cheap cut is tried first, and any failure is retried with the
    quote-aware cut, which is what decides; where both succeed they parse the same records.
    `cuts` is the file's order of tries: once the cheap cut has failed where the careful one
    worked (the file has quoted newlines), the careful one is used alone.

    pyarrow's UTF-8 check of every string is a tenth of the parse; ASCII text (the usual
    export) is valid UTF-8, and `bytes.isascii` says so for the whole block at memory speed.
    `nulls`: the field values pyarrow makes null (quoted or not), or None for none at all.
    """
    check_utf8 = not data.isascii()
    for newlines in tuple(cuts):
        ragged: list[int] = []

        def on_invalid(row: object, ragged: list[int] = ragged) -> str:
            ragged.append(1)
            return "skip"

        try:
            table = pacsv.read_csv(
                pa.py_buffer(data),
                read_options=pacsv.ReadOptions(column_names=header, block_size=ARROW_BLOCK),
                parse_options=pacsv.ParseOptions(newlines_in_values=newlines,
                                                 invalid_row_handler=on_invalid,
                                                 ignore_empty_lines=False),
                convert_options=pacsv.ConvertOptions(
                    column_types={c: pa.string() for c in header},
                    strings_can_be_null=nulls is not None,
                    quoted_strings_can_be_null=nulls is not None,
                    null_values=list(nulls or ()), check_utf8=check_utf8),
            )
        except (pa.ArrowInvalid, pa.ArrowException):
            continue
        if newlines and len(cuts) > 1:
            cuts.remove(False)
        return None if ragged else table
    return None


def _fast(ctx: LoadContext, header: list[str], block: Block, cuts: list[bool],
          tokens: tuple[str, ...]) -> tuple[Records, int] | None:
    table = _arrow_table(header, block.data, cuts, ("", *tokens))
    if table is None:
        return None
    frame = pl.from_arrow(table, rechunk=False)  # pyarrow's chunks as they are: no copy
    assert isinstance(frame, pl.DataFrame)
    if frame.height == block.n_lines:
        frame = frame.with_columns(
            pl.int_range(block.first_line, block.first_line + frame.height,
                         dtype=pl.Int64).alias(LINE))
        cont = 0
    else:
        spans = pl.sum_horizontal(
            pl.col(c).str.count_matches("\n", literal=True) for c in header) + 1
        frame = frame.with_columns(spans.cast(pl.Int64).alias("__span"))
        if int(frame["__span"].sum()) != block.n_lines:
            return None
        frame = frame.with_columns(
            (pl.col("__span").cum_sum() - pl.col("__span") + block.first_line).alias(LINE))
        cont = block.n_lines - frame.height
        frame = frame.drop("__span")
    lines: list[bytes] = []

    def raw(line_no: int) -> bytes:
        if not lines:
            lines.extend(_lines(block.data))
        return lines[line_no - block.first_line]

    # Rows with no value at all: a blank line, or a record of empty fields. Only rows that
    # are all null can be one; their lines are read again without nulls to tell a record of
    # empty fields (rejected) from one of null tokens (a row of nulls, as it always was).
    nothing = frame.select(pl.all_horizontal(pl.col(c).is_null() for c in header)).to_series()
    if nothing.any():
        numbers = frame.filter(nothing)[LINE].to_list()
        blank = [raw(n).strip(b" \t\r") == b"" for n in numbers]  # pyarrow: a row of ""
        texts = [raw(n) for n, b in zip(numbers, blank, strict=True) if not b]
        empty_texts = iter(_all_empty(header, texts, cuts))
        empty = [True if b else next(empty_texts) for b in blank]
        for line_no, b, e in zip(numbers, blank, empty, strict=True):
            if b:
                ctx.blank_lines += 1
            elif e:
                ctx.reject(line_no, "record has no values (every field is empty)", raw(line_no))
        if any(empty):
            dropped = [n for n, e in zip(numbers, empty, strict=True) if e]
            frame = frame.filter(~pl.col(LINE).is_in(pl.Series(dropped, dtype=pl.Int64)
                                                       .implode()))
    return Records(frame, raw), cont


def _all_empty(header: list[str], lines: list[bytes], cuts: list[bool]) -> list[bool]:
    """For each line (a whole record that parsed to all nulls): are all its fields empty?

    Parsed again the way the block was, without nulls; together when that gives one record
    per line, else one line at a time.
    """
    if not lines:
        return []
    table = _arrow_table(header, b"\n".join(lines), cuts, None)
    if table is None or table.num_rows != len(lines):
        return [_all_empty(header, [line], cuts)[0] if len(lines) > 1 else False
                for line in lines]
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame.select(pl.all_horizontal(pl.col(c) == "" for c in header)).to_series().to_list()


class _Feed:
    """Lines for csv.reader from a start index, remembering how far the reader got."""

    def __init__(self, lines: list[str], start: int) -> None:
        self.lines = lines
        self.pos = start

    def __iter__(self) -> _Feed:
        return self

    def __next__(self) -> str:
        if self.pos >= len(self.lines):
            raise StopIteration
        self.pos += 1
        return self.lines[self.pos - 1]


def _careful(ctx: LoadContext, header: list[str], block: Block, more: bool = False
             ) -> tuple[Records | None, int, Block | None]:
    """Python's csv reader, record by record; a bad record rejects its first line and
    reading restarts on the next. With `more`, a record still open at the block's end
    (at most CARRY_LIMIT bytes of it) is returned as the lines to carry instead."""
    raw_lines = _lines(block.data)
    texts: list[str] = []
    bad_utf8: set[int] = set()
    for i, line in enumerate(raw_lines):
        try:
            texts.append(line.decode("utf-8") + "\n")
        except UnicodeDecodeError:
            bad_utf8.add(i)  # the text still takes its place so indices line up
            texts.append(line.decode("utf-8", errors="replace") + "\n")
    ncols = len(header)
    rows: list[list[str]] = []
    numbers: list[int] = []
    cont = 0
    first = block.first_line
    carry: Block | None = None
    restart: int | None = 0
    while restart is not None and restart < len(texts):
        feed = _Feed(texts, restart)
        reader = csv.reader(feed, strict=True)
        restart = None
        while feed.pos < len(texts):
            start = feed.pos
            try:
                rec = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                if more and feed.pos == len(texts) and _open_at_end(raw_lines, start):
                    carry = Block(b"\n".join(raw_lines[start:]), first + start,
                                  len(raw_lines) - start, None)
                    break
                restart = _bad(ctx, first, raw_lines, start, feed.pos, f"not valid CSV: {exc}")
                break
            end = feed.pos
            if end - start == 1 and raw_lines[start].strip(b" \t\r") == b"":
                ctx.blank_lines += 1
                continue
            if any(j in bad_utf8 for j in range(start, end)):
                reason = "not valid UTF-8"
            elif len(rec) != ncols:
                reason = f"record has {len(rec)} fields, the header has {ncols}"
            elif all(v == "" for v in rec):
                reason = "record has no values (every field is empty)"
            else:
                rows.append(rec)
                numbers.append(first + start)
                cont += end - start - 1
                continue
            if end - start == 1:
                ctx.reject(first + start, reason, raw_lines[start])
                continue
            restart = _bad(ctx, first, raw_lines, start, end, reason)
            break
    frame = pl.DataFrame(rows, schema={c: pl.String for c in header}, orient="row")
    frame = frame.with_columns(pl.Series(LINE, numbers, dtype=pl.Int64))

    def raw(line_no: int) -> bytes:
        return raw_lines[line_no - first]

    return Records(frame, raw), cont, carry


def _open_at_end(raw_lines: list[bytes], start: int) -> bool:
    """Did the record from `start` run to the end of the lines with a quote still open (an
    odd number of quotes), and is it small enough (CARRY_LIMIT) to be a record?"""
    tail = raw_lines[start:]
    size = sum(len(line) + 1 for line in tail)
    return size <= CARRY_LIMIT and sum(line.count(b'"') for line in tail) % 2 == 1


def _bad(ctx: LoadContext, first: int, raw_lines: list[bytes], start: int, end: int,
         reason: str) -> int:
    """Reject the first line of a bad record; reading restarts on the line after it.

    A record that ran over several lines may be a stray quote that swallowed good lines,
    so only its first line is rejected and the lines after it are read again on their own.
    """
    if end - start > 1:
        reason += (f" (the record starting here ran over {end - start} lines; the lines "
                   "after it are read again on their own)")
    ctx.reject(first + start, reason, raw_lines[start])
    return start + 1
