"""`forensics queries` and `forensics query`: output, parameters and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from forensics.cli import main

SAMPLE = Path(__file__).resolve().parent.parent / "sample_logs" / "rome-mini"


def _loaded(tmp_path):
    case = tmp_path / "c.duckdb"
    assert main(["load", str(SAMPLE), "--config", str(SAMPLE / "case.toml"), "--case", str(case),
                 "--quiet"]) == 0
    return case


def test_queries_lists_every_query(capsys):
    assert main(["queries"]) == 0
    out = capsys.readouterr().out
    assert "tunnel_ssh_outbound" in out and "recon_internal_scan" in out


def test_query_json_with_params(tmp_path, capsys):
    case = _loaded(tmp_path)
    capsys.readouterr()
    assert main(["query", "tunnel_ssh_outbound", "--case", str(case), "--format", "json"]) == 0
    captured = capsys.readouterr()
    rows = json.loads(captured.out)
    assert rows[0]["dst_ip"] == "198.51.100.23" and "zeek_ssh" in captured.err
    assert main(["query", "recon_internal_scan", "--case", str(case), "--format", "csv",
                 "--param", "min_attempts_sandbox=100"]) == 0
    assert capsys.readouterr().out.count("\n") == 1  # header only: the threshold is bound


def test_query_errors_exit_2(tmp_path, capsys):
    case = _loaded(tmp_path)
    assert main(["query", "nope", "--case", str(case)]) == 2
    assert main(["query", "beacon_pairs", "--case", str(case), "--param", "bogus=1"]) == 2
    err = capsys.readouterr().err
    assert "valid queries:" in err and "min_connections" in err
    assert main(["query", "beacon_pairs", "--case", str(case), "--param", "min_connections"]) == 2


def test_query_describe(capsys):
    assert main(["query", "beacon_pairs", "--describe"]) == 0
    assert "min_connections (int, default 4" in capsys.readouterr().out
