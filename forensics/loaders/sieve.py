"""The careful path's line sieve: what every line-based loader does with a block or a run
it reads line by line (the bulk read having failed on it), so each bad line becomes a
reject with its line number and reason, and the good lines go on.

- `damaged_tail`: the partial last line of a damaged gzip stream is one reject;
- `count_blank`, `checked_lines`: blank lines counted, over-long ones rejected;
- `json_object_lines`: JSON-lines records, each line an object or a reject (not UTF-8,
  not JSON, not an object, a lone UTF-16 surrogate);
- `strict_json`: `json.loads` that takes only JSON (no NaN or Infinity, no number that
  turns into an infinity).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any

from forensics.loaders.base import LoadContext
from forensics.loaders.reading import Block, Run


def damaged_tail(ctx: LoadContext, block: Block) -> Block | None:
    """Reject the partial last line of a damaged (gzip) stream; return the intact lines.

    Every line-based loader calls this on each block: the text before a corruption loads,
    the damage itself is one reject at the line where it happened.
    """
    if block.damage is None:
        return block
    cut = block.data.rfind(b"\n")
    ctx.reject(block.first_line + block.n_lines - 1,
               f"{block.damage}; this line is the incomplete text before the damage",
               block.data[cut + 1:])
    if cut < 0:
        return None
    return Block(block.data[:cut], block.first_line, block.n_lines - 1)


def count_blank(ctx: LoadContext, line: bytes) -> bool:
    """Count a blank (or whitespace-only) line as such; True if it was one."""
    if line.strip(b" \t\r") == b"":
        ctx.blank_lines += 1
        return True
    return False


def checked_lines(ctx: LoadContext, run: Run) -> Iterator[tuple[int, bytes]]:
    """The careful path's first sieve: (line_no, line) of non-blank lines within the length
    limit; blank lines are counted, over-long ones rejected. A trailing CR is dropped."""
    limit = ctx.options.max_line_bytes
    for i, line in enumerate(run.data.split(b"\n")):
        line_no = run.first_line + i
        line = line.removesuffix(b"\r")
        if count_blank(ctx, line):
            continue
        if len(line) > limit:
            ctx.reject(line_no, f"line is {len(line)} bytes, over the limit of {limit}", line)
            continue
        yield line_no, line


def json_object_lines(ctx: LoadContext, run: Run
                      ) -> Iterator[tuple[int, bytes, dict[str, Any]]]:
    """(line_no, line, object) for each line that is a JSON object; every other line is a
    reject with its reason (not UTF-8, not JSON, a JSON array or scalar)."""
    for line_no, line in checked_lines(ctx, run):
        try:
            obj = strict_json(line)
        except UnicodeDecodeError as exc:
            ctx.reject(line_no, f"not valid UTF-8 at byte {exc.start}", line)
            continue
        except NotJSON as exc:
            ctx.reject(line_no, f"not valid JSON: {exc}", line)
            continue
        except ValueError as exc:
            ctx.reject(line_no, f"not valid JSON (truncated or damaged line?): {exc}", line)
            continue
        if not isinstance(obj, dict):
            ctx.reject(line_no, f"a JSON {type(obj).__name__}, not an object", line)
            continue
        bad = lone_surrogate(obj) if b"\\u" in line else None
        if bad is not None:
            ctx.reject(line_no, f"field {bad}: {LONE_SURROGATE}", line)
            continue
        yield line_no, line, obj


def strict_json(text: str | bytes) -> Any:
    """`json.loads`, refusing (ValueError) what is not JSON or cannot be stored as JSON.

    Python's reader also takes `NaN`, `Infinity` and `-Infinity`, which are not JSON
    (RFC 8259; polars' reader refuses them), and reads a number beyond a 64-bit float's
    range (`1e400`) as an infinity; `json.dumps` writes both back as `NaN`/`Infinity`,
    so a careful-path line would be stored as text no JSON reader downstream (jq, a
    strict parser) accepts, while the same line could never load through the bulk path.
    Such a line is a reject with the reason instead (`NotJSON`, a ValueError).
    """
    return json.loads(text, parse_constant=_not_json, parse_float=_finite_float)


class NotJSON(ValueError):
    """A value Python's JSON reader takes but JSON has not (see `strict_json`)."""


def _not_json(token: str) -> Any:
    raise NotJSON(f"{token} is not a JSON value (RFC 8259 has no NaN or Infinity)")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise NotJSON(f"number {text[:40]} is beyond the range of a 64-bit float")
    return value


# A lone UTF-16 surrogate escape decodes to no character: polars' reader turns it into
# U+0000 without a word, and DuckDB cannot store it, so such a line is a reject.
LONE_SURROGATE = ("holds a lone UTF-16 surrogate escape (\\ud800 to \\udfff alone), which "
                  "is no character: it cannot be stored as text")
LONE_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def lone_surrogate(obj: dict[str, Any]) -> str | None:
    """The name of the top-level field of `obj` (a decoded line) holding a lone surrogate
    (in its name, its value or anything nested in it), or None."""

    def bad(value: Any) -> bool:
        if isinstance(value, str):
            return _has_surrogate(value)
        if isinstance(value, dict):
            return any(_has_surrogate(k) or bad(v) for k, v in value.items())
        if isinstance(value, list):
            return any(bad(v) for v in value)
        return False

    for key, value in obj.items():
        if _has_surrogate(key) or bad(value):
            # the name itself may hold the surrogate: shown as its escape, it is text
            return key[:80].encode("utf-8", "backslashreplace").decode("utf-8")
    return None


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
