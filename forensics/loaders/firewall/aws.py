"""AWS VPC Flow Logs: space-separated records, default (v2) or custom field order (v3-v8).

A header line (as S3 delivery writes it: the field names, space-separated) names the
fields and may appear again mid-file (concatenated objects); it is a header line, not
data. Without a header the order must be assumed: 14 fields is the default v2 format;
21, 25, 29, 39 or 40 fields are read as *every* field up to v3, v4, v5, v7 or v8 in the
order AWS documents them (the order a "custom format with all fields" produces), and the
assumption is noted. Any other count cannot be read safely and is rejected.

`-` means "no value" and becomes NULL. NODATA/SKIPDATA rows (no traffic, or records
skipped) are loaded with whatever they carry (usually only times) and `log-status` in
`extra`; their action is NULL unless the row gives one. ACCEPT -> allow, REJECT -> deny
(AWS does not say whether a reply was sent). `ts`/`ts_end` are `start`/`end`;
`flow-direction` gives `direction`, and puts `interface-id` in `in_interface` (ingress)
or `out_interface` (egress); `sensor` is the account id. Every field is also kept in
`extra` under its AWS name unless it became a column.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import polars as pl

from forensics.loaders.base import LoadContext
from forensics.loaders.firewall import common as c

NAME = "aws-vpc-flow"

V2 = ["version", "account-id", "interface-id", "srcaddr", "dstaddr", "srcport", "dstport",
      "protocol", "packets", "bytes", "start", "end", "action", "log-status"]
V3 = ["vpc-id", "subnet-id", "instance-id", "tcp-flags", "type", "pkt-srcaddr",
      "pkt-dstaddr"]
V4 = ["region", "az-id", "sublocation-type", "sublocation-id"]
V5 = ["pkt-src-aws-service", "pkt-dst-aws-service", "flow-direction", "traffic-path"]
V7 = ["ecs-cluster-arn", "ecs-cluster-name", "ecs-container-instance-arn",
      "ecs-container-instance-id", "ecs-container-id", "ecs-second-container-id",
      "ecs-service-name", "ecs-task-definition-arn", "ecs-task-arn", "ecs-task-id"]
V8 = ["reject-reason"]
KNOWN = set(V2 + V3 + V4 + V5 + V7 + V8)
# Field count of a header-less line -> (assumed order, what it is).
BY_COUNT = {
    14: (V2, "default v2 format"),
    21: (V2 + V3, "all fields up to v3"),
    25: (V2 + V3 + V4, "all fields up to v4"),
    29: (V2 + V3 + V4 + V5, "all fields up to v5"),
    39: (V2 + V3 + V4 + V5 + V7, "all fields up to v7"),
    40: (V2 + V3 + V4 + V5 + V7 + V8, "all fields up to v8"),
}
COLUMN_OF = {
    "srcaddr": "src_ip", "dstaddr": "dst_ip", "srcport": "src_port", "dstport": "dst_port",
    "protocol": "proto", "packets": "packets", "bytes": "bytes", "tcp-flags": "tcp_flags",
    "account-id": "sensor",
}
_HEADER_RE = r"^[a-z][a-z0-9-]*(?: [a-z][a-z0-9-]*)+$"
_NOHEADER_SNIFF = re.compile(
    r"^[2-9] (?:\d{12}|-) (?:eni-[0-9a-f]+|-) \S+ \S+ \S+ \S+ \S+ \S+ \S+ (?:\d+|-) "
    r"(?:\d+|-) (?:ACCEPT|REJECT|-) (?:OK|NODATA|SKIPDATA)(?: |$)")


def _is_header(tokens: list[str]) -> bool:
    known = sum(1 for t in tokens if t in KNOWN)
    return known >= 3 and ("srcaddr" in tokens or "interface-id" in tokens
                           or "log-status" in tokens)


class AwsVpcFlow:
    """AWS VPC Flow Logs (v2 default, v3-v8 custom with header) as text records."""

    name = NAME
    family = "firewall"
    description = "AWS VPC Flow Logs, default v2 or custom v3-v8 field order (header line)"

    def sniff(self, path: str, head: bytes) -> float:
        lines = c.head_lines(head, 10)
        if not lines:
            return 0.0
        first = lines[0].split(" ")
        if _is_header(first) and all(re.fullmatch(r"[a-z][a-z0-9-]*", t) for t in first):
            return 0.95
        hits = sum(1 for ln in lines if _NOHEADER_SNIFF.match(ln))
        return 0.9 if hits * 2 > len(lines) else 0.0

    def load(self, ctx: LoadContext) -> None:
        assumed: dict[str, int] = {}
        status: dict[str, int] = {}
        c.store(ctx, self._frames(ctx, assumed, status))
        for what, n in assumed.items():
            ctx.note(f"{n} lines without a header line read as the {what} (AWS's documented"
                     " field order)")
        for what, n in status.items():
            ctx.note(f"{n} {what} records (log-status) loaded with the values they carry; "
                     "log-status kept in extra")

    def _frames(self, ctx: LoadContext, assumed: dict[str, int], status: dict[str, int]
                ) -> Iterator[pl.DataFrame]:
        """Finished frames, block by block (runs in the prefetch thread: no connection)."""
        fields: list[str] | None = None
        for frame in c.line_frames(ctx, settled=True):
            is_head = frame["line"].str.contains(_HEADER_RE)
            if not is_head.any():
                yield from self._segment(ctx, frame, fields, assumed, status)
                continue
            cuts = frame.with_row_index("__i").filter(is_head)["__i"].to_list()
            start = 0
            for cut in [*cuts, frame.height]:
                if cut > start:
                    yield from self._segment(ctx, frame.slice(start, cut - start), fields,
                                             assumed, status)
                if cut < frame.height:
                    tokens = frame["line"][cut].split(" ")
                    if _is_header(tokens):
                        ctx.header_lines += 1
                        fields = tokens
                        unknown = [t for t in tokens if t not in KNOWN]
                        if unknown:
                            ctx.note(f"header names fields this loader does not know "
                                     f"({', '.join(unknown)}); kept in extra by name")
                    else:
                        ln = frame["line_no"][cut]
                        ctx.reject(ln, "looks like a header but names no VPC flow fields",
                                   frame["line"][cut])
                start = cut + 1

    def _segment(self, ctx: LoadContext, frame: pl.DataFrame, fields: list[str] | None,
                 assumed: dict[str, int], status: dict[str, int]) -> Iterator[pl.DataFrame]:
        frame = frame.with_columns(pl.col("line").str.split(" ").alias("__f"))
        if fields is not None:
            self._count_status(frame, fields, status)
            yield c.finish(self._convert(frame, fields), NAME)
            return
        counts = frame["__f"].list.len()
        for n in counts.unique().sort().to_list():
            part = frame.filter(counts == n)
            if n not in BY_COUNT:
                for line_no, line in part.select("line_no", "line").iter_rows():
                    ctx.reject(line_no, f"{n} fields and no header line: expected 14 (default"
                               " v2 format) or a header naming the fields", line)
                continue
            order, what = BY_COUNT[n]
            assumed[what] = assumed.get(what, 0) + part.height
            yield c.finish(self._convert(part, order), NAME)
        self._count_status(frame, fields or V2, status)

    @staticmethod
    def _count_status(frame: pl.DataFrame, fields: list[str], status: dict[str, int]) -> None:
        if "log-status" not in fields:
            return
        i = fields.index("log-status")
        values = frame["__f"].list.get(i, null_on_oob=True)
        for what in ("NODATA", "SKIPDATA"):
            n = int((values == what).sum())
            if n:
                status[what] = status.get(what, 0) + n

    @staticmethod
    def _convert(frame: pl.DataFrame, fields: list[str]) -> pl.DataFrame:
        f = pl.col("__f")
        # Every field is taken out of the list once (`-` -> NULL) into `__g_<name>`, and the
        # times once: eager with_columns would repeat a shared sub-expression per use.
        frame = frame.with_columns(
            *(pl.when(v != "-").then(v).alias(f"__g_{name}") for name, v in
              ((name, f.list.get(fields.index(name), null_on_oob=True))
               for name in dict.fromkeys(fields))),  # a repeated name: its first place
            f.list.len().alias("__n"))

        def get(name: str) -> pl.Expr:
            if name not in fields:
                return pl.lit(None, dtype=pl.String)
            return pl.col(f"__g_{name}")

        frame = frame.with_columns(get("start").cast(pl.Int64, strict=False).alias("__start"),
                                   get("end").cast(pl.Int64, strict=False).alias("__end"))
        cols = [get(name).alias(col) for name, col in COLUMN_OF.items()]
        extra_names = [n for n in fields if n not in COLUMN_OF and n not in ("start", "end")]
        extras = [get(n).alias(f"__x_{n}") for n in extra_names]
        start, end = pl.col("__start"), pl.col("__end")
        action = get("action")
        fdir = get("flow-direction")
        iface = get("interface-id")
        n = pl.col("__n")
        reason = pl.coalesce(
            pl.when(n != len(fields)).then(
                pl.format(f"expected {len(fields)} fields, found {{}}", n)),
            pl.when(get("start").is_not_null() & start.is_null())
            .then(c.bad_text("start", get("start"), "a Unix time in seconds")),
            pl.when(get("end").is_not_null() & end.is_null())
            .then(c.bad_text("end", get("end"), "a Unix time in seconds")),
            pl.when(action.is_not_null() & ~action.is_in(["ACCEPT", "REJECT"]))
            .then(c.bad_text("action", action, "ACCEPT or REJECT")),
            pl.when(fdir.is_not_null() & ~fdir.is_in(["ingress", "egress"]))
            .then(c.bad_text("flow-direction", fdir, "ingress or egress")),
        )
        return frame.with_columns(
            *cols, *extras,
            pl.from_epoch(start, "s").dt.replace_time_zone("UTC").alias("ts"),
            pl.from_epoch(end, "s").dt.replace_time_zone("UTC").alias("ts_end"),
            action.replace_strict({"ACCEPT": "allow", "REJECT": "deny"}, default=None,
                                  return_dtype=pl.String).alias("action"),
            fdir.replace_strict({"ingress": "in", "egress": "out"}, default=None,
                                return_dtype=pl.String).alias("direction"),
            pl.when(fdir == "ingress").then(iface).alias("in_interface"),
            pl.when(fdir == "egress").then(iface).alias("out_interface"),
            pl.col("line").alias("message"),
            reason.alias(c.REASON),
        )
