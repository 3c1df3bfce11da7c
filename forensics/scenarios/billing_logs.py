"""Billing evidence: a FOCUS 1.0 CSV (hourly) and the AWS legacy CUR CSV (daily) of the
same account, as the corpus samples write them.

FOCUS: every text value double-quoted, numbers bare, a missing value the bare token NULL,
times 'YYYY-MM-DD HH:MM:SS', Tags a JSON object inside a quoted field. CUR: the legacy
slash-style header, minimal quoting, '...T00:00:00.000Z' times and `identity/TimeInterval`
'start/end'. The background is the cluster's own GPU instances, billed every hour (FOCUS)
and every day (CUR); stories add the premium SKU, the marketplace purchase, a planned
reserved-instance purchase.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from forensics.scenarios import model as m
from forensics.scenarios.writing import Located, locate, merge, write_text

FOCUS_COLUMNS = [
    "AvailabilityZone", "BilledCost", "BillingAccountId", "BillingAccountName",
    "BillingCurrency", "BillingPeriodEnd", "BillingPeriodStart", "ChargeCategory",
    "ChargeClass", "ChargeDescription", "ChargeFrequency", "ChargePeriodEnd",
    "ChargePeriodStart", "CommitmentDiscountCategory", "CommitmentDiscountId",
    "CommitmentDiscountName", "CommitmentDiscountStatus", "CommitmentDiscountType",
    "ConsumedQuantity", "ConsumedUnit", "ContractedCost", "ContractedUnitPrice",
    "EffectiveCost", "InvoiceIssuerName", "ListCost", "ListUnitPrice", "PricingCategory",
    "PricingQuantity", "PricingUnit", "ProviderName", "PublisherName", "RegionId",
    "RegionName", "ResourceId", "ResourceName", "ResourceType", "ServiceCategory", "Id",
    "ServiceName", "SkuId", "SkuPriceId", "SubAccountId", "SubAccountName", "Tags",
]
# Columns written bare (numbers); every other non-null value is quoted. ListUnitPrice is
# quoted in the real sample, so it is text here too.
_FOCUS_NUMERIC = {"BilledCost", "ConsumedQuantity", "ContractedCost", "ContractedUnitPrice",
                  "EffectiveCost", "ListCost", "PricingQuantity", "Id"}
_FOCUS_DECIMALS = {"BilledCost": 11, "ConsumedQuantity": 15, "ContractedCost": 11,
                   "ContractedUnitPrice": 11, "EffectiveCost": 11, "ListCost": 11,
                   "PricingQuantity": 11}

GPU_SKU = ("g5.12xlarge", 5.672, "NVIDIA A10G")
REGION = ("us-east-1", "US East (N. Virginia)")


def focus_background(rng: np.random.Generator, hours: int, scale: int) -> pl.DataFrame:
    """One usage row per GPU instance per hour (plus more instances at larger scales)."""
    inst = [h for h in m.SANDBOXES] * max(1, scale)
    n_i = len(inst)
    hour_idx = np.repeat(np.arange(hours), n_i)
    ix = np.tile(np.arange(n_i), hours)
    start = m.BASE_US + hour_idx * m.HOUR
    ids = pl.Series([h.instance_id if k < len(m.SANDBOXES) else
                     f"i-0e{k:04d}{h.instance_id[6:]}" for k, h in enumerate(inst)])
    names = pl.Series([h.name if k < len(m.SANDBOXES) else f"{h.name}-r{k}"
                       for k, h in enumerate(inst)])
    qty = np.ones(len(start))
    cost = np.round(qty * GPU_SKU[1], 8)
    return pl.DataFrame({
        "ts": start, "end": start + m.HOUR, "category": np.full(len(start), "Usage"),
        "description": np.full(len(start),
                               f"$5.672 per On Demand Linux {GPU_SKU[0]} Instance Hour"),
        "frequency": np.full(len(start), "Usage-Based"), "cost": cost, "quantity": qty,
        "unit": np.full(len(start), "Hours"), "unit_price": np.full(len(start), "5.672"),
        "provider": np.full(len(start), "AWS"),
        "publisher": np.full(len(start), "Amazon Web Services, Inc."),
        "region": np.full(len(start), REGION[0]), "region_name": np.full(len(start), REGION[1]),
        "resource_id": ids.gather(ix), "resource_name": names.gather(ix),
        "resource_type": np.full(len(start), "Instance"),
        "service_category": np.full(len(start), "Compute"),
        "service": np.full(len(start), "Amazon Elastic Compute Cloud"),
        "sku": np.full(len(start), "8QW4NFCXMAZ8XHGK"),
        "sub_account": np.full(len(start), m.AWS_ACCOUNT),
        "sub_account_name": np.full(len(start), "ml-research"),
        "tags": np.full(len(start), json.dumps({"team": "rl-training", "cluster": "sbx"})),
        "pricing_category": np.full(len(start), "Standard"),
        "commitment_type": pl.Series([None] * len(start), dtype=pl.String),
    })


FOCUS_SCHEMA: dict[str, pl.DataType] = {
    "ts": pl.Int64, "end": pl.Int64, "category": pl.String, "description": pl.String,
    "frequency": pl.String, "cost": pl.Float64, "quantity": pl.Float64, "unit": pl.String,
    "unit_price": pl.String, "provider": pl.String, "publisher": pl.String,
    "region": pl.String, "region_name": pl.String, "resource_id": pl.String,
    "resource_name": pl.String, "resource_type": pl.String, "service_category": pl.String,
    "service": pl.String, "sku": pl.String, "sub_account": pl.String,
    "sub_account_name": pl.String, "tags": pl.String, "pricing_category": pl.String,
    "commitment_type": pl.String,
}


def _q(col: pl.Expr) -> pl.Expr:
    """A quoted CSV text value, NULL for a missing one (as the FOCUS sample writes it)."""
    quoted = pl.lit('"') + col.str.replace_all('"', '""', literal=True) + pl.lit('"')
    return quoted.fill_null("NULL")


def _fixed(col: pl.Expr, decimals: int) -> pl.Expr:
    """Fixed decimals without a float-format round trip: scaled integer, then split."""
    scaled = (col * (10 ** decimals)).round(0).cast(pl.Int64)
    return pl.concat_str([(scaled // (10 ** decimals)).cast(pl.String), pl.lit("."),
                          (scaled % (10 ** decimals)).cast(pl.String).str.zfill(decimals)])


def write_focus(path: Path, background: pl.DataFrame, rows: list[dict[str, Any]]) -> Located:
    frame = merge(background, rows, sort=("ts", "resource_id"))
    t = lambda c: pl.from_epoch(pl.col(c) // m.US, time_unit="s").dt.strftime("%Y-%m-%d %H:%M:%S")  # noqa: E731
    is_commit = pl.col("commitment_type").is_not_null()
    cols = {
        "AvailabilityZone": pl.lit(None, dtype=pl.String),
        "BilledCost": pl.col("cost"), "BillingAccountId": pl.lit(m.AWS_ACCOUNT),
        "BillingAccountName": pl.lit("Example AI Lab"), "BillingCurrency": pl.lit("USD"),
        "BillingPeriodEnd": pl.lit("2026-04-01 00:00:00"),
        "BillingPeriodStart": pl.lit("2026-03-01 00:00:00"),
        "ChargeCategory": pl.col("category"), "ChargeClass": pl.lit(None, dtype=pl.String),
        "ChargeDescription": pl.col("description"), "ChargeFrequency": pl.col("frequency"),
        "ChargePeriodEnd": t("end"), "ChargePeriodStart": t("ts"),
        "CommitmentDiscountCategory": pl.when(is_commit).then(pl.lit("Usage")),
        "CommitmentDiscountId": pl.when(is_commit).then(pl.col("resource_id")),
        "CommitmentDiscountName": pl.lit(None, dtype=pl.String),
        "CommitmentDiscountStatus": pl.lit(None, dtype=pl.String),
        "CommitmentDiscountType": pl.col("commitment_type"),
        "ConsumedQuantity": pl.col("quantity"), "ConsumedUnit": pl.col("unit"),
        "ContractedCost": pl.col("cost"),
        "ContractedUnitPrice": pl.col("unit_price").cast(pl.Float64),
        "EffectiveCost": pl.col("cost"), "InvoiceIssuerName": pl.lit("Amazon Web Services, Inc."),
        "ListCost": pl.col("cost"), "ListUnitPrice": pl.col("unit_price"),
        "PricingCategory": pl.col("pricing_category"), "PricingQuantity": pl.col("quantity"),
        "PricingUnit": pl.col("unit"), "ProviderName": pl.col("provider"),
        "PublisherName": pl.col("publisher"), "RegionId": pl.col("region"),
        "RegionName": pl.col("region_name"), "ResourceId": pl.col("resource_id"),
        "ResourceName": pl.col("resource_name"), "ResourceType": pl.col("resource_type"),
        "ServiceCategory": pl.col("service_category"),
        "Id": pl.int_range(1, pl.len() + 1).cast(pl.String),
        "ServiceName": pl.col("service"), "SkuId": pl.col("sku"),
        "SkuPriceId": pl.col("sku") + pl.lit(".JRTCKXETXF.6YS6EN2CT7"),
        "SubAccountId": pl.col("sub_account"), "SubAccountName": pl.col("sub_account_name"),
        "Tags": pl.col("tags"),
    }
    out = []
    for name in FOCUS_COLUMNS:
        e = cols[name]
        if name == "Id":
            out.append(e.alias(name))
        elif name in _FOCUS_NUMERIC:
            out.append(_fixed(e, _FOCUS_DECIMALS[name]).fill_null("NULL").alias(name))
        else:
            out.append(_q(e.cast(pl.String)).alias(name))
    body = frame.select(out)
    header = ",".join(f'"{c}"' for c in FOCUS_COLUMNS)
    write_text(path, [header], body, separator=",")
    return locate(frame, 2)


# --- AWS CUR (legacy) ----------------------------------------------------------------------

CUR_COLUMNS = (
    "identity/LineItemId,identity/TimeInterval,bill/InvoiceId,bill/InvoicingEntity,"
    "bill/BillingEntity,bill/BillType,bill/PayerAccountId,bill/BillingPeriodStartDate,"
    "bill/BillingPeriodEndDate,lineItem/UsageAccountId,lineItem/LineItemType,"
    "lineItem/UsageStartDate,lineItem/UsageEndDate,lineItem/ProductCode,lineItem/UsageType,"
    "lineItem/Operation,lineItem/AvailabilityZone,lineItem/UsageAmount,"
    "lineItem/NormalizationFactor,lineItem/NormalizedUsageAmount,lineItem/CurrencyCode,"
    "lineItem/UnblendedRate,lineItem/UnblendedCost,lineItem/BlendedRate,lineItem/BlendedCost,"
    "lineItem/LineItemDescription,lineItem/TaxType,lineItem/LegalEntity,product/ProductName,"
    "product/availability,product/durability,product/eventType,product/feeCode,"
    "product/feeDescription,product/fromLocation,product/fromLocationType,"
    "product/fromRegionCode,product/group,product/groupDescription,product/location,"
    "product/locationType,product/messageDeliveryFrequency,product/messageDeliveryOrder,"
    "product/operation,product/overhead,product/productFamily,product/productType,"
    "product/queueType,product/region,product/regionCode,product/servicecode,"
    "product/servicename,product/sku,product/storageClass,product/storageMedia,"
    "product/toLocation,product/toLocationType,product/toRegionCode,product/transferType,"
    "product/usagetype,product/version,product/volumeType,pricing/RateCode,pricing/RateId,"
    "pricing/currency,pricing/publicOnDemandCost,pricing/publicOnDemandRate,pricing/term,"
    "pricing/unit,reservation/AmortizedUpfrontCostForUsage,"
    "reservation/AmortizedUpfrontFeeForBillingPeriod,reservation/EffectiveCost,"
    "reservation/EndTime,reservation/ModificationStatus,"
    "reservation/NormalizedUnitsPerReservation,reservation/NumberOfReservations,"
    "reservation/RecurringFeeForUsage,reservation/StartTime,reservation/SubscriptionId,"
    "reservation/TotalReservedNormalizedUnits,reservation/TotalReservedUnits,"
    "reservation/UnitsPerReservation,reservation/UnusedAmortizedUpfrontFeeForBillingPeriod,"
    "reservation/UnusedNormalizedUnitQuantity,reservation/UnusedQuantity,"
    "reservation/UnusedRecurringFee,reservation/UpfrontValue,savingsPlan/TotalCommitmentToDate,"
    "savingsPlan/SavingsPlanARN,savingsPlan/SavingsPlanRate,savingsPlan/UsedCommitment,"
    "savingsPlan/SavingsPlanEffectiveCost,"
    "savingsPlan/AmortizedUpfrontCommitmentForBillingPeriod,"
    "savingsPlan/RecurringCommitmentForBillingPeriod"
).split(",")


def cur_line(values: dict[str, str]) -> str:
    """One CUR row: the named columns filled, the rest empty, minimal CSV quoting."""
    def q(v: str) -> str:
        return f'"{v.replace(chr(34), chr(34) * 2)}"' if any(c in v for c in ',"\n') else v
    return ",".join(q(values.get(c, "")) for c in CUR_COLUMNS)


def cur_time(us: int) -> str:
    return m.iso(us, frac=False, z=".000Z")


def cur_row(rng_id: str, start: int, end: int, account: str, item_type: str, product: str,
            usage_type: str, operation: str, amount: float, rate: float, cost: float,
            description: str, product_name: str, region: str, resource: str = "",
            unit: str = "Hrs", az: str = "") -> dict[str, str]:
    """The values of one CUR line (everything a story or the background needs)."""
    return {
        "identity/LineItemId": rng_id,
        "identity/TimeInterval": f"{m.iso(start)}/{m.iso(end)}",
        "bill/InvoicingEntity": "Amazon Web Services, Inc.", "bill/BillingEntity": "AWS",
        "bill/BillType": "Anniversary", "bill/PayerAccountId": m.AWS_ACCOUNT,
        "bill/BillingPeriodStartDate": "2026-03-01T00:00:00.000Z",
        "bill/BillingPeriodEndDate": "2026-04-01T00:00:00.000Z",
        "lineItem/UsageAccountId": account, "lineItem/LineItemType": item_type,
        "lineItem/UsageStartDate": cur_time(start), "lineItem/UsageEndDate": cur_time(end),
        "lineItem/ProductCode": product, "lineItem/UsageType": usage_type,
        "lineItem/Operation": operation, "lineItem/AvailabilityZone": az,
        "lineItem/UsageAmount": f"{amount:.1f}" if amount == int(amount) else f"{amount}",
        "lineItem/CurrencyCode": "USD", "lineItem/UnblendedRate": f"{rate}",
        "lineItem/UnblendedCost": f"{cost:.8f}".rstrip("0").rstrip(".") if cost else "0.0",
        "lineItem/BlendedRate": f"{rate}",
        "lineItem/BlendedCost": f"{cost:.8f}".rstrip("0").rstrip(".") if cost else "0.0",
        "lineItem/LineItemDescription": description,
        "lineItem/LegalEntity": "Amazon Web Services, Inc.",
        "product/ProductName": product_name, "product/region": region,
        "product/regionCode": region, "product/servicecode": product,
        "pricing/currency": "USD", "pricing/unit": unit,
        "pricing/publicOnDemandCost": f"{cost:.8f}".rstrip("0").rstrip(".") if cost else "0.0",
        "pricing/publicOnDemandRate": f"{rate}",
        "pricing/term": "OnDemand" if item_type == "Usage" else "",
        "lineItem/ResourceId": resource,
    }


def cur_background(rng: np.random.Generator, scale: int) -> list[dict[str, Any]]:
    """Daily rows per GPU instance (few enough to build in Python: 2 days x instances)."""
    rows = []
    for day in range(m.DAYS):
        start, end = m.at(day, 0), m.at(day + 1, 0)
        for k in range(max(1, scale)):
            for h in m.SANDBOXES:
                lid = "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz234567"), 51))
                hours = 24.0
                values = cur_row(lid, start, end, m.AWS_ACCOUNT, "Usage", "AmazonEC2",
                                 f"BoxUsage:{GPU_SKU[0]}", "RunInstances", hours, GPU_SKU[1],
                                 hours * GPU_SKU[1],
                                 f"$5.672 per On Demand Linux {GPU_SKU[0]} Instance Hour",
                                 "Amazon Elastic Compute Cloud", REGION[0], h.instance_id,
                                 az="us-east-1a")
                rows.append({"ts": start, "key": f"{k:04d}{h.name}", "line": cur_line(values)})
    return rows


def write_cur(path: Path, background: list[dict[str, Any]], rows: list[dict[str, Any]]) -> Located:
    schema = {"ts": pl.Int64, "key": pl.String, "line": pl.String}
    bg = pl.DataFrame(background, schema=schema)
    frame = merge(bg, rows, sort=("ts", "key"))
    write_text(path, [",".join(CUR_COLUMNS)], frame.select("line"))
    return locate(frame, 2)
