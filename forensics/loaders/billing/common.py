"""What every billing CSV format shares: header-based sniffing and the load loop.

The load is a pipeline: a thread reads, parses and converts the next blocks (`prefetch`)
while DuckDB writes the converted rows, streamed into one INSERT statement per million
rows. (Statements were once 50k rows: `insert_stream` used to collect a statement's whole
input before DuckDB saw a row, and small statements were what kept memory down then.)
"""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl

from forensics.loaders.base import LoadContext
from forensics.loaders.billing.convert import Rows
from forensics.loaders.billing.csvread import Records, head_columns, read_records
from forensics.loaders.reading import ordered_map, prefetch

TABLE = "billing_items"
# Rows per streamed INSERT: DuckDB pays per statement, and a statement streams its input
# (1M FOCUS rows as one: 1 CPU-s less than in 50k-row statements, 60 MB more RSS).
STREAM_ROWS = 1_000_000

MONEY_NOTE = ("money and quantities are DECIMAL(38,10), parsed exactly from the text "
              "(scientific notation included); digits past the 10th decimal place are "
              "rounded half to even")


class CsvBilling:
    """Base for the CSV billing formats: a subclass gives `score` and `build`."""

    name = "billing-csv"
    family = "billing"
    description = ""
    null_tokens: tuple[str, ...] = ()

    def score(self, columns: set[str]) -> float:
        raise NotImplementedError

    def build(self, rows: Rows) -> None:
        raise NotImplementedError

    def sniff(self, path: str, head: bytes) -> float:
        columns = head_columns(head)
        if len(columns) < 5:
            return 0.0
        return self.score(set(columns))

    def notes(self, ctx: LoadContext, header: list[str]) -> None:
        """Per-file notes from the header (variant, assumptions); optional."""

    def load(self, ctx: LoadContext) -> None:
        header, records = read_records(ctx, self.null_tokens)
        if header:
            self.notes(ctx, header)
            ctx.note(MONEY_NOTE)

        def convert(rec: Records) -> tuple[LoadContext, pl.DataFrame]:
            part = ctx.fork()  # a worker thread: rejects and notes of its own
            rows = Rows(part, rec.frame)
            self.build(rows)
            return part, rows.typed(rec.raw)

        def typed() -> Iterator[pl.DataFrame]:
            # Reading stays in order in this thread; two blocks convert at once (polars
            # releases the GIL), each block's rejects and notes added in block order.
            for part, frame in ordered_map(convert, records):
                ctx.absorb(part)
                if frame.height:
                    yield frame

        store(ctx, prefetch(typed()))


def store(ctx: LoadContext, frames: Iterator[pl.DataFrame]) -> None:
    """Insert converted frames as streamed statements of about STREAM_ROWS rows each.

    Frames of one file share their columns; a frame whose column types differ from the
    statement's first frame (a block that only had nulls in a column) starts a new one.
    """
    pending: pl.DataFrame | None = next(frames, None)
    while pending is not None:
        first: pl.DataFrame = pending
        pending = None

        def statement(first: pl.DataFrame = first) -> Iterator[pl.DataFrame]:
            nonlocal pending
            rows = first.height
            yield first
            for frame in frames:
                if frame.schema != first.schema or rows >= STREAM_ROWS:
                    pending = frame
                    return
                rows += frame.height
                yield frame

        ctx.insert_stream(TABLE, statement())
        ctx.flush_rejects()


def lower_set(columns: set[str]) -> set[str]:
    return {c.lower() for c in columns}
