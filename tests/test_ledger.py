"""Ledger loaders: Etherscan CSV exports (website and API field names; normal, ERC-20 and
internal transactions), esplora / mempool.space Bitcoin transaction JSON, P2Pool payout
CSVs and the Binance account statement. Golden rows from the real corpus (values checked
by hand against the files), hand-written samples for what the corpus lacks (internal
transactions with the extra field, API exports in wei, multi-input and coinbase Bitcoin
transactions, p2pool.observer payouts), exact decimal amounts, bad input in `rejects`, and
sniffing across every corpus file of every family."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import polars as pl
import pytest

import forensics
from forensics.loaders import sniff
from forensics.loaders.reading import read_head
from tests.conftest import CORPUS, corpus_dir, corpus_file, manifest_rows
from tests.loader_checks import check, ev_row, load_ok, rejects_of, stored_row

LEDGER_FORMATS = {"etherscan-txlist-csv", "etherscan-erc20-csv", "etherscan-internal-csv",
                  "esplora-tx-json", "p2pool-payouts-csv", "binance-statement-csv"}
CORPUS_FORMATS = {
    "etherscan_txlist_0x003dc.csv": ("etherscan-txlist-csv", 482),
    "etherscan_erc20_0x003dc.csv": ("etherscan-erc20-csv", 428),
    "mempool_esplora_tx_p2pkh.json": ("esplora-tx-json", 1),
    "mempool_tx_cached_segwit.json": ("esplora-tx-json", 1),
    "p2pool_xmr_payouts_daily.csv": ("p2pool-payouts-csv", 206),
    "binance_statement.csv": ("binance-statement-csv", 27),
}
# Corpus files that are not ledgers of transfers, deliberately left unclaimed:
NOT_LEDGERS = {
    "p2pool_xmr_sharesfound.csv",     # shares found (mining events), no value moved
    "mempool_ws_stratum_jobs.json",   # Stratum mining.notify jobs (work templates)
    "mempool_mining_pools_1w.json",   # pool statistics (block counts, hashrate shares)
    "mempool_ws_blocks.json",         # block summaries (reward, fee range), not transfers
}
WALLET = "0x003dc32fe920a4aaeed12dc87e145f030aa753f3"


def row_at(case, evidence_id: int, line_no: int) -> dict:
    return stored_row(case, "ledger_transfers", evidence_id, line_no)


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


D = Decimal


# ---------------------------------------------------------------------------------------
# corpus
# ---------------------------------------------------------------------------------------


def test_manifest_lists_every_blockchain_file():
    names = {r["local_name"] for r in manifest_rows("blockchain")}
    assert names == set(CORPUS_FORMATS) | NOT_LEDGERS


@pytest.mark.parametrize("name", sorted(CORPUS_FORMATS))
def test_corpus_file_loads_with_no_rejects(case, name):
    fmt, rows = CORPUS_FORMATS[name]
    res = load_ok(case, corpus_file("blockchain", name), rows=rows)
    assert res.format == fmt


@pytest.mark.parametrize("name", sorted(NOT_LEDGERS))
def test_reference_data_is_not_claimed(case, name):
    res = case.load(str(corpus_file("blockchain", name))).files[0]
    assert res.status == "unrecognised"


def test_golden_etherscan_txlist(case):
    res = load_ok(case, corpus_file("blockchain", "etherscan_txlist_0x003dc.csv"), rows=482)
    # line 2: "0xb41d6819...","4344914","1507383978","2017-10-07 13:46:18",
    # "0xf98c96b5d10faafc2324847c82305bd5fd7e5ad3","0x003dc32f...","","0.5","0",
    # "1132.01998337566","0.000441","0.998441625337332","311.26","","","Transfer"
    row = row_at(case, res.evidence_id, 2)
    check(row, {
        "ts": ts("2017-10-07 13:46:18"), "chain": "ethereum", "asset": "ETH",
        "token_contract": None,
        "tx_hash": "0xb41d6819932845278e7c451400f1778a952b35c6358dc51b49436438753f5113",
        "block_number": 4344914, "from_address": "0xf98c96b5d10faafc2324847c82305bd5fd7e5ad3",
        "to_address": WALLET, "amount": D("0.5"), "fee": D("0.000441"), "fee_asset": "ETH",
        "direction": "in", "wallet": WALLET, "status": "confirmed",
        "extra": {"DateTime (UTC)": "2017-10-07 13:46:18",
                  "CurrentValue @ $2264.03996675132/Eth": "1132.01998337566",
                  "TxnFee(USD)": "0.998441625337332", "Historical $Price/Eth": "311.26",
                  "Method": "Transfer"},
    })
    # line 323: a failed swap: Status "Error(1)", ErrCode "Reverted", fee 0.06845904 paid
    failed = row_at(case, res.evidence_id, 323)
    check(failed, {"status": "failed", "direction": "out", "amount": D("0"),
                   "fee": D("0.06845904")})
    assert failed["extra"]["Status"] == "Error(1)" and failed["extra"]["ErrCode"] == "Reverted"
    counts = dict(case.sql("SELECT status, count(*) FROM ledger_transfers GROUP BY 1").rows())
    assert counts == {"confirmed": 454, "failed": 28}  # 24 Error(0) + 4 Error(1) in the file


def test_golden_etherscan_erc20(case):
    res = load_ok(case, corpus_file("blockchain", "etherscan_erc20_0x003dc.csv"), rows=428)
    # line 5: "0x35b1d2ef...","4869066","1515330124","2018-01-07 13:02:04",
    # "0x3f5ce5fbfe3e9af3971dd833d26ba9b5c936f0be","0x003dc32f...","3,067.671","$709.50",
    # "0x0f5d2fb29fb7d3cfee444a200298f468908cc942","Decentraland","MANA"
    row = row_at(case, res.evidence_id, 5)
    check(row, {
        "ts": ts("2018-01-07 13:02:04"), "chain": "ethereum", "asset": "MANA",
        "token_contract": "0x0f5d2fb29fb7d3cfee444a200298f468908cc942",
        "tx_hash": "0x35b1d2ef648a40dfa7492dfd188c30257565a205b6559c18955e9598c23c70d8",
        "block_number": 4869066, "from_address": "0x3f5ce5fbfe3e9af3971dd833d26ba9b5c936f0be",
        "to_address": WALLET, "amount": D("3067.671"), "fee": None, "fee_asset": None,
        "direction": "in", "wallet": WALLET, "status": "confirmed",
        "extra": {"DateTime (UTC)": "2018-01-07 13:02:04", "USDValueDayOfTx": "$709.50",
                  "TokenName": "Decentraland"},
    })
    # line 3: a mint from the zero address, "777" INSP, USDValueDayOfTx "N/A"
    mint = row_at(case, res.evidence_id, 3)
    check(mint, {"from_address": "0x0000000000000000000000000000000000000000",
                 "amount": D("777"), "asset": "INSP"})
    notes = ev_row(case, res.evidence_id)["notes"]
    assert any("taken as ethereum" in n for n in notes)


def test_golden_esplora_p2pkh(case):
    res = load_ok(case, corpus_file("blockchain", "mempool_esplora_tx_p2pkh.json"), rows=1)
    # vin[0].prevout: 1stAprEZapjCYGUACUcXohQqSHF9MU5Kj, 50000 sat; vout[0]: same address,
    # 49040 sat; fee 960; status {confirmed: false}; size 224, weight 896, sigops 4
    row = row_at(case, res.evidence_id, 1)
    check(row, {
        "ts": None, "chain": "bitcoin", "asset": "BTC", "token_contract": None,
        "tx_hash": "b6a53d8a8025c0c5b194345925a99741b645cae0b1f180f0613273029f2bf698",
        "block_number": None, "from_address": "1stAprEZapjCYGUACUcXohQqSHF9MU5Kj",
        "to_address": "1stAprEZapjCYGUACUcXohQqSHF9MU5Kj", "amount": D("0.00049040"),
        "fee": D("0.00000960"), "fee_asset": "BTC", "direction": None, "wallet": None,
        "status": "pending",
        "extra": {"input_count": "1", "version": "2", "locktime": "0", "size": "224",
                  "weight": "896", "sigops": "4", "tx_index": "1", "vout": "0",
                  "scriptpubkey_type": "p2pkh"},
    })


def test_golden_mempool_cached_segwit(case):
    res = load_ok(case, corpus_file("blockchain", "mempool_tx_cached_segwit.json"), rows=1)
    # prevout bc1qmxr9...32tk 253017648 sat -> vout bc1qak63...wy2 253008854 sat, fee 8794,
    # firstSeen 1683864993, feePerVsize 80.49427917620137
    row = row_at(case, res.evidence_id, 1)
    check(row, {"from_address": "bc1qmxr9gxrtjrv4mflrrgcf986mtd4q4ujss432tk",
                "to_address": "bc1qak63vld8a97884unr6epxzkrud8xs3dfdqswy2",
                "amount": D("2.53008854"), "fee": D("0.00008794"), "status": "pending",
                "ts": None})
    assert row["extra"]["first_seen"] == "2023-05-12T04:16:33+00:00"
    assert row["extra"]["feePerVsize"] == "80.49427917620137"
    assert row["extra"]["scriptpubkey_type"] == "v0_p2wpkh"


def test_golden_p2pool_running_totals(case):
    res = load_ok(case, corpus_file("blockchain", "p2pool_xmr_payouts_daily.csv"), rows=206)
    # line 2: "2024-11-09,0.0011" (first total); line 3: "2024-11-10,0.0019"
    first = row_at(case, res.evidence_id, 2)
    check(first, {
        "ts": ts("2024-11-09 00:00:00"), "chain": "monero", "asset": "XMR",
        "token_contract": None, "tx_hash": None, "block_number": None, "from_address": None,
        "to_address": None, "amount": D("0.0011"), "fee": None, "fee_asset": None,
        "direction": "in", "wallet": None, "status": "confirmed",
        "extra": {"cumulative_total": "0.0011", "source": "db4e daily running total"},
    })
    second = row_at(case, res.evidence_id, 3)
    check(second, {"amount": D("0.0008"), "ts": ts("2024-11-10 00:00:00")})
    assert second["extra"]["cumulative_total"] == "0.0019"
    (total,) = case.sql("SELECT sum(amount) FROM ledger_transfers").row(0)
    assert total == D("0.1504")  # the last line's running total, exactly
    notes = ev_row(case, res.evidence_id)["notes"]
    assert any("running total" in n for n in notes)


def test_golden_binance(case):
    res = load_ok(case, corpus_file("blockchain", "binance_statement.csv"), rows=27)
    # line 4: "11680152","2017-12-04 20:51:10","Spot","Sell","ETH","-0.49603680",""
    row = row_at(case, res.evidence_id, 4)
    check(row, {
        "ts": ts("2017-12-04 20:51:10"), "chain": "binance", "asset": "ETH",
        "token_contract": None, "tx_hash": None, "block_number": None, "from_address": None,
        "to_address": None, "amount": D("0.49603680"), "fee": None, "fee_asset": None,
        "direction": "out", "wallet": "11680152", "status": "completed",
        "extra": {"change": "-0.49603680", "operation": "Sell", "account": "Spot"},
    })
    # line 10: "...","2017-12-17 12:20:03","Spot","Distribution","ETF","6.0E-7","ETH ETF 分发"
    dist = row_at(case, res.evidence_id, 10)
    check(dist, {"amount": D("0.0000006"), "direction": "in", "asset": "ETF"})
    assert dist["extra"]["remark"] == "ETH ETF 分发"


# ---------------------------------------------------------------------------------------
# Etherscan samples the corpus lacks
# ---------------------------------------------------------------------------------------

H = "0x" + "ab" * 32
A1 = "0xAb5801a7D398351b8bE11C439e05C5B3259aeC9B"  # checksum case, kept as written
A2 = "0x1111111254eeb25477b68fb85ed929f73a960582"
A3 = "0x7a250d5630B4cF539739dF2C5dAcb4c659F2488D"
INTERNAL_HEADER = ('"Txhash","Blockno","UnixTimestamp","DateTime (UTC)","ParentTxFrom",'
                   '"ParentTxTo","ParentTxETH_Value","From","TxTo","ContractAddress",'
                   '"Value_IN(ETH)","Value_OUT(ETH)","CurrentValue @ $3114.81/Eth",'
                   '"Historical $Price/Eth","Status","ErrCode","Type"')


def _q(*fields: str) -> str:
    return ",".join(f'"{f}"' for f in fields)


def test_etherscan_internal_with_one_field_more(case, tmp_path):
    lines = [
        INTERNAL_HEADER,
        # 18 fields (the website's quirk): an unnamed field before Type
        _q(H, "17000000", "1680000000", "2023-03-28 10:40:00", A1, A2, "0", A2, A1, "",
           "0.25", "0", "778.7", "1800.5", "0", "", "", "call"),
        # 17 fields, as the header says
        _q(H, "17000001", "1680000012", "2023-03-28 10:40:12", A1, A2, "0", A1, A2, "",
           "0", "0.1", "311.4", "1800.5", "0", "", "call"),
        # 18 fields with something in the unnamed one (from another contract, A3)
        _q(H, "17000002", "1680000024", "2023-03-28 10:40:24", A1, A2, "0", A3, A1, "",
           "1", "0", "3114.8", "1800.5", "0", "", "note", "create"),
    ]
    path = tmp_path / "export-internal.csv"
    path.write_text("\n".join(lines) + "\n")
    fmt, _ = sniff(str(path), read_head(path))
    assert fmt.name == "etherscan-internal-csv"
    res = load_ok(case, path, rows=3)
    first = row_at(case, res.evidence_id, 2)
    check(first, {"ts": ts("2023-03-28 10:40:00"), "asset": "ETH", "chain": "ethereum",
                  "from_address": A2, "to_address": A1, "amount": D("0.25"), "fee": None,
                  "direction": "in", "wallet": A1, "block_number": 17000000})
    assert first["extra"]["Type"] == "call" and "unnamed_field" not in first["extra"]
    assert first["extra"]["ParentTxFrom"] == A1
    second = row_at(case, res.evidence_id, 3)
    check(second, {"amount": D("0.1"), "direction": "out"})
    assert second["extra"]["Type"] == "call"
    third = row_at(case, res.evidence_id, 4)
    assert third["extra"]["Type"] == "create" and third["extra"]["unnamed_field"] == "note"
    notes = ev_row(case, res.evidence_id)["notes"]
    assert any("one field more than the header" in n for n in notes)


def test_etherscan_internal_two_fields_more_is_rejected(case, tmp_path):
    lines = [INTERNAL_HEADER,
             _q(H, "1", "1680000000", "x", A1, A2, "0", A2, A1, "", "1", "0", "1", "1", "0",
                "", "", "", "call")]
    path = tmp_path / "internal.csv"
    path.write_text("\n".join(lines) + "\n")
    res = load_ok(case, path, rows=0, rejects=1)
    assert rejects_of(case, res.evidence_id) == {2: "expected 17 columns, found more"}


def test_etherscan_api_txlist_in_wei(case, tmp_path):
    header = ("blockNumber,timeStamp,hash,nonce,blockHash,transactionIndex,from,to,value,gas,"
              "gasPrice,isError,txreceipt_status,input,contractAddress,cumulativeGasUsed,"
              "gasUsed,confirmations,methodId,functionName")
    lines = [header,
             f"19000000,1705000000,{H},5,{H},12,{A1},{A2},1500000000000000000,21000,"
             f"30000000000,0,1,0x,,1234567,21000,100,0x,",
             f"19000001,1705000012,{H},6,{H},3,{A1},{A2},1,90000,"
             f"123456789012345678,1,0,0x,,1234567,89999,99,0xa9059cbb,transfer(address a)"]
    path = tmp_path / "txlist.csv"
    path.write_text("\n".join(lines) + "\n")
    assert sniff(str(path), read_head(path))[0].name == "etherscan-txlist-csv"
    res = load_ok(case, path, rows=2)
    row = row_at(case, res.evidence_id, 2)
    check(row, {"ts": ts("2024-01-11 19:06:40"), "amount": D("1.5"),
                "fee": D("0.00063"),  # 21000 gas * 30 gwei
                "from_address": A1, "to_address": A2, "status": "confirmed",
                "block_number": 19000000, "tx_hash": H, "asset": "ETH", "fee_asset": "ETH"})
    big = row_at(case, res.evidence_id, 3)
    # 1 wei; fee 89999 * 123456789012345678 wei = 11110987554322098674322 wei, exactly
    check(big, {"amount": D("0.000000000000000001"), "fee": D("11110.987554322098674322"),
                "status": "failed"})
    assert big["extra"]["functionName"] == "transfer(address a)"


def test_etherscan_api_tokentx_decimals(case, tmp_path):
    header = ("blockNumber,timeStamp,hash,nonce,blockHash,from,contractAddress,to,value,"
              "tokenName,tokenSymbol,tokenDecimal,transactionIndex,gas,gasPrice,gasUsed,"
              "cumulativeGasUsed,input,confirmations")
    usdt = "0xdAC17F958D2ee523a2206206994597C13D831ec7"
    lines = [header,
             f"1,1705000000,{H},1,{H},{A1},{usdt},{A2},2500000000,Tether USD,USDT,6,1,1,1,1,1,"
             "deprecated,1",
             f"1,1705000000,{H},1,{H},{A1},{usdt},{A2},1,Wrapped Ether,WETH,18,1,1,1,1,1,x,1",
             f"1,1705000000,{H},1,{H},{A1},{usdt},{A2},1234,Odd,ODD,24,1,1,1,1,1,x,1"]
    path = tmp_path / "tokentx.csv"
    path.write_text("\n".join(lines) + "\n")
    assert sniff(str(path), read_head(path))[0].name == "etherscan-erc20-csv"
    res = load_ok(case, path, rows=2, rejects=1)
    check(row_at(case, res.evidence_id, 2), {"amount": D("2500"), "asset": "USDT",
                                             "token_contract": usdt})
    check(row_at(case, res.evidence_id, 3), {"amount": D("0.000000000000000001")})
    assert rejects_of(case, res.evidence_id) == {
        4: "field value: '1234' is not an amount that DECIMAL(38,18) holds exactly"}


def test_etherscan_api_internal(case, tmp_path):
    header = ("blockNumber,timeStamp,hash,from,to,value,contractAddress,input,type,gas,"
              "gasUsed,traceId,isError,errCode")
    lines = [header, f"5,1705000000,{H},{A2},{A1},250000000000000000,,,call,0,0,0_1,0,"]
    path = tmp_path / "internal-api.csv"
    path.write_text("\n".join(lines) + "\n")
    assert sniff(str(path), read_head(path))[0].name == "etherscan-internal-csv"
    res = load_ok(case, path, rows=1)
    # one row: both addresses are on every row, so the export does not say whose it is
    check(row_at(case, res.evidence_id, 2), {"amount": D("0.25"), "fee": None,
                                             "direction": None, "wallet": None})
    assert any("no single address" in n for n in ev_row(case, res.evidence_id)["notes"])
    from forensics.ingest import load_files
    from forensics.loaders import LoadOptions
    other = forensics.open_case(":memory:")
    report = load_files(other, [str(path)], options=LoadOptions(extra={"wallet": A1}))
    assert report.files[0].status == "loaded"
    row = other.sql("SELECT direction, wallet FROM ledger_transfers").row(0)
    assert row == ("in", A1)
    other.close()


def test_etherscan_wallet_is_the_address_on_every_row_of_the_file(case, tmp_path):
    # The first rows run between the same two addresses, and a blank line ends the first
    # run of lines: the wallet (A1) was decided on that run alone, which could not tell
    # A1 from A2, so its rows were stored with no wallet and no direction.
    header = ("blockNumber,timeStamp,hash,from,to,value,contractAddress,input,type,gas,"
              "gasUsed,traceId,isError,errCode")
    row = "5,1705000000,{h},{src},{dst},250000000000000000,,,call,0,0,0_1,0,"
    lines = [header, row.format(h=H, src=A2, dst=A1), row.format(h=H, src=A1, dst=A2), "",
             row.format(h=H, src=A3, dst=A1.lower()), row.format(h=H, src=A1, dst=A3)]
    path = tmp_path / "internal-api.csv"
    path.write_text("\n".join(lines) + "\n")
    res = load_ok(case, path, rows=4)
    stored = case.sql("SELECT line_no, direction, wallet FROM ledger_transfers "
                      "WHERE evidence_id = ? ORDER BY line_no", [res.evidence_id]).rows()
    assert stored == [(2, "in", A1), (3, "out", A1), (5, "in", A1), (6, "out", A1)]
    notes = ev_row(case, res.evidence_id)["notes"]
    assert not any("no single address" in n for n in notes)


def test_etherscan_bad_input_lands_in_rejects(case, tmp_path):
    src = corpus_file("blockchain", "etherscan_txlist_0x003dc.csv").read_text().splitlines()
    header, good, good2 = src[0], src[1], src[2]
    fields = [f.strip('"') for f in good.split('","')]

    def variant(i: int, value: str) -> str:
        f = list(fields)
        f[i] = value
        return _q(*f)

    body = [header,
            good,                          # 2 ok
            good[: len(good) // 2] + '"',  # 3 truncated line
            good + ',"surplus"',           # 4 one field too many
            variant(7, "0.5.1"),           # 5 bad number in Value_IN(ETH)
            variant(2, "17x"),             # 6 bad time
            variant(4, "0xZZZ"),           # 7 bad address
            "",                            # 8 blank
            good2]                         # 9 ok
    path = tmp_path / "txlist.csv"
    path.write_text("\n".join(body) + "\n")
    res = load_ok(case, path, rows=2, rejects=5)
    rej = rejects_of(case, res.evidence_id)
    assert sorted(rej) == [3, 4, 5, 6, 7]
    assert "expected 16 columns, found" in rej[3]
    assert rej[4] == "expected 16 columns, found more"
    assert rej[5] == ("field Value_IN(ETH): '0.5.1' is not a decimal amount that "
                      "DECIMAL(38,18) holds exactly")
    assert rej[6] == "field UnixTimestamp: '17x' is not Unix seconds"
    assert rej[7] == "field From: '0xZZZ' is not an 0x address"
    assert ev_row(case, res.evidence_id)["blank_lines"] == 1
    assert case.sql("SELECT line_no FROM ledger_transfers ORDER BY 1")["line_no"].to_list() \
        == [2, 9]


# ---------------------------------------------------------------------------------------
# Bitcoin samples: several transactions, several inputs, coinbase, OP_RETURN
# ---------------------------------------------------------------------------------------


def _tx(txid: str, vin: list, vout: list, fee: int | None, status: dict) -> dict:
    return {"txid": txid, "version": 2, "locktime": 0, "vin": vin, "vout": vout,
            "size": 300, "weight": 900, "fee": fee, "status": status}


def _out(addr: str | None, value, kind: str = "v0_p2wpkh") -> dict:
    out = {"scriptpubkey": "00", "scriptpubkey_type": kind, "value": value}
    if addr:
        out["scriptpubkey_address"] = addr
    return out


def _in(addr: str, value: int) -> dict:
    return {"txid": "00" * 32, "vout": 0, "is_coinbase": False,
            "prevout": {"scriptpubkey_address": addr, "value": value}}


def test_esplora_address_txs_list(case, tmp_path):
    confirmed = {"confirmed": True, "block_height": 840000, "block_time": 1713571767,
                 "block_hash": "00" * 32}
    txs = [
        _tx("aa" * 32, [_in("bc1qpayer1", 60_000_000), _in("bc1qpayer2", 50_000_000)],
            [_out("bc1qminer", 100_000_000), _out(None, 0, "op_return"),
             _out("bc1qpayer1", 9_990_000)], 10_000, confirmed),
        _tx("bb" * 32, [{"txid": "00" * 32, "vout": 4294967295, "is_coinbase": True,
                         "prevout": None}],
            [_out("bc1qpool", 312_500_000 + 12_345)], 0, confirmed),
    ]
    path = tmp_path / "address_txs.json"
    path.write_text(json.dumps(txs))
    assert sniff(str(path), read_head(path))[0].name == "esplora-tx-json"
    res = load_ok(case, path, rows=4)
    first = row_at(case, res.evidence_id, 1)
    check(first, {"ts": datetime(2024, 4, 20, 0, 9, 27, tzinfo=UTC), "block_number": 840000,
                  "from_address": "bc1qpayer1", "to_address": "bc1qminer", "amount": D("1"),
                  "fee": D("0.0001"), "fee_asset": "BTC", "status": "confirmed"})
    assert first["extra"]["input_addresses"] == '["bc1qpayer1", "bc1qpayer2"]'
    op_return = row_at(case, res.evidence_id, 2)
    check(op_return, {"to_address": None, "amount": D("0"), "fee": None, "fee_asset": None})
    assert op_return["extra"]["scriptpubkey_type"] == "op_return"
    coinbase = row_at(case, res.evidence_id, 4)
    check(coinbase, {"from_address": None, "amount": D("3.12512345"), "fee": D("0")})
    assert coinbase["extra"]["coinbase"] == "true" and coinbase["extra"]["tx_index"] == "2"
    (fees,) = case.sql("SELECT sum(fee) FROM ledger_transfers").row(0)
    assert fees == D("0.0001")  # each transaction's fee counted once


def test_esplora_bad_input(case, tmp_path):
    pending = {"confirmed": False}
    txs = [
        _tx("cc" * 32, [_in("bc1qa", 10)], [_out("bc1qb", 5), _out("bc1qc", 1.5),
                                            _out("bc1qd", -1)], 1, pending),
        _tx("not-a-txid", [_in("bc1qa", 10)], [_out("bc1qb", 5)], 1, pending),
        _tx("dd" * 32, [_in("bc1qa", 10)], [_out("bc1qb", 5)], 1, pending),
    ]
    path = tmp_path / "txs.json"
    path.write_text(json.dumps(txs))
    res = load_ok(case, path, rows=2, rejects=3)
    assert rejects_of(case, res.evidence_id) == {
        2: "transaction 1 output 1: field value: 1.5 is not a whole number of satoshis",
        3: "transaction 1 output 2: field value: -1 is not a whole number of satoshis",
        4: "transaction 2: field txid: 'not-a-txid' is not a transaction id",
    }
    assert row_at(case, res.evidence_id, 5)["tx_hash"] == "dd" * 32
    broken = tmp_path / "broken.json"
    broken.write_text('{"txid": "' + "ee" * 32 + '", "vin": [{"prevout": {"scriptpubkey"')
    res = load_ok(case, broken, rows=0, rejects=1, format="esplora-tx-json")
    assert "not a valid JSON document" in rejects_of(case, res.evidence_id)[1]


# ---------------------------------------------------------------------------------------
# P2Pool and Binance samples
# ---------------------------------------------------------------------------------------


def test_p2pool_observer_payouts(case, tmp_path):
    lines = ["miner,timestamp,main_height,main_id,coinbase_id,coinbase_reward,side_height",
             "4AdUndXHHZ6cfufTMvppY6JwXNouMBzSkbLYfpAV5Usx3skxNgYeYTRj5UzqtReoS44qo9mtmXCqY45"
             "DJ852K5Jv2684Rge,1713571767,3150000," + "11" * 32 + "," + "22" * 32
             + ",600000000,7000000",
             "4Adu,1713571800,3150001,x,y,12.5,1"]
    path = tmp_path / "payouts.csv"
    path.write_text("\n".join(lines) + "\n")
    assert sniff(str(path), read_head(path))[0].name == "p2pool-payouts-csv"
    res = load_ok(case, path, rows=1, rejects=1)
    row = row_at(case, res.evidence_id, 2)
    check(row, {"amount": D("0.0006"), "asset": "XMR", "chain": "monero",
                "ts": datetime(2024, 4, 20, 0, 9, 27, tzinfo=UTC), "block_number": 3150000,
                "tx_hash": "22" * 32, "direction": "in"})
    assert row["to_address"].startswith("4AdUndXHHZ6cfufT")
    assert row["extra"] == {"main_id": "11" * 32, "side_height": "7000000"}
    assert rejects_of(case, res.evidence_id) == {
        3: "field coinbase_reward: '12.5' is not an integer in atomic units"}


def test_p2pool_bad_input(case, tmp_path):
    body = ["Date,Total", "2024-11-09,0.0011", "2024-13-01,0.0015", "2024-11-11,abc",
            "2024-11-12,0.0030,9", "", "2024-11-13,0.0033"]
    path = tmp_path / "p2pool_payouts.csv"
    path.write_text("\n".join(body) + "\n")
    res = load_ok(case, path, rows=2, rejects=3)
    assert rejects_of(case, res.evidence_id) == {
        3: "field Date: '2024-13-01' is not a YYYY-MM-DD date",
        4: "field Total: 'abc' is not a decimal amount that DECIMAL(38,18) holds exactly",
        5: "expected 2 columns, found more",
    }
    check(row_at(case, res.evidence_id, 7), {"amount": D("0.0022")})  # 0.0033 - 0.0011
    assert any("rejected row lies between" in n for n in ev_row(case, res.evidence_id)["notes"])


def test_binance_bad_input(case, tmp_path):
    src = corpus_file("blockchain", "binance_statement.csv").read_text().splitlines()
    body = [src[0], src[1],
            '"11680152","2017-12-04 25:13:15","Spot","Deposit","ETH","1",""',
            '"11680152","2017-12-04 19:13:15","Spot","Deposit","ETH","1e",""',
            '"11680152","2017-12-04 19:13:15","Spot","Deposit","ETH"',
            '"11680152","2017-12-04 19:13:15","Spot","Deposit","ETH","1","","x"',
            src[2]]
    path = tmp_path / "statement.csv"
    path.write_text("\n".join(body) + "\n")
    res = load_ok(case, path, rows=2, rejects=4)
    assert rejects_of(case, res.evidence_id) == {
        3: "field UTC_Time: '2017-12-04 25:13:15' is not a 'YYYY-MM-DD HH:MM:SS' time",
        4: "field Change: '1e' is not a decimal amount that DECIMAL(38,18) holds exactly",
        5: "expected 7 columns, found 5 (truncated line?)",
        6: "expected 7 columns, found more",
    }


# ---------------------------------------------------------------------------------------
# exact decimals
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "shift", "expected"), [
    ("1000000000000000000", -18, "1"), ("1", -18, "0.000000000000000001"),
    ("6.0E-7", 0, "0.0000006"), ("-0.49603680", 0, "-0.4960368"), ("0", -8, "0"),
    ("12345678901234567890123456789012345678", -18, "12345678901234567890.123456789012345678"),
    ("1e-19", 0, None), ("123456789012345678901", 0, None), ("1,000", 0, None), ("", 0, None),
    ("abc", 0, None), ("1e400", 0, None),
])
def test_exact_decimal(text, shift, expected):
    from forensics.loaders.ledger.common import exact_decimal
    value, ok = exact_decimal(pl.col("t"), shift)
    out = pl.DataFrame({"t": [text]}).select(value.alias("v"), ok.alias("ok")).row(0)
    if expected is None:
        assert out == (None, False)
    else:
        assert out[1] is True and out[0] == Decimal(expected)


# ---------------------------------------------------------------------------------------
# sniffing: every corpus file of every family
# ---------------------------------------------------------------------------------------


def test_sniff_cross_product():
    corpus_dir("blockchain")
    files = sorted(p for p in CORPUS.glob("*/*") if p.is_file())
    assert len(files) > 30
    for path in files:
        fmt, scores = sniff(str(path), read_head(path))
        claims = [(n, s) for n, s in scores if n in LEDGER_FORMATS and s >= 0.5]
        if path.parent.name == "blockchain" and path.name in CORPUS_FORMATS:
            assert fmt is not None and fmt.name == CORPUS_FORMATS[path.name][0], path
            assert len(claims) == 1, (path, claims)
        else:
            assert claims == [], (path, claims)
        if path.name in NOT_LEDGERS:
            assert fmt is None, (path, fmt.name)


def test_not_ledgers_are_documented_in_manifest():
    notes = {r["local_name"]: r["note"] for r in manifest_rows("blockchain")}
    assert "shares-found" in notes["p2pool_xmr_sharesfound.csv"]
    assert "stratumJobs" in notes["mempool_ws_stratum_jobs.json"]
    assert "mining/pools" in notes["mempool_mining_pools_1w.json"]
    assert "'blocks'" in notes["mempool_ws_blocks.json"]
