"""Write one scenario: background, story, every evidence file, case.toml, ground_truth.json.

Order matters only for determinism: each family draws from its own seeded generator
(`model.sub_rng`), the story from one `random.Random(seed)`, and every file is sorted by
time with stable tie-breaks, so the same (name, seed, scale) gives the same bytes.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

from forensics.scenarios import agent_logs, billing_logs, firewall_logs, gpu_logs, ledger_logs
from forensics.scenarios import model as m
from forensics.scenarios import zeek_logs as z
from forensics.scenarios.model import Bag
from forensics.scenarios.stories import STORIES, common
from forensics.scenarios.writing import Located

DEFAULT_SEEDS = {"rome": 4242, "intruder": 1717, "benign": 2026, "mixed": 9090}
CONN_PER_SCALE = 1500
MAX_LINES = 200  # per evidence entry in ground_truth.json (the rest are counted)

FILES: dict[str, tuple[str, str]] = {  # relative path -> (family, format)
    "zeek/conn.log": ("zeek", "zeek-tsv"), "zeek/dns.log": ("zeek", "zeek-json"),
    "zeek/ssh.log": ("zeek", "zeek-tsv"), "zeek/ssl.log": ("zeek", "zeek-tsv"),
    "firewall/fw-egress-01.log": ("firewall", "netfilter"),
    "firewall/vpc-flow.log": ("firewall", "aws-vpc-flow"),
    "billing/focus.csv": ("billing", "focus-csv"), "billing/aws-cur.csv": ("billing", "aws-cur"),
    "ledger/p2pool_payouts.csv": ("ledger", "p2pool-payouts-csv"),
}


def generate(name: str, out: str | Path, seed: int | None = None, scale: int = 1,
             timings: dict[str, float] | None = None) -> dict[str, Any]:
    """Write scenario `name` into `out`; returns the ground truth it wrote. `timings`, when
    given, receives the seconds spent per stage (for the benchmark)."""
    clock = _Clock(timings)
    if name not in STORIES:
        raise ValueError(f"unknown scenario {name!r}; choose one of {', '.join(sorted(STORIES))}")
    if scale < 1:
        raise ValueError("scale must be at least 1")
    seed = DEFAULT_SEEDS[name] if seed is None else seed
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    bag = Bag(seed=seed, scale=scale)
    STORIES[name](bag, random.Random(seed))
    clock.mark("story")
    moderate = max(1, round(math.sqrt(scale)))
    found: dict[str, Located] = {}
    files = dict(FILES)
    conn_bg = z.conn_background(m.sub_rng(seed, "conn"), CONN_PER_SCALE * scale)
    clock.mark("conn background")
    found["zeek/conn.log"] = z.write_conn(out / "zeek/conn.log", conn_bg, bag.rows.get("conn", []))
    clock.mark("zeek conn.log")
    found["zeek/dns.log"] = z.write_dns(out / "zeek/dns.log",
                                        z.dns_background(m.sub_rng(seed, "dns"), conn_bg),
                                        bag.rows.get("dns", []))
    found["zeek/ssh.log"] = z.write_ssh(out / "zeek/ssh.log",
                                        z.ssh_background(m.sub_rng(seed, "ssh"), conn_bg),
                                        bag.rows.get("ssh", []))
    found["zeek/ssl.log"] = z.write_ssl(out / "zeek/ssl.log",
                                        z.ssl_background(m.sub_rng(seed, "ssl"), conn_bg),
                                        bag.rows.get("ssl", []))
    clock.mark("zeek dns/ssh/ssl")
    found["firewall/vpc-flow.log"] = firewall_logs.write_vpc(
        out / "firewall/vpc-flow.log",
        firewall_logs.vpc_background(m.sub_rng(seed, "vpc"), conn_bg, 0.2),
        bag.rows.get("vpc", []))
    del conn_bg
    clock.mark("vpc flow")
    found["firewall/fw-egress-01.log"] = firewall_logs.write_netfilter(
        out / "firewall/fw-egress-01.log",
        firewall_logs.netfilter_background(m.sub_rng(seed, "netfilter"), 120 * scale),
        bag.rows.get("netfilter", []))
    clock.mark("netfilter")
    found["billing/focus.csv"] = billing_logs.write_focus(
        out / "billing/focus.csv",
        billing_logs.focus_background(m.sub_rng(seed, "focus"), 24 * m.DAYS, moderate),
        bag.rows.get("focus", []))
    found["billing/aws-cur.csv"] = billing_logs.write_cur(
        out / "billing/aws-cur.csv", billing_logs.cur_background(m.sub_rng(seed, "cur"), moderate),
        bag.rows.get("cur", []))
    clock.mark("billing")
    _gpu(out, bag, seed, moderate, found, files)
    clock.mark("gpu")
    _agent(out, bag, seed, moderate, found, files)
    clock.mark("agent")
    wallet = bag.rows.get("eth_wallet", [ledger_logs.address("lab-test-wallet")])[0]
    eth_path = f"ledger/etherscan-{wallet[:10]}.csv"
    files[eth_path] = ("ledger", "etherscan-txlist-csv")
    found[eth_path] = ledger_logs.write_etherscan(out / eth_path, bag.rows.get("eth", []))
    found["ledger/p2pool_payouts.csv"] = ledger_logs.write_payouts(
        out / "ledger/p2pool_payouts.csv", bag.rows.get("payouts", []))
    clock.mark("ledger")
    truth = _ground_truth(name, seed, scale, bag, found, files)
    (out / "ground_truth.json").write_text(json.dumps(truth, indent=1) + "\n", encoding="utf-8")
    (out / "case.toml").write_text(case_toml(name), encoding="utf-8")
    return truth


class _Clock:
    """Stage timings for the benchmark (perf_counter only measures; it feeds no output)."""

    def __init__(self, sink: dict[str, float] | None) -> None:
        import time

        self._time = time.perf_counter
        self.sink = sink
        self.last = self._time()

    def mark(self, label: str) -> None:
        now = self._time()
        if self.sink is not None:
            self.sink[label] = self.sink.get(label, 0.0) + now - self.last
        self.last = now


def _gpu(out: Path, bag: Bag, seed: int, moderate: int, found: dict[str, Located],
         files: dict[str, tuple[str, str]]) -> None:
    """nvidia-smi captures for every other GPU host, DCGM text for the rest."""
    for k, host in enumerate(bag.gpu_hosts):
        training = [w for w, hosts in _runs(bag).values() if host in hosts]
        training += bag.rows.get(f"training:{host}", [])
        smi = k % 2 == 0
        interval = max(m.US, (20 if smi else 30) * m.MINUTE // moderate)
        frame = gpu_logs.timeline(m.sub_rng(seed, f"gpu:{host}"), host, interval, training,
                                  bag.gpu_overrides)
        marks = [{**o, "shows": [host, f", {o['gpu']}, P0, ", "100 %"] if smi else
                  [f'gpu="{o["gpu"]}"', f'Hostname="{host}"', "} 100 "]}
                 for o in bag.gpu_overrides if o["host"] == host]
        marks += [t for t in bag.rows.get("gpu_marks", []) if t["host"] == host]
        frame = gpu_logs.tag_rows(frame, marks)
        rel = f"gpu/nvsmi-{host}.csv" if smi else f"gpu/dcgm-{host}.prom"
        files[rel] = ("gpu", "nvidia-smi-query-gpu" if smi else "prometheus-gpu-text")
        path = out / rel
        found[rel] = (gpu_logs.write_smi(path, frame) if smi
                      else gpu_logs.write_dcgm(path, frame, interval))


def _runs(bag: Bag) -> dict[str, tuple[tuple[int, int], list[str]]]:
    return bag.rows.get("runs_override", [common.RUNS])[0]


def _agent(out: Path, bag: Bag, seed: int, moderate: int, found: dict[str, Located],
           files: dict[str, tuple[str, str]]) -> None:
    for run, (window, hosts) in _runs(bag).items():
        bg = agent_logs.background(m.sub_rng(seed, f"agent:{run}"), run, hosts, window,
                                   6 * moderate)
        rel = f"agent/{run}.jsonl"
        files[rel] = ("agent", "forensics-agent-jsonl")
        found[rel] = agent_logs.write_jsonl(out / rel, bg, bag.rows.get(f"agent:{run}", []))
    for key in sorted(k for k in bag.rows if k.startswith("traj:")):
        name = key.split(":", 1)[1]
        rel = f"agent/{name}.traj"
        files[rel] = ("agent", "swe-agent-traj")
        steps = [{"command": a["command"], "output": a.get("output", ""),
                  "thought": _thought(a["command"]), "tag": a.get("tag"),
                  "shows": a.get("shows", [])} for a in bag.rows[key]]
        found[rel] = agent_logs.write_traj(out / rel, steps, "parser: header detection fails "
                                           "on quoted fields (#412)", 0.91)


def _thought(command: str) -> str:
    word = command.split()[0]
    return {"nmap": "Let me look at what else is reachable from this sandbox.",
            "ssh": "I need a stable way back into this machine.",
            "autossh": "The earlier tunnel dropped; autossh will keep it up.",
            "curl": "I will fetch the tool I need.", "nohup": "Start it in the background.",
            "aws": "More GPUs would make the task faster.",
            "cat": "Check the configuration available here."}.get(
        word, "Let me continue with the task.")


def _ground_truth(name: str, seed: int, scale: int, bag: Bag, found: dict[str, Located],
                  files: dict[str, tuple[str, str]]) -> dict[str, Any]:
    # tag -> (file, the strings its lines show) -> lines: one evidence entry per group,
    # so `contains` is exact for every line listed
    by_tag: dict[str, dict[tuple[str, tuple[str, ...]], list[int]]] = {}
    for rel in sorted(found):
        for tag, line, shows in found[rel]:
            by_tag.setdefault(tag, {}).setdefault((rel, tuple(shows)), []).append(line)

    def evidence(tag: str) -> list[dict[str, Any]]:
        out = []
        for (rel, shows), lines in sorted(by_tag.get(tag, {}).items()):
            lines = sorted(lines)
            entry: dict[str, Any] = {"file": rel, "lines": lines[:MAX_LINES],
                                     "lines_total": len(lines), "contains": list(shows)}
            if rel.endswith(".traj"):
                entry["line_is"] = "1-based index of the step in the 'trajectory' list"
            out.append(entry)
        return out

    hosts = {h.name: h for h in m.ALL_HOSTS}
    steps = [{"id": s.id, "phase": s.phase, "actor": s.actor, "host": s.host,
              "host_ip": hosts[s.host].ip, "start": m.iso(s.start, frac=True),
              "end": m.iso(s.end, frac=True), "summary": s.summary, "evidence": evidence(s.id)}
             for s in bag.steps]
    traps = [{"id": t.id, "kind": t.kind, "hosts": t.hosts, "start": m.iso(t.start),
              "end": m.iso(t.end), "why_benign": t.why_benign, "evidence": evidence(t.id)}
             for t in bag.traps]
    attribution = {h.name: bag.attribution.get(h.name, "none") for h in m.SANDBOXES}
    attribution.update({k: v for k, v in sorted(bag.attribution.items())})
    return {
        "scenario": name, "seed": seed, "scale": scale,
        "window": {"start": m.iso(m.BASE_US), "end": m.iso(m.END_US)},
        "attribution": attribution,
        "files": {rel: {"family": fam, "format": fmt} for rel, (fam, fmt) in sorted(files.items())},
        "line_numbers": "1-based physical line numbers of the file, header lines included "
                        "(the loaders' line_no); for .traj files the step index",
        "steps": steps, "traps": traps, "notes": bag.notes,
    }


def case_toml(name: str) -> str:
    """The case context an analyst would have: networks, sandboxes, allowlist, hosts."""
    lines = [f"# Case context for the '{name}' scenario: what the cluster's owners know.",
             "[case]", f'name = "{name}"', 'timezone = "UTC"', "year = 2026", "",
             "[networks]",
             'internal = [{cidr = "10.42.0.0/16", label = "training cluster"}]',
             'sandbox = [{cidr = "10.42.7.0/24", label = "agent sandboxes"}]', "", "[allow]",
             "egress = [" + ", ".join(f'"{ip}"' for _, ip in m.ALLOWED)
             + f', "{m.NTP}"' + "]", ""]
    for h in m.ALL_HOSTS:
        lines += [f'[hosts."{h.ip}"]', f'name = "{h.name}"', f'role = "{h.role}"', ""]
    return "\n".join(lines)
