"""Where polars' NDJSON reader would not give the agent JSONL's values exactly, and the fix.

Read with `extra` as a String, polars hands back its own rendering of the object, and that
rendering escapes only the quotes inside values: a backslash, a control character or a quote
in a key comes out raw (`{"p": "back\\slash"}`, `{"k"ey": 1}`), which is not JSON, or is
JSON that means something else. A lone UTF-16 surrogate escape (`"\\ud800"`) is decoded to
U+0000 in any field. An `extra` that is a string starting with `{` is indistinguishable
from an object. The bulk path stays, and this module finds the lines it cannot be trusted
with: a run that may hold one of the last two goes to the careful (line by line) path, and
the `extra` of a line whose object holds an escape is made again from the line itself.
"""

from __future__ import annotations

import json
import re

import polars as pl

# Escapes one at a time, left to right: a surrogate pair, a lone surrogate (group 1), any
# other escape (so `\\ud800`, an escaped backslash then text, is not taken for one).
_ESCAPE = re.compile(
    r"\\(?:u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}"
    r"|(u[dD][89a-fA-F][0-9a-fA-F]{2})|.)", re.DOTALL)
# `extra` or `{` spelled with escapes (`"\u0065xtra"`, `"\u007b"`): writers never do it
_ESCAPED_NAME = re.compile(r"\\u00(?:6[15]|7[248bB])")
_ODD_ESCAPE = r"\\u(?:[dD][89a-fA-F]|00(?:6[15]|7[248bB]))"
_EXTRA_STRING = r'"extra"\s*:\s*"'
_ESCAPE_AFTER_EXTRA = r'"extra"[^\\]*\\'


def exact_rows(frame: pl.DataFrame, data: bytes) -> pl.DataFrame | None:
    """`frame` (the bulk read of `data`, a row per line) with every `extra` exactly as written;
    None when the careful path must read the lines instead (a lone surrogate escape, an
    `extra` that is a string, a name spelled with escapes, lines that do not line up).

    Cheap literal searches over the lines first; the regular expressions, serde and Python
    only see the few lines they flag.
    """
    if b"\\" not in data and not _string_extra_possible(frame):
        return frame  # no escape anywhere (one memchr pass): nothing polars could alter
    if b"\x1f" in data:
        return None
    lines = pl.read_csv(data, has_header=False, separator="\x1f", quote_char=None,
                        schema={"l": pl.String}, raise_if_empty=False)["l"]
    if lines.len() != frame.height or _odd_escapes(lines):
        return None
    if "extra" not in frame.columns or frame["extra"].null_count() == frame.height:
        return frame
    texts = frame["extra"]
    objects = texts.str.starts_with("{").fill_null(False)
    # a backslash after a `"extra"`: the member itself is one (in a string it is
    # `\"extra\"`), so an object with an escape in it is among these lines (only lines
    # whose `extra` was read as an object are searched: the regex costs more than a filter)
    escaped = objects.clone().scatter(  # (scatter writes in place: `objects` is used below)
        objects.arg_true(), lines.filter(objects).str.contains(_ESCAPE_AFTER_EXTRA)
        .fill_null(False))
    # a string as `extra` reads like an object only without quotes ("{}") or with escapes
    unquoted = objects & ~texts.str.contains('"', literal=True).fill_null(True)
    maybe = escaped | unquoted
    if maybe.any() and lines.filter(maybe).str.contains(_EXTRA_STRING).any():
        return None
    if not escaped.any():
        return frame
    return _remade(frame, lines, escaped)


def _string_extra_possible(frame: pl.DataFrame) -> bool:
    """An `extra` read as text that starts with `{` and holds no quote: a JSON string
    (`"{oops"`) reads like that, so the lines must be looked at."""
    if "extra" not in frame.columns or frame["extra"].null_count() == frame.height:
        return False
    texts = frame["extra"]
    return bool((texts.str.starts_with("{")
                 & ~texts.str.contains('"', literal=True)).fill_null(False).any())


def _odd_escapes(lines: pl.Series) -> bool:
    """True when a line holds a lone surrogate escape or a name spelled with escapes."""
    has_u = lines.str.contains("\\u", literal=True).fill_null(False)
    if not has_u.any():
        return False
    flagged = lines.filter(has_u)
    flagged = flagged.filter(flagged.str.contains(_ODD_ESCAPE).fill_null(False))
    return any(_ESCAPED_NAME.search(line) or any(m.group(1) for m in _ESCAPE.finditer(line))
               for line in flagged)


def _remade(frame: pl.DataFrame, lines: pl.Series, escaped: pl.Series) -> pl.DataFrame | None:
    """`extra` of the `escaped` rows decoded from the line and encoded again in Python, as
    the careful path does, when serde's own encoding of the member holds an escape."""
    exact = lines.filter(escaped).str.json_path_match("$.extra")
    needed = exact.str.contains("\\", literal=True).fill_null(False)
    if not needed.any():
        return frame
    remade: list[str] = []
    for text in exact.filter(needed):
        obj = json.loads(text)
        if not isinstance(obj, dict):
            return None
        remade.append(json.dumps(obj, ensure_ascii=False))
    rows = pl.arg_where(escaped, eager=True).filter(needed)
    fixed = frame["extra"].clone().scatter(rows, pl.Series(remade, dtype=pl.String))
    return frame.with_columns(fixed.alias("extra"))
