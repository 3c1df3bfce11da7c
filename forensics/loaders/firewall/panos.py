"""Palo Alto PAN-OS TRAFFIC and THREAT logs: the syslog CSV, classic or ISO-timestamp.

The CSV starts at `FUTURE_USE,receive time,serial,type,...`; whatever syslog wrapper is
in front (BSD with or without host, ISO with host) only contributes the host, used as
`sensor` (else the serial number). Times are `yyyy/mm/dd hh:mm:ss` in the firewall's
local zone (read in `ctx.options.tz`, recorded) or ISO 8601 with `Z` (Cortex Data Lake /
PAN-OS 9.1+ variant). An epoch placeholder (1970-01-01) is NULL, never a time.

Positions used (PAN-OS 8.x-11.x syslog field order, stable up to these columns):
common 1 receive time, 2 serial, 3 type, 4 subtype, 6 generated time, 7 src, 8 dst,
9/10 NAT src/dst, 11 rule, 14 app, 15 vsys, 16/17 from/to zone, 18/19 in/out interface,
22 session id, 23 repeat count, 24/25 ports, 26/27 NAT ports, 28 flags, 29 protocol,
30 action. TRAFFIC: 31 bytes, 32/33 bytes sent/received, 34 packets, 35 start time,
36 elapsed seconds, 37 category, 39 sequence number, 41/42 src/dst location, 44/45
packets sent/received, 46 session end reason. THREAT: 31 misc (URL/file), 32 threat id,
33 category, 34 severity, 35 direction, 36 sequence number, 38/39 src/dst location.

TRAFFIC rows are flows: ts = session start, ts_end = start + elapsed. THREAT rows: ts =
generated time. Action: allow; deny and block-* -> deny; drop, drop-all-packets,
random-drop, drop-icmp -> drop; reset-client/server/both -> reject; alert -> alert;
sinkhole -> deny. The PAN-OS word is kept in `extra` as `pan_action`.

Lines without quotes are split in bulk; quoted lines (threat names, app lists) go
through the stdlib csv reader, which is C code.
"""

from __future__ import annotations

import re

import polars as pl

from forensics.loaders.base import LoadContext
from forensics.loaders.firewall import common as c
from forensics.loaders.firewall import timeparse as tp

NAME = "panos"
_CSV_RE = (r"^(?P<hdr>.*?)(?P<csv>\d+,(?:\d{4}/\d\d/\d\d \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT"
           r"[0-9:.]+Z?),[^,]*,(?:TRAFFIC|THREAT),.*)$")
_HOST_RE = (r"^(?:<\d{1,3}>)?(?:1 )?(?:[A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d|"
            r"\d{4}-\d\d-\d\dT\S+) (?P<host>[^\s,]+) ")
_SNIFF = re.compile(r"\d+,(?:\d{4}/\d\d/\d\d \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT[0-9:.]+Z?),"
                    r"[^,]*,(?:TRAFFIC|THREAT),[a-z-]+,")
_ACTIONS = {
    "allow": "allow", "deny": "deny", "block-url": "deny", "block-ip": "deny",
    "block-continue": "deny", "block-override": "deny", "sinkhole": "deny",
    "drop": "drop", "drop-all-packets": "drop", "random-drop": "drop", "drop-icmp": "drop",
    "reset-client": "reject", "reset-server": "reject", "reset-both": "reject",
    "alert": "alert", "continue": "allow", "override": "allow",
}
_MIN_FIELDS = {"TRAFFIC": 47, "THREAT": 40}
_COMMON_EXTRA = {"receive_time": 1, "serial": 2, "log_type": 3, "subtype": 4, "nat_src": 9,
                 "nat_dst": 10, "src_user": 12, "dst_user": 13, "app": 14, "vsys": 15,
                 "from_zone": 16, "to_zone": 17, "log_forwarding": 20, "session_id": 22,
                 "repeat_count": 23, "nat_sport": 26, "nat_dport": 27, "session_flags": 28,
                 "pan_action": 30}
_TRAFFIC_EXTRA = {"bytes_sent": 32, "bytes_received": 33, "start_time": 35, "elapsed": 36,
                  "category": 37, "seqno": 39, "src_location": 41, "dst_location": 42,
                  "packets_sent": 44, "packets_received": 45, "session_end_reason": 46}
_THREAT_EXTRA = {"misc": 31, "threat_id": 32, "category": 33, "severity": 34,
                 "threat_direction": 35, "seqno": 36, "src_location": 38, "dst_location": 39}


class PanOs:
    """PAN-OS TRAFFIC and THREAT syslog CSV (classic and ISO timestamps)."""

    name = NAME
    family = "firewall"
    description = "Palo Alto PAN-OS TRAFFIC/THREAT logs, syslog CSV (classic or ISO times)"

    def sniff(self, path: str, head: bytes) -> float:
        return c.sniff_by_lines(head, _SNIFF, 0.95)

    def load(self, ctx: LoadContext) -> None:
        n_local = 0
        for frame in c.line_frames(ctx):
            frame, local = self._parse(ctx, frame)
            n_local += local
            c.emit(ctx, c.finish(frame, NAME))
        tp.note_assumptions(ctx, 0, n_local)

    def _parse(self, ctx: LoadContext, frame: pl.DataFrame) -> tuple[pl.DataFrame, int]:
        parts = pl.col("line").str.extract_groups(_CSV_RE)
        frame = frame.with_columns(parts.struct.field("csv").alias("__csv"),
                                   parts.struct.field("hdr").str.extract(_HOST_RE, 1)
                                   .alias("__host"))
        fields = c.split_csv(frame["__csv"], ",")
        frame = frame.with_columns(fields.alias("__f"))
        f = pl.col("__f")

        def at(i: int) -> pl.Expr:
            v = f.list.get(i, null_on_oob=True)
            return pl.when(v != "").then(v)

        kind = at(3)
        traffic = kind == "TRAFFIC"
        tz = ctx.options.tz

        def when(text: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
            iso, naive_iso = tp.iso_to_utc(text.str.replace_all("/", "-"), tz)
            return pl.when(iso.dt.epoch("s") != 0).then(iso), naive_iso

        generated, naive_gen = when(at(6))
        start, naive_start = when(at(35))
        elapsed = at(36).cast(pl.Int64, strict=False)
        extra_cols = {**{k: at(i) for k, i in _COMMON_EXTRA.items()}}
        for k, i in _TRAFFIC_EXTRA.items():
            extra_cols[k] = pl.when(traffic).then(at(i))
        for k, i in _THREAT_EXTRA.items():
            prev = extra_cols.get(k)
            extra_cols[k] = (pl.when(~traffic).then(at(i)) if prev is None
                             else pl.when(traffic).then(prev).otherwise(at(i)))
        ts = pl.when(traffic).then(pl.coalesce(start, generated)).otherwise(generated)
        frame = frame.with_columns(
            ts.alias("ts"),
            pl.when(traffic & start.is_not_null()).then(
                start + pl.duration(seconds=elapsed)).alias("ts_end"),
            pl.coalesce(pl.col("__host"), at(2)).alias("sensor"),
            at(30).replace_strict(_ACTIONS, default=None, return_dtype=pl.String)
            .alias("action"),
            at(7).alias("src_ip"), at(8).alias("dst_ip"), at(24).alias("src_port"),
            at(25).alias("dst_port"), at(29).alias("proto"),
            pl.when(traffic).then(at(31)).alias("bytes"),
            pl.when(traffic).then(at(34)).alias("packets"),
            at(11).alias("rule"), at(18).alias("in_interface"), at(19).alias("out_interface"),
            pl.col("line").alias("message"),
            *[e.alias(f"__x_{k}") for k, e in extra_cols.items()],
            (naive_gen | (traffic & naive_start)).alias("__local"),
        )
        n = f.list.len()
        need = kind.replace_strict(_MIN_FIELDS, default=0, return_dtype=pl.Int64)
        reason = pl.coalesce(
            pl.when(pl.col("__csv").is_null()).then(
                pl.lit("not a PAN-OS TRAFFIC or THREAT CSV line")),
            pl.when(f.is_null()).then(pl.lit("unbalanced quotes in the CSV")),
            pl.when(n < need).then(pl.format("expected at least {} fields for {}, found {}",
                                             need, kind, n)),
            pl.when(at(6).is_not_null() & at(6).str.contains("^1970").not_() &
                    generated.is_null()).then(c.bad_text("generated_time", at(6),
                                                         "a valid time")),
            pl.when(traffic & at(35).is_not_null() & at(35).str.contains("^1970").not_() &
                    start.is_null()).then(c.bad_text("start_time", at(35), "a valid time")),
            pl.when(traffic & at(36).is_not_null() & elapsed.is_null()).then(
                c.bad_text("elapsed", at(36), "a whole number of seconds")),
            pl.when(pl.col("ts").is_null()).then(pl.lit("no event time")),
        )
        frame = frame.with_columns(reason.alias(c.REASON))
        local = int(frame.filter(pl.col(c.REASON).is_null())["__local"].sum())
        return frame, local
