"""Oracle Cloud Infrastructure cost reports (the hourly `reports/cost-csv` files).

Columns are grouped like legacy AWS CUR (`lineItem/`, `product/`, `usage/`, `cost/`) but
with OCI's names, and tags are one column per tag as `tags/<namespace>.<key>`. The
interval times come with inconsistent precision in one file (`2023-11-13T10:00Z` next to
`2023-11-13T11:00:00Z`); the general ISO parser takes both.

- billing account: lineItem/tenantId; sub account: the compartment (id and name);
- billed_cost and effective_cost: cost/myCost (the tenancy's cost after its discounts);
- quantity: usage/billedQuantity, priced in cost/billingUnitReadable, consumed in
  cost/skuUnitDescription;
- charge_category: Usage, or Adjustment where lineItem/isCorrection is true.
"""

from __future__ import annotations

import polars as pl

from forensics.loaders.billing.common import CsvBilling
from forensics.loaders.billing.convert import Rows


class OciCostReport(CsvBilling):
    name = "oci-cost-report"
    description = "Oracle OCI cost report CSV (lineItem/intervalUsageStart, cost/myCost)"

    def score(self, columns: set[str]) -> float:
        need = {"lineItem/intervalUsageStart", "lineItem/intervalUsageEnd", "cost/myCost"}
        if not need <= columns:
            return 0.0
        return 0.95 if "lineItem/tenantId" in columns else 0.75

    def build(self, rows: Rows) -> None:
        rows.time("charge_period_start", "lineItem/intervalUsageStart")
        rows.time("charge_period_end", "lineItem/intervalUsageEnd")
        rows.text("billing_account_id", "lineItem/tenantId")
        rows.text("sub_account_id", "product/compartmentId")
        rows.text("sub_account_name", "product/compartmentName")
        rows.const("provider", "Oracle")
        rows.text("service_name", "product/service")
        correction = rows.col("lineItem/isCorrection")
        if correction:
            flag = pl.col(correction).str.to_lowercase()
            rows.fail(pl.col(correction).is_not_null() & ~flag.is_in(["true", "false"]),
                      f"column {correction}: {{}} is not true or false", pl.col(correction))
            rows.expr("charge_category",
                      pl.when(flag == "true").then(pl.lit("Adjustment"))
                      .otherwise(pl.lit("Usage")))
        else:
            rows.const("charge_category", "Usage")
        rows.text("charge_description", "product/Description")
        rows.text("sku_id", "cost/productSku")
        rows.text("resource_id", "product/resourceId")
        rows.text("region", "product/region")
        rows.text("pricing_unit", "cost/billingUnitReadable")
        rows.text("consumed_unit", "cost/skuUnitDescription")
        qty = rows.col("usage/billedQuantity")
        if qty:
            value = rows.decimal(qty)
            rows.expr("pricing_quantity", value)
            rows.expr("consumed_quantity", value, [qty])
        cost_col = rows.col("cost/myCost")
        if cost_col:
            cost = rows.decimal(cost_col)
            rows.expr("billed_cost", cost)
            rows.expr("effective_cost", cost, [cost_col])
        rows.text("currency", "cost/currencyCode")
        rows.tags_columns("tags/")
