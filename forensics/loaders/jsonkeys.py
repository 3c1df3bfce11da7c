"""Did a bulk JSON-lines read keep every value? The check for readers with a partial schema.

polars' NDJSON reader drops, without a word, a key outside its schema: one inferred from the
first lines (Zeek JSON), or fixed to a spec's fields (agent JSONL). Counting is the cheap
and exact way to know that nothing with a value was lost, without a second parse.
"""

from __future__ import annotations

import polars as pl


def all_keys_parsed(data: bytes, frame: pl.DataFrame) -> bool:
    """Whether the bulk read (schema inferred from the first lines) kept every non-null value.

    polars drops, without a word, a key it did not see while inferring. Every key is
    followed by a colon, so the colons of the text are: one per key, plus those inside
    values. The parsed frame accounts exactly for the colons of its non-null cells (one
    per cell, plus those in its text values); what is left over comes from keys with an
    explicit null, which write `:null`, and from dropped keys. A dropped key with a value
    leaves more colons over than `:null`s (its own colon, plus one for every `:null` in its
    value or name), so "left over == `:null`s outside parsed values" means nothing with a
    value was dropped. Two single passes over the bytes, and exact; anything it cannot
    account for (a colon in a column name, an escaped colon) sends the block to the full
    schema inference instead.
    """
    if any(":" in name for name in frame.columns):
        return False
    texts = _text_columns(frame)
    if texts is None:
        return False
    parsed = sum(frame.height - frame[c].null_count() for c in frame.columns)
    colons = _counts_in(frame, texts, ":")
    left_over = data.count(b":") - parsed - sum(colons)
    if left_over == 0:
        return True
    nulls = data.count(b":null")
    if left_over > nulls:  # `:null`s inside values only lower what may be left over
        return False
    # only a column holding colons can hold `:null` (a timestamp column does, an id not)
    with_colons = [t for t, n in zip(texts, colons, strict=True) if n]
    return left_over == nulls - sum(_counts_in(frame, with_colons, ":null"))


def _text_columns(frame: pl.DataFrame) -> list[pl.Expr] | None:
    """The parsed values as text, a column each, or None for a column type whose text is
    not simply recoverable (the caller then infers the schema from every line)."""
    texts: list[pl.Expr] = []
    for name, dtype in frame.schema.items():
        if dtype.is_numeric() or dtype in (pl.Boolean, pl.Null):
            continue
        if dtype == pl.String:
            texts.append(pl.col(name))
        elif isinstance(dtype, pl.List) and dtype.inner == pl.String:
            texts.append(pl.col(name).list.join("\x00"))
        elif isinstance(dtype, pl.List) and (dtype.inner.is_numeric()
                                             or dtype.inner == pl.Boolean):
            continue
        else:
            return None
    return texts


def _counts_in(frame: pl.DataFrame, texts: list[pl.Expr], needle: str) -> list[int]:
    """How often `needle` occurs inside each of the parsed text columns."""
    if not texts:
        return []
    row = frame.select([t.str.count_matches(needle, literal=True).sum().alias(f"c{i}")
                        for i, t in enumerate(texts)]).row(0)
    return [int(n or 0) for n in row]
