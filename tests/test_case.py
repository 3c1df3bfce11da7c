"""The case as evidence: schema, provenance, dedupe, transactions, registry, context."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import polars as pl
import pytest

import forensics
from forensics import schema
from forensics.errors import ConfigError, UnknownNameError
from forensics.loaders import FORMATS, get_format
from forensics.loaders import zeek_common as zeek

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_logs" / "rome-mini"


def test_declared_tables_exist_with_declared_columns(case):
    for table in schema.ALL_TABLES:
        rows = case.sql(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
            "ORDER BY ordinal_position", [table.name]).rows()
        assert [r[0] for r in rows] == [c.name for c in table.all_columns()], table.name


def test_every_normalised_table_carries_provenance():
    for table in schema.NORMALISED_TABLES:
        names = [c.name for c in table.all_columns()]
        assert "evidence_id" in names and "line_no" in names
        assert all(c.meaning for c in table.all_columns()), table.name


def test_schema_reference_page_is_generated_and_current():
    assert (REPO / "docs" / "schema.md").read_text() == schema.reference_markdown() + "\n"


def test_unknown_table_and_format_names_list_the_valid_ones():
    with pytest.raises(UnknownNameError) as err:
        get_format("zeek")
    assert "zeek-tsv" in str(err.value)
    with pytest.raises(UnknownNameError):
        schema.table("nope")


def test_format_names_are_unique_and_documented():
    names = [f.name for f in FORMATS]
    assert len(names) == len(set(names))
    assert all(f.description and f.family for f in FORMATS)


def test_rows_carry_evidence_id_and_line_numbers(case):
    case.load(SAMPLE / "conn.log")
    ev = case.evidence().row(0, named=True)
    assert ev["status"] == "loaded" and ev["format"] == "zeek-tsv" and len(ev["sha256"]) == 64
    lines = (SAMPLE / "conn.log").read_text().splitlines()
    for uid, line_no in case.sql("SELECT uid, line_no FROM zeek_conn").rows():
        assert lines[line_no - 1].split("\t")[1] == uid


def test_loading_same_bytes_twice_is_a_noop_that_says_so(tmp_path, case):
    first = case.load(SAMPLE / "conn.log").files[0]
    copy = tmp_path / "renamed.log"
    shutil.copy(SAMPLE / "conn.log", copy)
    before = case.tables()
    again = case.load(copy).files[0]
    assert again.status == "duplicate" and again.evidence_id == first.evidence_id
    assert "already loaded" in again.message
    assert case.tables() == before


def test_recorded_digest_is_the_files_whether_hashed_first_or_alongside(tmp_path, case):
    """A size no evidence row has is hashed while the file loads; a size one has is hashed
    first (it may be a duplicate). Both record the file's own SHA-256 and size."""
    import hashlib

    first = tmp_path / "a.log"
    shutil.copy(SAMPLE / "conn.log", first)
    text = first.read_bytes()
    # same size, other bytes: a changed uid (hashed first, then loaded as new evidence)
    second = tmp_path / "b.log"
    second.write_bytes(text.replace(b"CU8JZpDE0iGXlD6gNC", b"CU8JZpDE0iGXlD6gNX", 1))
    assert len(second.read_bytes()) == len(text) and second.read_bytes() != text
    results = [case.load(first).files[0], case.load(second).files[0]]
    assert [r.status for r in results] == ["loaded", "loaded"]
    for path, res in zip((first, second), results, strict=True):
        sha, size = case.sql("SELECT sha256, size_bytes FROM evidence WHERE evidence_id = ?",
                             [res.evidence_id]).row(0)
        assert sha == hashlib.sha256(path.read_bytes()).hexdigest() and size == len(text)
    # an unrecognised file of a new size is hashed alongside too, and found again by it
    notes = tmp_path / "notes.txt"
    notes.write_text("not a log\n")
    unrec = case.load(notes).files[0]
    assert unrec.status == "unrecognised"
    assert case.sql("SELECT sha256 FROM evidence WHERE evidence_id = ?",
                    [unrec.evidence_id]).item() == hashlib.sha256(b"not a log\n").hexdigest()
    assert case.load(notes).files[0].evidence_id == unrec.evidence_id


def test_failure_mid_file_leaves_the_case_exactly_as_it_was(tmp_path, monkeypatch):
    case_path = tmp_path / "c.duckdb"
    case = forensics.open_case(case_path)
    case.load(SAMPLE / "dns.log")
    before = {t: case.sql(f'SELECT * FROM "{t}"').rows() for t in case.tables()}
    calls = {"n": 0}
    real = zeek._store

    def explode_after_inserting(ctx, table, frames):
        calls["n"] += 1
        real(ctx, table, frames)  # the first rows are inserted, then ...
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(zeek, "_store", explode_after_inserting)
    result = case.load(SAMPLE / "conn.log").files[0]
    assert calls["n"] == 1
    assert result.status == "failed" and "unchanged" in result.message
    assert "zeek_conn" not in case.tables()
    after = {t: case.sql(f'SELECT * FROM "{t}"').rows() for t in case.tables()}
    assert after == before
    case.close()
    reopened = forensics.open_case(case_path)
    assert {t: reopened.sql(f'SELECT * FROM "{t}"').rows() for t in reopened.tables()} == before
    reopened.close()


def test_directory_glob_list_and_gz(tmp_path, case):
    (tmp_path / "a" / "b").mkdir(parents=True)
    shutil.copy(SAMPLE / "dns.log", tmp_path / "a" / "dns.log")
    (tmp_path / "a" / "b" / "conn.log.gz").write_bytes(
        gzip.compress((SAMPLE / "conn.log").read_bytes()))
    report = case.load(tmp_path / "a")  # recursive
    assert sorted(f.status for f in report.files) == ["loaded", "loaded"]
    other = forensics.open_case(":memory:")
    report = other.load(str(tmp_path / "**" / "*.gz"))
    assert [Path(f.path).name for f in report.files] == ["conn.log.gz"]
    assert other.tables()["zeek_conn"] == 86
    report = other.load([tmp_path / "a" / "dns.log", tmp_path / "missing.log"])
    assert [f.status for f in report.files] == ["missing", "loaded"]
    other.close()


def test_unclaimed_file_is_recorded_and_the_batch_goes_on(tmp_path, case):
    (tmp_path / "notes.txt").write_text("meeting notes, not a log\n")
    shutil.copy(SAMPLE / "dns.log", tmp_path / "dns.log")
    report = case.load(tmp_path)
    by_name = {Path(f.path).name: f for f in report.files}
    assert by_name["dns.log"].status == "loaded"
    unrec = by_name["notes.txt"]
    assert unrec.status == "unrecognised"
    for fmt in FORMATS:
        assert fmt.name in unrec.message
    ev = case.sql("SELECT status, notes FROM evidence WHERE path LIKE '%notes.txt'").rows()
    assert ev[0][0] == "unrecognised" and "tried" in ev[0][1][0]
    assert not report.ok
    # asking again records nothing new
    assert case.load(tmp_path / "notes.txt").files[0].evidence_id == unrec.evidence_id
    assert case.sql("SELECT count(*) FROM evidence").item() == 2


def test_named_format_overrides_sniffing(tmp_path, case):
    odd = tmp_path / "capture.dat"
    shutil.copy(SAMPLE / "dns.log", odd)
    assert case.load(odd, format="zeek-json").files[0].rows == 4
    with pytest.raises(UnknownNameError):
        case.load(odd, format="nope")


def test_default_context_is_rfc1918(case):
    nets = case.sql("SELECT cidr, scope, source FROM networks ORDER BY cidr").rows()
    assert ("10.0.0.0/8", "internal", "default (RFC 1918 / RFC 4193)") in nets
    assert {n[1] for n in nets} == {"internal"}


def test_config_file_fills_networks_hosts_and_settings(case):
    case.configure(SAMPLE / "case.toml")
    nets = case.sql("SELECT cidr, scope, label FROM networks ORDER BY scope, cidr").rows()
    assert nets == [
        ("140.82.121.4/32", "allowed_egress", None),
        ("151.101.0.223/32", "allowed_egress", None),
        ("10.42.0.0/16", "internal", "training cluster"),
        ("10.42.7.0/24", "sandbox", "agent sandboxes"),
    ]
    assert case.sql("SELECT address, name, role FROM hosts ORDER BY address").rows() == [
        ("10.42.0.5", "sched-01", "scheduler"), ("10.42.7.17", "sb-07", "sandbox")]
    assert case.setting("timezone") == "UTC" and case.setting("name") == "rome-mini"
    # integer bounds make range tests possible in plain SQL
    inside = case.sql(
        "SELECT scope FROM networks WHERE family = 4 AND ? BETWEEN first_addr AND last_addr "
        "ORDER BY scope", [int.from_bytes(bytes([10, 42, 7, 17]), "big")]).rows()
    assert inside == [("internal",), ("sandbox",)]


def test_context_is_editable_from_a_notebook(case):
    case.configure({"networks": {"sandbox": ["10.42.7.0/24"]}})
    case.add_host("10.42.7.18", name="sb-08", role="sandbox")
    case.add_network("203.0.113.10", "allowed_egress", label="mirror")
    ctx = case.context()
    assert [h.name for h in ctx.hosts] == ["sb-08"]
    assert {(n.cidr, n.scope) for n in ctx.networks} == {
        ("10.42.7.0/24", "sandbox"), ("203.0.113.10/32", "allowed_egress")}
    # no internal range given: the RFC 1918 defaults stay in force, marked as defaults
    assert case.sql("SELECT count(*) FROM networks WHERE source LIKE 'default%'").item() == 4


@pytest.mark.parametrize("text,needle", [
    ("[networks]\ninternal = ['10.0.0.0/33']\n", "not a network"),
    ("[networks]\ninternl = ['10.0.0.0/8']\n", "valid keys there: internal, sandbox"),
    ("[hosts.'sb-07']\nname = 'x'\n", "not an IP address"),
    ("[case]\ntimezone = 'Mars/Olympus'\n", "unknown time zone"),
    ("[networks\n", "not valid TOML"),
])
def test_bad_config_names_file_and_problem(tmp_path, case, text, needle):
    cfg = tmp_path / "case.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError) as err:
        case.configure(cfg)
    assert needle in str(err.value) and str(cfg) in str(err.value)


def test_read_only_case_refuses_to_change(tmp_path):
    path = tmp_path / "c.duckdb"
    forensics.open_case(path).close()
    ro = forensics.open_case(path, read_only=True)
    with pytest.raises(forensics.ForensicsError):
        ro.load(SAMPLE)
    ro.close()


def test_long_text_columns_are_stored_with_zstd(tmp_path):
    """Raw lines and vendor-field objects are written with zstd (declared per column in
    schema.py: cheaper to write and smaller than DuckDB's string default); other text is
    left to DuckDB."""
    declared = {(t.name, c.name) for t in schema.ALL_TABLES for c in t.all_columns()
                if c.compression == schema.LONG_TEXT}
    assert {("firewall_events", "message"), ("firewall_events", "extra"),
            ("billing_items", "extra"), ("rejects", "raw")} <= declared
    with forensics.open_case(tmp_path / "c.duckdb") as case:
        assert case.load(REPO / "sample_logs" / "rome" / "firewall").ok
        case.con.execute("CHECKPOINT")
        used = dict(case.con.execute(
            "SELECT column_name, string_agg(DISTINCT compression, ',') FROM "
            "pragma_storage_info('firewall_events') WHERE segment_type <> 'VALIDITY' "
            "GROUP BY ALL").fetchall())
    assert used["message"] == "ZSTD" and used["extra"] == "ZSTD", used
    assert "ZSTD" not in used["src_ip"], used


def test_a_load_that_aborts_the_transaction_leaves_insertion_order_as_it_was(case,
                                                                             monkeypatch):
    """Loads run with insertion order free (`base.unordered_insert`); after a statement
    that aborted the transaction DuckDB refuses even SET until the ROLLBACK, so the
    setting must be put back outside it, or the analyst's session keeps the load's."""
    from forensics.loaders import zeek_tsv

    def aborts(self, ctx):  # an INSERT DuckDB refuses part-way: the transaction aborts
        ctx.insert("rejects", pl.DataFrame({"line_no": [1], "reason": ["r"], "raw": ["x"],
                                            "raw_bytes": ["not a number"]}))

    monkeypatch.setattr(zeek_tsv.ZeekTsv, "load", aborts)
    result = case.load(SAMPLE / "conn.log").files[0]
    assert result.status == "failed" and "not a number" in result.message
    assert case.sql("SELECT current_setting('preserve_insertion_order') AS v").item() is True
