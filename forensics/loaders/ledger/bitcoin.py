"""Bitcoin transactions as esplora / mempool.space JSON into `ledger_transfers`.

Input: what `GET /api/tx/:txid` returns (one transaction object) or what
`GET /api/address/:address/txs` returns (a list of them): `txid`, `vin[]` with `prevout`
(the output being spent: address and value), `vout[]`, `fee`, `status` {confirmed,
block_height, block_time}. mempool.space adds fields of its own (feePerVsize, firstSeen,
ancestors, ...), kept in extra where they are scalars.

One row per output, because an output is what moves value to an address:
- `to_address` is the output's `scriptpubkey_address` (NULL for OP_RETURN and other
  address-less scripts, whose type is in extra `scriptpubkey_type`);
- `from_address` is the first input's prevout address; when the inputs spend from more
  than one address, all of them are listed in extra `input_addresses` (a JSON list), so
  the first is never mistaken for the only payer; a coinbase input gives NULL and extra
  `coinbase` true;
- `amount` is the output value in BTC, from satoshis by an exact shift of 8 places;
- `fee` (BTC) is on the row of output 0 only, NULL on the others, so that summing `fee`
  over rows gives each transaction's fee once;
- `ts` is the block time; an unconfirmed transaction has none (NULL, status 'pending';
  mempool's `firstSeen`, when present, is kept in extra `first_seen`).

A JSON document has no lines: a record is one output, `line_no` is its 1-based position
counting outputs across the document in order, and extra `tx_index` / `vout` locate it.
A transaction that cannot be read at all counts as one record and is rejected.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import polars as pl

from forensics.loaders.agent.common import json_head, read_document, reject_document
from forensics.loaders.base import LoadContext
from forensics.loaders.ledger.common import AMOUNT, ENTRIES

_SCHEMA = {
    "line_no": pl.Int64, "ts": pl.Datetime("us", "UTC"), "chain": pl.String,
    "asset": pl.String, "tx_hash": pl.String, "block_number": pl.UInt64,
    "from_address": pl.String, "to_address": pl.String, "amount": pl.String,
    "fee": pl.String, "fee_asset": pl.String, "status": pl.String, "extra": ENTRIES,
}
_TXID = re.compile(r"^[0-9a-fA-F]{64}$")
_SNIFF_KEYS = (b'"txid"', b'"vin"', b'"vout"', b'"scriptpubkey')


class EsploraTransactions:
    """Bitcoin transaction JSON from esplora / mempool.space (one tx or a list of txs)."""

    name = "esplora-tx-json"
    family = "ledger"
    description = ("Bitcoin transactions as esplora/mempool.space JSON (vin with prevout, "
                   "vout, fee, status)")

    def sniff(self, path: str, head: bytes) -> float:
        body = json_head(head)
        if not body.startswith((b"{", b"[")):
            return 0.0
        if all(k in body for k in _SNIFF_KEYS) and b'"prevout"' in body:
            return 0.9
        return 0.0

    def load(self, ctx: LoadContext) -> None:
        doc, problem, raw = read_document(ctx)
        txs = doc if isinstance(doc, list) else [doc]
        if problem is None and not txs:
            problem = "the document is an empty list: no transaction"
        if problem is not None:
            reject_document(ctx, problem, raw)
            return
        ctx.note("line_no counts outputs across the document (1-based; a JSON document has no "
                 "lines); lines_read counts outputs; extra tx_index/vout locate each one")
        ctx.note("fee is on the row of output 0 of each transaction only")
        rows: list[dict[str, Any]] = []
        record = 0
        for tx_index, tx in enumerate(txs, start=1):
            problem = _tx_problem(tx)
            if problem:
                record += 1
                ctx.reject(record, f"transaction {tx_index}: {problem}",
                           json.dumps(tx, ensure_ascii=False))
                continue
            base = _tx_fields(tx)
            for vout, out in enumerate(tx["vout"]):
                record += 1
                why = _output_problem(out)
                if why:
                    ctx.reject(record, f"transaction {tx_index} output {vout}: {why}",
                               json.dumps(out, ensure_ascii=False))
                    continue
                extra = dict(base["extra"], tx_index=str(tx_index), vout=str(vout),
                             scriptpubkey_type=out.get("scriptpubkey_type"))
                rows.append({
                    "line_no": record, "ts": base["ts"], "chain": "bitcoin", "asset": "BTC",
                    "tx_hash": tx["txid"], "block_number": base["block"],
                    "from_address": base["from"], "to_address": out.get("scriptpubkey_address"),
                    "amount": sats_to_btc(out["value"]),
                    "fee": base["fee"] if vout == 0 else None,
                    "fee_asset": "BTC" if vout == 0 and base["fee"] is not None else None,
                    "status": base["status"],
                    "extra": [{"key": k, "value": v} for k, v in extra.items() if v is not None],
                })
        ctx.lines_read = record
        if rows:
            frame = pl.DataFrame(rows, schema=_SCHEMA).with_columns(
                pl.col("amount").cast(AMOUNT), pl.col("fee").cast(AMOUNT))
            ctx.insert("ledger_transfers", frame)


def sats_to_btc(sats: int) -> str:
    """Satoshis (a non-negative int) as exact BTC text: 49040 -> '0.00049040'."""
    return f"{sats // 100_000_000}.{sats % 100_000_000:08d}"


def _is_sats(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 21 * 10**14


def _tx_problem(tx: Any) -> str | None:
    if not isinstance(tx, dict):
        return f"a JSON {type(tx).__name__}, not a transaction object"
    if not isinstance(tx.get("txid"), str) or not _TXID.match(tx["txid"]):
        return f"field txid: {str(tx.get('txid'))[:80]!r} is not a transaction id"
    if not isinstance(tx.get("vout"), list) or not tx["vout"]:
        return "field vout: no list of outputs"
    if not isinstance(tx.get("vin"), list):
        return "field vin: no list of inputs"
    if tx.get("fee") is not None and not _is_sats(tx["fee"]):
        return f"field fee: {tx['fee']!r} is not a whole number of satoshis"
    status = tx.get("status")
    if status is not None and not isinstance(status, dict):
        return "field status: not an object"
    if isinstance(status, dict) and status.get("block_time") is not None and not _is_sats(
            status["block_time"]):
        return f"field status.block_time: {status['block_time']!r} is not Unix seconds"
    return None


def _output_problem(out: Any) -> str | None:
    if not isinstance(out, dict):
        return f"a JSON {type(out).__name__}, not an output object"
    if not _is_sats(out.get("value")):
        return f"field value: {out.get('value')!r} is not a whole number of satoshis"
    address = out.get("scriptpubkey_address")
    if address is not None and not isinstance(address, str):
        return f"field scriptpubkey_address: {address!r} is not text"
    return None


def _tx_fields(tx: dict[str, Any]) -> dict[str, Any]:
    status = tx.get("status") or {}
    confirmed = status.get("confirmed") is True
    block_time = status.get("block_time")
    ts = datetime.fromtimestamp(block_time, UTC) if confirmed and block_time is not None \
        else None
    inputs = [v for v in tx["vin"] if isinstance(v, dict)]
    coinbase = any(v.get("is_coinbase") for v in inputs)
    addresses = []
    for v in inputs:
        prev = v.get("prevout")
        addr = prev.get("scriptpubkey_address") if isinstance(prev, dict) else None
        if isinstance(addr, str) and addr not in addresses:
            addresses.append(addr)
    first = inputs[0].get("prevout") if inputs else None
    from_address = first.get("scriptpubkey_address") if isinstance(first, dict) else None
    extra: dict[str, str | None] = {
        "input_count": str(len(tx["vin"])),
        "input_addresses": json.dumps(addresses) if len(addresses) > 1 else None,
        "coinbase": "true" if coinbase else None,
        "block_hash": status.get("block_hash"),
    }
    for key in ("version", "locktime", "size", "weight", "vsize", "sigops", "feePerVsize",
                "effectiveFeePerVsize"):
        if isinstance(tx.get(key), (int, float)) and not isinstance(tx.get(key), bool):
            extra[key] = json.dumps(tx[key])
    if isinstance(tx.get("firstSeen"), int):
        extra["first_seen"] = datetime.fromtimestamp(tx["firstSeen"], UTC).isoformat()
    height = status.get("block_height")
    return {
        "ts": ts,
        "block": height if confirmed and _is_sats(height) else None,
        "from": from_address if isinstance(from_address, str) else None,
        "fee": sats_to_btc(tx["fee"]) if tx.get("fee") is not None else None,
        "status": "confirmed" if confirmed else "pending",
        "extra": extra,
    }
