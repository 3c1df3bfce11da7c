"""Times as firewalls write them, to UTC, with every assumption recorded.

Syslog is the hard case: RFC 3164 writes `Sep 30 10:09:23`, with neither year nor zone.
The analyst states both (`ctx.options.year`, `ctx.options.tz`); when no year is given
the evidence file's modification year is used, and a time that would then lie more than a
day after the file was last written is put in the year before (a December line in a log
written in January). Both choices go into `ctx.note` and the zone into `ctx.tz_assumed`.
ISO/RFC 5424/journald short-iso times carry their own offset; one without an offset is
read in `ctx.options.tz` and recorded the same way.
"""

from __future__ import annotations

import datetime as dt
import os

import polars as pl

from forensics.loaders.base import LoadContext

TS_TYPE = pl.Datetime("us", "UTC")

# One syslog header regex for the three wrappers firewalls use. Groups that do not
# apply stay null: RFC 5424 (`<pri>1 ts host app procid msgid sd msg`), RFC 3164
# (`<pri>Mon dd hh:mm:ss host tag[pid]: msg`) and ISO-timestamp BSD (rsyslog high
# precision, journald short-iso: `2023-01-01T10:00:00+0100 host tag[pid]: msg`).
SYSLOG_RE = (
    r"^(?:<(?P<pri>\d{1,3})>)?(?:"
    r"1 (?P<ts5424>\d{4}-\d\d-\d\dT\S+) (?P<host5424>\S+) (?P<app5424>\S+) \S+ \S+ "
    r"(?:-|(?:\[(?:[^\]\\]|\\.)*\])+) ?"
    r"|(?P<ts3164>[A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d(?:\.\d+)?) (?P<host3164>\S+) "
    r"(?P<tag3164>[^\s:\[]+)(?:\[\d+\])?: ?"
    r"|(?P<tsiso>\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?) "
    r"(?P<hostiso>\S+) (?P<tagiso>[^\s:\[]+)(?:\[\d+\])?: ?"
    r")(?P<msg>.*)$"
)
_HEADER_RE = "^(?P<hdr>" + SYSLOG_RE[1:].removesuffix("(?P<msg>.*)$") + ")"


# The common RFC 3164 header in a fixed layout (`Sep  1 10:09:23 host tag[pid]: `): ASCII
# digits, one space between fields, `: ` ending it. Every line matching it gets the same
# groups from SYSLOG_RE's 3164 branch, and its fields are found by position.
_BSD_FIXED_RE = (r"^[A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} \S+ "
                 r"[^\s:\[]+(?:\[[0-9]+\])?: ")


def add_syslog(frame: pl.DataFrame, line: str = "line") -> tuple[pl.DataFrame, pl.Expr]:
    """Add __pri, sensor (host), __tag, __msg, __ts3164, __tsiso, __ts_text columns.

    Lines in the fixed RFC 3164 layout (`_BSD_FIXED_RE`, one capture-free regex pass) are
    split by position; the rest get the full header regex (`_syslog_careful`). Returns the
    frame (in its order) and an expression that is false where the line has no header.
    """
    fixed = frame.select(pl.col(line).str.contains(_BSD_FIXED_RE).fill_null(False))
    fixed = fixed.to_series()
    n_fixed = int(fixed.sum())
    if n_fixed == 0:
        return _syslog_careful(frame, line), pl.col("__msg").is_not_null()
    if n_fixed == frame.height:
        return _syslog_fixed(frame, line), pl.col("__msg").is_not_null()
    out = pl.concat([_syslog_fixed(frame.filter(fixed), line),
                     _syslog_careful(frame.filter(~fixed), line)]).sort("line_no")
    return out, pl.col("__msg").is_not_null()


def _syslog_fixed(frame: pl.DataFrame, line: str) -> pl.DataFrame:
    """`_BSD_FIXED_RE` lines: time in the first 15 characters, then host, `tag[pid]:` and
    the message split off at single spaces (the header ends in `: `, whose space it takes).
    """
    parts = pl.col(line).str.slice(16).str.splitn(" ", 3)
    # the time is cut once: eager with_columns would cut it again for each name it gets
    frame = frame.with_columns(parts.alias("__sys"), pl.col(line).str.slice(0, 15).alias("__ts"))
    f = pl.col("__sys").struct.field
    ts = pl.col("__ts")
    tag = f("field_1").str.splitn("[", 2).struct.field("field_0").str.strip_suffix(":")
    return frame.with_columns(
        pl.lit(None, dtype=pl.String).alias("__pri"),
        f("field_0").alias("sensor"),
        tag.alias("__tag"),
        f("field_2").alias("__msg"),
        ts.alias("__ts3164"),
        pl.lit(None, dtype=pl.String).alias("__tsiso"),
        ts.alias("__ts_text"),
    ).drop("__sys", "__ts")


def _syslog_careful(frame: pl.DataFrame, line: str) -> pl.DataFrame:
    """Any of the three headers, by the one header regex.

    The regex runs once (into a struct column; asking a struct expression for several
    fields would run it once per field), on the first 256 characters only (capture groups
    over a whole long line are slow); the message is then the rest of the line after the
    header. A header longer than that (big RFC 5424 structured data) gets the full line.
    """
    head = pl.col(line).str.slice(0, 256)
    frame = frame.with_columns(head.str.extract_groups(_HEADER_RE).alias("__sys"))
    long = frame["__sys"].struct.field("hdr").is_null() & (frame[line].str.len_chars() > 256)
    if long.any():
        full = frame.filter(long).with_columns(
            pl.col(line).str.extract_groups(_HEADER_RE).alias("__sys"))
        frame = pl.concat([frame.filter(~long), full]).sort("line_no")
    f = pl.col("__sys").struct.field
    msg = pl.col(line).str.slice(f("hdr").str.len_chars())
    return frame.with_columns(
        f("pri").alias("__pri"),
        pl.coalesce(f("host5424"), f("host3164"), f("hostiso")).alias("sensor"),
        pl.coalesce(f("app5424"), f("tag3164"), f("tagiso")).alias("__tag"),
        pl.when(f("hdr").is_not_null()).then(msg).alias("__msg"),
        f("ts3164").alias("__ts3164"),
        pl.coalesce(f("ts5424"), f("tsiso")).alias("__tsiso"),
        pl.coalesce(f("ts5424"), f("ts3164"), f("tsiso")).alias("__ts_text"),
    ).drop("__sys")


def iso_to_utc(text: pl.Expr, tz: str) -> tuple[pl.Expr, pl.Expr]:
    """ISO 8601 / RFC 3339 text -> UTC; (value, has_no_offset).

    Accepts `Z`, `+hh:mm`, `+hhmm`, a space or `T`, and any fraction (nanoseconds are
    truncated to microseconds). A time with no offset is read in `tz`.
    """
    t = text.str.strip_chars().str.replace(" ", "T", literal=True)
    norm = t.str.replace(r"[zZ]$", "+00:00").str.replace(r"([+-]\d\d):(\d\d)$", "$1$2")
    has_off = norm.str.contains(r"[+-]\d{4}$")
    with_off = norm.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%z", strict=False,
                                    time_unit="us").dt.convert_time_zone("UTC")
    naive = norm.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us")
    local = naive.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null")
    value = pl.when(has_off).then(with_off).otherwise(local.dt.convert_time_zone("UTC"))
    return value, text.is_not_null() & ~has_off


def local_to_utc(naive: pl.Expr, tz: str) -> pl.Expr:
    """A zone-less datetime read in `tz` (earliest of an ambiguous hour; gaps are NULL)."""
    return naive.dt.replace_time_zone(tz, ambiguous="earliest",
                                      non_existent="null").dt.convert_time_zone("UTC")


def file_year(ctx: LoadContext) -> tuple[int, dt.datetime | None]:
    """The year for year-less times: the stated one, else the file's modification year."""
    if ctx.options.year is not None:
        return int(ctx.options.year), None
    mtime = dt.datetime.fromtimestamp(os.stat(ctx.path).st_mtime, dt.UTC)
    return mtime.year, mtime


def bsd_to_utc(ctx: LoadContext, text: pl.Expr) -> pl.Expr:
    """`Mon dd hh:mm:ss[.frac]` -> UTC using the stated (or file) year and zone."""
    year, mtime = file_year(ctx)
    tz = ctx.options.tz
    squeezed = text.str.replace(r" +", " ")

    def at(y: int) -> pl.Expr:
        naive = pl.format(f"{y} {{}}", squeezed).str.to_datetime(
            "%Y %b %d %H:%M:%S%.f", strict=False, time_unit="us")
        return local_to_utc(naive, tz)

    value = at(year)
    if mtime is not None:
        limit = mtime + dt.timedelta(days=1)
        value = pl.when(value > pl.lit(limit, dtype=TS_TYPE)).then(at(year - 1)).otherwise(value)
    return value


def bsd_column_to_utc(ctx: LoadContext, texts: pl.Series) -> pl.Expr:
    """`bsd_to_utc` of a column, parsed once per distinct text when a block repeats its
    times (a busy firewall logs many lines a second) and looked up for every line."""
    distinct = texts.drop_nulls().unique()
    if distinct.len() * 4 > texts.len():
        return bsd_to_utc(ctx, pl.col(texts.name))
    values = pl.select(bsd_to_utc(ctx, pl.lit(distinct))).to_series()
    return pl.col(texts.name).replace_strict(distinct, values, default=None,
                                             return_dtype=TS_TYPE)


def note_assumptions(ctx: LoadContext, n_bsd: int, n_naive_iso: int) -> None:
    """Record the year and zone assumptions, only when rows actually needed them."""
    if n_bsd:
        year, mtime = file_year(ctx)
        if mtime is None:
            ctx.note(f"{n_bsd} syslog times without a year (RFC 3164) read as year {year} "
                     f"(stated) in zone {ctx.options.tz}")
        else:
            ctx.note(f"{n_bsd} syslog times without a year (RFC 3164) read as year {year} "
                     f"(the file's modification year; times more than a day after "
                     f"{mtime:%Y-%m-%d} put in {year - 1}) in zone {ctx.options.tz}; "
                     "state the year with year= if this is wrong")
        ctx.tz_assumed = ctx.options.tz
    if n_naive_iso:
        ctx.note(f"{n_naive_iso} times written without a zone read in {ctx.options.tz}")
        ctx.tz_assumed = ctx.options.tz
