"""Firewall evidence: the egress gateway's netfilter LOG lines (RFC 3164 syslog, as the
corpus sample's kernel lines) and AWS VPC flow logs (default v2 format with the S3
header line).

The gateway logs what the security team asked it to: inbound packets it drops
(`WAN-IN-DROP:`), sandbox egress it drops (`SBX-EGRESS-DROP:`) and sandbox egress to a
destination not on the allowlist, which it lets through but logs
(`SBX-EGRESS-UNLISTED-ACCEPT:`). Those last two are the "policy violations" that raise
the alarm in the ROME story. VPC flow records are one per flow per aggregation window
and are derived from the Zeek background, so the two sensors agree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from forensics.scenarios import model as m
from forensics.scenarios.writing import Located, chunks, fmt, locate, merge, write_text

BOOT_US = m.BASE_US - 12 * m.DAY - 3 * m.HOUR  # the gateway's kernel boot time
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
WAN_MAC = "0a:1b:2c:3d:4e:5f:0a:9e:8d:7c:6b:5a:08:00"
LAN_MAC = "0a:5e:11:22:33:44:0a:42:07:00:00:01:08:00"

NF_SCHEMA: dict[str, pl.DataType] = {
    "ts": pl.Int64, "prefix": pl.String, "in_if": pl.String, "out_if": pl.String,
    "mac": pl.String, "src": pl.String, "dst": pl.String, "len": pl.Int64, "ttl": pl.Int64,
    "ipid": pl.Int64, "proto": pl.String, "spt": pl.Int64, "dpt": pl.Int64,
}


def bsd_time(us: int) -> str:
    """RFC 3164 time, 'Mar  4 01:02:03' (day padded with a space, no year)."""
    d = datetime.fromtimestamp(us // m.US, tz=UTC)
    return f"{_MONTHS[d.month - 1]} {d.day:>2} {d:%H:%M:%S}"


def netfilter_background(rng: np.random.Generator, n: int) -> pl.DataFrame:
    """Inbound scan drops from the internet, plus a little unlisted-but-benign egress
    (a conda mirror nobody put on the allowlist)."""
    ts = np.sort(rng.integers(m.BASE_US, m.END_US, size=n))
    mirror = rng.random(n) < 0.06
    scanners = pl.Series([f"203.0.113.{i}" for i in range(150, 250)]
                         + [f"198.51.100.{i}" for i in range(200, 250)])
    targets = pl.Series([m.BASTION.ip] + [h.ip for h in m.SANDBOXES])
    sb = pl.Series([h.ip for h in m.SANDBOXES])
    ports = np.array([22, 23, 80, 443, 3389, 5900, 6379, 8080, 8443, 9200, 2375, 6443])
    src = np.where(mirror, sb.gather(rng.integers(0, 8, n)).to_numpy(),
                   scanners.gather(rng.integers(0, len(scanners), n)).to_numpy())
    dst = np.where(mirror, "192.0.2.60",
                   targets.gather(rng.integers(0, len(targets), n)).to_numpy())
    return pl.DataFrame({
        "ts": ts,
        "prefix": np.where(mirror, "SBX-EGRESS-UNLISTED-ACCEPT:", "WAN-IN-DROP:"),
        "in_if": np.where(mirror, "ens6", "ens5"), "out_if": np.where(mirror, "ens5", ""),
        "mac": np.where(mirror, LAN_MAC, WAN_MAC), "src": src, "dst": dst,
        "len": np.where(mirror, 60, 44), "ttl": np.where(mirror, 63, rng.integers(30, 250, n)),
        "ipid": rng.integers(1, 65535, n), "proto": np.full(n, "TCP"),
        "spt": rng.integers(32768, 61000, n),
        "dpt": np.where(mirror, 443, ports[rng.integers(0, len(ports), n)]),
    })


def write_netfilter(path: Path, background: pl.DataFrame, rows: list[dict[str, Any]]) -> Located:
    frame = merge(background, rows)
    secs = pl.col("ts") // m.US
    dt = pl.from_epoch(secs, time_unit="s")
    stamp = pl.concat_str([
        dt.dt.month().replace_strict(list(range(1, 13)), _MONTHS, return_dtype=pl.String),
        pl.lit(" "), dt.dt.day().cast(pl.String).str.pad_start(2, " "), pl.lit(" "),
        dt.dt.strftime("%H:%M:%S")])
    up = pl.col("ts") - BOOT_US
    uptime = pl.concat_str([(up // m.US).cast(pl.String), pl.lit("."),
                            (up % m.US).cast(pl.String).str.zfill(6)])
    body = chunks(frame, lambda f: f.select(fmt(
        "{} " + m.FIREWALL.name + " kernel: [{}] {} IN={} OUT={} MAC={} SRC={} DST={} LEN={} "
        "TOS=0x00 PREC=0x00 TTL={} ID={} DF PROTO={} SPT={} DPT={} WINDOW={} RES=0x00 SYN URGP=0",
        stamp, uptime, pl.col("prefix"), pl.col("in_if"), pl.col("out_if"), pl.col("mac"),
        pl.col("src"), pl.col("dst"), pl.col("len"), pl.col("ttl"), pl.col("ipid"),
        pl.col("proto"), pl.col("spt"), pl.col("dpt"),
        pl.when(pl.col("in_if") == "ens5").then(pl.lit("1024")).otherwise(pl.lit("64240")),
    ).alias("line")))
    write_text(path, [], body)
    return locate(frame, 1)


# --- AWS VPC flow logs -------------------------------------------------------------------

VPC_HEADER = ("version account-id interface-id srcaddr dstaddr srcport dstport protocol "
              "packets bytes start end action log-status")
VPC_SCHEMA: dict[str, pl.DataType] = {
    "ts": pl.Int64, "eni": pl.String, "src": pl.String, "dst": pl.String, "spt": pl.Int64,
    "dpt": pl.Int64, "proto": pl.Int64, "packets": pl.Int64, "bytes": pl.Int64,
    "end": pl.Int64, "action": pl.String,
}
ENI_OF = {h.ip: h.eni for h in m.ALL_HOSTS if h.eni}


def vpc_background(rng: np.random.Generator, conn: pl.DataFrame, fraction: float) -> pl.DataFrame:
    """Flow records for the background connections that touch an instance with an ENI:
    a `fraction` of them (VPC logs sample nothing, but the sample keeps files small)."""
    keep = rng.random(conn.height) < fraction
    c = conn.filter(pl.Series(keep))
    on_eni = pl.col("orig_h").is_in(list(ENI_OF)) | pl.col("resp_h").is_in(list(ENI_OF))
    c = c.filter(on_eni)
    start = (pl.col("ts") // (60 * m.US)) * 60
    return c.select(
        pl.col("ts"),
        pl.when(pl.col("orig_h").is_in(list(ENI_OF)))
        .then(pl.col("orig_h").replace_strict(ENI_OF, default=None))
        .otherwise(pl.col("resp_h").replace_strict(ENI_OF, default=None)).alias("eni"),
        pl.col("orig_h").alias("src"), pl.col("resp_h").alias("dst"),
        pl.col("orig_p").alias("spt"), pl.col("resp_p").alias("dpt"),
        pl.when(pl.col("proto") == "udp").then(17).otherwise(6).alias("proto"),
        (pl.col("orig_pkts")).alias("packets"),
        (pl.col("orig_bytes").fill_null(0) + pl.col("orig_pkts") * 52).alias("bytes"),
        (start + 60 + (pl.col("duration").fill_null(0) // (60 * m.US)) * 60).alias("end"),
        pl.when(pl.col("conn_state") == "S0").then(pl.lit("REJECT"))
        .otherwise(pl.lit("ACCEPT")).alias("action"),
    )


def write_vpc(path: Path, background: pl.DataFrame, rows: list[dict[str, Any]]) -> Located:
    frame = merge(background, rows)
    start = (pl.col("ts") // (60 * m.US)) * 60
    body = chunks(frame, lambda f: f.select(fmt(
        "2 " + m.AWS_ACCOUNT + " {} {} {} {} {} {} {} {} {} {} {} OK",
        pl.col("eni"), pl.col("src"), pl.col("dst"), pl.col("spt"), pl.col("dpt"),
        pl.col("proto"), pl.col("packets"), pl.col("bytes"), start,
        pl.coalesce(pl.col("end"), start + 60), pl.col("action"),
    ).alias("line")))
    write_text(path, [VPC_HEADER], body)
    return locate(frame, 2)
