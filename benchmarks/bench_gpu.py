"""Benchmark the GPU loaders on generated files of >= 1,000,000 samples each.

    /tmp/venv/bin/python benchmarks/bench_gpu.py [--samples N]

nvidia-smi CSV: N rows of a typical `--query-gpu` field list with units (one row = one
sample). Prometheus range JSON: N (series, value) pairs, 8 GPUs x 4 DCGM metrics, which
pivot into N/4 rows; throughput is printed both per input sample and per output row.
Each file is loaded into a case *file* (not :memory:) with `forensics.open_case`, in a fresh
process, so peak RSS is the load's own; CPU seconds count every thread (the machine is
shared: compare CPU, and run twice before believing a wall-clock figure).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import polars as pl
from child import load_source  # this folder is on sys.path when run

REPO = Path(__file__).resolve().parent.parent

CSV_HEADER = ("timestamp, index, uuid, name, utilization.gpu [%], utilization.memory [%], "
              "memory.used [MiB], memory.total [MiB], power.draw [W], temperature.gpu, "
              "clocks.current.sm [MHz], clocks.current.memory [MHz], pci.bus_id")


def make_csv(path: Path, n: int) -> None:
    gpus = 8
    i = pl.int_range(0, n, eager=True)
    frame = pl.DataFrame({"i": i}).with_columns(
        (pl.lit(1_700_000_000_000) + (pl.col("i") // gpus) * 1000).alias("ms"),
        (pl.col("i") % gpus).alias("g"),
    )
    ts = pl.from_epoch("ms", time_unit="ms").dt.strftime("%Y/%m/%d %H:%M:%S%.3f")
    line = pl.concat_str([
        ts, pl.col("g").cast(pl.String),
        pl.format("GPU-0000000{}-aaaa-bbbb-cccc-dddddddddddd", pl.col("g")),
        pl.lit("NVIDIA H100 80GB HBM3"),
        pl.format("{} %", pl.col("i") % 101), pl.format("{} %", pl.col("i") % 37),
        pl.format("{} MiB", pl.col("i") % 81559), pl.lit("81559 MiB"),
        pl.format("{}.{} W", 100 + pl.col("i") % 600, pl.col("i") % 100),
        (30 + pl.col("i") % 50).cast(pl.String),
        pl.lit("1980 MHz"), pl.lit("2619 MHz"),
        pl.format("00000000:{}:00.0", pl.col("g") + 10),
    ], separator=", ")
    body = frame.select(line.alias("l"))["l"]
    with open(path, "w") as fh:
        fh.write(CSV_HEADER + "\n")
        fh.write("\n".join(body.to_list()))
        fh.write("\n")


def make_range_json(path: Path, n: int) -> None:
    metrics = ["DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_POWER_USAGE",
               "DCGM_FI_DEV_GPU_TEMP"]
    gpus = 8
    per_series = -(-n // (gpus * len(metrics)))
    with open(path, "w") as fh:
        fh.write('{"status":"success","data":{"resultType":"matrix","result":[')
        first = True
        for g in range(gpus):
            for m in metrics:
                labels = {"__name__": m, "Hostname": "gpu-node-3", "gpu": str(g),
                          "UUID": f"GPU-0000000{g}-aaaa-bbbb-cccc-dddddddddddd",
                          "device": f"nvidia{g}", "modelName": "NVIDIA H100 80GB HBM3",
                          "instance": "10.1.2.3:9400", "job": "dcgm"}
                values = ",".join(f'[{1_700_000_000 + 15 * k},"{(k * 7 + g) % 100}"]'
                                  for k in range(per_series))
                fh.write(("" if first else ",") + '{"metric":' + json.dumps(labels)
                         + ',"values":[' + values + "]}")
                first = False
        fh.write("]}}")


def measure(path: Path, case_path: Path) -> dict:
    """In a fresh process (so peak RSS is the load's own): load `path` into a case file."""
    code = (
        load_source(REPO, path, case_path)
        + "print(json.dumps({'status': f.status, 'message': f.message, 'format': f.format,"
        " 'rows': f.rows, 'rejects': f.rejects, 'seconds': dt, 'cpu': cpu,"
        " 'rss': peak_rss_mib()}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(label: str, path: Path, samples: int) -> None:
    r = measure(path, path.parent / f"{label.split()[0]}.duckdb")
    if r["status"] != "loaded":
        raise SystemExit(f"{label}: {r['status']} {r['message']}")
    elapsed, rows = r["seconds"], r["rows"]
    size = os.path.getsize(path) / 1e6
    print(f"{label:28s} {r['format']:24s} {size:7.1f} MB  {samples:>9,d} samples  "
          f"{rows:>9,d} rows  {r['rejects']} rejects  {elapsed:6.2f} s  "
          f"{samples / elapsed:>10,.0f} samples/s  {rows / elapsed:>10,.0f} rows/s  "
          f"cpu {r['cpu']:5.2f} s (all threads)  load avg {os.getloadavg()[0]:.1f}  "
          f"peak RSS {r['rss']:,.0f} MiB")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=1_000_000)
    args = ap.parse_args()
    n = args.samples
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        csv = d / "query_gpu.csv"
        make_csv(csv, n)
        run("nvidia-smi --query-gpu CSV", csv, n)
        rj = d / "query_range.json"
        make_range_json(rj, n)
        per = -(-n // 32) * 32
        run("Prometheus range JSON", rj, per)


if __name__ == "__main__":
    main()
