"""OpenHands event streams (a JSON list of events) into `agent_actions`.

Every event is one record and one row: actions (`action`: run, run_ipython, edit, read,
write, browse, message, finish, ...) and observations (`observation`: run, edit, error,
...), so nothing the stream says is lost. `line_no` is the 1-based index of the event in
the list; `step` is the event's own `id`.

OpenHands writes `timestamp` with `datetime.now().isoformat()`: local time of the machine
that ran it, with no zone. The zone is the load option `tz` (default UTC), recorded in
`tz_assumed` and a note. A timestamp that carries an offset is converted exactly.

An action's result arrives as a later observation whose `cause` is the action's id; the
loader copies the observation's exit code and output excerpt onto the action row (and
names the observation in extra `observation_id`) so one row shows a command with its
result. The observation row itself stays, with `action_type` 'observation'.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from forensics.loaders.agent.common import (
    entries,
    excerpt,
    json_head,
    read_document,
    reject_document,
    rows_frame,
    text,
    to_int32,
)
from forensics.loaders.base import LoadContext

_ACTION_TYPES = {"run": "shell", "run_ipython": "ipython", "edit": "edit", "write": "edit",
                 "read": "read", "browse": "browse", "browse_interactive": "browse",
                 "message": "message", "finish": "finish", "think": "think",
                 "delegate": "delegate", "mcp": "tool_call", "call_tool_mcp": "tool_call"}
_COMMAND_ARG = {"run": "command", "run_ipython": "code", "browse": "url",
                "browse_interactive": "browser_actions"}
_FIRST_EVENT = re.compile(rb'^\[\s*\{')
_SOURCE = re.compile(rb'"source"\s*:\s*"(user|agent|environment)"')


class OpenHandsEvents:
    """OpenHands event stream: a JSON list of action/observation events."""

    name = "openhands-events"
    family = "agent"
    description = ("OpenHands event stream (JSON list of events: id, timestamp, source, "
                   "action|observation)")

    def sniff(self, path: str, head: bytes) -> float:
        body = json_head(head)
        if not _FIRST_EVENT.match(body):
            return 0.0
        first = body[:4096]
        if not _SOURCE.search(first) or b'"timestamp"' not in first or b'"id"' not in first:
            return 0.0
        if b'"action"' in first or b'"observation"' in first:
            return 0.9
        return 0.0

    def load(self, ctx: LoadContext) -> None:
        doc, problem, raw = read_document(ctx)
        if problem is None and not isinstance(doc, list):
            problem = f"not an OpenHands event stream: a JSON {type(doc).__name__}, not a list"
        if problem is not None:
            reject_document(ctx, problem, raw)
            return
        ctx.lines_read = len(doc)
        ctx.note("line_no is the 1-based index of the event in the JSON list (a JSON document "
                 "has no lines); lines_read counts events")
        zone = ZoneInfo(ctx.options.tz)
        trajectory_id = os.path.basename(ctx.path).removesuffix(".gz").removesuffix(".json")
        results = _results_by_cause(doc)
        rows = []
        naive = 0
        for i, event in enumerate(doc, start=1):
            try:
                row, was_naive = _event_row(event, i, trajectory_id, zone, results)
            except _Bad as exc:
                ctx.reject(i, str(exc), json.dumps(event, ensure_ascii=False))
                continue
            naive += was_naive
            rows.append(row)
        if naive:
            ctx.tz_assumed = ctx.options.tz
            ctx.note(f"{naive} event timestamps carry no zone (OpenHands writes local time); "
                     f"read as {ctx.options.tz}")
        ctx.insert("agent_actions", rows_frame(rows))


class _Bad(ValueError):
    """An event that cannot be used; the message is the reject reason."""


def _results_by_cause(doc: list[Any]) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    for event in doc:
        if isinstance(event, dict) and "observation" in event:
            cause = to_int32(event.get("cause"))
            if cause is not None and cause not in out:
                out[cause] = event
    return out


def _time(value: Any, zone: ZoneInfo) -> tuple[datetime, bool]:
    if not isinstance(value, str):
        raise _Bad(f"field timestamp: {text(value)!r} is not an ISO 8601 time")
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        raise _Bad(f"field timestamp: {value[:80]!r} is not an ISO 8601 time") from None
    if ts.tzinfo is None:
        return ts.replace(tzinfo=zone).astimezone(UTC), True
    return ts.astimezone(UTC), False


def _exit_code(event: dict[str, Any]) -> int | None:
    extras = event.get("extras")
    if not isinstance(extras, dict):
        return None
    code = extras.get("exit_code")
    if code is None and isinstance(extras.get("metadata"), dict):
        code = extras["metadata"].get("exit_code")
    return to_int32(code)


def _tool_call_arguments(meta: Any) -> str | None:
    """The arguments of the model's tool call, verbatim, as the model sent them."""
    if not isinstance(meta, dict):
        return None
    call_id = meta.get("tool_call_id")
    response = meta.get("model_response")
    choices = response.get("choices") if isinstance(response, dict) else None
    for choice in choices if isinstance(choices, list) else []:
        message = choice.get("message") if isinstance(choice, dict) else None
        calls = message.get("tool_calls") if isinstance(message, dict) else None
        for call in calls if isinstance(calls, list) else []:
            if not isinstance(call, dict):
                continue
            if call.get("id") not in (None, call_id):
                continue
            fn = call.get("function")
            if isinstance(fn, dict) and isinstance(fn.get("arguments"), str):
                return fn["arguments"]
    return None


def _event_row(event: Any, index: int, trajectory_id: str, zone: ZoneInfo,
               results: dict[int, dict[str, Any]]) -> tuple[dict[str, Any], bool]:
    if not isinstance(event, dict):
        raise _Bad(f"event {index} is a JSON {type(event).__name__}, not an object")
    event_id = to_int32(event.get("id"))
    if event_id is None:
        raise _Bad(f"field id: {text(event.get('id'))!r} is not an event number")
    ts, naive = _time(event.get("timestamp"), zone)
    kind_action, kind_obs = event.get("action"), event.get("observation")
    if not isinstance(kind_action, str) and not isinstance(kind_obs, str):
        raise _Bad("event has neither an 'action' nor an 'observation' name")
    args = event.get("args") if isinstance(event.get("args"), dict) else {}
    extras = event.get("extras") if isinstance(event.get("extras"), dict) else {}
    meta = event.get("tool_call_metadata")
    tool = meta.get("function_name") if isinstance(meta, dict) else None
    extra: dict[str, Any] = {"message": excerpt(event.get("message")),
                             "tool_call_id": meta.get("tool_call_id") if isinstance(
                                 meta, dict) else None}
    if isinstance(kind_action, str):
        command = args.get(_COMMAND_ARG.get(kind_action, ""))
        if command is None:
            command = _tool_call_arguments(meta)
        result = results.get(event_id)
        exit_code = _exit_code(result) if result else None
        output = excerpt(result.get("content")) if result else None
        if result is not None:
            extra["observation_id"] = result.get("id")
        extra["action"] = kind_action
        extra["thought"] = excerpt(args.get("thought"))
        target = args.get("path") or args.get("url")
        action_type = _ACTION_TYPES.get(kind_action, kind_action)
    else:
        command = None
        exit_code = _exit_code(event)
        output = excerpt(event.get("content"))
        extra["observation"] = kind_obs
        extra["cause"] = event.get("cause")
        target = extras.get("path") or extras.get("url")
        action_type = "observation"
    row = {
        "line_no": index,
        "ts": ts,
        "ts_is_absolute": True,
        "framework": "openhands",
        "run_id": None,
        "trajectory_id": trajectory_id,
        "step": event_id,
        "host": None,
        "actor": text(event.get("source")),
        "action_type": action_type,
        "command": text(command),
        "tool_name": text(tool),
        "target": text(target),
        "exit_code": exit_code,
        "output_excerpt": output,
        "extra": entries(extra),
    }
    return row, naive
