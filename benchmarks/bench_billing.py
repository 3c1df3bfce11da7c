"""Billing loader benchmark: a generated FOCUS 1.0 CSV of N rows (default 1,000,000) loaded
into a case file. Prints rows/s, the CPU seconds of the load (user + sys, all threads: the
machine is shared, so compare CPU as well as wall time) and peak RSS.

    python benchmarks/bench_billing.py [rows] [--floor] [--ceiling]

--floor also times the write alone: the loaded rows, already typed in memory, inserted into
a fresh file-backed case (the least any loader of this table shape can spend).
--ceiling also times DuckDB's own read_csv of the file into a table (see `duckdb_ceiling`),
and DuckDB doing this table's conversions itself in one INSERT (see `sql_ceiling`).

Rows look like the FOCUS sample data: all 44 FOCUS 1.0 columns, quoted text, literal NULL
tokens, 'YYYY-MM-DD HH:MM:SS' times, 11-decimal costs, some scientific notation, and a
JSON Tags object on a third of the rows.
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import forensics

COLUMNS = ["AvailabilityZone", "BilledCost", "BillingAccountId", "BillingAccountName",
           "BillingCurrency", "BillingPeriodEnd", "BillingPeriodStart", "ChargeCategory",
           "ChargeClass", "ChargeDescription", "ChargeFrequency", "ChargePeriodEnd",
           "ChargePeriodStart", "CommitmentDiscountCategory", "CommitmentDiscountId",
           "CommitmentDiscountName", "CommitmentDiscountStatus", "CommitmentDiscountType",
           "ConsumedQuantity", "ConsumedUnit", "ContractedCost", "ContractedUnitPrice",
           "EffectiveCost", "InvoiceIssuerName", "ListCost", "ListUnitPrice",
           "PricingCategory", "PricingQuantity", "PricingUnit", "ProviderName",
           "PublisherName", "RegionId", "RegionName", "ResourceId", "ResourceName",
           "ResourceType", "ServiceCategory", "Id", "ServiceName", "SkuId", "SkuPriceId",
           "SubAccountId", "SubAccountName", "Tags"]


def generate(path: Path, n: int) -> None:
    i = pl.int_range(0, n, eager=True)
    hour = (i % (24 * 30)).cast(pl.Int64)
    start = pl.datetime(2024, 9, 1) + pl.duration(hours=hour)
    services = ["Amazon Elastic Compute Cloud", "Amazon Simple Storage Service",
                "Compute Engine", "Virtual Machines", "Amazon SageMaker", "Cloud Storage"]
    frame = pl.DataFrame({"i": i}).select(
        AvailabilityZone=pl.when(pl.col("i") % 3 == 0).then(pl.lit("us-east-1a"))
        .otherwise(pl.lit("NULL")),
        BilledCost=(pl.col("i") % 9973 * 0.00000080000 + 0.5).round(11).cast(pl.String),
        BillingAccountId=pl.lit("1234567890123"),
        BillingAccountName=pl.lit("SunBird"),
        BillingCurrency=pl.lit("USD"),
        BillingPeriodEnd=pl.lit("2024-10-01 00:00:00"),
        BillingPeriodStart=pl.lit("2024-09-01 00:00:00"),
        ChargeCategory=pl.when(pl.col("i") % 50 == 0).then(pl.lit("Tax"))
        .otherwise(pl.lit("Usage")),
        ChargeClass=pl.lit("NULL"),
        ChargeDescription=pl.format("$0.{} per GPU hour for p4d.24xlarge in US East",
                                    pl.col("i") % 997),
        ChargeFrequency=pl.lit("Usage-Based"),
        ChargePeriodEnd=(start.over(pl.lit(1)) + pl.duration(hours=1)).dt.strftime(
            "%Y-%m-%d %H:%M:%S"),
        ChargePeriodStart=start.dt.strftime("%Y-%m-%d %H:%M:%S"),
        CommitmentDiscountCategory=pl.lit("NULL"),
        CommitmentDiscountId=pl.lit("NULL"),
        CommitmentDiscountName=pl.lit("NULL"),
        CommitmentDiscountStatus=pl.lit("NULL"),
        CommitmentDiscountType=pl.lit("NULL"),
        ConsumedQuantity=(pl.col("i") % 101 / 7).round(15).cast(pl.String),
        ConsumedUnit=pl.lit("Hours"),
        ContractedCost=pl.lit("0.00000000000"),
        ContractedUnitPrice=pl.lit("0.00000000000"),
        EffectiveCost=pl.when(pl.col("i") % 7 == 0).then(pl.lit("5.256E-06"))
        .otherwise(pl.lit("0.00500000000")),
        InvoiceIssuerName=pl.lit("Amazon Web Services, Inc."),
        ListCost=(pl.col("i") % 9973 * 0.00000080000 + 0.6).round(11).cast(pl.String),
        ListUnitPrice=pl.lit("0.0000004"),
        PricingCategory=pl.lit("Standard"),
        PricingQuantity=(pl.col("i") % 101 / 7).round(11).cast(pl.String),
        PricingUnit=pl.lit("Hours"),
        ProviderName=pl.lit("AWS"),
        PublisherName=pl.lit("Amazon Web Services, Inc."),
        RegionId=pl.lit("us-east-1"),
        RegionName=pl.lit("US East (N. Virginia)"),
        ResourceId=pl.format("arn:aws:ec2:us-east-1:347410479675:instance/i-{}",
                             pl.col("i") % 5000),
        ResourceName=pl.lit("NULL"),
        ResourceType=pl.lit("NULL"),
        ServiceCategory=pl.lit("Compute"),
        Id=pl.col("i").cast(pl.String),
        ServiceName=pl.lit(services).list.get(pl.col("i") % len(services)),
        SkuId=pl.lit("G95FST5FTYV3JSRX"),
        SkuPriceId=pl.lit("G95FST5FTYV3JSRX.JRTCKXETXF.VXGXCWQKTY"),
        SubAccountId=pl.format("5173892{}", pl.col("i") % 40),
        SubAccountName=pl.format("Atlas {}", pl.col("i") % 40),
        Tags=pl.when(pl.col("i") % 3 == 0).then(pl.format(
            '{{"application": "App{}", "environment": "prod", "team": "rl"}}',
            pl.col("i") % 50)).otherwise(pl.lit("NULL")),
    )
    frame.select(COLUMNS).write_csv(path, quote_style="non_numeric")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def write_floor(tmp: Path, case: forensics.Case) -> None:
    """Insert the loaded rows (as Arrow, in memory) into a fresh case: one transaction."""
    rows = case.con.sql("SELECT * FROM billing_items").to_arrow_table()
    floor = forensics.open_case(tmp / "floor.duckdb")
    t0, c0 = time.perf_counter(), cpu_seconds()
    floor.con.execute("BEGIN TRANSACTION")
    floor.con.register("rows", rows)
    floor.con.execute("INSERT INTO billing_items BY NAME SELECT * FROM rows")
    floor.con.execute("COMMIT")
    print(f"write floor: {rows.num_rows:,} rows in {time.perf_counter() - t0:.2f} s, "
          f"{cpu_seconds() - c0:.2f} CPU s")
    floor.close()


def duckdb_ceiling(src: Path, tmp: Path) -> None:
    """DuckDB's own C++ CSV reader straight into a fresh database file: types sniffed, no
    line numbers, checks, rejects, exact decimals, tags or extra. What no loader of this
    file on this machine can beat; run twice, as in the loader's setting (rows in any order,
    `base.unordered_insert`) and in DuckDB's default."""
    import duckdb

    for keep_order in (False, True):
        db = tmp / f"ceiling_{keep_order}.duckdb"
        con = duckdb.connect(str(db))
        con.execute(f"SET preserve_insertion_order = {keep_order}")
        t0, c0 = time.perf_counter(), cpu_seconds()
        con.execute("CREATE TABLE t AS SELECT * FROM read_csv(?, nullstr = 'NULL')", [str(src)])
        elapsed, cpu = time.perf_counter() - t0, cpu_seconds() - c0
        (n,) = con.execute("SELECT count(*) FROM t").fetchone()
        con.close()
        db.unlink()
        print(f"DuckDB ceiling (read_csv into a table, insertion order "
              f"{'kept' if keep_order else 'free'}): {n:,} rows in {elapsed:.2f} s = "
              f"{n / elapsed:,.0f} rows/s; {cpu:.2f} CPU s")


# FOCUS column -> billing_items column, for `sql_ceiling` (what `focus.build_focus` maps).
_SQL_TEXT = {
    "billing_account_id": "BillingAccountId", "billing_account_name": "BillingAccountName",
    "sub_account_id": "SubAccountId", "sub_account_name": "SubAccountName",
    "provider": "ProviderName", "publisher": "PublisherName", "service_name": "ServiceName",
    "service_category": "ServiceCategory", "charge_category": "ChargeCategory",
    "charge_description": "ChargeDescription", "sku_id": "SkuId", "resource_id": "ResourceId",
    "resource_name": "ResourceName", "region": "RegionId", "pricing_unit": "PricingUnit",
    "currency": "BillingCurrency", "consumed_unit": "ConsumedUnit", "tags": "Tags",
}
_SQL_MONEY = {
    "pricing_quantity": "PricingQuantity", "list_cost": "ListCost", "billed_cost": "BilledCost",
    "effective_cost": "EffectiveCost", "consumed_quantity": "ConsumedQuantity",
}
_SQL_TIME = {"charge_period_start": "ChargePeriodStart", "charge_period_end": "ChargePeriodEnd"}


def sql_ceiling(src: Path, tmp: Path) -> None:
    """DuckDB doing this table's conversions itself, in parallel, in ONE statement:
    `INSERT INTO billing_items SELECT ... FROM read_csv(all_varchar)` into a fresh case,
    insertion order free. Times by strptime, money by TRY_CAST to DECIMAL, text copied,
    `extra` as a concat of the non-null native columns (no escaping). It leaves out what the
    loader must also do: line numbers (DuckDB's reader has none; WITH ORDINALITY made the
    statement single-threaded and slower), checks and rejects, tags parsing, category
    spelling, exact rounding. Run with and without `extra`, to show what that column costs.
    """
    used = set(_SQL_TEXT.values()) | set(_SQL_MONEY.values()) | set(_SQL_TIME.values())
    native = [c for c in COLUMNS if c not in used]
    members = ", ".join(f"""',"{c}":"' || "{c}" || '"'""" for c in native)
    extra = f"'{{' || ltrim(concat({members}), ',') || '}}'"
    select = {"evidence_id": "1", "line_no": "0"}
    select |= {t: f'"{c}"' for t, c in _SQL_TEXT.items()}
    select |= {t: f'TRY_CAST("{c}" AS DECIMAL(38,10))' for t, c in _SQL_MONEY.items()}
    select |= {t: f"""strptime("{c}", '%Y-%m-%d %H:%M:%S')::TIMESTAMPTZ"""
               for t, c in _SQL_TIME.items()}
    for with_extra in (True, False):
        cols = select | ({"extra": extra} if with_extra else {})
        case = forensics.open_case(tmp / f"sql_{with_extra}.duckdb")
        case.con.execute("SET preserve_insertion_order = false")
        t0, c0 = time.perf_counter(), cpu_seconds()
        case.con.execute("BEGIN TRANSACTION")
        case.con.execute(
            f"INSERT INTO billing_items ({', '.join(cols)}) SELECT {', '.join(cols.values())} "
            "FROM read_csv(?, all_varchar = true, header = true, nullstr = ['NULL', ''])",
            [str(src)])
        case.con.execute("COMMIT")
        elapsed, cpu = time.perf_counter() - t0, cpu_seconds() - c0
        (n,) = case.con.execute("SELECT count(*) FROM billing_items").fetchone()
        case.close()
        print(f"DuckDB SQL ceiling (one INSERT converting in SQL, "
              f"{'with' if with_extra else 'without'} extra): {n:,} rows in {elapsed:.2f} s "
              f"= {n / elapsed:,.0f} rows/s; {cpu:.2f} CPU s")


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(args[0]) if args else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "focus_bench.csv"
        t0 = time.perf_counter()
        generate(src, n)
        print(f"generated {n:,} FOCUS rows ({os.path.getsize(src) / 1e6:.0f} MB) in "
              f"{time.perf_counter() - t0:.1f} s")
        case = forensics.open_case(Path(tmp) / "bench.duckdb")
        t0, c0 = time.perf_counter(), cpu_seconds()
        report = case.load(str(src))
        elapsed, cpu = time.perf_counter() - t0, cpu_seconds() - c0
        res = report.files[0]
        assert res.status == "loaded", res.message
        assert res.rows == n and res.rejects == 0, (res.rows, res.rejects)
        rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"focus-csv: {n:,} rows in {elapsed:.2f} s = {n / elapsed:,.0f} rows/s; "
              f"{cpu:.2f} CPU s; peak RSS {rss_mib:,.0f} MiB")
        if "--floor" in sys.argv:
            write_floor(Path(tmp), case)
        case.close()
        if "--ceiling" in sys.argv:
            duckdb_ceiling(src, Path(tmp))
            sql_ceiling(src, Path(tmp))


if __name__ == "__main__":
    main()
