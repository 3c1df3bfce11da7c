"""docs/scheduling.md runs as written: its crontab lines and its systemd units' ExecStart.

The command lines are read out of the document's code blocks (after the
`<!-- schedule: ... -->` markers), the placeholder paths are replaced by a temporary folder
and this test's Python, and they are run as cron (sh -c) and systemd (no shell) would.
"""

from __future__ import annotations

import configparser
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_report import REPO, SAMPLE

DOCS = (REPO / "README.md", REPO / "docs" / "scheduling.md")
FORENSICS = "/opt/forensics/.venv/bin/forensics"


def blocks() -> list[tuple[str, str]]:
    """(marker, body) of every fenced block that follows a schedule marker, in the README
    and in docs/scheduling.md: what the docs tell an operator to paste is what runs here."""
    found = []
    for doc in DOCS:
        here = re.findall(r"<!-- schedule: ([^>]+?) -->\s*```[a-z]*\n(.*?)```",
                          doc.read_text(encoding="utf-8"), flags=re.S)
        assert here, f"no schedule blocks in {doc.name}"
        found += here
    return found


@pytest.fixture
def site(tmp_path):
    """/srv/forensics as the docs assume it: an inbox of logs, nothing else yet."""
    srv = tmp_path / "srv"
    shutil.copytree(SAMPLE, srv / "inbox", ignore=shutil.ignore_patterns("case.toml"))
    (tmp_path / "elsewhere").mkdir()
    return srv


def localise(command: str, srv: Path) -> str:
    python = shlex.quote(sys.executable)
    assert FORENSICS in command or "forensics" not in command.split()[0]
    return (command.replace(FORENSICS, f"{python} -m forensics")
            .replace("/opt/forensics/notebooks", str(REPO / "notebooks"))
            .replace("/srv/forensics", str(srv)))


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def test_crontab_lines_run_and_write_reports(site):
    crons = [b for m, b in blocks() if m.strip() == "crontab"]
    assert len(crons) >= 2
    for body in crons:
        lines = [ln for ln in body.splitlines() if ln.strip() and not ln.startswith("#")]
        assert len(lines) == 1
        fields = lines[0].split(None, 5)
        assert len(fields) == 6 and "%" not in fields[5]  # cron would mangle a %
        for _ in range(2):  # the second run finds the inbox already loaded
            done = subprocess.run(["/bin/sh", "-c", localise(fields[5], site)], env=env(),
                                  cwd=site.parent / "elsewhere", capture_output=True,
                                  text=True, timeout=600)
            assert done.returncode == 0, done.stderr
    reports = sorted(p.name for p in (site / "reports").glob("*.html"))
    assert any(re.fullmatch(r"timeline-\d{4}-\d{2}-\d{2}\.html", n) for n in reports)
    assert any(re.fullmatch(r"notebook-\d{4}-\d{2}-\d{2}\.html", n) for n in reports)
    for name in reports:
        text = (site / "reports" / name).read_text(encoding="utf-8")
        assert "Content-Security-Policy" in text and "tunnel" in text


def test_systemd_units_parse_and_their_command_runs(site):
    units = {m.split()[1]: b for m, b in blocks() if m.startswith("systemd")}
    assert set(units) == {"forensics-report.service", "forensics-report.timer"}
    parsed = {}
    for name, body in units.items():
        cfg = configparser.ConfigParser(interpolation=None, strict=True)
        cfg.optionxform = str  # type: ignore[assignment,method-assign]  # keys keep their case
        cfg.read_string(body, source=name)
        parsed[name] = cfg
    service, timer = parsed["forensics-report.service"], parsed["forensics-report.timer"]
    assert service["Service"]["Type"] == "oneshot"
    assert timer["Timer"]["OnCalendar"] and timer["Install"]["WantedBy"] == "timers.target"
    exec_start = service["Service"]["ExecStart"]
    assert exec_start.startswith(FORENSICS)
    argv = shlex.split(localise(exec_start, site))
    done = subprocess.run(argv, env=env(), cwd=site.parent / "elsewhere", capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""  # --quiet: nothing for the journal on success
    assert list((site / "reports").glob("timeline-*.html"))
    if shutil.which("systemd-analyze"):
        pass  # verifying needs the ExecStart binary to exist; the parse above is the check
