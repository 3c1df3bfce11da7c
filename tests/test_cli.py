"""The command line as a script sees it: output, and exit codes it can rely on."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb

from forensics.cli import main

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_logs" / "rome-mini"


def test_load_prints_summary_and_exits_0(tmp_path, capsys):
    case = tmp_path / "c.duckdb"
    code = main(["load", str(SAMPLE), "--case", str(case), "--config", str(SAMPLE / "case.toml")])
    out = capsys.readouterr().out
    assert code == 0
    assert "conn.log" in out and "zeek-tsv" in out and "86" in out
    assert "case.toml" not in out.split("\n\n")[0]  # the config is not loaded as evidence
    assert main(["load", str(SAMPLE), "--case", str(case)]) == 0
    assert "duplicate" in capsys.readouterr().out


def test_tables_and_sql_with_bound_parameters(tmp_path, capsys):
    case = tmp_path / "c.duckdb"
    main(["load", str(SAMPLE / "conn.log"), "--case", str(case)])
    capsys.readouterr()
    assert main(["tables", "--case", str(case)]) == 0
    assert "zeek_conn" in capsys.readouterr().out
    code = main(["sql", "SELECT id_resp_h FROM zeek_conn WHERE id_resp_p = ?", "--param",
                 "3333", "--case", str(case), "--format", "json"])
    assert code == 0
    assert json.loads(capsys.readouterr().out) == [{"id_resp_h": "203.0.113.77"}]
    # a value is data, never SQL
    code = main(["sql", "SELECT count(*) AS n FROM zeek_conn WHERE uid = ?", "--param",
                 "x' OR '1'='1", "--case", str(case), "--format", "csv"])
    assert code == 0 and capsys.readouterr().out.splitlines() == ["n", "0"]


def test_exit_codes(tmp_path, capsys):
    case = str(tmp_path / "c.duckdb")
    junk = tmp_path / "junk.txt"
    junk.write_text("not a log\n")
    assert main(["load", str(junk), "--case", case]) == 3
    assert main(["load", str(SAMPLE / "conn.log"), "--case", case, "--format", "nope"]) == 2
    assert "valid formats" in capsys.readouterr().err
    bad_cfg = tmp_path / "bad.toml"
    bad_cfg.write_text("[networks]\nintenal = []\n")
    assert main(["load", str(SAMPLE / "conn.log"), "--case", case, "--config", str(bad_cfg)]) == 2
    assert main(["sql", "SELEC nonsense", "--case", case]) == 2
    mangled = tmp_path / "conn.log"
    shutil.copy(SAMPLE / "conn.log", mangled)
    with mangled.open("a") as fh:
        fh.write("garbage line\n")
    assert main(["load", str(mangled), "--case", case, "--fail-on-rejects"]) == 1


def test_locked_case_exits_4(tmp_path, capsys):
    case = tmp_path / "c.duckdb"
    main(["load", str(SAMPLE / "dns.log"), "--case", str(case)])
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ok', flush=True); "
         "time.sleep(30)", str(case)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ok"
        assert main(["load", str(SAMPLE / "conn.log"), "--case", str(case)]) == 4
        assert "another process" in capsys.readouterr().err
    finally:
        holder.kill()
        holder.wait()
    assert duckdb.connect(str(case)).sql("SELECT count(*) FROM evidence").fetchall() == [(1,)]


def test_module_entry_point_runs(tmp_path):
    out = subprocess.run([sys.executable, "-m", "forensics", "formats"], capture_output=True,
                         text=True, cwd=REPO, check=True).stdout
    assert "zeek-tsv" in out and "zeek-json" in out


def test_format_options_reach_the_loader(tmp_path, capsys):
    from tests.conftest import corpus_file

    mikrotik = corpus_file("firewall", "mikrotik_firewall.log")
    case = tmp_path / "c.duckdb"
    code = main(["load", str(mikrotik), "--case", str(case), "--format", "firewall-mapping",
                 "--option", "mapping=mikrotik"])
    assert code == 0, capsys.readouterr()
    assert "firewall-mapping" in capsys.readouterr().out
    assert main(["load", str(mikrotik), "--case", str(case), "--option", "nokey"]) == 2
