"""pfSense / OPNsense `filterlog` lines (pf packet filter log as CSV inside syslog).

Field layout (pfSense "Filter Log Format" docs): rule number, sub rule, anchor, tracker,
interface, reason, action, direction, IP version; then for IPv4: TOS, ECN, TTL, id,
offset, flags, protocol id, protocol, length, src, dst; for IPv6: class, flow label, hop
limit, protocol, protocol id, length, src, dst; then per protocol: TCP src port, dst port,
data length, flags, sequence, ack, window, urg, options; UDP src port, dst port, data
length; ICMP type and type-specific fields; anything else is kept in `extra`.

`rule` is the tracker (stable across rule reordering) or the rule number when there is no
tracker; the rule number is in `extra`. pf's `block` becomes deny (the log does not say
whether a reply was sent), `pass` allow, `reject` reject. `bytes` is the IP length.
"""

from __future__ import annotations

import re

import polars as pl

from forensics.loaders.base import LoadContext
from forensics.loaders.firewall import common as c
from forensics.loaders.firewall import timeparse as tp

NAME = "pf-filterlog"
_ACTIONS = {"pass": "allow", "block": "deny", "reject": "reject", "match": None}
_SNIFF = re.compile(r"\bfilterlog(?:\[\d+\])?:? .*?\b\d+,[^,]*,[^,]*,[^,]*,[^,]*,\w*,"
                    r"(?:pass|block|reject|match),(?:in|out),[46],")
# Minimum fields after the address part, per protocol (exact for tcp/udp).
_TCP_FIELDS = 9
_UDP_FIELDS = 3


class PfFilterlog:
    """pfSense / OPNsense filterlog CSV in BSD or RFC 5424 syslog."""

    name = NAME
    family = "firewall"
    description = "pfSense/OPNsense filterlog CSV (IPv4/IPv6; TCP/UDP/ICMP) in syslog"

    def sniff(self, path: str, head: bytes) -> float:
        return c.sniff_by_lines(head, _SNIFF, 0.95)

    def load(self, ctx: LoadContext) -> None:
        n_bsd = n_naive = 0
        for frame in c.line_frames(ctx):
            frame = self._parse(ctx, frame)
            n_bsd += int(frame["__bsd"].sum())
            n_naive += int(frame["__naive"].sum())
            c.emit(ctx, c.finish(frame, NAME))
        tp.note_assumptions(ctx, n_bsd, n_naive)

    def _parse(self, ctx: LoadContext, frame: pl.DataFrame) -> pl.DataFrame:
        frame, sys_ok = tp.add_syslog(frame)
        frame = frame.with_columns(sys_ok.alias("__sys_ok"))
        frame = frame.with_columns(pl.col("__msg").str.split(",").alias("__f"))
        f = pl.col("__f")

        def at(i: int | pl.Expr) -> pl.Expr:
            v = f.list.get(i, null_on_oob=True)
            return pl.when(v != "").then(v)

        v6 = at(8) == "6"
        p = pl.when(v6).then(17).otherwise(20)  # first protocol-specific field
        proto = pl.when(v6).then(at(12)).otherwise(at(16))
        low = proto.str.to_lowercase()
        n = f.list.len()
        tsiso, naive = tp.iso_to_utc(pl.col("__tsiso"), ctx.options.tz)
        action_raw = at(6)
        direction = at(7)
        iface = at(4)
        frame = frame.with_columns(
            pl.when(pl.col("__ts3164").is_not_null())
            .then(tp.bsd_to_utc(ctx, pl.col("__ts3164"))).otherwise(tsiso).alias("ts"),
            action_raw.replace_strict(_ACTIONS, default=None, return_dtype=pl.String)
            .alias("action"),
            direction.replace_strict({"in": "in", "out": "out"}, default=None,
                                     return_dtype=pl.String).alias("direction"),
            pl.coalesce(at(3), at(0)).alias("rule"),
            pl.when(direction == "in").then(iface).alias("in_interface"),
            pl.when(direction == "out").then(iface).alias("out_interface"),
            proto.alias("proto"),
            pl.when(v6).then(at(15)).otherwise(at(18)).alias("src_ip"),
            pl.when(v6).then(at(16)).otherwise(at(19)).alias("dst_ip"),
            pl.when(v6).then(at(14)).otherwise(at(17)).alias("bytes"),
            pl.when(low.is_in(["tcp", "udp"])).then(at(p)).alias("src_port"),
            pl.when(low.is_in(["tcp", "udp"])).then(at(p + 1)).alias("dst_port"),
            pl.when(low == "tcp").then(at(p + 3)).alias("tcp_flags"),
            pl.lit(1, dtype=pl.UInt64).alias("packets"),
            pl.col("line").alias("message"),
            # extra
            at(0).alias("rule_number"), at(1).alias("sub_rule"), at(2).alias("anchor"),
            at(3).alias("tracker"), at(5).alias("reason"), action_raw.alias("pf_action"),
            at(8).alias("ip_version"),
            pl.when(v6).then(at(9)).otherwise(at(9)).alias("tos_class"),
            pl.when(v6).then(at(10)).alias("flow_label"),
            pl.when(~v6).then(at(10)).alias("ecn"),
            pl.when(v6).then(at(11)).otherwise(at(11)).alias("ttl"),
            pl.when(~v6).then(at(12)).alias("ip_id"),
            pl.when(~v6).then(at(13)).alias("frag_offset"),
            pl.when(~v6).then(at(14)).alias("ip_flags"),
            pl.when(low == "tcp").then(at(p + 2)).when(low == "udp").then(at(p + 2))
            .alias("data_length"),
            pl.when(low == "tcp").then(at(p + 4)).alias("tcp_seq"),
            pl.when(low == "tcp").then(at(p + 5)).alias("tcp_ack"),
            pl.when(low == "tcp").then(at(p + 6)).alias("tcp_window"),
            pl.when(low == "tcp").then(at(p + 7)).alias("tcp_urg"),
            pl.when(low == "tcp").then(at(p + 8)).alias("tcp_options"),
            pl.when(low.str.starts_with("icmp")).then(at(p)).alias("icmp_type"),
            pl.when(~low.is_in(["tcp", "udp"]))
            .then(f.list.slice(p + int(0)).list.join(",")).alias("proto_fields"),
            pl.col("__tag").alias("tag"),
            (pl.col("__ts3164").is_not_null()).alias("__bsd"),
            (naive & pl.col("__ts3164").is_null()).alias("__naive"),
        )
        extra = ["rule_number", "sub_rule", "anchor", "tracker", "reason", "pf_action",
                 "ip_version", "tos_class", "flow_label", "ecn", "ttl", "ip_id", "frag_offset",
                 "ip_flags", "data_length", "tcp_seq", "tcp_ack", "tcp_window", "tcp_urg",
                 "tcp_options", "icmp_type", "proto_fields", "tag"]
        low = pl.col("proto").str.to_lowercase()
        want = pl.when(low == "tcp").then(p + _TCP_FIELDS).when(low == "udp").then(
            p + _UDP_FIELDS).otherwise(p)
        reason = pl.coalesce(
            pl.when(~pl.col("__sys_ok")).then(pl.lit("no syslog header")),
            pl.when(pl.col("__tag").is_null() | (pl.col("__tag") != "filterlog"))
            .then(pl.format("not a filterlog line (tag '{}')", pl.col("__tag").fill_null(""))),
            pl.when(~at(8).is_in(["4", "6"]).fill_null(False))
            .then(c.bad_text("ip_version", at(8).fill_null(""), "4 or 6")),
            pl.when(pl.col("action").is_null() & (at(6) != "match").fill_null(True))
            .then(c.bad_text("action", at(6).fill_null(""), "pass, block or reject")),
            pl.when(low.is_in(["tcp", "udp"]) & (n != want))
            .then(pl.format("expected {} fields for {}, found {}", want, low, n)),
            pl.when(~low.is_in(["tcp", "udp"]) & (n < want))
            .then(pl.format("expected at least {} fields, found {}", want, n)),
            pl.when(pl.col("ts").is_null())
            .then(c.bad_text("ts", pl.col("__ts_text").fill_null(""), "a valid time")),
        )
        frame = frame.with_columns(reason.alias(c.REASON))
        return frame.rename({n: f"__x_{n}" for n in extra})
