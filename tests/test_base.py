"""The shared loader helpers: `json_object`, and errors inside a load's transaction."""

from __future__ import annotations

import json

import duckdb
import polars as pl
import pytest

from forensics.loaders.base import registered, unordered_insert
from forensics.loaders.jsontext import json_object

# Values a NULL-stripping pattern over the encoded text would take for member boundaries.
TRAPS = [":null", ":nullx", ',"x":null', '":null', 'a":null,"b":null}', "\\", '\\":null',
         "null", "", '{"k":null}', "tab\t:null\n"]


def test_json_object_keeps_values_that_look_like_null_members():
    frame = pl.DataFrame({"a": TRAPS, "b": [None, *TRAPS[1:]], "c": [None] * len(TRAPS)})
    out = frame.select(json_object(["a", "b", "c"], {"b": 'k"ey'}).alias("x"))["x"]
    for text, a, b in zip(out, frame["a"], frame["b"], strict=True):
        expected = {"a": a} | ({'k"ey': b} if b is not None else {})
        assert json.loads(text) == expected, text


def test_json_object_text_format():
    # pinned: the compact text of polars' encoder, NULL members left out, `{}` for none
    frame = pl.DataFrame({"a": ["x", None, None], "b": [None, 'q"\\', None], "n": [1, 2, None]})
    out = frame.select(json_object(["a", "b", "n"]).alias("x"))["x"].to_list()
    assert out == ['{"a":"x","n":"1"}', '{"b":"q\\"\\\\","n":"2"}', "{}"]


def test_registered_does_not_hide_the_failing_statement():
    # a failed statement aborts the transaction, and DuckDB then refuses the unregister
    # too; the error that surfaces must be the statement's own
    con = duckdb.connect()
    con.execute("CREATE TABLE t (j JSON)")
    con.execute("BEGIN TRANSACTION")
    with pytest.raises(duckdb.ConversionException, match="Malformed JSON"), \
            registered(con, "v", pl.DataFrame({"j": ["{bad"]})):
        con.execute("INSERT INTO t SELECT j FROM v")
    con.execute("ROLLBACK")
    with registered(con, "v", pl.DataFrame({"j": ["{}"]})):  # the name is free again
        con.execute("INSERT INTO t SELECT j FROM v")
    assert con.execute("SELECT j::VARCHAR FROM t").fetchall() == [("{}",)]


def test_failed_load_names_the_real_cause(case, tmp_path, monkeypatch):
    # whatever makes DuckDB refuse a batch, the analyst sees why, not "transaction aborted"
    from forensics.loaders.gpu import common

    monkeypatch.setattr(common, "with_extra", lambda frame, cols, keys: frame.with_columns(
        pl.lit("{bad", dtype=pl.String).alias("extra")).drop(cols))
    path = tmp_path / "q.csv"
    path.write_text("timestamp, index, pci.bus_id\n2024/03/01 10:00:00.000, 0, 00:01\n")
    res = case.load(str(path)).files[0]
    assert res.status == "failed"
    assert "Malformed JSON" in res.message and "aborted" not in res.message
    assert case.sql("SELECT count(*) AS n FROM evidence")["n"][0] == 0


def test_unordered_insert_puts_the_setting_back_even_on_error():
    con = duckdb.connect()
    con.execute("CREATE TABLE t (x INTEGER)")
    for start in (True, False):
        con.execute(f"SET preserve_insertion_order = {start}")
        with unordered_insert(con):
            assert con.execute("SELECT current_setting('preserve_insertion_order')"
                               ).fetchall() == [(False,)]
            con.execute("INSERT INTO t SELECT range FROM range(10)")
        with pytest.raises(duckdb.Error), unordered_insert(con):
            con.execute("INSERT INTO t VALUES ('not a number')")
        assert con.execute("SELECT current_setting('preserve_insertion_order')"
                           ).fetchall() == [(start,)]
    assert con.execute("SELECT count(*), sum(x) FROM t").fetchall() == [(20, 90)]


def test_a_load_leaves_the_case_preserving_order(case, tmp_path):
    """Loads insert unordered; what the analyst runs afterwards has DuckDB's default."""
    log = tmp_path / "a.jsonl"
    log.write_text("".join(
        json.dumps({"schema": "forensics.agent/1", "run": "r", "trajectory": "t", "step": i,
                    "actor": "agent", "type": "shell", "command": f"echo {i}"}) + "\n"
        for i in range(50_000)))
    assert case.load(log).files[0].rows == 50_000
    assert case.sql("SELECT current_setting('preserve_insertion_order') AS v").item() is True
    rows = case.sql("SELECT line_no, step, command FROM agent_actions ORDER BY line_no")
    assert rows["step"].to_list() == list(range(50_000))
    assert rows["line_no"].to_list() == list(range(1, 50_001))
    assert rows["command"][49_999] == "echo 49999"


def test_insert_stream_hands_each_frame_to_duckdb_before_the_next_is_made(monkeypatch):
    """The producer (parsing) and DuckDB's write overlap only if the stream is lazy: the
    next frame is asked for after DuckDB took the last one, never all up front."""
    from forensics.loaders import base
    from forensics.loaders.base import LoadContext, LoadOptions

    events: list[tuple[str, int]] = []
    arrow = base._arrow
    monkeypatch.setattr(base, "_arrow", lambda f: events.append(("written", f.height))
                        or arrow(f))

    def frames():
        for k in range(1, 5):
            events.append(("made", k))
            yield pl.DataFrame({"x": list(range(k)), "line_no": list(range(k))})

    con = duckdb.connect()
    con.execute("CREATE TABLE t (x INTEGER, evidence_id INTEGER, line_no BIGINT)")
    ctx = LoadContext(con, "f.log", 7, LoadOptions())
    assert ctx.insert_stream("t", frames()) == 10
    assert con.execute("SELECT count(*), sum(x), min(evidence_id) FROM t").fetchall() == [
        (10, 0 + 1 + 3 + 6, 7)]
    for k in (2, 3, 4):
        assert events.index(("written", k - 1), 1) < events.index(("made", k)), events
