"""Firewall family: golden loads of the corpus, sniffing, bad input, the mapping format."""

from __future__ import annotations

import datetime as dt
import glob
import json
import os
from pathlib import Path

import pytest

import forensics
from forensics.errors import ConfigError
from forensics.ingest import load_files
from forensics.loaders import LoadOptions, sniff
from forensics.loaders.firewall.mapping import parse_mapping
from forensics.loaders.reading import read_head
from tests.conftest import CORPUS, corpus_dir, corpus_file, manifest_rows

UTC = dt.UTC
FW_FORMATS = {"netfilter", "pf-filterlog", "aws-vpc-flow", "gcp-vpc-flow", "gcp-firewall",
              "azure-nsg-flow", "panos", "firewall-mapping"}

# corpus file -> (format sniffed, rows, rejects). MikroTik has no format of its own: it
# loads through the mapping (test below) and no format may claim it.
EXPECTED = {
    "iptables_scan_syslog.log": ("netfilter", 49, 0),
    # MANIFEST: "deliberately malformed lines (IN=enp.1s0, XX=)": the XX= line has no IN=
    # field and is rejected; IN=enp.1s0 is a legal Linux interface name and loads.
    "iptables_mixed_syslog.log": ("netfilter", 3, 1),
    "pfsense_filterlog_mixed.log": ("pf-filterlog", 9, 0),
    "aws_vpcflow_v2_header.log": ("aws-vpc-flow", 4, 0),
    "aws_vpcflow_v2_noheader.log": ("aws-vpc-flow", 7, 0),
    "aws_vpcflow_v3_custom_header.log": ("aws-vpc-flow", 1, 0),
    "aws_vpcflow_v8_ecs.log": ("aws-vpc-flow", 1, 0),
    "gcp_firewall_rules.ndjson": ("gcp-firewall", 3, 0),
    "gcp_vpcflow.ndjson": ("gcp-vpc-flow", 3, 0),
    "azure_nsg_flow_v2_PT1H.json": ("azure-nsg-flow", 8203, 0),
    "panos_traffic_syslog.log": ("panos", 7, 0),
    "panos_traffic_cdl_isots.log": ("panos", 1, 0),
    "panos_threat_syslog.log": ("panos", 2, 0),
}


def _load(case, path, **kw):
    report = case.load(str(path), **kw)
    (f,) = report.files
    assert f.status == "loaded", f.message
    ev = case.evidence().filter(evidence_id=f.evidence_id).row(0, named=True)
    assert ev["lines_read"] == (ev["rows_loaded"] + ev["rows_rejected"] + ev["header_lines"]
                                + ev["blank_lines"])
    return f, ev


def _row(case, evidence_id, line_no):
    rows = case.sql("SELECT * FROM firewall_events WHERE evidence_id = ? AND line_no = ?",
                    [evidence_id, line_no]).to_dicts()
    assert len(rows) == 1
    row = rows[0]
    row["extra"] = json.loads(row["extra"]) if row["extra"] else {}
    return row


def _check(row, **want):
    extra = want.pop("extra", {})
    for key, value in want.items():
        assert row[key] == value, (key, row[key], value)
    for key, value in extra.items():
        assert row["extra"].get(key) == value, (key, row["extra"].get(key), value)


def t(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


# ---------------------------------------------------------------------------------------
# Corpus: every listed file loads, exact counts; the manifest lists nothing we ignore
# ---------------------------------------------------------------------------------------


def test_manifest_covers_expected():
    names = {r["local_name"] for r in manifest_rows("firewall")}
    assert names == set(EXPECTED) | {"mikrotik_firewall.log"}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_file_loads(name):
    fmt, rows, rejects = EXPECTED[name]
    with forensics.open_case(":memory:") as case:
        f, ev = _load(case, corpus_file("firewall", name), year=2020)
        assert (f.format, f.rows, f.rejects) == (fmt, rows, rejects)
        assert ev["family"] == "firewall"
        (n,) = case.sql("SELECT count(*) AS n FROM firewall_events").row(0)
        assert n == rows


# ---------------------------------------------------------------------------------------
# Sniffing: the cross-product over every corpus file of every family
# ---------------------------------------------------------------------------------------


def _corpus_files():
    corpus_dir("firewall")
    return sorted(p for p in glob.glob(str(CORPUS / "*" / "*")) if os.path.isfile(p))


def test_sniff_cross_product():
    seen = 0
    for path in _corpus_files():
        fmt, scores = sniff(path, read_head(path))
        fw_claims = [n for n, s in scores if n in FW_FORMATS and s >= 0.5]
        name = os.path.basename(path)
        family = Path(path).parent.name
        if family == "firewall" and name in EXPECTED:
            assert fmt is not None and fmt.name == EXPECTED[name][0], (name, scores)
            assert fw_claims == [EXPECTED[name][0]], (name, scores)
            seen += 1
        else:
            assert fw_claims == [], (path, scores)
            if fmt is not None:
                assert fmt.name not in FW_FORMATS
    assert seen == len(EXPECTED)


def test_mapping_format_never_sniffs():
    path = corpus_file("firewall", "mikrotik_firewall.log")
    fmt, scores = sniff(str(path), read_head(path))
    assert fmt is None
    assert dict(scores)["firewall-mapping"] == 0.0


# ---------------------------------------------------------------------------------------
# Golden rows, one fully specified per format
# ---------------------------------------------------------------------------------------


def test_golden_netfilter(case):
    f, ev = _load(case, corpus_file("firewall", "iptables_mixed_syslog.log"), year=2021,
                  tz="Europe/Paris")
    # Sep 27 20:56:38 ubuntu-focal kernel: [  203.842973] IPTABLES-DROP: IN=lo OUT=
    # MAC=00:00:00:00:00:00:00:00:00:00:00:00:08:00 SRC=127.0.0.1 DST=127.0.0.53 LEN=76
    # TOS=0x00 PREC=0x00 TTL=64 ID=25029 DF PROTO=UDP SPT=49007 DPT=53 LEN=56
    row = _row(case, f.evidence_id, 4)
    _check(row, ts=t(2021, 9, 27, 18, 56, 38), ts_end=None, sensor="ubuntu-focal",
           format="netfilter", action="drop", direction="in", src_ip="127.0.0.1",
           src_port=49007, dst_ip="127.0.0.53", dst_port=53, proto="udp", bytes=76, packets=1,
           rule="IPTABLES-DROP:", in_interface="lo", out_interface=None, tcp_flags=None,
           extra={"mac": "00:00:00:00:00:00:00:00:00:00:00:00:08:00", "ttl": "64",
                  "ip_id": "25029", "tos": "0x00", "uptime": "203.842973", "tag": "kernel"})
    assert row["message"].startswith("Sep 27 20:56:38 ubuntu-focal kernel:")
    assert ev["tz_assumed"] == "Europe/Paris"
    assert any("year 2021 (stated)" in n for n in ev["notes"])
    rej = case.rejects()
    assert rej["line_no"].to_list() == [3]
    assert "IN=" in rej["reason"][0]


def test_golden_pf_filterlog(case):
    f, _ = _load(case, corpus_file("firewall", "pfsense_filterlog_mixed.log"), year=2022)
    # Sep 28 10:38:09 pfSense filterlog: 53,,,1000000301,em0,match,block,in,4,0x0,,64,420,0,
    # none,6,tcp,460,10.0.2.2,10.0.2.15,53742,22,420,PA,29633380:29633800,3617062173,65535,,
    _check(_row(case, f.evidence_id, 1), ts=t(2022, 9, 28, 10, 38, 9), ts_end=None,
           sensor="pfSense", format="pf-filterlog", action="deny", direction="in",
           src_ip="10.0.2.2", src_port=53742, dst_ip="10.0.2.15", dst_port=22, proto="tcp",
           bytes=460, packets=1, rule="1000000301", in_interface="em0", out_interface=None,
           tcp_flags="PA", extra={"rule_number": "53", "pf_action": "block", "ttl": "64",
                                  "tcp_seq": "29633380:29633800", "tcp_window": "65535"})
    # <134>1 2022-09-06T19:00:06+02:00 opnsense filterlog 57126 - [meta sequenceId="2667099"]
    # 98,,,881dd59a...,re0,match,pass,in,6,0x00,0x0ea87,51,udp,17,73,
    # 2008:8a0:702e:ce00:acc6:c7ee:fa01:2f8a,2c02:2454:ada:d900::1738,6881,51918,73
    _check(_row(case, f.evidence_id, 8), ts=t(2022, 9, 6, 17, 0, 6), sensor="opnsense",
           action="allow", direction="in", src_ip="2008:8a0:702e:ce00:acc6:c7ee:fa01:2f8a",
           src_port=6881, dst_ip="2c02:2454:ada:d900::1738", dst_port=51918, proto="udp",
           bytes=73, rule="881dd59a3e942966c90498ac104715a0", in_interface="re0",
           tcp_flags=None, extra={"ip_version": "6", "flow_label": "0x0ea87", "ttl": "51"})


def test_golden_aws(case):
    f, ev = _load(case, corpus_file("firewall", "aws_vpcflow_v3_custom_header.log"))
    # header: version vpc-id subnet-id instance-id interface-id account-id type srcaddr
    #   dstaddr srcport dstport pkt-srcaddr pkt-dstaddr protocol bytes packets start end
    #   action tcp-flags log-status
    # 3 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-01234567890123456
    #   eni-1235b8ca123456789 123456789010 IPv4 52.213.180.42 10.0.0.62 43416 5001
    #   52.213.180.42 10.0.0.62 6 568 8 1566848875 1566848933 ACCEPT 2 OK
    _check(_row(case, f.evidence_id, 2), ts=t(2019, 8, 26, 19, 47, 55),
           ts_end=t(2019, 8, 26, 19, 48, 53), sensor="123456789010", format="aws-vpc-flow",
           action="allow", direction=None, src_ip="52.213.180.42", src_port=43416,
           dst_ip="10.0.0.62", dst_port=5001, proto="tcp", bytes=568, packets=8, rule=None,
           in_interface=None, out_interface=None, tcp_flags="2",
           extra={"version": "3", "vpc-id": "vpc-abcdefab012345678",
                  "interface-id": "eni-1235b8ca123456789", "log-status": "OK",
                  "pkt-srcaddr": "52.213.180.42", "type": "IPv4"})
    assert ev["header_lines"] == 1 and ev["tz_assumed"] is None


def test_aws_nodata_and_v8_order(case):
    f, ev = _load(case, corpus_file("firewall", "aws_vpcflow_v2_noheader.log"))
    # 2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA
    _check(_row(case, f.evidence_id, 2), ts=t(2015, 5, 10, 18, 1, 16), action=None,
           src_ip=None, dst_ip=None, src_port=None, proto=None, bytes=None, packets=None,
           extra={"log-status": "NODATA", "interface-id": "eni-1235b8ca123456789"})
    assert any("NODATA" in n for n in ev["notes"])
    assert any("default v2 format" in n for n in ev["notes"])
    f, ev = _load(case, corpus_file("firewall", "aws_vpcflow_v8_ecs.log"))
    # 40 fields, no header: all fields up to v8 in AWS's documented order
    row = _row(case, f.evidence_id, 1)
    _check(row, src_ip="2a02:cf40::", dst_ip="1.128.0.0", src_port=42910, dst_port=80,
           proto="udp", action="deny", direction="in", packets=51, bytes=33615,
           extra={"log-status": "NODATA", "reject-reason": "BPA",
                  "ecs-cluster-name": "backend-cluster", "flow-direction": "ingress",
                  "ecs-service-name": "payments-service"})
    assert row["in_interface"] is None  # interface-id is "-"
    assert any("all fields up to v8" in n for n in ev["notes"])


def test_golden_gcp(case):
    f, _ = _load(case, corpus_file("firewall", "gcp_firewall_rules.ndjson"))
    # {"insertId":"4zuj4nfn4llkb","jsonPayload":{"connection":{"dest_ip":"175.16.199.1",
    #  "dest_port":53,"protocol":17,"src_ip":"10.128.0.16","src_port":60094},
    #  "disposition":"DENIED","instance":{... "vm_name":"adrian-test" ...},
    #  "rule_details":{"action":"DENY",...,"direction":"EGRESS",...,"priority":1000,
    #  "reference":"network:default/firewall:adrian-test-1",...},...},
    #  ..."timestamp":"2019-11-12T12:35:17.214711274Z"}
    _check(_row(case, f.evidence_id, 1), ts=t(2019, 11, 12, 12, 35, 17, 214711), ts_end=None,
           sensor="adrian-test", format="gcp-firewall", action="deny", direction="out",
           src_ip="10.128.0.16", src_port=60094, dst_ip="175.16.199.1", dst_port=53,
           proto="udp", bytes=None, packets=None,
           rule="network:default/firewall:adrian-test-1", in_interface=None,
           out_interface=None, tcp_flags=None,
           extra={"insertId": "4zuj4nfn4llkb", "rule_priority": "1000",
                  "rule_action": "DENY", "remote_country": "usa"})
    f, _ = _load(case, corpus_file("firewall", "gcp_vpcflow.ndjson"))
    # "bytes_sent":"1776","connection":{"dest_ip":"203.0.113.12","dest_port":33478,
    # "protocol":6,"src_ip":"10.87.40.76","src_port":5601},... "end_time":
    # "2019-06-14T03:45:37.301953198Z","packets_sent":"7","reporter":"SRC","rtt_msec":"36",
    # "src_instance":{... "vm_name":"kibana" ...},"start_time":"2019-06-14T03:45:37.186193305Z"
    _check(_row(case, f.evidence_id, 1), ts=t(2019, 6, 14, 3, 45, 37, 186193),
           ts_end=t(2019, 6, 14, 3, 45, 37, 301953), sensor="kibana", format="gcp-vpc-flow",
           action=None, direction="out", src_ip="10.87.40.76", src_port=5601,
           dst_ip="203.0.113.12", dst_port=33478, proto="tcp", bytes=1776, packets=7,
           rule=None, extra={"reporter": "SRC", "rtt_msec": "36", "dest_asn": "15169"})


def test_golden_azure(case):
    f, ev = _load(case, corpus_file("firewall", "azure_nsg_flow_v2_PT1H.json"))
    # tuple 7 of the document, rule DefaultRule_AllowInternetOutBound, mac 000D3AD53B86:
    # "1594238651,10.1.0.4,20.38.107.36,52246,443,T,O,A,E,9,1599,12,11178"
    row = _row(case, f.evidence_id, 7)
    _check(row, ts=t(2020, 7, 8, 20, 4, 11), ts_end=None, sensor="NETWORK-SECURITY-GROUP-2",
           format="azure-nsg-flow", action="allow", direction="out", src_ip="10.1.0.4",
           src_port=52246, dst_ip="20.38.107.36", dst_port=443, proto="tcp", bytes=12777,
           packets=21, rule="DefaultRule_AllowInternetOutBound", in_interface=None,
           out_interface=None, tcp_flags=None,
           message="1594238651,10.1.0.4,20.38.107.36,52246,443,T,O,A,E,9,1599,12,11178",
           extra={"flow_state": "E", "pkts_s2d": "9", "bytes_s2d": "1599", "pkts_d2s": "12",
                  "bytes_d2s": "11178", "mac": "000D3AD53B86", "version": "2"})
    assert ev["lines_read"] == 8203
    assert any("tuple" in n and "line_no" in n for n in ev["notes"])
    (denied,) = case.sql("SELECT count(*) FROM firewall_events WHERE action = 'deny' "
                         "AND direction = 'in'").row(0)
    assert denied == 7


def test_golden_panos(case):
    f, ev = _load(case, corpus_file("firewall", "panos_traffic_syslog.log"))
    # Nov 30 16:09:08 PA-220 1,2018/11/30 16:09:07,012801096514,TRAFFIC,end,2049,
    # 2018/11/30 16:09:07,192.168.15.207,184.51.253.152,192.168.1.63,184.51.253.152,
    # new_outbound_from_trust,,,apple-maps,vsys1,trust,untrust,ethernet1/2,ethernet1/1,
    # send_to_mac,2018/11/30 16:09:07,22751,1,55113,443,16418,443,0x400053,tcp,allow,7734,
    # 1758,5976,36,2018/11/30 15:59:04,586,computer-and-internet-info,0,32091112,...,tcp-fin
    _check(_row(case, f.evidence_id, 1), ts=t(2018, 11, 30, 15, 59, 4),
           ts_end=t(2018, 11, 30, 16, 8, 50), sensor="PA-220", format="panos",
           action="allow", direction=None, src_ip="192.168.15.207", src_port=55113,
           dst_ip="184.51.253.152", dst_port=443, proto="tcp", bytes=7734, packets=36,
           rule="new_outbound_from_trust", in_interface="ethernet1/2",
           out_interface="ethernet1/1", tcp_flags=None,
           extra={"serial": "012801096514", "subtype": "end", "app": "apple-maps",
                  "nat_src": "192.168.1.63", "session_end_reason": "tcp-fin",
                  "bytes_sent": "1758", "from_zone": "trust", "elapsed": "586"})
    assert ev["tz_assumed"] == "UTC"
    f, _ = _load(case, corpus_file("firewall", "panos_threat_syslog.log"), tz="Europe/Berlin")
    # 2023-07-06T08:11:40+02:00 paloalto.test.host 1,2023/07/06 08:11:40,016401002737,THREAT,
    # vulnerability,2561,2023/07/06 08:11:40,1.2.3.2,1.2.3.3,1.2.3.2,2.2.2.3,TestruleName0,,,
    # ssh,vsys123,Untrust,DMZ,vlan.123,aaa.1,to-Test,...,47094,22,47094,22,0x402400,tcp,
    # reset-both,,SSH User Authentication Brute Force Attempt(40015),any,high,...
    _check(_row(case, f.evidence_id, 1), ts=t(2023, 7, 6, 6, 11, 40), ts_end=None,
           sensor="paloalto.test.host", action="reject", src_ip="1.2.3.2", src_port=47094,
           dst_ip="1.2.3.3", dst_port=22, proto="tcp", bytes=None, packets=None,
           rule="TestruleName0", in_interface="vlan.123", out_interface="aaa.1",
           extra={"log_type": "THREAT", "pan_action": "reset-both", "severity": "high",
                  "threat_id": "SSH User Authentication Brute Force Attempt(40015)"})
    f, _ = _load(case, corpus_file("firewall", "panos_traffic_cdl_isots.log"))
    # Oct 30 09:46:42 1,2021-05-26T16:27:07.000000Z,no-serial,TRAFFIC,end,9.1,
    # 2021-05-26T16:26:47.000000Z,127.0.0.0,127.0.0.1,...,35834,443,...,tcp,allow,7291,1696,
    # 5595,21,2021-05-26T16:26:30.000000Z,1,...
    _check(_row(case, f.evidence_id, 1), ts=t(2021, 5, 26, 16, 26, 30),
           ts_end=t(2021, 5, 26, 16, 26, 31), sensor="no-serial", src_ip="127.0.0.0",
           dst_ip="127.0.0.1", src_port=35834, dst_port=443, bytes=7291, packets=21)


def _mikrotik(case, path, mapping="mikrotik"):
    return load_files(case, str(path), format="firewall-mapping",
                      options=LoadOptions(extra={"mapping": mapping}))


def test_golden_mapping_mikrotik(case):
    report = _mikrotik(case, corpus_file("firewall", "mikrotik_firewall.log"))
    (f,) = report.files
    assert (f.status, f.rows, f.rejects) == ("loaded", 19, 0)
    # 2023-03-18T20:36:59.594792+01:00 10.120.127.1 firewall,info drop-tcp input:
    # in:ether1-WAN out:(unknown 0), connection-state:new src-mac 00:17:10:88:bc:02,
    # proto TCP (SYN), 36.97.161.219:59388->80.82.202.145:23, len 40
    _check(_row(case, f.evidence_id, 1), ts=t(2023, 3, 18, 19, 36, 59, 594792), ts_end=None,
           sensor="10.120.127.1", format="mapping:mikrotik", action="drop", direction="in",
           src_ip="36.97.161.219", src_port=59388, dst_ip="80.82.202.145", dst_port=23,
           proto="tcp", bytes=40, packets=1, rule="drop-tcp", in_interface="ether1-WAN",
           out_interface=None, tcp_flags="SYN",
           extra={"chain": "input", "connection_state": "new",
                  "src_mac": "00:17:10:88:bc:02"})


# ---------------------------------------------------------------------------------------
# Bad input per format: rejects with file, line and reason; good lines around still load
# ---------------------------------------------------------------------------------------

NF_GOOD = ("Jan  5 10:00:0{s} gw kernel: [UFW BLOCK] IN=eth0 OUT= MAC=aa:bb SRC=10.0.0.{s} "
           "DST=10.0.0.9 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=1 DF PROTO=TCP SPT=4000 DPT=22 "
           "WINDOW=1024 RES=0x00 SYN URGP=0")


def _bad_case(case, tmp_path, name, lines, fmt=None, **kw):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    if fmt == "firewall-mapping":
        report = load_files(case, str(path), format=fmt, options=LoadOptions(**kw))
    else:
        report = case.load(str(path), format=fmt, year=2024, **kw)
    (f,) = report.files
    assert f.status == "loaded", f.message
    ev = case.evidence().filter(evidence_id=f.evidence_id).row(0, named=True)
    assert ev["lines_read"] == (ev["rows_loaded"] + ev["rows_rejected"] + ev["header_lines"]
                                + ev["blank_lines"])
    rej = case.rejects(f.evidence_id)
    assert set(rej["path"]) <= {str(path)}
    return f, dict(zip(rej["line_no"].to_list(), rej["reason"].to_list(), strict=True))


def test_bad_netfilter(case, tmp_path):
    lines = [
        NF_GOOD.format(s=1),
        NF_GOOD.format(s=2)[:120],                                   # truncated
        NF_GOOD.format(s=3).replace("SRC=10.0.0.3", "SRC=10.0.0.300"),  # bad address
        NF_GOOD.format(s=4).replace("DPT=22", "DPT=99999"),          # bad number
        NF_GOOD.format(s=5).replace("Jan  5", "Feb 30"),             # bad time
        "",
        "Jan  5 10:00:06 gw kernel: usb 1-1: new high-speed USB device",  # not a LOG line
        "100 5 tap100i0-IN 16/Jun/2019:09:47:34 +0200 policy DROP: IN=fwbr100i0 "
        "OUT=fwbr100i0 PHYSIN=fwln100i0 PHYSOUT=tap100i0 MAC=aa SRC=192.0.2.1 DST=10.0.0.5 "
        "LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=1 DF PROTO=TCP SPT=5000 DPT=22 SEQ=1 ACK=0 "
        "WINDOW=64240 RES=0x00 SYN URGP=0",
        "0 5 - 16/Jun/2019:09:47:35 +0200 starting pvefw logger",
        NF_GOOD.format(s=7).replace("Jan  5 10:00:07", "<4>1 2024-01-05T10:00:07.5+01:00")
        .replace("kernel: ", "kernel - - - "),
        NF_GOOD.format(s=8).replace("Jan  5 10:00:08", "2024-01-05T10:00:08+0100"),
    ]
    f, rej = _bad_case(case, tmp_path, "nf.log", lines, host="pve1")
    assert f.rows == 4 and set(rej) == {2, 3, 4, 5, 7}
    assert "truncated" in rej[2] or "missing" in rej[2]
    assert rej[3] == "src_ip: '10.0.0.300' is not an IP address"
    assert rej[4].startswith("dst_port: '99999'")
    assert rej[5].startswith("ts: 'Feb 30 10:00:05'")
    assert "not a netfilter LOG line" in rej[7]
    pve = _row(case, f.evidence_id, 8)
    _check(pve, ts=t(2019, 6, 16, 7, 47, 34), action="drop", rule="tap100i0-IN",
           direction="forward", sensor="pve1", in_interface="fwbr100i0",
           extra={"pve_vmid": "100", "physin": "fwln100i0", "physout": "tap100i0"})
    assert _row(case, f.evidence_id, 10)["ts"] == t(2024, 1, 5, 9, 0, 7, 500000)
    assert _row(case, f.evidence_id, 11)["ts"] == t(2024, 1, 5, 9, 0, 8)
    assert _row(case, f.evidence_id, 1)["action"] == "deny"  # [UFW BLOCK]
    ev = case.evidence().row(0, named=True)
    assert ev["header_lines"] == 1 and ev["blank_lines"] == 1


def test_netfilter_blocks_in_parallel_equal_serial(tmp_path, monkeypatch):
    """Blocks parsed two at a time load exactly what one at a time loads: rows, rejects
    (reasons, line numbers, raw text), line counts and notes, over many small blocks with
    blank, whitespace-only, non-UTF-8, rejected and pve status lines among good ones."""
    import functools

    from forensics.loaders.firewall import common

    lines = []
    for i in range(400):
        good = NF_GOOD.format(s=i % 10).encode()
        lines += [good, good[:100 + i % 50], b"", b" \t", good.replace(b"Jan", b"J\xffn"),
                  b"0 5 - 16/Jun/2019:09:47:35 +0200 starting pvefw logger",
                  NF_GOOD.format(s=i % 10).replace("Jan  5 10:00:", "2024-01-05T10:00:")
                  .encode()]
    path = tmp_path / "nf.log"
    path.write_bytes(b"\n".join(lines) + b"\n")
    serial = common.store_blocks
    got = []
    for workers in (1, 2):
        monkeypatch.setattr(common, "store_blocks",
                            functools.partial(serial, workers=workers, block_bytes=3000))
        case = forensics.open_case(str(tmp_path / f"case{workers}.duckdb"))
        report = case.load(str(path), format="netfilter", year=2024)
        assert report.files[0].status == "loaded"
        ev = case.evidence().drop("evidence_id", "loaded_at").rows()
        rows = case.sql("SELECT * EXCLUDE (evidence_id) FROM firewall_events "
                        "ORDER BY line_no").rows()
        rejects = case.sql("SELECT line_no, reason, raw, raw_bytes FROM rejects "
                           "ORDER BY line_no").rows()
        got.append((ev, rows, rejects))
        case.close()
    assert got[0] == got[1]
    ev, rows, rejects = got[0]
    assert len(rows) + len(rejects) == 1600 and len(rows) > 800 and ev[0][10:12] == (400, 800)


def test_netfilter_prefix_with_non_ascii_text(case, tmp_path):
    """A log prefix is operator text and may hold any character; the fields after it must
    still be found (a byte offset used as a character offset once cut such lines wrong)."""
    lines = [NF_GOOD.format(s=1).replace("[UFW BLOCK]", "[BLÖCK ✓ Ωmega]"),
             NF_GOOD.format(s=2)]
    f, rej = _bad_case(case, tmp_path, "nf-utf8.log", lines)
    assert f.rows == 2 and rej == {}
    row = _row(case, f.evidence_id, 1)
    _check(row, in_interface="eth0", src_ip="10.0.0.1", dst_port=22)
    assert "BLÖCK ✓ Ωmega" in row["message"] and row["rule"] == "[BLÖCK ✓ Ωmega]"


def test_bad_pf_filterlog(case, tmp_path):
    good = ("Sep 28 10:38:09 pfSense filterlog: 53,,,1000000301,em0,match,block,in,4,0x0,,64,"
            "420,0,none,6,tcp,460,10.0.2.2,10.0.2.15,53742,22,420,PA,29633380,3617062173,"
            "65535,,")
    icmp = ("Sep 28 10:38:10 pfSense filterlog: 5,,,1000000103,em0,match,block,in,4,0x0,,64,"
            "0,0,none,1,icmp,84,10.0.2.2,10.0.2.15,request,1234,1")
    lines = [
        good,
        good[:-40],                                          # truncated: too few fields
        good + ",extra",                                     # too many fields
        good.replace("10.0.2.2,", "10.0.2,"),                # bad address (and shift)
        good.replace(",53742,", ",5x742,"),                  # bad number
        good.replace("Sep 28", "Sep 31"),                    # bad time
        icmp,
    ]
    f, rej = _bad_case(case, tmp_path, "pf.log", lines)
    assert f.rows == 2 and set(rej) == {2, 3, 4, 5, 6}
    assert rej[2].startswith("expected 29 fields for tcp")
    assert rej[3] == "expected 29 fields for tcp, found 30"
    assert rej[5].startswith("src_port: '5x742'")
    assert rej[6].startswith("ts: 'Sep 31")
    _check(_row(case, f.evidence_id, 7), proto="icmp", src_port=None, dst_port=None,
           extra={"icmp_type": "request", "proto_fields": "request,1234,1"})


def test_bad_aws(case, tmp_path):
    header = ("version account-id interface-id srcaddr dstaddr srcport dstport protocol "
              "packets bytes start end action log-status")
    good = "2 1234 eni-1 10.0.0.1 10.0.0.2 443 5000 6 10 840 1600000000 1600000060 ACCEPT OK"
    lines = [
        header, good,
        good[:30],                                              # truncated
        good.replace(" 443 ", " 443 9 "),                       # wrong column count
        good.replace(" 840 ", " 8x0 "),                         # bad number
        good.replace("1600000000", "16000000x0"),               # bad time
        good.replace("10.0.0.1", "10.0.0.256"),                 # bad address
        good.replace("ACCEPT", "MAYBE"),                        # bad action
        good.replace("10.0.0.1", "2001:DB8:0:0::1"),            # IPv6, normalised
        header,                                                 # repeated header
    ]
    f, rej = _bad_case(case, tmp_path, "vpc.log", lines)
    assert f.rows == 2 and set(rej) == {3, 4, 5, 6, 7, 8}
    assert rej[3].startswith("expected 14 fields, found")
    assert rej[4] == "expected 14 fields, found 15"
    assert rej[5] == "bytes: '8x0' is not a non-negative whole number"
    assert rej[6].startswith("start: '16000000x0'")
    assert rej[7] == "src_ip: '10.0.0.256' is not an IP address"
    assert rej[8].startswith("action: 'MAYBE'")
    assert _row(case, f.evidence_id, 9)["src_ip"] == "2001:db8::1"
    ev = case.evidence().row(0, named=True)
    assert ev["header_lines"] == 2


def test_aws_headerless_unknown_count(case, tmp_path):
    f, rej = _bad_case(case, tmp_path, "odd.log", [
        "2 1234 eni-1 10.0.0.1 10.0.0.2 443 5000 6 10 840 1600000000 1600000060 ACCEPT OK",
        "2 1234 eni-1 10.0.0.1 10.0.0.2 443 5000 6 10 840 1600000000 1600000060 ACCEPT OK x y",
    ], fmt="aws-vpc-flow")
    assert f.rows == 1 and "16 fields and no header" in rej[2]


def test_bad_gcp(case, tmp_path):
    src = corpus_file("firewall", "gcp_vpcflow.ndjson").read_text().splitlines()
    good = src[0]
    lines = [
        good,
        good[:200],                                                    # truncated JSON
        good.replace('"src_ip":"10.87.40.76"', '"src_ip":"10.87.40"'),  # bad address
        good.replace('"bytes_sent":"1776"', '"bytes_sent":"-5"'),       # bad number
        good.replace('"start_time":"2019-06-14T03:45:37', '"start_time":"2019-06-14T3:45'),
        '["not", "an", "object"]',
        '{"insertId": "x", "jsonPayload": {}}',                        # neither kind
    ]
    f, rej = _bad_case(case, tmp_path, "gcp.ndjson", lines)
    assert f.rows == 1 and set(rej) == {2, 3, 4, 5, 6, 7}
    assert rej[2] == "not valid JSON"
    assert rej[3] == "src_ip: '10.87.40' is not an IP address"
    assert rej[4] == "bytes: '-5' is not a non-negative whole number"
    assert rej[5].startswith("ts: '2019-06-14T3:45")
    assert "object" in rej[6]
    assert "not a GCP" in rej[7]


def test_bad_azure(case, tmp_path):
    tuples = [
        "1594238651,10.1.0.4,20.38.107.36,52246,443,T,O,A,E,9,1599,12,11178",
        "1594238651,10.1.0.4,20.38.107.36,52246,443,T,O,A,E,9",          # truncated
        "1594238651,10.1.0.4,20.38.107.36,52246,443,T,O,A",              # v1 count in v2
        "1594238651,10.1.0.4,20.38.107.36,52246,443,T,O,A,E,9,15x9,12,1",  # bad number
        "15942386x1,10.1.0.4,20.38.107.36,52246,443,T,O,A,B,,,,",        # bad time
        "1594238651,10.1.0.400,20.38.107.36,52246,443,T,O,A,B,,,,",      # bad address
        "1594238651,10.1.0.4,20.38.107.36,52246,443,T,O,X,B,,,,",        # bad decision
    ]
    import json
    doc = {"records": [
        {"time": "2020-07-08T20:04:43Z", "resourceId": "/X/NSG-1",
         "properties": {"Version": 2, "flows": [
             {"rule": "R1", "flows": [{"mac": "00AA", "flowTuples": tuples}]}]}},
        {"time": "2020-07-08T20:05:43Z", "properties": {}},
        {"time": "2020-07-08T20:06:43Z", "resourceId": "/X/NSG-1",
         "properties": {"Version": 1, "flows": [
             {"rule": "R2", "flows": [{"mac": "00AA", "flowTuples": [
                 "1594238651,10.1.0.4,20.38.107.36,52246,443,U,I,D"]}]}]}},
    ]}
    path = tmp_path / "PT1H.json"
    path.write_text(json.dumps(doc))
    _, rej = _bad_case(case, tmp_path, "PT1H.json", [json.dumps(doc)])
    assert set(rej) == {2, 3, 4, 5, 6, 7, 8}
    assert rej[2] == "expected 13 tuple fields, found 10"
    assert rej[4] == "bytes_s2d: '15x9' is not a non-negative whole number"
    assert rej[5].startswith("ts: '15942386x1'")
    assert rej[6] == "src_ip: '10.1.0.400' is not an IP address"
    assert rej[7].startswith("decision: 'X'")
    assert rej[8] == "record has no properties.flows[]"
    ev = case.evidence().row(0, named=True)
    assert ev["lines_read"] == 9 and ev["rows_loaded"] == 2
    v1 = _row(case, ev["evidence_id"], 9)
    _check(v1, action="deny", direction="in", proto="udp", bytes=None, rule="R2")


def test_azure_not_json(case, tmp_path):
    f, rej = _bad_case(case, tmp_path, "PT1H.json", ['{"records": [{"properties": '],
                       fmt="azure-nsg-flow")
    assert f.rows == 0 and "not a valid JSON document" in rej[1]


def test_bad_panos(case, tmp_path):
    src = corpus_file("firewall", "panos_traffic_syslog.log").read_text().splitlines()
    good = src[0]
    threat = corpus_file("firewall", "panos_threat_syslog.log").read_text().splitlines()[0]
    lines = [
        good,
        good[:200],                                                     # truncated
        good.replace("192.168.15.207", "192.168.15.2077"),              # bad address
        good.replace(",7734,", ",77x4,"),                               # bad number
        good.replace("2018/11/30 15:59:04", "2018/13/30 15:59:04"),     # bad time
        threat + ',"unterminated',                                      # bad quoting
        "Nov 30 16:09:08 PA-220 something else entirely",
    ]
    f, rej = _bad_case(case, tmp_path, "pan.log", lines)
    assert f.rows == 1 and set(rej) == {2, 3, 4, 5, 6, 7}
    assert rej[2].startswith("expected at least 47 fields for TRAFFIC")
    assert rej[3] == "src_ip: '192.168.15.2077' is not an IP address"
    assert rej[4] == "bytes: '77x4' is not a non-negative whole number"
    assert rej[5].startswith("start_time: '2018/13/30")
    assert rej[6] == "unbalanced quotes in the CSV"
    assert "not a PAN-OS" in rej[7]


def test_bad_mapping_lines(case, tmp_path):
    src = corpus_file("firewall", "mikrotik_firewall.log").read_text().splitlines()
    good = src[0]
    lines = [
        good,
        good[:100],                                                 # truncated
        good.replace("36.97.161.219", "36.97.161.2190"),            # bad address
        good.replace(":59388->", ":593889->"),                      # bad port
        good.replace("2023-03-18T20", "2023-03-32T20"),             # bad time
        good.replace("drop-tcp", "mystery"),                        # unmapped action
    ]
    f, rej = _bad_case(case, tmp_path, "mt.log", lines, fmt="firewall-mapping",
                       extra={"mapping": "mikrotik"})
    assert f.rows == 1 and set(rej) == {2, 3, 4, 5, 6}
    assert rej[2] == "line does not match the mapping's regex pattern"
    assert rej[3] == "src_ip: '36.97.161.2190' is not an IP address"
    assert rej[4].startswith("src_port: '593889'")
    assert rej[5].startswith("ts: '2023-03-32T20")
    assert rej[6].startswith("action: 'mystery'")


def test_mapping_csv_and_json(case, tmp_path):
    csv_map = tmp_path / "alicloud.toml"
    csv_map.write_text('''
[mapping]
name = "alicloud-fw"
kind = "csv"
null_values = ["-"]
[csv]
header = true
comment = "#"
[fields]
ts = "Time"
src_ip = "SrcIP"
dst_ip = "DstIP"
dst_port = "DstPort"
proto = "Protocol"
action = "Action"
rule = "RuleName"
[time]
ts = "%Y-%m-%d %H:%M:%S"
[values.action]
accept = "allow"
deny = "deny"
[extra]
app = "App"
''')
    data = tmp_path / "ali.csv"
    data.write_text("# exported\nTime,SrcIP,DstIP,DstPort,Protocol,Action,RuleName,App\n"
                    '2024-02-01 10:00:00,10.0.0.1,8.8.8.8,53,UDP,deny,"block, dns",-\n'
                    "2024-02-01 10:00:01,10.0.0.1,8.8.8.8,53,UDP,accept,r2\n")
    report = load_files(case, str(data), format="firewall-mapping",
                        options=LoadOptions(tz="Asia/Shanghai", extra={"mapping": str(csv_map)}))
    (f,) = report.files
    assert (f.status, f.rows, f.rejects) == ("loaded", 1, 1), f.message
    _check(_row(case, f.evidence_id, 3), ts=t(2024, 2, 1, 2, 0, 0), action="deny",
           rule="block, dns", proto="udp", dst_port=53, format="mapping:alicloud-fw")
    assert _row(case, f.evidence_id, 3)["extra"] == {}
    rej = case.rejects(f.evidence_id)
    assert rej["reason"].to_list() == ["expected 8 columns, found 7"]
    ev = case.evidence().filter(evidence_id=f.evidence_id).row(0, named=True)
    assert ev["header_lines"] == 2 and ev["tz_assumed"] == "Asia/Shanghai"

    json_map = tmp_path / "j.toml"
    json_map.write_text('''
[mapping]
kind = "json"
[fields]
ts = "$.t"
src_ip = "$.flow.src"
dst_ip = "$.flow.dst"
bytes = "$.flow.bytes"
[time]
ts = "epoch_ms"
[constants]
action = "allow"
''')
    data = tmp_path / "j.ndjson"
    data.write_text('{"t": 1700000000123, "flow": {"src": "10.0.0.1", "dst": "::1", '
                    '"bytes": 10}}\n{"t": "x"}\n')
    report = load_files(case, str(data), format="firewall-mapping",
                        options=LoadOptions(extra={"mapping": str(json_map)}))
    (f,) = report.files
    assert (f.rows, f.rejects) == (1, 1)
    _check(_row(case, f.evidence_id, 1), ts=t(2023, 11, 14, 22, 13, 20, 123000),
           action="allow", dst_ip="::1", bytes=10)


@pytest.mark.parametrize("data, message", [
    ({"mapping": {"kind": "xml"}}, "kind must be one of"),
    ({"mapping": {"kind": "regex"}, "regex": {"pattern": "(?P<a>"}, "fields": {"ts": "a"}},
     "does not compile"),
    ({"mapping": {"kind": "regex"}, "regex": {"pattern": "(?P<a>.*)"},
      "fields": {"ts": "b"}, "time": {"ts": "iso"}}, "which the regex does not define"),
    ({"mapping": {"kind": "regex"}, "regex": {"pattern": "(?P<a>.*)"},
      "fields": {"ts": "a"}}, "[time] must say"),
    ({"mapping": {"kind": "json"}, "fields": {"ts": "$.a", "colour": "$.b"},
      "time": {"ts": "iso"}}, "unknown key(s) colour"),
])
def test_mapping_validation(data, message):
    with pytest.raises(ConfigError, match=None) as info:
        parse_mapping(data, "m.toml")
    assert message in str(info.value)


def test_mapping_needs_a_mapping(case, tmp_path):
    path = tmp_path / "x.log"
    path.write_text("hello\n")
    report = load_files(case, str(path), format="firewall-mapping")
    (f,) = report.files
    assert f.status == "failed" and "needs a mapping" in f.message
    assert case.tables()["firewall_events"] == 0


def test_year_from_file_mtime(case, tmp_path):
    path = tmp_path / "nf.log"
    path.write_text(NF_GOOD.format(s=1).replace("Jan  5", "Dec 31") + "\n"
                    + NF_GOOD.format(s=2) + "\n")
    stamp = dt.datetime(2024, 1, 10, tzinfo=UTC).timestamp()
    os.utime(path, (stamp, stamp))
    report = case.load(str(path))
    (f,) = report.files
    assert f.format == "netfilter" and f.rows == 2
    ts = case.sql("SELECT ts FROM firewall_events ORDER BY line_no")["ts"].to_list()
    assert ts == [t(2023, 12, 31, 10, 0, 1), t(2024, 1, 5, 10, 0, 2)]
    notes = case.evidence()["notes"][0].to_list()
    assert any("modification year" in n for n in notes)


def test_rfc5424_long_structured_data(case, tmp_path):
    sd = '[meta ' + " ".join(f'k{i}="{"v" * 20}"' for i in range(12)) + "]"
    line = NF_GOOD.format(s=1).replace("Jan  5 10:00:01", "<4>1 2024-01-05T10:00:01Z")
    line = line.replace("kernel: ", f"kernel - - {sd} ")
    f, rej = _bad_case(case, tmp_path, "long.log", [line, NF_GOOD.format(s=2)])
    assert f.rows == 2 and rej == {}
    assert _row(case, f.evidence_id, 1)["src_ip"] == "10.0.0.1"
