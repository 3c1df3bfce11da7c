"""Etherscan CSV exports (normal, ERC-20 and internal transactions) into `ledger_transfers`.

Two header vocabularies are read, both as exported by real tools:
- the website's "Download CSV" (`Txhash`/`Transaction Hash`, `Blockno`, `UnixTimestamp`,
  `Value_IN(ETH)`, `TxnFee(ETH)`, `TokenValue`, ...): amounts already in ETH or tokens,
  written as decimals, with thousands separators in token values ("3,067.671");
- the API's field names (`blockNumber`, `timeStamp`, `hash`, `value`, `gasPrice`,
  `gasUsed`, `tokenDecimal`, ... as saved by scripts from `account&action=txlist`,
  `tokentx`, `txlistinternal`): amounts in base units, shifted exactly by 18 places for ETH
  and by the row's `tokenDecimal` for tokens; the fee is gasUsed * gasPrice wei.

The native asset comes from the header (`Value_IN(BNB)` on BscScan) and the chain from it
(ETH -> ethereum); a file that does not say (token exports, API files) is taken to be
ethereum unless the load option extra `chain` says otherwise, and a note records it.

The website's internal-transactions export writes one more field on its data rows than
its header names: an unnamed field between `ErrCode` and `Type`. Such rows are read with
`Type` taken from the last field and the unnamed one kept in extra (`unnamed_field`), not
rejected; rows with exactly the header's count are read as named.

`fee` on normal transactions is the transaction's fee as the export gives it (website:
`TxnFee(ETH)`; API: gasUsed * gasPrice), paid by `from_address`, also on rows where the
wallet received; token and internal transfers carry no fee of their own (NULL). `status` is
'failed' when the website's Status/ErrCode or the API's isError/txreceipt_status say so:
a failed transaction moved no value but still paid its fee.

Direction and `wallet`: the exported address appears on every row (as sender or
recipient); the loader finds it (or takes the load option extra `wallet`) and sets
direction in/out/self. When two addresses are on every row (a one-row file) it does not
guess: wallet and direction stay NULL, with a note. Addresses are compared
case-insensitively (hex) but stored exactly as written.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import polars as pl

from forensics.loaders.base import LoadContext
from forensics.loaders.ledger.common import (
    LINE,
    OVER1,
    OVER2,
    amount_check,
    entries,
    exact_decimal,
    header_fields,
    read_csv_rows,
    reject_reasons,
    store,
    unix_seconds,
)

_CHAINS = {"ETH": "ethereum", "BNB": "bsc", "MATIC": "polygon", "POL": "polygon",
           "FTM": "fantom", "AVAX": "avalanche", "CELO": "celo", "GLMR": "moonbeam",
           "MOVR": "moonriver", "CRO": "cronos", "XDAI": "gnosis", "S": "sonic"}
_NATIVE = re.compile(r"^(?:Value_IN|Value_OUT|TxnFee)\(([A-Za-z0-9]+)\)$")
_GROUPED = r"^[+-]?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]+)?$"
_HASH = ("Txhash", "Transaction Hash", "hash")
_ADDRESS = r"^(0x[0-9a-fA-F]{40})?$"


def _pick(fields: list[str], *names: str) -> str | None:
    for n in names:
        if n in fields:
            return n
    return None


def _kind(fields: list[str]) -> str | None:
    """txlist, erc20 or internal from the header alone (None: not an Etherscan export)."""
    has = set(fields)
    if not _pick(fields, *_HASH):
        return None
    if "ParentTxFrom" in has and "TxTo" in has and any(_NATIVE.match(f) for f in fields):
        return "internal"
    if {"TokenSymbol", "TokenValue", "ContractAddress", "From", "To"} <= has:
        return "erc20"
    if {"Blockno", "UnixTimestamp", "From", "To"} <= has and any(
            f.startswith("TxnFee(") for f in fields) and any(_NATIVE.match(f) for f in fields):
        return "txlist"
    api = {"blockNumber", "timeStamp", "hash", "from", "to", "value"}
    if api <= has:
        if {"tokenSymbol", "tokenDecimal", "contractAddress"} <= has:
            return "erc20"
        if {"gasPrice", "gasUsed", "isError", "nonce"} <= has:
            return "txlist"
        if {"traceId", "isError", "type"} <= has or {"type", "errCode", "isError"} <= has:
            return "internal"
    return None


class _EtherscanCsv:
    """Shared sniffing and loading; subclasses name the export kind."""

    kind = ""
    name = ""
    family = "ledger"
    description = ""

    def sniff(self, path: str, head: bytes) -> float:
        fields = header_fields(head)
        if not fields or _kind(fields) != self.kind:
            return 0.0
        return 0.95

    def load(self, ctx: LoadContext) -> None:
        from forensics.loaders.reading import read_head

        fields = header_fields(read_head(ctx.path)) or []
        api = "hash" in fields and "Blockno" not in fields
        native = next((m.group(1) for f in fields if (m := _NATIVE.match(f))), None)
        chain = ctx.options.extra.get("chain")
        if chain is None:
            chain = _CHAINS.get((native or "ETH").upper(), (native or "").lower())
            if native is None:
                ctx.note("the export does not name its chain; taken as ethereum (set the "
                         "load option extra 'chain' to say otherwise)")
        asset = (native or "ETH").upper()
        state: dict[str, object] = {"wallet": ctx.options.extra.get("wallet")}
        if api:
            ctx.note("API field names: amounts are base units (wei, token units) shifted "
                     "exactly by 18 places or the row's tokenDecimal")

        if state["wallet"] is None:
            state["wallet"] = _find_wallet(ctx, fields)
            if state["wallet"]:
                ctx.note(f"wallet {state['wallet']} is the address on every row of the "
                         "export; direction is relative to it")
            else:
                ctx.note("no single address is on every row: wallet and direction left "
                         "NULL (set the load option extra 'wallet' to say whose it is)")

        def handle(frame: pl.DataFrame, raw_line: Callable[[int], bytes]) -> None:
            if self.kind == "internal":
                frame = _internal_extra_field(ctx, frame, fields)
            build = _api_rows if api else _site_rows
            out, reasons, columns = build(self.kind, frame, fields, chain, asset,
                                          state["wallet"])
            store(ctx, reject_reasons(out, [_over(fields, self.kind), *reasons]), raw_line,
                  columns)

        read_csv_rows(ctx, fields, handle)


def _over(fields: list[str], kind: str) -> pl.Expr:
    """Too many fields: one extra is allowed only on internal exports, never two."""
    n = len(fields)
    too_many = pl.col(OVER2).is_not_null()
    if kind != "internal":
        too_many = too_many | pl.col(OVER1).is_not_null()
    return pl.when(too_many).then(pl.lit(f"expected {n} columns, found more"))


def _internal_extra_field(ctx: LoadContext, frame: pl.DataFrame, fields: list[str]
                          ) -> pl.DataFrame:
    if fields[-1] != "Type" or frame[OVER1].null_count() == frame.height:
        return frame
    shifted = pl.col(OVER1).is_not_null()
    ctx.note("internal-transactions rows with one field more than the header: the unnamed "
             "field before Type is kept in extra 'unnamed_field'")
    return frame.with_columns(
        pl.when(shifted).then(pl.col("Type")).alias("__unnamed"),
        pl.when(shifted).then(pl.col(OVER1)).otherwise(pl.col("Type")).alias("Type"),
        pl.lit(None, pl.String).alias(OVER1),
    )


def _find_wallet(ctx: LoadContext, fields: list[str]) -> str | None:
    """The one address on every row of the file (as sender or recipient), as first written;
    None when no address is, or when two are (a one-row export, or two wallets trading only
    with each other): then the export does not say whose it is.

    A property of the whole file, so the file is read for it before the load (on a forked
    context, whose counts and rejects are dropped: the load makes its own). Decided on the
    first block, it depended on where blocks ended: a first block whose rows all ran
    between the same two addresses left the wallet unknown for the whole file.
    """
    src = _pick(fields, "From", "from")
    dst = _pick(fields, "To", "TxTo", "to")
    if not src or not dst:
        return None
    common: set[str] | None = None
    written: dict[str, str] = {}

    def collect(frame: pl.DataFrame, raw_line: Callable[[int], bytes]) -> None:
        nonlocal common
        s, d = frame[src].str.to_lowercase(), frame[dst].str.to_lowercase()
        # an address on every row is on the first one: at most its two are candidates
        here = {c for c in (s[0], d[0]) if c and ((s == c) | (d == c)).all()}
        common = here if common is None else common & here
        for c in here:
            if c not in written:
                sent = frame.filter(s == c)[src]
                written[c] = str(sent[0] if sent.len() else frame.filter(d == c)[dst][0])

    read_csv_rows(ctx.fork(), fields, collect)
    if common is None or len(common) != 1:
        return None
    return written[next(iter(common))]


def _ungroup(e: pl.Expr) -> pl.Expr:
    """Thousands separators in website exports ("3,067.671") removed, nothing else."""
    return pl.when(e.str.contains(_GROUPED)).then(e.str.replace_all(",", "", literal=True)
                                                  ).otherwise(e)


def _direction(src: pl.Expr, dst: pl.Expr, wallet: str | None) -> pl.Expr:
    if not wallet:
        return pl.lit(None, pl.String)
    w = wallet.lower()
    s, d = src.str.to_lowercase() == w, dst.str.to_lowercase() == w
    return (pl.when(s & d).then(pl.lit("self")).when(d).then(pl.lit("in"))
            .when(s).then(pl.lit("out")).otherwise(pl.lit(None, pl.String)))


def _nullify(e: pl.Expr) -> pl.Expr:
    return pl.when(e == "").then(pl.lit(None, pl.String)).otherwise(e)


def _common_checks(frame_cols: dict[str, pl.Expr]) -> list[pl.Expr]:
    checks = []
    for name, e in frame_cols.items():
        checks.append(pl.when(~e.str.contains(_ADDRESS)).then(pl.format(
            f"field {name}: '{{}}' is not an 0x address", e.str.slice(0, 80))))
    return checks


def _site_rows(kind: str, frame: pl.DataFrame, fields: list[str], chain: str, asset: str,
               wallet: str | None):
    hash_col = _pick(fields, *_HASH)
    to_name = "TxTo" if kind == "internal" else "To"
    src, dst = pl.col("From"), pl.col(to_name)
    ts, ts_ok = unix_seconds(pl.col("UnixTimestamp"))
    block = pl.col("Blockno").str.strip_chars().cast(pl.UInt64, strict=False)
    reasons = [
        pl.when(~ts_ok | pl.col("UnixTimestamp").is_null()).then(pl.format(
            "field UnixTimestamp: '{}' is not Unix seconds", pl.col("UnixTimestamp"))),
        pl.when(block.is_null()).then(pl.format(
            "field Blockno: '{}' is not a block number", pl.col("Blockno"))),
        pl.when(~pl.col(hash_col).str.contains(r"^0x[0-9a-fA-F]{64}$")).then(pl.format(
            f"field {hash_col}: '{{}}' is not a transaction hash",
            pl.col(hash_col).str.slice(0, 80))),
        *_common_checks({"From": src, to_name: dst}),
    ]
    used = {hash_col, "Blockno", "UnixTimestamp", "From", to_name}
    if kind == "erc20":
        text = _ungroup(pl.col("TokenValue"))
        amount, ok = exact_decimal(text)
        reasons.append(amount_check("TokenValue", pl.col("TokenValue"), ok))
        asset_e, contract, fee = pl.col("TokenSymbol"), _nullify(pl.col("ContractAddress")), None
        reasons += _common_checks({"ContractAddress": pl.col("ContractAddress")})
        status = pl.lit("confirmed")
        used |= {"TokenValue", "TokenSymbol", "ContractAddress"}
    else:
        vin_name = next(f for f in fields if f.startswith("Value_IN("))
        vout_name = next(f for f in fields if f.startswith("Value_OUT("))
        vin, in_ok = exact_decimal(_ungroup(pl.col(vin_name)))
        vout, out_ok = exact_decimal(_ungroup(pl.col(vout_name)))
        reasons += [amount_check(vin_name, pl.col(vin_name), in_ok),
                    amount_check(vout_name, pl.col(vout_name), out_ok)]
        amount = pl.when(vin > 0).then(vin).otherwise(vout)
        asset_e, contract = pl.lit(asset), None
        fee_name = next((f for f in fields if f.startswith("TxnFee(") and f != "TxnFee(USD)"),
                        None)
        fee = None
        if fee_name:
            fee, fee_ok = exact_decimal(_ungroup(pl.col(fee_name)))
            reasons.append(amount_check(fee_name, pl.col(fee_name), fee_ok))
            used.add(fee_name)
        failed = (pl.col("Status").fill_null("") != "") | (pl.col("ErrCode").fill_null("") != "")
        status = pl.when(failed).then(pl.lit("failed")).otherwise(pl.lit("confirmed"))
        used |= {vin_name, vout_name}
    extra_cols = {f: pl.col(f) for f in fields if f not in used}
    if "__unnamed" in frame.columns:
        extra_cols["unnamed_field"] = pl.col("__unnamed")
    columns = _transfer_columns(
        ts=ts, chain=chain, asset=asset, asset_e=asset_e, contract=contract,
        tx_hash=pl.col(hash_col), block=block, src=src, dst=dst, amount=amount, fee=fee,
        wallet=wallet, status=status, extra_cols=extra_cols)
    return frame, reasons, columns


def _api_rows(kind: str, frame: pl.DataFrame, fields: list[str], chain: str, asset: str,
              wallet: str | None):
    src, dst = pl.col("from"), pl.col("to")
    ts, ts_ok = unix_seconds(pl.col("timeStamp"))
    block = pl.col("blockNumber").str.strip_chars().cast(pl.UInt64, strict=False)
    value = pl.col("value")
    reasons = [
        pl.when(~ts_ok).then(pl.format("field timeStamp: '{}' is not Unix seconds",
                                       pl.col("timeStamp"))),
        pl.when(block.is_null()).then(pl.format("field blockNumber: '{}' is not a block number",
                                                pl.col("blockNumber"))),
        pl.when(~pl.col("hash").str.contains(r"^0x[0-9a-fA-F]{64}$")).then(pl.format(
            "field hash: '{}' is not a transaction hash", pl.col("hash").str.slice(0, 80))),
        pl.when(~value.str.contains(r"^[0-9]+$")).then(pl.format(
            "field value: '{}' is not an integer in base units", value.str.slice(0, 80))),
        *_common_checks({"from": src, "to": dst}),
    ]
    used = {"hash", "blockNumber", "timeStamp", "from", "to", "value"}
    fee = None
    if kind == "erc20":
        decimals = pl.col("tokenDecimal").str.strip_chars().cast(pl.Int64, strict=False)
        reasons.append(pl.when(decimals.is_null() | (decimals < 0) | (decimals > 77)).then(
            pl.format("field tokenDecimal: '{}' is not a number of decimals",
                      pl.col("tokenDecimal"))))
        amount, ok = exact_decimal(value, -decimals.fill_null(0))
        asset_e, contract = pl.col("tokenSymbol"), _nullify(pl.col("contractAddress"))
        used |= {"tokenDecimal", "tokenSymbol", "contractAddress"}
    else:
        amount, ok = exact_decimal(value, -18)
        asset_e, contract = pl.lit(asset), None
        if kind == "txlist":
            gas = pl.col("gasUsed").cast(pl.Int128, strict=False) * pl.col("gasPrice").cast(
                pl.Int128, strict=False)
            fee, fee_ok = exact_decimal(gas.cast(pl.String), -18)
            reasons.append(pl.when(gas.is_null() | ~fee_ok).then(pl.format(
                "fields gasUsed/gasPrice: '{}'/'{}' are not integers", pl.col("gasUsed"),
                pl.col("gasPrice"))))
    reasons.append(amount_check("value", value, ok, "an amount"))
    failed = pl.col("isError").fill_null("0") == "1" if "isError" in fields else pl.lit(False)
    if "txreceipt_status" in fields:
        failed = failed | (pl.col("txreceipt_status") == "0")
    status = pl.when(failed).then(pl.lit("failed")).otherwise(pl.lit("confirmed"))
    extra_cols = {f: pl.col(f) for f in fields if f not in used}
    columns = _transfer_columns(
        ts=ts, chain=chain, asset=asset, asset_e=asset_e, contract=contract,
        tx_hash=pl.col("hash"), block=block, src=src, dst=dst, amount=amount, fee=fee,
        wallet=wallet, status=status, extra_cols=extra_cols)
    return frame, reasons, columns


class EtherscanTxlist(_EtherscanCsv):
    kind = "txlist"
    name = "etherscan-txlist-csv"
    description = "Etherscan normal-transactions CSV (website export or API txlist fields)"


class EtherscanErc20(_EtherscanCsv):
    kind = "erc20"
    name = "etherscan-erc20-csv"
    description = "Etherscan ERC-20 token-transfer CSV (website export or API tokentx fields)"


class EtherscanInternal(_EtherscanCsv):
    kind = "internal"
    name = "etherscan-internal-csv"
    description = "Etherscan internal-transactions CSV (website export or API txlistinternal)"


__all__ = ["LINE", "EtherscanErc20", "EtherscanInternal", "EtherscanTxlist"]


def _transfer_columns(*, ts: pl.Expr, chain: str, asset: str, asset_e: pl.Expr,
                      contract: pl.Expr | None, tx_hash: pl.Expr, block: pl.Expr,
                      src: pl.Expr, dst: pl.Expr, amount: pl.Expr, fee: pl.Expr | None,
                      wallet: str | None, status: pl.Expr,
                      extra_cols: dict[str, pl.Expr]) -> list[pl.Expr]:
    """The ledger_transfers columns, the same for the CSV export and the API's JSON."""
    return [
        ts.alias("ts"),
        pl.lit(chain).alias("chain"),
        asset_e.alias("asset"),
        (contract if contract is not None else pl.lit(None, pl.String)).alias("token_contract"),
        tx_hash.alias("tx_hash"),
        block.alias("block_number"),
        _nullify(src).alias("from_address"),
        _nullify(dst).alias("to_address"),
        amount.alias("amount"),
        (fee if fee is not None else pl.lit(None)).cast(pl.Decimal(38, 18)).alias("fee"),
        (pl.lit(asset) if fee is not None else pl.lit(None, pl.String)).alias("fee_asset"),
        _direction(src, dst, wallet).alias("direction"),
        pl.lit(wallet, pl.String).alias("wallet"),
        status.alias("status"),
        entries(extra_cols).alias("extra"),
    ]
