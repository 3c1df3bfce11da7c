"""GPU telemetry: `nvidia-smi --query-gpu=... --format=csv` captures and DCGM exporter
Prometheus text, per host.

The nvidia-smi field list is an order-preserving subset of the real H100 capture's
(timestamp first, units in the header, values with their units, ', ' separators). DCGM
text repeats HELP/TYPE per scrape, as concatenated scrapes do, and every sample carries
its millisecond timestamp so the file is a time series, not one snapshot.

The signal: training has a rhythm (near 100% utilisation with step jitter, a dip and a
power drop at every hourly checkpoint, varying power); a miner is flat (100%, constant
power and memory) and keeps going when no training run is scheduled.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from forensics.scenarios import model as m
from forensics.scenarios.writing import Located, fmt, locate, write_text

SMI_FIELDS = ["timestamp", "driver_version", "name", "uuid", "pci.bus_id", "index", "pstate",
              "memory.total [MiB]", "memory.used [MiB]", "memory.free [MiB]",
              "utilization.gpu [%]", "utilization.memory [%]", "temperature.gpu",
              "power.draw [W]", "power.limit [W]", "clocks.current.sm [MHz]",
              "clocks.current.memory [MHz]", "hostname"]
GPU_NAME = "NVIDIA A10G"
DRIVER = "550.90.07"
MEM_TOTAL = 23028
POWER_LIMIT = 300.0

GPU_SCHEMA: dict[str, pl.DataType] = {
    "ts": pl.Int64, "host": pl.String, "gpu": pl.Int64, "util": pl.Int64, "mem_util": pl.Int64,
    "mem_used": pl.Int64, "temp": pl.Int64, "power": pl.Float64, "sm_clock": pl.Int64,
}


def gpu_uuid(host: str, gpu: int) -> str:
    h = sum(ord(c) * (i + 7) for i, c in enumerate(host))
    return f"GPU-{h:08x}-{gpu:04x}-4a10-9e{gpu:02d}-{h * 2654435761 % 16**12:012x}"


def timeline(rng: np.random.Generator, host: str, interval_us: int,
             training: list[tuple[int, int]], overrides: list[dict[str, Any]]) -> pl.DataFrame:
    """Samples of a host's 4 GPUs: idle, training (rhythm) or overridden (e.g. a miner)."""
    ts = np.arange(m.BASE_US, m.END_US, interval_us)
    n = len(ts)
    rows = []
    for gpu in range(4):
        jitter = rng.integers(0, 900, size=n) * 1000  # nvidia-smi runs a little late
        t = ts + jitter + gpu * 3000
        train = np.zeros(n, dtype=bool)
        for a, b in training:
            train |= (t >= a) & (t < b)
        minute = ((t - m.BASE_US) // m.MINUTE) % 60
        ckpt = train & (minute < 4)  # hourly checkpoint: GPUs wait on I/O
        util = np.where(train, rng.integers(93, 101, n), 0)
        util = np.where(ckpt, rng.integers(3, 30, n), util)
        power = np.where(train, rng.normal(268, 14, n), rng.normal(58, 2.5, n))
        power = np.where(ckpt, rng.normal(115, 20, n), power)
        mem = np.where(train, 20500 + rng.integers(-300, 300, n), 0)
        mem_util = np.where(train, rng.integers(35, 62, n), 0)
        mem_util = np.where(ckpt, rng.integers(0, 8, n), mem_util)
        temp = np.where(train, rng.integers(66, 79, n), rng.integers(29, 35, n))
        clock = np.where(train, rng.integers(1650, 1711, n), 210)
        for ov in overrides:
            if ov["host"] != host or ov["gpu"] != gpu:
                continue
            on = (t >= ov["start"]) & (t < ov["end"])
            util = np.where(on, 100, util)
            power = np.where(on, ov.get("power", 231.0) + rng.normal(0, 0.6, n), power)
            mem = np.where(on, mem + ov.get("mem", 2412), mem)
            mem_util = np.where(on, np.maximum(mem_util, 97), mem_util)
            temp = np.where(on, 74, temp)
            clock = np.where(on, 1710, clock)
        rows.append(pl.DataFrame({
            "ts": t, "host": np.full(n, host), "gpu": np.full(n, gpu), "util": util,
            "mem_util": mem_util, "mem_used": np.minimum(mem, MEM_TOTAL - 500), "temp": temp,
            "power": np.clip(np.round(power, 2), 12.0, POWER_LIMIT), "sm_clock": clock,
        }, schema=GPU_SCHEMA))
    return pl.concat(rows).sort(["ts", "gpu"])


def tag_rows(frame: pl.DataFrame, marks: list[dict[str, Any]]) -> pl.DataFrame:
    """Frame with `tag`/`shows`: rows inside a marked window (host, gpu, start, end)."""
    tag = pl.lit(None, dtype=pl.String)
    shows = pl.lit(None, dtype=pl.List(pl.String))
    for mk in marks:
        inside = ((pl.col("host") == mk["host"]) & (pl.col("gpu") == mk["gpu"])
                  & (pl.col("ts") >= mk["start"]) & (pl.col("ts") < mk["end"]))
        tag = pl.when(inside).then(pl.lit(mk["tag"])).otherwise(tag)
        shows = pl.when(inside).then(pl.lit(mk["shows"], dtype=pl.List(pl.String))).otherwise(shows)
    return frame.with_columns(tag.alias("tag"), shows.alias("shows"))


def _uuid_expr(frame: pl.DataFrame) -> pl.Expr:
    """The GPU's UUID by a lookup over the few distinct (host, gpu) pairs (no per-row
    Python)."""
    pairs = frame.select("host", "gpu").unique().sort(["host", "gpu"]).iter_rows()
    table = {f"{h}:{g}": gpu_uuid(h, g) for h, g in pairs}
    key = pl.concat_str([pl.col("host"), pl.lit(":"), pl.col("gpu").cast(pl.String)])
    return key.replace_strict(table, return_dtype=pl.String)


def write_smi(path: Path, frame: pl.DataFrame) -> Located:
    bus = pl.col("gpu").replace_strict({g: f"00000000:00:{0x1B + g:02X}.0" for g in range(8)},
                                       return_dtype=pl.String)
    body = frame.select(fmt(
        "{}, " + DRIVER + ", " + GPU_NAME + ", {}, {}, {}, {}, " + f"{MEM_TOTAL} MiB" +
        ", {} MiB, {} MiB, {} %, {} %, {}, {} W, " + f"{POWER_LIMIT:.2f} W" + ", {} MHz, "
        "6250 MHz, {}",
        pl.from_epoch(pl.col("ts") // 1000, time_unit="ms").dt.strftime("%Y/%m/%d %H:%M:%S%.3f"),
        _uuid_expr(frame), bus, pl.col("gpu"),
        pl.when(pl.col("util") > 0).then(pl.lit("P0")).otherwise(pl.lit("P8")),
        pl.col("mem_used"), MEM_TOTAL - pl.col("mem_used"), pl.col("util"), pl.col("mem_util"),
        pl.col("temp"), _two(pl.col("power")), pl.col("sm_clock"), pl.col("host"),
    ).alias("line"))
    write_text(path, [", ".join(SMI_FIELDS)], body)
    return locate(frame, 2)


def _two(col: pl.Expr) -> pl.Expr:
    cents = (col * 100).round(0).cast(pl.Int64)
    return pl.concat_str([(cents // 100).cast(pl.String), pl.lit("."),
                          (cents % 100).cast(pl.String).str.zfill(2)])


_DCGM = [
    ("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %).", "gauge", "util"),
    ("DCGM_FI_DEV_POWER_USAGE", "Power draw (in W).", "gauge", "power"),
    ("DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB).", "gauge", "mem_used"),
]


def write_dcgm(path: Path, frame: pl.DataFrame, interval_us: int) -> Located:
    """Concatenated scrapes; each sample line carries its ms timestamp. Line numbers of
    tagged rows point at their DCGM_FI_DEV_GPU_UTIL sample."""
    scrape = (pl.col("ts") - m.BASE_US) // interval_us
    f = frame.with_columns(scrape.alias("__scrape")).with_columns(
        pl.col("ts").min().over("__scrape").alias("__sts"))
    labels = fmt('{gpu="{}",UUID="{}",device="nvidia{}",modelName="' + GPU_NAME +
                 '",Hostname="{}",DCGM_FI_DRIVER_VERSION="' + DRIVER + '"}',
                 pl.col("gpu"),
                 _uuid_expr(frame),
                 pl.col("gpu"), pl.col("host"))
    parts = []
    for k, (name, help_, kind, col) in enumerate(_DCGM):
        value = _two(pl.col(col)) if col == "power" else pl.col(col).cast(pl.String)
        samples = f.select(
            pl.col("__scrape"), pl.lit(k * 10 + 2).alias("__o"), pl.col("gpu").alias("__g"),
            fmt(name + "{} {} {}", labels, value, pl.col("__sts") // 1000).alias("line"),
            pl.col("tag") if k == 0 else pl.lit(None, dtype=pl.String).alias("tag"),
            pl.col("shows") if k == 0 else pl.lit(None, dtype=pl.List(pl.String)).alias("shows"))
        heads = f.select(pl.col("__scrape")).unique(maintain_order=True)
        for o, text in ((0, f"# HELP {name} {help_}"), (1, f"# TYPE {name} {kind}")):
            parts.append(heads.with_columns(
                pl.lit(k * 10 + o).alias("__o"), pl.lit(-1, dtype=pl.Int64).alias("__g"),
                pl.lit(text).alias("line"), pl.lit(None, dtype=pl.String).alias("tag"),
                pl.lit(None, dtype=pl.List(pl.String)).alias("shows")))
        parts.append(samples.with_columns(pl.col("__g").cast(pl.Int64)))
    out = (pl.concat([p.select("__scrape", pl.col("__o").cast(pl.Int64), "__g", "line", "tag",
                               "shows") for p in parts])
           .sort(["__scrape", "__o", "__g"]))
    write_text(path, [], out.select("line"))
    return locate(out, 1)
