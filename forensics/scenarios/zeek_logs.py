"""Zeek logs: conn.log (TSV), dns.log (JSON), ssh.log (TSV), ssl.log (TSV with SNI).

Headers follow the real samples in the corpus: conn as Zeek 5 writes it (21 fields, with
local_resp), ssh as Zeek 6.2 with the remote_location geo columns, ssl as Zeek 6 with
ssl_history and JA3, dns as Zeek's JSON writer (dotted `id.orig_h` keys). The background
is built column by column with numpy from a small table of traffic profiles; dns, ssl and
ssh rows are derived from the conn rows they belong to, so uids join across logs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from forensics.scenarios import model as m
from forensics.scenarios.writing import (
    Located,
    chunks,
    fmt,
    locate,
    merge,
    opt,
    seconds,
    us_to_epoch_text,
    write_text,
)

CONN_FIELDS = ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto",
               "service", "duration", "orig_bytes", "resp_bytes", "conn_state", "local_orig",
               "local_resp", "missed_bytes", "history", "orig_pkts", "orig_ip_bytes",
               "resp_pkts", "resp_ip_bytes", "tunnel_parents"]
CONN_TYPES = ["time", "string", "addr", "port", "addr", "port", "enum", "string", "interval",
              "count", "count", "string", "bool", "bool", "count", "string", "count", "count",
              "count", "count", "set[string]"]
SSH_FIELDS = ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "version",
              "auth_success", "auth_attempts", "direction", "client", "server", "cipher_alg",
              "mac_alg", "compression_alg", "kex_alg", "host_key_alg", "host_key",
              "remote_location.country_code", "remote_location.region",
              "remote_location.city", "remote_location.latitude", "remote_location.longitude"]
SSH_TYPES = ["time", "string", "addr", "port", "addr", "port", "count", "bool", "count", "enum",
             "string", "string", "string", "string", "string", "string", "string", "string",
             "string", "string", "string", "double", "double"]
SSL_FIELDS = ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "version",
              "cipher", "curve", "server_name", "resumed", "last_alert", "next_protocol",
              "established", "ssl_history", "cert_chain_fps", "client_cert_chain_fps",
              "sni_matches_cert", "validation_status", "ja3", "ja3s"]
SSL_TYPES = ["time", "string", "addr", "port", "addr", "port", "string", "string", "string",
             "string", "bool", "string", "string", "bool", "string", "vector[string]",
             "vector[string]", "bool", "string", "string", "string"]

CONN_SCHEMA: dict[str, pl.DataType] = {
    "ts": pl.Int64, "uid": pl.String, "orig_h": pl.String, "orig_p": pl.Int64,
    "resp_h": pl.String, "resp_p": pl.Int64, "proto": pl.String, "service": pl.String,
    "duration": pl.Int64, "orig_bytes": pl.Int64, "resp_bytes": pl.Int64,
    "conn_state": pl.String, "missed_bytes": pl.Int64, "history": pl.String,
    "orig_pkts": pl.Int64, "resp_pkts": pl.Int64,
}

_SB = [h.ip for h in m.SANDBOXES]
_INFRA = [h.ip for h in m.INFRA if h is not m.FIREWALL]
_SCANNERS = ([f"203.0.113.{i}" for i in range(150, 250)]
             + [f"198.51.100.{i}" for i in range(200, 250)])
# One address table; the frame carries indices into it until the end.
ADDR = _SB + _INFRA + [ip for _, ip in m.ALLOWED] + [m.NTP, m.ADMIN_HOME] + _SCANNERS
_IX = {a: i for i, a in enumerate(ADDR)}
SNI = {ip: name for name, ip in m.ALLOWED}
NAME_OF = {ip: name for name, ip in m.ALLOWED}

# Profiles: (weight, proto, resp_port, service, log-mean duration s, log-mean orig/resp bytes)
_PROFILES = [
    ("heartbeat", 0.22, "tcp", 8786, None, 1.5, 8.5, 9.5),
    ("dns", 0.18, "udp", 53, "dns", -5.0, 4.0, 4.8),
    ("nccl", 0.04, "tcp", 29500, None, 6.0, 19.0, 19.0),
    ("storage", 0.08, "tcp", 9000, "http", 3.0, 16.0, 7.0),
    ("egress", 0.15, "tcp", 443, "ssl", 1.0, 7.5, 11.0),
    ("health", 0.20, "tcp", 9100, "http", -3.0, 5.2, 8.6),
    ("scan", 0.07, "tcp", 22, None, -2.0, 6.0, 6.5),
    ("ntp", 0.04, "udp", 123, "ntp", -4.0, 3.8, 3.8),
    ("admin", 0.02, "tcp", 22, "ssh", 6.5, 10.0, 12.0),
]
PROFILE_NAMES = [p[0] for p in _PROFILES]


def _uids(rng: np.random.Generator, n: int) -> pl.Series:
    alpha = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                          dtype=np.uint8)
    body = alpha[rng.integers(0, 62, size=(n, 17), dtype=np.uint8)]
    raw = np.concatenate([np.full((n, 1), ord("C"), np.uint8), body], axis=1)
    return pl.Series("uid", raw.view("S18").ravel()).cast(pl.String)


SLICE_ROWS = 1_000_000


def conn_background(rng: np.random.Generator, n: int) -> pl.DataFrame:
    """`n` background connections over the scenario's days (typed, sorted by ts), built a
    million rows at a time so numpy's temporaries stay small at large scales."""
    ts = np.sort(rng.integers(m.BASE_US, m.END_US, size=n))
    parts = [_conn_slice(rng, ts[o:o + SLICE_ROWS]) for o in range(0, n, SLICE_ROWS)]
    return pl.concat(parts, how="vertical", rechunk=False) if parts else _conn_slice(rng, ts)


def _conn_slice(rng: np.random.Generator, ts: np.ndarray) -> pl.DataFrame:
    n = len(ts)
    w = np.array([p[1] for p in _PROFILES])
    prof = rng.choice(len(_PROFILES), size=n, p=w / w.sum()).astype(np.int8)
    sb = rng.integers(0, len(_SB), size=n)
    orig = sb.copy()
    resp = np.full(n, _IX[m.SCHEDULER.ip])
    P = {name: prof == i for i, name in enumerate(PROFILE_NAMES)}
    resp[P["dns"]] = _IX[m.DNS.ip]
    other = (sb + rng.integers(1, len(_SB), size=n)) % len(_SB)
    resp[P["nccl"]] = other[P["nccl"]]
    resp[P["storage"]] = _IX[m.STORAGE.ip]
    allowed = np.array([_IX[ip] for _, ip in m.ALLOWED])
    resp[P["egress"]] = allowed[rng.integers(0, len(allowed), size=int(P["egress"].sum()))]
    orig[P["health"]] = _IX[m.MONITOR.ip]
    health_targets = np.array([_IX[ip] for ip in _SB + _INFRA if ip != m.MONITOR.ip])
    resp[P["health"]] = health_targets[rng.integers(0, len(health_targets),
                                                    size=int(P["health"].sum()))]
    scanners = np.array([_IX[ip] for ip in _SCANNERS])
    orig[P["scan"]] = scanners[rng.integers(0, len(scanners), size=int(P["scan"].sum()))]
    resp[P["scan"]] = _IX[m.BASTION.ip]
    resp[P["ntp"]] = _IX[m.NTP]
    # admin: half home -> bastion, half bastion -> sandbox
    adm = P["admin"]
    half = rng.random(n) < 0.5
    orig[adm & half] = _IX[m.ADMIN_HOME]
    resp[adm & half] = _IX[m.BASTION.ip]
    orig[adm & ~half] = _IX[m.BASTION.ip]
    resp[adm & ~half] = sb[adm & ~half]
    dur_mu = np.array([p[5] for p in _PROFILES])[prof]
    ob_mu = np.array([p[6] for p in _PROFILES])[prof]
    rb_mu = np.array([p[7] for p in _PROFILES])[prof]
    dur = (np.exp(rng.normal(dur_mu, 0.8)) * m.US).astype(np.int64)
    ob = np.exp(rng.normal(ob_mu, 0.7)).astype(np.int64)
    rb = np.exp(rng.normal(rb_mu, 0.7)).astype(np.int64)
    # scan: S0 (no answer), REJ, or SF (a failed password guess); codes index _STATES
    roll = rng.random(n)
    scan = P["scan"]
    state = np.where(scan, np.where(roll < 0.5, 1, np.where(roll < 0.7, 2, 0)), 0).astype(np.int64)
    udp = np.array([p[2] == "udp" for p in _PROFILES])[prof]
    hist = np.where(udp, 2, np.where(rng.random(n) < 0.9, 0, 1))
    hist = np.where(state == 1, 3, np.where(state == 2, 4, hist)).astype(np.int64)
    s0 = state == 1
    rej = state == 2
    ob = np.where(rej, 0, ob)
    rb = np.where(rej, 0, rb)
    dur = np.where(rej, (rng.random(n) * 2000).astype(np.int64), dur)
    ob_pkts = np.where(s0, 1, np.maximum(1, ob // 1400 + rng.integers(2, 12, size=n)))
    rb_pkts = np.where(s0, 0, np.where(rej, 1, np.maximum(
        1, rb // 1400 + rng.integers(2, 12, size=n))))
    oport = rng.integers(32768, 61000, size=n)
    svc = prof.astype(np.int64)
    svc = np.where(scan & (state == 0), len(_PROFILES), svc)  # completed guesses are ssh
    addr = pl.Series(ADDR)
    services = pl.Series([p[4] for p in _PROFILES] + ["ssh"], dtype=pl.String)
    frame = pl.DataFrame({
        "ts": ts, "uid": _uids(rng, n), "orig_h": addr.gather(orig), "orig_p": oport,
        "resp_h": addr.gather(resp), "resp_p": np.array([p[3] for p in _PROFILES])[prof],
        "proto": pl.Series(["tcp", "udp"]).gather(udp.astype(np.int64)),
        "service": services.gather(svc),
        "duration": np.where(s0, -1, dur), "orig_bytes": np.where(s0, -1, ob),
        "resp_bytes": np.where(s0, -1, rb), "conn_state": pl.Series(_STATES).gather(state),
        "missed_bytes": np.zeros(n, dtype=np.int64), "history": pl.Series(_HISTORIES).gather(hist),
        "orig_pkts": ob_pkts, "resp_pkts": rb_pkts, "__prof": prof,
    })
    return frame.with_columns(pl.col(c).replace(-1, None)
                              for c in ("duration", "orig_bytes", "resp_bytes"))


_STATES = ["SF", "S0", "REJ"]
_HISTORIES = ["ShADadFf", "ShADadfF", "Dd", "S", "Sr"]


def _header(path: str, fields: list[str], types: list[str], open_us: int) -> list[str]:
    return ["#separator \\x09", "#set_separator\t,", "#empty_field\t(empty)",
            "#unset_field\t-", f"#path\t{path}", f"#open\t{_zeek_time(open_us)}",
            "#fields\t" + "\t".join(fields), "#types\t" + "\t".join(types)]


def _zeek_time(us: int) -> str:
    return m.iso(us, sep="-", z="").replace(":", "-")


def _local(col: pl.Expr) -> pl.Expr:
    return pl.when(col.str.starts_with("10.42.")).then(pl.lit("T")).otherwise(pl.lit("F"))


def write_conn(path: Path, background: pl.DataFrame, rows: list[dict[str, Any]]) -> Located:
    frame = merge(background.select(list(CONN_SCHEMA)), rows)
    ip_over = pl.when(pl.col("proto") == "udp").then(28).otherwise(52)
    body = chunks(frame, lambda f: f.select(
        seconds(pl.col("ts")), "uid", "orig_h", "orig_p", "resp_h", "resp_p", "proto",
        "service", seconds(pl.col("duration")).alias("duration"), "orig_bytes", "resp_bytes",
        "conn_state", _local(pl.col("orig_h")).alias("lo"), _local(pl.col("resp_h")).alias("lr"),
        "missed_bytes", "history", "orig_pkts",
        (pl.col("orig_bytes").fill_null(0) + pl.col("orig_pkts") * ip_over).alias("oib"),
        "resp_pkts",
        (pl.col("resp_bytes").fill_null(0) + pl.col("resp_pkts") * ip_over).alias("rib"),
        pl.lit(None, dtype=pl.String).alias("tunnel_parents"),
    ))
    first, last = _span(frame)
    header = _header("conn", CONN_FIELDS, CONN_TYPES, first)
    write_text(path, header, body, [f"#close\t{_zeek_time(last)}"], null_value="-",
               float_precision=6)
    return locate(frame, len(header) + 1)


def _span(frame: pl.DataFrame) -> tuple[int, int]:
    if frame.height == 0:
        return m.BASE_US, m.BASE_US
    return int(frame["ts"][0]), int(frame["ts"][-1]) + 1 * m.US


# --- dns.log (JSON) -------------------------------------------------------------------------

_QUERIES = [(name, ip) for name, ip in m.ALLOWED] + [
    ("sched-01.cluster.internal", m.SCHEDULER.ip), ("store-01.cluster.internal", m.STORAGE.ip),
    ("ntp.ubuntu.com", m.NTP), ("wandb.ai", "192.0.2.50"),
]
DNS_SCHEMA: dict[str, pl.DataType] = {
    "ts": pl.Int64, "uid": pl.String, "orig_h": pl.String, "orig_p": pl.Int64,
    "resp_h": pl.String, "trans_id": pl.Int64, "rtt": pl.Int64, "query": pl.String,
    "qtype": pl.Int64, "qtype_name": pl.String, "rcode": pl.Int64, "rcode_name": pl.String,
    "answers": pl.String, "ttl": pl.Int64,
}


def dns_background(rng: np.random.Generator, conn: pl.DataFrame) -> pl.DataFrame:
    """One DNS transaction per background dns connection (same ts and uid)."""
    d = conn.filter(pl.col("__prof") == PROFILE_NAMES.index("dns"))
    n = d.height
    q = rng.integers(0, len(_QUERIES), size=n)
    names = pl.Series([x[0] for x in _QUERIES]).gather(q)
    answers = pl.Series([x[1] for x in _QUERIES]).gather(q)
    return pl.DataFrame({
        "ts": d["ts"], "uid": d["uid"], "orig_h": d["orig_h"], "orig_p": d["orig_p"],
        "resp_h": d["resp_h"], "trans_id": rng.integers(1, 65535, size=n),
        "rtt": rng.integers(150, 4000, size=n), "query": names,
        "qtype": np.ones(n, dtype=np.int64), "qtype_name": np.full(n, "A"),
        "rcode": np.zeros(n, dtype=np.int64), "rcode_name": np.full(n, "NOERROR"),
        "answers": answers, "ttl": rng.choice([60, 300, 3600], size=n),
    })


def write_dns(path: Path, background: pl.DataFrame, rows: list[dict[str, Any]]) -> Located:
    frame = merge(background, rows)
    ans = pl.col("answers")
    body = chunks(frame, lambda f: f.select(fmt(
        '{"ts":{},"uid":"{}","id.orig_h":"{}","id.orig_p":{},"id.resp_h":"{}","id.resp_p":53,'
        '"proto":"udp","trans_id":{},"rtt":{},"query":"{}","qclass":1,"qclass_name":"C_INTERNET",'
        '"qtype":{},"qtype_name":"{}","rcode":{},"rcode_name":"{}","AA":false,"TC":false,'
        '"RD":true,"RA":true,"Z":0{}"rejected":false}',
        us_to_epoch_text(pl.col("ts")), pl.col("uid"), pl.col("orig_h"), pl.col("orig_p"),
        pl.col("resp_h"), pl.col("trans_id"), us_to_epoch_text(pl.col("rtt")), pl.col("query"),
        pl.col("qtype"), pl.col("qtype_name"), pl.col("rcode"), pl.col("rcode_name"),
        pl.when(ans.is_null() | (ans == "")).then(pl.lit(","))
        .otherwise(fmt(',"answers":["{}"],"TTLs":[{}.0],',
                             ans.str.replace_all(",", '","', literal=True),
                             pl.col("ttl"))),
    ).alias("line")))
    write_text(path, [], body)
    return locate(frame, 1)


# --- ssh.log and ssl.log (TSV) -----------------------------------------------------------

SSH_SCHEMA: dict[str, pl.DataType] = {
    "ts": pl.Int64, "uid": pl.String, "orig_h": pl.String, "orig_p": pl.Int64,
    "resp_h": pl.String, "resp_p": pl.Int64, "auth_success": pl.String,
    "auth_attempts": pl.Int64, "client": pl.String, "server": pl.String,
    "host_key": pl.String,
}
_CLIENTS = ["SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6", "SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13.5"]
_BOT_CLIENTS = ["SSH-2.0-libssh2_1.10.0", "SSH-2.0-Go", "SSH-2.0-PUTTY", "SSH-2.0-libssh_0.9.6"]
SERVER = "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6"


def ssh_background(rng: np.random.Generator, conn: pl.DataFrame) -> pl.DataFrame:
    """ssh.log rows for admin sessions (success) and completed bot guesses (failure)."""
    d = conn.filter((pl.col("service") == "ssh"))
    n = d.height
    bot = (d["resp_p"] == 22) & (d["__prof"] == PROFILE_NAMES.index("scan"))
    bot_np = bot.to_numpy()
    client = np.where(bot_np, np.array(_BOT_CLIENTS)[rng.integers(0, 4, size=n)],
                      np.array(_CLIENTS)[rng.integers(0, 2, size=n)])
    keys = [":".join(f"{b:02x}" for b in rng.integers(0, 256, size=16)) for _ in range(3)]
    return pl.DataFrame({
        "ts": d["ts"], "uid": d["uid"], "orig_h": d["orig_h"], "orig_p": d["orig_p"],
        "resp_h": d["resp_h"], "resp_p": d["resp_p"],
        "auth_success": np.where(bot_np, "F", "T"),
        "auth_attempts": np.where(bot_np, rng.integers(1, 7, size=n), 1),
        "client": client, "server": np.full(n, SERVER),
        "host_key": np.array(keys)[rng.integers(0, 3, size=n)],
    })


def write_ssh(path: Path, background: pl.DataFrame, rows: list[dict[str, Any]]) -> Located:
    frame = merge(background, rows)
    orig_local = pl.col("orig_h").str.starts_with("10.42.")
    resp_local = pl.col("resp_h").str.starts_with("10.42.")
    body = chunks(frame, lambda f: f.select(
        us_to_epoch_text(pl.col("ts")), pl.col("uid"), pl.col("orig_h"),
        pl.col("orig_p").cast(pl.String), pl.col("resp_h"), pl.col("resp_p").cast(pl.String),
        pl.lit("2"), opt(pl.col("auth_success")), pl.col("auth_attempts").cast(pl.String),
        pl.when(orig_local & ~resp_local).then(pl.lit("OUTBOUND"))
        .when(~orig_local & resp_local).then(pl.lit("INBOUND")).otherwise(pl.lit("-")).alias("dir"),
        pl.col("client"), pl.col("server"), pl.lit("chacha20-poly1305@openssh.com").alias("c"),
        pl.lit("umac-64-etm@openssh.com").alias("mac"), pl.lit("none").alias("comp"),
        pl.lit("curve25519-sha256").alias("kex"), pl.lit("ssh-ed25519").alias("hk"),
        pl.col("host_key"), *[pl.lit("-").alias(f"g{i}") for i in range(5)],
    ))
    first, last = _span(frame)
    header = _header("ssh", SSH_FIELDS, SSH_TYPES, first)
    write_text(path, header, body, [f"#close\t{_zeek_time(last)}"])
    return locate(frame, len(header) + 1)


SSL_SCHEMA: dict[str, pl.DataType] = {
    "ts": pl.Int64, "uid": pl.String, "orig_h": pl.String, "orig_p": pl.Int64,
    "resp_h": pl.String, "resp_p": pl.Int64, "server_name": pl.String,
    "validation_status": pl.String, "ja3": pl.String,
}
_JA3 = ["473cd7cb9faa642487833865d516e578", "cd08e31494f9531f560d64c695473da9",
        "773906b0efdefa24a7f2b8eb6985bf37"]
_JA3S = "15af977ce25de452b96affa2addb1036"


def ssl_background(rng: np.random.Generator, conn: pl.DataFrame) -> pl.DataFrame:
    d = conn.filter(pl.col("service") == "ssl")
    n = d.height
    return pl.DataFrame({
        "ts": d["ts"], "uid": d["uid"], "orig_h": d["orig_h"], "orig_p": d["orig_p"],
        "resp_h": d["resp_h"], "resp_p": d["resp_p"],
        "server_name": d["resp_h"].replace_strict(SNI, default=None),
        "validation_status": np.full(n, "ok"),
        "ja3": np.array(_JA3)[rng.integers(0, len(_JA3), size=n)],
    })


def write_ssl(path: Path, background: pl.DataFrame, rows: list[dict[str, Any]]) -> Located:
    frame = merge(background, rows)
    body = chunks(frame, lambda f: f.select(
        us_to_epoch_text(pl.col("ts")), pl.col("uid"), pl.col("orig_h"),
        pl.col("orig_p").cast(pl.String), pl.col("resp_h"), pl.col("resp_p").cast(pl.String),
        pl.lit("TLSv13"), pl.lit("TLS_AES_256_GCM_SHA384").alias("ci"),
        pl.lit("x25519").alias("cu"), opt(pl.col("server_name")), pl.lit("F").alias("res"),
        pl.lit("-").alias("la"), pl.lit("-").alias("np"), pl.lit("T").alias("est"),
        pl.lit("CsiI").alias("hist"), pl.lit("-").alias("fps"), pl.lit("-").alias("cfps"),
        pl.lit("-").alias("smc"), opt(pl.col("validation_status")), pl.col("ja3"),
        pl.lit(_JA3S).alias("ja3s"),
    ))
    first, last = _span(frame)
    header = _header("ssl", SSL_FIELDS, SSL_TYPES, first)
    write_text(path, header, body, [f"#close\t{_zeek_time(last)}"])
    return locate(frame, len(header) + 1)
