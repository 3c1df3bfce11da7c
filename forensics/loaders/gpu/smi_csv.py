"""`nvidia-smi --query-gpu=... --format=csv` and `--query-compute-apps` / `--query-accounted-apps`.

nvidia-smi writes `, `-separated values with no quoting, a header naming the fields (with the
unit in brackets, `memory.used [MiB]`) unless `noheader` was asked for, and the unit after
each value unless `nounits` was. The field list is whatever the operator typed, so the
loader maps the fields it knows onto columns and keeps every other field in `extra` under
its header name. Without a header the field order is unknowable (there is no default
order for --query-gpu), so the analyst must give it in `options.extra["fields"]`; otherwise
every line is rejected with a message saying so rather than guessing.

A repeated header (outputs of several runs concatenated) is counted as a header line; a
different header mid-file switches the field list from that line on.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import polars as pl

from forensics.loaders.base import LoadContext
from forensics.loaders.gpu import common as c
from forensics.loaders.reading import iter_blocks, prefetch, split_runs
from forensics.loaders.sieve import damaged_tail

_FIELD = re.compile(r"^([A-Za-z_][A-Za-z0-9_.\-]*)(?:\s*\[([^\]]*)\])?$")
_HEADLIKE = r"^[a-z][A-Za-z0-9_.\-]*(?: \[[^\]]*\])?$"
_TS_FORMAT = "%Y/%m/%d %H:%M:%S%.f"
_TS_LEAD = re.compile(rb"^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}(?:\.\d+)?, ")
_X = "__extra_field__"
_BAD_TEXT = "__bad_text__"  # the careful reader's reason for a line it could not decode

# field name as nvidia-smi spells it -> (column, kind); kind: num, int, text, time, host
GPU_FIELDS: dict[str, tuple[str, str]] = {
    "timestamp": ("ts", "time"),
    "index": ("gpu_index", "int"),
    "uuid": ("gpu_uuid", "text"),
    "gpu_uuid": ("gpu_uuid", "text"),
    "name": ("gpu_name", "text"),
    "gpu_name": ("gpu_name", "text"),
    "utilization.gpu": ("utilization_gpu_pct", "num"),
    "utilization.memory": ("utilization_mem_pct", "num"),
    "memory.used": ("memory_used_mib", "num"),
    "memory.total": ("memory_total_mib", "num"),
    "power.draw": ("power_w", "num"),
    "temperature.gpu": ("temperature_c", "num"),
    "clocks.sm": ("sm_clock_mhz", "num"),
    "clocks.current.sm": ("sm_clock_mhz", "num"),
    "clocks.mem": ("mem_clock_mhz", "num"),
    "clocks.current.memory": ("mem_clock_mhz", "num"),
    "hostname": ("host", "text"),
}

APP_FIELDS: dict[str, tuple[str, str]] = {
    "timestamp": ("ts", "time"),
    "gpu_uuid": ("gpu_uuid", "text"),
    "uuid": ("gpu_uuid", "text"),
    "pid": ("pid", "int"),
    "process_name": ("process_name", "text"),
    "name": ("process_name", "text"),
    "used_gpu_memory": ("used_memory_mib", "num"),
    "used_memory": ("used_memory_mib", "num"),
    "gpu_util": ("sm_util_pct", "num"),
    "gpu_utilization": ("sm_util_pct", "num"),
}

_GPU_HINTS = {"uuid", "utilization.gpu", "memory.used", "memory.total", "power.draw",
              "temperature.gpu", "index", "pci.bus_id", "clocks.sm", "clocks.current.sm",
              "driver_version", "pstate", "fan.speed", "serial"}
_APP_HINTS = {"process_name", "used_gpu_memory", "used_memory", "gpu_uuid", "gpu_bus_id"}


@dataclass
class Header:
    """One field list: names (unique), units from the header, and the raw tokens."""

    names: list[str]
    units: list[str | None]
    keys: list[str]  # name for `extra`, with the unit in brackets when the header had one


def parse_header(text: str) -> Header | None:
    """A header line, or None when `text` is not one (every token must be a field name)."""
    tokens = [t.strip(" \t\r") for t in text.split(",")]
    names: list[str] = []
    units: list[str | None] = []
    keys: list[str] = []
    for tok in tokens:
        m = _FIELD.match(tok)
        if not m:
            return None
        name = m.group(1)
        base, n = name, 2
        while name in names:
            name = f"{base}#{n}"
            n += 1
        names.append(name)
        units.append(m.group(2))
        keys.append(tok if m.group(2) is None else f"{m.group(1)} [{m.group(2)}]")
    return Header(names, units, keys)


def _header_from_option(value: object) -> Header | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else ",".join(str(v) for v in value)  # type: ignore[union-attr]
    return parse_header(text)


def _first_line(head: bytes) -> bytes:
    for line in head.split(b"\n")[:20]:
        if line.strip(b" \t\r"):
            return line.rstrip(b"\r")
    return b""


def sniff_kind(head: bytes) -> tuple[str | None, float]:
    """('gpu' | 'apps' | None, confidence) from the first non-blank line."""
    line = _first_line(head)
    if not line or b"," not in line:
        return None, 0.0
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return None, 0.0
    header = parse_header(text)
    if header is not None:
        names = {n.split("#")[0] for n in header.names}
        if "pid" in names and names & (_APP_HINTS | {"name", "timestamp"}):
            return "apps", 0.95
        if "pid" not in names and (names & _GPU_HINTS) and ", " in text:
            return "gpu", 0.95
        return None, 0.0
    if _TS_LEAD.match(line) and line.count(b", ") >= 2:
        return "gpu", 0.55  # headerless: needs options.extra["fields"]
    return None, 0.0


@dataclass
class _State:
    header: Header | None = None
    warned_headerless: bool = False
    markers: Counter[str] = field(default_factory=Counter)
    timed: bool = False
    # where converted frames go when the load streams them (None: insert each at once)
    sink: list[pl.DataFrame] | None = None


@dataclass
class _Check:
    """One converted field's test: `bad` (a value that is neither valid nor a marker) and
    the reject reason; `raw` and `value` name the text and the converted column."""

    raw: str
    value: str
    bad: pl.Expr
    reason: pl.Expr


class _SmiCsvBase:
    family = "gpu"
    kind = "gpu"
    table = "gpu_samples"
    fields: dict[str, tuple[str, str]] = GPU_FIELDS

    def sniff(self, path: str, head: bytes) -> float:
        kind, score = sniff_kind(head)
        return score if kind == self.kind else 0.0

    def load(self, ctx: LoadContext) -> None:
        c.settle(ctx)
        c.check_tz(ctx.options.tz)
        state = _State(sink=[])
        # Parse in a thread while DuckDB writes the previous block: one streamed INSERT for
        # the whole file (see ARCHITECTURE.md). The producer never touches the connection.
        ctx.insert_stream(self.table, prefetch(self._frames(ctx, state)))
        c.note_markers(ctx, state.markers)

    def _frames(self, ctx: LoadContext, state: _State) -> Iterator[pl.DataFrame]:
        assert state.sink is not None
        # reading (a copy and a newline count per block, under the GIL) in a thread
        # of its own, so it overlaps the parse (polars releases the GIL)
        for block in prefetch(iter_blocks(ctx.path), depth=1):
            ctx.lines_read += block.n_lines
            block = damaged_tail(ctx, type(block)(c.normalise_newlines(block.data),
                                                  block.first_line, block.n_lines, block.damage))
            if block is None:
                continue
            data = block.data
            if state.header is not None and data and not data.startswith(b"\n") \
                    and not data.endswith(b"\n"):
                # Once the header is known, the whole block goes to the reader without a
                # search for empty lines: the reader gives each an all-NULL row, which
                # `_convert` counts as blank, as a blank run would have been counted.
                self.load_lines(ctx, state, data, block.first_line)
            else:
                for run in split_runs(block, None):
                    if run.special:
                        ctx.blank_lines += 1
                        continue
                    self.load_lines(ctx, state, run.data, run.first_line)
            yield from state.sink
            state.sink.clear()

    # -- one run of lines (also used by the capture loader) -------------------------------

    def load_lines(self, ctx: LoadContext, state: _State, data: bytes, first_line: int) -> None:
        lines: list[bytes] | None = None
        while data:
            if state.header is None:
                nl = data.find(b"\n")
                first = data if nl < 0 else data[:nl]
                header = parse_header(first.decode("utf-8", errors="replace"))
                if header is not None and _looks_like_header(first):
                    state.header = header
                    ctx.header_lines += 1
                    if nl < 0:
                        return
                    data, first_line = data[nl + 1:], first_line + 1
                    continue
                state.header = _header_from_option(ctx.options.extra.get("fields"))
                if state.header is None:
                    self._reject_all(ctx, data, first_line)
                    return
                ctx.note("the file has no header; field order from options.extra['fields']: "
                         + ", ".join(state.header.keys))
            header = state.header
            frame = _read(data, len(header.names), first_line)
            if frame is None:
                lines = data.split(b"\n")
                frame = _read_careful(lines, len(header.names), first_line)
            # a header-like first value marks a repeated or new header: split there
            c0 = pl.col("c0").str.strip_chars(" ")
            heads = frame.filter(c0.str.contains(_HEADLIKE).fill_null(False))[c.LINE]
            cut_at = None
            if lines is None and heads.len():
                lines = data.split(b"\n")
            for line_no in heads.to_list():
                if parse_header(lines[line_no - first_line].decode("utf-8", "replace")):  # type: ignore[index]
                    cut_at = line_no
                    break
            if cut_at is None:
                self._convert(ctx, state, frame, data, lines, first_line)
                return
            k = cut_at - first_line
            self._convert(ctx, state, frame.filter(pl.col(c.LINE) < cut_at), data, lines,
                          first_line)
            assert lines is not None
            new = parse_header(lines[k].decode("utf-8", "replace"))
            assert new is not None
            if new.keys != header.keys:
                ctx.note(f"line {cut_at}: a new header changes the field list from here on")
            state.header = new
            ctx.header_lines += 1
            rest = lines[k + 1:]
            data, first_line, lines = b"\n".join(rest), cut_at + 1, None
            if not rest:
                return

    def _reject_all(self, ctx: LoadContext, data: bytes, first_line: int) -> None:
        reason = ("no header line, and nvidia-smi's field order cannot be known without one: "
                  "load again with options.extra['fields'] = the --query-gpu= list "
                  "(e.g. 'timestamp,index,uuid,utilization.gpu')")
        for i, line in enumerate(data.split(b"\n")):
            if c.is_blank(line):
                ctx.blank_lines += 1
            else:
                ctx.reject(first_line + i, reason, line)

    def _convert(self, ctx: LoadContext, state: _State, frame: pl.DataFrame, data: bytes,
                 lines: list[bytes] | None, first_line: int) -> None:
        if frame.height == 0:
            return
        header = state.header
        assert header is not None
        n = len(header.names)
        cols = [f"c{i}" for i in range(n)]
        # nvidia-smi separates with ", ": the space is the separator's, not the value's
        frame = frame.with_columns(pl.col(cols[1:]).str.strip_prefix(" "))
        # ragged lines: the last value missing or one too many (checked exactly below)
        suspect = frame.filter(pl.col(_X).is_not_null() | pl.col(cols[-1]).is_null()
                               | pl.all_horizontal(pl.col(cols).is_null()))
        reasons: dict[int, str] = {}
        blank_rows: set[int] = set()
        if suspect.height:
            if lines is None:
                lines = data.split(b"\n")
            for line_no in suspect[c.LINE].to_list():
                raw = lines[line_no - first_line]
                if c.is_blank(raw):
                    blank_rows.add(line_no)
                    continue
                found = raw.count(b",") + 1
                if found != n:
                    reasons[line_no] = (f"expected {n} comma-separated values for the header's "
                                        f"fields, found {found}")
        if _BAD_TEXT in frame.columns:  # lines that are not UTF-8 (they also look ragged)
            undecoded = frame.filter(pl.col(_BAD_TEXT).is_not_null())
            reasons.update(undecoded.select(c.LINE, _BAD_TEXT).iter_rows())
        # Conversions in two stages (the UTC time is made from the parsed local time: eager
        # polars shares no subexpressions, so nothing is parsed twice), then the checks.
        stage_a: list[pl.Expr] = []
        stage_b: list[pl.Expr] = []
        keep: list[str] = [c.LINE]
        checks: list[_Check] = []
        text_raw: list[str] = []  # raw columns that may hold a marker wherever
        extra_cols: list[str] = []
        extra_keys: list[str] = []
        used: set[str] = set()
        for i, (name, unit, key) in enumerate(zip(header.names, header.units, header.keys,
                                                  strict=True)):
            raw = f"c{i}"
            col = pl.col(raw)
            target = self.fields.get(name)
            if target is None or target[0] in used:
                if unit:
                    col = col.str.strip_suffix(" " + unit)
                extra_cols.append(f"x{i}")
                extra_keys.append(key)
                stage_a.append(pl.when(c.is_marker(col)).then(None).otherwise(col)
                               .alias(f"x{i}"))
                text_raw.append(raw)
                continue
            column, kind = target
            used.add(column)
            keep.append(column)
            value = pl.col(column)
            if kind == "time":
                stage_a.append(col.str.to_datetime(_TS_FORMAT, strict=False, time_unit="us")
                               .alias("__naive"))
                stage_b.append(c.localise(pl.col("__naive"), ctx.options.tz).alias(column))
                keep.append("__naive")
                bad = col.is_not_null() & ~c.is_marker(col) & value.is_null()
                checks.append(_Check(raw, column, bad, pl.format(
                    "field " + name + ": {} is not a time YYYY/MM/DD HH:MM:SS.mmm"
                    + ("" if ctx.options.tz == "UTC" else " that exists in " + ctx.options.tz),
                    _show(col))))
                state.timed = True
            elif kind in ("num", "int"):
                conv = c.number(col, unit)
                if kind == "int":
                    conv = pl.when(conv == conv.round(0)).then(conv)
                    conv = conv.cast(pl.Int64, strict=False)
                stage_a.append(conv.alias(column))
                checks.append(_Check(raw, column, c.bad_number(col, value), pl.format(
                    "field " + name + ": {} is not " + ("an integer" if kind == "int"
                                                        else "a number"), _show(col))))
            else:
                stage_a.append(pl.when(c.is_marker(col)).then(None).otherwise(col)
                               .alias(column))
                text_raw.append(raw)
        work = frame.with_columns(stage_a)
        if stage_b:
            work = work.with_columns(stage_b)
        # A converted value that is NULL where the text was not is a marker or a bad value;
        # only the columns that have such a row are examined further (markers never
        # convert, so a column without one holds no marker either).
        hit = checks
        if checks:
            flags = work.select([(pl.col(k.value).is_null() & pl.col(k.raw).is_not_null())
                                 .any().alias(k.value) for k in checks]).row(0)
            hit = [k for k, flagged in zip(checks, flags, strict=True) if flagged]
        c.count_markers(work, text_raw + [k.raw for k in hit], state.markers)
        typed = work.select(*keep, *extra_cols, pl.lit(None, dtype=pl.String).alias("__reason"))
        if hit:
            why = work.filter(pl.any_horizontal([k.bad for k in hit])).select(
                c.LINE, pl.coalesce([pl.when(k.bad).then(k.reason) for k in hit]).alias("w"))
            if why.height:
                typed = typed.with_columns(
                    pl.col(c.LINE).replace_strict(dict(why.iter_rows()), default=None,
                                                  return_dtype=pl.String).alias("__reason"))
        typed = c.with_extra(typed, extra_cols, extra_keys)
        if blank_rows:
            ctx.blank_lines += len(blank_rows)
            typed = typed.filter(~pl.col(c.LINE).is_in(list(blank_rows)))
        if reasons:
            typed = typed.with_columns(
                pl.col(c.LINE).replace_strict(reasons, default=None, return_dtype=pl.String)
                .fill_null(pl.col("__reason")).alias("__reason"))
        bad = typed.filter(pl.col("__reason").is_not_null())
        if bad.height:
            if lines is None:
                lines = data.split(b"\n")
            for line_no, reason in bad.select(c.LINE, "__reason").iter_rows():
                ctx.reject(line_no, reason, lines[line_no - first_line])
            typed = typed.filter(pl.col("__reason").is_null())
        if "__naive" in typed.columns:
            c.note_ambiguous(ctx, typed["__naive"], ctx.options.tz)
            if typed["__naive"].null_count() < typed.height and ctx.tz_assumed is None:
                c.assume_tz(ctx, "nvidia-smi timestamps")
        typed = typed.drop("__reason", "__naive", strict=False)
        if state.sink is not None:
            if typed.height:
                state.sink.append(self.rows(ctx, typed))
        else:
            self.store(ctx, typed)

    def rows(self, ctx: LoadContext, typed: pl.DataFrame) -> pl.DataFrame:
        """The converted rows as the target table's columns (no database access)."""
        raise NotImplementedError

    def store(self, ctx: LoadContext, typed: pl.DataFrame) -> None:
        """Insert the converted rows at once (the capture loader's way)."""
        c.settle(ctx)
        ctx.insert(self.table, self.rows(ctx, typed))



def _show(col: pl.Expr) -> pl.Expr:
    return pl.format("'{}'", col.str.slice(0, 80))


def _looks_like_header(line: bytes) -> bool:
    first = line.split(b",", 1)[0].strip()
    return bool(re.match(_HEADLIKE.encode(), first))


def _read(data: bytes, n: int, first_line: int) -> pl.DataFrame | None:
    schema = {f"c{i}": pl.String for i in range(n)} | {_X: pl.String}
    try:
        frame = pl.read_csv(
            data, has_header=False, separator=",", quote_char=None, schema=schema,
            missing_columns="insert", truncate_ragged_lines=True, encoding="utf8",
            row_index_name=c.LINE, row_index_offset=first_line, raise_if_empty=False,
        )
    except (pl.exceptions.ComputeError, pl.exceptions.SchemaError, OverflowError):
        return None
    expected = data.count(b"\n") + 1
    if frame.height != expected:
        return None
    return frame.with_columns(pl.col(c.LINE).cast(pl.Int64))


def _read_careful(lines: list[bytes], n: int, first_line: int) -> pl.DataFrame:
    """Line by line, for a block the bulk reader could not take (invalid UTF-8 and such).

    A line that is not UTF-8 keeps no values, only the reason in `_BAD_TEXT`, so that
    `_convert` rejects it: decoding it with replacement characters would store text the
    file never held.
    """
    rows = []
    for i, raw in enumerate(lines):
        if not raw:  # an empty line: all NULL, as the bulk reader has it (counted as blank)
            rows.append([first_line + i, *([None] * (n + 2))])
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            rows.append([first_line + i, *([None] * (n + 1)),
                         f"not valid UTF-8 at byte {exc.start}"])
            continue
        parts = text.split(",")
        cells: list[str | None] = [*parts[:n], *([None] * (n - len(parts)))]
        cells.append(",".join(parts[n:]) if len(parts) > n else None)
        rows.append([first_line + i, *cells, None])
    schema = ({c.LINE: pl.Int64} | {f"c{i}": pl.String for i in range(n)}
              | {_X: pl.String, _BAD_TEXT: pl.String})
    return pl.DataFrame(rows, schema=schema, orient="row")


class NvidiaSmiQueryGpu(_SmiCsvBase):
    """`nvidia-smi --query-gpu=<fields> --format=csv[,noheader][,nounits]`."""

    name = "nvidia-smi-query-gpu"
    description = ("nvidia-smi --query-gpu=... --format=csv (any field list, with or without "
                   "units; headerless needs options.extra['fields'])")
    kind = "gpu"
    fields = GPU_FIELDS
    table = "gpu_samples"

    def rows(self, ctx: LoadContext, typed: pl.DataFrame) -> pl.DataFrame:
        host = pl.col("host") if "host" in typed.columns else None
        mig = None
        if "gpu_uuid" in typed.columns:
            mig = pl.when(pl.col("gpu_uuid").str.starts_with("MIG-")).then(pl.col("gpu_uuid"))
        typed = typed.with_columns(c.host_expr(host, ctx).alias("host"))
        if mig is not None:
            typed = typed.with_columns(mig.alias("mig_instance"))
        return c.finish(typed, c.SAMPLE_COLUMNS)


class NvidiaSmiQueryApps(_SmiCsvBase):
    """`nvidia-smi --query-compute-apps=...` (and --query-accounted-apps) CSV."""

    name = "nvidia-smi-query-apps"
    description = ("nvidia-smi --query-compute-apps=... / --query-accounted-apps=... "
                   "--format=csv (one row per process)")
    kind = "apps"
    fields = APP_FIELDS
    table = "gpu_processes"

    def rows(self, ctx: LoadContext, typed: pl.DataFrame) -> pl.DataFrame:
        typed = typed.with_columns(c.host_expr(None, ctx).alias("host"))
        return c.finish(typed, c.PROCESS_COLUMNS)
