"""What the agent-action formats share: the output frame, JSON documents, caps.

SWE-agent trajectories and OpenHands event streams are single JSON documents, not lines.
For them a "record" is one step (or event): `line_no` is its 1-based index in the
document and `ctx.lines_read` is the number of records, so the count equation
(records = rows + rejects) holds exactly. A document that does not parse at all is one
record, rejected whole: nothing else can be said about it.
"""

from __future__ import annotations

import json
from typing import Any

import polars as pl

from forensics.loaders.base import LoadContext
from forensics.loaders.reading import decompressed_chunks

OUTPUT_CAP = 4096
"""Characters of output kept in `output_excerpt` (the table holds an excerpt, not a copy)."""

ENTRY = pl.Struct({"key": pl.String, "value": pl.String})
ENTRIES = pl.List(ENTRY)

AGENT_SCHEMA: dict[str, pl.DataType] = {
    "line_no": pl.Int64,
    "ts": pl.Datetime("us", "UTC"),
    "ts_is_absolute": pl.Boolean,
    "framework": pl.String,
    "run_id": pl.String,
    "trajectory_id": pl.String,
    "step": pl.Int32,
    "host": pl.String,
    "actor": pl.String,
    "action_type": pl.String,
    "command": pl.String,
    "tool_name": pl.String,
    "target": pl.String,
    "exit_code": pl.Int32,
    "output_excerpt": pl.String,
    "extra": ENTRIES,
}

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def read_document(ctx: LoadContext) -> tuple[Any, str | None, bytes]:
    """The whole decompressed file parsed as JSON: (value, problem, raw bytes).

    `problem` names why the file cannot be used (damaged gzip, invalid UTF-8 or JSON);
    the caller then rejects the document as one record.
    """
    parts: list[bytes] = []
    damage: str | None = None
    for item in decompressed_chunks(ctx.path):
        if isinstance(item, BaseException):
            damage = str(item)
            break
        parts.append(item)
    raw = b"".join(parts)
    if damage:
        return None, f"{damage}; the JSON document is incomplete", raw
    try:
        return json.loads(raw), None, raw
    except UnicodeDecodeError as exc:
        return None, f"not valid UTF-8 at byte {exc.start}", raw
    except ValueError as exc:
        return None, f"not a valid JSON document: {exc}", raw


def reject_document(ctx: LoadContext, problem: str, raw: bytes) -> None:
    """Account for an unusable document as one rejected record."""
    ctx.lines_read = 1
    ctx.reject(1, problem, raw)
    ctx.note("the file could not be read as a JSON document; it is counted as one record")


def text(value: Any) -> str | None:
    """A JSON value as text: strings as they are, anything else as its JSON."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def entries(pairs: dict[str, Any]) -> list[dict[str, str]]:
    """`extra` entries from a dict, dropping None values, values as text."""
    return [{"key": k, "value": text(v)} for k, v in pairs.items() if v is not None]  # type: ignore[misc]


def excerpt(value: Any) -> str | None:
    out = text(value)
    return out[:OUTPUT_CAP] if out is not None else None


def to_int32(value: Any) -> int | None:
    """An exit code or step as int32, or None when absent or not a whole number in range."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, int) and INT32_MIN <= value <= INT32_MAX:
        return value
    return None


def rows_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """The rows of one document as a frame typed like `agent_actions`."""
    frame = pl.DataFrame(rows, schema=AGENT_SCHEMA, orient="row") if rows else pl.DataFrame(
        schema=AGENT_SCHEMA)
    return frame


def json_head(head: bytes) -> bytes:
    """The head without a UTF-8 BOM and leading whitespace, for sniffing JSON documents."""
    return head.removeprefix(b"\xef\xbb\xbf").lstrip()
