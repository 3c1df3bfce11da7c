"""`nvidia-smi dmon` (per device) and `nvidia-smi pmon` (per process) text output.

Both print a `#` line of column names, a `#` line of units, then right-aligned columns,
and repeat the two header lines every so often; `-` means "not supported / no value". The
column set depends on the `-s` selection, the driver version and `-o DT` (which adds local
`Date`/`Time` columns), so columns are taken from the header, never assumed. Without
Date/Time the output has no time at all: ts is NULL and line_no keeps the order.

pmon prints a line with `-` for pid when a GPU has no process in that sample: such a line is
a statement about the GPU, not a process row, and is counted with the header lines (noted).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import polars as pl

from forensics.loaders.base import LoadContext
from forensics.loaders.gpu import common as c
from forensics.loaders.reading import iter_blocks, split_runs
from forensics.loaders.sieve import damaged_tail

# column name -> (target column, kind)
DMON_FIELDS: dict[str, tuple[str, str]] = {
    "gpu": ("gpu_index", "int"),
    "pwr": ("power_w", "num"),
    "gtemp": ("temperature_c", "num"),
    "temp": ("temperature_c", "num"),
    "sm": ("utilization_gpu_pct", "num"),
    "mem": ("utilization_mem_pct", "num"),
    "mclk": ("mem_clock_mhz", "num"),
    "fb": ("memory_used_mib", "num"),
}
PMON_FIELDS: dict[str, tuple[str, str]] = {
    "gpu": ("gpu_index", "int"),
    "pid": ("pid", "int"),
    "type": ("process_type", "text"),
    "sm": ("sm_util_pct", "num"),
    "fb": ("used_memory_mib", "num"),
    "command": ("process_name", "text"),
}
_DMON_HINTS = {"pwr", "gtemp", "temp", "mclk", "pclk"}
_PMON_HINTS = {"pid", "command", "type"}


@dataclass
class _State:
    names: list[str] | None = None
    units: list[str] | None = None
    expect_units: bool = False
    markers: Counter[str] = field(default_factory=Counter)
    idle: int = 0
    dated: bool = False
    undated: bool = False


def header_names(line: bytes) -> list[str] | None:
    """Column names from a `# gpu pwr ...` / `#Date Time gpu ...` line, lower-cased."""
    text = line.decode("utf-8", errors="replace").lstrip("#").strip()
    names = [t.lower() for t in text.split()]
    return names if names and names[0] in ("gpu", "date", "time") else None


def sniff_monitor(head: bytes) -> str | None:
    """'dmon' or 'pmon' when the file opens with their two header lines."""
    lines = [ln.rstrip(b"\r") for ln in head.split(b"\n")[:4]]
    if len(lines) < 3 or not lines[0].startswith(b"#") or not lines[1].startswith(b"#"):
        return None
    names = header_names(lines[0])
    units = lines[1].lstrip(b"#").split()
    if names is None or len(units) != len(names) or b"Idx" not in units:
        return None
    if lines[2].startswith(b"#") or not lines[2].strip():
        return None
    data = lines[2].split()
    if len(data) < len(names) and not ("command" in names and len(data) >= len(names) - 1):
        return None
    kinds = set(names)
    if kinds & _PMON_HINTS and "pid" in kinds:
        return "pmon"
    if kinds & _DMON_HINTS:
        return "dmon"
    return None


class _MonitorBase:
    family = "gpu"
    kind = "dmon"
    fields = DMON_FIELDS

    def sniff(self, path: str, head: bytes) -> float:
        return 0.95 if sniff_monitor(head) == self.kind else 0.0

    def load(self, ctx: LoadContext) -> None:
        c.settle(ctx)
        state = _State()
        for block in iter_blocks(ctx.path):
            ctx.lines_read += block.n_lines
            block = damaged_tail(ctx, type(block)(c.normalise_newlines(block.data),
                                                  block.first_line, block.n_lines, block.damage))
            if block is None:
                continue
            for run in split_runs(block, b"#"):
                self.load_run(ctx, state, run.data, run.first_line, run.special)
        self.finish(ctx, state)

    def finish(self, ctx: LoadContext, state: _State) -> None:
        c.note_markers(ctx, state.markers)
        if state.undated:
            ctx.note(f"{self.kind} output has no Date/Time columns (nvidia-smi {self.kind} "
                     "-o DT adds them): ts is NULL, line_no keeps the sample order")
        if state.idle:
            ctx.note(f"{state.idle} pmon lines say a GPU had no process (pid '-'); they are "
                     "counted as header lines, not process rows")

    def load_run(self, ctx: LoadContext, state: _State, data: bytes, first_line: int,
                 special: bool) -> None:
        """One run from `split_runs` (also used by the capture loader)."""
        if special:
            if c.is_blank(data):
                ctx.blank_lines += 1
                return
            ctx.header_lines += 1
            names = header_names(data)
            if names is not None and not state.expect_units:
                state.names, state.units, state.expect_units = names, None, True
            elif state.expect_units and state.names:
                units = data.lstrip(b"#").decode("utf-8", "replace").split()
                state.units = units if len(units) == len(state.names) else None
                state.expect_units = False
            return
        state.expect_units = False
        if not state.names:
            for i, line in enumerate(data.split(b"\n")):
                if c.is_blank(line):
                    ctx.blank_lines += 1
                else:
                    ctx.reject(first_line + i, f"data line before any '# gpu ...' {self.kind} "
                               "header line", line)
            return
        self._convert(ctx, state, data, first_line)

    def _convert(self, ctx: LoadContext, state: _State, data: bytes, first_line: int) -> None:
        names = state.names
        assert names is not None
        n = len(names)
        lines_col = c.lines_frame(ctx, data, first_line)
        tokens = pl.col("text").str.strip_chars(" \t").str.extract_all(r"\S+")
        frame = lines_col.with_columns(tokens.alias("tok"))
        frame = frame.with_columns(pl.col("tok").list.len().alias("ntok"))
        last_free = names[-1] == "command"
        cols = []
        for i in range(n):
            if last_free and i == n - 1:
                cols.append(pl.col("tok").list.slice(i).list.join(" ").alias(f"c{i}"))
            else:
                cols.append(pl.col("tok").list.get(i, null_on_oob=True).alias(f"c{i}"))
        frame = frame.with_columns(cols)
        blank = frame.filter(pl.col("ntok") == 0)
        ctx.blank_lines += blank.height
        frame = frame.filter(pl.col("ntok") > 0)
        ragged = (pl.col("ntok") < n) if last_free else (pl.col("ntok") != n)
        fails = [pl.when(ragged).then(pl.format(
            "expected " + str(n) + " whitespace-separated values (" + " ".join(names)
            + "), found {}", pl.col("ntok")))]
        typed: list[pl.Expr] = [pl.col(c.LINE)]
        extra_cols, extra_keys = [], []
        used: set[str] = set()
        date_i = names.index("date") if "date" in names else None
        time_i = names.index("time") if "time" in names else None
        for i, name in enumerate(names):
            col = pl.col(f"c{i}")
            unit = state.units[i] if state.units else None
            if i in (date_i, time_i):
                continue
            target = self.fields.get(name)
            if target is None or target[0] in used:
                extra_cols.append(f"c{i}")
                key = f"{name} [{unit}]" if unit and unit not in ("-", "#") else name
                extra_keys.append(key)
                continue
            column, kind = target
            used.add(column)
            if kind == "text":
                typed.append(pl.when(col == "-").then(None).otherwise(col).alias(column))
                continue
            conv = c.number(col)
            if kind == "int":
                conv = pl.when(conv == conv.round(0)).then(conv).cast(pl.Int64, strict=False)
            typed.append(conv.alias(column))
            fails.append(pl.when(c.bad_number(col, conv) & ~ragged).then(pl.format(
                "column " + name + ": '{}' is not " + ("an integer" if kind == "int"
                                                       else "a number"), col.str.slice(0, 80))))
        if date_i is not None and time_i is not None:
            stamp = pl.concat_str(pl.col(f"c{date_i}"), pl.col(f"c{time_i}"), separator=" ")
            naive = stamp.str.to_datetime("%Y%m%d %H:%M:%S", strict=False, time_unit="us")
            conv = c.localise(naive, ctx.options.tz)
            typed += [conv.alias("ts"), naive.alias("__naive")]
            fails.append(pl.when(conv.is_null() & ~ragged).then(pl.format(
                "columns Date/Time: '{}' is not a local time YYYYMMDD HH:MM:SS"
                + ("" if ctx.options.tz == "UTC" else " that exists in " + ctx.options.tz),
                stamp)))
            state.dated = True
        else:
            state.undated = True
        c.count_markers(frame.filter(~ragged), [f"c{i}" for i in range(n)], state.markers)
        frame = frame.with_columns(
            [pl.when(c.is_marker(pl.col(x))).then(None).otherwise(pl.col(x)).alias(x)
             for x in extra_cols])
        out = frame.select(*typed, pl.col("text"),
                           c.extra_expr(extra_cols, extra_keys).alias("extra"),
                           pl.coalesce(fails).alias("__reason"))
        bad = out.filter(pl.col("__reason").is_not_null())
        for line_no, why, text in bad.select(c.LINE, "__reason", "text").iter_rows():
            ctx.reject(line_no, why, text)
        out = out.filter(pl.col("__reason").is_null()).drop("__reason", "text")
        if "__naive" in out.columns:
            if out.height:
                c.note_ambiguous(ctx, out["__naive"], ctx.options.tz)
                if ctx.tz_assumed is None:
                    c.assume_tz(ctx, f"{self.kind} Date/Time columns")
            out = out.drop("__naive")
        self.store(ctx, state, out)

    def store(self, ctx: LoadContext, state: _State, out: pl.DataFrame) -> None:
        raise NotImplementedError


class NvidiaSmiDmon(_MonitorBase):
    """`nvidia-smi dmon [-s ...] [-o DT]` device monitor output."""

    name = "nvidia-smi-dmon"
    description = "nvidia-smi dmon text output (# header lines with units, '-' for no value)"
    kind = "dmon"
    fields = DMON_FIELDS

    def store(self, ctx: LoadContext, state: _State, out: pl.DataFrame) -> None:
        out = out.with_columns(c.host_expr(None, ctx).alias("host"))
        c.insert_samples(ctx, out)


class NvidiaSmiPmon(_MonitorBase):
    """`nvidia-smi pmon [-s ...] [-o DT]` process monitor output."""

    name = "nvidia-smi-pmon"
    description = "nvidia-smi pmon text output (one line per process per sample)"
    kind = "pmon"
    fields = PMON_FIELDS

    def store(self, ctx: LoadContext, state: _State, out: pl.DataFrame) -> None:
        idle = out.filter(pl.col("pid").is_null())
        if idle.height:
            state.idle += idle.height
            ctx.header_lines += idle.height
            out = out.filter(pl.col("pid").is_not_null())
        out = out.with_columns(c.host_expr(None, ctx).alias("host"))
        c.insert_processes(ctx, out)


