"""What a file stores must not depend on where its blocks end.

Loaders read files in blocks (32 MiB; 8 MiB for billing CSV), so a file larger than a block
puts a block's end somewhere in its middle. Every corpus file is loaded twice here: as it
is (one block: the corpus files are small) and cut into blocks of a few hundred bytes, so
that every file has block ends in it, next to every kind of line it holds. Rows, rejects,
counts and notes must be the same. Bugs this found: Prometheus text pivoted a scrape's
samples per block (a (time, GPU) row split in two), ledger exports inferred the wallet
per block, and Zeek's note on masked times was written once per block.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

import forensics
from forensics.loaders import reading
from tests.conftest import CORPUS, manifest_rows

SMALL_BLOCK = 300  # bytes: a block holds a line or a few (a block is at least one line)
MAX_BLOCKS = 150  # larger files get larger blocks, to keep the test's time in bounds
NOT_LOADED = {"mikrotik_firewall.log"}  # loaded through a mapping file (test_firewall)


def _files() -> list[tuple[str, str]]:
    return [(r["family"], r["local_name"]) for r in manifest_rows()
            if r["local_name"] not in NOT_LOADED]


def _stored(path: str) -> dict[str, Any]:
    """Everything a load leaves in a fresh case, in an order that does not depend on
    storage order (columns by name: a Zeek JSON table grows columns as fields appear)."""
    with forensics.open_case(":memory:") as case:
        result = case.load(path).files[0]
        out: dict[str, Any] = {"status": result.status, "message": result.message}
        tables = [r[0] for r in case.con.execute(
            "SELECT DISTINCT c.table_name FROM information_schema.columns c "
            "JOIN information_schema.tables t USING (table_name) "
            "WHERE c.column_name = 'line_no' AND t.table_type = 'BASE TABLE'").fetchall()]
        for name in sorted(tables):
            columns = sorted(r[0] for r in case.con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
                "AND column_name <> 'evidence_id'", [name]).fetchall())
            listed = ", ".join(f'"{c}"::VARCHAR' for c in columns)
            out[name] = case.con.execute(f'SELECT {listed} FROM "{name}" ORDER BY ALL'
                                         ).fetchall()
        evidence = case.evidence()
        if evidence.height:
            row = evidence.row(0, named=True)
            out |= {k: row[k] for k in ("lines_read", "rows_loaded", "rows_rejected",
                                        "header_lines", "blank_lines")}
            out["notes"] = sorted(row["notes"] or [])
        return out


@pytest.mark.corpus
@pytest.mark.parametrize("family,name", _files() if CORPUS.exists() else [])
def test_a_file_stores_the_same_whatever_its_block_size(family, name, monkeypatch):
    path = str(CORPUS / family / name)
    whole = _stored(path)
    small = max(SMALL_BLOCK, os.path.getsize(path) // MAX_BLOCKS)
    plain, stream = reading._plain_blocks, reading._stream_blocks
    monkeypatch.setattr(reading, "_plain_blocks", lambda p, _size: plain(p, small))
    monkeypatch.setattr(reading, "_stream_blocks", lambda c, _size: stream(c, small))
    cut = _stored(path)
    assert cut.keys() == whole.keys()
    for key in whole:
        assert cut[key] == whole[key], key
