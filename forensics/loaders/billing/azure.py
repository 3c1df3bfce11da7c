"""Azure Cost Management exports: Enterprise Agreement (EA) and Microsoft Customer
Agreement (MCA) cost details CSV.

EA exports use PascalCase names (CostInBillingCurrency, BillingCurrencyCode, ResourceGroup),
MCA exports camelCase ones (costInBillingCurrency, billingCurrency, resourceGroupName);
older EA usage files say Cost/PreTaxCost, UsageDateTime, SubscriptionGuid. Columns are
found case-insensitively through those aliases, so one mapping serves all. The quirks:

- a UTF-8 byte-order mark before the header (removed);
- dates as M/D/YYYY (US order, as the portal writes them) or ISO; `Date` is the usage day,
  so the charge period is that day, [Date, Date + 1 day) (noted);
- costs and quantities in scientific notation (5.64902E-05), parsed exactly;
- Tags as JSON, or (EA) as the object's members without the braces.

charge_category comes from ChargeType; effective_cost is the cost for on-demand/spot
usage (no commitment to amortise) and NULL otherwise: an actual-cost export cannot say
what a reservation's amortised share is. service_name is MeterCategory; sku_id is MeterId
(ProductId where the export has one).
"""

from __future__ import annotations

import polars as pl

from forensics.loaders.base import LoadContext
from forensics.loaders.billing.common import CsvBilling, lower_set
from forensics.loaders.billing.convert import Rows

CHARGE_TYPES = {
    "Usage": "Usage",
    "UnusedReservation": "Usage",
    "UnusedSavingsPlan": "Usage",
    "Purchase": "Purchase",
    "Refund": "Credit",
    "Credit": "Credit",
    "Tax": "Tax",
    "RoundingAdjustment": "Adjustment",
    "Adjustment": "Adjustment",
}
_COST = ("CostInBillingCurrency", "Cost", "PreTaxCost")
_DATE = ("Date", "UsageDateTime", "UsageDate")


class AzureCostExport(CsvBilling):
    name = "azure-cost-export"
    description = "Azure cost details export CSV, EA or MCA (MeterCategory, CostInBillingCurrency)"

    def score(self, columns: set[str]) -> float:
        low = lower_set(columns)
        if "metercategory" not in low or not low & {c.lower() for c in _COST}:
            return 0.0
        if not low & {c.lower() for c in _DATE}:
            return 0.0
        return 0.9 if low & {"subscriptionid", "subscriptionguid"} else 0.6

    def notes(self, ctx: LoadContext, header: list[str]) -> None:
        low = lower_set(set(header))
        variant = "MCA" if "billingcurrency" in low or "billingprofileid" in low and (
            "accountownerid" not in low) else "EA"
        ctx.note(f"Azure {variant} cost export (column names)")
        ctx.note("Azure Date is the usage day: charge_period_end = Date + 1 day; "
                 "slash dates read as M/D/YYYY")

    def build(self, rows: Rows) -> None:
        date_col = rows.col(*_DATE)
        if date_col:
            rows.time("charge_period_start", date_col, mdy=True)
            start = rows.exprs["charge_period_start"]
            daily = rows.raw[date_col].str.contains(":").not_().all()
            if daily:
                rows.expr("charge_period_end", start.dt.offset_by("1d"))
        rows.text("billing_account_id", "BillingAccountId")
        rows.text("billing_account_name", "BillingAccountName")
        rows.text("sub_account_id", "SubscriptionId", "SubscriptionGuid")
        rows.text("sub_account_name", "SubscriptionName")
        rows.const("provider", "Microsoft")
        publisher = rows.col("PublisherName")
        rows.expr("publisher", pl.coalesce(
            rows.value("PublisherName"),
            pl.when(rows.value("PublisherType").str.to_lowercase() == "azure")
            .then(pl.lit("Microsoft"))), [publisher] if publisher else [])
        rows.text("service_name", "MeterCategory", keep=True)
        rows.category(rows.col("ChargeType"), CHARGE_TYPES, default="Usage")
        rows.text("charge_description", "ProductName", "Product")
        rows.text("sku_id", "ProductId", "MeterId", keep=True)
        rows.text("resource_id", "ResourceId", "InstanceId")
        rows.text("resource_name", "ResourceName")
        rows.text("region", "ResourceLocation", "Location")
        rows.text("pricing_unit", "UnitOfMeasure", keep=True)
        rows.text("consumed_unit", "UnitOfMeasure")
        qty = rows.col("Quantity", "UsageQuantity", "ConsumedQuantity")
        if qty:
            value = rows.decimal(qty)
            rows.expr("pricing_quantity", value)
            rows.expr("consumed_quantity", value, [qty])
        rows.money("list_cost", "PaygCostInBillingCurrency")
        cost_col = rows.col(*_COST)
        if cost_col:
            cost = rows.decimal(cost_col)
            rows.expr("billed_cost", cost, [cost_col])
            model = rows.value("PricingModel").str.to_lowercase()
            on_demand = model.is_null() | model.is_in(["ondemand", "spot", "on demand"])
            usage = rows.value("ChargeType").is_null() | (
                rows.value("ChargeType").str.to_lowercase() == "usage")
            rows.expr("effective_cost", pl.when(on_demand & usage).then(cost))
        rows.text("currency", "BillingCurrencyCode", "BillingCurrency", "Currency")
        rows.tags_json(rows.col("Tags"))
