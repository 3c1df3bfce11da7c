"""Azure NSG flow logs, version 1 and 2 (the PT1H.json blob: one JSON document).

Shape: `records[].properties.flows[].flows[].flowTuples[]`, each tuple a CSV string:
v1 `ts,src,dst,sport,dport,proto(T/U),direction(I/O),decision(A/D)`; v2 adds `flow state
(B/C/E), packets src->dst, bytes src->dst, packets dst->src, bytes dst->src` (empty in
a B(egin) tuple). One row per tuple.

The document has no useful lines (it is often one line), so **the unit is the tuple**:
`line_no` is the tuple's 1-based index in document order, and `lines_read` is set to the
number of tuples plus anything rejected that is not a tuple (a document that is not JSON
counts as one record). Both are recorded in a note. `bytes`/`packets` are the sum of both
directions where given (each direction kept in `extra`); `rule` is the NSG rule; `sensor`
the NSG name from the resource id; the tuple text is the `message`.

The JSON document is parsed by the stdlib (a structured document, allowed per-record),
tuples are then split and checked in bulk.
"""

from __future__ import annotations

import json

import polars as pl

from forensics.loaders.base import LoadContext
from forensics.loaders.firewall import common as c
from forensics.loaders.reading import decompressed_chunks

NAME = "azure-nsg-flow"
_V1 = ["ts", "src_ip", "dst_ip", "src_port", "dst_port", "proto", "dir", "decision"]
_V2 = _V1 + ["state", "pkts_s2d", "bytes_s2d", "pkts_d2s", "bytes_d2s"]


class AzureNsgFlow:
    """Azure Network Security Group flow log JSON (v1, v2)."""

    name = NAME
    family = "firewall"
    description = "Azure NSG flow logs v1/v2 (records[].properties.flows[].flows[].flowTuples)"

    def sniff(self, path: str, head: bytes) -> float:
        text = head.lstrip()[:65536]
        if not text.startswith(b"{") or b'"records"' not in text[:200]:
            return 0.0
        if b"flowTuples" in text or b"NetworkSecurityGroupFlowEvent" in text:
            return 0.95
        return 0.0

    def load(self, ctx: LoadContext) -> None:
        c.settle(ctx)
        data = bytearray()
        damage = None
        for item in decompressed_chunks(ctx.path):
            if isinstance(item, BaseException):
                damage = str(item)
                break
            data += item
        try:
            doc = json.loads(bytes(data))
        except (ValueError, UnicodeDecodeError) as exc:
            ctx.lines_read = 1
            why = f"{damage}; " if damage else ""
            ctx.reject(1, f"{why}not a valid JSON document: {exc}", bytes(data[:4096]))
            return
        rows, bad = self._flatten(doc)
        ctx.lines_read = len(rows) + len(bad)
        for index, why, raw in bad:
            ctx.reject(index, why, raw)
        ctx.note("Azure NSG flow log: one row per flow tuple; line_no is the tuple's 1-based "
                 "index in the document and lines_read counts tuples (plus rejected "
                 "non-tuple records), not text lines")
        if not rows:
            return
        frame = pl.DataFrame(rows, schema={"line_no": pl.Int64, "message": pl.String,
                                           "rule": pl.String, "sensor": pl.String,
                                           "__version": pl.Int64, "__x_mac": pl.String,
                                           "__x_resourceId": pl.String,
                                           "__x_record_time": pl.String}, orient="row")
        c.emit(ctx, c.finish(self._parse(frame), NAME))

    @staticmethod
    def _flatten(doc: object) -> tuple[list[tuple], list[tuple[int, str, str]]]:
        """(tuples with their context, rejected non-tuple records) in document order."""
        rows: list[tuple] = []
        bad: list[tuple[int, str, str]] = []
        index = 0
        records = doc.get("records") if isinstance(doc, dict) else None
        if not isinstance(records, list):
            return rows, [(1, "document has no records[] list", json.dumps(doc)[:4096])]
        for rec in records:
            props = rec.get("properties") if isinstance(rec, dict) else None
            if not isinstance(props, dict) or not isinstance(props.get("flows"), list):
                index += 1
                bad.append((index, "record has no properties.flows[]", json.dumps(rec)[:4096]))
                continue
            version = props.get("Version")
            rid = rec.get("resourceId") or ""
            nsg = rid.rstrip("/").rsplit("/", 1)[-1] or None
            for group in props["flows"]:
                rule = group.get("rule") if isinstance(group, dict) else None
                for flow in (group.get("flows") or []) if isinstance(group, dict) else []:
                    mac = flow.get("mac") if isinstance(flow, dict) else None
                    for t in (flow.get("flowTuples") or []) if isinstance(flow, dict) else []:
                        index += 1
                        rows.append((index, t if isinstance(t, str) else json.dumps(t), rule,
                                     nsg, version if isinstance(version, int) else None,
                                     mac, rid or None, rec.get("time")))
        return rows, bad

    @staticmethod
    def _parse(frame: pl.DataFrame) -> pl.DataFrame:
        f = pl.col("message").str.split(",")

        def at(i: int) -> pl.Expr:
            v = f.list.get(i, null_on_oob=True)
            return pl.when(v != "").then(v)

        n = f.list.len()
        v2 = pl.col("__version") == 2
        ts_num = at(0).cast(pl.Int64, strict=False)
        names = {"pkts_s2d": 9, "bytes_s2d": 10, "pkts_d2s": 11, "bytes_d2s": 12}
        nums = {k: at(i).cast(pl.UInt64, strict=False) for k, i in names.items()}
        frame = frame.with_columns(
            pl.from_epoch(ts_num, "s").dt.replace_time_zone("UTC").alias("ts"),
            at(1).alias("src_ip"), at(2).alias("dst_ip"), at(3).alias("src_port"),
            at(4).alias("dst_port"),
            at(5).replace_strict({"T": "tcp", "U": "udp"}, default=None,
                                 return_dtype=pl.String).alias("proto"),
            at(6).replace_strict({"I": "in", "O": "out"}, default=None,
                                 return_dtype=pl.String).alias("direction"),
            at(7).replace_strict({"A": "allow", "D": "deny"}, default=None,
                                 return_dtype=pl.String).alias("action"),
            pl.when(v2).then(pl.sum_horizontal(nums["bytes_s2d"], nums["bytes_d2s"]))
            .alias("bytes"),
            pl.when(v2).then(pl.sum_horizontal(nums["pkts_s2d"], nums["pkts_d2s"]))
            .alias("packets"),
            pl.when(v2).then(at(8)).alias("__x_flow_state"),
            *[pl.when(v2).then(at(i)).alias(f"__x_{k}") for k, i in names.items()],
            pl.col("__version").cast(pl.String).alias("__x_version"),
        )
        none_given = pl.all_horizontal([at(i).is_null() for i in names.values()])
        frame = frame.with_columns(
            pl.when(none_given).then(None).otherwise(pl.col("bytes")).cast(pl.UInt64)
            .alias("bytes"),
            pl.when(none_given).then(None).otherwise(pl.col("packets")).cast(pl.UInt64)
            .alias("packets"))
        want = pl.when(v2).then(len(_V2)).otherwise(len(_V1))
        bad_num = pl.coalesce([
            pl.when(at(i).is_not_null() & nums[k].is_null()).then(
                c.bad_text(k, at(i), "a non-negative whole number"))
            for k, i in names.items()])
        reason = pl.coalesce(
            pl.when(~pl.col("__version").is_in([1, 2]).fill_null(False)).then(
                pl.lit("properties.Version is not 1 or 2")),
            pl.when(n != want).then(pl.format("expected {} tuple fields, found {}", want, n)),
            pl.when(ts_num.is_null()).then(c.bad_text("ts", at(0).fill_null(""),
                                                      "a Unix time in seconds")),
            pl.when(pl.col("proto").is_null()).then(c.bad_text("proto", at(5).fill_null(""),
                                                               "T or U")),
            pl.when(pl.col("direction").is_null()).then(
                c.bad_text("direction", at(6).fill_null(""), "I or O")),
            pl.when(pl.col("action").is_null()).then(
                c.bad_text("decision", at(7).fill_null(""), "A or D")),
            pl.when(v2).then(bad_num),
        )
        order = ["__x_version", "__x_flow_state", *[f"__x_{k}" for k in names], "__x_mac",
                 "__x_resourceId", "__x_record_time"]
        frame = frame.with_columns(reason.alias(c.REASON))
        return frame.select(*[x for x in frame.columns if x not in order], *order)
