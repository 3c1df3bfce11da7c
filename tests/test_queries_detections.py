"""One positive and one negative case per detection, from small synthetic rows."""

from __future__ import annotations

import pytest

import forensics
from forensics import queries
from tests.query_fixtures import CONFIG, at, conn, insert, load_zeek

SB, SCHED, EXT, ALLOWED = "10.42.7.17", "10.42.0.5", "198.51.100.23", "151.101.0.223"
XMR = ("44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f"
       "2wfn3RVGQBEP3A")


@pytest.fixture
def case():
    c = forensics.open_case(":memory:")
    c.configure(CONFIG)
    yield c
    c.close()


def findings(case, name, **params):
    frame = queries.run(case, name, **params)
    return frame.to_dicts()


# -- recon --------------------------------------------------------------------------------

def test_recon_finds_horizontal_and_vertical_scans(case, tmp_path):
    rows = [conn(i, SB, f"10.42.3.{i}", 22, state="S0") for i in range(1, 13)]
    rows += [conn(100 + p, SCHED, "10.42.9.9", 1000 + p, state="REJ") for p in range(120)]
    load_zeek(case, tmp_path, conn=rows)
    got = {f["host"]: f for f in findings(case, "recon_internal_scan")}
    assert got[SB]["scan_type"] == "horizontal" and got[SB]["hosts"] == 12
    assert {"sandbox_source", "admin_ports", "horizontal_scan"} <= set(got[SB]["signals"])
    assert got[SB]["evidence_count"] == 12 and len(got[SB]["evidence"]) == 12
    assert got[SCHED]["scan_type"] == "vertical" and got[SCHED]["ports"] == 120
    assert got[SB]["severity"] == "high"


def test_recon_ignores_answered_external_and_small_probes(case, tmp_path):
    rows = [conn(i, SB, f"10.42.3.{i}", 22, state="SF") for i in range(1, 30)]  # answered
    rows += [conn(i, SB, f"203.0.113.{i}", 22, state="S0") for i in range(1, 30)]  # external
    rows += [conn(50 + i, SCHED, f"10.42.4.{i}", 22, state="S0") for i in range(1, 30)]  # < 100
    rows += [conn(5000 + 2000 * i, SB, f"10.42.5.{i}", 80, state="S0") for i in range(12)]  # slow
    load_zeek(case, tmp_path, conn=rows)
    assert findings(case, "recon_internal_scan") == []
    # the thresholds are parameters: a lower bar for internal hosts finds the scheduler
    assert [f["host"] for f in findings(case, "recon_internal_scan", min_attempts_internal=20)] \
        == [SCHED]


def test_recon_finds_a_block_scan_of_a_few_servers(case, tmp_path):
    # 5 servers x 6 control-plane ports, refused: few hosts, few ports, many targets
    rows = [conn(i * 0.05 + j, SB, f"10.42.0.{j}", port, state="REJ")
            for j in range(2, 7) for i, port in enumerate([22, 2379, 6443, 8786, 9000, 10250])]
    load_zeek(case, tmp_path, conn=rows)
    (f,) = findings(case, "recon_internal_scan")
    assert f["host"] == SB and f["scan_type"] == "block" and f["attempts"] == 30
    assert findings(case, "recon_internal_scan", min_targets=40) == []


def test_lateral_ssh_from_a_sandbox_to_its_neighbours(case, tmp_path):
    rows = [conn(600 * k, SB, f"10.42.7.{20 + k}", 22, ob=1200, rb=1500) for k in range(3)]
    rows.append(conn(2000, SB, SCHED, 22, ob=1200, rb=1500))
    load_zeek(case, tmp_path, conn=rows)
    (f,) = findings(case, "recon_lateral_ssh")
    assert f["host"] == SB and f["hosts"] == 4 and f["established"] == 4
    assert {"lateral_ssh", "established", "infrastructure_target"} <= set(f["signals"])
    assert f["severity"] == "high" and len(f["evidence"]) == 4


def test_lateral_ssh_ignores_bastions_and_slow_or_few_sessions(case, tmp_path):
    bastion = "10.42.1.10"
    rows = [conn(60 * k, bastion, f"10.42.7.{20 + k}", 22) for k in range(6)]  # not a sandbox
    rows += [conn(100, SB, "10.42.7.30", 22), conn(200, SB, "10.42.7.31", 22)]  # two hosts
    rows += [conn(20000, SB, "10.42.7.32", 22)]  # hours later: another session
    load_zeek(case, tmp_path, conn=rows)
    assert findings(case, "recon_lateral_ssh") == []
    assert [f["host"] for f in findings(case, "recon_lateral_ssh", idle_minutes=600)] == [SB]


# -- tunnel -------------------------------------------------------------------------------

def test_tunnel_scores_an_outbound_ssh_session_with_every_signal(case, tmp_path):
    u = "Ctunnel0000000001"
    rows = [conn(600, SB, EXT, 443, service="ssh", dur=7200, ob=900_000, rb=1_200_000, u=u)]
    rows += [conn(700 + 3600 * k, SB, EXT, 443, service="ssh", dur=60) for k in range(3)]
    ssh = [[at(600).timestamp(), u, SB, 40000, EXT, 443, True, 1, "OUTBOUND", "SSH-2.0-OpenSSH_9.6"]]
    load_zeek(case, tmp_path, conn=rows, ssh=ssh)
    insert(case, "firewall_events", [
        {"ts": at(300), "action": "deny", "src_ip": SB, "dst_ip": EXT, "dst_port": 443,
         "proto": "tcp"}])
    (f,) = findings(case, "tunnel_ssh_outbound")
    assert f["host"] == SB and f["dst_ip"] == EXT and f["dst_port"] == 443
    assert set(f["signals"]) == {"outbound_ssh_external", "non_standard_port", "long_lived",
                                 "data_both_ways", "reconnects", "auth_success",
                                 "firewall_denied_first"}
    assert f["score"] == 1.0 and f["severity"] == "high" and f["sessions"] == 4
    assert f["clients"] == ["SSH-2.0-OpenSSH_9.6"] and f["denies_before"] == 1
    assert {e["table"] for e in f["evidence"]} == {"zeek_conn", "zeek_ssh", "firewall_events"}


def test_tunnel_ignores_allowlisted_and_non_sandbox_sources(case, tmp_path):
    rows = [conn(0, SB, ALLOWED, 22, service="ssh", dur=9000),      # allowlisted server
            conn(0, SCHED, EXT, 22, service="ssh", dur=9000),       # not a sandbox
            conn(0, SB, "10.42.0.9", 22, service="ssh", dur=9000),  # internal destination
            conn(0, SB, EXT, 443, service="ssl", dur=9000)]         # TLS, not SSH
    load_zeek(case, tmp_path, conn=rows)
    assert findings(case, "tunnel_ssh_outbound") == []
    assert [f["host"] for f in findings(case, "tunnel_ssh_outbound",
                                        source_scopes=["sandbox", "internal"])] == [SCHED]


def test_tunnel_keepalive_cadence_of_an_idle_tunnel(case, tmp_path):
    load_zeek(case, tmp_path, conn=[conn(0, SB, EXT, 22, service="ssh", dur=3 * 3600,
                                         ob=60_000, rb=60_000, pkts=400)])
    (f,) = findings(case, "tunnel_ssh_outbound")
    assert "keepalive_cadence" in f["signals"] and "non_standard_port" not in f["signals"]


# -- beacons and long connections ---------------------------------------------------------

def test_beacon_scores_a_regular_pair_high(case, tmp_path):
    rows = [conn(300 * i, SB, EXT, 8443, ob=512) for i in range(288)]  # 24 h every 5 min
    rows += [conn(40 * i * i % 86400, SCHED, "203.0.113.8", 80, ob=100 + 997 * i % 5000)
             for i in range(60)]
    load_zeek(case, tmp_path, conn=rows)
    got = findings(case, "beacon_pairs")
    assert [f["host"] for f in got] == [SB]
    f = got[0]
    assert f["score"] > 0.95 and f["interval_score"] == 1.0 and f["size_score"] == 1.0
    assert f["median_interval_s"] == pytest.approx(300)
    assert {"regular_intervals", "regular_sizes", "persistent",
            "external_destination"} <= set(f["signals"])
    assert f["evidence_count"] == 288 and len(f["evidence"]) == 50


def test_beacon_ignores_irregular_and_sparse_pairs(case, tmp_path):
    import random

    rnd = random.Random(4)
    rows = [conn(rnd.uniform(0, 86400), SB, EXT, 443, ob=rnd.randint(100, 900_000))
            for _ in range(80)]
    rows += [conn(60 * i, SB, "203.0.113.5", 443) for i in range(3)]  # too few
    rows += [conn(60 * i, SB, ALLOWED, 443) for i in range(100)]      # allowlisted
    load_zeek(case, tmp_path, conn=rows)
    assert findings(case, "beacon_pairs") == []


def test_long_connections_graded_by_total_hours(case, tmp_path):
    rows = [conn(0, SB, EXT, 443, dur=5 * 3600), conn(0, SB, "203.0.113.4", 443, dur=13 * 3600),
            conn(0, SB, "203.0.113.9", 443, dur=600)]
    load_zeek(case, tmp_path, conn=rows)
    got = {f["dst_ip"]: f for f in findings(case, "long_connections")}
    assert set(got) == {EXT, "203.0.113.4"}
    assert got[EXT]["score"] == 0.5 and "total_over_4h" in got[EXT]["signals"]
    assert got["203.0.113.4"]["score"] == 1.0 and got["203.0.113.4"]["severity"] == "high"


def test_long_connections_ignores_short_and_allowlisted(case, tmp_path):
    load_zeek(case, tmp_path, conn=[conn(i * 700, SB, EXT, 443, dur=600) for i in range(5)]
              + [conn(0, SB, ALLOWED, 443, dur=20 * 3600)])
    assert findings(case, "long_connections") == []


# -- mining -------------------------------------------------------------------------------

def test_mining_network_pool_dns_resolved_address_and_port(case, tmp_path):
    pool_ip = "203.0.113.77"
    dns = [[at(0).timestamp(), "Cd1", SB, 5353, "10.42.0.2", 53, "udp", "xmr-eu1.nanopool.org",
            [pool_ip]]]
    rows = [conn(5, SB, pool_ip, 14444, dur=3600, ob=200_000, rb=200_000, pkts=2000)]
    load_zeek(case, tmp_path, conn=rows, dns=dns)
    (f,) = findings(case, "mining_pool_network")
    assert f["host"] == SB and f["pool_names"] == ["xmr-eu1.nanopool.org"]
    assert {"pool_dns", "resolved_pool_address", "pool_port", "stratum_cadence"} <= set(f["signals"])
    assert f["score"] == 1.0 and f["pool_ports"] == [14444]


def test_mining_network_ignores_ordinary_traffic(case, tmp_path):
    dns = [[at(0).timestamp(), "Cd2", SB, 5353, "10.42.0.2", 53, "udp", "pypi.org",
            ["151.101.0.223"]],
           [at(1).timestamp(), "Cd3", SB, 5353, "10.42.0.2", 53, "udp", "poolside.example.com",
            ["203.0.113.50"]]]
    rows = [conn(5, SB, "151.101.0.223", 443, dur=30), conn(9, SB, "10.42.0.8", 3333)]
    load_zeek(case, tmp_path, conn=rows, dns=dns)
    assert findings(case, "mining_pool_network") == []


def _gpu_samples(host, minutes, util, power, dips=False):
    rows = []
    for i in range(minutes * 2):  # a sample every 30 s
        u = util if not (dips and i % 10 == 0) else 20.0
        rows.append({"ts": at(30 * i), "host": host, "gpu_index": 0, "gpu_uuid": "GPU-1",
                     "utilization_gpu_pct": u, "memory_used_mib": 2048.0,
                     "power_w": power + (i % 3) * (0.5 if not dips else 40)})
    return rows


def test_mining_gpu_flat_load_and_miner_process(case):
    insert(case, "gpu_samples", _gpu_samples("gpu-node-3", 120, 99.0, 280.0))
    insert(case, "gpu_processes", [{"ts": at(60), "host": "gpu-node-3", "gpu_index": 0,
                                    "gpu_uuid": "GPU-1", "pid": 4242,
                                    "process_name": "/tmp/.x/xmrig"}])
    (f,) = findings(case, "mining_gpu_pattern")
    assert set(f["signals"]) == {"sustained_high_util", "flat_power", "no_training_rhythm",
                                 "miner_process", "unexplained_process"}
    assert f["score"] == 1.0 and f["busy_minutes"] >= 110 and f["processes"] == ["/tmp/.x/xmrig"]


def test_mining_gpu_ignores_training_rhythm_and_known_jobs(case):
    insert(case, "gpu_samples", _gpu_samples("gpu-node-4", 120, 97.0, 300.0, dips=True))
    insert(case, "gpu_processes", [{"ts": at(60), "host": "gpu-node-4", "gpu_index": 0,
                                    "gpu_uuid": "GPU-1", "pid": 7,
                                    "process_name": "/usr/bin/python3"}])
    assert findings(case, "mining_gpu_pattern") == []


# -- monetisation -------------------------------------------------------------------------

def _billing_days(n, cost=100.0, sku="m5.xlarge", region="us-east-1", start=0):
    return [{"charge_period_start": at(86400 * (start + d)), "sub_account_id": "acct-train",
             "provider": "AWS", "publisher": "AWS", "service_name": "Amazon EC2",
             "charge_category": "Usage", "sku_id": sku, "region": region,
             "charge_description": f"BoxUsage:{sku}", "billed_cost": cost + (d % 3),
             "currency": "USD"} for d in range(n)]


def test_billing_spike_new_gpu_sku_in_new_region(case):
    rows = _billing_days(30)
    rows += [{**_billing_days(1, cost=4000.0, sku="p4d.24xlarge", region="ap-south-1",
                              start=30)[0]}]
    insert(case, "billing_items", rows)
    got = findings(case, "monetisation_billing")
    assert len(got) == 1
    f = got[0]
    assert {"cost_spike", "gpu_new_region", "new_sku"} <= set(f["signals"])
    assert f["gpu_regions"] == ["ap-south-1"] and f["robust_z"] > 3.5
    assert f["severity"] == "high" and f["new_items"] == ["sku: p4d.24xlarge"]


def test_billing_quiet_account_has_no_findings(case):
    insert(case, "billing_items", _billing_days(40))
    assert findings(case, "monetisation_billing") == []


def test_wallets_in_agent_commands_and_ledger(case):
    insert(case, "agent_actions", [
        {"ts": at(10), "host": "sb-07", "command":
         f"./xmrig -o stratum+tcp://pool.supportxmr.com:3333 -u {XMR}.w1 -p x"},
        {"ts": at(20), "host": "sb-07", "command":
         "echo 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"}])  # bad EIP-55 checksum
    insert(case, "ledger_transfers", [
        {"ts": at(5000), "chain": "monero", "asset": "XMR", "from_address": "p2pool",
         "to_address": XMR, "amount": "0.0011", "wallet": XMR}])
    got = {f["address"]: f for f in findings(case, "monetisation_wallets")}
    assert XMR in got and not any(a.startswith("0x") for a in got)
    f = got[XMR]
    assert f["kind"] == "xmr" and f["transfers"] == 1 and f["mentions"] == 1
    assert {"address_in_agent", "pool_login", "ledger_transfer",
            "agent_and_ledger"} <= set(f["signals"])
    assert f["score"] == 1.0 and f["amounts"] == ["0.001100000000000000 XMR"]


def test_wallets_ignore_lookalikes(case):
    corrupted = XMR[:-1] + ("B" if XMR[-1] != "B" else "C")
    insert(case, "agent_actions", [
        {"ts": at(10), "host": "sb-07", "command": f"xmrig -u {corrupted}"},
        {"ts": at(11), "host": "sb-07", "command": "git checkout 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb"},
        {"ts": at(12), "host": "sb-07", "command": "sha1sum 0123456789abcdef0123456789abcdef01234567a"}])
    assert findings(case, "monetisation_wallets") == []


# -- access and exfiltration --------------------------------------------------------------

def test_access_brute_force_then_success_then_outbound(case, tmp_path):
    attacker, victim = "198.51.100.9", "10.42.0.20"
    ssh = [[at(90000 + i).timestamp(), f"Cs{i}", attacker, 50000 + i, victim, 22, False, 1,
            "INBOUND", "libssh"] for i in range(6)]
    ssh.append([at(90010).timestamp(), "Cs9", attacker, 50010, victim, 22, True, 1, "INBOUND",
                "libssh"])
    rows = [conn(0, SCHED, "10.42.0.6", 8786), conn(91000, victim, "203.0.113.66", 443)]
    load_zeek(case, tmp_path, conn=rows, ssh=ssh)
    (f,) = findings(case, "access_inbound_auth")
    assert f["host"] == victim and f["src_ip"] == attacker and f["failures"] == 6
    assert set(f["signals"]) == {"external_auth_success", "failures_then_success",
                                 "brute_force", "first_seen_source", "precedes_activity"}
    assert f["score"] == 1.0


def test_access_ignores_failures_only_and_internal_logins(case, tmp_path):
    ssh = [[at(i).timestamp(), f"Cf{i}", "198.51.100.9", 50000 + i, "10.42.0.20", 22, False, 1,
            "INBOUND", "libssh"] for i in range(20)]
    ssh.append([at(30).timestamp(), "Cok", "10.42.0.5", 50100, "10.42.0.20", 22, True, 1,
                "INTERNAL", "OpenSSH"])
    load_zeek(case, tmp_path, ssh=ssh)
    assert findings(case, "access_inbound_auth") == []


def test_exfil_large_one_way_upload(case, tmp_path):
    load_zeek(case, tmp_path, conn=[conn(0, SB, EXT, 443, ob=2_000_000_000, rb=1_000_000),
                                    conn(0, SB, "203.0.113.7", 443, ob=1_000_000,
                                         rb=3_000_000_000)])
    (f,) = findings(case, "exfil_large_outbound")
    assert f["dst_ip"] == EXT and {"large_upload", "very_large_upload", "one_way"} <= set(
        f["signals"])


def test_exfil_ignores_downloads_and_allowlisted(case, tmp_path):
    load_zeek(case, tmp_path, conn=[conn(0, SB, EXT, 443, ob=200_000_000, rb=900_000_000),
                                    conn(0, SB, ALLOWED, 443, ob=5_000_000_000, rb=10)])
    assert findings(case, "exfil_large_outbound") == []
