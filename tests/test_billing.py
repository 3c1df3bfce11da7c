"""Billing loaders: golden rows from the real corpus, generated samples for the formats the
corpus lacks (CUR 2.0, GCP NDJSON, FOCUS Parquet, Azure MCA with a BOM), sniffing across
every corpus family, and bad input landing in `rejects` with line and reason."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

import forensics
from forensics.loaders import sniff
from forensics.loaders.reading import read_head
from tests import loader_checks
from tests.conftest import CORPUS, corpus_dir, corpus_file, manifest_rows
from tests.loader_checks import check, load_ok, stored_row

BILLING_FORMATS = {"focus-csv", "focus-parquet", "aws-cur", "aws-cur2", "gcp-billing-csv",
                   "gcp-billing-ndjson", "azure-cost-export", "oci-cost-report"}
CORPUS_FORMATS = {
    "focus10_sample_1000.csv": ("focus-csv", 1000),
    "aws_cur_legacy_anon.csv": ("aws-cur", 1281),
    "aws_cur_legacy_costcategory.csv": ("aws-cur", 3),
    "azure_ea_cost_export_anon.csv": ("azure-cost-export", 27),
    "gcp_billing_bq_export_2020.csv": ("gcp-billing-csv", 25),
    "oci_cost_report.csv": ("oci-cost-report", 506),
}


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def D(text: str) -> Decimal:
    return Decimal(text)


def row_at(case, evidence_id: int, line_no: int) -> dict:
    return stored_row(case, "billing_items", evidence_id, line_no, ("tags", "extra"))


def rejects_of(case, evidence_id: int) -> list[tuple[int, str]]:
    return list(loader_checks.rejects_of(case, evidence_id).items())


ALL_NULL_EXCEPT = ("service_category", "billing_account_name", "sub_account_name",
                   "resource_name", "publisher", "list_cost", "tags", "sku_id", "region",
                   "resource_id", "pricing_unit", "consumed_unit")


# ---------------------------------------------------------------------------------------
# corpus: every billing file loads, exact counts, one fully specified row per format
# ---------------------------------------------------------------------------------------


def test_manifest_lists_every_billing_file():
    names = {r["local_name"] for r in manifest_rows("billing")}
    assert names == set(CORPUS_FORMATS)
    for r in manifest_rows("billing"):  # none of them is damaged on purpose
        assert "damaged" not in r["note"].lower()


@pytest.mark.corpus
@pytest.mark.parametrize("name", sorted(CORPUS_FORMATS))
def test_corpus_file_loads_with_no_rejects(case, name):
    fmt, rows = CORPUS_FORMATS[name]
    res = load_ok(case, corpus_file("billing", name), rows=rows)
    assert res.format == fmt
    (n,) = case.sql("SELECT count(*) AS n FROM billing_items").row(0)
    assert n == rows


@pytest.mark.corpus
def test_golden_focus_csv(case):
    res = load_ok(case, corpus_file("billing", "focus10_sample_1000.csv"), 1000)
    # line 2: NULL,0.00000080000,"1234567890123","SunBird","USD","2024-10-01 00:00:00",
    # "2024-09-01 00:00:00","Usage",NULL,"$0.40 per million Amazon SQS standard requests in
    # Tier1 in US West (Oregon)","Usage-Based","2024-09-18 23:00:00","2024-09-18 22:00:00",
    # NULL,NULL,NULL,NULL,NULL,2.000000000000000,"Requests",0.00000000000,0.00000000000,
    # 0.00000000000,"Amazon Web Services, Inc.",0.00000080000,"0.0000004","Standard",
    # 2.00000000000,"Requests","AWS","Amazon Web Services, Inc.","us-west-2",
    # "US West (Oregon)","arn:ats:sqs:us-test-2:347410479675:mibelllmel-i-032l64f2065481b12",
    # NULL,NULL,"Integration",11472,"Amazon Simple Queue Service","G95FST5FTYV3JSRX",
    # "G95FST5FTYV3JSRX.JRTCKXETXF.VXGXCWQKTY","51738928782","Atlas Nimbus",NULL
    r = row_at(case, res.evidence_id, 2)
    check(r, {
        "charge_period_start": ts("2024-09-18 22:00:00"),
        "charge_period_end": ts("2024-09-18 23:00:00"),
        "billing_account_id": "1234567890123", "billing_account_name": "SunBird",
        "sub_account_id": "51738928782", "sub_account_name": "Atlas Nimbus",
        "provider": "AWS", "publisher": "Amazon Web Services, Inc.",
        "service_name": "Amazon Simple Queue Service", "service_category": "Integration",
        "charge_category": "Usage",
        "charge_description": "$0.40 per million Amazon SQS standard requests in Tier1 in "
                              "US West (Oregon)",
        "sku_id": "G95FST5FTYV3JSRX",
        "resource_id": "arn:ats:sqs:us-test-2:347410479675:mibelllmel-i-032l64f2065481b12",
        "resource_name": None, "region": "us-west-2", "pricing_unit": "Requests",
        "pricing_quantity": D("2"), "list_cost": D("0.0000008"),
        "billed_cost": D("0.0000008"), "effective_cost": D("0"), "currency": "USD",
        "consumed_quantity": D("2"), "consumed_unit": "Requests", "tags": None,
        "line_no": 2,
    })
    assert r["extra"] == {
        "BillingPeriodEnd": "2024-10-01 00:00:00", "BillingPeriodStart": "2024-09-01 00:00:00",
        "ChargeFrequency": "Usage-Based", "ContractedCost": "0.00000000000",
        "ContractedUnitPrice": "0.00000000000",
        "InvoiceIssuerName": "Amazon Web Services, Inc.", "ListUnitPrice": "0.0000004",
        "PricingCategory": "Standard", "RegionName": "US West (Oregon)", "Id": "11472",
        "SkuPriceId": "G95FST5FTYV3JSRX.JRTCKXETXF.VXGXCWQKTY",
    }
    # Tags: a JSON object text with doubled quotes in the CSV becomes a map.
    tagged = case.sql("SELECT tags FROM billing_items WHERE len(json_keys(tags)) > 0 LIMIT 1")
    assert json.loads(tagged.row(0)[0])["environment"] in {"dev", "prod", "test", "staging"}


@pytest.mark.corpus
def test_golden_aws_cur_legacy(case):
    res = load_ok(case, corpus_file("billing", "aws_cur_legacy_anon.csv"), 1281)
    # line 16 (abridged, empty fields omitted): identity/TimeInterval
    # 2023-11-04T00:00:00Z/2023-11-05T00:00:00Z, bill/BillingEntity AWS,
    # bill/PayerAccountId 123412340534, lineItem/UsageAccountId 123412340534,
    # lineItem/LineItemType Usage, lineItem/UsageStartDate 2023-11-04T23:00:00.000Z,
    # lineItem/UsageEndDate 2023-11-05T00:00:00.000Z, lineItem/ProductCode AmazonS3,
    # lineItem/UsageAmount 9.052E-7, lineItem/CurrencyCode USD, lineItem/UnblendedCost
    # 1.81E-8, lineItem/LineItemDescription "$0.02 per GB - US East (Northern Virginia)
    # data transfer to EU (Germany)", product/ProductName Amazon Simple Storage Service,
    # product/region us-east-1, product/sku 2BG23xxxxxxBKVFW,
    # pricing/publicOnDemandCost 1.81E-8, pricing/unit GB
    r = row_at(case, res.evidence_id, 16)
    check(r, {
        "charge_period_start": ts("2023-11-04 23:00:00"),
        "charge_period_end": ts("2023-11-05 00:00:00"),
        "billing_account_id": "123412340534", "billing_account_name": None,
        "sub_account_id": "123412340534", "sub_account_name": None,
        "provider": "AWS", "publisher": "AWS",
        "service_name": "Amazon Simple Storage Service", "service_category": None,
        "charge_category": "Usage",
        "charge_description": "$0.02 per GB - US East (Northern Virginia) data transfer to "
                              "EU (Germany)",
        "sku_id": "2BG23xxxxxxBKVFW", "resource_id": None, "resource_name": None,
        "region": "us-east-1", "pricing_unit": "GB", "pricing_quantity": D("0.0000009052"),
        "list_cost": D("0.0000000181"), "billed_cost": D("0.0000000181"),
        "effective_cost": D("0.0000000181"), "currency": "USD",
        "consumed_quantity": D("0.0000009052"), "consumed_unit": "GB", "tags": None,
    })
    extra = r["extra"]
    assert extra["lineItem/LineItemType"] == "Usage"
    assert extra["identity/TimeInterval"] == "2023-11-04T00:00:00Z/2023-11-05T00:00:00Z"
    assert extra["product/servicename"] == "AWS Data Transfer"
    assert extra["lineItem/UnblendedRate"] == "0.02"
    assert "lineItem/UnblendedCost" not in extra and "product/ProductName" not in extra
    (taxes,) = case.sql("SELECT count(*) FROM billing_items WHERE charge_category = 'Tax'"
                        ).row(0)
    assert taxes > 0


@pytest.mark.corpus
def test_golden_aws_cur_costcategory_savings_plan(case):
    res = load_ok(case, corpus_file("billing", "aws_cur_legacy_costcategory.csv"), 3)
    r = row_at(case, res.evidence_id, 2)
    # zone-less '2023-06-01 00:00:00' read as UTC (options.tz default), and said so
    check(r, {
        "charge_period_start": ts("2023-06-01 00:00:00"),
        "charge_period_end": ts("2023-06-01 01:00:00"),
        "billing_account_id": "0099999999999", "sub_account_id": "0099999999999",
        "service_name": "Amazon Elastic Compute Cloud", "charge_category": "Usage",
        "charge_description": "$10 per On Demand Linux m5.large Instance Hour",
        "sku_id": "VEAJHRNKTJZA", "resource_id": "i-99995555", "region": "us-west-1",
        "pricing_unit": "Hrs", "pricing_quantity": D("1"), "list_cost": D("10"),
        "billed_cost": D("10"), "effective_cost": D("0.1"),  # SavingsPlanEffectiveCost
        "currency": "NOK", "consumed_quantity": D("1"), "consumed_unit": "Hrs",
    })
    assert r["extra"]["lineItem/LineItemType"] == "SavingsPlanCoveredUsage"
    assert r["extra"]["costCategory/name"] == "compute"
    assert r["extra"]["noTags/user:app"] == "slatt"
    ev = case.evidence().row(0, named=True)
    assert ev["tz_assumed"] == "UTC"
    assert any("without a zone" in n for n in ev["notes"])


@pytest.mark.corpus
def test_golden_azure_ea(case):
    res = load_ok(case, corpus_file("billing", "azure_ea_cost_export_anon.csv"), 27)
    # line 3: Lorem,example.com,user.one@example.com,d275fcd5-3305-4a03-80c2-999999999999,
    # sub-example,rg-example,CentralUS,9/2/2023,Queues v2 - Class 2 Operations - US Central,
    # Storage,Queues v2,4a2ca774-7dad-4fa3-b080-d08a3c830b61,Class 2 Operations,Iowa,10K,
    # 0.0129,0.004379084,5.64902E-05,,Microsoft.Storage,/subscriptions/<guid>/resourceGroups/
    # <rg name>/providers/<arm provider>/<serviceName>/<deployedResourceName>,"""tagA"":
    # ""valueA"",""tagB"": ""valueB"",""tagC"": ""valueC""",MS-AZR-00XXP,"{ ... }",,,
    # the name or GUID,,,0.1,,,,Azure,,Usage,UsageBased,OnDemand,,12345678,Example LTD.,CAD,
    # 9/1/2023,9/30/2023,12345678,Example LTD.,,TRUE,ABC-1235,0.40000,,Compute,,,
    r = row_at(case, res.evidence_id, 3)
    check(r, {
        "charge_period_start": ts("2023-09-02 00:00:00"),
        "charge_period_end": ts("2023-09-03 00:00:00"),
        "billing_account_id": "12345678", "billing_account_name": "Example LTD.",
        "sub_account_id": "d275fcd5-3305-4a03-80c2-999999999999",
        "sub_account_name": "sub-example", "provider": "Microsoft", "publisher": "Microsoft",
        "service_name": "Storage", "service_category": None, "charge_category": "Usage",
        "charge_description": "Queues v2 - Class 2 Operations - US Central",
        "sku_id": "4a2ca774-7dad-4fa3-b080-d08a3c830b61",
        "resource_id": "/subscriptions/<guid>/resourceGroups/<rg name>/providers/"
                       "<arm provider>/<serviceName>/<deployedResourceName>",
        "resource_name": "the name or GUID", "region": "CentralUS", "pricing_unit": "10K",
        "pricing_quantity": D("0.0129"), "list_cost": None,
        "billed_cost": D("0.0000564902"), "effective_cost": D("0.0000564902"),
        "currency": "CAD", "consumed_quantity": D("0.0129"), "consumed_unit": "10K",
        "tags": {"tagA": "valueA", "tagB": "valueB", "tagC": "valueC"},
    })
    assert r["extra"]["ChargeType"] == "Usage"
    assert r["extra"]["EffectivePrice"] == "0.004379084"
    assert r["extra"]["AdditionalInfo"].startswith("{  \"additional\"")


@pytest.mark.corpus
def test_golden_gcp_csv(case):
    res = load_ok(case, corpus_file("billing", "gcp_billing_bq_export_2020.csv"), 25)
    # line 2: 000000-B0BBA4-940A77,FBF2-FC68-171A,Security Command Center,D5A4-0C3E-4DA4,
    # Event Threat Detection Log Ingest Bytes,2020-11-09 23:00:00+00:00,2020-11-10
    # 00:00:00+00:00,billing-example-00000,cloud-billing,[],/54643501348/,[],[],global,,,,
    # 2020-11-10 05:49:32.199000+00:00,5e-06,USD,1.0,24909.0,bytes,2.3198314011096954e-05,
    # gibibyte,"[{'name': 'FreeTrial:Credit-000000-B0BBA4-940A77', 'amount': -5e-06, ...}]",
    # 202011,regular,2020-11-09 00:00:00+00:00
    r = row_at(case, res.evidence_id, 2)
    check(r, {
        "charge_period_start": ts("2020-11-09 23:00:00"),
        "charge_period_end": ts("2020-11-10 00:00:00"),
        "billing_account_id": "000000-B0BBA4-940A77", "billing_account_name": None,
        "sub_account_id": "billing-example-00000", "sub_account_name": "cloud-billing",
        "provider": "Google Cloud", "publisher": None,
        "service_name": "Security Command Center", "service_category": None,
        "charge_category": "Usage",
        "charge_description": "Event Threat Detection Log Ingest Bytes",
        "sku_id": "D5A4-0C3E-4DA4", "resource_id": None, "resource_name": None,
        "region": None, "pricing_unit": "gibibyte", "pricing_quantity": D("0.0000231983"),
        "list_cost": None, "billed_cost": D("0.000005"),
        "effective_cost": D("0"),  # 5e-06 + credit -5e-06, exactly
        "currency": "USD", "consumed_quantity": D("24909"), "consumed_unit": "bytes",
        "tags": {},
    })
    assert r["extra"]["service.id"] == "FBF2-FC68-171A"
    assert r["extra"]["invoice.month"] == "202011"
    assert "FreeTrial" in r["extra"]["credits"]
    labelled = case.sql("SELECT tags FROM billing_items WHERE len(json_keys(tags)) > 0 LIMIT 1")
    assert json.loads(labelled.row(0)[0])["goog-resource-type"].startswith("bigquery_")


@pytest.mark.corpus
def test_golden_oci(case):
    res = load_ok(case, corpus_file("billing", "oci_cost_report.csv"), 506)
    # line 2: 7108a1f83bdbad70487bf0cf99cbe260,ocid1.tenancy.oc1..aaaaaaaadsyhydp66mjpsohqocf
    # cgzaabtrit47ex2igzu2j6lhuadrrglca,2023-11-13T10:00Z,2023-11-13T11:00:00Z,DATABASE,
    # (compartmentId = tenancy),platformpm2022,us-sanjose-1,sj-1,ocid1.autonomousdatabase...,
    # 0.083333333333000000,,ocid1.organizationssubscription...,B92911,Oracle APEX Application
    # Development,0.147171330000000000,,0.012264277499950943,,USD,1 NONE HOURS INSTANCE,
    # Hours,false,false,17053,default/phil.newman@oracle.com,607825,marek.czajka@oracle.com,
    # accounts,Other,development-pre-production,boots,
    tenancy = "ocid1.tenancy.oc1..aaaaaaaadsyhydp66mjpsohqocfcgzaabtrit47ex2igzu2j6lhuadrrglca"
    r = row_at(case, res.evidence_id, 2)
    check(r, {
        "charge_period_start": ts("2023-11-13 10:00:00"),  # '2023-11-13T10:00Z' (no seconds)
        "charge_period_end": ts("2023-11-13 11:00:00"),
        "billing_account_id": tenancy, "billing_account_name": None,
        "sub_account_id": tenancy, "sub_account_name": "platformpm2022",
        "provider": "Oracle", "publisher": None, "service_name": "DATABASE",
        "service_category": None, "charge_category": "Usage",
        "charge_description": "Oracle APEX Application Development", "sku_id": "B92911",
        "resource_id": "ocid1.autonomousdatabase.oc1.us-sanjose-1.anzwuljr33abj3qa3ustmv6jdlw6"
                       "elfui5qg3jd7ugfx6oq7x5qa5emjmpta",
        "resource_name": None, "region": "us-sanjose-1",
        "pricing_unit": "1 NONE HOURS INSTANCE", "pricing_quantity": D("0.0833333333"),
        "list_cost": None, "billed_cost": D("0.0122642775"),
        "effective_cost": D("0.0122642775"), "currency": "USD",
        "consumed_quantity": D("0.0833333333"), "consumed_unit": "Hours",
        "tags": {"Oracle-Tags.CreatedBy": "default/phil.newman@oracle.com",
                 "OracleInternalReserved.CostCenter": "607825",
                 "OracleInternalReserved.OwnerEmail": "marek.czajka@oracle.com",
                 "OracleInternalReserved.Phonebook": "accounts",
                 "OracleInternalReserved.ServiceType": "Other",
                 "OracleInternalReserved.UsageType": "development-pre-production",
                 "Valtest.Cat": "boots"},
    })
    assert r["extra"]["lineItem/isCorrection"] == "false"
    assert r["extra"]["cost/unitPrice"] == "0.147171330000000000"
    # an OCI sci-notation cost ('4.81298076439E-7') is exact
    (n,) = case.sql("SELECT count(*) FROM billing_items WHERE billed_cost = 0.0000004813").row(0)
    assert n >= 1


# ---------------------------------------------------------------------------------------
# sniffing: the whole cross-product of corpus files
# ---------------------------------------------------------------------------------------


def _corpus_files() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in CORPUS.glob("*/*") if p.is_file())


@pytest.mark.corpus
def test_sniff_cross_product():
    corpus_dir("billing")
    files = _corpus_files()
    assert len(files) > 30
    for path in files:
        fmt, scores = sniff(str(path), read_head(path))
        billing_claims = [(n, s) for n, s in scores if n in BILLING_FORMATS and s >= 0.5]
        if path.parent.name == "billing":
            assert fmt is not None and fmt.name == CORPUS_FORMATS[path.name][0], path
            assert len(billing_claims) == 1, (path, billing_claims)
        else:
            assert billing_claims == [], (path, billing_claims)
            assert fmt is None or fmt.name not in BILLING_FORMATS, path


# ---------------------------------------------------------------------------------------
# generated samples for the formats the corpus lacks
# ---------------------------------------------------------------------------------------

CUR2_HEADER = ["identity_line_item_id", "identity_time_interval", "bill_payer_account_id",
               "bill_billing_entity", "line_item_usage_account_id", "line_item_line_item_type",
               "line_item_usage_start_date", "line_item_usage_end_date",
               "line_item_product_code", "line_item_usage_type", "line_item_usage_amount",
               "line_item_currency_code", "line_item_unblended_cost",
               "line_item_line_item_description", "line_item_resource_id", "product",
               "product_sku", "product_region_code", "pricing_unit",
               "pricing_public_on_demand_cost", "resource_tags",
               "savings_plan_savings_plan_effective_cost", "reservation_effective_cost"]


def _csv(header: list[str], rows: list[list[str]], newline: str = "\n") -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator=newline)
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def cur2_rows() -> list[list[str]]:
    return [
        ["a1", "2024-05-01T00:00:00Z/2024-05-01T01:00:00Z", "111122223333", "AWS",
         "444455556666", "Usage", "2024-05-01T00:00:00Z", "2024-05-01T01:00:00Z",
         "AmazonEC2", "USE1-BoxUsage:p4d.24xlarge", "1.0", "USD", "32.7726",
         "$32.7726 per On Demand Linux p4d.24xlarge Instance Hour", "i-0abc",
         '{"product_name": "Amazon Elastic Compute Cloud", "instance_type": "p4d.24xlarge"}',
         "ABCDSKU", "us-east-1", "Hrs", "32.7726", '{"user_team": "rl", "user_run": "r7"}',
         "", ""],
        ["a2", "2024-05-01T00:00:00Z/2024-05-02T00:00:00Z", "111122223333", "AWS",
         "444455556666", "Tax", "2024-05-01T00:00:00Z", "2024-06-01T00:00:00Z",
         "AmazonEC2", "", "1.0", "USD", "1.2E-05", "Tax for product code AmazonEC2", "",
         "{}", "", "", "", "", "{}", "", ""],
    ]


def test_cur2_sample(case, tmp_path):
    path = tmp_path / "cur2.csv"
    path.write_text(_csv(CUR2_HEADER, cur2_rows()))
    fmt, _ = sniff(str(path), read_head(path))
    assert fmt is not None and fmt.name == "aws-cur2"
    res = load_ok(case, path, 2)
    r = row_at(case, res.evidence_id, 2)
    check(r, {
        "charge_period_start": ts("2024-05-01 00:00:00"),
        "charge_period_end": ts("2024-05-01 01:00:00"),
        "billing_account_id": "111122223333", "sub_account_id": "444455556666",
        "provider": "AWS", "publisher": "AWS",
        "service_name": "Amazon Elastic Compute Cloud",  # from the `product` map
        "charge_category": "Usage", "sku_id": "ABCDSKU", "resource_id": "i-0abc",
        "region": "us-east-1", "pricing_unit": "Hrs", "pricing_quantity": D("1"),
        "list_cost": D("32.7726"), "billed_cost": D("32.7726"),
        "effective_cost": D("32.7726"), "currency": "USD", "consumed_quantity": D("1"),
        "tags": {"user_team": "rl", "user_run": "r7"},
    })
    tax = row_at(case, res.evidence_id, 3)
    assert tax["charge_category"] == "Tax"
    assert tax["billed_cost"] == D("0.000012")  # '1.2E-05' exactly
    assert tax["tags"] == {}


GCP_NDJSON = [
    {"billing_account_id": "01A2B3-C4D5E6-F7A8B9",
     "service": {"id": "6F81-5844-456A", "description": "Compute Engine"},
     "sku": {"id": "2E27-4F75-95CD", "description": "Nvidia Tesla A100 GPU running in Americas"},
     "usage_start_time": "2024-05-01T10:00:00Z", "usage_end_time": "2024-05-01T11:00:00Z",
     "project": {"id": "rl-sandbox-7", "name": "RL Sandbox 7",
                 "labels": [{"key": "team", "value": "rl"}]},
     "labels": [{"key": "job", "value": "rome-train"}, {"key": "gpu", "value": "a100"}],
     "location": {"location": "us-central1", "country": "US", "region": "us-central1",
                  "zone": "us-central1-a"},
     "cost": "__COST__", "currency": "USD",
     "usage": {"amount": 3600, "unit": "seconds", "amount_in_pricing_units": 1,
               "pricing_unit": "hour"},
     "credits": [{"name": "Committed use discount", "amount": -0.1234567891,
                  "type": "COMMITTED_USAGE_DISCOUNT"},
                 {"name": "Sustained use discount", "amount": -1e-10,
                  "type": "SUSTAINED_USAGE_DISCOUNT"}],
     "invoice": {"month": "202405"}, "cost_type": "regular"},
    {"billing_account_id": "01A2B3-C4D5E6-F7A8B9",
     "service": {"id": "6F81-5844-456A", "description": "Compute Engine"},
     "sku": {"id": "TAX1", "description": "Sales tax"},
     "usage_start_time": "2024-05-01T10:00:00Z", "usage_end_time": "2024-05-01T11:00:00Z",
     "project": {"id": "rl-sandbox-7", "name": "RL Sandbox 7", "labels": []},
     "labels": [], "location": {"region": None}, "cost": 0.05, "currency": "USD",
     "usage": {"amount": 0, "unit": "seconds"}, "credits": [],
     "invoice": {"month": "202405"}, "cost_type": "tax"},
]


def _gcp_ndjson() -> str:
    lines = [json.dumps(o) for o in GCP_NDJSON]
    # a cost with more digits than a float holds, written as a bare JSON number
    return "\n".join(lines).replace('"__COST__"', "1234567.1234567891") + "\n"


def test_gcp_ndjson_sample(case, tmp_path):
    path = tmp_path / "gcp_billing.json"
    path.write_text(_gcp_ndjson())
    fmt, _ = sniff(str(path), read_head(path))
    assert fmt is not None and fmt.name == "gcp-billing-ndjson"
    res = load_ok(case, path, 2)
    r = row_at(case, res.evidence_id, 1)
    check(r, {
        "charge_period_start": ts("2024-05-01 10:00:00"),
        "charge_period_end": ts("2024-05-01 11:00:00"),
        "billing_account_id": "01A2B3-C4D5E6-F7A8B9", "sub_account_id": "rl-sandbox-7",
        "sub_account_name": "RL Sandbox 7", "provider": "Google Cloud",
        "service_name": "Compute Engine", "charge_category": "Usage",
        "charge_description": "Nvidia Tesla A100 GPU running in Americas",
        "sku_id": "2E27-4F75-95CD", "region": "us-central1", "pricing_unit": "hour",
        "pricing_quantity": D("1"), "consumed_quantity": D("3600"),
        "consumed_unit": "seconds", "currency": "USD",
        "billed_cost": D("1234567.1234567891"),  # exact: never went through a float
        "effective_cost": D("1234566.9999999999"),  # minus 0.1234567891 and 1e-10
        "tags": {"job": "rome-train", "gpu": "a100"},
    })
    assert r["extra"]["service.id"] == "6F81-5844-456A"
    assert r["extra"]["location.zone"] == "us-central1-a"
    assert "team" in r["extra"]["project.labels"]
    tax = row_at(case, res.evidence_id, 2)
    assert tax["charge_category"] == "Tax" and tax["billed_cost"] == D("0.05")
    assert tax["tags"] == {}


def test_focus_parquet_from_csv(case, tmp_path):
    src = corpus_file("billing", "focus10_sample_1000.csv")
    frame = pl.read_csv(src, infer_schema=False, null_values=["NULL"])
    frame = frame.with_columns(
        pl.col("ChargePeriodStart", "ChargePeriodEnd").str.to_datetime(
            "%Y-%m-%d %H:%M:%S", time_zone="UTC"),
        pl.col("BilledCost", "EffectiveCost", "ListCost").cast(pl.Decimal(38, 11)),
    )
    path = tmp_path / "focus.parquet"
    frame.write_parquet(path)
    fmt, _ = sniff(str(path), read_head(path))
    assert fmt is not None and fmt.name == "focus-parquet"
    res = load_ok(case, path, 1000)
    r = row_at(case, res.evidence_id, 1)  # row 1 = CSV line 2
    check(r, {"charge_period_start": ts("2024-09-18 22:00:00"),
              "charge_period_end": ts("2024-09-18 23:00:00"),
              "billed_cost": D("0.0000008"), "sub_account_name": "Atlas Nimbus",
              "charge_category": "Usage", "currency": "USD", "region": "us-west-2",
              "pricing_quantity": D("2"), "tags": None})
    ev = case.evidence().row(0, named=True)
    assert ev["lines_read"] == 1000 and ev["header_lines"] == 0
    assert any("row index" in n for n in ev["notes"])
    # same totals as the CSV load
    csv_case = forensics.open_case(":memory:")
    load_ok(csv_case, src, 1000)
    q = "SELECT sum(billed_cost), sum(effective_cost), count(tags) FROM billing_items"
    assert case.sql(q).row(0) == csv_case.sql(q).row(0)


AZURE_MCA_HEADER = ["invoiceId", "billingAccountId", "billingAccountName", "billingProfileId",
                    "billingPeriodStartDate", "billingPeriodEndDate", "date", "ProductName",
                    "meterCategory", "meterId", "SubscriptionId", "subscriptionName",
                    "ResourceId", "resourceLocation", "quantity", "unitOfMeasure",
                    "chargeType", "billingCurrency", "costInBillingCurrency",
                    "paygCostInBillingCurrency", "pricingModel", "publisherType",
                    "publisherName", "tags"]


def azure_mca_rows() -> list[list[str]]:
    return [
        ["G001", "acct-1", "Lab Inc", "bp-1", "05/01/2024", "05/31/2024", "05/14/2024",
         "NC A100 v4 - NC24ads A100 v4 - US East", "Virtual Machines", "m-123",
         "sub-9", "gpu-sub", ("/subscriptions/sub-9/resourceGroups/rg/providers/"
         "Microsoft.Compute/virtualMachines/vm1"), "eastus", "1.2E+01", "1 Hour", "Usage",
         "USD", "4.4069E+01", "4.4069E+01", "OnDemand", "Azure", "Microsoft",
         '{"owner":"rl","project":"rome"}'],
        ["G001", "acct-1", "Lab Inc", "bp-1", "05/01/2024", "05/31/2024", "05/14/2024",
         "Reserved VM Instance", "Virtual Machines", "m-124", "sub-9", "gpu-sub", "",
         "eastus", "1", "1 Hour", "Purchase", "USD", "100", "", "Reservation",
         "Azure", "", ""],
    ]


def test_azure_mca_with_bom_and_crlf(case, tmp_path):
    path = tmp_path / "azure_mca.csv"
    path.write_bytes(b"\xef\xbb\xbf" + _csv(AZURE_MCA_HEADER, azure_mca_rows(),
                                            "\r\n").encode())
    fmt, _ = sniff(str(path), read_head(path))
    assert fmt is not None and fmt.name == "azure-cost-export"
    res = load_ok(case, path, 2)
    r = row_at(case, res.evidence_id, 2)
    check(r, {"charge_period_start": ts("2024-05-14 00:00:00"),
              "charge_period_end": ts("2024-05-15 00:00:00"),
              "billing_account_id": "acct-1", "sub_account_id": "sub-9",
              "service_name": "Virtual Machines", "charge_category": "Usage",
              "pricing_quantity": D("12"), "billed_cost": D("44.069"),
              "list_cost": D("44.069"), "effective_cost": D("44.069"), "currency": "USD",
              "region": "eastus", "publisher": "Microsoft",
              "tags": {"owner": "rl", "project": "rome"}})
    purchase = row_at(case, res.evidence_id, 3)
    assert purchase["charge_category"] == "Purchase"
    assert purchase["effective_cost"] is None  # a reservation purchase is not amortised here
    assert any("MCA" in n for n in case.evidence().row(0, named=True)["notes"])


def test_quoted_newlines_keep_start_lines(case, tmp_path):
    rows = cur2_rows()
    rows[0][13] = "multi\nline\ndescription"
    rows.append(list(rows[1]))
    path = tmp_path / "cur2_nl.csv"
    path.write_text(_csv(CUR2_HEADER, rows))
    res = load_ok(case, path, 3)
    lines = case.sql("SELECT line_no, charge_description FROM billing_items ORDER BY line_no")
    assert lines.rows() == [(2, "multi\nline\ndescription"),
                            (5, "Tax for product code AmazonEC2"),
                            (6, "Tax for product code AmazonEC2")]
    ev = case.evidence().row(0, named=True)
    assert ev["lines_read"] == 4  # records: 6 physical lines minus 2 continuation lines
    assert any("continuation" in n for n in ev["notes"])
    del res


# ---------------------------------------------------------------------------------------
# bad input: every format, rejects with file, line and reason; good lines still load
# ---------------------------------------------------------------------------------------


def _corpus_lines(name: str, n: int) -> list[str]:
    text = corpus_file("billing", name).read_text(encoding="utf-8")
    return text.splitlines()[: n + 1]


def _fields(line: str) -> list[str]:
    return next(csv.reader([line]))


def _line(fields: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(fields)
    return buf.getvalue()


# format file -> (column with a number, column with a time)
BAD_TARGETS = {
    "focus10_sample_1000.csv": ("BilledCost", "ChargePeriodStart"),
    "aws_cur_legacy_anon.csv": ("lineItem/UnblendedCost", "lineItem/UsageStartDate"),
    "azure_ea_cost_export_anon.csv": ("CostInBillingCurrency", "Date"),
    "gcp_billing_bq_export_2020.csv": ("cost", "usage_start_time"),
    "oci_cost_report.csv": ("cost/myCost", "lineItem/intervalUsageStart"),
}


@pytest.mark.corpus
@pytest.mark.parametrize("name", sorted(BAD_TARGETS))
def test_bad_input_lands_in_rejects(case, tmp_path, name):
    lines = _corpus_lines(name, 4)
    header = _fields(lines[0])
    num_col, time_col = BAD_TARGETS[name]
    good = lines[1]
    bad_num = _fields(good)
    bad_num[header.index(num_col)] = "12,5O"
    bad_time = _fields(good)
    bad_time[header.index(time_col)] = "2023-02-30T25:00:00Z"
    body = [
        lines[0],
        good,                                  # 2 ok
        good[: len(good) // 2].rstrip('"'),    # 3 truncated line
        _line(_fields(good) + ["surplus"]),    # 4 one field too many
        _line(bad_num),                        # 5 bad number
        _line(bad_time),                       # 6 bad time
        "",                                    # 7 blank
        lines[2],                              # 8 ok
        'x,"unterminated',                     # 9 a stray quote: must not swallow line 10
        lines[3],                              # 10 ok
    ]
    path = tmp_path / name
    path.write_text("\n".join(body) + "\n")
    res = load_ok(case, path, rows=3, rejects=5)
    rej = rejects_of(case, res.evidence_id)
    assert [n for n, _ in rej] == [3, 4, 5, 6, 9]
    reasons = dict(rej)
    assert "fields, the header has" in reasons[3] or "not valid CSV" in reasons[3]
    assert f"the header has {len(header)}" in reasons[4]
    assert num_col in reasons[5] and "12,5O" in reasons[5] and "not a number" in reasons[5]
    assert time_col in reasons[6] and "not a valid time" in reasons[6]
    assert "not valid CSV" in reasons[9] or "fields" in reasons[9]
    loaded = case.sql("SELECT line_no FROM billing_items ORDER BY line_no")["line_no"]
    assert loaded.to_list() == [2, 8, 10]
    ev = case.evidence().row(0, named=True)
    assert ev["blank_lines"] == 1 and ev["header_lines"] == 1
    raw = case.rejects().filter(pl.col("line_no") == 5)["raw"][0]
    assert "12,5O" in raw
    assert case.rejects()["evidence_id"].to_list() == [res.evidence_id] * 5


def test_bad_input_cur2(case, tmp_path):
    rows = cur2_rows()
    bad_cost = list(rows[0])
    bad_cost[12] = "1.2.3"
    bad_time = list(rows[0])
    bad_time[6] = "yesterday"
    text = _csv(CUR2_HEADER, [rows[0], bad_cost, bad_time, rows[1]])
    text += ",".join(rows[0][:5]) + "\n"  # truncated line
    path = tmp_path / "cur2_bad.csv"
    path.write_text(text)
    res = load_ok(case, path, rows=2, rejects=3)
    rej = dict(rejects_of(case, res.evidence_id))
    assert "line_item_unblended_cost: 1.2.3 is not a number" in rej[3]
    assert "line_item_usage_start_date: yesterday is not a valid time" in rej[4]
    assert "5 fields" in rej[6]


def test_bad_input_gcp_ndjson(case, tmp_path):
    good = _gcp_ndjson().splitlines()
    bad_cost = json.loads(good[1])
    bad_cost["cost"] = "lots"
    bad_time = json.loads(good[1])
    bad_time["usage_start_time"] = "2024-13-01T00:00:00Z"
    body = [good[0], good[1][: len(good[1]) // 2], json.dumps(bad_cost), "",
            json.dumps(bad_time), good[1]]
    path = tmp_path / "gcp_bad.json"
    path.write_text("\n".join(body) + "\n")
    res = load_ok(case, path, rows=2, rejects=3)
    rej = dict(rejects_of(case, res.evidence_id))
    assert "not a valid JSON object" in rej[2]
    assert "column cost: lots is not a number" in rej[3]
    assert "usage_start_time: 2024-13-01T00:00:00Z is not a valid time" in rej[5]
    assert case.evidence().row(0, named=True)["blank_lines"] == 1


def test_bad_input_focus_parquet(case, tmp_path):
    frame = pl.DataFrame({
        "BilledCost": ["1.5", "abc", "2"], "EffectiveCost": ["1", "1", "1"],
        "ListCost": ["1", "1", "1"], "ChargePeriodStart": ["2024-01-01T00:00:00Z"] * 2 + [
            "not a time"],
        "ChargePeriodEnd": ["2024-01-01T01:00:00Z"] * 3, "BillingCurrency": ["USD"] * 3,
        "ChargeCategory": ["Usage", "Usage", "Usage"], "ProviderName": ["AWS"] * 3,
        "ServiceName": ["EC2"] * 3,
    })
    path = tmp_path / "bad.parquet"
    frame.write_parquet(path)
    res = load_ok(case, path, rows=1, rejects=2)
    rej = dict(rejects_of(case, res.evidence_id))
    assert "BilledCost: abc is not a number" in rej[2]
    assert "ChargePeriodStart: not a time is not a valid time" in rej[3]


def test_focus_rejects_unknown_charge_category(case, tmp_path):
    lines = _corpus_lines("focus10_sample_1000.csv", 2)
    header = _fields(lines[0])
    bad = _fields(lines[1])
    bad[header.index("ChargeCategory")] = "Bribe"
    path = tmp_path / "focus.csv"
    path.write_text("\n".join([lines[0], lines[2], _line(bad)]) + "\n")
    res = load_ok(case, path, rows=1, rejects=1)
    assert rejects_of(case, res.evidence_id) == [
        (3, "column ChargeCategory: Bribe is not a FOCUS charge category")]


def test_invalid_utf8_and_damaged_tags(case, tmp_path):
    lines = _corpus_lines("azure_ea_cost_export_anon.csv", 3)
    header = _fields(lines[0])
    bad_tags = _fields(lines[2])
    bad_tags[header.index("Tags")] = '"tagA": [unclosed'
    data = "\n".join([lines[0], lines[1], _line(bad_tags), lines[3]]).encode() + b"\n"
    data += lines[1].encode().replace(b"Lorem", b"Lor\xffem") + b"\n"
    path = tmp_path / "azure_bad.csv"
    path.write_bytes(data)
    res = load_ok(case, path, rows=2, rejects=2)
    rej = dict(rejects_of(case, res.evidence_id))
    assert rej[3].startswith("column Tags:")
    assert rej[5] == "not valid UTF-8"


def test_times_exact_and_zoned():
    from forensics.loaders.base import LoadContext, LoadOptions
    from forensics.loaders.billing.convert import parse_time

    ctx = LoadContext(None, "x", 1, LoadOptions(tz="Europe/Berlin"))  # type: ignore[arg-type]
    out = parse_time(ctx, pl.Series(["2024-01-01 12:00:00", "2024-01-01T12:00:00+02:00",
                                     "2024-01-01T12:00Z", "2024-01-01 12:00:00.5 UTC",
                                     "2024-02-30 00:00:00", None]))
    assert out.to_list() == [
        ts("2024-01-01 11:00:00"), ts("2024-01-01 10:00:00"), ts("2024-01-01 12:00:00"),
        ts("2024-01-01 12:00:00.500000"), None, None]
    assert ctx.tz_assumed == "Europe/Berlin"
    mdy = parse_time(ctx, pl.Series(["9/2/2023", "12/31/2023 1:05:00 PM", "13/1/2023"]),
                     mdy=True)
    assert mdy.to_list() == [ts("2023-09-01 22:00:00"), ts("2023-12-31 12:05:00"), None]


def test_quoted_newlines_across_block_boundaries(case, tmp_path, monkeypatch):
    """Tiny blocks: records with quoted newlines are cut by block edges and must be joined."""
    from forensics.loaders.billing import csvread

    monkeypatch.setattr(csvread, "BLOCK_BYTES", 200)
    rows = []
    expected = []
    line = 2
    for k in range(40):
        row = list(cur2_rows()[k % 2])
        if k % 3 == 0:
            row[13] = f"desc {k}\nsecond line\n\"quoted\" third"
        rows.append(row)
        expected.append((line, k))
        line += 3 if k % 3 == 0 else 1
    for k, row in enumerate(rows):
        row[0] = f"id{k}"
    path = tmp_path / "cur2_blocks.csv"
    path.write_text(_csv(CUR2_HEADER, rows))
    load_ok(case, path, 40)
    got = case.sql("SELECT line_no, extra->>'identity_line_item_id' AS id FROM billing_items "
                   "ORDER BY line_no").rows()
    assert got == [(n, f"id{k}") for n, k in expected]
