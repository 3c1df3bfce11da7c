"""forensics.scenarios: reproducible samples, clean loads, truthful ground truth, real formats.

The sample_logs/<scenario> folders are the generator's output at scale 1 with the default
seeds; the first test regenerates them and compares bytes, so a change to the generator
that changes its output must also update the samples (`forensics scenario NAME --out
sample_logs/NAME`).
"""

from __future__ import annotations

import csv
import gzip
import json
import re
from pathlib import Path

import pytest

import forensics
from forensics.cli import main
from forensics.loaders import FORMATS
from forensics.scenarios import DEFAULT_SEEDS, generate
from tests.conftest import REPO, corpus_file

NAMES = ["rome", "intruder", "benign", "mixed"]
SAMPLES = REPO / "sample_logs"
REGISTERED = {f.name for f in FORMATS}


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _truth(name: str) -> dict:
    return json.loads((SAMPLES / name / "ground_truth.json").read_text())


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").split("\n")


def _text(path: Path) -> str:
    data = path.read_bytes()
    return gzip.decompress(data).decode() if path.suffix == ".gz" else data.decode()


# --- reproducibility ------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_sample_logs_are_reproduced_byte_for_byte(name, tmp_path):
    truth = _truth(name)
    assert truth["seed"] == DEFAULT_SEEDS[name] and truth["scale"] == 1
    generate(name, tmp_path / name, seed=truth["seed"], scale=1)
    want, got = _files(SAMPLES / name), _files(tmp_path / name)
    assert sorted(got) == sorted(want)
    for rel in want:
        assert got[rel] == want[rel], f"{name}/{rel} differs from the committed sample"


def test_another_seed_gives_other_logs_and_the_same_story(tmp_path):
    a = generate("rome", tmp_path / "a", seed=1)
    b = generate("rome", tmp_path / "b", seed=2)
    conn = "zeek/conn.log"
    assert (tmp_path / "a" / conn).read_bytes() != (tmp_path / "b" / conn).read_bytes()
    assert [s["id"] for s in a["steps"]] == [s["id"] for s in b["steps"]]
    assert a["attribution"] == b["attribution"]


def test_samples_are_small():
    total = sum(p.stat().st_size for n in NAMES for p in (SAMPLES / n).rglob("*") if p.is_file())
    assert total < 8_000_000


# --- every file loads ---------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_every_generated_file_loads_without_rejects(name):
    root = SAMPLES / name
    truth = _truth(name)
    with forensics.open_case(":memory:") as case:
        case.configure(root / "case.toml")
        report = case.load(root)
        results = {Path(f.path).relative_to(root).as_posix(): f for f in report.files}
    assert report.rejects == 0, [(p, f.rejects) for p, f in results.items() if f.rejects]
    assert not [p for p, f in results.items() if f.status == "failed"]
    assert results["case.toml"].status == "skipped"
    assert results["ground_truth.json"].status == "skipped"
    for rel, spec in truth["files"].items():
        result = results[rel]
        assert result.status in ("loaded", "unrecognised"), (rel, result.message)
        if spec["format"] in REGISTERED:
            assert result.status == "loaded", (rel, result.message)
            assert result.format == spec["format"], rel
            assert result.rows > 0 or rel.endswith("p2pool_payouts.csv"), rel


def test_case_config_is_what_an_analyst_would_know():
    with forensics.open_case(":memory:") as case:
        ctx = case.configure(SAMPLES / "rome" / "case.toml")
    scopes = {(n.cidr, n.scope) for n in ctx.networks}
    assert ("10.42.0.0/16", "internal") in scopes and ("10.42.7.0/24", "sandbox") in scopes
    assert ("192.0.2.10/32", "allowed_egress") in scopes
    roles = {h.name: h.role for h in ctx.hosts}
    assert roles["sb-03"] == "sandbox" and roles["bastion-01"] == "bastion"
    assert ctx.year == 2026


# --- ground truth -------------------------------------------------------------------------

def _line_text(root: Path, rel: str, line: int) -> str:
    if rel.endswith(".traj"):
        return json.loads((root / rel).read_text())["trajectory"][line - 1]["action"]
    return _lines(root / rel)[line - 1]


@pytest.mark.parametrize("name", NAMES)
def test_every_evidence_line_shows_what_it_claims(name):
    root = SAMPLES / name
    truth = _truth(name)
    entries = [(s["id"], e) for s in truth["steps"] + truth["traps"] for e in s["evidence"]]
    assert entries
    for sid, e in entries:
        assert e["lines"] and e["lines_total"] >= len(e["lines"]), (sid, e["file"])
        for line in e["lines"]:
            text = _line_text(root, e["file"], line)
            for needle in e["contains"]:
                assert needle in text, (sid, e["file"], line, needle, text[:200])


@pytest.mark.parametrize("name", NAMES)
def test_steps_cover_the_phases_and_the_attribution(name):
    truth = _truth(name)
    phases = {(s["actor"], s["phase"]) for s in truth["steps"]}
    if name == "benign":
        assert not truth["steps"] and len(truth["traps"]) >= 5
        assert set(truth["attribution"].values()) == {"none"}
        return
    actors = {"rome": {"agent"}, "intruder": {"intruder"}, "mixed": {"agent", "intruder"}}[name]
    assert {a for a, _ in phases} == actors
    for actor in actors:
        for phase in ("recon", "tunnel", "mining", "monetisation"):
            assert (actor, phase) in phases, (actor, phase)
    assert set(truth["attribution"].values()) - {"none"} == actors
    for s in truth["steps"]:
        families = {truth["files"][e["file"]]["family"] for e in s["evidence"]}
        assert families, s["id"]


def _evidence(truth: dict, step_id: str, prefix: str) -> dict:
    """All lines a step names in the (one) file starting with `prefix`."""
    step = next(s for s in truth["steps"] if s["id"] == step_id)
    entries = [e for e in step["evidence"] if e["file"].startswith(prefix)]
    assert len({e["file"] for e in entries}) == 1, entries
    return {"file": entries[0]["file"], "lines": sorted(n for e in entries for n in e["lines"])}


def test_rome_tunnel_lines_name_the_destination_and_the_command():
    root, truth = SAMPLES / "rome", _truth("rome")
    conn = _evidence(truth, "rl-0304-sb-03-tunnel", "zeek/conn.log")
    for line in conn["lines"]:
        fields = _lines(root / "zeek/conn.log")[line - 1].split("\t")
        assert fields[2] == "10.42.7.13" and fields[4] == "198.51.100.23" and fields[5] == "443"
        assert fields[7] == "ssh" and float(fields[8]) > 3600  # long-lived, ssh on 443
    for sid, tool in (("rl-0304-sb-03-tunnel", "ssh -R"), ("rl-0305-sb-06-tunnel", "autossh")):
        agent = [e for s in truth["steps"] if s["id"] == sid for e in s["evidence"]
                 if e["file"] == f"agent/{sid[:7]}.jsonl"]
        commands = [json.loads(_lines(root / e["file"])[n - 1])["command"]
                    for e in agent for n in e["lines"]]
        assert len(commands) == 2 and all(tool in c and "-R" in c for c in commands), commands
    traj = _evidence(truth, "rl-0305-sb-06-tunnel", "agent/rl-0305-ep0114.traj")
    assert all("autossh" in _line_text(root, traj["file"], n) for n in traj["lines"])
    fw = _evidence(truth, "rl-0304-sb-03-tunnel", "firewall/fw-egress-01.log")
    texts = [_lines(root / fw["file"])[n - 1] for n in fw["lines"]]
    assert any("SBX-EGRESS-DROP:" in t and "DPT=22 " in t for t in texts)


def test_rome_mining_is_flat_on_one_gpu_and_speaks_to_the_pool():
    root, truth = SAMPLES / "rome", _truth("rome")
    dns = _evidence(truth, "rl-0304-sb-03-mining", "zeek/dns.log")
    assert all(json.loads(_lines(root / dns["file"])[n - 1])["query"] == "xmr-eu.pool.example.net"
               for n in dns["lines"])
    smi = _evidence(truth, "rl-0304-sb-03-mining", "gpu/nvsmi-sb-03.csv")
    rows = [_lines(root / smi["file"])[n - 1].split(", ") for n in smi["lines"]]
    assert {r[5] for r in rows} == {"3"} and {r[10] for r in rows} == {"100 %"}
    powers = [float(r[13].split()[0]) for r in rows]
    assert max(powers) - min(powers) < 6  # a miner's flat power, unlike training
    vpc = _evidence(truth, "rl-0304-sb-03-mining", "firewall/vpc-flow.log")
    packets = [int(_lines(root / vpc["file"])[n - 1].split()[8]) for n in vpc["lines"]]
    assert len(packets) > 20 and max(packets) - min(packets) <= 4  # shares on a cadence


def test_intruder_access_is_a_brute_force_then_one_success():
    root, truth = SAMPLES / "intruder", _truth("intruder")
    ssh = _evidence(truth, "intruder-sb-04-access", "zeek/ssh.log")
    rows = [_lines(root / ssh["file"])[n - 1].split("\t") for n in ssh["lines"]]
    assert all(r[2] == "203.0.113.66" and r[4] == "10.42.7.14" for r in rows)
    outcomes = [r[7] for r in rows]
    assert outcomes.count("T") == 1 and outcomes.count("F") >= 100 and outcomes[-1] == "T"
    agent_files = [rel for rel in truth["files"] if rel.startswith("agent/")]
    for s in truth["steps"]:
        assert not [e for e in s["evidence"] if e["file"] in agent_files], s["id"]


# --- formats match the real samples -------------------------------------------------------

def _zeek_header(text: str) -> dict[str, str]:
    out = {}
    for line in text.split("\n"):
        if not line.startswith("#"):
            break
        key, _, value = line.partition("\t") if "\t" in line else line.partition(" ")
        out[key] = value
    return out


@pytest.mark.corpus
@pytest.mark.parametrize("rel,corpus", [("zeek/conn.log", "zeek5_proxy_conn.log"),
                                        ("zeek/ssh.log", "zeek62_wrccdc_ssh.log.gz"),
                                        ("zeek/ssl.log", "zeek6_ssl.log.gz")])
def test_zeek_tsv_headers_match_the_corpus(rel, corpus):
    real = _zeek_header(_text(corpus_file("zeek", corpus)))
    ours = _zeek_header(_text(SAMPLES / "rome" / rel))
    assert list(ours) == list(real)
    assert ours["#fields"] == real["#fields"] and ours["#types"] == real["#types"]
    for key in ("#separator", "#set_separator", "#empty_field", "#unset_field", "#path"):
        assert ours[key] == real[key]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d", ours["#open"])
    assert _lines(SAMPLES / "rome" / rel)[-2].startswith("#close\t")
    body = [ln for ln in _lines(SAMPLES / "rome" / rel) if ln and not ln.startswith("#")]
    n = len(real["#fields"].split("\t"))
    assert all(len(ln.split("\t")) == n for ln in body)
    assert all(re.fullmatch(r"\d{10}\.\d{6}", ln.split("\t")[0]) for ln in body)


@pytest.mark.corpus
def test_zeek_dns_json_keys_follow_the_corpus_order():
    real_rows = [json.loads(ln) for ln in _lines(corpus_file("zeek", "json_dns.log")) if ln]
    real = max((list(r) for r in real_rows), key=len)
    for ln in [x for x in _lines(SAMPLES / "rome" / "zeek/dns.log") if x][:200]:
        keys = list(json.loads(ln))
        assert [k for k in real if k in keys] == [k for k in keys if k in real]
        assert set(keys) - set(real) <= {"rtt"}


@pytest.mark.corpus
def test_vpc_flow_header_is_identical():
    real = _lines(corpus_file("firewall", "aws_vpcflow_v2_header.log"))
    ours = _lines(SAMPLES / "rome" / "firewall/vpc-flow.log")
    assert ours[0] == real[0]
    assert all(len(ln.split(" ")) == 14 for ln in ours[1:] if ln)


@pytest.mark.corpus
def test_netfilter_lines_have_the_corpus_shape():
    shape = re.compile(r"^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ kernel: \[\d+\.\d{6}\] "
                       r"(?:\S+ )?IN=\S* OUT=\S* MAC=\S+ SRC=\S+ DST=\S+ LEN=\d+ TOS=0x00 "
                       r"PREC=0x00 TTL=\d+ ID=\d+ (?:DF )?PROTO=TCP SPT=\d+ DPT=\d+ "
                       r"WINDOW=\d+ RES=0x00 SYN URGP=0$")
    keys = re.compile(r"\b([A-Z]+)=")
    real = _lines(corpus_file("firewall", "iptables_scan_syslog.log"))[0]
    assert shape.match(real)
    for ln in [x for x in _lines(SAMPLES / "rome" / "firewall/fw-egress-01.log") if x]:
        assert shape.match(ln), ln
        assert keys.findall(ln) == keys.findall(real)


def _csv_styles(lines: list[str]) -> list[set[str]]:
    """Per column: how non-NULL values are written (quoted or bare)."""
    header = next(csv.reader([lines[0]]))
    styles: list[set[str]] = [set() for _ in header]
    splitter = re.compile(r'(?:^|,)("(?:[^"]|"")*"|[^,]*)')
    for ln in lines[1:]:
        if not ln:
            continue
        cells = splitter.findall(ln)
        assert len(cells) == len(header), ln[:120]
        for i, cell in enumerate(cells):
            if cell != "NULL":
                styles[i].add("quoted" if cell.startswith('"') else "bare")
    return styles


@pytest.mark.corpus
def test_focus_csv_matches_header_quoting_and_times():
    real = _lines(corpus_file("billing", "focus10_sample_1000.csv"))
    ours = _lines(SAMPLES / "rome" / "billing/focus.csv")
    assert ours[0] == real[0]
    for i, (r, o) in enumerate(zip(_csv_styles(real), _csv_styles(ours), strict=True)):
        # a column the sample never fills (all NULL) says nothing about its quoting
        assert o <= r or not r, (next(csv.reader([real[0]]))[i], o, r)
    header = next(csv.reader([ours[0]]))
    row = next(csv.reader([ours[1]]))
    for col in ("ChargePeriodStart", "ChargePeriodEnd", "BillingPeriodStart"):
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row[header.index(col)])


@pytest.mark.corpus
def test_aws_cur_header_and_times_match():
    real = _lines(corpus_file("billing", "aws_cur_legacy_anon.csv"))
    ours = _lines(SAMPLES / "rome" / "billing/aws-cur.csv")
    assert ours[0] == real[0]
    header = ours[0].split(",")
    for ln in [x for x in ours[1:] if x]:
        row = next(csv.reader([ln]))
        assert len(row) == len(header)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z",
                            row[header.index("lineItem/UsageStartDate")])
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ",
                            row[header.index("identity/TimeInterval")])


@pytest.mark.corpus
def test_nvidia_smi_fields_are_an_ordered_subset_of_a_real_capture():
    real = _lines(corpus_file("gpu", "nvsmi_query_gpu_h100_load_drv590.csv"))
    real_fields = real[0].split(", ")
    path = next((SAMPLES / "rome" / "gpu").glob("nvsmi-*.csv"))
    ours = _lines(path)
    fields = ours[0].split(", ")
    assert fields[0] == real_fields[0] == "timestamp"
    assert [f for f in real_fields if f in fields] == fields
    ts = re.compile(r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{3}")
    assert ts.fullmatch(real[1].split(", ")[0])
    for ln in [x for x in ours[1:] if x]:
        cells = ln.split(", ")
        assert len(cells) == len(fields) and ts.fullmatch(cells[0])
        for f, v in zip(fields, cells, strict=True):
            unit = re.search(r"\[(.*)\]", f)
            if unit:
                assert v.endswith(" " + unit.group(1)), (f, v)


@pytest.mark.corpus
def test_dcgm_text_uses_the_exporter_labels():
    label_keys = re.compile(r'([A-Za-z_]+)="')
    real = [ln for ln in _lines(corpus_file("gpu", "dcgm_exporter_t4_drv460.prom"))
            if ln.startswith("DCGM_FI_")]
    real_keys = label_keys.findall(real[0])
    path = next((SAMPLES / "rome" / "gpu").glob("dcgm-*.prom"))
    ours = _lines(path)
    assert ours[0].startswith("# HELP DCGM_FI_") and ours[1].startswith("# TYPE DCGM_FI_")
    for ln in [x for x in ours if x.startswith("DCGM_FI_")][:500]:
        keys = label_keys.findall(ln)
        assert [k for k in real_keys if k in keys] == keys
        assert re.search(r"\} \d+(\.\d+)? \d{13}$", ln)


@pytest.mark.corpus
def test_etherscan_export_header_and_quoting_match():
    real = _lines(corpus_file("blockchain", "etherscan_txlist_0x003dc.csv"))
    path = next((SAMPLES / "rome" / "ledger").glob("etherscan-*.csv"))
    ours = _lines(path)
    price = re.compile(r"CurrentValue @ \$[0-9.]+/Eth")
    assert price.sub("PRICE", ours[0]) == price.sub("PRICE", real[0])
    for ln in [x for x in ours if x]:
        assert re.fullmatch(r'"[^"]*"(,"[^"]*")*', ln)
    row = next(csv.reader([ours[1]]))
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row[3])
    assert all(re.fullmatch(r"0x[0-9a-f]{40}", a) for a in row[4:6])


@pytest.mark.corpus
def test_p2pool_payouts_match_the_db4e_shape():
    real = _lines(corpus_file("blockchain", "p2pool_xmr_payouts_daily.csv"))
    ours = _lines(SAMPLES / "rome" / "ledger/p2pool_payouts.csv")
    assert ours[0] == real[0]
    for ln in [x for x in ours[1:] if x]:
        assert re.fullmatch(r"\d{4}-\d\d-\d\d,\d+\.\d{4}", ln)


@pytest.mark.corpus
def test_swe_agent_trajectory_has_the_corpus_keys():
    real = json.loads(corpus_file("agent", "sweagent_v0_gpt4_pydicom-1458.traj").read_text())
    path = next((SAMPLES / "rome" / "agent").glob("*.traj"))
    ours = json.loads(path.read_text())
    assert list(ours) == list(real)
    assert set(ours["trajectory"][0]) == set(real["trajectory"][0])
    assert json.loads(ours["trajectory"][0]["state"])["working_dir"]


def test_agent_jsonl_follows_the_spec():
    required = {"schema", "time", "run", "trajectory", "step", "actor", "type"}
    for path in (SAMPLES / "rome" / "agent").glob("*.jsonl"):
        for ln in [x for x in _lines(path) if x][:500]:
            row = json.loads(ln)
            assert required <= set(row) and row["schema"] == "forensics.agent/1"
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", row["time"])


# --- scale and CLI ------------------------------------------------------------------------

def _body_rows(path: Path) -> int:
    return sum(1 for ln in _lines(path) if ln and not ln.startswith("#"))


def test_scale_grows_the_background_and_keeps_the_incident(tmp_path):
    one = _body_rows(SAMPLES / "rome" / "zeek/conn.log")
    truth = generate("rome", tmp_path, scale=4)
    four = _body_rows(tmp_path / "zeek/conn.log")
    assert 3.5 * one < four < 4.5 * one
    assert [s["id"] for s in truth["steps"]] == [s["id"] for s in _truth("rome")["steps"]]
    for s in truth["steps"]:
        for e in s["evidence"]:
            for line in e["lines"][:20]:
                text = _line_text(tmp_path, e["file"], line)
                assert all(n in text for n in e["contains"]), (s["id"], e["file"], line)


def test_cli_writes_a_scenario(tmp_path, capsys):
    assert main(["scenario", "benign", "--out", str(tmp_path / "b"), "--seed", "3"]) == 0
    assert (tmp_path / "b" / "case.toml").exists()
    assert json.loads((tmp_path / "b" / "ground_truth.json").read_text())["seed"] == 3
    assert "0 malicious steps" in capsys.readouterr().out
    assert main(["scenario", "rome", "--out", str(tmp_path / "r"), "--scale", "0"]) == 2


def test_unknown_scenario_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="unknown scenario"):
        generate("nope", tmp_path)


def test_a_larger_scale_still_loads_without_rejects(tmp_path):
    generate("mixed", tmp_path, scale=6)
    with forensics.open_case(":memory:") as case:
        case.configure(tmp_path / "case.toml")
        report = case.load(tmp_path)
    assert report.rejects == 0
    bad = [(f.path, f.status, f.message) for f in report.files
           if f.status not in ("loaded", "skipped")]
    assert not bad
