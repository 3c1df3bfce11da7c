"""A hostile scenario for report tests: log strings that try to run in the reader's browser.

Payloads sit in HTTP URIs and user agents (Zeek TSV), DNS names (Zeek JSON) and agent
commands and host names (forensics agent JSONL), placed so the detections still fire on
them (pool domains, a stratum URI, a miner command with a checksum-valid wallet), which
puts them in finding summaries, hover text, axis labels and evidence lines. Each payload
would set window.__pwned (and the page title) if it ever ran.
"""

from __future__ import annotations

import json
from pathlib import Path

SCRIPT = "<script>window.__pwned='script';document.title='PWNED'</script>"
IMG = "<img src=x onerror=\"window.__pwned='img';document.title='PWNED'\">"
SVG = "<svg onload=\"window.__pwned='svg'\"></svg>"
JS_URI = "javascript:window.__pwned='uri'"
ANCHOR = f"<a href=\"{JS_URI}\">click</a>"
PAYLOADS = [SCRIPT, IMG, SVG, JS_URI]
WALLET = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"  # EIP-55 test vector
HOST = "sb-666" + IMG
T0 = 1772611200.0  # 2026-03-04T08:00:00Z


def write(root: Path) -> Path:
    """Write the hostile logs under `root` and return it (with a case.toml beside them)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "case.toml").write_text(
        '[case]\nname = "hostile"\n\n[networks]\ninternal = ["10.0.0.0/8"]\n'
        'sandbox = ["10.42.7.0/24"]\n', encoding="utf-8")
    fields = ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "method",
              "host", "uri", "user_agent", "status_code"]
    types = ["time", "string", "addr", "port", "addr", "port", "string", "string", "string",
             "string", "count"]
    rows = []
    for i, (uri, agent) in enumerate([
            (f"/stratum+tcp://pool.supportxmr.com:3333/{SCRIPT}", IMG),
            (f"/mining.subscribe?next={JS_URI}", SVG + ANCHOR),
            (f"/login?u={WALLET}&x={IMG}", SCRIPT)]):
        rows.append([f"{T0 + 60 * i:.6f}", f"CH{i}xx", "10.42.7.21", str(40000 + i),
                     "203.0.113.50", "80", "GET", "pool.supportxmr.com", uri, agent, "200"])
    http = ["#separator \\x09", "#set_separator\t,", "#empty_field\t(empty)",
            "#unset_field\t-", "#path\thttp", "#open\t2026-03-04-08-00-00",
            "#fields\t" + "\t".join(fields), "#types\t" + "\t".join(types)]
    http += ["\t".join(r) for r in rows]
    http.append("#close\t2026-03-04-09-00-00")
    (root / "http.log").write_text("\n".join(http) + "\n", encoding="utf-8")

    dns = []
    for i, name in enumerate([f"{SCRIPT}.pool.supportxmr.com", f"{IMG}.xmrpool.eu",
                              f"{JS_URI}.moneroocean.stream"]):
        dns.append(json.dumps({"ts": T0 + 30 + i, "uid": f"CD{i}", "id.orig_h": "10.42.7.21",
                               "id.orig_p": 53000 + i, "id.resp_h": "10.0.0.2",
                               "id.resp_p": 53, "proto": "udp", "query": name,
                               "qtype_name": "A", "rcode_name": "NOERROR",
                               "answers": ["203.0.113.50"]}))
    (root / "dns.log").write_text("\n".join(dns) + "\n", encoding="utf-8")

    agent = []
    for i, (cmd, target) in enumerate([
            (f"xmrig -o stratum+tcp://pool.supportxmr.com:3333 -u {WALLET} --pass '{SCRIPT}'",
             JS_URI),
            (f"curl -A '{IMG}' 'http://pool.supportxmr.com/{SCRIPT}'", ANCHOR),
            (f"echo {SVG} # {JS_URI} {WALLET}", SCRIPT)]):
        agent.append(json.dumps({
            "schema": "forensics.agent/1", "time": f"2026-03-04T08:0{i}:00Z",
            "run": "rl-hostile", "trajectory": "t1", "step": i, "actor": "agent",
            "type": "shell", "host": HOST, "command": cmd, "target": target,
            "exit_code": 0, "output": IMG}))
    (root / "agent.jsonl").write_text("\n".join(agent) + "\n", encoding="utf-8")
    return root
