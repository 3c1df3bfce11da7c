"""Zeek types to DuckDB types and polars conversions, in one place.

The type map is a plain dict (zat's one good idea), and every conversion keeps Zeek's
unset marker as NULL, never 0, False or 1970. Conversions are polars expressions over the
raw text columns, so a million rows convert in one vectorised pass; a value that does not
convert is reported per row (column and value) so the loader can reject that line.
"""

from __future__ import annotations

import re

import polars as pl

# Zeek scalar type -> DuckDB column type.
ZEEK_TO_DUCKDB: dict[str, str] = {
    "time": "TIMESTAMPTZ",
    "interval": "DOUBLE",
    "count": "UBIGINT",
    "counter": "UBIGINT",
    "int": "BIGINT",
    "double": "DOUBLE",
    "port": "INTEGER",
    "bool": "BOOLEAN",
    "addr": "VARCHAR",
    "subnet": "VARCHAR",
    "enum": "VARCHAR",
    "string": "VARCHAR",
    "pattern": "VARCHAR",
    "file": "VARCHAR",
    "func": "VARCHAR",
}

# DuckDB type -> polars dtype used to build the frame that is inserted.
_POLARS: dict[str, pl.DataType] = {
    "TIMESTAMPTZ": pl.Datetime("us", "UTC"),
    "DOUBLE": pl.Float64(),
    "UBIGINT": pl.UInt64(),
    "BIGINT": pl.Int64(),
    "INTEGER": pl.Int32(),
    "BOOLEAN": pl.Boolean(),
    "VARCHAR": pl.String(),
}

_CONTAINER = re.compile(r"^(set|vector|table)\[(.+)\]$")
MASKED_TIME = r"^X+(\.X+)?$"  # btest baselines mask times as XXXXXXXXXX.XXXXXX


def split_container(zeek_type: str) -> tuple[str | None, str]:
    """`set[addr]` -> ("set", "addr"); `count` -> (None, "count"). `table` is Bro 2.x `set`."""
    m = _CONTAINER.match(zeek_type.strip())
    if m is None:
        return None, zeek_type.strip()
    kind = "set" if m.group(1) == "table" else m.group(1)
    return kind, m.group(2).strip()


def duckdb_type(zeek_type: str) -> str:
    """DuckDB type for a Zeek type; containers become lists; unknown types are text."""
    kind, inner = split_container(zeek_type)
    scalar = ZEEK_TO_DUCKDB.get(inner, "VARCHAR")
    return f"{scalar}[]" if kind else scalar


def polars_type(ddb_type: str) -> pl.DataType:
    if ddb_type.endswith("[]"):
        return pl.List(polars_type(ddb_type[:-2]))
    return _POLARS.get(ddb_type, pl.String())


def column_name(zeek_field: str) -> str:
    """`id.orig_h` -> `id_orig_h`: dots are awkward in SQL identifiers."""
    return zeek_field.replace(".", "_")


def time_from_text(expr: pl.Expr) -> pl.Expr:
    """Epoch seconds as text ("1379288667.706265") to a UTC timestamp, exactly.

    Splitting at the dot avoids the rounding a float64 round trip can introduce in the
    sixth decimal; forensic timelines order events by these microseconds.
    """
    parts = expr.str.split_exact(".", 1)
    secs = parts.struct.field("field_0").cast(pl.Int64, strict=False)
    frac_txt = parts.struct.field("field_1").fill_null("0")
    frac_ok = frac_txt.str.contains(r"^[0-9]{1,9}$")
    micros = (
        pl.when(frac_ok)
        .then(frac_txt.str.slice(0, 6).str.pad_end(6, "0").cast(pl.Int64, strict=False))
        .otherwise(None)
    )
    sign = pl.when(expr.str.starts_with("-")).then(-1).otherwise(1)
    exact = secs * 1_000_000 + sign * micros
    # Zeek writes some times in scientific notation (x509 not_valid_after = 2.385616957e+09).
    approx = (expr.cast(pl.Float64, strict=False) * 1_000_000).round(0).cast(pl.Int64,
                                                                              strict=False)
    total = pl.coalesce(exact, approx)
    return total.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")


def time_from_text_fast(expr: pl.Expr) -> pl.Expr:
    """Zeek's usual `%.6f` epoch text to a UTC timestamp: drop the dot, read microseconds.

    Exact and cheap; anything not written with exactly six decimals gives NULL here and
    goes to `time_from_text` in the loader's second, careful pass.
    """
    dot = expr.str.find(".", literal=True)
    six = (expr.str.len_bytes().cast(pl.Int64) - dot.cast(pl.Int64)) == 7
    micros = expr.str.replace(".", "", literal=True, n=1).cast(pl.Int64, strict=False)
    return (
        pl.when(six).then(micros).otherwise(None)
        .cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    )


def time_from_number(expr: pl.Expr) -> pl.Expr:
    """Epoch seconds as a JSON number to a UTC timestamp (rounded to the microsecond)."""
    return (
        (expr.cast(pl.Float64) * 1_000_000)
        .round(0)
        .cast(pl.Int64, strict=False)
        .cast(pl.Datetime("us"))
        .dt.replace_time_zone("UTC")
    )


def time_from_iso(expr: pl.Expr) -> pl.Expr:
    """ISO-8601 text (Zeek's JSON::TS_ISO8601, `2018-03-24T17:15:20.600843Z`) to UTC."""
    return expr.str.to_datetime(
        time_unit="us", time_zone="UTC", strict=False, ambiguous="earliest"
    )


def _scalar_from_text(expr: pl.Expr, inner: str) -> pl.Expr:
    ddb = ZEEK_TO_DUCKDB.get(inner, "VARCHAR")
    if ddb == "TIMESTAMPTZ":
        return time_from_text(expr)
    if ddb == "BOOLEAN":
        return pl.when(expr == "T").then(True).when(expr == "F").then(False).otherwise(None)
    if ddb in ("DOUBLE", "UBIGINT", "BIGINT", "INTEGER"):
        return expr.cast(_POLARS[ddb], strict=False)
    return expr


def from_text(raw: pl.Expr, zeek_type: str, unset: str, empty: str, set_sep: str,
              *, fast: bool = False) -> pl.Expr:
    """Convert a raw TSV text column of `zeek_type`; unset -> NULL, empty container -> [].

    String values keep Zeek's `\\xHH` escapes here; the loader decodes them afterwards only
    in the rare cells that contain a backslash.
    """
    kind, inner = split_container(zeek_type)
    is_unset = raw == unset
    if kind is None:
        value = (time_from_text_fast(raw) if fast and inner == "time"
                 else _scalar_from_text(raw, inner))
        if ZEEK_TO_DUCKDB.get(inner, "VARCHAR") == "VARCHAR":
            value = pl.when(raw == empty).then(pl.lit("")).otherwise(raw)
        return pl.when(is_unset).then(None).otherwise(value)
    target = polars_type(duckdb_type(zeek_type))
    items = raw.str.split(set_sep)
    converted = items.list.eval(_scalar_from_text(pl.element(), inner))
    return (
        pl.when(is_unset)
        .then(None)
        .when(raw == empty)
        .then(pl.lit([], dtype=target))
        .otherwise(converted)
        .cast(target)
    )


def failed(raw: pl.Expr, converted: pl.Expr, zeek_type: str, unset: str, empty: str,
           *, masked_ok: bool = True) -> pl.Expr:
    """True where a non-unset raw value did not convert (a bad number, time or bool).

    With `masked_ok`, a masked test-baseline time (XXXXXXXXXX.XXXXXX) is not a failure.
    """
    kind, inner = split_container(zeek_type)
    ddb = ZEEK_TO_DUCKDB.get(inner, "VARCHAR")
    if ddb == "VARCHAR":
        return pl.lit(False)
    present = (raw != unset) & raw.is_not_null()
    if ddb == "TIMESTAMPTZ" and masked_ok:
        present = present & ~raw.str.contains(MASKED_TIME)
    if kind is None:
        return present & converted.is_null()
    return present & (raw != empty) & converted.list.eval(pl.element().is_null()).list.any()
