"""What every firewall format shares: lines in, one vocabulary out, rejects with reasons.

Each format turns a block of lines into a frame of *text* (or already-parsed time) columns
named like `firewall_events` columns, plus `__reason` for lines it could not even split.
`finish` then validates and converts the shared columns in one vectorised pass (addresses,
ports, counters, protocol), so every vendor gets the same checks and the same vocabulary,
and `emit` sends failed rows to `rejects` and the rest to the table. Python runs per line
only for rejected rows and for blocks that are not valid UTF-8.
"""

from __future__ import annotations

import csv
import ipaddress
import re
from collections.abc import Callable, Iterator

import polars as pl

from forensics.loaders.base import LoadContext
from forensics.loaders.jsontext import concat_pieces, json_object
from forensics.loaders.reading import (
    BLOCK_BYTES,
    Block,
    iter_blocks,
    ordered_map,
    prefetch,
    split_lines,
)
from forensics.loaders.sieve import damaged_tail  # noqa: F401  (re-exported)
from forensics.schema import FIREWALL_EVENTS

TABLE = "firewall_events"
REASON = "__reason"
LINE = "line_no"
# A boolean column a format may add: true on rows whose every `__x_` value is known to hold
# nothing JSON escapes (the format's parse proved it), so `build_extra` skips its check
# there. Kept by `finish`, never stored.
EXTRA_SAFE = "__extra_safe"
TS_TYPE = pl.Datetime("us", "UTC")

OUT_TYPES: dict[str, pl.DataType] = {
    "ts": TS_TYPE, "ts_end": TS_TYPE, "sensor": pl.String, "format": pl.String,
    "action": pl.String, "direction": pl.String, "src_ip": pl.String, "src_port": pl.Int32,
    "dst_ip": pl.String, "dst_port": pl.Int32, "proto": pl.String, "bytes": pl.UInt64,
    "packets": pl.UInt64, "rule": pl.String, "in_interface": pl.String,
    "out_interface": pl.String, "tcp_flags": pl.String, "extra": pl.String, "message": pl.String,
}
assert set(OUT_TYPES) == {c.name for c in FIREWALL_EVENTS.columns}

ACTIONS = ("allow", "deny", "drop", "reject", "alert")
DIRECTIONS = ("in", "out", "forward")

# Dotted quad with no leading zeros (ipaddress rejects them too: 010.1.1.1 is ambiguous).
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IPV4_RE = rf"^{_OCTET}(?:\.{_OCTET}){{3}}$"

# Protocol names to the one vocabulary: tcp, udp, icmp, icmpv6, else the IANA number.
PROTO_NUMBERS = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6"}
PROTO_NAMES = {
    "tcp": "tcp", "udp": "udp", "icmp": "icmp", "icmpv6": "icmpv6", "ipv6-icmp": "icmpv6",
    "icmp6": "icmpv6", "ipv6icmp": "icmpv6", "igmp": "2", "ipip": "4", "ipencap": "4",
    "ipv6": "41", "gre": "47", "esp": "50", "ah": "51", "ospf": "89", "pim": "103",
    "vrrp": "112", "carp": "112", "l2tp": "115", "sctp": "132", "udplite": "136",
}


# ---------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------


def settle(ctx: LoadContext) -> None:
    """Finish any half-fetched result on the connection before we register frames.

    ingest reads the next evidence id with fetchone(), which leaves the result open, and
    DuckDB 2.0 refuses register() (used by every insert, rejects included) until it is
    finished. Running one statement to the end clears it.
    """
    ctx.con.execute("SELECT 1").fetchall()


def line_frames(ctx: LoadContext, settled: bool = False) -> Iterator[pl.DataFrame]:
    """Frames of (line_no, line) for the file's data lines, a block at a time (see
    `block_lines`). `settled`: the caller has run `settle` (a prefetch thread must not
    touch the connection)."""
    if not settled:
        settle(ctx)
    for block in iter_blocks(ctx.path):
        frame = block_lines(ctx, block)
        if frame is not None:
            yield frame


def block_lines(ctx: LoadContext, block: Block) -> pl.DataFrame | None:
    """(line_no, line) for a block's data lines; None if it has none.

    Blank and whitespace-only lines are counted, over-long lines and lines that are not
    UTF-8 are rejected here, so formats only see text worth parsing. A trailing CR (CRLF
    files) is removed. Counts and rejects go to `ctx`: a worker thread passes its fork.
    """
    ctx.lines_read += block.n_lines
    intact = damaged_tail(ctx, block)
    if intact is None:
        return None
    lines = split_lines(intact.data)
    if lines is None:
        texts, numbers = _decode_careful(ctx, intact.data, intact.first_line)
        frame = pl.DataFrame({LINE: numbers, "line": texts},
                             schema={LINE: pl.Int64, "line": pl.String})
    else:
        frame = lines.to_frame("line").with_row_index(LINE, offset=intact.first_line)
        frame = frame.select(pl.col(LINE).cast(pl.Int64), pl.col("line"))
    empty = frame["line"].str.len_bytes() == 0
    n_empty = int(empty.sum())
    if n_empty:
        ctx.blank_lines += n_empty
        frame = frame.filter(~empty)
    # A clean block skips both column passes: no CR (a memchr), and no line starting
    # with a space or tab (empty lines were taken out already): none does when the least
    # line sorts at or after "!" (0x21, above both), a cheaper pass than two prefix tests.
    crlf = b"\r" in intact.data
    if crlf:
        frame = frame.with_columns(pl.col("line").str.strip_suffix("\r"))
    if crlf or (frame.height and frame["line"].min() < "!"  # type: ignore[operator]
                and frame.select(pl.col("line").str.starts_with(" ").any()
                                 | pl.col("line").str.starts_with("\t").any()).item()):
        blank = frame["line"].str.strip_chars(" \t") == ""
        n_blank = int(blank.sum())
        if n_blank:
            ctx.blank_lines += n_blank
            frame = frame.filter(~blank)
    limit = ctx.options.max_line_bytes
    if len(intact.data) > limit:
        long = frame["line"].str.len_bytes() > limit
        if long.any():
            for line_no, text in frame.filter(long).iter_rows():
                ctx.reject(line_no, f"line is {len(text.encode())} bytes, over the "
                           f"limit of {limit}", text)
            frame = frame.filter(~long)
    return frame if frame.height else None


def _decode_careful(ctx: LoadContext, data: bytes, first: int) -> tuple[list[str], list[int]]:
    """Per-line decoding for the rare block with invalid UTF-8: bad lines are rejected."""
    lines: list[str] = []
    numbers: list[int] = []
    for i, raw in enumerate(data.split(b"\n")):
        try:
            lines.append(raw.decode("utf-8"))
            numbers.append(first + i)
        except UnicodeDecodeError as exc:
            ctx.reject(first + i, f"not valid UTF-8 at byte {exc.start}", raw)
    return lines, numbers


def sniff_by_lines(head: bytes, pattern: re.Pattern[str], sure: float) -> float:
    """How sure a line format is of a file from the lines of its head matching `pattern`:
    `sure` when a third or more do, 0.6 when some do (a few of its lines among others'),
    0 when none does."""
    lines = head_lines(head)
    hits = sum(1 for ln in lines if pattern.search(ln))
    if hits == 0:
        return 0.0
    return sure if hits * 3 >= len(lines) else 0.6


def head_lines(head: bytes, n: int = 20) -> list[str]:
    """Up to `n` non-blank decoded lines from a sniffing head (the last may be cut)."""
    out = []
    for raw in head.split(b"\n")[:n * 2]:
        text = raw.decode("utf-8", errors="replace").strip()
        if text:
            out.append(text)
        if len(out) >= n:
            break
    return out


# ---------------------------------------------------------------------------------------
# Checking and converting the shared columns
# ---------------------------------------------------------------------------------------


def bad_text(name: str, col: str | pl.Expr, what: str) -> pl.Expr:
    """A reject reason naming the field and the offending value."""
    expr = pl.col(col) if isinstance(col, str) else col
    return pl.format(f"{name}: '{{}}' is not {what}", expr.str.slice(0, 80))


def check_port(frame: pl.DataFrame, name: str) -> tuple[pl.Expr, pl.Expr]:
    """Port text -> Int32 (0..65535); a non-numeric or out-of-range value is a reason.

    Reads the number from `__n_<name>` (the text cast to Int64, added by `finish` once:
    eager expressions are not shared, and the value and the reason both need it)."""
    text = pl.col(name)
    value = pl.col(f"__n_{name}")
    ok = value.is_between(0, 65535)
    return (pl.when(ok).then(value).cast(pl.Int32).alias(name),
            pl.when(text.is_not_null() & ~ok.fill_null(False))
            .then(bad_text(name, text, "a port number (0-65535)")))


def check_count(frame: pl.DataFrame, name: str) -> tuple[pl.Expr, pl.Expr]:
    """Counter text -> UInt64 (from `__n_<name>`, see `check_port`)."""
    text = pl.col(name)
    value = pl.col(f"__n_{name}")
    return (value.alias(name),
            pl.when(text.is_not_null() & value.is_null())
            .then(bad_text(name, text, "a non-negative whole number")))


def normalise_ips(series: pl.Series) -> pl.Series:
    """Valid addresses as text (IPv6 compressed, lower case), NULL where invalid.

    IPv4 is checked by a regex over the whole column; whatever does not match is looked
    at once per distinct value by `ipaddress` (IPv6 and the invalid rest are few).
    """
    s = series.cast(pl.String)
    v4 = s.str.contains(IPV4_RE).fill_null(False)
    rest = s.filter(~v4 & s.is_not_null()).unique()
    if rest.len() == 0:
        return s
    mapping: dict[str, str | None] = {}
    for value in rest.to_list():
        try:
            addr = ipaddress.ip_address(value)
        except ValueError:
            mapping[value] = None
            continue
        if isinstance(addr, ipaddress.IPv6Address):
            mapping[value] = addr.compressed
        else:
            mapping[value] = str(addr)
    fixed = s.replace_strict(mapping, default=None, return_dtype=pl.String)
    return pl.select(pl.when(v4).then(s).otherwise(fixed)).to_series().alias(series.name)


def proto_parts(col: str = "proto") -> list[pl.Expr]:
    """`__low` (trimmed lower-case text) and `__num` (it as a number), for `proto_expr`."""
    low = pl.col(col).str.strip_chars().str.to_lowercase()
    return [low.alias("__low"), low.cast(pl.Int64, strict=False).alias("__num")]


def proto_expr(col: str = "proto") -> tuple[pl.Expr, pl.Expr]:
    """Protocol text or number -> tcp/udp/icmp/icmpv6, another IANA number as text, or
    an unknown name kept in lower case. A number outside 0..255 is a reason.
    Needs the `proto_parts` columns."""
    low, num = pl.col("__low"), pl.col("__num")
    as_num = num.cast(pl.String).replace(PROTO_NUMBERS)
    named = low.replace(PROTO_NAMES)
    value = pl.when(num.is_not_null()).then(as_num).otherwise(named)
    bad = low.is_not_null() & (
        (num.is_not_null() & ~num.is_between(0, 255)) | (low == "") | low.str.contains(r"\s"))
    return value.alias(col), pl.when(bad).then(bad_text("proto", col, "a protocol"))


def proto_checked(protos: pl.Series) -> tuple[pl.Series, pl.Series]:
    """`proto_expr`'s value and reason for a column of protocol text, worked out once per
    distinct text when the column repeats itself (a block holds a handful: two regex and
    case passes over every line cost more than the lookup), else line by line."""
    distinct = protos.drop_nulls().unique()
    per_text = distinct.len() * 4 <= protos.len()
    table = (distinct if per_text else protos).rename("proto").to_frame()
    value, why = proto_expr("proto")
    table = table.with_columns(proto_parts("proto")).select(
        pl.col("proto"), value.alias("value"), why.alias("why"))
    if not per_text:
        return table["value"], table["why"]
    return (protos.replace_strict(table["proto"], table["value"], default=None,
                                  return_dtype=pl.String),
            protos.replace_strict(table["proto"], table["why"], default=None,
                                  return_dtype=pl.String))


def finish(frame: pl.DataFrame, fmt: str) -> pl.DataFrame:
    """Validate and convert the shared columns; add format and the overall `__reason`.

    Expects `line_no`, `message`, optional `__reason` (structural problems found by the
    format) and any subset of the table's columns, addresses/ports/counters as text.
    """
    reasons: list[pl.Expr] = []
    if REASON in frame.columns:
        reasons.append(pl.col(REASON))
    exprs: list[pl.Expr] = []
    for name in ("src_ip", "dst_ip"):
        if name in frame.columns:
            fixed = normalise_ips(frame[name])
            frame = frame.with_columns(fixed.alias(f"__{name}"))
            reasons.append(pl.when(pl.col(name).is_not_null() & pl.col(f"__{name}").is_null())
                           .then(bad_text(name, name, "an IP address")))
            exprs.append(pl.col(f"__{name}").alias(name))
    # Intermediate values are materialised first: eager with_columns does not share a
    # repeated sub-expression, and values, reasons and the ICMP test all reuse them.
    ports = [n for n in ("src_port", "dst_port")
             if n in frame.columns and frame.schema[n] == pl.String]
    counts = [n for n in ("bytes", "packets")
              if n in frame.columns and frame.schema[n] == pl.String]
    stage = [pl.col(n).cast(pl.Int64, strict=False).alias(f"__n_{n}") for n in ports]
    stage += [pl.col(n).cast(pl.UInt64, strict=False).alias(f"__n_{n}") for n in counts]
    if stage:
        frame = frame.with_columns(stage)
    for name in ports:
        value, why = check_port(frame, name)
        exprs.append(value)
        reasons.append(why)
    for name in counts:
        value, why = check_count(frame, name)
        exprs.append(value)
        reasons.append(why)
    if "proto" in frame.columns:
        value, why = proto_checked(frame["proto"])
        frame = frame.with_columns(value.alias("__proto"), why.alias("__proto_why"))
        exprs.append(pl.col("__proto").alias("proto"))
        reasons.append(pl.col("__proto_why"))
        # ICMP has no ports; vendors that write 0/0 there get NULL (the line keeps them).
        icmp = pl.col("__proto").is_in(["icmp", "icmpv6"]).fill_null(False)
        exprs = [pl.when(~icmp).then(e) if e.meta.output_name() in ("src_port", "dst_port")
                 else e for e in exprs]
    reason = pl.coalesce(reasons) if reasons else pl.lit(None, dtype=pl.String)
    frame = frame.with_columns(*exprs, reason.alias(REASON), pl.lit(fmt).alias("format"))
    return frame.drop([c for c in frame.columns if c.startswith("__")
                       and c not in (REASON, EXTRA_SAFE) and not c.startswith("__x_")])


def emit(ctx: LoadContext, frame: pl.DataFrame) -> None:
    """Rows with a reason go to `rejects` (with the original line); the rest are stored."""
    ready = prepare(ctx, frame)
    if ready is not None:
        ctx.insert(TABLE, ready)


def prepare(ctx: LoadContext, frame: pl.DataFrame) -> pl.DataFrame | None:
    """Reject the rows with a reason (buffered: safe in a prefetch thread) and make the
    rest ready for the table: `extra` built, every column of the table present and typed
    (so every block of a file has one schema), `line_no` first. None if no row is left."""
    bad = frame[REASON].is_not_null()
    if bad.any():
        for line_no, why, raw in frame.filter(bad).select(LINE, REASON, "message").iter_rows():
            ctx.reject(line_no, why, raw if raw is not None else "")
        frame = frame.filter(~bad)
    if frame.height == 0:
        return None
    frame = frame.with_columns(build_extra(frame))
    cols = [pl.col(c).cast(t) if c in frame.columns else pl.lit(None, dtype=t).alias(c)
            for c, t in OUT_TYPES.items()]
    return frame.select(pl.col(LINE), *cols)


def store(ctx: LoadContext, frames: Iterator[pl.DataFrame]) -> None:
    """Insert a file's finished frames as ONE streamed statement, parsing ahead.

    `frames` (line_frames -> a format's parse -> `finish`) runs in a `prefetch` thread,
    so the next block is parsed while DuckDB writes this one; the generator must not use
    the connection (call `line_frames(ctx, settled=True)`: this function settles first).
    """
    settle(ctx)
    ready = (out for frame in frames if (out := prepare(ctx, frame)) is not None)
    ctx.insert_stream(TABLE, prefetch(ready))
    ctx.flush_rejects()


def store_blocks(ctx: LoadContext,
                 parse: Callable[[LoadContext, pl.DataFrame], pl.DataFrame],
                 workers: int = 2, block_bytes: int = BLOCK_BYTES) -> None:
    """Load a file whose blocks parse independently, `workers` blocks at once, as ONE
    streamed INSERT.

    `parse(part, lines)` turns a `block_lines` frame into a `finish`ed one. With one
    parsing thread (`store`) the parse was the slow side and left a core idle while DuckDB
    waited for it; polars releases the GIL, so blocks parsed side by side use both cores.
    Each block counts, rejects and tallies into its own `ctx.fork()`, added to `ctx` in
    block order (`absorb`), so the count check and reject line numbers stay exact. `parse`
    must not use the connection.
    """
    settle(ctx)

    def work(block: Block) -> tuple[LoadContext, pl.DataFrame | None]:
        part = ctx.fork()
        lines = block_lines(part, block)
        return part, None if lines is None else prepare(part, parse(part, lines))

    def ready() -> Iterator[pl.DataFrame]:
        for part, frame in ordered_map(work, iter_blocks(ctx.path, block_bytes), workers):
            ctx.absorb(part)
            if frame is not None:
                yield frame

    ctx.insert_stream(TABLE, prefetch(ready()))
    ctx.flush_rejects()


def build_extra(frame: pl.DataFrame) -> pl.Series:
    """`extra`: a JSON object of the frame's non-null `__x_<name>` columns, by name.

    `jsontext.json_object` (every member through polars' JSON encoder) costs about
    3 us a row, as much as parsing a netfilter line. A value holding nothing JSON escapes
    (`"`, backslash, a control character) is written as is, so such rows are assembled
    by `concat_str` instead; only the rows that need escaping go through `json_object`.
    Both give the same text (`tests/test_firewall.py` pins it). Looking for what needs
    escaping costs two thirds of the rest, so rows the format marked `EXTRA_SAFE` are
    not searched.
    """
    cols = [col for col in frame.columns if col.startswith("__x_")]
    if not cols or frame.height == 0:
        return pl.Series("extra", [None] * frame.height, dtype=pl.String)
    keys = {c: c[4:] for c in cols}
    present = [c for c in cols if frame[c].null_count() < frame.height]  # NULL adds nothing
    if not present:
        return pl.Series("extra", ["{}"] * frame.height, dtype=pl.String)
    if frame[present[0]].null_count() == 0:
        fast = _flat_object(frame, present, keys)
    else:
        members = [pl.concat_str([pl.lit(_json_key(keys[c]) + ':"'), pl.col(c).cast(pl.String),
                                  pl.lit('"')]) for c in present]
        fast = pl.format("{{{}}}", pl.concat_str(members, separator=",", ignore_nulls=True))
    extra = frame.select(fast.alias("extra"))["extra"]
    idx = _needs_escape(frame, present)
    if idx.len():
        slow = frame[idx].select(json_object(cols, keys).alias("extra"))["extra"]
        extra = extra.scatter(idx, slow)
    return extra


def _needs_escape(frame: pl.DataFrame, present: list[str]) -> pl.Series:
    """Row numbers of `frame` where a value of the `present` columns holds something JSON
    escapes (`NEEDS_ESCAPE`), searched on the rows not marked `EXTRA_SAFE` only."""
    needs = pl.any_horizontal([pl.col(c).cast(pl.String).str.contains(NEEDS_ESCAPE)
                               .fill_null(False) for c in present])
    if EXTRA_SAFE not in frame.columns:
        return frame.select(needs).to_series().arg_true()
    unsafe = ~frame[EXTRA_SAFE].fill_null(False)
    idx = unsafe.arg_true()
    if idx.len() == 0:
        return idx
    return idx.filter(frame.select(present)[idx].select(needs).to_series())


def _flat_object(frame: pl.DataFrame, present: list[str], keys: dict[str, str]) -> pl.Expr:
    """The JSON object as ONE concat_str (a third of the nested form's cost): the first
    column has no NULL, so every later member can carry its own leading comma; a member
    whose column has NULLs is a piece that is NULL where its value is."""
    parts: list[pl.Expr | str] = ["{"]
    for i, c in enumerate(present):
        key = ("," if i else "") + _json_key(keys[c]) + ':"'
        value = pl.col(c).cast(pl.String)
        if frame[c].null_count() == 0:
            parts += [key, value, '"']
        else:
            parts.append(pl.concat_str([pl.lit(key), value, pl.lit('"')]))
    parts.append("}")
    return concat_pieces(parts)


# Characters JSON must escape; a value without them is written between quotes unchanged.
# `:null` too, from when json_object dropped NULL members by a regex that also cut into a
# value starting with it. json_object now encodes members one by one and writes such a
# value unchanged, as concat_str does: EXTRA_SAFE rows (netfilter shape values may hold
# `:null`) rely on that, and tests/test_firewall_fast.py pins it.
NEEDS_ESCAPE = r'["\\\x00-\x1f]|:null'


def _json_key(name: str) -> str:
    """`"name"` exactly as polars' JSON encoder writes a struct field name."""
    encoded = pl.select(pl.struct(pl.lit("").alias(name)).struct.json_encode()).item()
    return encoded[1:encoded.rindex(":")]


def reject_lines(ctx: LoadContext, frame: pl.DataFrame, mask: pl.Series, reason: str,
                 text: str = "line") -> pl.DataFrame:
    """Reject the rows of a (line_no, line) frame where `mask` holds; return the rest."""
    if mask.any():
        for line_no, raw in frame.filter(mask).select(LINE, text).iter_rows():
            ctx.reject(line_no, reason, raw)
    return frame.filter(~mask)


def split_csv(lines: pl.Series, delimiter: str) -> pl.Series:
    """Fields per line: a bulk split, and the stdlib csv reader (C code) only for the lines
    holding quotes; NULL for a line whose quotes do not balance (a truncated line)."""
    quoted = lines.str.contains('"', literal=True).fill_null(False)
    plain = lines.str.split(delimiter)
    if not quoted.any():
        return plain
    idx = quoted.arg_true()
    parsed: list[list[str] | None] = []
    for text in lines.gather(idx).to_list():
        parsed.append(None if text.count('"') % 2 else
                      next(csv.reader([text], delimiter=delimiter)))
    rest = (~quoted).arg_true()
    both = pl.concat([
        pl.DataFrame({"i": rest, "f": plain.gather(rest)}),
        pl.DataFrame({"i": idx, "f": pl.Series(parsed, dtype=pl.List(pl.String))}),
    ]).sort("i")
    return both["f"]
