"""Where the netfilter load spends its CPU: per stage, on one thread, and the DuckDB write
split by column.

`bench_firewall.py` gives the rate of the real load (two parsing threads beside DuckDB's
writer); this script says which stage to work on next. It loads the same generated file
with ONE parsing thread and every block parsed before DuckDB starts, so each stage's CPU
seconds (`time.process_time`, all threads of the process) are its own and not another
stage's running beside it. Then it writes the prepared rows again into fresh databases,
the way `LoadContext.insert_stream` hands them over (polars' own Arrow layout, 16k-row
batches), with all columns, without `message`, without `extra` and without both.

    python benchmarks/profile_netfilter.py [rows]

Figures vary by 30-40% with the machine's spell; compare stages within one run.
"""

from __future__ import annotations

import functools
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout too

import duckdb  # noqa: E402
import polars as pl  # noqa: E402
import pyarrow as pa  # noqa: E402

import forensics  # noqa: E402
from forensics.loaders import base  # noqa: E402
from forensics.loaders.firewall import common, netfilter, timeparse  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_firewall import write_netfilter  # noqa: E402

ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
CPU: Counter[str] = Counter()


def timed(owner: Any, name: str, label: str | None = None) -> None:
    """Replace `owner.name` by a wrapper that adds its CPU seconds to `CPU[label]`."""
    inner = getattr(owner, name)

    @functools.wraps(inner)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.process_time()
        try:
            return inner(*args, **kwargs)
        finally:
            CPU[label or name] += time.process_time() - start

    setattr(owner, name, wrapper)


def instrument(prepared: list[pl.DataFrame]) -> None:
    """Time the stages; run blocks one at a time; keep the prepared frames in `prepared`
    and time their insert separately from their making."""
    for owner, names in [(common, ["block_lines", "finish", "build_extra", "prepare",
                                   "normalise_ips"]),
                         (timeparse, ["add_syslog", "bsd_column_to_utc"]),
                         (netfilter, ["with_fields", "with_lead", "action_of"])]:
        for name in names:
            timed(owner, name)
    timed(netfilter.Netfilter, "_parse", "_parse (all of it)")
    store_blocks = common.store_blocks

    def one_thread(ctx: Any, parse: Callable[..., Any], workers: int = 2,
                   block_bytes: int = common.BLOCK_BYTES) -> None:
        store_blocks(ctx, parse, 1, block_bytes)

    common.store_blocks = one_thread  # type: ignore[assignment]
    insert_stream = base.LoadContext.insert_stream

    def made_then_written(self: Any, table: str, frames: Iterator[pl.DataFrame]) -> int:
        start = time.process_time()
        prepared.extend(frames)
        CPU["making the rows (all stages)"] += time.process_time() - start
        start = time.process_time()
        try:
            return insert_stream(self, table, iter(prepared))
        finally:
            CPU["DuckDB write (streamed)"] += time.process_time() - start

    base.LoadContext.insert_stream = made_then_written  # type: ignore[method-assign]


def write_cost(frames: list[pl.DataFrame], drop: list[str], folder: str) -> tuple[float, float]:
    """(CPU seconds, MB) of inserting `frames` minus `drop` into a fresh file database
    with the case's column types and compressions."""
    path = os.path.join(folder, f"w{len(os.listdir(folder))}.duckdb")
    con = duckdb.connect(path)
    con.execute("SET preserve_insertion_order = false")
    with forensics.open_case(os.path.join(folder, "schema.duckdb")) as case:
        ddl = case.sql("SELECT sql FROM duckdb_tables() WHERE table_name = 'firewall_events'"
                       ).rows()[0][0]
    con.execute(ddl)
    keep = [c for c in frames[0].columns if c not in drop] + ["evidence_id"]
    tag = pl.lit(1, dtype=pl.Int32).alias("evidence_id")  # as insert_stream adds it
    tables = [f.with_columns(tag).select(keep).to_arrow(compat_level=pl.CompatLevel.newest()) for f in frames]
    batches = (b for t in tables for b in t.to_batches(max_chunksize=base.STREAM_BATCH_ROWS))
    reader = pa.RecordBatchReader.from_batches(tables[0].schema, batches)
    con.register("rows_in", reader)
    names = ", ".join(f'"{c}"' for c in keep)
    start = time.process_time()
    con.execute(f"INSERT INTO firewall_events ({names}) SELECT {names} FROM rows_in")
    con.execute("CHECKPOINT")
    cpu = time.process_time() - start
    con.close()
    return cpu, os.path.getsize(path) / 1e6


def main() -> None:
    prepared: list[pl.DataFrame] = []
    instrument(prepared)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "netfilter.log")
        write_netfilter(path, ROWS)
        with forensics.open_case(os.path.join(tmp, "case.duckdb")) as case:
            start = time.process_time()
            report = case.load(path, format="netfilter", year=2024)
            CPU["whole load"] = time.process_time() - start
        assert report.files[0].rows == ROWS, report.files[0]
        print(f"netfilter, {ROWS:,} lines, one parsing thread: CPU seconds per stage")
        for label, seconds in sorted(CPU.items(), key=lambda kv: -kv[1]):
            print(f"  {label:32s} {seconds:6.2f}")
        print("DuckDB write of the prepared rows, by what is left out")
        for drop in ([], ["message"], ["extra"], ["message", "extra"]):
            cpu, mb = write_cost(prepared, drop, tmp)
            left_out = ", ".join(drop) or "nothing"
            print(f"  without {left_out:24s} {cpu:6.2f} CPU-s  {mb:6.1f} MB")


if __name__ == "__main__":
    main()
