"""SWE-agent trajectories (`.traj`), versions 0.x and 1.x, into `agent_actions`.

A `.traj` file is one JSON document: `trajectory` (the steps: action, observation,
response, thought, state; 1.x adds execution_time, query and extra_info), `history` (the
chat messages sent to the model) and `info` (exit status, submission, model stats). Only
`trajectory` holds actions, so each step is one record and one row; `history` and `info`
are summarised in notes.

SWE-agent writes no wall-clock time per step (1.x only adds the step's execution_time), so
`ts` is NULL and `ts_is_absolute` false; the order is kept in `step` (the 1-based index,
which is also `line_no`). The action is kept byte for byte, trailing newline included,
because it is the command the agent ran.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from typing import Any

from forensics.loaders.agent.common import (
    entries,
    excerpt,
    json_head,
    read_document,
    reject_document,
    rows_frame,
    text,
)
from forensics.loaders.base import LoadContext

# SWE-agent's own tools (default, EnIGMA and 1.x bundles). Anything else is a shell command.
_EDIT_TOOLS = {"edit", "str_replace_editor", "insert", "undo_edit", "edit_file", "append"}
_TOOLS = _EDIT_TOOLS | {
    "open", "goto", "scroll_up", "scroll_down", "create", "search_dir", "search_file",
    "find_file", "filemap", "submit", "exit_forfeit", "exit_cost", "exit_context",
    "exit_format", "exit_error", "skip", "debug_start", "debug_add_breakpoint",
    "debug_continue", "debug_step", "debug_exec", "debug_stop", "connect_start",
    "connect_sendline", "connect_exec", "connect_stop", "decompile", "disassemble",
}
_TARGET_ARG = {"open": 0, "create": 0, "find_file": 0, "filemap": 0, "str_replace_editor": 1,
               "decompile": 0, "disassemble": 0, "debug_start": 0, "connect_start": 0}
_TRAJ_KEY = re.compile(rb'"trajectory"\s*:\s*\[')
_STEP_KEYS = (b'"action"', b'"observation"')


class SweAgentTrajectory:
    """SWE-agent `.traj` trajectory (JSON document, 0.x and 1.x)."""

    name = "swe-agent-traj"
    family = "agent"
    description = "SWE-agent trajectory (.traj JSON: trajectory[] steps, history, info)"

    def sniff(self, path: str, head: bytes) -> float:
        body = json_head(head)
        if not body.startswith(b"{") or not _TRAJ_KEY.search(body):
            return 0.0
        if not all(k in body for k in _STEP_KEYS):
            # A huge first step can push its keys past the head; the name still tells.
            return 0.6 if path.endswith((".traj", ".traj.gz")) else 0.0
        return 0.95

    def load(self, ctx: LoadContext) -> None:
        doc, problem, raw = read_document(ctx)
        if problem is None and not (isinstance(doc, dict) and isinstance(
                doc.get("trajectory"), list)):
            problem = "not a SWE-agent trajectory: no 'trajectory' list at the top level"
        if problem is not None:
            reject_document(ctx, problem, raw)
            return
        steps: list[Any] = doc["trajectory"]
        ctx.lines_read = len(steps)
        ctx.note("line_no is the 1-based index of the step in 'trajectory' (a JSON document "
                 "has no lines); lines_read counts steps")
        ctx.note("SWE-agent records no wall-clock time per step: ts is NULL, "
                 "ts_is_absolute is false, and the order is kept in step")
        version = _version(doc)
        trajectory_id = _trajectory_id(ctx.path, doc)
        env = doc.get("environment") if isinstance(doc.get("environment"), str) else None
        info = doc.get("info") if isinstance(doc.get("info"), dict) else {}
        if info.get("exit_status") is not None:
            ctx.note(f"trajectory exit_status: {text(info.get('exit_status'))}")
        if isinstance(doc.get("history"), list):
            ctx.note(f"history holds {len(doc['history'])} chat messages (not loaded as rows)")
        rows = []
        for i, step in enumerate(steps, start=1):
            row, why = _step_row(step, i, trajectory_id, version, env)
            if row is None:
                ctx.reject(i, why or "unusable step", json.dumps(step, ensure_ascii=False))
            else:
                rows.append(row)
        ctx.insert("agent_actions", rows_frame(rows))


def _version(doc: dict[str, Any]) -> str:
    info = doc.get("info")
    if isinstance(info, dict) and info.get("swe_agent_version"):
        return f"1.x ({info['swe_agent_version']})"
    steps = doc.get("trajectory") or []
    if any(isinstance(s, dict) and "execution_time" in s for s in steps):
        return "1.x"
    return "0.x"


def _trajectory_id(path: str, doc: dict[str, Any]) -> str:
    """The instance id: 1.x keeps it in replay_config; 0.x names the file after it."""
    replay = doc.get("replay_config")
    if isinstance(replay, str):
        try:
            replay = json.loads(replay)
        except ValueError:
            replay = None
    if isinstance(replay, dict):
        problem = replay.get("problem_statement")
        if isinstance(problem, dict) and isinstance(problem.get("id"), str):
            return problem["id"]
    base = os.path.basename(path)
    for suffix in (".gz", ".traj", ".json"):
        base = base.removesuffix(suffix)
    return base


def _step_row(step: Any, index: int, trajectory_id: str, version: str,
              env: str | None) -> tuple[dict[str, Any] | None, str | None]:
    if not isinstance(step, dict):
        return None, f"step {index} is a JSON {type(step).__name__}, not an object"
    action = step.get("action")
    if action is not None and not isinstance(action, str):
        return None, f"field action: a JSON {type(action).__name__}, not a string"
    words = _words(action or "")
    first = words[0] if words else ""
    if not (action or "").strip():
        action_type, tool = "message", None
    elif first in _EDIT_TOOLS:
        action_type, tool = "edit", first
    elif first in _TOOLS:
        action_type, tool = ("submit" if first == "submit" else "tool_call"), first
    else:
        action_type, tool = "shell", None
    target = None
    if tool in _TARGET_ARG and len(words) > _TARGET_ARG[tool] + 1:
        target = words[_TARGET_ARG[tool] + 1]
    state = step.get("state")
    if isinstance(state, str):
        try:
            state = json.loads(state)
        except ValueError:
            state = {"state": state}
    extra: dict[str, Any] = {"swe_agent_version": version, "environment": env}
    if isinstance(state, dict):
        extra.update({f"state.{k}": v for k, v in state.items()})
    extra["execution_time"] = step.get("execution_time")
    extra["thought"] = excerpt(step.get("thought"))  # capped like the output
    if isinstance(step.get("extra_info"), dict) and step["extra_info"]:
        extra["extra_info"] = step["extra_info"]
    row = {
        "line_no": index,
        "ts": None,
        "ts_is_absolute": False,
        "framework": "swe-agent",
        "run_id": None,
        "trajectory_id": trajectory_id,
        "step": index,
        "host": None,
        "actor": "agent",
        "action_type": action_type,
        "command": action,
        "tool_name": tool,
        "target": target,
        "exit_code": None,
        "output_excerpt": excerpt(step.get("observation")),
        "extra": entries(extra),
    }
    return row, None


def _words(action: str) -> list[str]:
    """Shell-like words of the action's first line, for the tool name and its argument."""
    line = action.strip().split("\n", 1)[0]
    try:
        return shlex.split(line)
    except ValueError:  # unbalanced quotes in a shell command: fall back to spaces
        return line.split()
