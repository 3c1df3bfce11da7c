"""Zeek format features on small hand-written logs: every header directive, every type,
escapes, several header blocks, JSON variants, and mangled lines landing in rejects."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime

import pytest

import forensics

HEADER = (
    "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n"
    "#path\t{path}\n#open\t2026-03-04-08-00-00\n#fields\t{fields}\n#types\t{types}\n"
)


def tsv(path: str, fields: list[str], types: list[str], rows: list[list[str]],
        close: bool = True) -> str:
    text = HEADER.format(path=path, fields="\t".join(fields), types="\t".join(types))
    text += "".join("\t".join(r) + "\n" for r in rows)
    return text + ("#close\t2026-03-04-09-00-00\n" if close else "")


def load_text(tmp_path, name: str, text: str | bytes, **kw):
    p = tmp_path / name
    p.write_bytes(text.encode() if isinstance(text, str) else text)
    case = forensics.open_case(":memory:")
    report = case.load(p, **kw)
    return case, report.files[0]


ALL_TYPES = (
    ["ts", "iv", "cnt", "i", "d", "p", "a", "sn", "e", "s", "b", "pat", "st", "vec", "tbl"],
    ["time", "interval", "count", "int", "double", "port", "addr", "subnet", "enum", "string",
     "bool", "pattern", "set[addr]", "vector[count]", "table[string]"],
)


def test_every_zeek_type_converts(tmp_path):
    row = ["1772611200.000001", "1.5", "18446744073709551615", "-42", "2.5e3", "443",
           "2001:db8::1", "10.0.0.0/8", "SSH::Password_Guessing", "a\\x09b", "T", "/^ab+/",
           "10.0.0.1,10.0.0.2", "1,2,3", "x"]
    case, res = load_text(tmp_path, "types.log", tsv("custom", *ALL_TYPES, [row]))
    assert res.status == "loaded" and res.rejects == 0
    got = case.sql("SELECT * EXCLUDE (evidence_id, line_no) FROM zeek_custom").row(0, named=True)
    assert got == {
        "ts": datetime(2026, 3, 4, 8, 0, 0, 1, tzinfo=UTC), "iv": 1.5,
        "cnt": 18446744073709551615, "i": -42, "d": 2500.0, "p": 443, "a": "2001:db8::1",
        "sn": "10.0.0.0/8", "e": "SSH::Password_Guessing", "s": "a\tb", "b": True,
        "pat": "/^ab+/", "st": ["10.0.0.1", "10.0.0.2"], "vec": [1, 2, 3], "tbl": ["x"],
    }
    types = dict(case.sql("SELECT column_name, data_type FROM information_schema.columns "
                          "WHERE table_name = 'zeek_custom'").rows())
    assert types["cnt"] == "UBIGINT" and types["p"] == "INTEGER" and types["vec"] == "UBIGINT[]"


def test_unset_and_empty_markers_are_null_and_empty(tmp_path):
    fields, types = ["ts", "s", "st", "n"], ["time", "string", "set[string]", "count"]
    case, res = load_text(tmp_path, "m.log", tsv("m", fields, types, [
        ["1772611200.0", "-", "-", "-"],
        ["1772611201.0", "(empty)", "(empty)", "0"],
    ]))
    assert res.rejects == 0
    rows = case.sql("SELECT s, st, n FROM zeek_m ORDER BY line_no").rows()
    assert rows == [(None, None, None), ("", [], 0)]


def test_custom_separator_and_markers(tmp_path):
    text = (
        "#separator |\n#set_separator|;\n#empty_field|EMPTY\n#unset_field|NONE\n#path|odd\n"
        "#fields|ts|hosts|note\n#types|time|set[addr]|string\n"
        "1772611200.5|10.0.0.1;10.0.0.2|NONE\n1772611201.5|EMPTY|hello\\x7cworld\n"
    )
    case, res = load_text(tmp_path, "odd.log", text)
    assert res.status == "loaded" and res.rejects == 0 and res.rows == 2
    assert case.sql("SELECT hosts, note FROM zeek_odd ORDER BY line_no").rows() == [
        (["10.0.0.1", "10.0.0.2"], None), ([], "hello|world")]


def test_escapes_decoded_and_invalid_utf8_bytes_kept_visible(tmp_path):
    fields, types = ["ts", "uri", "agents"], ["time", "string", "set[string]"]
    case, res = load_text(tmp_path, "http.log", tsv("http", fields, types, [
        ["1772611200.0", "/a\\x20b\\xe2\\x9c\\x93", "x\\x2cy,z"],
        ["1772611201.0", "/bin\\xff\\xfe", "-"],
        ["1772611202.0", "C:\\\\temp", "-"],
    ]))
    assert res.rejects == 0
    rows = case.sql("SELECT uri, agents FROM zeek_http ORDER BY line_no").rows()
    assert rows[0] == ("/a b\u2713", ["x,y", "z"])
    assert rows[1][0] == "/bin\\xff\\xfe"  # not UTF-8: kept as escapes, never U+FFFD
    assert rows[2][0] == "C:\\temp"


def test_several_header_blocks_and_renamed_columns_matched_by_name(tmp_path):
    # Bro 2.2 block (no local_resp), then a Zeek 7 block that adds local_resp and moves it.
    old = tsv("conn", ["ts", "uid", "local_orig", "orig_bytes"],
              ["time", "string", "bool", "count"], [["1772611200.0", "C1", "T", "10"]])
    new = tsv("conn", ["ts", "uid", "orig_bytes", "local_resp", "local_orig"],
              ["time", "string", "count", "bool", "bool"],
              [["1772611300.0", "C2", "20", "F", "T"]], close=False)
    case, res = load_text(tmp_path, "rotated.log", old + new)
    assert res.status == "loaded" and res.rejects == 0 and res.rows == 2
    rows = case.sql("SELECT uid, local_orig, local_resp, orig_bytes, line_no FROM zeek_conn "
                    "ORDER BY line_no").rows()
    assert rows == [("C1", True, None, 10, 9), ("C2", True, False, 20, 19)]
    ev = case.evidence().row(0, named=True)
    assert ev["header_lines"] == 17  # 8 + #close + 8; the second block has no #close


def test_unknown_path_gets_its_own_table(tmp_path):
    case, res = load_text(tmp_path, "whatever.log", tsv(
        "gpu_watch", ["ts", "host"], ["time", "string"], [["1772611200.0", "sb-07"]]))
    assert res.rows == 1
    assert case.tables()["zeek_gpu_watch"] == 1


def test_gzip_is_transparent(tmp_path):
    text = tsv("dns", ["ts", "query"], ["time", "string"], [["1772611200.0", "pool.example"]])
    case, res = load_text(tmp_path, "dns.log.gz", gzip.compress(text.encode()))
    assert res.format == "zeek-tsv" and res.rows == 1


def test_json_epoch_iso_absent_keys_and_arrays(tmp_path):
    lines = [
        {"ts": 1772611200.25, "uid": "C1", "id.orig_h": "10.0.0.1", "id.orig_p": 5,
         "id.resp_h": "10.0.0.2", "id.resp_p": 53, "proto": "udp", "query": "a.example",
         "answers": ["1.2.3.4", "5.6.7.8"], "TTLs": [60.0, 60.0]},
        {"ts": "2026-03-04T08:00:01.500000Z", "uid": "C2", "id.orig_h": "10.0.0.1",
         "id.orig_p": 6, "id.resp_h": "10.0.0.2", "id.resp_p": 53, "proto": "udp"},
    ]
    text = "\n".join(json.dumps(x) for x in lines) + "\n"
    case, res = load_text(tmp_path, "dns.json", text)
    assert res.format == "zeek-json" and res.rows == 2 and res.rejects == 0
    rows = case.sql("SELECT ts, query, answers, TTLs FROM zeek_dns ORDER BY line_no").rows()
    assert rows[0] == (datetime(2026, 3, 4, 8, 0, 0, 250000, tzinfo=UTC), "a.example",
                       ["1.2.3.4", "5.6.7.8"], [60.0, 60.0])
    assert rows[1] == (datetime(2026, 3, 4, 8, 0, 1, 500000, tzinfo=UTC), None, None, None)


@pytest.mark.parametrize("spaced", [False, True])
def test_json_key_first_seen_late_or_null_is_never_dropped(tmp_path, spaced):
    """polars infers the schema from the first lines; a key first written on line 300, an
    explicit null, and keys written with a space before the colon must all still land."""
    sep = (", ", " : ") if spaced else (",", ":")
    lines = [{"ts": 1772611200.0 + i, "uid": f"C{i}", "id.orig_h": "10.0.0.1"}
             for i in range(400)]
    lines[299]["note_late"] = "arrived late"
    lines[350]["uid"] = None
    text = "\n".join(json.dumps(x, separators=sep) for x in lines) + "\n"
    case, res = load_text(tmp_path, "conn.json", text)
    assert res.rows == 400 and res.rejects == 0
    late = case.sql("SELECT line_no, note_late FROM zeek_conn WHERE note_late IS NOT NULL")
    assert late.rows() == [(300, "arrived late")]
    assert case.sql("SELECT line_no FROM zeek_conn WHERE uid IS NULL").rows() == [(351,)]


def test_json_lone_surrogate_escape_is_a_reject_and_pairs_load(tmp_path):
    """polars' reader silently turns a lone \\ud800 into U+0000; such a line must be a
    reject, while a valid surrogate pair (an emoji written escaped) loads as its character."""
    good = {"ts": 1772611200.0, "uid": "C1", "id.orig_h": "10.0.0.1"}
    lines = [json.dumps(good),
             '{"ts": 1772611201.0, "uid": "C2\\ud800x", "id.orig_h": "10.0.0.1"}',
             '{"ts": 1772611202.0, "uid": "C3\\ud83d\\ude00", "id.orig_h": "10.0.0.1"}']
    case, res = load_text(tmp_path, "conn.json", "\n".join(lines) + "\n")
    assert (res.rows, res.rejects) == (2, 1)
    rejects = {r["line_no"]: r["reason"] for r in case.rejects().to_dicts()}
    assert list(rejects) == [2] and "field uid: holds a lone UTF-16 surrogate" in rejects[2]
    uids = case.sql("SELECT line_no, uid FROM zeek_conn ORDER BY line_no").rows()
    assert uids == [(1, "C1"), (3, "C3\U0001F600")]


def test_json_nan_infinity_and_overflowing_numbers_are_rejects(tmp_path):
    """Python's reader takes NaN/Infinity (not JSON) and reads 1e400 as an infinity; the
    bulk reader refuses the block, and the careful path must not store what it cannot
    (a duration of inf, Infinity text): each such line is a reject with its reason."""
    good = {"ts": 1772611200.0, "uid": "C1", "id.orig_h": "10.0.0.1", "duration": 1.5}
    lines = [json.dumps(good),
             '{"ts": 1772611201.0, "uid": "C2", "id.orig_h": "10.0.0.1", "duration": NaN}',
             '{"ts": 1772611202.0, "uid": "C3", "id.orig_h": "10.0.0.1", "duration": 1e400}',
             '{"ts": Infinity, "uid": "C4", "id.orig_h": "10.0.0.1"}',
             json.dumps(dict(good, uid="C5"))]
    case, res = load_text(tmp_path, "conn.json", "\n".join(lines) + "\n")
    assert (res.rows, res.rejects) == (2, 3)
    rejects = {r["line_no"]: r["reason"] for r in case.rejects().to_dicts()}
    assert rejects == {
        2: "not valid JSON: NaN is not a JSON value (RFC 8259 has no NaN or Infinity)",
        3: "not valid JSON: number 1e400 is beyond the range of a 64-bit float",
        4: "not valid JSON: Infinity is not a JSON value (RFC 8259 has no NaN or Infinity)"}
    assert case.sql("SELECT uid FROM zeek_conn ORDER BY line_no").rows() == [("C1",), ("C5",)]


def test_json_streaming_paths_split_into_tables(tmp_path):
    lines = [
        {"_path": "conn", "_write_ts": "2026-03-04T08:00:00.000000Z",
         "ts": "2026-03-04T08:00:00.000000Z", "uid": "C1", "id.orig_h": "10.0.0.1"},
        {"_path": "ssh", "_write_ts": "2026-03-04T08:00:01.000000Z",
         "ts": "2026-03-04T08:00:01.000000Z", "uid": "C2", "auth_success": True},
    ]
    case, res = load_text(tmp_path, "stream.log", "\n".join(json.dumps(x) for x in lines))
    assert res.rows == 2
    tables = case.tables()
    assert tables["zeek_conn"] == 1 and tables["zeek_ssh"] == 1
    assert case.sql("SELECT line_no FROM zeek_ssh").item() == 2


# ---- mangled lines -------------------------------------------------------------------


def _mangled_tsv() -> bytes:
    fields = ["ts", "uid", "id.orig_h", "orig_bytes", "duration"]
    types = ["time", "string", "addr", "count", "interval"]
    good = ["1772611200.0", "C0", "10.0.0.1", "100", "1.0"]
    head = HEADER.format(path="conn", fields="\t".join(fields), types="\t".join(types)).encode()
    lines = [
        "\t".join(good),                                   # line 9 ok
        "\t".join(good[:3]),                               # 10 too few columns
        "\t".join([*good, "extra"]),                       # 11 too many columns
        "\t".join(["1772611200.0", "C1", "10.0.0.1", "12x", "1.0"]),  # 12 bad count
        "\t".join(["yesterday", "C2", "10.0.0.1", "1", "1.0"]),      # 13 bad time
        "\t".join(good),                                   # 14 ok
    ]
    body = "\n".join(lines).encode() + b"\n"
    body += b"1772611200.0\tC\xff\xfe\t10.0.0.1\t1\t1.0\n"  # 15 invalid UTF-8
    body += ("1772611200.0\tC3\t10.0.0.1\t1\t" + "9" * (1 << 20)).encode() + b"\n"  # 16: 1 MB
    body += "\t".join(good).encode() + b"\n"                 # 17 ok
    return head + body


def test_mangled_tsv_lines_land_in_rejects_with_line_and_reason(tmp_path):
    case, res = load_text(tmp_path, "conn.log", _mangled_tsv())
    assert res.status == "loaded"
    assert res.rows == 3
    rejects = {r["line_no"]: r for r in case.rejects().to_dicts()}
    assert set(rejects) == {10, 11, 12, 13, 15, 16}
    assert "expected 5 columns, found 3" in rejects[10]["reason"]
    assert "expected 5 columns, found 6" in rejects[11]["reason"]
    assert "orig_bytes" in rejects[12]["reason"] and "12x" in rejects[12]["reason"]
    assert "ts" in rejects[13]["reason"] and "yesterday" in rejects[13]["reason"]
    assert "UTF-8" in rejects[15]["reason"]
    assert "over the limit" in rejects[16]["reason"]
    assert rejects[16]["raw_bytes"] > 1 << 20 and len(rejects[16]["raw"]) == 4096
    assert all(r["path"].endswith("conn.log") for r in rejects.values())
    ev = case.evidence().row(0, named=True)
    assert ev["lines_read"] == 17
    assert ev["lines_read"] == (ev["rows_loaded"] + ev["rows_rejected"] + ev["header_lines"]
                                + ev["blank_lines"])
    assert case.sql("SELECT list(line_no ORDER BY line_no) FROM zeek_conn").item().to_list() == [
        9, 14, 17]


def test_mangled_json_lines_land_in_rejects(tmp_path):
    good = json.dumps({"ts": 1772611200.0, "uid": "C1", "id.orig_h": "10.0.0.1",
                       "id.orig_p": 1, "orig_bytes": 5})
    lines = [good, '{"ts": 1772611200.0, "uid": "C2", "id.orig_h"', "[1, 2]",
             json.dumps({"ts": "not a time", "uid": "C3", "id.orig_h": "10.0.0.1"}),
             json.dumps({"ts": 1772611200.0, "uid": "C4", "id.orig_p": "http"}), "", good]
    case, res = load_text(tmp_path, "conn.json", "\n".join(lines) + "\n")
    assert res.rows == 2
    rejects = {r["line_no"]: r["reason"] for r in case.rejects().to_dicts()}
    assert set(rejects) == {2, 3, 4, 5}
    assert "not valid JSON" in rejects[2]
    assert "not an object" in rejects[3]
    assert "ts" in rejects[4] and "not a time" in rejects[4]
    assert "id.orig_p" in rejects[5]
    ev = case.evidence().row(0, named=True)
    assert (ev["lines_read"], ev["blank_lines"]) == (7, 1)


def test_data_before_any_header_is_rejected_not_dropped(tmp_path):
    case, res = load_text(tmp_path, "x.log",
                          "1772611200.0\tC1\n" + tsv("conn", ["ts", "uid"], ["time", "string"],
                                                      [["1772611200.0", "C2"]]))
    assert res.rows == 1 and res.rejects == 1
    assert case.rejects()["reason"][0] == "data line before any #fields header"


def _bulk_check(lines: list[dict]) -> bool:
    import polars as pl

    from forensics.loaders.jsonkeys import all_keys_parsed

    data = "\n".join(json.dumps(x, separators=(",", ":")) for x in lines).encode()
    return all_keys_parsed(data, pl.read_ndjson(data))


def test_json_key_check_accepts_colons_in_values_and_explicit_nulls():
    """IPv6 addresses, URIs, ISO times and explicit nulls do not force the slow path."""
    rows = [{"ts": "2026-03-04T08:00:01.5Z", "id.orig_h": "fe80::1", "uri": "http://a:8/x",
             "service": None if i % 3 else "dns", "tags": ["a:b", "c"]} for i in range(300)]
    assert _bulk_check(rows)


@pytest.mark.parametrize("late", [
    {"note": "plain"},
    {"note": "x:null"},                      # a value holding ':null'
    {"nullable": ":null:null"},              # and a name holding 'null'
    {"a": {"nested": None}},                 # an object holding an explicit null
    {"list": ["p:null", "q"]},
])
def test_json_key_check_never_misses_a_late_key_with_a_value(late):
    rows = [{"ts": 1772611200.0 + i, "uid": f"C{i}", "service": None} for i in range(300)]
    rows[250].update(late)
    assert not _bulk_check(rows)


def test_json_key_check_not_fooled_by_a_parsed_value_starting_with_null_text():
    """A kept value ':null' writes `":null` like an explicit null does; it must not cover
    for a late key that was dropped."""
    rows = [{"ts": 1772611200.0 + i, "uid": f"C{i}"} for i in range(300)]
    rows[10]["uid"] = ":null"
    rows[250]["late"] = "x"
    assert not _bulk_check(rows)


def test_json_blocks_parsed_two_at_a_time_equal_one_at_a_time(tmp_path, monkeypatch):
    import functools

    from forensics.loaders import reading, zeek_json

    lines = []
    for i in range(400):
        row = {"ts": 1772611200.0 + i, "uid": f"C{i}", "id.orig_h": "10.0.0.1",
               "id.orig_p": i}
        if i % 41 == 3:
            lines.append(json.dumps(row)[:30])                 # cut short
        elif i % 59 == 9:
            lines.append("")
        elif i % 67 == 11:
            lines.append(json.dumps({**row, "id.orig_p": "http"}))  # not a port
        else:
            lines.append(json.dumps(row))
    path = tmp_path / "conn.json"
    path.write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(zeek_json, "iter_blocks",
                        functools.partial(reading.iter_blocks, block_bytes=1500))

    def load():
        case = forensics.open_case(":memory:")
        case.load(path)
        rows = case.sql("SELECT line_no, uid, id_orig_p FROM zeek_conn ORDER BY 1").rows()
        rejects = case.sql("SELECT line_no, reason FROM rejects ORDER BY 1").rows()
        ev = case.evidence().select("lines_read", "blank_lines", "rows_loaded",
                                    "rows_rejected").rows()
        return rows, rejects, ev

    parallel = load()
    monkeypatch.setattr(zeek_json, "ordered_map",
                        lambda work, items, workers=2: map(work, items))
    assert parallel == load()
    rows, rejects, ev = parallel
    assert ev == [(400, 7, len(rows), len(rejects))] and len(rejects) == 10 + 6
