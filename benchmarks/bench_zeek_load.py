"""Zeek conn.log load speed and memory: forensics against the loaders analysts use today.

Generates a conn.log of N rows (TSV, and the same rows as Zeek JSON), then, each in a fresh
process so peak RSS is honest, times:

- forensics: the whole load into a case FILE, with SHA-256, provenance, rejects accounting
  and the commit included;
- parsezeeklogs 3: its record iterator, consuming every record (no storage at all);
- zat: LogToDataFrame (pandas), the loader of the zat notebooks;
- the DuckDB ceiling: DuckDB's own C++ `read_csv` / `read_json` straight into a table of a
  fresh database file, typed, with no line numbers, no hashing, no checks and no rejects.
  No loader that stores into a DuckDB file on this machine can be faster than this, so it
  says how far a target is from what the machine can do at all. It runs with DuckDB's
  default (insertion order kept) and with the loaders' setting (any order).

Each timer starts after the worker's imports (interpreter start-up is not load speed).

Usage: python benchmarks/bench_zeek_load.py [--rows 5000000] [--skip-baselines]
Targets on the 2-core reference machine: TSV >= 1,200,000 rows/s, JSON >= 1,000,000 rows/s,
peak RSS < 1.5 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout too

HEADER = (
    "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n"
    "#open\t2026-03-04-00-00-00\n"
    "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\t"
    "orig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\t"
    "orig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents\n"
    "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\t"
    "bool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]\n"
)


def generate(rows: int, out_dir: Path) -> tuple[Path, Path]:
    """Write conn.log (TSV) and conn.json with the same rows, vectorised with polars."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(7)
    t0 = 1772582400.0
    ts = t0 + np.sort(rng.uniform(0, 86400, rows))
    orig = rng.integers(1, 250, rows)
    resp = rng.integers(1, 250, rows)
    service = np.array(["-", "dns", "http", "ssl", "ssh"])[rng.integers(0, 5, rows)]
    frame = pl.DataFrame({
        "ts": ts,
        "uid": pl.Series(rng.integers(10**15, 10**16, rows)).cast(pl.String),
        "id.orig_h": pl.Series(orig).cast(pl.String),
        "id.orig_p": rng.integers(1024, 65535, rows),
        "id.resp_h": pl.Series(resp).cast(pl.String),
        "id.resp_p": np.array([53, 80, 443, 22, 3333])[rng.integers(0, 5, rows)],
        "proto": np.array(["tcp", "udp"])[rng.integers(0, 2, rows)],
        "service": service,
        "duration": rng.exponential(5.0, rows).round(6),
        "orig_bytes": rng.integers(0, 100000, rows),
        "resp_bytes": rng.integers(0, 1000000, rows),
        "conn_state": np.array(["SF", "S0", "REJ", "RSTO"])[rng.integers(0, 4, rows)],
        "local_orig": np.array(["T", "F"])[rng.integers(0, 2, rows)],
        "local_resp": np.array(["T", "F"])[rng.integers(0, 2, rows)],
        "missed_bytes": np.zeros(rows, dtype=np.int64),
        "history": np.array(["ShADadFf", "S", "ShR", "Dd"])[rng.integers(0, 4, rows)],
        "orig_pkts": rng.integers(1, 500, rows),
        "orig_ip_bytes": rng.integers(40, 200000, rows),
        "resp_pkts": rng.integers(0, 500, rows),
        "resp_ip_bytes": rng.integers(0, 2000000, rows),
    }).with_columns(
        pl.concat_str(pl.lit("C"), pl.col("uid")).alias("uid"),
        pl.concat_str(pl.lit("10.42."), (pl.col("id.orig_h").cast(pl.Int64) % 8).cast(pl.String),
                      pl.lit("."), pl.col("id.orig_h")).alias("id.orig_h"),
        pl.concat_str(pl.lit("203.0.113."), pl.col("id.resp_h")).alias("id.resp_h"),
    )
    tsv = out_dir / "conn.log"
    text = frame.with_columns(
        pl.col("ts").map_batches(lambda s: s.round(6)).cast(pl.String).str.pad_end(17, "0"),
        pl.col("duration").cast(pl.String),
        pl.lit("(empty)").alias("tunnel_parents"),
    )
    with open(tsv, "wb") as fh:
        fh.write(HEADER.encode())
        text.write_csv(fh, separator="\t", include_header=False, quote_style="never")
        fh.write(b"#close\t2026-03-05-00-00-00\n")
    js = out_dir / "conn.json"
    frame.with_columns(
        pl.col("local_orig") == "T", pl.col("local_resp") == "T",
        pl.col("service").replace("-", None),
    ).write_ndjson(js)
    return tsv, js


CEILING_COLUMNS = {
    "ts": "DOUBLE", "uid": "VARCHAR", "id.orig_h": "VARCHAR", "id.orig_p": "INTEGER",
    "id.resp_h": "VARCHAR", "id.resp_p": "INTEGER", "proto": "VARCHAR", "service": "VARCHAR",
    "duration": "DOUBLE", "orig_bytes": "UBIGINT", "resp_bytes": "UBIGINT",
    "conn_state": "VARCHAR", "local_orig": "BOOLEAN", "local_resp": "BOOLEAN",
    "missed_bytes": "UBIGINT", "history": "VARCHAR", "orig_pkts": "UBIGINT",
    "orig_ip_bytes": "UBIGINT", "resp_pkts": "UBIGINT", "resp_ip_bytes": "UBIGINT",
}


def duckdb_ceiling(path: str, keep_order: bool = True) -> int:
    """DuckDB's own reader into a fresh database file: the most any loader storing into
    DuckDB can do here. Typed columns, nothing else (no line numbers, hashing or checks).
    `keep_order=False` is the loaders' setting (`base.unordered_insert`)."""
    import duckdb

    columns = dict(CEILING_COLUMNS)
    if path.endswith(".log"):
        columns["tunnel_parents"] = "VARCHAR"
        source = ("read_csv(?, delim='\t', comment='#', header=false, quote='', escape='', "
                  "nullstr='-', auto_detect=false, columns=" + _struct(columns) + ")")
    else:
        source = ("read_json(?, format='newline_delimited', "
                  "columns=" + _struct(columns) + ")")
    with tempfile.TemporaryDirectory() as tmp:
        con = duckdb.connect(str(Path(tmp) / "ceiling.duckdb"))
        con.execute("SET memory_limit='1GB'")
        con.execute(f"SET preserve_insertion_order = {keep_order}")
        con.execute("BEGIN")
        con.execute(f"CREATE TABLE conn AS SELECT * FROM {source}", [path])
        con.execute("COMMIT")
        rows = con.execute("SELECT count(*) FROM conn").fetchone()[0]
        con.close()
    return rows


def _struct(columns: dict[str, str]) -> str:
    return "{" + ", ".join(f"'{k}': '{v}'" for k, v in columns.items()) + "}"


def worker(kind: str, path: str) -> None:
    """Run one loader on one file in this (fresh) process; print rows, seconds, peak RSS."""
    if kind.startswith("duckdb-ceiling"):
        import duckdb  # noqa: F401  (imported before the timer, like the others)

        started = time.perf_counter()
        rows = duckdb_ceiling(path, keep_order=not kind.endswith("-free"))
        elapsed = time.perf_counter() - started
        print(json.dumps({"rows": rows, "seconds": elapsed, "peak_rss": peak_rss()}))
        return
    if kind.startswith("forensics"):
        import forensics

        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            case = forensics.open_case(Path(tmp) / "case.duckdb")
            result = case.load(path).files[0]
            case.close()
            assert result.status == "loaded" and result.rejects == 0, result.message
            rows = result.rows
            elapsed = time.perf_counter() - started
    elif kind == "parsezeeklogs":
        from parsezeeklogs import read_zeek

        started = time.perf_counter()
        rows = sum(1 for _ in read_zeek(path))
        elapsed = time.perf_counter() - started
    elif kind == "zat":
        from zat.log_to_dataframe import LogToDataFrame

        started = time.perf_counter()
        rows = len(LogToDataFrame().create_dataframe(path))
        elapsed = time.perf_counter() - started
    else:
        raise SystemExit(f"unknown worker {kind}")
    print(json.dumps({"rows": rows, "seconds": elapsed, "peak_rss": peak_rss()}))


def peak_rss() -> int:
    """This process's own peak RSS (VmHWM). ru_maxrss would also count the parent's peak,
    which a forked child inherits on Linux."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run(kind: str, path: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--worker", kind, str(path)],
                         capture_output=True, text=True, env=os.environ)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr else "failed"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--skip-baselines", action="store_true")
    ap.add_argument("--worker", nargs=2, metavar=("KIND", "PATH"))
    ap.add_argument("--generate", nargs=2, metavar=("ROWS", "DIR"))
    args = ap.parse_args()
    if args.generate:  # in its own process, so the parent stays small
        generate(int(args.generate[0]), Path(args.generate[1]))
        return
    if args.worker:
        worker(*args.worker)
        return
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--generate", str(args.rows), tmp], check=True)
        tsv, js = Path(tmp) / "conn.log", Path(tmp) / "conn.json"
        os.sync()  # the generator's 2.7 GB of dirty pages must not be written back mid-timing
        print(f"generated {args.rows:,} rows in {time.perf_counter() - t:.1f}s: "
              f"TSV {tsv.stat().st_size / 1e6:.0f} MB, JSON {js.stat().st_size / 1e6:.0f} MB")
        plan = [("forensics", tsv, "forensics TSV"), ("forensics", js, "forensics JSON"),
                ("duckdb-ceiling", tsv, "DuckDB alone, read_csv TSV"),
                ("duckdb-ceiling", js, "DuckDB alone, read_json JSON"),
                ("duckdb-ceiling-free", tsv, "DuckDB alone, TSV, any order"),
                ("duckdb-ceiling-free", js, "DuckDB alone, JSON, any order")]
        if not args.skip_baselines:
            plan += [("parsezeeklogs", tsv, "parsezeeklogs iterator TSV"),
                     ("zat", tsv, "zat LogToDataFrame TSV")]
        print(f"{'loader':32} {'rows':>10} {'seconds':>8} {'rows/s':>12} {'peak RSS':>10}")
        for kind, path, label in plan:
            r = run(kind, path)
            if "error" in r:
                print(f"{label:32} error: {r['error']}")
                continue
            print(f"{label:32} {r['rows']:>10,} {r['seconds']:>8.2f} "
                  f"{r['rows'] / r['seconds']:>12,.0f} {r['peak_rss'] / 2**20:>8.0f} MB")


if __name__ == "__main__":
    main()
