"""Merging incident rows into a vectorised background and writing text files fast.

The background is a polars frame built with numpy (never a Python loop per row); the few
incident rows of a story are appended as a small frame, everything is sorted by time, and
the tagged rows are located in the sorted frame, so the ground truth can name the exact
line a row landed on. Body lines are written by polars' CSV writer with quoting off, which
is what makes ten million Zeek rows a matter of seconds.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

Located = list[tuple[str, int, list[str]]]  # (tag, 1-based line number, strings shown)


def incident_frame(rows: list[dict[str, Any]], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """The incident rows of one output as a frame with the background's schema plus
    `tag` and `shows` (missing keys are NULL)."""
    full = {**schema, "tag": pl.String, "shows": pl.List(pl.String)}
    data = {k: [r.get(k) for r in rows] for k in full}
    return pl.DataFrame(data, schema=full)


def merge(background: pl.DataFrame, rows: list[dict[str, Any]], sort: Sequence[str] = ("ts",)
          ) -> pl.DataFrame:
    """Background plus incident rows, stably sorted by `sort` (background first on ties).

    When sorting by time alone and the background is already in time order (the big
    Zeek and firewall backgrounds are), the few incident rows are spliced in at their
    positions instead: the same order as the stable sort, without copying ten million
    rows."""
    schema = dict(background.schema)
    bg = background.with_columns(pl.lit(None, dtype=pl.String).alias("tag"),
                                 pl.lit(None, dtype=pl.List(pl.String)).alias("shows"))
    if not rows:
        return bg.sort(list(sort), maintain_order=True) if sort and not _sorted(bg, sort) else bg
    inc = incident_frame(rows, schema)
    if list(sort) == ["ts"] and _sorted(bg, sort):
        inc = inc.sort("ts", maintain_order=True)
        cuts = np.searchsorted(bg["ts"].to_numpy(), inc["ts"].to_numpy(), side="right")
        parts, start = [], 0
        for i, cut in enumerate(cuts.tolist()):
            if cut > start:
                parts.append(bg.slice(start, cut - start))
            parts.append(inc.slice(i, 1))
            start = cut
        if start < bg.height:
            parts.append(bg.slice(start))
        return pl.concat(parts, how="vertical", rechunk=False)
    out = pl.concat([bg, inc], how="vertical")
    return out.sort(list(sort), maintain_order=True) if sort else out


def _sorted(frame: pl.DataFrame, sort: Sequence[str]) -> bool:
    if list(sort) != ["ts"] or frame.height < 2:
        return frame.height < 2
    ts = frame["ts"]
    return ts.null_count() == 0 and bool((ts.diff().drop_nulls() >= 0).all())


def locate(frame: pl.DataFrame, first_line: int) -> Located:
    """Where each tagged row is: line = first_line + its index in `frame`."""
    tagged = (frame.select("tag", "shows").with_row_index("__i")
              .filter(pl.col("tag").is_not_null()))
    return [(t, first_line + int(i), list(s or [])) for i, t, s in tagged.iter_rows()]


CHUNK_ROWS = 1_000_000


def chunks(frame: pl.DataFrame, select: Callable[[pl.DataFrame], pl.DataFrame]
           ) -> Iterator[pl.DataFrame]:
    """The text columns of `frame`, a million rows at a time: the formatted text of ten
    million rows would otherwise double the memory a large scale needs. Only row-local
    expressions may be used (the same bytes either way)."""
    for offset in range(0, frame.height, CHUNK_ROWS):
        yield select(frame.slice(offset, CHUNK_ROWS))


def write_text(path: Path, header: Sequence[str],
               body: pl.DataFrame | Iterable[pl.DataFrame] | None,
               footer: Sequence[str] = (), separator: str = "\t",
               trailing_newline: bool = True, null_value: str = "",
               float_precision: int | None = None) -> None:
    """Header lines, the body frame (string columns, no quoting), footer lines."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        if header:
            fh.write(("\n".join(header) + "\n").encode())
        parts = [body] if isinstance(body, pl.DataFrame) else (body or [])
        for part in parts:
            if part.height:
                part.write_csv(fh, include_header=False, separator=separator,
                               quote_style="never", line_terminator="\n",
                               null_value=null_value, float_precision=float_precision)
        if footer:
            fh.write(("\n".join(footer) + "\n").encode())
    if not trailing_newline:
        _strip_last_newline(path)


def _strip_last_newline(path: Path) -> None:
    with open(path, "rb+") as fh:
        fh.seek(0, io.SEEK_END)
        if fh.tell():
            fh.seek(-1, io.SEEK_END)
            if fh.read(1) == b"\n":
                fh.seek(-1, io.SEEK_END)
                fh.truncate()


def us_to_epoch_text(col: pl.Expr) -> pl.Expr:
    """Integer microseconds -> '1772611200.000000' (Zeek's %.6f without a float)."""
    return pl.concat_str([(col // 1_000_000).cast(pl.String), pl.lit("."),
                          (col % 1_000_000).cast(pl.String).str.zfill(6)])


def us_to_seconds_text(col: pl.Expr) -> pl.Expr:
    """An interval in microseconds as '12.500000' (Zeek interval)."""
    return us_to_epoch_text(col)


def seconds(col: pl.Expr) -> pl.Expr:
    """Integer microseconds as float seconds, for writers using float_precision=6: a
    float64 holds a 2026 epoch time to within 2.4e-7 s, so the six printed decimals are
    exactly the microseconds (and formatting is much faster than string building)."""
    return col.cast(pl.Float64) / 1_000_000


def opt(col: pl.Expr, unset: str = "-") -> pl.Expr:
    """A column as text with NULL written as Zeek's unset marker."""
    return col.cast(pl.String).fill_null(unset)


def fmt(template: str, *exprs: pl.Expr) -> pl.Expr:
    """`template` with each `{}` replaced by an expression's text, braces elsewhere kept
    literally (JSON templates); a NULL piece makes the whole result NULL."""
    parts = template.split("{}")
    if len(parts) != len(exprs) + 1:
        raise ValueError(f"template has {len(parts) - 1} slots for {len(exprs)} values")
    pieces: list[pl.Expr] = []
    for text, expr in zip(parts, [*exprs, None], strict=True):
        if text:
            pieces.append(pl.lit(text))
        if expr is not None:
            pieces.append(expr.cast(pl.String))
    return pl.concat_str(pieces)
