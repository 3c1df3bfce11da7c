"""Firewall fast paths give exactly what the careful paths give (values, rejects, lines)."""

from __future__ import annotations

import random

import polars as pl

from forensics.loaders.base import json_object
from forensics.loaders.firewall import common


def test_build_extra_matches_json_object():
    """The concat_str `extra` is byte-identical to json_object, escapes and quirks included
    (values with quotes, backslashes, control characters, `:null`, non-ASCII, all NULL)."""
    rng = random.Random(7)
    alphabet = ["a", '"', "\\", "\x01", "\t", "é", "\x7f", ":", "null", ",", "}", "{", " ",
                ":null", "😀", "\u2028"]
    n = 5000
    cols = {f"__x_k{i}": [None if rng.random() < 0.4 else
                          "".join(rng.choice(alphabet) for _ in range(rng.randrange(4)))
                          for _ in range(n)] for i in range(4)}
    cols["__x_all_null"] = [None] * n
    frame = pl.DataFrame(cols, schema={k: pl.String for k in cols}).with_columns(
        pl.Series("__x_num", [None if rng.random() < 0.5 else rng.randrange(100)
                              for _ in range(n)], dtype=pl.UInt64))
    names = [c for c in frame.columns if c.startswith("__x_")]
    want = frame.select(json_object(names, {c: c[4:] for c in names}).alias("extra"))["extra"]
    assert common.build_extra(frame).to_list() == want.to_list()
    nulls = frame.select("__x_all_null")
    assert common.build_extra(nulls).to_list() == ["{}"] * n
