"""Cloud billing exports into `billing_items` (FOCUS-aligned).

One module per format group: `focus` (FOCUS CSV and Parquet), `aws` (CUR legacy and
2.0), `gcp` (BigQuery export as CSV and NDJSON), `azure` (EA/MCA cost exports), `oci`
(cost reports). They share the CSV record reader (`csvread`: bulk parse, exact start lines
with quoted newlines, careful fallback for bad blocks), the column conversions (`convert`:
exact decimals, times to UTC, rejects naming column and value) and the key-value parser
(`tags`).
"""

from forensics.loaders.billing.aws import AwsCur2, AwsCurLegacy
from forensics.loaders.billing.azure import AzureCostExport
from forensics.loaders.billing.focus import FocusCsv, FocusParquet
from forensics.loaders.billing.gcp import GcpBillingCsv, GcpBillingJson
from forensics.loaders.billing.oci import OciCostReport

__all__ = ["AwsCur2", "AwsCurLegacy", "AzureCostExport", "FocusCsv", "FocusParquet",
           "GcpBillingCsv", "GcpBillingJson", "OciCostReport"]
