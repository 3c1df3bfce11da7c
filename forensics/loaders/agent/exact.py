"""Where polars' NDJSON reader would not give the agent JSONL's values exactly, and the fix.

Read with `extra` as a String, polars hands back its own rendering of the object, and that
rendering escapes only the quotes inside values: a backslash, a control character or a quote
in a key comes out raw (`{"p": "back\\slash"}`, `{"k"ey": 1}`), which is not JSON, or is
JSON that means something else. A lone UTF-16 surrogate escape (`"\\ud800"`) is decoded to
U+0000 in any field. An `extra` that is a string starting with `{` is indistinguishable
from an object. The bulk path stays, and this module names the lines it cannot be trusted
with: the blocks that may hold the last two go to the careful (line by line) path, and the
`extra` of lines whose object holds an escape is made again from the line itself.
"""

from __future__ import annotations

import json
import re
from typing import Any

import polars as pl

_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")
# Escapes one at a time, left to right: a surrogate pair, a lone surrogate (group 1), any
# other escape (so `\\ud800`, an escaped backslash then text, is not taken for one).
_ESCAPE = re.compile(
    rb"\\(?:u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}"
    rb"|(u[dD][89a-fA-F][0-9a-fA-F]{2})|.)", re.DOTALL)
_EXTRA_STRING = re.compile(rb'"extra"\s*:\s*"')
# `extra` or `{` spelled with escapes (`"\u0065xtra"`, `"\u007b"`): writers never do it
_ESCAPED_NAME = re.compile(rb"\\u00(?:6[15]|7[248bB])")


def needs_care(data: bytes) -> bool:
    """True when the bulk reader could alter a value in `data` (a block of lines).

    Cheap searches first: most blocks hold no surrogate escape at all, and an `extra` that
    is a string (or a name spelled with escapes) is unheard of; false alarms only cost the
    careful path, which decides exactly.
    """
    if _EXTRA_STRING.search(data) or _ESCAPED_NAME.search(data):
        return True
    if _SURROGATE.search(data) is None:
        return False
    return any(m.group(1) for m in _ESCAPE.finditer(data))


def lone_surrogate(obj: dict[str, Any]) -> str | None:
    """The top-level field of `obj` (a decoded line) holding a lone surrogate, or None."""

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
            return key
    return None


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def exact_extra(frame: pl.DataFrame, data: bytes) -> pl.DataFrame | None:
    """`frame` (the bulk read of `data`, a row per line) with every `extra` exactly as written.

    Only an object with an escape in it can come out wrong, and an escape needs a backslash
    in the line: for those lines serde's own encoding of the member (`json_path_match`) says
    whether the object holds one, and the few that do are decoded and encoded again in
    Python, as the careful path does. None when the lines do not line up with the rows (the
    caller then takes the careful path).
    """
    if "extra" not in frame.columns or frame["extra"].null_count() == frame.height:
        return frame
    if b"\x1f" in data:
        return None
    lines = pl.read_csv(data, has_header=False, separator="\x1f", quote_char=None,
                        schema={"l": pl.String}, raise_if_empty=False)["l"]
    if lines.len() != frame.height:
        return None
    texts = frame["extra"]
    suspect = (texts.str.starts_with("{") & lines.str.contains("\\", literal=True)
               ).fill_null(False)
    if not suspect.any():
        return frame
    exact = lines.filter(suspect).str.json_path_match("$.extra")
    escaped = exact.str.contains("\\", literal=True).fill_null(False)
    if not escaped.any():
        return frame
    remade: list[str] = []
    for text in exact.filter(escaped):
        obj = json.loads(text)
        if not isinstance(obj, dict):
            return None
        remade.append(json.dumps(obj, ensure_ascii=False))
    rows = pl.arg_where(suspect, eager=True).filter(escaped)
    fixed = texts.clone().scatter(rows, pl.Series(remade, dtype=pl.String))
    return frame.with_columns(fixed.alias("extra"))
