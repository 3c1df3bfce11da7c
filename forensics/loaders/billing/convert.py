"""Vectorised conversion of vendor text columns into `billing_items` columns.

Every format hands a frame of text columns (native names, nulls for empty fields) to a
`Rows` builder and says, column by column, where each normalised column comes from. The
builder converts whole columns at a time and remembers, per row, the first value that did
not convert, so `finish` can send exactly those rows to `rejects` with the column and the
value named, and insert the rest.

Money: text is cast to DECIMAL(38,10) by polars' decimal parser, which reads plain and
scientific notation (`5.64902E-05`) exactly from the digits, never through a float.
Digits past the tenth decimal place are rounded (half to even): the schema's money type.

Times: each column is parsed with one strptime format guessed from its first value (fast),
and the values that format does not fit go through a general regex parser that takes ISO
8601 with or without `T`, seconds, fractions and zone (`Z`, `UTC`, `+00:00`), and, where
the vendor writes it, `M/D/YYYY [h:mm[:ss] [AM|PM]]`. A time with no zone is read in
`ctx.options.tz` (default UTC) and the assumption is recorded.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

import polars as pl

from forensics.loaders.base import LoadContext
from forensics.loaders.billing.csvread import LINE
from forensics.loaders.billing.tags import parse_texts
from forensics.loaders.jsontext import concat_pieces, json_object

MONEY = pl.Decimal(38, 10)
UTC = pl.Datetime("us", "UTC")
TARGETS = (
    "charge_period_start", "charge_period_end", "billing_account_id", "billing_account_name",
    "sub_account_id", "sub_account_name", "provider", "publisher", "service_name",
    "service_category", "charge_category", "charge_description", "sku_id", "resource_id",
    "resource_name", "region", "pricing_unit", "pricing_quantity", "list_cost", "billed_cost",
    "effective_cost", "currency", "consumed_quantity", "consumed_unit",
)
CATEGORIES = ("Usage", "Purchase", "Tax", "Credit", "Adjustment")
# What polars' JSON encoder escapes (control characters, quote, backslash), and a leading
# ':null' (json_object's null-member regex would cut into it): such text takes the slow way.
_NEEDS_JSON = re.compile(r'[\x00-\x1f"\\]|^:null')

_FAST_FORMATS: list[tuple[re.Pattern[str], str, bool]] = [
    (re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$"), "%Y-%m-%d %H:%M:%S", False),
    (re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$"), "%Y-%m-%dT%H:%M:%S", False),
    (re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"), "%Y-%m-%dT%H:%M:%SZ", True),
    (re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"), "%Y-%m-%dT%H:%M:%S%.3fZ",
     True),
]
_ISO = (r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?"
        r"\s*(Z|z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?\s*$")
_MDY = (r"^\s*(\d{1,2})/(\d{1,2})/(\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
        r"\s*([AaPp][Mm])?)?\s*(Z|UTC|[+-]\d{2}(?::?\d{2})?)?\s*$")


class Rows:
    """Builds the normalised frame for one block of records."""

    def __init__(self, ctx: LoadContext, raw: pl.DataFrame) -> None:
        self.ctx = ctx
        self.raw = raw
        self.exprs: dict[str, pl.Expr] = {}
        self.failures: list[tuple[pl.Expr, pl.Expr]] = []  # (row failed, the reason)
        self.consumed: set[str] = set()
        self._lower = {c.lower(): c for c in raw.columns}

    # -- finding columns ---------------------------------------------------------------

    def col(self, *names: str) -> str | None:
        """The first of `names` the file has (exact, then case-insensitive)."""
        for name in names:
            if name in self.raw.columns:
                return name
        for name in names:
            if name.lower() in self._lower:
                return self._lower[name.lower()]
        return None

    def has(self, *names: str) -> bool:
        return self.col(*names) is not None

    def value(self, *names: str) -> pl.Expr:
        name = self.col(*names)
        return pl.col(name) if name else pl.lit(None, dtype=pl.String)

    # -- normalised columns ------------------------------------------------------------

    def text(self, target: str, *names: str, keep: bool = False) -> None:
        """A text column copied as is; `keep` also leaves the native column in `extra`."""
        name = self.col(*names)
        if name is None:
            return
        self.exprs[target] = pl.col(name)
        if not keep:
            self.consumed.add(name)

    def const(self, target: str, value: str) -> None:
        self.exprs[target] = pl.lit(value, dtype=pl.String)

    def expr(self, target: str, expr: pl.Expr, uses: Iterable[str] = ()) -> None:
        self.exprs[target] = expr
        self.consumed.update(uses)

    def money(self, target: str, *names: str) -> None:
        name = self.col(*names)
        if name is None:
            return
        self.exprs[target] = self.decimal(name)
        self.consumed.add(name)

    def decimal(self, name: str) -> pl.Expr:
        """DECIMAL(38,10) from a text column; a value that does not parse fails its row.

        Parsed once into a column of its own (`__d_<name>`): eager polars evaluates an
        expression once per use, and the value and the failure check both use it (the
        parse is the dearest step of a money column)."""
        staged = f"__d_{name}"
        if staged not in self.raw.columns:
            src = pl.col(name)
            self.raw = self.raw.with_columns(
                src.str.strip_chars().cast(MONEY, strict=False).alias(staged))
            self.fail(src.is_not_null() & pl.col(staged).is_null(),
                      f"column {name}: {{}} is not a number", src)
        return pl.col(staged)

    def time(self, target: str, *names: str, mdy: bool = False) -> None:
        name = self.col(*names)
        if name is None:
            return
        self.raw = self.raw.with_columns(parse_time(self.ctx, self.raw[name], mdy).alias(
            f"__t_{target}"))
        conv = pl.col(f"__t_{target}")
        src = pl.col(name)
        self.fail(src.is_not_null() & conv.is_null(), f"column {name}: {{}} is not a valid time",
                  src)
        self.exprs[target] = conv
        self.consumed.add(name)

    def category(self, name: str | None, mapping: dict[str, str], default: str | None = None
                 ) -> None:
        """charge_category from a vendor's line-item type (case-insensitive); the native
        value stays in `extra`. Values with no FOCUS category are NULL and noted."""
        if name is None:
            if default:
                self.const("charge_category", default)
            return
        lower = {k.lower(): v for k, v in mapping.items()}
        src = pl.col(name)
        mapped = src.str.to_lowercase().replace_strict(lower, default=None,
                                                       return_dtype=pl.String)
        unknown = self.raw.filter(src.is_not_null() & mapped.is_null())[name].unique()
        if unknown.len():
            shown = ", ".join(sorted(unknown.to_list())[:10])
            self.ctx.note(f"{name} values with no FOCUS charge category (stored as NULL, "
                          f"native value kept in extra): {shown}")
        self.exprs["charge_category"] = mapped

    def tags_json(self, name: str | None) -> None:
        """Tags from one column holding JSON/Python-literal key-value text."""
        if name is None:
            return
        mapping = parse_texts(self.raw[name])
        joined = self.raw.select(pl.col(name)).join(
            mapping, left_on=name, right_on="__text", how="left", maintain_order="left")
        self.raw = self.raw.with_columns(joined["__tags"].alias("__tags"),
                                         joined["__tag_error"].alias("__tag_error"))
        self.fail(pl.col("__tag_error").is_not_null(),
                  f"column {name}: {{}}", pl.col("__tag_error"))
        self.exprs["tags"] = pl.col("__tags")
        self.consumed.add(name)

    def tags_columns(self, prefix: str) -> None:
        """Tags from one column per tag (`resourceTags/user:Name`, `tags/ns.key`)."""
        cols = [c for c in self.raw.columns if c.startswith(prefix)]
        if not cols:
            return
        self.raw = self.raw.with_columns(
            entries(self.raw, cols, {c: c[len(prefix):] for c in cols}).alias("__tags"))
        self.exprs["tags"] = pl.col("__tags")
        self.consumed.update(cols)

    def fail(self, bad: pl.Expr, message: str, shown: pl.Expr) -> None:
        self.failures.append((bad, pl.when(bad).then(
            pl.format(message, shown.cast(pl.String).str.slice(0, 120)))))

    # -- the end -----------------------------------------------------------------------

    def typed(self, raw_line: Callable[[int], bytes]) -> pl.DataFrame:
        """Reject rows that failed a conversion; the rest, typed and with `extra`.

        Safe to call off the connection's thread (rejects are only buffered there), so a
        loader can convert the next block while DuckDB writes this one.
        """
        native = [c for c in self.raw.columns
                  if c != LINE and not c.startswith("__") and c not in self.consumed]
        exprs = [pl.col(LINE)]
        exprs += [self.exprs[t].alias(t) for t in TARGETS if t in self.exprs]
        if "tags" in self.exprs:
            exprs.append(self.exprs["tags"].alias("tags"))
        self.raw = self.raw.with_columns(entries(self.raw, native).alias("__extra"))
        exprs.append(pl.col("__extra").alias("extra"))
        # Which rows failed is a cheap boolean; the reasons are formatted for those rows only.
        failed = (pl.any_horizontal(bad for bad, _ in self.failures).fill_null(False)
                  if self.failures else pl.lit(False))
        typed = self.raw.select(*exprs, failed.alias("__failed"))
        if typed["__failed"].any():
            why = self.raw.filter(typed["__failed"]).select(
                pl.col(LINE), pl.coalesce(reason for _, reason in self.failures).alias("why"))
            for line_no, reason in why.iter_rows():
                self.ctx.reject(line_no, reason, raw_line(line_no))
            typed = typed.filter(~pl.col("__failed"))
        return typed.drop("__failed")

    def finish(self, raw_line: Callable[[int], bytes], table: str = "billing_items") -> None:
        """Reject rows that failed a conversion, insert the rest with `extra`."""
        self.ctx.insert(table, self.typed(raw_line))


def _members(frame: pl.DataFrame, columns: list[str], names: list[str]) -> pl.Expr:
    """`{"name":"value",...}` of the non-null values, as ONE concat_str: every member
    carries a leading comma and the first is cut off at the end. A column with no NULL in
    the block gives literal pieces around its value (a nested concat_str per member cost
    twice as much), one with NULLs a piece that is NULL where its value is (left out),
    and one that is all NULL nothing."""
    parts: list[pl.Expr | str] = []
    for column, name in zip(columns, names, strict=True):
        nulls = frame[column].null_count()
        value = pl.col(column).cast(pl.String)
        if nulls == 0:
            parts += [f',"{name}":"', value, '"']
        elif nulls < frame.height:
            parts.append(pl.concat_str([pl.lit(f',"{name}":"'), value, pl.lit('"')]))
    if not parts:
        return pl.lit("{}", dtype=pl.String)
    return pl.concat_str([pl.lit("{"), concat_pieces(parts).str.slice(1), pl.lit("}")])


def entries(frame: pl.DataFrame, columns: list[str],
            keys: dict[str, str] | None = None) -> pl.Series:
    """A JSON object per row of the non-null values of `columns` (see jsontext.json_object).

    `json_object` runs every member through polars' JSON encoder, which cost a third of a
    wide FOCUS load. A value with nothing to escape (no quote, backslash or control
    character: all polars' JSON encoder escapes) is written between quotes as it is, and
    its row gets exactly the text json_object would give it; only the rows holding a value
    that needs escaping (or one starting with ':null') are encoded by json_object.
    """
    if not columns:
        return pl.Series("e", ["{}"] * frame.height, dtype=pl.String)
    keys = keys or {}
    names = [keys.get(c, c) for c in columns]
    if any(_NEEDS_JSON.search(n) for n in names):
        return frame.select(json_object(columns, keys).alias("e"))["e"]
    texts = [pl.col(c).cast(pl.String) for c in columns]
    out = frame.select(_members(frame, columns, names).alias("e"),
                       pl.any_horizontal(t.str.contains(_NEEDS_JSON.pattern) for t in texts)
                       .fill_null(False).alias("d"))
    if not out["d"].any():
        return out["e"]
    idx = out["d"].arg_true()
    careful = frame[idx].select(json_object(columns, keys).alias("e"))["e"]
    return out["e"].scatter(idx, careful)


# ---------------------------------------------------------------------------------------
# times
# ---------------------------------------------------------------------------------------


def parse_time(ctx: LoadContext, values: pl.Series, mdy: bool = False) -> pl.Series:
    """UTC datetimes from text; null where the text is not a valid time."""
    values = values.cast(pl.String)
    out = pl.Series(values.name, [None] * values.len(), dtype=UTC)
    sample = values.drop_nulls().head(1)
    todo = values.is_not_null()
    if sample.len() and not mdy:
        first = sample[0]
        for pattern, fmt, utc in _FAST_FORMATS:
            if pattern.match(first):
                naive = values.str.to_datetime(fmt, strict=False, time_unit="us")
                out = (naive.dt.replace_time_zone("UTC") if utc
                       else _localise(ctx, naive)).alias(values.name)
                todo = values.is_not_null() & out.is_null()
                break
    if todo.any():
        idx = todo.arg_true()
        general = _general(ctx, values.gather(idx), mdy)
        out = out.scatter(idx, general)
    return out


def _general(ctx: LoadContext, values: pl.Series, mdy: bool) -> pl.Series:
    frame = pl.DataFrame({"v": values})
    iso = pl.col("v").str.extract_groups(_ISO)
    if mdy:
        alt = pl.col("v").str.extract_groups(_MDY)
        frame = frame.with_columns(iso.alias("i"), alt.alias("m"))
        parts = {
            "y": pl.coalesce(pl.col("i").struct.field("1"), pl.col("m").struct.field("3")),
            "mo": pl.coalesce(pl.col("i").struct.field("2"), pl.col("m").struct.field("1")),
            "d": pl.coalesce(pl.col("i").struct.field("3"), pl.col("m").struct.field("2")),
            "h": pl.coalesce(pl.col("i").struct.field("4"), pl.col("m").struct.field("4")),
            "mi": pl.coalesce(pl.col("i").struct.field("5"), pl.col("m").struct.field("5")),
            "s": pl.coalesce(pl.col("i").struct.field("6"), pl.col("m").struct.field("6")),
            "f": pl.coalesce(pl.col("i").struct.field("7"), pl.col("m").struct.field("7")),
            "ampm": pl.col("m").struct.field("8").str.to_uppercase(),
            "z": pl.coalesce(pl.col("i").struct.field("8"), pl.col("m").struct.field("9")),
            "ok": pl.col("i").struct.field("1").is_not_null()
            | pl.col("m").struct.field("3").is_not_null(),
        }
    else:
        frame = frame.with_columns(iso.alias("i"))
        names = ["y", "mo", "d", "h", "mi", "s", "f", "z"]
        parts = {n: pl.col("i").struct.field(str(k + 1)) for k, n in enumerate(names)}
        parts["ampm"] = pl.lit(None, pl.String)
        parts["ok"] = pl.col("i").struct.field("1").is_not_null()
    frame = frame.with_columns(**parts)
    hour = pl.col("h").fill_null("0").cast(pl.Int32)
    hour = (pl.when(pl.col("ampm") == "PM").then(pl.when(hour < 12).then(hour + 12)
                                                  .otherwise(hour))
            .when(pl.col("ampm") == "AM").then(pl.when(hour == 12).then(0).otherwise(hour))
            .otherwise(hour))
    ampm_ok = pl.col("ampm").is_null() | hour.is_between(0, 23) & (
        pl.col("h").cast(pl.Int32).is_between(1, 12))
    text = pl.format("{}-{}-{} {}:{}:{}", pl.col("y"), pl.col("mo").str.zfill(2),
                     pl.col("d").str.zfill(2), hour.cast(pl.String).str.zfill(2),
                     pl.col("mi").fill_null("00"), pl.col("s").fill_null("00"))
    micro = (pl.col("f").fill_null("") + "000000").str.slice(0, 6).cast(pl.Int64)
    zone = pl.col("z")
    sign = pl.when(zone.str.starts_with("-")).then(-1).otherwise(1)
    digits = zone.str.replace_all(r"[^0-9]", "")
    offset = sign * (digits.str.slice(0, 2).cast(pl.Int64, strict=False).fill_null(0) * 60
                     + digits.str.slice(2, 2).cast(pl.Int64, strict=False).fill_null(0))
    frame = frame.with_columns(
        naive=pl.when(pl.col("ok") & ampm_ok).then(
            text.str.to_datetime("%Y-%m-%d %H:%M:%S", strict=False, time_unit="us")
            + pl.duration(microseconds=micro)),
        has_zone=zone.is_not_null(),
        offset=offset,
    )
    zoned = (pl.col("naive").dt.replace_time_zone("UTC")
             - pl.duration(minutes=pl.col("offset")))
    frame = frame.with_columns(zoned.alias("zoned"))
    local = _localise(ctx, frame.filter(~pl.col("has_zone"))["naive"]) if (
        (~frame["has_zone"]).any()) else None
    out = frame["zoned"]
    if local is not None:
        out = out.scatter((~frame["has_zone"]).arg_true(), local)
    return out


def _localise(ctx: LoadContext, naive: pl.Series) -> pl.Series:
    """Zone-less times read in the analyst's zone (default UTC), recorded as assumed."""
    if naive.is_null().all():
        return naive.dt.replace_time_zone("UTC")
    tz = ctx.options.tz or "UTC"
    ctx.tz_assumed = tz
    ctx.note(f"times written without a zone are read as {tz} (options.tz)")
    local = naive.dt.replace_time_zone(tz, ambiguous="null", non_existent="null")
    return local.dt.convert_time_zone("UTC")


def normalise_category(values: pl.Expr) -> pl.Expr:
    """FOCUS ChargeCategory values in FOCUS spelling, whatever their case."""
    return values.str.to_lowercase().replace_strict(
        {c.lower(): c for c in CATEGORIES}, default=None, return_dtype=pl.String)
