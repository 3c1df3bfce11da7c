"""What every loader is given (a `LoadContext`) and what it must be (a `Format`).

A format is a small object: a name, the family and tables it fills, a `sniff` that says how
sure it is that a file is its own from the first bytes, and a `load` that writes rows into
the case through the context. The context owns the bookkeeping every loader would otherwise
repeat and get subtly wrong: line counts, rejects with file and line, provenance columns,
creating and widening dynamic tables, and the final check that every line is accounted for.
The caller (`forensics.ingest`) owns the transaction.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import polars as pl

from forensics.errors import IntegrityError

if TYPE_CHECKING:
    import duckdb

RAW_CAP = 4096
REJECT_FLUSH_ROWS = 20_000
# Arrow batches handed to a streamed INSERT: DuckDB gives a batch to one thread, so a
# 100k-row block in one batch leaves the other core idle while it is written (the end of
# every load waited on that); 16k rows keep both busy without per-batch overhead.
STREAM_BATCH_ROWS = 16_384
DEFAULT_MAX_LINE_BYTES = 256 * 1024

# Widening order for a numeric column whose type differs between two files of one Zeek path.
_NUMERIC = ["INTEGER", "BIGINT", "UBIGINT", "HUGEINT", "DOUBLE"]


@dataclass
class LoadOptions:
    """What the analyst said about the files being loaded."""

    tz: str = "UTC"
    year: int | None = None
    host: str | None = None
    zeek_path: str | None = None
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    extra: dict[str, Any] = field(default_factory=dict)


class Format(Protocol):
    """One input format. Register it in `forensics/loaders/__init__.py`."""

    name: str
    family: str
    description: str

    def sniff(self, path: str, head: bytes) -> float:
        """0.0 (not mine) to 1.0 (certainly mine), from the path and the first 64 KiB."""
        ...

    def load(self, ctx: LoadContext) -> None:
        """Write the file's rows through `ctx`; raise only for a bug or an unusable file."""
        ...


@dataclass
class LoadContext:
    """One file being loaded into one case, inside the caller's transaction."""

    con: duckdb.DuckDBPyConnection
    path: str
    evidence_id: int
    options: LoadOptions
    lines_read: int = 0
    header_lines: int = 0
    blank_lines: int = 0
    rows_loaded: dict[str, int] = field(default_factory=dict)
    rows_rejected: int = 0
    notes: list[str] = field(default_factory=list)
    tz_assumed: str | None = None
    # what a format counts for its notes (say, times read in an assumed year): kept per
    # fork and added up by `absorb`, like the line counts
    tally: Counter[str] = field(default_factory=Counter)
    _rejects: list[tuple[int, str, str, int]] = field(default_factory=list)
    _columns: dict[str, dict[str, str]] = field(default_factory=dict)
    _owner: int = field(default_factory=threading.get_ident)
    # guards `_rejects`: parser threads add to it while the connection's thread flushes it
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def name(self) -> str:
        return os.path.basename(self.path)

    # -- rejects and notes ---------------------------------------------------------------

    def reject(self, line_no: int, reason: str, raw: bytes | str) -> None:
        """Record one line that could not be parsed; it is never silently dropped."""
        if isinstance(raw, bytes):
            size = len(raw)
            text = raw[: RAW_CAP * 4].decode("utf-8", errors="backslashreplace")
        else:
            size = len(raw.encode("utf-8", errors="surrogatepass"))
            text = raw
        with self._lock:
            self._rejects.append((line_no, reason, text[:RAW_CAP], size))
            self.rows_rejected += 1
        # Only the thread that owns the connection writes; a prefetching parser just buffers.
        if len(self._rejects) >= REJECT_FLUSH_ROWS and threading.get_ident() == self._owner:
            self.flush_rejects()

    def flush_rejects(self) -> None:
        """Write buffered rejects (call from the connection's thread only)."""
        with self._lock:  # a producer thread may be adding rejects right now
            batch, self._rejects = self._rejects, []
        if not batch:
            return
        frame = pl.DataFrame(
            batch,
            schema={"line_no": pl.Int64, "reason": pl.String, "raw": pl.String,
                    "raw_bytes": pl.UInt64},
            orient="row",
        ).with_columns(pl.lit(self.evidence_id, dtype=pl.Int32).alias("evidence_id"))
        self._insert("rejects", frame)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    # -- one block in a worker thread -----------------------------------------------------

    def fork(self) -> LoadContext:
        """A context for one block parsed in a worker thread: it counts lines and buffers
        rejects and notes of its own (never the database), for `absorb` to add in order.

        Counters like `lines_read += n` are not atomic across threads; giving each block
        its own and adding them on one thread keeps the count check exact.
        """
        return LoadContext(con=None, path=self.path,  # type: ignore[arg-type]  (no database)
                           evidence_id=self.evidence_id, options=self.options, _owner=-1)

    def absorb(self, part: LoadContext) -> None:
        """Add a forked block's counts, rejects and notes (call in block order)."""
        self.lines_read += part.lines_read
        self.header_lines += part.header_lines
        self.blank_lines += part.blank_lines
        with self._lock:
            self.rows_rejected += part.rows_rejected
            self._rejects.extend(part._rejects)
        for text in part.notes:
            self.note(text)
        self.tz_assumed = self.tz_assumed or part.tz_assumed
        self.tally.update(part.tally)

    # -- rows ----------------------------------------------------------------------------

    def insert(self, table: str, frame: pl.DataFrame) -> None:
        """Insert rows (with a `line_no` column) into `table`, adding `evidence_id`."""
        if frame.height == 0:
            return
        if "line_no" not in frame.columns:
            raise IntegrityError(f"rows for {table} carry no line_no", path=self.path)
        frame = frame.with_columns(pl.lit(self.evidence_id, dtype=pl.Int32).alias("evidence_id"))
        self._insert(table, frame)
        self.rows_loaded[table] = self.rows_loaded.get(table, 0) + frame.height
        if len(self._rejects) >= REJECT_FLUSH_ROWS:
            self.flush_rejects()

    def insert_stream(self, table: str, frames: Iterator[pl.DataFrame]) -> int:
        """Insert many frames of one schema with ONE statement, streaming them to DuckDB.

        DuckDB pays a per-statement cost (row groups are flushed per insert), so a file's
        blocks go in as one stream; with `reading.prefetch` the next block is parsed while
        this one is written. Each frame needs `line_no`; returns the rows inserted.
        """
        import pyarrow as pa

        frames = iter(frames)
        first = next(frames, None)
        if first is None:
            return 0
        tag = pl.lit(self.evidence_id, dtype=pl.Int32).alias("evidence_id")
        first = first.with_columns(tag)
        schema = _arrow(first).schema
        counted = {"rows": 0}

        def batches() -> Iterator[pa.RecordBatch]:
            # chained, not `(first, *rest)`: star-unpacking would parse the whole file
            # before DuckDB saw its first row (no overlap, every frame in memory)
            for frame in itertools.chain([first], (f.with_columns(tag) for f in frames)):
                if "line_no" not in frame.columns:
                    raise IntegrityError(f"rows for {table} carry no line_no", path=self.path)
                counted["rows"] += frame.height
                arrow = _arrow(frame)
                arrow = arrow if arrow.schema == schema else arrow.cast(schema)
                yield from arrow.to_batches(max_chunksize=STREAM_BATCH_ROWS)

        reader = pa.RecordBatchReader.from_batches(schema, batches())
        self._insert(table, reader, first.schema)
        self.rows_loaded[table] = self.rows_loaded.get(table, 0) + counted["rows"]
        return counted["rows"]

    def _insert(self, table: str, frame: Any, schema: Any = None) -> None:
        """INSERT BY NAME; a list-of-{key,value} column becomes a JSON object (`extra`, `tags`).

        Loaders should prefer `json_object()` (a text column, ten times cheaper); entry lists
        are accepted for formats whose fields vary per row.
        """
        view = f"__batch_{self.evidence_id}"
        schema = schema if schema is not None else frame.schema
        select = ", ".join(
            f'to_json(map_from_entries("{name}")) AS "{name}"' if _is_entry_list(dtype)
            else f'"{name}"'
            for name, dtype in schema.items()
        )
        with registered(self.con, view, frame):
            self.con.execute(f'INSERT INTO "{table}" BY NAME SELECT {select} FROM "{view}"')

    # -- dynamic tables (Zeek) -----------------------------------------------------------

    def ensure_table(self, table: str, columns: dict[str, str]) -> dict[str, str]:
        """Create `table` or add/widen columns so `columns` (name -> DuckDB type) fit.

        Returns the table's column types after the change, so the caller can cast its
        frame to them (an older file may have fixed a column to a wider type).
        """
        existing = self._table_columns(table)
        if not existing:
            cols = ", ".join(f'"{n}" {t}' for n, t in columns.items())
            self.con.execute(
                f'CREATE TABLE "{table}" ({cols}, evidence_id INTEGER NOT NULL, '
                f"line_no BIGINT NOT NULL)"
            )
            existing = dict(columns) | {"evidence_id": "INTEGER", "line_no": "BIGINT"}
        else:
            for name, typ in columns.items():
                have = existing.get(name)
                if have is None:
                    self.con.execute(f'ALTER TABLE "{table}" ADD COLUMN "{name}" {typ}')
                    existing[name] = typ
                elif have != typ:
                    wide = widen(have, typ)
                    if wide != have:
                        self.con.execute(
                            f'ALTER TABLE "{table}" ALTER COLUMN "{name}" TYPE {wide}'
                        )
                        self.note(f"{table}.{name} widened from {have} to {wide}")
                        existing[name] = wide
        self._columns[table] = existing
        return existing

    def _table_columns(self, table: str) -> dict[str, str]:
        if table in self._columns:
            return self._columns[table]
        rows = self.con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = ? ORDER BY ordinal_position",
            [table],
        ).fetchall()
        return {name: normalise_type(typ) for name, typ in rows}

    # -- the final check -----------------------------------------------------------------

    def verify_counts(self) -> None:
        """lines read = rows loaded + rows rejected + header/comment lines + blank lines.

        Rows loaded are counted in the case itself, not taken from the loader's word.
        """
        self.flush_rejects()
        stored = 0
        for table in self.rows_loaded:
            (n,) = self.con.execute(
                f'SELECT count(*) FROM "{table}" WHERE evidence_id = ?', [self.evidence_id]
            ).fetchall()[0]
            stored += n
        (rejected,) = self.con.execute(
            "SELECT count(*) FROM rejects WHERE evidence_id = ?", [self.evidence_id]
        ).fetchall()[0]
        if stored != self.total_loaded or rejected != self.rows_rejected:
            raise IntegrityError(
                f"loader counted {self.total_loaded} rows and {self.rows_rejected} rejects, "
                f"case holds {stored} and {rejected}",
                path=self.path,
            )
        accounted = stored + rejected + self.header_lines + self.blank_lines
        if accounted != self.lines_read:
            raise IntegrityError(
                f"read {self.lines_read} lines but accounted for {accounted} "
                f"({stored} loaded, {rejected} rejected, {self.header_lines} header, "
                f"{self.blank_lines} blank)",
                path=self.path,
            )

    @property
    def total_loaded(self) -> int:
        return sum(self.rows_loaded.values())


@contextmanager
def unordered_insert(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Run the statements inside with DuckDB free to store rows in any order.

    An order-preserving INSERT funnels the rows through ordered batches: on a 1M-row load
    it cost 0.3-0.4 CPU-s more and twice the wall time of a parallel one, which writes
    each thread's rows as they come. Row order in a table carries nothing: every row has
    its `evidence_id` and `line_no`, and every query here orders by what it means (file
    order is `ORDER BY evidence_id, line_no`). The setting is put back afterwards, so
    this must wrap a whole transaction (`ingest.load_one` does): inside one that failed,
    DuckDB refuses every statement, SET included, until the ROLLBACK.
    """
    [(before,)] = con.execute(
        "SELECT current_setting('preserve_insertion_order')").fetchall()
    con.execute("SET preserve_insertion_order = false")
    try:
        yield
    finally:
        con.execute(f"SET preserve_insertion_order = {bool(before)}")


@contextmanager
def registered(con: duckdb.DuckDBPyConnection, view: str, data: Any) -> Iterator[None]:
    """`data` registered as `view` for the block's duration, and never the error in its place.

    When a statement fails inside the load's transaction, DuckDB aborts the transaction and
    refuses everything after it, `unregister` included: an unregister in a `finally` would
    replace the real error (a malformed value, a duplicate key) with "Current transaction is
    aborted", which names no cause. The rollback that follows drops the view anyway.
    """
    con.register(view, data)
    try:
        yield
    except BaseException:
        with suppress(Exception):
            con.unregister(view)
        raise
    con.unregister(view)


def _arrow(frame: pl.DataFrame) -> Any:
    """polars' own Arrow layout (string views): DuckDB reads it without the copy into
    offset-based strings that the compatible layout costs."""
    return frame.to_arrow(compat_level=pl.CompatLevel.newest())


def _is_entry_list(dtype: pl.DataType) -> bool:
    if not isinstance(dtype, pl.List) or not isinstance(dtype.inner, pl.Struct):
        return False
    return [f.name for f in dtype.inner.fields] == ["key", "value"]


def normalise_type(typ: str) -> str:
    """information_schema spells TIMESTAMPTZ out in full; compare like with like."""
    return typ.replace("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ")


def widen(a: str, b: str) -> str:
    """The narrowest DuckDB type both `a` and `b` convert to without loss."""
    if a == b:
        return a
    a_list, b_list = a.endswith("[]"), b.endswith("[]")
    if a_list and b_list:
        return widen(a[:-2], b[:-2]) + "[]"
    if a_list or b_list:
        return "VARCHAR"
    if a in _NUMERIC and b in _NUMERIC:
        if {a, b} == {"BIGINT", "UBIGINT"}:
            return "HUGEINT"
        return _NUMERIC[max(_NUMERIC.index(a), _NUMERIC.index(b))]
    return "VARCHAR"
