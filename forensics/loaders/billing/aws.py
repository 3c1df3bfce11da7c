"""AWS Cost and Usage Report: legacy CUR (`lineItem/UsageStartDate`) and CUR 2.0
(`line_item_usage_start_date`, from AWS Data Exports).

Both carry the same facts under two spellings, so one mapping serves both:

- charge period: lineItem/UsageStartDate, lineItem/UsageEndDate (identity/TimeInterval,
  the same period as one text, stays in extra);
- billed_cost: UnblendedCost (what the account is invoiced); list_cost:
  pricing/publicOnDemandCost; effective_cost: the amortised cost of commitment-covered
  usage (savingsPlan/SavingsPlanEffectiveCost for SavingsPlanCoveredUsage,
  reservation/EffectiveCost for DiscountedUsage), otherwise the unblended cost;
- pricing and consumed quantity are both lineItem/UsageAmount in pricing/unit (AWS prices
  usage in the unit it meters);
- charge_category from lineItem/LineItemType (the native type stays in extra);
- tags: legacy `resourceTags/<key>` columns, or CUR 2.0's `resource_tags` JSON map.
"""

from __future__ import annotations

import polars as pl

from forensics.loaders.base import LoadContext
from forensics.loaders.billing.common import CsvBilling
from forensics.loaders.billing.convert import Rows

LINE_ITEM_TYPES = {
    "Usage": "Usage",
    "DiscountedUsage": "Usage",
    "SavingsPlanCoveredUsage": "Usage",
    "Tax": "Tax",
    "Fee": "Purchase",
    "RIFee": "Purchase",
    "SavingsPlanRecurringFee": "Purchase",
    "SavingsPlanUpfrontFee": "Purchase",
    "Credit": "Credit",
    "Refund": "Credit",
    "BundledDiscount": "Credit",
    "Discount": "Credit",
    "EdpDiscount": "Credit",
    "PrivateRateDiscount": "Credit",
    "DistributorDiscount": "Credit",
    "SavingsPlanNegation": "Credit",
    "Rounding": "Adjustment",
}

# normalised role -> (legacy name, CUR 2.0 name)
_COLUMNS = {
    "start": ("lineItem/UsageStartDate", "line_item_usage_start_date"),
    "end": ("lineItem/UsageEndDate", "line_item_usage_end_date"),
    "payer": ("bill/PayerAccountId", "bill_payer_account_id"),
    "payer_name": ("bill/PayerAccountName", "bill_payer_account_name"),
    "account": ("lineItem/UsageAccountId", "line_item_usage_account_id"),
    "account_name": ("lineItem/UsageAccountName", "line_item_usage_account_name"),
    "entity": ("bill/BillingEntity", "bill_billing_entity"),
    "product_name": ("product/ProductName", "product_product_name"),
    "service_name": ("product/servicename", "product_servicename"),
    "product_code": ("lineItem/ProductCode", "line_item_product_code"),
    "type": ("lineItem/LineItemType", "line_item_line_item_type"),
    "description": ("lineItem/LineItemDescription", "line_item_line_item_description"),
    "sku": ("product/sku", "product_sku"),
    "resource": ("lineItem/ResourceId", "line_item_resource_id"),
    "region_code": ("product/regionCode", "product_region_code"),
    "region": ("product/region", "product_region"),
    "unit": ("pricing/unit", "pricing_unit"),
    "amount": ("lineItem/UsageAmount", "line_item_usage_amount"),
    "list": ("pricing/publicOnDemandCost", "pricing_public_on_demand_cost"),
    "unblended": ("lineItem/UnblendedCost", "line_item_unblended_cost"),
    "sp_effective": ("savingsPlan/SavingsPlanEffectiveCost",
                     "savings_plan_savings_plan_effective_cost"),
    "ri_effective": ("reservation/EffectiveCost", "reservation_effective_cost"),
    "currency": ("lineItem/CurrencyCode", "line_item_currency_code"),
}


class _Cur(CsvBilling):
    variant = 0  # index into the _COLUMNS pairs

    def n(self, role: str) -> str:
        return _COLUMNS[role][self.variant]

    def build(self, rows: Rows) -> None:
        n = self.n
        rows.time("charge_period_start", n("start"))
        rows.time("charge_period_end", n("end"))
        rows.text("billing_account_id", n("payer"))
        rows.text("billing_account_name", n("payer_name"))
        rows.text("sub_account_id", n("account"))
        rows.text("sub_account_name", n("account_name"))
        rows.const("provider", "AWS")
        rows.text("publisher", n("entity"))
        service = [c for c in (n("product_name"), n("service_name")) if rows.has(c)]
        if self.variant == 1 and rows.has("product"):
            # CUR 2.0 keeps most product attributes in a `product` map (JSON in CSV).
            service_expr = pl.coalesce(
                *[pl.col(c) for c in service],
                pl.col("product").str.json_path_match("$.product_name"),
                rows.value(n("product_code")))
        else:
            service_expr = pl.coalesce(*[pl.col(c) for c in service],
                                       rows.value(n("product_code")))
        rows.expr("service_name", service_expr, service[:1])
        rows.category(rows.col(n("type")), LINE_ITEM_TYPES)
        rows.text("charge_description", n("description"))
        rows.text("sku_id", n("sku"))
        rows.text("resource_id", n("resource"))
        region = [rows.col(n("region_code")), rows.col(n("region"))]
        region_cols = [pl.col(c) for c in region if c]
        if region_cols:
            rows.expr("region", pl.coalesce(region_cols), [c for c in region[:1] if c])
        rows.text("pricing_unit", n("unit"), keep=True)
        rows.text("consumed_unit", n("unit"))
        amount = rows.col(n("amount"))
        if amount:
            value = rows.decimal(amount)
            rows.expr("pricing_quantity", value)
            rows.expr("consumed_quantity", value, [amount])
        rows.money("list_cost", n("list"))
        billed = rows.col(n("unblended"))
        if billed:
            cost = rows.decimal(billed)
            rows.expr("billed_cost", cost, [billed])
            effective = cost
            line_type = rows.value(n("type"))
            for role, kind in (("sp_effective", "SavingsPlanCoveredUsage"),
                               ("ri_effective", "DiscountedUsage")):
                col = rows.col(n(role))
                if col:
                    effective = pl.when(line_type == kind).then(rows.decimal(col)).otherwise(
                        effective)
            rows.expr("effective_cost", effective)
        rows.text("currency", n("currency"))
        if self.variant == 0:
            rows.tags_columns("resourceTags/")
        else:
            rows.tags_json(rows.col("resource_tags"))


class AwsCurLegacy(_Cur):
    name = "aws-cur"
    description = "AWS Cost and Usage Report, legacy CSV (lineItem/UsageStartDate, ...)"
    variant = 0

    def score(self, columns: set[str]) -> float:
        need = {"lineItem/UsageStartDate", "lineItem/UnblendedCost", "lineItem/LineItemType"}
        if not need <= columns:
            return 0.0
        return 0.95 if columns & {"identity/LineItemId", "bill/PayerAccountId"} else 0.75

    def notes(self, ctx: LoadContext, header: list[str]) -> None:
        if not any(c.startswith("resourceTags/") for c in header):
            ctx.note("no resourceTags/ columns: tags are empty")
        odd = sorted({c.split("/", 1)[0] for c in header if "/" in c} - {
            "identity", "bill", "lineItem", "product", "pricing", "reservation",
            "savingsPlan", "resourceTags", "costCategory", "discount", "splitLineItem"})
        if odd:
            ctx.note(f"unusual column groups {', '.join(odd)} kept in extra (not tags)")


class AwsCur2(_Cur):
    name = "aws-cur2"
    description = "AWS CUR 2.0 (Data Exports) CSV, snake_case columns (line_item_...)"
    variant = 1

    def score(self, columns: set[str]) -> float:
        need = {"line_item_usage_start_date", "line_item_unblended_cost",
                "line_item_line_item_type"}
        if not need <= columns:
            return 0.0
        return 0.95 if columns & {"identity_line_item_id", "bill_payer_account_id"} else 0.75
