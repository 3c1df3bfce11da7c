"""Monero P2Pool payout CSVs into `ledger_transfers`.

Two shapes:

- Db4E's `p2pool_payouts.csv` (`Date,Total`): Db4E watches the P2Pool log for payments,
  sums them per calendar day and writes, per day, the RUNNING TOTAL since the first payout,
  rounded to 4 decimal places (its P2PoolPaymentCsv writes `total = total + day`, then
  `round(total, 4)`). A row is therefore a balance, not a transfer. The loader stores the
  day's increment as `amount` (this total minus the previous row's, exact decimal
  arithmetic; the first row's amount is its total) and keeps the total as written in extra
  `cumulative_total`. Summing `amount` gives the last total exactly; a single day's amount
  is exact for the rounded totals, i.e. within 0.0001 XMR of what was paid that day.
  Dates carry no time: `ts` is the day's start in UTC (noted).
- per-payout exports with p2pool.observer's field names (`timestamp`, `coinbase_reward`
  in atomic units, `coinbase_id`, `main_height`, optional `miner`): `amount` is
  coinbase_reward shifted exactly by 12 places (1 XMR = 10^12 piconero).

Neither file names the receiving wallet, except `miner` in the second shape; the load option
extra `wallet` fills `wallet` and `to_address` when given.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from forensics.loaders.base import LoadContext
from forensics.loaders.ledger.common import (
    LINE,
    OVER1,
    amount_check,
    entries,
    exact_decimal,
    header_fields,
    read_csv_rows,
    reject_reasons,
    store,
    unix_seconds,
)
from forensics.loaders.reading import read_head

_DB4E = (["Date", "Total"], ["Date", "Total XMR"])
_OBSERVER = {"timestamp", "coinbase_reward", "coinbase_id", "main_height"}


class P2PoolPayouts:
    """P2Pool (Monero) payout CSV: Db4E daily running totals or per-payout rows."""

    name = "p2pool-payouts-csv"
    family = "ledger"
    description = ("Monero P2Pool payouts CSV (Db4E Date,Total running totals; "
                   "p2pool.observer payouts)")

    def sniff(self, path: str, head: bytes) -> float:
        fields = header_fields(head)
        if fields in _DB4E:
            lines = head.split(b"\n")
            second = lines[1].strip() if len(lines) > 1 else b""
            if not second or second[:4].isdigit() and second[4:5] == b"-":
                return 0.9
            return 0.0
        if fields and _OBSERVER <= set(fields):
            return 0.9
        return 0.0

    def load(self, ctx: LoadContext) -> None:
        fields = header_fields(read_head(ctx.path)) or []
        wallet = ctx.options.extra.get("wallet")
        if fields in _DB4E:
            self._load_db4e(ctx, fields, wallet)
        else:
            self._load_observer(ctx, fields, wallet)

    @staticmethod
    def _load_db4e(ctx: LoadContext, fields: list[str], wallet: str | None) -> None:
        ctx.note("Db4E payouts: each row's Total is the running total since the first payout "
                 "(rounded to 4 places); amount is the day's increment over the previous row, "
                 "the total is kept in extra cumulative_total")
        ctx.note("dates carry no time of day: ts is the day's start, UTC")
        total_name = fields[1]
        state: dict[str, object] = {"previous": None, "rejected_before": False}

        def handle(frame: pl.DataFrame, raw_line: Callable[[int], bytes]) -> None:
            day = pl.col("Date").str.strip_chars().str.to_date("%Y-%m-%d", strict=False)
            total, ok = exact_decimal(pl.col(total_name))
            checked = reject_reasons(frame.with_columns(total.alias("__total")), [
                pl.when(pl.col(OVER1).is_not_null()).then(pl.lit("expected 2 columns, found more")),
                pl.when(day.is_null()).then(pl.format("field Date: '{}' is not a YYYY-MM-DD date",
                                                      pl.col("Date").str.slice(0, 40))),
                amount_check(total_name, pl.col(total_name), ok),
                pl.when(total < 0).then(pl.format("field {}: '{}' is a negative running total",
                                                  pl.lit(total_name), pl.col(total_name))),
            ])
            if checked["__reason"].null_count() != checked.height:
                state["rejected_before"] = True
                ctx.note("a rejected row lies between two loaded rows: the next loaded row's "
                         "amount covers the days since the previous loaded row")
            good = checked.filter(pl.col("__reason").is_null())
            previous = state["previous"]
            prev = good["__total"].shift(1)
            if previous is not None and good.height:
                prev = prev.scatter(0, previous)
            if good.height:
                state["previous"] = good["__total"][-1]
            increments = good.with_columns(prev.alias("__prev"))
            amount = (pl.col("__total") - pl.col("__prev").fill_null(0)).cast(pl.Decimal(38, 18))
            decreases = increments.filter(amount < 0).height
            if decreases:
                ctx.note(f"{decreases} rows have a running total lower than the row before: "
                         "their amount is negative")
            frame_all = pl.concat([increments, checked.filter(pl.col("__reason").is_not_null())
                                  .with_columns(pl.lit(None, checked["__total"].dtype)
                                                .alias("__prev"))], how="vertical")
            store(ctx, frame_all, raw_line, [
                day.cast(pl.Datetime("us")).dt.replace_time_zone("UTC").alias("ts"),
                pl.lit("monero").alias("chain"),
                pl.lit("XMR").alias("asset"),
                pl.lit(wallet, pl.String).alias("to_address"),
                amount.alias("amount"),
                pl.lit("in").alias("direction"),
                pl.lit(wallet, pl.String).alias("wallet"),
                pl.lit("confirmed").alias("status"),
                entries({"cumulative_total": pl.col(total_name),
                         "source": pl.lit("db4e daily running total")}).alias("extra"),
            ])

        read_csv_rows(ctx, fields, handle)

    @staticmethod
    def _load_observer(ctx: LoadContext, fields: list[str], wallet: str | None) -> None:
        ctx.note("coinbase_reward is in atomic units: amount = coinbase_reward / 10^12 XMR, "
                 "shifted exactly")
        used = {"timestamp", "coinbase_reward", "coinbase_id", "main_height", "miner"}

        def handle(frame: pl.DataFrame, raw_line: Callable[[int], bytes]) -> None:
            ts, ts_ok = unix_seconds(pl.col("timestamp"))
            reward = pl.col("coinbase_reward")
            amount, ok = exact_decimal(reward, -12)
            height = pl.col("main_height").str.strip_chars().cast(pl.UInt64, strict=False)
            to = pl.col("miner") if "miner" in fields else pl.lit(wallet, pl.String)
            checked = reject_reasons(frame, [
                pl.when(pl.col(OVER1).is_not_null()).then(
                    pl.lit(f"expected {len(fields)} columns, found more")),
                pl.when(~ts_ok | pl.col("timestamp").is_null()).then(pl.format(
                    "field timestamp: '{}' is not Unix seconds", pl.col("timestamp"))),
                pl.when(~reward.str.contains(r"^[0-9]+$")).then(pl.format(
                    "field coinbase_reward: '{}' is not an integer in atomic units",
                    reward.str.slice(0, 80))),
                amount_check("coinbase_reward", reward, ok, "an amount"),
                pl.when(height.is_null()).then(pl.format(
                    "field main_height: '{}' is not a block height", pl.col("main_height"))),
            ])
            store(ctx, checked, raw_line, [
                ts.alias("ts"),
                pl.lit("monero").alias("chain"),
                pl.lit("XMR").alias("asset"),
                pl.col("coinbase_id").alias("tx_hash"),
                height.alias("block_number"),
                to.alias("to_address"),
                amount.alias("amount"),
                pl.lit("in").alias("direction"),
                (to if wallet is None else pl.lit(wallet)).alias("wallet"),
                pl.lit("confirmed").alias("status"),
                entries({f: pl.col(f) for f in fields if f not in used}).alias("extra"),
            ])

        read_csv_rows(ctx, fields, handle)


__all__ = ["LINE", "P2PoolPayouts"]
