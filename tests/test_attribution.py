"""Attribution: incidents, evidence items, the documented score, decisions, CLI, scenarios."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

import forensics
from forensics import attribution, cli
from forensics.attribution.scoring import DECIDE_AT, WEIGHTS
from forensics.errors import UsageError
from tests.attribution_fixtures import agent_case, intruder_case

REPO = Path(__file__).resolve().parent.parent


def _items(*specs: tuple[str, str]) -> pl.DataFrame:
    return pl.DataFrame([{"item_id": f"{n}:{k}", "name": n, "direction": WEIGHTS[n][0],
                          "weight": WEIGHTS[n][1]} for n, k in specs])


def test_score_formula_is_the_documented_sum():
    items = _items(("agent_command_tunnel", "x"), ("machine_paced", "s"),
                   ("external_login", "y"))
    s = attribution.score(items)
    a, i = 0.5 + 0.15, 0.25
    assert (s["agent_score"], s["intruder_score"]) == (pytest.approx(a), pytest.approx(i))
    assert s["verdict"] == "agent"
    assert s["confidence"] == pytest.approx(min(1, a) * a / (a + i), abs=1e-4)
    assert s["deciding"] == ["agent_command_tunnel", "machine_paced"]
    # rejecting the tunnel item leaves nothing decisive
    s2 = attribution.score(items, {"agent_command_tunnel:x": False})
    assert s2["verdict"] == "inconclusive" and s2["confidence"] == 0 and s2["deciding"] == []
    both = _items(("agent_command_miner", "m"), ("brute_force_then_success", "b"),
                  ("external_login", "b"))
    s3 = attribution.score(both)
    assert s3["verdict"] == "mixed" and s3["confidence"] == pytest.approx(min(0.5, 0.6))
    assert attribution.score(_items())["verdict"] == "inconclusive"
    assert all(w > 0 for _d, w, _m in WEIGHTS.values()) and DECIDE_AT == 0.5


def test_agent_tunnel_command_decides(tmp_path):
    with agent_case(tmp_path) as case:
        incs = attribution.incidents(case)
        assert incs.height == 1
        row = incs.row(0, named=True)
        assert row["host"] == "10.42.7.17" and row["verdict"] == "agent"
        assert "agent_command_tunnel" in row["deciding"] and "tunnel" in row["phases"]
        assert row["incident_id"] == f"10.42.7.17@{row['ts_start']:%Y-%m-%dT%H:%M:%SZ}"
        items = attribution.evidence(case, row["incident_id"])
        tunnel = items.filter(pl.col("name") == "agent_command_tunnel").row(0, named=True)
        assert tunnel["direction"] == "agent" and tunnel["query"] == "attr_agent_commands.sql"
        assert "ssh -R 2222" in tunnel["explanation"] and "198.51.100.23" in tunnel["explanation"]
        assert {r["table"] for r in tunnel["rows"]} == {"agent_actions", "zeek_conn"}
        assert set(items.columns) == {"incident_id", "item_id", "name", "direction", "weight",
                                      "explanation", "query", "rows"}
        assert "machine_paced" in items["name"].to_list()


def test_intruder_brute_force_decides(tmp_path):
    with intruder_case(tmp_path) as case:
        incs = attribution.incidents(case)
        row = incs.filter(pl.col("host") == "10.42.7.17").row(0, named=True)
        assert row["verdict"] == "intruder"
        assert {"brute_force_then_success", "external_login"} <= set(row["deciding"])
        items = attribution.evidence(case, row["incident_id"])
        assert "ssh.0.log line 28" in items.filter(
            pl.col("name") == "external_login")["explanation"][0]


def test_incidents_split_by_gap(tmp_path):
    with agent_case(tmp_path) as case:
        one = attribution.incidents(case, gap_hours=6)
        assert one.height == 1
    assert attribution.incidents(forensics.open_case(":memory:")).height == 0


def test_decisions_are_append_only(tmp_path):
    with agent_case(tmp_path, str(tmp_path / "c.duckdb")) as case:
        inc = attribution.incidents(case)["incident_id"][0]
        first = attribution.record_decision(case, inc, verdict="intruder", confidence=0.4,
                                            analyst="ana", rationale="first look",
                                            accepted=[], rejected=["agent_command_tunnel:x"],
                                            notes={"agent_command_tunnel:x": "<b>doubt</b>"})
        second = attribution.record_decision(case, inc, verdict="agent", confidence=0.9,
                                             analyst="bo", rationale="log matches",
                                             accepted=["agent_command_tunnel:x"], rejected=[])
        assert second == first + 1
        current = attribution.decisions(case)
        assert current.height == 1 and current["verdict"][0] == "agent"
        everything = attribution.decisions(case, inc, current_only=False)
        assert everything["decision_id"].to_list() == [first, second]
        assert everything["superseded_by"].to_list() == [second, None]
        assert json.loads(everything["notes"][0]) == {"agent_command_tunnel:x": "<b>doubt</b>"}
        assert everything["rejected"][0].to_list() == ["agent_command_tunnel:x"]
        with pytest.raises(UsageError):
            attribution.record_decision(case, inc, verdict="alien", confidence=0.5,
                                        analyst="x", rationale="", accepted=[], rejected=[])
    with forensics.open_case(tmp_path / "c.duckdb", read_only=True) as again:
        assert attribution.decisions(again, current_only=False).height == 2


def test_cli_attribute(tmp_path, capsys):
    path = tmp_path / "c.duckdb"
    agent_case(tmp_path, str(path)).close()
    assert cli.main(["attribute", "--case", str(path)]) == 0
    out = capsys.readouterr().out
    assert "agent" in out and "agent_command_tunnel" in out and "sb-07" in out
    assert cli.main(["attribute", "--case", str(path), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data[0]["verdict"] == "agent" and data[0]["evidence"][0]["rows"]


@pytest.mark.parametrize("name", ["rome", "intruder", "mixed", "benign"])
def test_sample_scenario_verdicts_match_ground_truth(name):
    folder = REPO / "sample_logs" / name
    if not (folder / "ground_truth.json").exists():
        pytest.skip(f"scenario {name} not in sample_logs/ yet")
    truth = json.loads((folder / "ground_truth.json").read_text())["attribution"]
    with forensics.open_case(":memory:") as case:
        case.configure(folder / "case.toml")
        case.load(folder, exclude=[folder / "case.toml", folder / "ground_truth.json"])
        incs = attribution.incidents(case)
    by_host: dict[str, set[str]] = {}
    for r in incs.iter_rows(named=True):
        by_host.setdefault(r["host_name"] or r["host"], set()).add(r["verdict"])
        if r["verdict"] in ("agent", "intruder"):
            assert r["deciding"], r  # the deciding evidence is named
    for host, expected in truth.items():
        got = by_host.get(host, set())
        if expected == "none":
            assert got <= {"inconclusive"}, (host, got)
        else:
            assert got == {expected}, (host, got)
    if name == "benign":
        assert set(incs["verdict"].to_list()) <= {"inconclusive"}
    if name == "rome":
        deciding = {d for ds in incs["deciding"].to_list() for d in ds}
        assert {"agent_command_tunnel", "agent_command_miner"} <= deciding
    if name == "intruder":
        deciding = {d for ds in incs["deciding"].to_list() for d in ds}
        assert "brute_force_then_success" in deciding
