"""GCP VPC Flow Logs and Firewall Rules Logging, as Cloud Logging JSON (one entry a line).

Both share `jsonPayload.connection` (src_ip, src_port, dest_ip, dest_port, protocol as
an IANA number). Which kind an entry is comes from the entry itself, so one export
holding both loads under either format name:

- firewall-rule entries (`jsonPayload.disposition`): ts = `timestamp`, action from the
  disposition (ALLOWED -> allow, DENIED -> deny), direction from `rule_details.direction`
  (INGRESS -> in, EGRESS -> out), rule = `rule_details.reference`, sensor = the VM.
- VPC flow entries (`jsonPayload.bytes_sent` or a `vpc_flows` logName): ts/ts_end =
  `start_time`/`end_time`, bytes/packets = `bytes_sent`/`packets_sent` (int64 written as
  strings), direction from `reporter` (SRC -> out, DEST -> in: the reporting VM's view),
  sensor = the reporting VM. VPC flow logs carry no decision, so action is NULL.

Fields are read with polars' JSONPath matcher over the whole column (no per-line Python);
a line that is not a JSON object is rejected.
"""

from __future__ import annotations

import polars as pl

from forensics.loaders.base import LoadContext
from forensics.loaders.firewall import common as c
from forensics.loaders.firewall import timeparse as tp

_P = "$.jsonPayload."
_EXTRA = {
    "insertId": "$.insertId", "logName": "$.logName",
    "project_id": "$.resource.labels.project_id",
    "subnetwork_name": "$.resource.labels.subnetwork_name",
    "location": "$.resource.labels.location",
    "receiveTimestamp": "$.receiveTimestamp",
    "reporter": _P + "reporter", "rtt_msec": _P + "rtt_msec",
    "src_vm": _P + "src_instance.vm_name", "dest_vm": _P + "dest_instance.vm_name",
    "src_vpc": _P + "src_vpc.vpc_name", "dest_vpc": _P + "dest_vpc.vpc_name",
    "src_country": _P + "src_location.country", "dest_country": _P + "dest_location.country",
    "dest_asn": _P + "dest_location.asn", "src_asn": _P + "src_location.asn",
    "disposition": _P + "disposition", "vm_name": _P + "instance.vm_name",
    "vm_zone": _P + "instance.zone", "vpc_name": _P + "vpc.vpc_name",
    "rule_action": _P + "rule_details.action", "rule_priority": _P + "rule_details.priority",
    "rule_direction": _P + "rule_details.direction",
    "remote_country": _P + "remote_location.country",
}


class _GcpBase:
    family = "firewall"
    kind = ""

    def sniff(self, path: str, head: bytes) -> float:
        first = head.lstrip()[:4096]
        if not first.startswith(b"{") or b'"jsonPayload"' not in first:
            return 0.0
        flows = b"%2Fvpc_flows" in first or b"/vpc_flows" in first
        fw = b"%2Ffirewall" in first or b"/firewall" in first
        if self.kind == "flow" and flows:
            return 0.95
        if self.kind == "firewall" and fw and not flows:
            return 0.95
        return 0.0

    def load(self, ctx: LoadContext) -> None:
        n_flow = n_fw = 0
        for frame in c.line_frames(ctx):
            frame = self._parse(frame)
            n_fw += int(frame["__fw"].sum())
            n_flow += int(frame["__flow"].sum())
            c.emit(ctx, c.finish(frame, self.name))
        ctx.note(f"{n_flow} VPC flow entries (no action: flow logs carry no decision) and "
                 f"{n_fw} firewall-rule entries read")

    def _parse(self, frame: pl.DataFrame) -> pl.DataFrame:
        line = pl.col("line")

        def j(path: str) -> pl.Expr:
            return line.str.json_path_match(path)

        whole = j("$")
        disposition = j(_P + "disposition")
        is_fw = disposition.is_not_null()
        is_flow = ~is_fw & (j(_P + "bytes_sent").is_not_null()
                            | j("$.logName").str.contains("vpc_flows").fill_null(False))
        start, _ = tp.iso_to_utc(j(_P + "start_time"), "UTC")
        end, _ = tp.iso_to_utc(j(_P + "end_time"), "UTC")
        stamp, _ = tp.iso_to_utc(j("$.timestamp"), "UTC")
        reporter = j(_P + "reporter")
        sensor = pl.when(reporter == "SRC").then(j(_P + "src_instance.vm_name")).when(
            reporter == "DEST").then(j(_P + "dest_instance.vm_name"))
        frame = frame.with_columns(
            is_fw.alias("__fw"), is_flow.alias("__flow"), whole.alias("__whole"),
            pl.when(is_fw).then(stamp).otherwise(start).alias("ts"),
            pl.when(is_fw).then(j("$.timestamp")).otherwise(j(_P + "start_time"))
            .alias("__ts_text"),
            pl.when(is_flow).then(end).alias("ts_end"),
            pl.when(is_fw).then(j(_P + "instance.vm_name")).otherwise(
                pl.coalesce(sensor, j("$.resource.labels.project_id"))).alias("sensor"),
            disposition.replace_strict({"ALLOWED": "allow", "DENIED": "deny"}, default=None,
                                       return_dtype=pl.String).alias("action"),
            pl.when(is_fw).then(
                j(_P + "rule_details.direction").replace_strict(
                    {"INGRESS": "in", "EGRESS": "out"}, default=None, return_dtype=pl.String))
            .otherwise(reporter.replace_strict({"SRC": "out", "DEST": "in"}, default=None,
                                               return_dtype=pl.String)).alias("direction"),
            j(_P + "connection.src_ip").alias("src_ip"),
            j(_P + "connection.src_port").alias("src_port"),
            j(_P + "connection.dest_ip").alias("dst_ip"),
            j(_P + "connection.dest_port").alias("dst_port"),
            j(_P + "connection.protocol").alias("proto"),
            j(_P + "bytes_sent").alias("bytes"),
            j(_P + "packets_sent").alias("packets"),
            j(_P + "rule_details.reference").alias("rule"),
            line.alias("message"),
            *[j(path).alias(f"__x_{name}") for name, path in _EXTRA.items()],
        )
        reason = pl.coalesce(
            pl.when(pl.col("__whole").is_null()).then(pl.lit("not valid JSON")),
            pl.when(~pl.col("__whole").str.starts_with("{")).then(
                pl.lit("a JSON value that is not an object")),
            pl.when(~pl.col("__fw") & ~pl.col("__flow")).then(
                pl.lit("not a GCP VPC flow or firewall-rule log entry")),
            pl.when(pl.col("__fw") & pl.col("action").is_null()).then(
                c.bad_text("disposition", disposition, "ALLOWED or DENIED")),
            pl.when(pl.col("ts").is_null()).then(
                c.bad_text("ts", pl.col("__ts_text").fill_null(""), "an RFC 3339 time")),
            pl.when(j(_P + "end_time").is_not_null() & pl.col("ts_end").is_null()).then(
                c.bad_text("end_time", j(_P + "end_time"), "an RFC 3339 time")),
        )
        return frame.with_columns(reason.alias(c.REASON))


class GcpVpcFlow(_GcpBase):
    """GCP VPC Flow Logs (Cloud Logging JSON lines); firewall-rule entries load too."""

    name = "gcp-vpc-flow"
    kind = "flow"
    description = "GCP VPC Flow Logs, Cloud Logging JSON entry per line"


class GcpFirewall(_GcpBase):
    """GCP Firewall Rules Logging (Cloud Logging JSON lines); flow entries load too."""

    name = "gcp-firewall"
    kind = "firewall"
    description = "GCP Firewall Rules Logging, Cloud Logging JSON entry per line"
