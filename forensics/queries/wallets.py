"""Crypto wallet addresses in free text, kept only when their checksum is valid.

A regular expression alone calls every long hex string or base58-looking token a wallet;
checksums cut that to addresses a wallet could actually pay to. Supported: Ethereum
(`0x` + 40 hex; EIP-55 checked when mixed case, all-lower/all-upper carry no checksum and
are reported as `eth_unchecked`), Bitcoin Base58Check P2PKH/P2SH (double SHA-256), Bitcoin
segwit bech32 (v0) and bech32m (v1+, taproot), and Monero standard, subaddress and
integrated addresses (Monero's block base58 with a Keccak-256 checksum).

`find_wallets` is registered as the DuckDB scalar UDF `wallet_addresses(text)` by
`forensics.queries.runner`, so queries call it after a cheap SQL regexp pre-filter.
"""

from __future__ import annotations

import hashlib
import re

from forensics.queries.keccak import keccak256

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(_B58)}
_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32_INDEX = {c: i for i, c in enumerate(_BECH32)}
_BECH32_CONST, _BECH32M_CONST = 1, 0x2BC830A3

# Candidate tokens; every match is then checked. Word boundaries keep substrings of longer
# tokens (hashes, base64) from matching.
CANDIDATE = re.compile(
    r"(?<![0-9A-Za-z])("
    r"0x[0-9a-fA-F]{40}"                                   # ethereum
    r"|(?:bc|BC)1[02-9ac-hj-np-zAC-HJ-NP-Z]{11,87}"        # bech32 / bech32m
    r"|[48][1-9A-HJ-NP-Za-km-z]{94}(?:[1-9A-HJ-NP-Za-km-z]{11})?"  # monero 95 / 106
    r"|[13][1-9A-HJ-NP-Za-km-z]{25,34}"                    # bitcoin base58check
    r")(?![0-9A-Za-z])"
)
# The same alternatives as a DuckDB (RE2) pattern, for the SQL pre-filter.
SQL_PREFILTER = (
    r"0x[0-9a-fA-F]{40}|[bB][cC]1[02-9ac-hj-np-zAC-HJ-NP-Z]{11,87}"
    r"|[48][1-9A-HJ-NP-Za-km-z]{94}|[13][1-9A-HJ-NP-Za-km-z]{25,34}"
)


def b58decode(text: str) -> bytes | None:
    """Plain Bitcoin base58 to bytes (leading '1's are zero bytes); None if not base58."""
    num = 0
    for ch in text:
        if ch not in _B58_INDEX:
            return None
        num = num * 58 + _B58_INDEX[ch]
    body = num.to_bytes((num.bit_length() + 7) // 8, "big") if num else b""
    return b"\x00" * (len(text) - len(text.lstrip("1"))) + body


def is_base58check(address: str) -> bool:
    """Bitcoin P2PKH (version 0x00) or P2SH (0x05): 25 bytes, sha256d checksum."""
    raw = b58decode(address)
    if raw is None or len(raw) != 25 or raw[0] not in (0x00, 0x05):
        return False
    digest = hashlib.sha256(hashlib.sha256(raw[:-4]).digest()).digest()
    return digest[:4] == raw[-4:]


def _bech32_polymod(values: list[int]) -> int:
    gen = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if (top >> i) & 1 else 0
    return chk


def bech32_kind(address: str) -> str | None:
    """'bech32' (witness v0) or 'bech32m' (v1..16) for a valid mainnet segwit address."""
    if address.lower() != address and address.upper() != address:
        return None  # mixed case is invalid by BIP-173
    addr = address.lower()
    hrp, sep, data_part = addr.rpartition("1")
    if hrp != "bc" or not sep or len(data_part) < 7 or len(addr) > 90:
        return None
    try:
        data = [_BECH32_INDEX[c] for c in data_part]
    except KeyError:
        return None
    expanded = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    const = _bech32_polymod(expanded + data)
    version, program5 = data[0], data[1:-6]
    want = _BECH32_CONST if version == 0 else _BECH32M_CONST
    if const != want or version > 16:
        return None
    # 5-bit groups to bytes; padding must be zero and under 5 bits
    acc = bits = 0
    program = bytearray()
    for v in program5:
        acc = (acc << 5) | v
        bits += 5
        if bits >= 8:
            bits -= 8
            program.append((acc >> bits) & 0xFF)
    if bits >= 5 or (acc & ((1 << bits) - 1)):
        return None
    if not 2 <= len(program) <= 40 or (version == 0 and len(program) not in (20, 32)):
        return None
    return "bech32" if version == 0 else "bech32m"


def eip55_checksum(address: str) -> str:
    """The EIP-55 mixed-case form of a 0x address."""
    hexpart = address[2:].lower()
    digest = keccak256(hexpart.encode("ascii")).hex()
    return "0x" + "".join(c.upper() if int(digest[i], 16) >= 8 else c
                          for i, c in enumerate(hexpart))


def eth_kind(address: str) -> str | None:
    """'eth' (valid EIP-55), 'eth_unchecked' (single case: no checksum to check) or None."""
    if not re.fullmatch(r"0x[0-9a-fA-F]{40}", address):
        return None
    body = address[2:]
    if body.lower() == body or body.upper() == body:
        return "eth_unchecked"
    return "eth" if eip55_checksum(address) == address else None


_MONERO_BLOCK_SIZES = {0: 0, 2: 1, 3: 2, 5: 3, 6: 4, 7: 5, 9: 6, 10: 7, 11: 8}
_MONERO_PREFIXES = {18: "xmr", 42: "xmr_subaddress", 19: "xmr_integrated"}


def monero_decode(address: str) -> bytes | None:
    """Monero base58: 11-character blocks encode 8 bytes each (the last block fewer)."""
    out = bytearray()
    for off in range(0, len(address), 11):
        block = address[off: off + 11]
        size = 8 if len(block) == 11 else _MONERO_BLOCK_SIZES.get(len(block))
        if size is None:
            return None
        num = 0
        for ch in block:
            if ch not in _B58_INDEX:
                return None
            num = num * 58 + _B58_INDEX[ch]
        if num >> (8 * size):
            return None
        out += num.to_bytes(size, "big")
    return bytes(out)


def monero_kind(address: str) -> str | None:
    """'xmr', 'xmr_subaddress' or 'xmr_integrated' for a valid mainnet Monero address."""
    if len(address) not in (95, 106):
        return None
    raw = monero_decode(address)
    if raw is None or len(raw) < 5:
        return None
    kind = _MONERO_PREFIXES.get(raw[0])  # the varint tag is one byte for these three
    if kind is None or keccak256(raw[:-4])[:4] != raw[-4:]:
        return None
    expected = 69 if kind != "xmr_integrated" else 77
    return kind if len(raw) == expected else None


def classify(address: str) -> str | None:
    """The kind of a single candidate address, or None when no checksum validates it."""
    if address.startswith("0x"):
        return eth_kind(address)
    if address[:3].lower() == "bc1":
        return bech32_kind(address)
    if len(address) in (95, 106) and address[0] in "48":
        return monero_kind(address)
    if address[0] in "13":
        return "btc" if is_base58check(address) else None
    return None


def find_wallets(text: str | None) -> list[dict[str, str]]:
    """Every checksum-valid address in `text`, in order, each once: {address, kind}."""
    if not text:
        return []
    seen: set[str] = set()
    out = []
    for match in CANDIDATE.finditer(text):
        address = match.group(1)
        if address in seen:
            continue
        kind = classify(address)
        if kind:
            seen.add(address)
            out.append({"address": address, "kind": kind})
    return out


WALLET_LIST_TYPE = "STRUCT(address VARCHAR, kind VARCHAR)[]"
