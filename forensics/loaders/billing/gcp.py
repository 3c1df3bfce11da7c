"""Google Cloud billing export (BigQuery standard/detailed usage cost), as CSV or NDJSON.

The export is a BigQuery table with nested records (service{id,description},
sku{id,description}, project{id,name,labels[]}, location{region,...}, usage{amount,unit,
...}, invoice{month}) and repeated ones (labels[{key,value}], credits[{name,amount,...}]).
Written out as newline-delimited JSON it keeps that shape; flattened to CSV the nested
fields become dotted columns (`service.description`) and the repeated ones a JSON (or,
through pandas, Python-literal) list in one cell. Both land in the same columns: NDJSON is
flattened to the CSV's dotted names first.

- billed_cost: cost; effective_cost: cost + the sum of credits[].amount (credits are
  negative), computed exactly; list_cost: cost_at_list where the export has it;
- charge_category from cost_type (regular, tax, adjustment, rounding_error);
- tags: labels (project.labels and system_labels stay in extra as text).

NDJSON numbers are read as their digits, not as floats: before the bulk JSON parse the
money and quantity fields are quoted by a vectorised regex, so `"cost": 1.2e-05` reaches
the decimal parser as the text `1.2e-05`.
"""

from __future__ import annotations

import polars as pl

from forensics.loaders.base import LoadContext
from forensics.loaders.billing.common import MONEY_NOTE, CsvBilling
from forensics.loaders.billing.convert import MONEY, Rows
from forensics.loaders.billing.csvread import LINE
from forensics.loaders.billing.tags import credit_sums
from forensics.loaders.reading import iter_blocks, split_runs

COST_TYPES = {"regular": "Usage", "tax": "Tax", "adjustment": "Adjustment",
              "rounding_error": "Adjustment"}
_NUMBER_KEYS = ("cost", "cost_at_list", "amount", "amount_in_pricing_units",
                "currency_conversion_rate", "effective_price", "list_price")
_QUOTE_NUMBERS = (r'("(?:' + "|".join(_NUMBER_KEYS)
                  + r')"\s*:\s*)(-?[0-9][0-9.]*(?:[eE][+-]?[0-9]+)?)')


def gcp_score(columns: set[str]) -> float:
    need = {"usage_start_time", "usage_end_time", "cost"}
    if not need <= columns:
        return 0.0
    if {"service.description", "sku.description"} <= columns:
        return 0.95
    return 0.0


def build_gcp(rows: Rows) -> None:
    rows.time("charge_period_start", "usage_start_time")
    rows.time("charge_period_end", "usage_end_time")
    rows.text("billing_account_id", "billing_account_id")
    rows.text("sub_account_id", "project.id")
    rows.text("sub_account_name", "project.name")
    rows.const("provider", "Google Cloud")
    rows.text("publisher", "seller_name")
    rows.text("service_name", "service.description")
    rows.category(rows.col("cost_type"), COST_TYPES)
    rows.text("charge_description", "sku.description")
    rows.text("sku_id", "sku.id")
    rows.text("resource_id", "resource.global_name")
    rows.text("resource_name", "resource.name")
    rows.text("region", "location.region")
    rows.text("pricing_unit", "usage.pricing_unit")
    rows.money("pricing_quantity", "usage.amount_in_pricing_units")
    rows.text("consumed_unit", "usage.unit")
    rows.money("consumed_quantity", "usage.amount")
    rows.money("list_cost", "cost_at_list")
    rows.text("currency", "currency")
    cost_col = rows.col("cost")
    if cost_col:
        cost = rows.decimal(cost_col)
        rows.expr("billed_cost", cost, [cost_col])
        credits = rows.col("credits")
        if credits:
            sums = credit_sums(rows.raw[credits])
            joined = rows.raw.select(pl.col(credits)).join(
                sums, left_on=credits, right_on="__text", how="left", maintain_order="left")
            rows.raw = rows.raw.with_columns(
                joined["__credit_sum"].cast(MONEY, strict=False).alias("__credit_sum"),
                joined["__credit_error"].alias("__credit_error"))
            rows.fail(pl.col("__credit_error").is_not_null(), f"column {credits}: {{}}",
                      pl.col("__credit_error"))
            rows.expr("effective_cost", cost + pl.col("__credit_sum").fill_null(0))
        else:
            rows.expr("effective_cost", cost)
    rows.tags_json(rows.col("labels"))


class GcpBillingCsv(CsvBilling):
    name = "gcp-billing-csv"
    description = "GCP billing export (BigQuery schema) flattened to CSV (service.description, ...)"

    def score(self, columns: set[str]) -> float:
        return gcp_score(columns)

    def build(self, rows: Rows) -> None:
        build_gcp(rows)


class GcpBillingJson:
    """The BigQuery billing export as newline-delimited JSON (one usage row per line)."""

    name = "gcp-billing-ndjson"
    family = "billing"
    description = "GCP billing export (BigQuery schema) as newline-delimited JSON"

    def sniff(self, path: str, head: bytes) -> float:
        line = head.lstrip().split(b"\n", 1)[0]
        if not line.startswith(b"{"):
            return 0.0
        keys = (b'"usage_start_time"', b'"service"', b'"sku"', b'"cost"')
        return 0.95 if all(k in line for k in keys) else 0.0

    def load(self, ctx: LoadContext) -> None:
        ctx.note(MONEY_NOTE)
        for block in iter_blocks(ctx.path):
            ctx.lines_read += block.n_lines
            if block.damage is not None:
                cut = block.data.rfind(b"\n")
                ctx.reject(block.first_line + block.n_lines - 1,
                           f"{block.damage}; this line is the incomplete text before the "
                           "damage", block.data[cut + 1:])
                if cut < 0:
                    continue
                block.data, block.n_lines = block.data[:cut], block.n_lines - 1
            for run in split_runs(block, None):
                if run.special:
                    ctx.blank_lines += 1
                    continue
                self._run(ctx, run.data, run.first_line)

    def _run(self, ctx: LoadContext, data: bytes, first_line: int) -> None:
        lines = pl.Series("l", data.split(b"\n"), dtype=pl.Binary)
        text = lines.cast(pl.String, strict=False)
        frame = pl.DataFrame({"raw": lines, "text": text}).with_row_index(
            LINE, offset=first_line).with_columns(pl.col(LINE).cast(pl.Int64))
        bad_utf8 = frame.filter(pl.col("text").is_null())
        for line_no, raw in bad_utf8.select(LINE, "raw").iter_rows():
            ctx.reject(line_no, "not valid UTF-8", raw)
        frame = frame.filter(pl.col("text").is_not_null())
        blank = frame["text"].str.strip_chars().str.len_bytes() == 0
        ctx.blank_lines += int(blank.sum())
        frame = frame.filter(~blank).with_columns(
            pl.col("text").str.replace_all(_QUOTE_NUMBERS, '$1"$2"'))
        parsed = _read(frame["text"])
        if parsed is None:  # a bad line in the block: parse line by line to find it
            keep = []
            for i, (line_no, line) in enumerate(frame.select(LINE, "text").iter_rows()):
                one = _read(pl.Series([line]))
                if one is None:
                    ctx.reject(line_no, "not a valid JSON object", line)
                else:
                    keep.append(i)
            frame = frame[keep]
            parsed = _read(frame["text"]) if frame.height else None
            if parsed is None:
                return
        flat = _flatten(parsed).with_columns(frame[LINE])
        raws = dict(zip(frame[LINE].to_list(), frame["raw"].to_list(), strict=True)) \
            if frame.height < 1_000_000 else {}
        rows = Rows(ctx, flat)
        build_gcp(rows)
        rows.finish(lambda n: raws.get(n, b""))


def _read(text: pl.Series) -> pl.DataFrame | None:
    data = text.str.join("\n").item().encode()
    try:
        frame = pl.read_ndjson(data, infer_schema_length=None)
    except Exception:  # polars raises several kinds for bad JSON; the caller decides
        return None
    if frame.height != text.len():
        return None
    return frame


def _flatten(frame: pl.DataFrame, prefix: str = "") -> pl.DataFrame:
    """Nested records to dotted text columns, repeated ones to JSON text (as in the CSV)."""
    out: list[pl.Series] = []
    for name, dtype in frame.schema.items():
        full = prefix + name
        col = frame[name]
        if isinstance(dtype, pl.Struct):
            inner = _flatten(col.struct.unnest(), full + ".")
            out.extend(inner.get_columns())
        elif isinstance(dtype, pl.List):
            out.append(frame.select(pl.struct(pl.col(name).alias("v")).struct.json_encode()
                                    .str.slice(5).str.head(-1).alias(full)).to_series())
        else:
            series = col.cast(pl.String).alias(full)
            out.append(series.set(series == "", None))
    return pl.DataFrame(out)
