"""FinOps FOCUS 1.x cost and usage data, as CSV and as Parquet.

FOCUS already speaks the vocabulary of `billing_items`, so the mapping is by name; the
FOCUS columns with no column here (BillingPeriodStart, ChargeClass, ListUnitPrice,
CommitmentDiscount*, x_ vendor extensions, ...) are kept in `extra` under their FOCUS
names. FOCUS 1.0 requires UTC datetimes; a value written without a zone (the sample data
writes 'YYYY-MM-DD HH:MM:SS') is read in options.tz (UTC unless the analyst says otherwise).
Exports from some tools write the literal token NULL for a missing value: it becomes NULL.

Parquet has no lines: line_no is the 1-based row index and lines_read counts rows.
"""

from __future__ import annotations

import polars as pl
import pyarrow.parquet as pq

from forensics.loaders.base import LoadContext
from forensics.loaders.billing.common import MONEY_NOTE, CsvBilling
from forensics.loaders.billing.convert import Rows, normalise_category
from forensics.loaders.billing.csvread import LINE

# Columns every FOCUS 1.x dataset has (1.0 and later; 0.5 spelled ChargeType, Provider).
_CORE = {"BilledCost", "ChargePeriodStart", "ChargePeriodEnd", "BillingCurrency"}
_ANY = ({"ChargeCategory", "ChargeType"}, {"ProviderName", "Provider"},
        {"EffectiveCost", "ListCost", "ServiceName"})
PARQUET_MAGIC = b"PAR1"
_BATCH_ROWS = 262_144


def focus_score(columns: set[str]) -> float:
    if not _CORE <= columns:
        return 0.0
    return 0.95 if all(columns & alt for alt in _ANY) else 0.7


def build_focus(rows: Rows) -> None:
    rows.time("charge_period_start", "ChargePeriodStart")
    rows.time("charge_period_end", "ChargePeriodEnd")
    for target, *names in (
        ("billing_account_id", "BillingAccountId"),
        ("billing_account_name", "BillingAccountName"),
        ("sub_account_id", "SubAccountId"),
        ("sub_account_name", "SubAccountName"),
        ("provider", "ProviderName", "Provider"),
        ("publisher", "PublisherName", "Publisher"),
        ("service_name", "ServiceName"),
        ("service_category", "ServiceCategory"),
        ("charge_description", "ChargeDescription"),
        ("sku_id", "SkuId"),
        ("resource_id", "ResourceId"),
        ("resource_name", "ResourceName"),
        ("region", "RegionId", "Region"),
        ("pricing_unit", "PricingUnit"),
        ("currency", "BillingCurrency"),
        ("consumed_unit", "ConsumedUnit"),
    ):
        rows.text(target, *names)
    for target, name in (
        ("pricing_quantity", "PricingQuantity"),
        ("list_cost", "ListCost"),
        ("billed_cost", "BilledCost"),
        ("effective_cost", "EffectiveCost"),
        ("consumed_quantity", "ConsumedQuantity"),
    ):
        rows.money(target, name)
    category = rows.col("ChargeCategory", "ChargeType")
    if category:
        normal = normalise_category(pl.col(category))
        rows.fail(pl.col(category).is_not_null() & normal.is_null(),
                  f"column {category}: {{}} is not a FOCUS charge category", pl.col(category))
        rows.expr("charge_category", normal, [category])
    rows.tags_json(rows.col("Tags"))


class FocusCsv(CsvBilling):
    """FOCUS 1.x as CSV (any provider's native FOCUS export, or a converter's output)."""

    name = "focus-csv"
    description = "FinOps FOCUS 1.x cost and usage CSV (BilledCost, ChargePeriodStart, ...)"
    null_tokens = ("NULL",)

    def score(self, columns: set[str]) -> float:
        return focus_score(columns)

    def build(self, rows: Rows) -> None:
        build_focus(rows)


class FocusParquet:
    """FOCUS 1.x as Parquet (the form most FOCUS exports are delivered in)."""

    name = "focus-parquet"
    family = "billing"
    description = "FinOps FOCUS 1.x cost and usage Parquet ('PAR1' magic + FOCUS columns)"

    def sniff(self, path: str, head: bytes) -> float:
        if not head.startswith(PARQUET_MAGIC):
            return 0.0
        try:
            names = set(pq.read_schema(path).names)
        except Exception:  # not a readable Parquet file: not ours to claim
            return 0.0
        return focus_score(names)

    def load(self, ctx: LoadContext) -> None:
        ctx.note("Parquet has no lines: line_no is the 1-based row index and lines_read "
                 "counts rows")
        ctx.note(MONEY_NOTE)
        pf = pq.ParquetFile(ctx.path)
        offset = 1
        for batch in pf.iter_batches(batch_size=_BATCH_ROWS):
            frame = pl.from_arrow(batch)
            assert isinstance(frame, pl.DataFrame)
            n = frame.height
            ctx.lines_read += n
            frame = _as_text(ctx, frame).with_columns(
                pl.int_range(offset, offset + n, dtype=pl.Int64).alias(LINE))
            rows = Rows(ctx, frame)
            build_focus(rows)
            texts = frame

            def raw(line_no: int, texts: pl.DataFrame = texts, start: int = offset) -> bytes:
                row = texts.row(line_no - start, named=True)
                return repr({k: v for k, v in row.items() if v is not None}).encode()

            rows.finish(raw)
            offset += n


def _as_text(ctx: LoadContext, frame: pl.DataFrame) -> pl.DataFrame:
    """Every column as text, so Parquet and CSV share one conversion.

    Timestamps become ISO text with their zone (or none, and then options.tz applies);
    decimals and integers keep their exact digits. A float column is written with the
    shortest text that reads back as the same float; noted, as its cents were already
    binary in the file.
    """
    exprs = []
    for name, dtype in frame.schema.items():
        col = pl.col(name)
        if isinstance(dtype, pl.Datetime):
            fmt = "%Y-%m-%dT%H:%M:%S%.6f" + ("%:z" if dtype.time_zone else "")
            exprs.append(col.dt.strftime(fmt).alias(name))
        elif isinstance(dtype, (pl.Struct, pl.List)):
            exprs.append(pl.struct(col.alias("v")).struct.json_encode()
                         .str.slice(5).str.head(-1).alias(name))
        elif dtype == pl.Null:
            exprs.append(col.cast(pl.String))
        else:
            if dtype in (pl.Float32, pl.Float64):
                ctx.note(f"column {name} is a floating-point column in the Parquet file; "
                         "its values are taken at their shortest exact text")
            exprs.append(col.cast(pl.String).alias(name))
    frame = frame.select(exprs)
    return frame.with_columns(
        pl.when(pl.col(c).is_in(["", "NULL"])).then(None).otherwise(pl.col(c)).alias(c)
        for c in frame.columns)
