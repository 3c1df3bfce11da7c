"""Scenario generation speed at scale: 10,000,000 Zeek conn rows (default) and the other
families grown alike (firewall and DNS/SSL/SSH linearly, GPU/agent/billing by the square
root of the scale), with the incident still embedded.

Prints the seconds per stage, the total, the rows and bytes of every file written, and
checks that the ground truth's first evidence line of every step still shows what it
claims. Output goes to a temporary directory (removed unless --keep).

Usage: python benchmarks/bench_scenarios.py [--conn-rows 10000000] [--name rome] [--keep DIR]
Target on the 2-core reference machine: under 60 s for 10M conn rows.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from forensics.scenarios import generate  # noqa: E402
from forensics.scenarios.generate import CONN_PER_SCALE  # noqa: E402


def count_lines(path: Path) -> int:
    n = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 24):
            n += chunk.count(b"\n")
    return n


def check_truth(root: Path, truth: dict) -> int:
    """Every listed line of every evidence entry contains its strings (each file read once)."""
    wanted: dict[str, dict[int, list[list[str]]]] = {}
    for step in truth["steps"]:
        for e in step["evidence"]:
            if not e["file"].endswith(".traj"):
                for line in e["lines"]:
                    wanted.setdefault(e["file"], {}).setdefault(line, []).append(e["contains"])
    checked = 0
    for rel, lines in wanted.items():
        last = max(lines)
        with open(root / rel, encoding="utf-8") as fh:
            for i, text in enumerate(fh, start=1):
                for needles in lines.get(i, []):
                    assert all(s in text for s in needles), (rel, i, needles)
                    checked += 1
                if i == last:
                    break
    return checked


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--conn-rows", type=int, default=10_000_000)
    ap.add_argument("--name", default="rome")
    ap.add_argument("--keep", help="write here and keep the output")
    args = ap.parse_args()
    scale = max(1, math.ceil(args.conn_rows / CONN_PER_SCALE))
    out = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-scenario-"))
    timings: dict[str, float] = {}
    try:
        started = time.perf_counter()
        truth = generate(args.name, out, scale=scale, timings=timings)
        total = time.perf_counter() - started
        print(f"scenario {args.name}, scale {scale} ({CONN_PER_SCALE} conn rows per unit)")
        for stage, secs in timings.items():
            print(f"  {stage:<18} {secs:7.2f} s")
        print(f"  {'total':<18} {total:7.2f} s")
        size = 0
        for rel in sorted(truth["files"]):
            path = out / rel
            size += path.stat().st_size
            mb = path.stat().st_size / 1e6
            print(f"  {rel:<40} {count_lines(path):>12,} lines {mb:10.1f} MB")
        print(f"  {'all files':<40} {'':>12}       {size / 1e6:10.1f} MB")
        print(f"ground truth: {len(truth['steps'])} steps, {check_truth(out, truth)} evidence "
              "lines checked")
        json.dumps(truth)
    finally:
        if not args.keep:
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
