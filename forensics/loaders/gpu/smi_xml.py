"""`nvidia-smi -q -x` XML snapshots (any nvsmi_device_vNN DTD; MIG; Windows paths).

Rows: one `gpu_samples` row per `<gpu>`, one more per `<mig_device>` inside it (with
`mig_instance` = `GI <gpu_instance_id>/CI <compute_instance_id>` and the parent GPU's uuid),
and one `gpu_processes` row per `<process_info>`. Every leaf value without a column of its
own is kept in `extra` under its element path (`pci/pci_bus_id`, `temperature/memory_temp`),
except the long `supported_clocks` table.

XML is not line-oriented, so `lines_read` counts records (the elements above, plus one per
document that fails to parse) and `line_no` is the line where the element starts, found with
expat's own position tracking. Several documents concatenated (`nvidia-smi -q -x -l 5 >>`)
are read one after the other; a broken document is rejected from where it breaks, and the
records it completed before the break are kept.

`<timestamp>` is ctime-style local time with no zone (`Fri Jan 27 11:32:31 2023`): it is read
in `options.tz` and recorded as assumed. The XML has no GPU index: `gpu_index` is the
`<gpu>`'s position only when the document lists every attached GPU (`<attached_gpus>` equals
the number of `<gpu>` elements, nvidia-smi then lists them in index order); otherwise NULL.
Entity declarations are refused (nvidia-smi never writes them; they are how XML bombs work).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from xml.parsers import expat
from zoneinfo import ZoneInfo

import polars as pl

from forensics.loaders.base import LoadContext
from forensics.loaders.gpu import common as c
from forensics.loaders.reading import iter_blocks

_NUM = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*([A-Za-z%/]*)\s*$")
_DOC_START = re.compile(rb"(?m)^[ \t]*<\?xml ")
_SKIP_EXTRA = {"supported_clocks", "processes", "accounted_processes", "mig_devices"}


@dataclass
class Node:
    tag: str
    line: int
    attrs: dict[str, str]
    children: list[Node] = field(default_factory=list)
    text: str = ""

    def find(self, path: str) -> Node | None:
        node: Node | None = self
        for part in path.split("/"):
            if node is None:
                return None
            node = next((ch for ch in node.children if ch.tag == part), None)
        return node

    def value(self, path: str) -> str | None:
        node = self.find(path)
        if node is None:
            return None
        text = node.text.strip()
        return text or None


class _Refused(Exception):
    pass


class _Builder:
    """Expat callbacks building a small tree; whole <gpu> elements are handed on at their end."""

    def __init__(self, parser: expat.XMLParserType, offset: int, on_gpu, on_root) -> None:
        self.parser = parser
        self.offset = offset
        self.stack: list[Node] = []
        self.on_gpu = on_gpu
        self.on_root = on_root
        self.root: Node | None = None

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        node = Node(tag, self.parser.CurrentLineNumber + self.offset, attrs)
        if self.stack:
            self.stack[-1].children.append(node)
        else:
            self.root = node
        self.stack.append(node)

    def end(self, tag: str) -> None:
        node = self.stack.pop()
        if tag == "gpu" and len(self.stack) == 1:
            self.on_gpu(self.stack[0], node)
            self.stack[0].children.remove(node)  # keep memory flat for long -l captures
        elif not self.stack:
            self.on_root(node)

    def chars(self, data: str) -> None:
        if self.stack:
            self.stack[-1].text += data

    def entity(self, *args: object) -> None:
        raise _Refused("the document declares an entity; nvidia-smi never does, refused")


def _num(text: str | None) -> tuple[float | None, bool]:
    """(value, ok): markers such as `N/A` or `Not Supported` (no digits) give (None, True)."""
    if text is None:
        return None, True
    m = _NUM.match(text)
    if m:
        return float(m.group(1)), True
    return None, _is_marker(text)


_MARKERS = {"N/A", "Not Supported", "Unknown Error", "Insufficient Permissions", "None",
            "Not Available", "Requested functionality has been deprecated"}


def _is_marker(text: str) -> bool:
    """nvidia-smi's "no value" words (in XML without the CSV's brackets)."""
    t = " ".join(text.split())
    return t in _MARKERS or (t.startswith("[") and t.endswith("]"))


def _flatten(node: Node, prefix: str, out: dict[str, str], markers: Counter[str]) -> None:
    for ch in node.children:
        if ch.tag in _SKIP_EXTRA:
            continue
        key = f"{prefix}{ch.tag}"
        if ch.children:
            _flatten(ch, key + "/", out, markers)
            continue
        text = " ".join(ch.text.split())
        if not text:
            continue
        if _is_marker(text):
            markers[text] += 1
            continue
        k, n = key, 2
        while k in out:
            k = f"{key}#{n}"
            n += 1
        out[k] = text


def parse_ctime(text: str, tz: str) -> datetime | None:
    try:
        naive = datetime.strptime(" ".join(text.split()), "%a %b %d %H:%M:%S %Y")
    except ValueError:
        return None
    return naive.replace(tzinfo=ZoneInfo(tz)).astimezone(UTC)


@dataclass
class _Doc:
    ts: datetime | None = None
    ts_text: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
    attached: int | None = None
    gpus: int = 0
    rows: list[tuple[dict, int]] = field(default_factory=list)


class NvidiaSmiXml:
    """`nvidia-smi -q -x` (one or many concatenated documents)."""

    name = "nvidia-smi-xml"
    family = "gpu"
    description = "nvidia-smi -q -x XML snapshot(s): <gpu> -> gpu_samples, <process_info> -> "\
        "gpu_processes"

    def sniff(self, path: str, head: bytes) -> float:
        text = head[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
        if not text.startswith(b"<?xml") and not text.startswith(b"<!DOCTYPE") \
                and not text.startswith(b"<nvidia_smi_log"):
            return 0.0
        if b"<nvidia_smi_log" in head[:4096]:
            return 1.0
        return 0.0

    def load(self, ctx: LoadContext) -> None:
        c.settle(ctx)
        c.check_tz(ctx.options.tz)
        parts = []
        damage = None
        for block in iter_blocks(ctx.path):
            parts.append(block.data)
            damage = block.damage or damage
        data = b"\n".join(parts)
        self.samples: list[dict] = []
        self.procs: list[dict] = []
        self.markers: Counter[str] = Counter()
        starts = [m.start() for m in _DOC_START.finditer(data)] or [0]
        if starts[0] != 0 and data[: starts[0]].strip():
            starts.insert(0, 0)
        for i, start in enumerate(starts):
            end = starts[i + 1] if i + 1 < len(starts) else len(data)
            line = data.count(b"\n", 0, start) + 1
            self._document(ctx, data[start:end], line, last=i == len(starts) - 1,
                           damage=damage)
        ctx.lines_read += len(self.samples) + len(self.procs) + ctx.rows_rejected
        ctx.note("nvidia-smi XML: lines_read counts records (<gpu>, <mig_device>, "
                 "<process_info> elements, and rejected documents), not text lines; line_no "
                 "is the line where the element starts")
        c.note_markers(ctx, self.markers)
        if self.samples:
            frame = pl.DataFrame(self.samples, schema=_SAMPLE_SCHEMA, orient="row")
            c.insert_samples(ctx, frame)
        if self.procs:
            frame = pl.DataFrame(self.procs, schema=_PROC_SCHEMA, orient="row")
            c.insert_processes(ctx, frame)

    def _document(self, ctx: LoadContext, data: bytes, first_line: int, *, last: bool,
                  damage: str | None) -> None:
        doc = _Doc()
        parser = expat.ParserCreate()
        builder = _Builder(parser, first_line - 1,
                           lambda root, gpu: self._gpu(ctx, doc, root, gpu),
                           lambda root: None)
        parser.StartElementHandler = builder.start
        parser.EndElementHandler = builder.end
        parser.CharacterDataHandler = builder.chars
        parser.EntityDeclHandler = builder.entity
        try:
            parser.Parse(data, True)
        except expat.ExpatError as exc:
            line = first_line + exc.lineno - 1
            why = f"XML not well-formed: {expat.ErrorString(exc.code)} at column {exc.offset}"
            if last and damage:
                why = f"{damage}; {why}"
            ctx.reject(line, why + f" (document starting at line {first_line})",
                       _line_of(data, exc.lineno))
        except _Refused as exc:
            ctx.reject(first_line, str(exc), data[:200])
        else:
            if last and damage:
                ctx.note(f"{damage}; the last document was complete before the damage")
        complete = doc.attached is not None and doc.attached == doc.gpus
        for row, position in doc.rows:
            row["gpu_index"] = position if complete else None

    def _gpu(self, ctx: LoadContext, doc: _Doc, root: Node, gpu: Node) -> None:
        if doc.gpus == 0:
            self._doc_header(ctx, doc, root)
        position = doc.gpus
        doc.gpus += 1
        if doc.ts_text is not None and doc.ts is None:
            ctx.reject(gpu.line, f"<timestamp> {doc.ts_text!r} is not a time like "
                       "'Fri Jan 27 11:32:31 2023'", f"<gpu id={gpu.attrs.get('id')!r}>")
            return
        index = None  # set in _document once the number of <gpu> elements is known
        fields = {
            "utilization_gpu_pct": gpu.value("utilization/gpu_util"),
            "utilization_mem_pct": gpu.value("utilization/memory_util"),
            "memory_used_mib": gpu.value("fb_memory_usage/used"),
            "memory_total_mib": gpu.value("fb_memory_usage/total"),
            "power_w": (gpu.value("power_readings/power_draw")
                        or gpu.value("gpu_power_readings/power_draw")
                        or gpu.value("gpu_power_readings/instant_power_draw")),
            "temperature_c": gpu.value("temperature/gpu_temp"),
            "sm_clock_mhz": gpu.value("clocks/sm_clock"),
            "mem_clock_mhz": gpu.value("clocks/mem_clock"),
        }
        row, bad = self._numbers(fields)
        if bad:
            ctx.reject(gpu.line, bad, f"<gpu id={gpu.attrs.get('id')!r}>")
            return
        extra = dict(doc.extra)
        if "id" in gpu.attrs:
            extra["id"] = gpu.attrs["id"]
        _flatten(gpu, "", extra, self.markers)
        uuid = gpu.value("uuid")
        name = gpu.value("product_name")
        self.samples.append({
            "ts": doc.ts, "host": ctx.options.host, "gpu_index": index, "gpu_uuid": uuid,
            "gpu_name": name, "mig_instance": None, **row,
            "extra": [{"key": k, "value": v} for k, v in extra.items()], c.LINE: gpu.line,
        })
        doc.rows.append((self.samples[-1], position))
        migs = gpu.find("mig_devices")
        for mig in (migs.children if migs else []):
            if mig.tag != "mig_device":
                continue
            mrow, bad = self._numbers({"memory_used_mib": mig.value("fb_memory_usage/used"),
                                       "memory_total_mib": mig.value("fb_memory_usage/total")})
            if bad:
                ctx.reject(mig.line, bad, "<mig_device>")
                continue
            mextra: dict[str, str] = {}
            _flatten(mig, "", mextra, self.markers)
            self.samples.append({
                "ts": doc.ts, "host": ctx.options.host, "gpu_index": index,
                "gpu_uuid": mig.value("uuid") or uuid, "gpu_name": name,
                "mig_instance": c.mig_label(mig.value("gpu_instance_id"),
                                            mig.value("compute_instance_id")),
                **{k: None for k in fields}, **mrow,
                "extra": [{"key": k, "value": v} for k, v in mextra.items()],
                c.LINE: mig.line,
            })
            doc.rows.append((self.samples[-1], position))
        procs = gpu.find("processes")
        for proc in (procs.children if procs else []):
            if proc.tag != "process_info":
                continue
            self._process(ctx, doc, proc, index, uuid)
            if self.procs and self.procs[-1][c.LINE] == proc.line:
                doc.rows.append((self.procs[-1], position))

    def _process(self, ctx: LoadContext, doc: _Doc, proc: Node, index: int | None,
                 uuid: str | None) -> None:
        pid_text = proc.value("pid")
        pid = int(pid_text) if pid_text and pid_text.isdigit() else None
        if pid is None:
            ctx.reject(proc.line, f"<pid> {pid_text!r} is not a process id", "<process_info>")
            return
        mem, ok = _num(proc.value("used_memory"))
        if not ok:
            ctx.reject(proc.line, f"<used_memory> {proc.value('used_memory')!r} is not a "
                       "number", "<process_info>")
            return
        extra: dict[str, str] = {}
        _flatten(proc, "", extra, self.markers)
        for k in ("pid", "type", "process_name", "used_memory"):
            extra.pop(k, None)
        mig = c.mig_label(proc.value("gpu_instance_id"), proc.value("compute_instance_id"))
        if mig:
            extra["mig_instance"] = mig
        ptype = proc.value("type")
        self.procs.append({
            "ts": doc.ts, "host": ctx.options.host, "gpu_index": index, "gpu_uuid": uuid,
            "pid": pid, "process_name": proc.value("process_name"),
            "process_type": None if ptype in (None, "N/A") else ptype,
            "used_memory_mib": mem, "sm_util_pct": None,
            "extra": [{"key": k, "value": v} for k, v in extra.items()], c.LINE: proc.line,
        })

    def _doc_header(self, ctx: LoadContext, doc: _Doc, root: Node) -> None:
        doc.ts_text = root.value("timestamp")
        if doc.ts_text is not None:
            doc.ts = parse_ctime(doc.ts_text, ctx.options.tz)
            if doc.ts is not None and ctx.tz_assumed is None:
                c.assume_tz(ctx, "nvidia-smi XML <timestamp> values")
        for key in ("driver_version", "cuda_version"):
            v = root.value(key)
            if v:
                doc.extra[key] = v
        attached = root.value("attached_gpus")
        doc.attached = int(attached) if attached and attached.isdigit() else None

    def _numbers(self, fields: dict[str, str | None]) -> tuple[dict[str, float | None], str]:
        row: dict[str, float | None] = {}
        for column, text in fields.items():
            value, ok = _num(text)
            if not ok:
                return row, f"{column}: {text!r} is not a number"
            if value is None and text is not None:
                self.markers[" ".join(text.split())] += 1
            row[column] = value
        return row, ""


def _line_of(data: bytes, lineno: int) -> bytes:
    lines = data.split(b"\n", lineno)
    return lines[lineno - 1] if 0 < lineno <= len(lines) else b""


_SAMPLE_SCHEMA = {k: v for k, v in c.SAMPLE_COLUMNS.items()} | {c.LINE: pl.Int64}
_PROC_SCHEMA = {k: v for k, v in c.PROCESS_COLUMNS.items()} | {c.LINE: pl.Int64}
