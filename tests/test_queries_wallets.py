"""Keccak-256 and wallet checksums against published vectors and real addresses."""

from __future__ import annotations

import hashlib

import pytest

from forensics.queries import wallets
from forensics.queries.keccak import keccak256


@pytest.mark.parametrize("data, digest", [
    (b"", "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"),
    (b"abc", "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"),
])
def test_keccak256_known_vectors(data, digest):
    assert keccak256(data).hex() == digest


def test_keccak256_is_not_sha3_and_handles_multi_block_input():
    assert keccak256(b"").hex() != hashlib.sha3_256(b"").hexdigest()
    for n in (135, 136, 137, 500):  # around the 136-byte rate
        assert len(keccak256(b"x" * n)) == 32
    assert keccak256(b"x" * 136) != keccak256(b"x" * 137)


EIP55 = ["0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
         "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb"]


@pytest.mark.parametrize("address", EIP55)
def test_eip55_vectors(address):
    assert wallets.eth_kind(address) == "eth"
    assert wallets.eip55_checksum(address.lower()) == address
    flipped = address[:-1] + (address[-1].lower() if address[-1].isupper() else address[-1].upper())
    assert flipped == address or wallets.eth_kind(flipped) in (None, "eth_unchecked")


@pytest.mark.parametrize("address, kind", [
    ("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "btc"),             # genesis coinbase
    ("1stAprEZapjCYGUACUcXohQqSHF9MU5Kj", "btc"),              # corpus: mempool esplora tx
    ("34XC8GbijKCCvppNvhw4Ra8QZdWsg8tC11", "btc"),             # P2SH, corpus
    ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "bech32"),  # BIP-173
    ("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", "bech32"),  # upper case is valid
    ("bc1qak63vld8a97884unr6epxzkrud8xs3dfdqswy2", "bech32"),  # corpus: segwit tx
    ("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0", "bech32m"),  # BIP-350
    ("44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A",
     "xmr"),                                                    # Monero general fund
    ("0xf98c96b5d10faafc2324847c82305bd5fd7e5ad3", "eth_unchecked"),
])
def test_valid_addresses(address, kind):
    assert wallets.classify(address) == kind


@pytest.mark.parametrize("address", [
    "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb",                      # checksum off by one char
    "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5",
    "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kV8f3t4",              # mixed case
    "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",              # v1 with a bech32 checksum
    "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3B",
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD",
])
def test_invalid_addresses(address):
    assert wallets.classify(address) is None


def test_monero_round_trip_of_a_constructed_subaddress():
    body = bytes([42]) + bytes(range(64))
    raw = body + keccak256(body)[:4]
    text = ""
    for off in range(0, len(raw), 8):  # Monero block base58, 8 bytes -> 11 chars
        block = raw[off: off + 8]
        size = {8: 11, 5: 7}[len(block)]
        num, chars = int.from_bytes(block, "big"), ""
        for _ in range(size):
            num, r = divmod(num, 58)
            chars = wallets._B58[r] + chars
        text += chars
    assert len(text) == 95 and wallets.classify(text) == "xmr_subaddress"


def test_find_wallets_in_text_keeps_only_valid_ones_once():
    text = ("xmrig -u 44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBE"
            "t7f2wfn3RVGQBEP3A.rig1 then pay 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa and "
            "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa, not 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb "
            "nor deadbeef0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed")
    found = wallets.find_wallets(text)
    assert [w["kind"] for w in found] == ["xmr", "btc"]
    assert wallets.find_wallets(None) == [] and wallets.find_wallets("") == []


def test_wallet_udf_in_sql(case):
    from forensics import queries

    queries.run(case, "monetisation_wallets")  # prepares the connection
    got = case.sql("SELECT wallet_addresses('to bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4') AS w"
                   ).item()
    assert got.to_list() == [{"address": "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
                              "kind": "bech32"}]
