"""Detections against ground truth: recall and precision per phase for every sample scenario.

Usage: python benchmarks/eval_scenarios.py [sample_logs/rome ...]
Prints, per scenario, the steps found or missed (with the queries that found them), the
alerts (findings above low severity) that match no step, and a per-phase table.
"""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl

from forensics.evaluation import evaluate

ROOT = Path(__file__).resolve().parent.parent / "sample_logs"


def main(folders: list[str]) -> None:
    pl.Config.set_tbl_rows(100)
    pl.Config.set_fmt_str_lengths(90)
    pl.Config.set_tbl_width_chars(200)
    targets = [Path(f) for f in folders] or [ROOT / n for n in ("rome", "intruder", "benign",
                                                                "mixed")]
    for folder in targets:
        ev = evaluate(folder)
        print(f"\n=== {ev.scenario}")
        print(ev.steps)
        false = ev.false_alerts()
        print(f"alerts matching no step: {false.height}")
        if false.height:
            print(false.select("host", "phase", "query", "severity", "summary"))
        print(ev.per_phase)


if __name__ == "__main__":
    main(sys.argv[1:])
