"""The flows and events views: one vocabulary across sources, and the shared SQL macros."""

from __future__ import annotations

from pathlib import Path

from parsezeeklogs.ecs import community_id

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_logs" / "rome-mini"


def test_community_id_macro_matches_the_reference_implementation(case):
    tuples = [("10.42.7.17", "198.51.100.23", 52011, 443, "tcp", 6),
              ("198.51.100.23", "10.42.7.17", 443, 52011, "tcp", 6),
              ("10.0.0.1", "10.0.0.1", 53, 5353, "udp", 17),
              ("192.168.1.2", "8.8.8.8", 40000, 53, "udp", 17)]
    for src, dst, sport, dport, proto, num in tuples:
        ours = case.sql("SELECT community_id_v4(?, ?, ?, ?, ?)",
                        [src, dst, sport, dport, proto]).item()
        assert ours == community_id(src, dst, num, sport, dport)
    assert case.sql("SELECT community_id_v4('2001:db8::1', '10.0.0.1', 1, 2, 'tcp')").item() is None


def test_ip_scope_uses_the_case_context(case):
    case.configure(SAMPLE / "case.toml")
    got = case.sql("SELECT ip_scope('10.42.7.17'), ip_scope('10.42.0.5'), "
                   "ip_scope('151.101.0.223'), ip_scope('8.8.8.8'), ip_scope('fe80::1')").row(0)
    assert got == ("sandbox", "internal", "allowed_egress", "external", "unknown")


def test_flows_and_events_cover_loaded_zeek_tables(case):
    case.load(SAMPLE)
    flows = case.sql("SELECT source, count(*) AS n FROM flows GROUP BY source").rows()
    assert flows == [("zeek_conn", 86)]
    tunnel = case.sql("SELECT src_ip, dst_ip, dst_port, duration_s, community_id, line_no "
                      "FROM flows WHERE dst_port = 443").row(0)
    assert tunnel[:4] == ("10.42.7.17", "198.51.100.23", 443, 7190.4)
    assert tunnel[4] == community_id("10.42.7.17", "198.51.100.23", 6, 52011, 443)
    events = dict(case.sql("SELECT source, count(*) FROM events GROUP BY source").rows())
    assert events == {"zeek_conn": 86, "zeek_dns": 4}
    summary = case.sql("SELECT summary FROM events WHERE source = 'zeek_dns' "
                       "ORDER BY line_no LIMIT 1").item()
    assert summary.startswith("dns 10.42.7.17 -> 10.42.0.2:53 query=pypi.org")
