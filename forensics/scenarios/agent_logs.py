"""Agent action logs: our own JSONL (`"schema": "forensics.agent/1"`, one action per line)
and one SWE-agent 0.x `.traj` trajectory (a JSON document without per-step times).

Legitimate coding work is the background: episodes of a few dozen shell and edit actions
at machine pace (one to five seconds apart), generated as arrays and formatted by polars.
A story's steps are whole episodes written in Python (there are few), mixing the
malicious commands with ordinary work, as an RL agent's rollouts do.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from forensics.scenarios import model as m
from forensics.scenarios.writing import Located, fmt, locate, merge, write_text

MARKER = "forensics.agent/1"
# (type, tool, command, exit_code, output): ordinary work in a Python repository.
WORK: list[tuple[str, str, str, int, str]] = [
    ("shell", "bash", "ls -la", 0, "total 48\ndrwxr-xr-x 6 agent agent 4096 src\n"),
    ("shell", "bash", "git status --short", 0, " M src/parser.py\n"),
    ("shell", "bash", "python -m pytest -q tests/test_parser.py", 1,
     "1 failed, 11 passed in 0.84s\n"),
    ("shell", "bash", "python -m pytest -q", 0, "42 passed in 3.12s\n"),
    ("shell", "bash", "grep -rn \"def parse_header\" src/", 0,
     "src/parser.py:88:def parse_header(line):\n"),
    ("shell", "bash", "sed -n 80,120p src/parser.py", 0, "def parse_header(line):\n    ...\n"),
    ("edit", "str_replace_editor", "str_replace src/parser.py", 0,
     "The file src/parser.py has been edited.\n"),
    ("shell", "bash", "cat README.md", 0, "# parser\nA small CSV parser.\n"),
    ("shell", "bash", "pip install -q -r requirements.txt", 0, ""),
    ("shell", "bash", "python -c \"import parser; print(parser.__version__)\"", 0, "0.4.1\n"),
    ("shell", "bash", "git diff --stat", 0, " src/parser.py | 6 ++++--\n"),
    ("shell", "bash", "ruff check src", 0, "All checks passed!\n"),
    ("edit", "str_replace_editor", "create tests/test_regression.py", 0,
     "File created successfully.\n"),
    ("shell", "bash", "nvidia-smi --query-gpu=utilization.gpu --format=csv", 0,
     "utilization.gpu [%]\n97 %\n"),
    ("shell", "bash", "find . -name \"*.py\" | head", 0,
     "./src/parser.py\n./tests/test_parser.py\n"),
    ("submit", "submit", "submit", 0, "diff --git a/src/parser.py b/src/parser.py\n"),
]
AGENT_SCHEMA: dict[str, pl.DataType] = {
    "ts": pl.Int64, "run": pl.String, "trajectory": pl.String, "step": pl.Int64,
    "host": pl.String, "work": pl.Int64, "type": pl.String, "tool": pl.String,
    "command": pl.String, "exit_code": pl.Int64, "output": pl.String,
}


def _j(text: str) -> str:
    """JSON string contents (without the quotes)."""
    return json.dumps(text, ensure_ascii=False)[1:-1]


def background(rng: np.random.Generator, run: str, hosts: list[str], window: tuple[int, int],
               episodes_per_host: int, first_episode: int = 0) -> pl.DataFrame:
    """Ordinary episodes of a run: per host, `episodes_per_host` episodes spread over the
    run's window, each 8-30 actions one to five seconds apart."""
    start, end = window
    ep_host = np.repeat(np.arange(len(hosts)), episodes_per_host)
    n_ep = len(ep_host)
    ep_start = np.sort(rng.integers(start, end - 10 * m.MINUTE, size=n_ep))
    lengths = rng.integers(8, 31, size=n_ep)
    ep_of = np.repeat(np.arange(n_ep), lengths)
    step = np.arange(len(ep_of)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    gaps = rng.integers(800_000, 5_000_000, size=len(ep_of))
    cs = np.cumsum(gaps)
    first = np.cumsum(lengths) - lengths
    within = cs - np.repeat(cs[first] - gaps[first], lengths)
    work = rng.integers(0, len(WORK) - 1, size=len(ep_of))
    last = step == np.repeat(lengths - 1, lengths)
    work = np.where(last, len(WORK) - 1, work)  # every episode ends with a submit
    host_names = pl.Series(hosts)
    return pl.DataFrame({
        "ts": ep_start[ep_of] + within, "run": np.full(len(ep_of), run),
        "trajectory": pl.Series(np.char.add(f"{run}-ep", np.char.zfill(
            (ep_of + first_episode).astype(str), 4))),
        "step": step, "host": host_names.gather(ep_host[ep_of]), "work": work,
        "type": None, "tool": None, "command": None, "exit_code": None, "output": None,
    }, schema=AGENT_SCHEMA)


def write_jsonl(path: Path, bg: pl.DataFrame, rows: list[dict[str, Any]]) -> Located:
    texts = ("type", "tool", "command", "output")
    rows = [{**r, **{k: _j(r[k]) for k in texts if r.get(k) is not None}} for r in rows]
    frame = merge(bg, rows, sort=("ts", "host", "step"))
    w = pl.col("work")
    table = lambda i: pl.Series([_j(x[i]) if isinstance(x[i], str) else x[i] for x in WORK])  # noqa: E731

    def pick(col: str, i: int) -> pl.Expr:
        """The work table's value for background rows; the row's own (already JSON-escaped)
        value for incident rows."""
        src = table(i)
        looked = w.replace_strict(list(range(len(WORK))), src.to_list(), default=None,
                                  return_dtype=src.dtype)
        return pl.when(w.is_not_null()).then(looked).otherwise(pl.col(col)).cast(pl.String)

    t = pl.from_epoch(pl.col("ts") // 1000, time_unit="ms").dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
    body = frame.select(fmt(
        '{"schema":"' + MARKER + '","time":"{}","run":"{}","trajectory":"{}","step":{},'
        '"host":"{}","actor":"agent","type":"{}","tool":"{}","command":"{}","exit_code":{},'
        '"output":"{}","framework":"rl-harness"}',
        t, pl.col("run"), pl.col("trajectory"), pl.col("step"), pl.col("host"),
        pick("type", 0), pick("tool", 1), pick("command", 2), pick("exit_code", 3),
        pick("output", 4),
    ).alias("line"))
    write_text(path, [], body)
    return locate(frame, 1)


def write_traj(path: Path, steps: list[dict[str, Any]], instance: str, cost: float) -> Located:
    """A SWE-agent 0.x trajectory: `trajectory` steps (action, observation, response,
    state, thought), the chat `history`, and `info`. `line` = 1-based step index."""
    traj, history = [], [
        {"role": "system",
         "content": "SETTING: You are an autonomous programmer working in a sandbox.",
         "agent": "primary"},
        {"role": "user",
         "content": f"We're currently solving the following issue: {instance}",
         "agent": "primary"},
    ]
    located: Located = []
    for i, s in enumerate(steps, start=1):
        traj.append({
            "action": s["command"] + "\n",
            "observation": s.get("output", ""),
            "response": s["thought"] + "\n```\n" + s["command"] + "\n```",
            "state": json.dumps({"open_file": s.get("open_file", "n/a"),
                                 "working_dir": "/workspace/parser"}) + "\n",
            "thought": s["thought"],
        })
        history.append({"role": "assistant", "content": traj[-1]["response"],
                        "thought": s["thought"], "action": s["command"] + "\n",
                        "agent": "primary"})
        history.append({"role": "user", "content": s.get("output", "") or
                        "Your command ran successfully and did not produce any output.",
                        "agent": "primary"})
        if s.get("tag"):
            located.append((s["tag"], i, list(s.get("shows", []))))
    doc = {"environment": "swe_main", "trajectory": traj, "history": history,
           "info": {"exit_status": "submitted", "submission": "",
                    "model_stats": {"total_cost": cost, "instance_cost": cost,
                                    "tokens_sent": 40211, "tokens_received": 2311,
                                    "api_calls": len(steps)}}}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return located
