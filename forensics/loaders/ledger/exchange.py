"""Binance account statement CSV ("Transaction History" export) into `ledger_transfers`.

Header: `User_ID,UTC_Time,Account,Operation,Coin,Change,Remark` (older exports; newer ones
drop User_ID). One row per balance change: deposits, withdrawals, and each leg of a trade
(Buy, Sell, Fee as separate rows). `Change` is signed; the table stores `amount` as its
absolute value with `direction` 'in' (positive) or 'out' (negative), and the signed text as
written in extra `change`. Scientific notation ("6.0E-7") is converted exactly.
`UTC_Time` is UTC by name. `wallet` is the User_ID (the exchange account); `chain` is
'binance' because the movement is on the exchange's books, not on a chain.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from forensics.loaders.base import LoadContext
from forensics.loaders.ledger.common import (
    OVER1,
    amount_check,
    entries,
    exact_decimal,
    header_fields,
    read_csv_rows,
    reject_reasons,
    store,
)
from forensics.loaders.reading import read_head

_REQUIRED = {"UTC_Time", "Operation", "Coin", "Change"}
_OPTIONAL = {"User_ID", "Account", "Remark"}


class BinanceStatement:
    """Binance account statement CSV (User_ID, UTC_Time, Account, Operation, Coin, Change)."""

    name = "binance-statement-csv"
    family = "ledger"
    description = ("Binance account statement CSV (UTC_Time, Account, Operation, Coin, "
                   "Change, Remark)")

    def sniff(self, path: str, head: bytes) -> float:
        fields = header_fields(head)
        if fields and _REQUIRED <= set(fields) and set(fields) <= _REQUIRED | _OPTIONAL:
            return 0.95
        return 0.0

    def load(self, ctx: LoadContext) -> None:
        fields = header_fields(read_head(ctx.path)) or []
        n = len(fields)

        def handle(frame: pl.DataFrame, raw_line: Callable[[int], bytes]) -> None:
            time = pl.col("UTC_Time").str.strip_chars()
            ts = time.str.to_datetime("%Y-%m-%d %H:%M:%S", strict=False, time_unit="us"
                                      ).dt.replace_time_zone("UTC")
            change, ok = exact_decimal(pl.col("Change"))
            user = pl.col("User_ID") if "User_ID" in fields else pl.lit(None, pl.String)
            checked = reject_reasons(frame, [
                pl.when(pl.col(OVER1).is_not_null()).then(
                    pl.lit(f"expected {n} columns, found more")),
                pl.when(ts.is_null()).then(pl.format(
                    "field UTC_Time: '{}' is not a 'YYYY-MM-DD HH:MM:SS' time",
                    pl.col("UTC_Time").str.slice(0, 40))),
                amount_check("Change", pl.col("Change"), ok),
                pl.when(pl.col("Coin").str.strip_chars() == "").then(pl.lit("field Coin is empty")),
            ])
            extra = {"change": pl.col("Change"), "operation": pl.col("Operation")}
            for f in ("Account", "Remark"):
                if f in fields:
                    extra[f.lower()] = pl.col(f)
            store(ctx, checked, raw_line, [
                ts.alias("ts"),
                pl.lit("binance").alias("chain"),
                pl.col("Coin").alias("asset"),
                change.abs().alias("amount"),
                pl.when(change < 0).then(pl.lit("out")).when(change > 0).then(pl.lit("in"))
                .otherwise(pl.lit(None, pl.String)).alias("direction"),
                user.alias("wallet"),
                pl.lit("completed").alias("status"),
                entries(extra).alias("extra"),
            ])

        read_csv_rows(ctx, fields, handle)
