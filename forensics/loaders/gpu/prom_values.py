"""The `values` arrays of a compact range-query document, read without a JSON parser.

A `/api/v1/query_range` response is nearly all `[t,"v"]` pairs: the series' label objects
are a few hundred bytes, the pairs megabytes. Inferring the schema of the whole document
(which the label key order needs: it decides the key order of `extra`) costs as much as
the rest of the load. So the document is split: the arrays' contents are cut out, leaving
a *skeleton* that polars reads as it would the whole (same labels, same key order, same
errors), and the pairs are read as delimited text by polars' CSV reader. (The key order is
stable when every series carries the same labels in the same order, as exporters write
them; when label sets differ, polars' inferred order varies between reads, whole or split.)

The split is only trusted when it is provably the JSON parse: every array is compact
(`"values":[[t,"v"],...]`, as Prometheus writes it), every time a plain decimal that
polars prints back unchanged, every value a non-empty string with no quote, backslash or
control character. Anything else (pretty-printed JSON, escapes, numbers as values) returns
None and the caller reads the whole document the general way.
"""

from __future__ import annotations

import polars as pl

# below this the whole-document read is quicker than the split's extra steps (~10 ms)
MIN_BYTES = 1 << 20
_KEY = b'"values"'
_OPEN = b'"values":['
# a time polars prints back as written: <= 15 significant digits, no exponent, no trailing
# zero in the fraction (polars re-formats 1700000000.100 as 1700000000.1)
_TIME = r"^[1-9][0-9]{0,11}(?:\.[0-9]{0,2}[1-9])?$"
# bytes a JSON string may not hold raw; \r would also be eaten by the CSV reader
_CONTROL = bytes(range(0x20))


def split(data: bytes) -> tuple[bytes, list[bytes]] | None:
    """(skeleton, inner text of each `values` array), or None if the document is not compact
    or is small enough to read whole.

    The skeleton is `data` with each array emptied to `[]`; the inner text of `[[a],[b]]`
    is `a],[b`, without the last pair's closing quote (checked to be there). Every
    `"values"` in the text must be such a key: a label or string cannot hold that text
    (its quotes would be escaped), so a count mismatch means a layout we do not read here.
    """
    if len(data) < MIN_BYTES:
        return None
    spans: list[bytes] = []
    parts: list[bytes] = []
    prev = pos = 0
    while (at := data.find(_OPEN, pos)) >= 0:
        start = at + len(_OPEN)
        nxt = data[start:start + 1]
        if nxt == b"]":
            spans.append(b"")
            pos = start + 1
            continue
        end = data.find(b"]]", start)
        if nxt != b"[" or end < 0 or data[end - 1:end] != b'"':
            return None
        spans.append(data[start + 1:end - 1])
        parts.append(data[prev:start])
        prev = pos = end + 1
    if not spans or data.count(_KEY) != len(spans):
        return None
    parts.append(data[prev:])
    return b"".join(parts), spans


def read(spans: list[bytes]) -> pl.DataFrame | None:
    """(sid, t, vtext, and ts when the times are whole seconds) for the pairs of `spans` in
    order, sid the index of the span; None unless every pair has the checked shape.

    `"],[` between pairs becomes a newline and the remaining `,"` splits time from value,
    so a line is `t,"v`; a quote inside a value would make a third field (an error), an
    empty value a NULL, a line without `,"` a time field without its comma, and a time
    that is not canonical fails the whole-seconds check and then the pattern.
    """
    counts = [s.count(b'"],[') + 1 if s else 0 for s in spans]
    filled = [s for s in spans if s]
    text = b"\n".join(filled)
    # the only control characters: the newlines just put between the arrays
    if b"\\" in text or len(text) - len(text.translate(None, _CONTROL)) != len(filled) - 1:
        return None
    text = text.replace(b'"],[', b"\n")
    try:
        frame = pl.read_csv(text, has_header=False, separator='"', quote_char=None,
                            schema={"t": pl.String, "vtext": pl.String})
    except pl.exceptions.PolarsError:  # ragged (a quote in a value), not UTF-8, ...
        return None
    # every time field must end with the "," of its ',"' (else the line was `t"v`)
    ok = frame.select((pl.col("vtext").is_not_null() & pl.col("t").str.ends_with(",")).all())
    if frame.height != sum(counts) or not ok.item():
        return None
    frame = frame.select(_sids(counts), pl.col("t").str.strip_suffix(","), "vtext")
    ts = _whole_seconds(frame["t"])
    if ts is not None:
        return frame.with_columns(ts)
    return frame if frame.select(pl.col("t").str.contains(_TIME).all()).item() else None


def _whole_seconds(t: pl.Series) -> pl.Series | None:
    """`ts` when every time is a whole number of seconds written canonically (no sign, no
    leading zero), the usual range query; None to check the times by pattern instead.

    Cheaper than the pattern: a text of n bytes that reads as an integer with n digits
    is those digits. Below 9e9 s, seconds * 10^6 is what the float path rounds to.
    """
    secs = t.cast(pl.Int64, strict=False)
    if secs.null_count() or not secs.len() or secs.min() <= 0 or secs.max() >= 9_000_000_000:
        return None
    width = t.str.len_bytes().cast(pl.Int64)
    powers = pl.Series([10 ** i for i in range(11)], dtype=pl.Int64)
    if (width > 10).any() or ((secs < powers.gather(width - 1)) | (secs >= powers.gather(width))
                              ).any():
        return None
    return (pl.from_epoch(secs * 1_000_000, time_unit="us").dt.replace_time_zone("UTC")
            .alias("ts"))


def _sids(counts: list[int]) -> pl.Series:
    """0 repeated counts[0] times, 1 counts[1] times, ...: each pair's series."""
    ids = pl.Series("sid", range(len(counts)), dtype=pl.Int64)
    return ids.repeat_by(pl.Series(counts, dtype=pl.UInt32)).explode().drop_nulls()
