"""Wallet evidence: an Etherscan "Download CSV" export of one address (normal
transactions) and a Db4E-style P2Pool payouts CSV (`Date,Total`, daily running totals).

Etherscan quotes every field and bakes the export day's price into a column name; ETH
addresses are written all-lowercase, which is valid (non-checksummed) hex: EIP-55 mixed
case needs Keccak-256, which the standard library does not have. The Db4E file holds a
running total rounded to 4 decimals per day, so a day's payout is the difference of two
rows. Both are small, so rows are built in Python.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from pathlib import Path
from typing import Any

from forensics.scenarios import model as m
from forensics.scenarios.writing import Located

ETH_PRICE = Decimal("2411.87")
ETHERSCAN_HEADER = ["Txhash", "Blockno", "UnixTimestamp", "DateTime (UTC)", "From", "To",
                    "ContractAddress", "Value_IN(ETH)", "Value_OUT(ETH)",
                    f"CurrentValue @ ${ETH_PRICE}/Eth", "TxnFee(ETH)", "TxnFee(USD)",
                    "Historical $Price/Eth", "Status", "ErrCode", "Method"]
BLOCK0 = 24_571_000  # an Ethereum block height around the base date (12 s blocks)


def address(label: str) -> str:
    """A deterministic, clearly synthetic lowercase ETH address for a label."""
    return "0x" + hashlib.sha256(f"forensics-scenario:{label}".encode()).hexdigest()[:40]


def txhash(label: str) -> str:
    return "0x" + hashlib.sha256(f"forensics-tx:{label}".encode()).hexdigest()


def eth_row(us: int, sender: str, to: str, value: Decimal, wallet: str, label: str,
            method: str = "Transfer", price: Decimal = Decimal("2387.12"), tag: str | None = None,
            shows: list[str] | None = None) -> dict[str, Any]:
    fee = Decimal("0.000441")
    inbound = to == wallet
    fields = [txhash(label), str(BLOCK0 + (us - m.BASE_US) // (12 * m.US)), str(us // m.US),
              m.iso(us, sep=" ", z=""), sender, to, "",
              _d(value) if inbound else "0", "0" if inbound else _d(value),
              _d((value * ETH_PRICE).quantize(Decimal("0.00000000001"))),
              _d(fee), _d((fee * price).quantize(Decimal("0.000000000001"))), _d(price), "", "",
              method]
    return {"ts": us, "line": ",".join(f'"{f}"' for f in fields), "tag": tag,
            "shows": list(shows or [])}


def _d(v: Decimal) -> str:
    text = format(v.normalize(), "f")
    return text


def write_etherscan(path: Path, rows: list[dict[str, Any]]) -> Located:
    rows = sorted(rows, key=lambda r: r["ts"])
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [",".join(f'"{h}"' for h in ETHERSCAN_HEADER)] + [r["line"] for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return [(r["tag"], i, r["shows"]) for i, r in enumerate(rows, start=2) if r["tag"]]


def write_payouts(path: Path, daily: list[tuple[str, Decimal, str | None, list[str]]]) -> Located:
    """`daily`: (date, that day's payout in XMR, tag, shows); written as running totals."""
    total = Decimal(0)
    lines = ["Date,Total"]
    located: Located = []
    for i, (day, amount, tag, shows) in enumerate(daily, start=2):
        total += amount
        lines.append(f"{day},{total.quantize(Decimal('0.0001'))}")
        if tag:
            located.append((tag, i, [day, *shows]))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return located
