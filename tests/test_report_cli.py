"""`forensics report` for cron: read-only open, waiting for a writer, exit codes, ingest."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import forensics
from forensics.cli import EXIT_LOCK_TIMEOUT, EXIT_LOCKED, EXIT_USAGE, EXIT_WRITE_FAILED, main
from tests.test_report import REPO, SAMPLE


def _cli(*args: str, cwd=None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "forensics", *args], cwd=cwd,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True,
                          text=True, timeout=300)


def test_ingest_then_report_and_dated_name(tmp_path, capsys):
    inbox = tmp_path / "inbox"
    shutil.copytree(SAMPLE, inbox, ignore=shutil.ignore_patterns("case.toml"))
    case = tmp_path / "case.duckdb"
    out = str(tmp_path / "reports" / "timeline-{date}.html")
    assert main(["report", "--case", str(case), "--ingest", str(inbox), "--out", out]) == 0
    written = list((tmp_path / "reports").glob("timeline-*.html"))
    assert len(written) == 1 and "{date}" not in written[0].name
    assert "wrote" in capsys.readouterr().out
    # a new file in the inbox is loaded next time; the old ones are no-ops
    (inbox / "more").mkdir()
    shutil.copy(SAMPLE / "dns.log", inbox / "more" / "dns-copy.log")
    assert main(["report", "--case", str(case), "--ingest", str(inbox), "--out", out,
                 "--quiet"]) == 0
    assert capsys.readouterr().out == ""
    with forensics.open_case(case, read_only=True) as c:
        assert c.evidence().height == 2  # the copy has the same bytes as dns.log


def test_missing_case_and_unwritable_output(tmp_path):
    assert main(["report", "--case", str(tmp_path / "none.duckdb")]) == EXIT_USAGE
    assert not (tmp_path / "none.duckdb").exists()  # a read-only report never creates one
    case = tmp_path / "case.duckdb"
    with forensics.open_case(case) as c:
        c.load(SAMPLE / "conn.log")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["report", "--case", str(case), "--out", str(blocker / "r.html")]) == \
        EXIT_WRITE_FAILED


def test_waits_for_a_writer_then_gives_up_with_its_own_code(tmp_path):
    """The writer holds the case until told to let go (not for a fixed time), so the
    test means the same on a loaded machine, where starting a CLI can take seconds."""
    case = tmp_path / "case.duckdb"
    with forensics.open_case(case) as c:
        c.load(SAMPLE / "conn.log")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, forensics\n"
         f"c = forensics.open_case({str(case)!r})\nprint('held', flush=True)\n"
         "sys.stdin.readline()\nc.close()"],
        env={**os.environ, "PYTHONPATH": str(REPO)}, stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        gave_up = _cli("report", "--case", str(case), "--wait", "1",
                       "--out", str(tmp_path / "a.html"))
        assert gave_up.returncode == EXIT_LOCK_TIMEOUT, gave_up.stderr
        assert "still locked by a writer after 1s" in gave_up.stderr
        assert time.monotonic() - started >= 1
        assert not (tmp_path / "a.html").exists()
        at_once = _cli("report", "--case", str(case), "--wait", "0",
                       "--out", str(tmp_path / "b.html"))
        assert at_once.returncode == EXIT_LOCKED
        patient = subprocess.Popen(
            [sys.executable, "-m", "forensics", "report", "--case", str(case),
             "--wait", "120", "--out", str(tmp_path / "c.html")],
            env={**os.environ, "PYTHONPATH": str(REPO)}, stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)  # the report is waiting now (or about to): let the writer go
        holder.stdin.write("release\n")
        holder.stdin.flush()
        assert holder.wait(timeout=60) == 0
        assert patient.wait(timeout=120) == 0, patient.stderr.read()
        assert (tmp_path / "c.html").exists()
    finally:
        holder.kill()
        holder.wait()


def test_cli_docstring_documents_every_exit_code():
    import forensics.cli as cli

    for code in range(0, 9):
        assert f"\n    {code}  " in cli.__doc__
