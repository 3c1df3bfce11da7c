"""What every GPU format shares: the two target tables, NULL markers, units, times, hosts.

nvidia-smi, DCGM and the Prometheus exporters describe the same few quantities in different
spellings and units (MiB vs bytes, MHz vs Hz, percent vs ratio). Each format maps its own
spelling onto the columns of `gpu_samples` / `gpu_processes` here, so an analyst can put an
nvidia-smi CSV from the box next to DCGM history from the monitoring stack and compare like
with like. Anything without a column goes to `extra` by its native name, never dropped.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import polars as pl

from forensics.loaders.base import LoadContext
from forensics.loaders.jsontext import json_object

LINE = "line_no"
UTC_US = pl.Datetime("us", "UTC")
ENTRY_LIST = pl.List(pl.Struct({"key": pl.String, "value": pl.String}))

SAMPLE_COLUMNS: dict[str, pl.DataType] = {
    "ts": UTC_US,
    "host": pl.String(),
    "gpu_index": pl.Int32(),
    "gpu_uuid": pl.String(),
    "gpu_name": pl.String(),
    "mig_instance": pl.String(),
    "utilization_gpu_pct": pl.Float64(),
    "utilization_mem_pct": pl.Float64(),
    "memory_used_mib": pl.Float64(),
    "memory_total_mib": pl.Float64(),
    "power_w": pl.Float64(),
    "temperature_c": pl.Float64(),
    "sm_clock_mhz": pl.Float64(),
    "mem_clock_mhz": pl.Float64(),
    "extra": ENTRY_LIST,
}

PROCESS_COLUMNS: dict[str, pl.DataType] = {
    "ts": UTC_US,
    "host": pl.String(),
    "gpu_index": pl.Int32(),
    "gpu_uuid": pl.String(),
    "pid": pl.Int64(),
    "process_name": pl.String(),
    "process_type": pl.String(),
    "used_memory_mib": pl.Float64(),
    "sm_util_pct": pl.Float64(),
    "extra": ENTRY_LIST,
}

# nvidia-smi writes these instead of a value; they become NULL and are counted in a note.
_PLAIN_MARKERS = ("N/A", "Not Supported", "-", "")


def is_marker(col: pl.Expr) -> pl.Expr:
    """True for nvidia-smi's "no value" spellings: `[N/A]`, `[Not Supported]`, `N/A`, ...

    Every bracketed text (`[Unknown Error]`, `[Requested functionality has been
    deprecated]`, `[Function Not Found]`, ...) is such a marker: nvidia-smi never writes a
    real value in square brackets.
    """
    return (col.str.starts_with("[") & col.str.ends_with("]")) | col.is_in(_PLAIN_MARKERS)


def count_markers(frame: pl.DataFrame, columns: list[str], counts: Counter[str]) -> None:
    """Add how often each "no value" marker occurs in `columns` to `counts`."""
    names = [n for n in columns if frame.schema[n] == pl.String]
    if not names or frame.height == 0:
        return
    hits = frame.select([is_marker(pl.col(n)).fill_null(False).any().alias(n) for n in names])
    for name in [n for n in names if hits[n][0]]:
        found = frame.select(pl.col(name).filter(is_marker(pl.col(name))))
        for value, n in found[name].value_counts().iter_rows():
            counts[value if value else "(empty)"] += n


def note_markers(ctx: LoadContext, counts: Counter[str]) -> None:
    if counts:
        parts = ", ".join(f"{k!s} x{v}" for k, v in sorted(counts.items()))
        ctx.note(f"values the source marks as unavailable, stored as NULL: {parts}")


_UNIT_TAIL = r"\s*(?:%|W|MiB|MHz|C|KB/s|mV|us|ms|J|mJ)$"


def number(col: pl.Expr, unit: str | None = None) -> pl.Expr:
    """A float from text such as `631.95 W`, `100 %`, `19818 MiB` or `1980`.

    With the header's `unit`, only that suffix is removed (fast, exact); without one, any
    trailing unit word is. Markers (see `is_marker`) and text that is neither give NULL; the
    caller compares with `is_marker` to tell a marker from a bad value.
    """
    if unit:
        text = col.str.strip_suffix(" " + unit)
    else:
        text = col.str.strip_chars(" ").str.replace(_UNIT_TAIL, "")
    return text.cast(pl.Float64, strict=False)


def bad_number(raw: pl.Expr, parsed: pl.Expr) -> pl.Expr:
    """A value was given, is not a marker, and did not parse."""
    return parsed.is_null() & raw.is_not_null() & ~is_marker(raw.str.strip_chars(" "))


def localise(naive: pl.Expr, tz: str) -> pl.Expr:
    """A zone-less datetime read as local time in `tz`, converted to UTC.

    A time that does not exist in `tz` (the hour skipped when clocks go forward) becomes
    NULL and the caller rejects the row; an ambiguous one (the hour repeated when clocks go
    back) is read as the earlier instant, and `note_ambiguous` says how many there were.
    """
    if tz == "UTC":
        return naive.dt.replace_time_zone("UTC")
    return naive.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null") \
        .dt.convert_time_zone("UTC")


def note_ambiguous(ctx: LoadContext, naive: pl.Series, tz: str) -> None:
    if tz == "UTC" or naive.null_count() == naive.len():
        return
    early = naive.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null")
    late = naive.dt.replace_time_zone(tz, ambiguous="latest", non_existent="null")
    n = int((early != late).sum() or 0)
    if n:
        ctx.note(f"{n} local times fall in the repeated hour when {tz} leaves summer time; "
                 "read as the earlier of the two instants")


def assume_tz(ctx: LoadContext, what: str) -> None:
    """Record that zone-less times were read in ctx.options.tz."""
    tz = ctx.options.tz
    check_tz(tz)
    ctx.tz_assumed = tz
    ctx.note(f"{what} carry no time zone; read as local time in {tz} (options.tz)")


def check_tz(tz: str) -> None:
    ZoneInfo(tz)  # raises for an unknown zone: an unusable option, not a bad line


def file_time(ctx: LoadContext, what: str) -> datetime:
    """The sample time for a source that has none: options.extra['ts'] or the file mtime."""
    given = ctx.options.extra.get("ts")
    if given is not None:
        if isinstance(given, datetime):
            ts = given if given.tzinfo else given.replace(tzinfo=ZoneInfo(ctx.options.tz))
        else:
            ts = datetime.fromisoformat(str(given).replace("Z", "+00:00"))
            if ts.tzinfo is None:
                ts = ts.replace(tzinfo=ZoneInfo(ctx.options.tz))
                ctx.tz_assumed = ctx.options.tz
        ts = ts.astimezone(UTC)
        ctx.note(f"{what} carry no time; sample time {ts.isoformat()} from options.extra['ts']")
        return ts
    ts = datetime.fromtimestamp(os.stat(ctx.path).st_mtime, tz=UTC)
    ctx.note(f"{what} carry no time; sample time {ts.isoformat()} is the file's modification "
             "time (pass options.extra['ts'] to set it)")
    return ts


def default_host(ctx: LoadContext) -> str | None:
    return ctx.options.host


def host_expr(from_file: pl.Expr | None, ctx: LoadContext) -> pl.Expr:
    """The host named in the file, else the one named in the load call (options.host)."""
    fallback = pl.lit(ctx.options.host, dtype=pl.String)
    if from_file is None:
        return fallback
    return pl.coalesce(from_file, fallback)


def extra_expr(columns: list[str], keys: list[str] | None = None) -> pl.Expr:
    """`extra` for the non-null values of `columns`: a JSON object, by key (see base)."""
    keys = columns if keys is None else keys
    if not columns:
        return pl.lit(None, dtype=pl.String)
    return json_object(columns, dict(zip(columns, keys, strict=True)))


def with_extra(frame: pl.DataFrame, columns: list[str], keys: list[str]) -> pl.DataFrame:
    """`frame` with `extra` (as `extra_expr`) in place of `columns`, built more cheaply.

    Encoding the whole struct at once is cheaper than `json_object`'s member by member,
    but writes a NULL value as `"key":null`. A text without `:null` in it has no such
    member, so `json_object` runs only when some row's text does contain it (a NULL, or a
    value that merely contains the letters). The result is the same text.
    """
    if not columns:
        return frame.with_columns(pl.lit(None, dtype=pl.String).alias("extra"))
    named = [pl.col(col).cast(pl.String).alias(key)
             for col, key in zip(columns, keys, strict=True)]
    encoded = frame.select(pl.struct(named).struct.json_encode().alias("extra"))["extra"]
    if encoded.str.contains(":null", literal=True).any():
        encoded = frame.select(extra_expr(columns, keys).alias("extra"))["extra"]
    return frame.with_columns(encoded).drop(columns)


def finish(frame: pl.DataFrame, columns: dict[str, pl.DataType]) -> pl.DataFrame:
    """The frame with every column of the table (NULL where absent), typed, plus line_no."""
    exprs = []
    for name, dtype in columns.items():
        if name == "extra" and name in frame.columns:
            exprs.append(pl.col(name))  # JSON text, or {key, value} lists the insert converts
        elif name in frame.columns:
            exprs.append(pl.col(name).cast(dtype))
        else:
            exprs.append(pl.lit(None, dtype=dtype).alias(name))
    exprs.append(pl.col(LINE).cast(pl.Int64))
    return frame.select(exprs)


def settle(ctx: LoadContext) -> None:
    """Finish any result the caller left open on the connection.

    `ingest` reads the next evidence id with `fetchone()`, which leaves DuckDB 2.0's result
    unfinished, and `register` (used by `ctx.insert`) refuses to run while one is open.
    Running one trivial query to completion clears it.
    """
    ctx.con.execute("SELECT 1").fetchall()


def insert_samples(ctx: LoadContext, frame: pl.DataFrame) -> None:
    if frame.height:
        settle(ctx)
        ctx.insert("gpu_samples", finish(frame, SAMPLE_COLUMNS))


def insert_processes(ctx: LoadContext, frame: pl.DataFrame) -> None:
    if frame.height:
        settle(ctx)
        ctx.insert("gpu_processes", finish(frame, PROCESS_COLUMNS))


def mig_label(gi: str | None, ci: str | None) -> str | None:
    """MIG instance as `GI <gpu instance>/CI <compute instance>` (either part may be absent)."""
    parts = []
    if gi not in (None, "", "N/A"):
        parts.append(f"GI {gi}")
    if ci not in (None, "", "N/A"):
        parts.append(f"CI {ci}")
    return "/".join(parts) or None


def mig_expr(gi: pl.Expr, ci: pl.Expr | None = None) -> pl.Expr:
    """Vectorised `mig_label`."""
    gi_part = pl.when(gi.is_not_null() & ~is_marker(gi)).then(pl.format("GI {}", gi))
    if ci is None:
        return gi_part
    ci_part = pl.when(ci.is_not_null() & ~is_marker(ci)).then(pl.format("CI {}", ci))
    both = pl.concat_str([gi_part, ci_part], separator="/", ignore_nulls=True)
    return pl.when(both == "").then(None).otherwise(both)


def normalise_newlines(data: bytes) -> bytes:
    """CRLF (nvidia-smi on Windows) to LF; the line count does not change."""
    return data.replace(b"\r\n", b"\n") if b"\r" in data else data


def split_lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


_BLANK = re.compile(rb"^[ \t\r]*$")


def is_blank(line: bytes) -> bool:
    return bool(_BLANK.match(line))


SEP = "\x1f"


def lines_frame(ctx: LoadContext, data: bytes, first_line: int) -> pl.DataFrame:
    """The run's lines as one text column, read by polars (no Python loop per line).

    A line that is not UTF-8 is a reject ("not valid UTF-8 at byte N") and is left out of
    the frame: decoding it with replacement characters would store text the file does not
    hold. Such a block is decoded line by line, in Python.
    """
    n = data.count(b"\n") + 1
    if SEP.encode() not in data:
        try:
            frame = pl.read_csv(data, has_header=False, separator=SEP, quote_char=None,
                                schema={"text": pl.String}, encoding="utf8",
                                row_index_name=LINE, row_index_offset=first_line,
                                raise_if_empty=False, missing_columns="insert")
            if frame.height == n:
                return frame.with_columns(pl.col(LINE).cast(pl.Int64),
                                          pl.col("text").fill_null(""))
        except (pl.exceptions.ComputeError, pl.exceptions.SchemaError):
            pass
    numbers: list[int] = []
    texts: list[str] = []
    for i, raw in enumerate(data.split(b"\n")):
        try:
            texts.append(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            ctx.reject(first_line + i, f"not valid UTF-8 at byte {exc.start}", raw)
            continue
        numbers.append(first_line + i)
    return pl.DataFrame({LINE: numbers, "text": texts},
                        schema={LINE: pl.Int64, "text": pl.String})
