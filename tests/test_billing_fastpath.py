"""The billing CSV fast path against the careful one: bulk parsing (pyarrow with nulls, cheap
chunk cuts), bulk `extra` JSON and failures found as one boolean must store exactly what the
careful, line-by-line path stores, with every reject at its line and with its reason."""

from __future__ import annotations

import csv
import io

import polars as pl
import pytest

import forensics
from forensics.loaders.billing import csvread
from forensics.loaders.billing.convert import entries
from forensics.loaders.jsontext import json_object
from tests.conftest import corpus_file

CAREFUL_ONLY = "careful"


def _line(fields: list[str], quote_all: bool = False) -> str:
    buf = io.StringIO()  # "\r\n" ends the record, so fields holding a newline are quoted
    csv.writer(buf, lineterminator="\r\n",
               quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL).writerow(fields)
    return buf.getvalue().removesuffix("\r\n")


def _focus_file(tmp_path, damaged: bool) -> tuple[str, int]:
    """A FOCUS CSV of many clean records (quoted newlines, text that JSON must escape, null
    tokens, a blank line, empty and NULL-only records) and, if `damaged`, bad lines."""
    src = corpus_file("billing", "focus10_sample_1000.csv").read_text(encoding="utf-8")
    header, *rows = csv.reader(io.StringIO(src, newline=""))
    col = {name: i for i, name in enumerate(header)}
    odd = ['say "hi"', "back\\slash", "tab\there", "bell\x07", "é ✓ 中", "NULL",
           "", "two\nlines"]
    out = [_line(header, quote_all=True)]
    for k in range(1200):
        row = list(rows[k % len(rows)])
        row[col["SkuPriceId"]] = odd[k % len(odd)] if k % 7 == 0 else row[col["SkuPriceId"]]
        if k % 11 == 0:
            row[col["ChargeDescription"]] = f"first {k}\nsecond"
        out.append(_line(row, quote_all=k % 2 == 0))
        if k == 300:
            out.append("")  # a blank line
            out.append(_line([""] * len(header)))  # a record with no values: a reject
            out.append(",".join(["NULL"] * len(header)))  # null tokens only: a row of nulls
        if damaged and k == 900:
            bad = list(row)
            bad[col["BilledCost"]] = "12,5O"
            out.append(_line(bad))  # a value that does not convert
            out.append(_line(row[:-2]))  # a ragged line
            out.append('x,"unterminated')  # a stray quote
    path = tmp_path / f"focus_{'damaged' if damaged else 'clean'}.csv"
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return str(path), len(out)


def _load(path: str, monkeypatch, *, block_bytes: int, careful: bool = False,
          arrow_block: int | None = None) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    with monkeypatch.context() as m:
        m.setattr(csvread, "BLOCK_BYTES", block_bytes)
        if arrow_block:
            m.setattr(csvread, "ARROW_BLOCK", arrow_block)
        if careful:
            m.setattr(csvread, "_fast", lambda *args: None)
        case = forensics.open_case(":memory:")
        res = case.load(path).files[0]
        assert res.status == "loaded", (res.message, res.detail)
        items = case.sql("SELECT * EXCLUDE (evidence_id) REPLACE (tags::VARCHAR AS tags, "
                         "extra::VARCHAR AS extra) FROM billing_items ORDER BY line_no")
        rejects = case.sql("SELECT line_no, reason, raw FROM rejects ORDER BY line_no")
        ev = case.evidence().row(0, named=True)
        case.close()
    counts = {k: ev[k] for k in ("lines_read", "rows_loaded", "rows_rejected", "header_lines",
                                 "blank_lines", "notes")}
    return items, rejects, counts


@pytest.mark.corpus
@pytest.mark.parametrize("damaged", [False, True])
@pytest.mark.parametrize("block_bytes", [8 << 20, 64 << 10])
def test_fast_path_stores_what_the_careful_path_stores(tmp_path, monkeypatch, damaged,
                                                       block_bytes):
    """Small blocks put clean blocks next to the damaged one (which alone goes careful)."""
    path, _ = _focus_file(tmp_path, damaged)
    fast = _load(path, monkeypatch, block_bytes=block_bytes)
    careful = _load(path, monkeypatch, block_bytes=block_bytes, careful=True)
    assert fast[0].equals(careful[0], null_equal=True)
    assert fast[1].equals(careful[1], null_equal=True)
    assert fast[2] == careful[2]
    items, rejects, counts = fast
    assert counts["blank_lines"] == 1
    reasons = dict(zip(rejects["line_no"], rejects["reason"], strict=True))
    assert "record has no values (every field is empty)" in reasons.values()
    nulls_only = items.filter(pl.col("charge_period_start").is_null())
    assert nulls_only.height == 1 and nulls_only["extra"][0] == "{}"
    if damaged:
        assert len(reasons) == 4
        assert any("12,5O is not a number" in r for r in reasons.values())
    escaped = items.filter(pl.col("extra").str.contains("SkuPriceId\":\"say"))["extra"][0]
    assert '"SkuPriceId":"say \\"hi\\""' in escaped


@pytest.mark.corpus
def test_cheap_chunk_cuts_inside_quoted_newlines(tmp_path, monkeypatch):
    """pyarrow chunks far smaller than a record cut inside quoted newlines: the quote-aware
    retry must give the same rows and line numbers as the careful path."""
    path, _ = _focus_file(tmp_path, damaged=False)
    tiny = _load(path, monkeypatch, block_bytes=8 << 20, arrow_block=2000)
    careful = _load(path, monkeypatch, block_bytes=8 << 20, careful=True)
    assert tiny[0].equals(careful[0], null_equal=True)
    assert tiny[2] == careful[2]
    assert any("continuation lines" in n for n in tiny[2]["notes"])


def test_entries_equal_json_object():
    """The direct JSON text equals jsontext.json_object's on every row, escapes or not.

    (A value starting with ':null' is cut into by json_object's null-member regex, giving
    invalid JSON that fails the load; entries hands such rows to json_object unchanged.)
    """
    frame = pl.DataFrame({
        "a": ["plain", 'q"uote', "back\\", "ctl\x01", ":nullable", None, "é ✓", "", None],
        "b": ["x", None, "y", "\n", "z", None, ":null", "w", None],
        "c d": ["1", "2", None, "4", "5", None, "7", "8", None],
    })
    cols = ["a", "b", "c d"]
    expected = frame.select(json_object(cols).alias("e"))["e"]
    assert entries(frame, cols).to_list() == expected.to_list()
    clean = frame.filter(pl.col("a").is_in(["plain", "é ✓", ""]) | pl.col("a").is_null())
    assert entries(clean, cols).to_list() == clean.select(json_object(cols))[:, 0].to_list()
    # a column with no NULL (literal pieces), one all NULL (nothing), NULLs first or last
    mixed = frame.with_columns(pl.lit("v").alias("full"), pl.lit(None, pl.String).alias("none"))
    for order in (["none", "full", "a", "b"], ["a", "full", "none"], ["none"], ["full"]):
        assert (entries(mixed, order).to_list()
                == mixed.select(json_object(order))[:, 0].to_list()), order
    keys = {"a": "k:a", "b": 'k"b'}  # a key that needs escaping: json_object for every row
    assert (entries(frame, cols, keys).to_list()
            == frame.select(json_object(cols, keys))[:, 0].to_list())


@pytest.mark.corpus
def test_two_blocks_converted_at_once_store_what_one_at_a_time_stores(tmp_path, monkeypatch):
    """Conversion runs on forked contexts, two blocks at a time: rows, rejects with their
    lines and reasons, counts and notes must equal converting one block after another."""
    from forensics.loaders.billing import common

    path, _ = _focus_file(tmp_path, damaged=True)
    both = _load(path, monkeypatch, block_bytes=32 << 10)
    with monkeypatch.context() as m:
        m.setattr(common, "ordered_map", lambda work, items: map(work, items))
        one = _load(path, monkeypatch, block_bytes=32 << 10)
    assert both[0].equals(one[0], null_equal=True)
    assert both[1].equals(one[1], null_equal=True)
    assert both[2] == one[2] and both[2]["rows_rejected"] == 4


def _same_load(a: tuple, b: tuple) -> bool:
    """Equal rows, rejects and counts; notes compared as a set (their order follows how
    the reading and converting threads interleave, not what was read)."""
    notes = ("notes",)
    return (a[0].equals(b[0], null_equal=True) and a[1].equals(b[1], null_equal=True)
            and {k: v for k, v in a[2].items() if k not in notes}
            == {k: v for k, v in b[2].items() if k not in notes}
            and sorted(a[2]["notes"]) == sorted(b[2]["notes"]))


@pytest.mark.corpus
def test_a_stray_quote_stores_the_same_whatever_the_block_size(tmp_path, monkeypatch):
    """A stray quote upsets the quote parity that joins blocks, so a block can end inside a
    good multi-line record. Judged at that block's end, the record became rejects and its
    continuation lines fragments, more of them the smaller the blocks (4 rejects at 8 MiB,
    8 at 4 KiB, 16 at 1500 bytes): what a file stored depended on where its blocks ended.
    Such a record is carried into the next block now."""
    path, _ = _focus_file(tmp_path, damaged=True)
    whole = _load(path, monkeypatch, block_bytes=8 << 20)
    assert whole[2]["rows_rejected"] == 4 and whole[2]["lines_read"] == 1207
    for block_bytes in (16 << 10, 4096, 1500):
        assert _same_load(_load(path, monkeypatch, block_bytes=block_bytes), whole), block_bytes


def test_an_unclosed_stray_quote_is_not_carried_through_the_file(tmp_path, monkeypatch):
    """A quote that nothing closes would carry the rest of the file from block to block
    (read again each time); past CARRY_LIMIT its line is a reject and reading goes on."""
    header = "BilledCost,ChargePeriodStart,ChargePeriodEnd,BillingCurrency,ChargeCategory"
    good = "1.5,2024-09-01 00:00:00,2024-09-01 01:00:00,USD,Usage"
    lines = [header] + [good] * 30 + ['2,"stray'] + [good] * 3000
    path = tmp_path / "stray.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setattr(csvread, "CARRY_LIMIT", 4096)
    monkeypatch.setattr(csvread, "_MERGE_LIMIT", 2048)  # (else parity joins it all at once)
    careful_bytes = []
    careful = csvread._careful

    def counted(ctx, header, block, more=False):
        careful_bytes.append(len(block.data))
        return careful(ctx, header, block, more)

    monkeypatch.setattr(csvread, "_careful", counted)
    items, rejects, counts = _load(str(path), monkeypatch, block_bytes=2048)
    assert rejects["line_no"].to_list() == [32]
    assert rejects["reason"][0].startswith("not valid CSV")
    assert items.height == 3030 and counts["lines_read"] == 3032
    assert sum(careful_bytes) < 6 * 4096  # carried at most CARRY_LIMIT, then judged
