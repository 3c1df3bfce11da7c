"""The detections against the ground truth of every sample scenario.

Every malicious step must be found on the right host, overlapping its window; nothing
raised above low severity may be unrelated to a real step; the benign scenario raises
nothing above low severity. benchmarks/eval_scenarios.py prints the same as tables.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from forensics.evaluation import evaluate

SAMPLES = Path(__file__).resolve().parent.parent / "sample_logs"


@pytest.fixture(scope="module", params=["rome", "intruder", "mixed", "benign"])
def evaluation(request):
    return evaluate(SAMPLES / request.param)


def test_every_malicious_step_is_found(evaluation):
    assert evaluation.missed() == [], evaluation.steps.filter(~evaluation.steps["found"])


def test_every_alert_is_about_a_real_step(evaluation):
    false = evaluation.false_alerts()
    assert false.height == 0, false.select("host", "phase", "query", "summary").to_dicts()


def test_recall_and_precision_per_phase(evaluation):
    for row in evaluation.per_phase.iter_rows(named=True):
        if row["steps"]:
            assert row["recall"] == 1.0, row
        if row["alerts"]:
            assert row["precision"] == 1.0, row


def test_benign_raises_nothing_above_low():
    ev = evaluate(SAMPLES / "benign")
    assert ev.steps.height == 0
    assert ev.findings.filter(ev.findings["severity"] != "low").height == 0


@pytest.mark.parametrize("name", ["rome", "intruder"])
def test_mining_is_seen_on_the_gpus_as_well_as_on_the_wire(name):
    steps = evaluate(SAMPLES / name).steps.filter(pl.col("phase") == "mining")
    assert steps.height and all(
        {"mining_gpu_pattern", "mining_pool_network"} <= set(q) for q in steps["queries"])
