"""Golden tests: every real Zeek log in the corpus, exact counts, one spelled-out row per path.

Row counts were taken independently with `grep -v '^#' | grep -vc '^$'` (zcat for .gz);
the expected rows below were written from the quoted file lines, not from loader output.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

import forensics
from forensics.loaders import sniff
from forensics.loaders.reading import read_head

from .conftest import corpus_dir, corpus_file

DATA_ROWS = {
    "bro22_conn.log": 360,
    "bro22_dns.log": 54,
    "bro22_files.log": 113,
    "bro22_http.log.gz": 150,
    "bro22_notice.log": 2,
    "bro22_ssl.log": 37,
    "bro22_weird.log": 12,
    "bro_x509.log": 13,
    "json_conn.log": 50,
    "json_dns.log": 50,
    "json_spaced_conn.log": 29,
    "json_ssl.log": 50,
    "json_weird.log": 2,
    "json_x509.log": 50,
    "zat_http_corrupt.log.gz": 150,
    "zeek5_proxy_conn.log": 463,
    "zeek5_proxy_files.log": 194,
    "zeek5_proxy_ssl.log": 407,
    "zeek5_proxy_tunnel.log": 1,
    "zeek5_proxy_weird.log": 131,
    "zeek5_proxy_x509.log": 173,
    "zeek62_wrccdc_notice.json.gz": 207,
    "zeek62_wrccdc_notice.log.gz": 207,
    "zeek62_wrccdc_ssh.log.gz": 22,
    "zeek62_wrccdc_ssl.json.gz": 49474,
    "zeek62_wrccdc_weird.json.gz": 24202,
    "zeek62_wrccdc_weird.log.gz": 24202,
    "zeek62_wrccdc_x509.json.gz": 348,
    "zeek62_wrccdc_x509.log.gz": 348,
    "zeek6_conn_hourly.log.gz": 4179,
    "zeek6_files.log.gz": 2503,
    "zeek6_notice.log.gz": 1,
    "zeek6_ssl.log.gz": 6,
    "zeek6_tunnel_gre_ip.log.gz": 1,
    "zeek6_weird.log.gz": 34,
    "zeek91dev_btest_teredo_conn.log": 21,
}
DAMAGED = {"zat_http_corrupt.log.gz"}


def test_every_corpus_zeek_file_is_listed_here():
    on_disk = {p.name for p in corpus_dir("zeek").iterdir()}
    assert on_disk == set(DATA_ROWS), "a corpus Zeek file has no expected row count"


@pytest.mark.parametrize("name", sorted(DATA_ROWS))
def test_corpus_file_loads_completely(name):
    path = corpus_file("zeek", name)
    with forensics.open_case(":memory:") as case:
        report = case.load(path)
        (result,) = report.files
        assert result.status == "loaded", result.message
        ev = case.evidence().row(0, named=True)
        assert ev["lines_read"] == (
            ev["rows_loaded"] + ev["rows_rejected"] + ev["header_lines"] + ev["blank_lines"]
        )
        if name in DAMAGED:
            # all 150 records before the damage load; the damage itself is one reject
            assert result.rows == DATA_ROWS[name]
            rejects = case.rejects()
            assert rejects.height == 1
            assert "gzip" in rejects["reason"][0] and "truncated" in rejects["reason"][0]
            assert rejects["line_no"][0] == 159
        else:
            assert result.rejects == 0, case.rejects().to_dicts()[:3]
            assert result.rows == DATA_ROWS[name]


@pytest.mark.parametrize("name", sorted(DATA_ROWS))
def test_sniffing_picks_the_right_zeek_format(name):
    path = corpus_file("zeek", name)
    fmt, _ = sniff(str(path), read_head(path))
    expected = "zeek-json" if ".json" in name or name.startswith("json_") else "zeek-tsv"
    assert fmt is not None and fmt.name == expected


def _row(name: str, table: str, line_no: int) -> dict:
    with forensics.open_case(":memory:") as case:
        case.load(corpus_file("zeek", name))
        rows = case.sql(f"SELECT * EXCLUDE (evidence_id) FROM {table} WHERE line_no = ?",
                        [line_no]).to_dicts()
    assert len(rows) == 1
    return rows[0]


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_golden_conn_row_bro22():
    # line 9: 1379288667.706265 CoyZrY2g74UvMMgp4a 192.168.33.10 1032 54.245.228.191 80 tcp
    # http 0.447460 601 38393 RSTO - 0 ShADadR 22 1489 31 39641 (empty)
    assert _row("bro22_conn.log", "zeek_conn", 9) == {
        "ts": ts("2013-09-15T23:44:27.706265+00:00"),
        "uid": "CoyZrY2g74UvMMgp4a",
        "id_orig_h": "192.168.33.10", "id_orig_p": 1032,
        "id_resp_h": "54.245.228.191", "id_resp_p": 80,
        "proto": "tcp", "service": "http", "duration": 0.44746,
        "orig_bytes": 601, "resp_bytes": 38393, "conn_state": "RSTO",
        "local_orig": None, "missed_bytes": 0, "history": "ShADadR",
        "orig_pkts": 22, "orig_ip_bytes": 1489, "resp_pkts": 31, "resp_ip_bytes": 39641,
        "tunnel_parents": [], "line_no": 9,
    }


def test_golden_dns_row_json():
    # line 1 of json_dns.log (the JSON object quoted in full in the test below's keys)
    row = _row("json_dns.log", "zeek_dns", 1)
    assert row == {
        "ts": ts("2019-12-03T22:45:22.764317+00:00"),
        "uid": "CWwU9s3h33kFsa9Ljg",
        "id_orig_h": "10.18.20.97", "id_orig_p": 59102,
        "id_resp_h": "10.18.20.8", "id_resp_p": 53, "proto": "udp", "trans_id": 19084,
        "query": "_ldap._tcp.default-first-site-name._sites.icemaiden-dc.icemaiden.com",
        "qclass": 1, "qclass_name": "C_INTERNET", "qtype": 33, "qtype_name": "SRV",
        "rcode": 3, "rcode_name": "NXDOMAIN", "AA": False, "TC": False, "RD": True,
        "RA": False, "Z": 0, "answers": None, "TTLs": None, "rejected": False, "line_no": 1,
        "rtt": None,  # absent from line 1, present in other lines of the file: NULL here
    }


def test_golden_http_row_gzip():
    # line 9: 1379288667.668082 CyIaMO7IheOh38Zsi 192.168.33.10 1031 54.245.228.191 80 1 GET
    # guyspy.com / - Mozilla/4.0 (...) 0 184 301 Moved Permanently - - - (empty) - - - - -
    # Fnjq3r4R0VGmHVWiN5 text/html
    assert _row("bro22_http.log.gz", "zeek_http", 9) == {
        "ts": ts("2013-09-15T23:44:27.668082+00:00"), "uid": "CyIaMO7IheOh38Zsi",
        "id_orig_h": "192.168.33.10", "id_orig_p": 1031,
        "id_resp_h": "54.245.228.191", "id_resp_p": 80, "trans_depth": 1, "method": "GET",
        "host": "guyspy.com", "uri": "/", "referrer": None,
        "user_agent": "Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 5.1; Trident/4.0)",
        "request_body_len": 0, "response_body_len": 184, "status_code": 301,
        "status_msg": "Moved Permanently", "info_code": None, "info_msg": None,
        "filename": None, "tags": [], "username": None, "password": None, "proxied": None,
        "orig_fuids": None, "orig_mime_types": None, "resp_fuids": ["Fnjq3r4R0VGmHVWiN5"],
        "resp_mime_types": ["text/html"], "line_no": 9,
    }


def test_golden_ssl_row_zeek5():
    # line 9: 1672843056.941541 CXHB1X22027MRWU6D 10.136.0.18 55548 10.136.0.16 3128 TLSv13
    # TLS_AES_256_GCM_SHA384 x25519 www.google.com F - - T - - - - - - - 4565...d7 907b...e8
    assert _row("zeek5_proxy_ssl.log", "zeek_ssl", 9) == {
        "ts": ts("2023-01-04T14:37:36.941541+00:00"), "uid": "CXHB1X22027MRWU6D",
        "id_orig_h": "10.136.0.18", "id_orig_p": 55548,
        "id_resp_h": "10.136.0.16", "id_resp_p": 3128, "version": "TLSv13",
        "cipher": "TLS_AES_256_GCM_SHA384", "curve": "x25519", "server_name": "www.google.com",
        "resumed": False, "last_alert": None, "next_protocol": None, "established": True,
        "cert_chain_fuids": None, "client_cert_chain_fuids": None, "subject": None,
        "issuer": None, "client_subject": None, "client_issuer": None,
        "validation_status": None, "ja3": "456523fc94726331a4d5a2e1d40b2cd7",
        "ja3s": "907bf3ecef1c987c889946b737b43de8", "line_no": 9,
    }


def test_golden_notice_row_zeek6():
    # line 9: 1713498075.543789 - ... CaptureLoss::Too_Much_Loss  The capture loss script
    # detected an estimated loss rate above 11.258% - - - - - worker-eth0-1
    # Notice::ACTION_LOG (empty) 3600.000000 - - - - -
    row = _row("zeek6_notice.log.gz", "zeek_notice", 9)
    assert row["ts"] == ts("2024-04-19T03:41:15.543789+00:00")
    assert row["note"] == "CaptureLoss::Too_Much_Loss"
    assert row["msg"] == "The capture loss script detected an estimated loss rate above 11.258%"
    assert row["actions"] == ["Notice::ACTION_LOG"]
    assert row["email_dest"] == []
    assert row["suppress_for"] == 3600.0
    assert row["peer_descr"] == "worker-eth0-1"
    assert row["remote_location_latitude"] is None
    assert all(row[k] is None for k in ("uid", "id_orig_h", "id_orig_p", "fuid", "src", "n"))


def test_golden_tunnel_row():
    # line 9: 1672843056.919583 - 10.136.0.18 0 10.136.0.16 3128 Tunnel::HTTP Tunnel::DISCOVER
    assert _row("zeek5_proxy_tunnel.log", "zeek_tunnel", 9) == {
        "ts": ts("2023-01-04T14:37:36.919583+00:00"), "uid": None,
        "id_orig_h": "10.136.0.18", "id_orig_p": 0, "id_resp_h": "10.136.0.16",
        "id_resp_p": 3128, "tunnel_type": "Tunnel::HTTP", "action": "Tunnel::DISCOVER",
        "line_no": 9,
    }


def test_golden_ssh_row_zeek62():
    # line 9: 1521911799.739898 C2MugGdsn3ZVI1wn6 10.0.0.227 59849 10.47.8.50 22 2 T 1 -
    # SSH-2.0-OpenSSH_7.6 SSH-2.0-OpenSSH_7.4p1 Raspbian-10+deb9u3 chacha20-poly1305@openssh.com
    # umac-64-etm@openssh.com none curve25519-sha256 ecdsa-sha2-nistp256 2d:37:...:af - - - - -
    assert _row("zeek62_wrccdc_ssh.log.gz", "zeek_ssh", 9) == {
        "ts": ts("2018-03-24T17:16:39.739898+00:00"), "uid": "C2MugGdsn3ZVI1wn6",
        "id_orig_h": "10.0.0.227", "id_orig_p": 59849, "id_resp_h": "10.47.8.50",
        "id_resp_p": 22, "version": 2, "auth_success": True, "auth_attempts": 1,
        "direction": None, "client": "SSH-2.0-OpenSSH_7.6",
        "server": "SSH-2.0-OpenSSH_7.4p1 Raspbian-10+deb9u3",
        "cipher_alg": "chacha20-poly1305@openssh.com", "mac_alg": "umac-64-etm@openssh.com",
        "compression_alg": "none", "kex_alg": "curve25519-sha256",
        "host_key_alg": "ecdsa-sha2-nistp256",
        "host_key": "2d:37:6b:11:43:f8:96:08:fe:60:42:20:98:9f:75:af",
        "remote_location_country_code": None, "remote_location_region": None,
        "remote_location_city": None, "remote_location_latitude": None,
        "remote_location_longitude": None, "line_no": 9,
    }


def test_golden_files_row_zeek6():
    # line 9: 1713556822.261756 FW7xxp4Au9jxEK7crd 64.225.56.201 172.70.42.100
    # CTOzMt1eGfeQtFegC3 HTTP 0 (empty) text/html - 0.000000 T F 564 - 0 0 F - - - - - - -
    assert _row("zeek6_files.log.gz", "zeek_files", 9) == {
        "ts": ts("2024-04-19T20:00:22.261756+00:00"), "fuid": "FW7xxp4Au9jxEK7crd",
        "tx_hosts": ["64.225.56.201"], "rx_hosts": ["172.70.42.100"],
        "conn_uids": ["CTOzMt1eGfeQtFegC3"], "source": "HTTP", "depth": 0, "analyzers": [],
        "mime_type": "text/html", "filename": None, "duration": 0.0, "local_orig": True,
        "is_orig": False, "seen_bytes": 564, "total_bytes": None, "missing_bytes": 0,
        "overflow_bytes": 0, "timedout": False, "parent_fuid": None, "md5": None,
        "sha1": None, "sha256": None, "extracted": None, "extracted_cutoff": None,
        "extracted_size": None, "line_no": 9,
    }


def test_golden_weird_row_json_streaming_iso_times():
    # line 1: {"_path":"weird","_write_ts":"2018-03-24T17:15:20.600843Z",
    # "ts":"2018-03-24T17:15:20.600843Z","uid":"CsPzgh4tp5lHBTnsrf","id.orig_h":"10.47.1.152",
    # "id.orig_p":49562,"id.resp_h":"23.217.103.245","id.resp_p":80,
    # "name":"TCP_ack_underflow_or_misorder","notice":false,"peer":"zeek","source":"TCP"}
    row = _row("zeek62_wrccdc_weird.json.gz", "zeek_weird", 1)
    assert row == {
        "ts": ts("2018-03-24T17:15:20.600843+00:00"), "uid": "CsPzgh4tp5lHBTnsrf",
        "id_orig_h": "10.47.1.152", "id_orig_p": 49562, "id_resp_h": "23.217.103.245",
        "id_resp_p": 80, "name": "TCP_ack_underflow_or_misorder", "addl": None,
        "notice": False, "peer": "zeek", "source": "TCP", "_path": "weird",
        "_write_ts": ts("2018-03-24T17:15:20.600843+00:00"), "line_no": 1,
    }


def test_golden_x509_row_scientific_notation_time():
    # zeek62_wrccdc_x509.log.gz writes certificate.not_valid_after as 2.385616957e+09
    # (a certificate valid until 2045); Zeek wrote it, so it must load, not be rejected.
    with forensics.open_case(":memory:") as case:
        case.load(corpus_file("zeek", "zeek62_wrccdc_x509.log.gz"))
        (value,) = case.sql(
            "SELECT certificate_not_valid_after FROM zeek_x509 WHERE line_no = 41"
        ).row(0)
    assert value == datetime.fromtimestamp(2385616957, UTC)


def test_tsv_and_json_of_one_path_share_a_table_and_types():
    with forensics.open_case(":memory:") as case:
        case.load([corpus_file("zeek", "zeek62_wrccdc_weird.log.gz"),
                   corpus_file("zeek", "zeek62_wrccdc_weird.json.gz")])
        types = dict(case.sql(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'zeek_weird'").rows())
        assert types["ts"] == "TIMESTAMP WITH TIME ZONE"
        assert types["id_orig_p"] == "INTEGER"
        # the same capture written twice: both forms give the same events
        diff = case.sql(
            "SELECT count(*) FROM (SELECT ts, uid, name FROM zeek_weird WHERE evidence_id = 1 "
            "EXCEPT SELECT ts, uid, name FROM zeek_weird WHERE evidence_id = 2)").item()
        assert diff == 0


def test_masked_btest_times_are_null_and_noted():
    with forensics.open_case(":memory:") as case:
        case.load(corpus_file("zeek", "zeek91dev_btest_teredo_conn.log"))
        assert case.sql("SELECT count(*) FROM zeek_conn WHERE ts IS NULL").item() == 21
        notes = case.evidence()["notes"][0].to_list()
        assert any("masked" in n for n in notes)
        # the column Zeek 9 added (ip_proto) is there, matched by name
        assert case.sql("SELECT min(ip_proto) FROM zeek_conn").item() is not None
