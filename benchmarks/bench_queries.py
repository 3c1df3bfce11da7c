"""The whole detection suite on a large synthetic zeek_conn: seconds and peak RSS.

Builds a case FILE with N conn rows (default 10,000,000) generated vectorised with numpy and
polars and inserted through DuckDB (Arrow), plus 500 DNS rows; random traffic between 2,000 internal hosts (250 of them sandboxes) and
50,000 external ones on common, SSH and pool ports, so the queries scan, group and window
all of it (no planted scenario: the detection tests cover correctness). Then it times `queries.run` for every query (with the
`addr_scope` preparation counted in the first one and shown separately) and prints peak RSS
(VmHWM from /proc/self/status). Targets: whole suite under 20 s, peak RSS under 4 GB.

Usage: python benchmarks/bench_queries.py [--rows 10000000] [--memory-limit 2GB]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

T0 = 1772582400  # 2026-03-04 00:00 UTC


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def conn_frame(rows: int, seed: int = 7):
    """N conn rows over 24 h: 2,000 internal hosts (256 sandboxes), 50,000 external hosts."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    src = rng.integers(0, 2000, rows)
    ext = rng.random(rows) < 0.6  # 60 % to the internet, 40 % inside the cluster
    dst_ext = rng.integers(0, 50000, rows)
    dst_int = rng.integers(0, 2000, rows)
    ports = np.array([443, 80, 53, 22, 8786, 6379, 3333, 9999], dtype=np.int32)
    port = ports[rng.choice(8, rows, p=[.5, .15, .15, .05, .08, .04, .02, .01])]
    states = np.array(["SF", "S0", "REJ", "RSTO", "SH"])
    ts_us = (T0 * 1_000_000 + rng.integers(0, 86_400_000_000, rows)).astype("datetime64[us]")
    frame = pl.DataFrame({
        "ts": pl.Series(ts_us).dt.replace_time_zone("UTC"),
        "uid": pl.Series(np.arange(rows)).cast(pl.String),
        "src_n": src, "ext": ext, "dst_ext": dst_ext, "dst_int": dst_int,
        "id_orig_p": rng.integers(1024, 65535, rows).astype(np.int32),
        "id_resp_p": port,
        "proto": np.where(port == 53, "udp", "tcp"),
        "service": np.array(["ssl", "http", "dns", "ssh", "", "", "", ""])[
            np.searchsorted(ports, port, sorter=np.argsort(ports)).clip(0, 7)],
        "duration": rng.exponential(8.0, rows),
        "orig_bytes": rng.integers(0, 200_000, rows).astype(np.uint64),
        "resp_bytes": rng.integers(0, 2_000_000, rows).astype(np.uint64),
        "conn_state": states[rng.choice(5, rows, p=[.85, .06, .05, .03, .01])],
        "orig_pkts": rng.integers(1, 300, rows).astype(np.uint64),
        "resp_pkts": rng.integers(0, 300, rows).astype(np.uint64),
    })
    frame = frame.with_columns(
        pl.concat_str(pl.lit("10.42."), (pl.col("src_n") // 250), pl.lit("."),
                      (pl.col("src_n") % 250) + 1).alias("id_orig_h"),
        pl.when(pl.col("ext"))
          .then(pl.concat_str(pl.lit("100."), (pl.col("dst_ext") // 250) % 250, pl.lit("."),
                              pl.col("dst_ext") % 250, pl.lit(".9")))
          .otherwise(pl.concat_str(pl.lit("10.42."), (pl.col("dst_int") // 250), pl.lit("."),
                                   (pl.col("dst_int") % 250) + 1)).alias("id_resp_h"),
        ("C" + pl.col("uid")).alias("uid"),
        pl.when(pl.col("service") == "").then(None).otherwise(pl.col("service")).alias("service"),
        (pl.col("orig_bytes") + 40 * pl.col("orig_pkts")).alias("orig_ip_bytes"),
        (pl.col("resp_bytes") + 40 * pl.col("resp_pkts")).alias("resp_ip_bytes"),
        pl.lit(1, pl.Int32).alias("evidence_id"),
        (pl.int_range(0, rows, dtype=pl.Int64) + 9).alias("line_no"),
    ).drop("src_n", "ext", "dst_ext", "dst_int")
    return frame


def build(case_path: Path, rows: int, memory_limit: str):
    import forensics

    case = forensics.open_case(case_path, memory_limit=memory_limit)
    case.configure({"networks": {"internal": ["10.42.0.0/16"], "sandbox": ["10.42.7.0/24"]},
                    "allow": {"egress": ["100.0.0.0/24"]}})
    t = time.perf_counter()
    step = 2_000_000
    case.con.execute("BEGIN")
    for off in range(0, rows, step):
        chunk = conn_frame(min(step, rows - off), seed=off)  # noqa: F841 (DuckDB reads it)
        if off == 0:
            case.con.execute("CREATE TABLE zeek_conn AS SELECT * FROM chunk")
        else:
            case.con.execute("INSERT INTO zeek_conn SELECT * FROM chunk")
    case.con.execute(
        "CREATE TABLE zeek_dns AS SELECT ts, id_orig_h, "
        "CASE WHEN line_no % 50 = 0 THEN 'xmr-eu1.nanopool.org' ELSE 'pypi.org' END AS query, "
        "[id_resp_h] AS answers, evidence_id, line_no FROM zeek_conn USING SAMPLE 500 ROWS")
    case.con.execute("COMMIT")
    from forensics import views

    views.refresh(case.con)
    print(f"built {rows:,} conn rows in {time.perf_counter() - t:.1f} s "
          f"(peak RSS so far {peak_rss_mb():,.0f} MB)")
    return case


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--memory-limit", default="2GB", help="DuckDB memory_limit for the case")
    args = parser.parse_args()
    from forensics import queries
    from forensics.queries.prepare import prepare

    with tempfile.TemporaryDirectory() as tmp:
        case = build(Path(tmp) / "bench.duckdb", args.rows, args.memory_limit)
        rss_before = peak_rss_mb()
        started = time.perf_counter()
        prepare(case.con, queries.queries_dir(), queries._state(case))
        prep = time.perf_counter() - started
        print(f"{'prepare (addr_scope, reference, UDFs)':40s} {prep:6.2f} s")
        for q in queries.list_queries():
            t = time.perf_counter()
            frame = queries.run(case, q)
            print(f"{q.name:40s} {time.perf_counter() - t:6.2f} s  {frame.height:6d} rows")
        total = time.perf_counter() - started
        case.close()
    print(f"\nwhole suite: {total:.1f} s on {args.rows:,} conn rows "
          f"(target < 20 s); peak RSS {peak_rss_mb():,.0f} MB (target < 4096 MB; "
          f"{rss_before:,.0f} MB after building the case)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
