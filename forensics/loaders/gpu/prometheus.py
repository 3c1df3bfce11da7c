"""Prometheus exposition text (DCGM exporter, nvidia_gpu_exporter) and range-query JSON.

Text: one scrape, or many concatenated. A sample's time is, in order of preference: its own
millisecond timestamp, the latest `# scrape at <time>` comment before it (ISO 8601, or unix
seconds; a zone-less ISO time is read in options.tz), `options.extra["ts"]`, or the file's
modification time (noted). Label sets are parsed once per distinct label text, in Python,
with the exposition format's escapes; the lines themselves are split by one vectorised
regex per block.

JSON: the document `/api/v1/query_range` (resultType matrix) or `/api/v1/query` (vector)
returns, one row per (series, value) pair; `line_no` is the 1-based index of that pair in
document order (series by series). A compact matrix (as Prometheus writes it) is read in
two parts, the label objects by polars' JSON reader and the `values` arrays as text
(`prom_values`); any other document by polars' JSON reader as a whole, then exploded.

Both pivot through `prom_pivot`, which documents the row and count semantics.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import polars as pl

from forensics.loaders.base import LoadContext
from forensics.loaders.gpu import common as c
from forensics.loaders.gpu import prom_pivot as pp
from forensics.loaders.gpu import prom_values as pv
from forensics.loaders.reading import iter_blocks

_SAMPLE = (r"^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{.*\})?\s+(\S+)(?:\s+(-?[0-9]+))?\s*$")
_SCRAPE = r"(?i)^#\s*scrape(?:d)?\s+at\s+(.+?)\s*$"
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|$)')
_GPU_METRIC = re.compile(rb"(?m)^(DCGM_FI_[A-Z0-9_]+|nvidia_smi_[a-z0-9_]+|nvidia_gpu_[a-z0-9_]+)"
                         rb"[{ ]")


def parse_labels(text: str) -> dict[str, str] | None:
    """`{a="x",b="y\\"z"}` to a dict; None if it is not a valid label set."""
    inner = text.strip()
    if not (inner.startswith("{") and inner.endswith("}")):
        return None
    inner = inner[1:-1].strip()
    out: dict[str, str] = {}
    pos = 0
    while pos < len(inner):
        m = _LABEL.match(inner, pos)
        if not m or m.end() == pos:
            return None
        out[m.group(1)] = (m.group(2).replace("\\\\", "\x00").replace('\\"', '"')
                           .replace("\\n", "\n").replace("\x00", "\\"))
        pos = m.end()
        if m.group(3) == "" and pos < len(inner):
            return None
    return out


def _parse_when(text: str, tz: str) -> datetime | None:
    text = text.strip()
    try:
        if re.fullmatch(r"[0-9]+(\.[0-9]+)?", text):
            return datetime.fromtimestamp(float(text), tz=UTC)
        ts = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        return None
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=ZoneInfo(tz))
    return ts.astimezone(UTC)


class PrometheusText:
    """Prometheus/OpenMetrics text from DCGM exporter or nvidia_gpu_exporter."""

    name = "prometheus-gpu-text"
    family = "gpu"
    description = ("Prometheus text exposition of GPU metrics (DCGM exporter DCGM_FI_*, "
                   "nvidia_gpu_exporter nvidia_smi_*), one scrape or many concatenated")

    def sniff(self, path: str, head: bytes) -> float:
        first = head.lstrip()[:1]
        if first not in (b"#", b"D", b"n"):
            return 0.0
        hits = len(_GPU_METRIC.findall(head))
        if hits == 0:
            return 0.0
        if b"# TYPE " in head or b"# HELP " in head:
            return 0.95
        return 0.7 if hits >= 2 else 0.0

    def load(self, ctx: LoadContext) -> None:
        c.settle(ctx)
        c.check_tz(ctx.options.tz)
        stats = pp.PivotStats()
        registry: dict[str, pp.Series] = {}
        sid_of: dict[str, int] = {}  # label set -> a small integer, to keep per sample
        screened: list[pl.DataFrame] = []  # every block's samples, pivoted once at the end
        last_scrape: datetime | None = None
        fallback: list[datetime | None] = [None]
        units = 0

        def default_ts() -> datetime:
            if fallback[0] is None:
                fallback[0] = c.file_time(ctx, "Prometheus samples without a timestamp")
            return fallback[0]

        for block in iter_blocks(ctx.path):
            data = c.normalise_newlines(block.data)
            n_lines = block.n_lines
            if block.damage is not None:
                cut = data.rfind(b"\n")
                ctx.reject(block.first_line + n_lines - 1, f"{block.damage}; this line is the "
                           "incomplete text before the damage", data[cut + 1:])
                units += 1
                if cut < 0:
                    continue
                data, n_lines = data[:cut], n_lines - 1
            before_utf8 = ctx.rows_rejected
            frame = c.lines_frame(ctx, data, block.first_line)
            units += ctx.rows_rejected - before_utf8  # lines that are not UTF-8
            text = pl.col("text")
            frame = frame.with_columns(
                (text.str.strip_chars() == "").alias("blank"),
                text.str.starts_with("#").alias("comment"),
                text.str.extract(_SCRAPE, 1).alias("scrape"),
            )
            n_blank = int(frame["blank"].sum())
            n_comment = int(frame.filter(~pl.col("blank"))["comment"].sum())
            ctx.blank_lines += n_blank
            ctx.header_lines += n_comment
            units += n_blank + n_comment
            # scrape separators: parse each distinct one, forward-fill over the lines after it
            scrapes = frame.filter(pl.col("scrape").is_not_null())
            scrape_ts: dict[str, datetime | None] = {
                s: _parse_when(s, ctx.options.tz) for s in scrapes["scrape"].unique().to_list()}
            for s, ts in scrape_ts.items():
                if ts is None:
                    ctx.note(f"'# scrape at {s}' is not a time; samples after it keep the "
                             "previous scrape time")
            if scrape_ts:
                ctx.note("sample times from '# scrape at <time>' comment lines")
                if any(not re.search(r"(Z|[+-]\d\d:?\d\d)$", s) and not re.fullmatch(
                        r"[0-9.]+", s) for s in scrape_ts):
                    c.assume_tz(ctx, "'# scrape at' times")
            frame = frame.with_columns(
                pl.col("scrape").replace_strict(scrape_ts, default=None,
                                                return_dtype=c.UTC_US).alias("scrape_ts"))
            frame = frame.with_columns(pl.col("scrape_ts").forward_fill())
            if last_scrape is not None:
                frame = frame.with_columns(pl.col("scrape_ts").fill_null(last_scrape))
            if frame.height and frame["scrape_ts"][-1] is not None:
                last_scrape = frame["scrape_ts"][-1]
            samples = frame.filter(~pl.col("blank") & ~pl.col("comment")).with_columns(
                pl.col("text").str.extract_groups(_SAMPLE).alias("g")).unnest("g")
            samples = samples.rename({"1": "metric", "2": "labels", "3": "vtext", "4": "tsms"})
            bad = samples.filter(pl.col("metric").is_null())
            for line_no, raw in bad.select(c.LINE, "text").iter_rows():
                ctx.reject(line_no, "not a Prometheus sample line (name{labels} value "
                           "[timestamp])", raw)
            units += bad.height
            samples = samples.filter(pl.col("metric").is_not_null()).with_columns(
                pl.col("labels").fill_null("{}"))
            for lab in samples["labels"].unique(maintain_order=True).to_list():
                if lab not in registry:
                    sid_of[lab] = len(sid_of)
                    parsed = parse_labels(lab)
                    registry[lab] = (pp.describe(parsed, ctx.options.host, stats)
                                     if parsed is not None else
                                     pp.Series("bad", "", None, None, None, None, None, None,
                                               None, []))
            bad_labels = [k for k, s in registry.items() if s.kind == "bad"]
            if bad_labels:
                badl = samples.filter(pl.col("labels").is_in(bad_labels))
                for line_no, raw in badl.select(c.LINE, "text").iter_rows():
                    ctx.reject(line_no, "label set is not valid Prometheus text "
                               "(name=\"value\", ...)", raw)
                units += badl.height
                samples = samples.filter(~pl.col("labels").is_in(bad_labels))
            tsms = pl.col("tsms").cast(pl.Int64, strict=False)
            ts = pl.when(tsms.is_not_null()).then(
                pl.from_epoch(tsms, time_unit="ms").dt.replace_time_zone("UTC")
            ).otherwise(pl.col("scrape_ts"))
            samples = samples.with_columns(ts.alias("ts"))
            if samples.filter(pl.col("ts").is_null()).height:
                samples = samples.with_columns(pl.col("ts").fill_null(
                    pl.lit(default_ts()).cast(c.UTC_US)))
            if samples.height == 0:
                continue
            frame_in = samples.select(
                pl.col(c.LINE).alias("unit"), "ts",
                pl.col("labels").replace_strict(sid_of, return_dtype=pl.Int64).alias("sid"),
                "metric", "vtext", "text")
            before_rej, before_head = ctx.rows_rejected, ctx.header_lines
            good = pp.screen(ctx, frame_in, self._series(registry, sid_of),
                             lambda f: f["text"].to_list(), stats)
            units += (ctx.rows_rejected - before_rej) + (ctx.header_lines - before_head)
            screened.append(good.drop("text"))
        if screened:
            samples = pl.concat(screened)
            units += pp.pivot_screened(ctx, samples, self._series(registry, sid_of), stats)
        ctx.lines_read += units
        pp.note_stats(ctx, stats, "Prometheus text")

    @staticmethod
    def _series(registry: dict[str, pp.Series], sid_of: dict[str, int]) -> pl.DataFrame:
        return pp.series_frame({sid_of[k]: s for k, s in registry.items() if s.kind != "bad"})


class PrometheusRangeJson:
    """`/api/v1/query_range` (matrix) or `/api/v1/query` (vector) JSON response."""

    name = "prometheus-range-json"
    family = "gpu"
    description = ("Prometheus HTTP API query_range/query JSON response (GPU metrics pulled "
                   "from a monitoring stack)")

    def sniff(self, path: str, head: bytes) -> float:
        text = head.lstrip()
        if not text.startswith(b"{"):
            return 0.0
        window = text[:4096]
        if b'"resultType"' in window and b'"result"' in window and (
                b'"matrix"' in window or b'"vector"' in window):
            return 0.95
        return 0.0

    def load(self, ctx: LoadContext) -> None:
        c.settle(ctx)
        parts, damage = [], None
        for block in iter_blocks(ctx.path):
            parts.append(block.data)
            damage = block.damage or damage
        data = b"\n".join(parts)
        ctx.note("Prometheus JSON: line_no is the 1-based index of the (series, value) pair "
                 "in document order")
        pairs, series_labels, problem = self._read(data, damage is not None)
        if problem is not None:
            ctx.lines_read += 1
            why = f"{damage}; {problem}" if damage else problem
            ctx.reject(1, why, data[:4096])
            return
        stats = pp.PivotStats()
        registry: dict[str, pp.Series] = {}
        for sid, labels in series_labels.items():
            registry[sid] = pp.describe(labels, ctx.options.host, stats)
        nameless = [sid for sid, labels in series_labels.items() if "__name__" not in labels]
        if nameless:
            unnamed = pairs.filter(pl.col("sid").is_in(nameless))
            for unit, raw in raw_pairs(unnamed, series_labels):
                ctx.reject(unit, "series has no __name__ label (an aggregation or function "
                           "dropped it): cannot tell which metric the value is", raw)
            pairs = pairs.filter(~pl.col("sid").is_in(nameless))
        # each series has one metric: it comes with the series, not per sample
        names = {k: v.get("__name__") for k, v in series_labels.items()}
        written = pp.pivot_store(ctx, pairs, pp.series_frame(registry, names),
                                 lambda f: [r for _, r in raw_pairs(f, series_labels)], stats)
        # records: output rows, self-metric pairs (header), rejected pairs
        ctx.lines_read += written + ctx.header_lines + ctx.rows_rejected
        pp.note_stats(ctx, stats, "Prometheus JSON")

    @staticmethod
    def _read(data: bytes, damaged: bool = False
              ) -> tuple[pl.DataFrame, dict[int, dict[str, str]], str | None]:
        """(pairs: unit, sid, ts, vtext, t), labels per sid, or a reason the document is
        unusable. A compact matrix is read in two parts (`prom_values`); anything else, or
        a damaged stream, by polars' JSON reader as a whole."""
        if not damaged and (cut := pv.split(data)) is not None:
            fast = _read_split(*cut)
            if fast is not None:
                return fast
        try:
            doc = pl.read_json(data, infer_schema_length=None)
        except Exception:  # polars raises several kinds; stdlib json names the position
            try:
                obj = json.loads(data)
            except json.JSONDecodeError as exc:
                return _EMPTY, {}, (f"not valid JSON: {exc.msg} at line {exc.lineno} column "
                                    f"{exc.colno}")
            except UnicodeDecodeError as exc:
                return _EMPTY, {}, f"not valid UTF-8 at byte {exc.start}"
            return _read_obj(obj, _EMPTY)
        try:
            result, rtype, problem = _result(doc)
        except Exception as exc:  # an unexpected shape: let the stdlib path explain it
            return _read_obj(json.loads(data), _EMPTY) if data.strip() else (
                _EMPTY, {}, f"unexpected document shape: {exc}")
        if problem is not None or result.height == 0 or "metric" not in result.columns:
            return _EMPTY, {}, problem
        labels = _labels(result)
        col = "values" if rtype == "matrix" else "value"
        if col not in result.columns:
            return _EMPTY, {}, f"matrix result without '{col}'"
        res = result.select(pl.Series("sid", range(len(labels)), dtype=pl.Int64),
                            pl.col(col).alias("v"))
        pairs = res if rtype == "vector" else res.explode("v")
        pairs = pairs.filter(pl.col("v").is_not_null())
        pairs = pairs.select(
            "sid",
            pl.col("v").list.get(0, null_on_oob=True).cast(pl.String).alias("t"),
            pl.col("v").list.get(1, null_on_oob=True).cast(pl.String).alias("vtext"),
        )
        return _numbered(pairs), labels, None


_EMPTY = pl.DataFrame(schema={"unit": pl.Int64, "sid": pl.Int64, "ts": c.UTC_US,
                              "vtext": pl.String, "t": pl.String})


def _result(doc: pl.DataFrame) -> tuple[pl.DataFrame, str | None, str | None]:
    """(one row per series, resultType, None) from the parsed document, or a problem."""
    status = doc["status"][0] if "status" in doc.columns else None
    if status != "success":
        return _EMPTY, None, f"response status is {status!r}, not 'success'"
    dat = doc["data"].struct.unnest()
    rtype = dat["resultType"][0]
    result = dat.select(pl.col("result").explode()).unnest("result")
    if rtype not in ("matrix", "vector"):
        return _EMPTY, rtype, f"resultType {rtype!r} is not matrix or vector"
    return result, rtype, None


def _labels(result: pl.DataFrame) -> dict[int, dict[str, str]]:
    """Labels per series index. Their key order is the order of the struct fields polars
    inferred over all series, which is why the skeleton must go through the same reader."""
    return {sid: {k: v for k, v in (m or {}).items() if v is not None}
            for sid, m in enumerate(result["metric"].to_list())}


def _numbered(pairs: pl.DataFrame) -> pl.DataFrame:
    """(sid, t, vtext, perhaps ts already) in document order to (unit, sid, ts, vtext, t)."""
    secs = pl.col("t").cast(pl.Float64, strict=False)
    ts = pl.col("ts") if "ts" in pairs.columns else pl.from_epoch(
        (secs * 1_000_000).round(0).cast(pl.Int64), time_unit="us").dt.replace_time_zone("UTC")
    return pairs.select(pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("unit"), "sid",
                        ts.alias("ts"), "vtext", "t")


def _read_split(skeleton: bytes, spans: list[bytes]
                ) -> tuple[pl.DataFrame, dict[int, dict[str, str]], None] | None:
    """The fast read of a compact matrix: labels from the skeleton (the arrays emptied),
    pairs from the arrays' text; None (read it whole) if the skeleton is not exactly one
    series per array, or a pair is outside the fast shape."""
    try:
        result, rtype, problem = _result(pl.read_json(skeleton, infer_schema_length=None))
    except Exception:  # a document we cannot split-read: the whole read explains it
        return None
    if (problem is not None or rtype != "matrix" or result.height != len(spans)
            or "metric" not in result.columns or "values" not in result.columns
            or result["values"].null_count()
            or result.select(pl.col("values").list.len().sum()).item()):
        return None
    pairs = pv.read(spans)
    return None if pairs is None else (_numbered(pairs), _labels(result), None)


def _read_obj(obj: object, empty: pl.DataFrame) -> tuple[pl.DataFrame, dict, str | None]:
    """The careful path over a parsed document: explain what is wrong with its shape."""
    if not isinstance(obj, dict):
        return empty, {}, "the document is not a JSON object"
    if obj.get("status") != "success":
        return empty, {}, f"response status is {obj.get('status')!r}, not 'success'"
    data = obj.get("data")
    if not isinstance(data, dict) or data.get("resultType") not in ("matrix", "vector"):
        return empty, {}, "data.resultType is not matrix or vector"
    result = data.get("result")
    if not isinstance(result, list):
        return empty, {}, "data.result is not a list"
    rows, labels = [], {}
    unit = 0
    for i, series in enumerate(result):
        sid = i
        metric = series.get("metric") if isinstance(series, dict) else None
        labels[sid] = {str(k): str(v) for k, v in (metric or {}).items()}
        values = series.get("values") if isinstance(series, dict) else None
        if values is None and isinstance(series, dict) and "value" in series:
            values = [series["value"]]
        for pair in values or []:
            unit += 1
            ok = isinstance(pair, list) and len(pair) == 2
            rows.append((unit, sid, str(pair[0]) if ok else None,
                         str(pair[1]) if ok else json.dumps(pair)))
    pairs = pl.DataFrame(rows, orient="row", schema={"unit": pl.Int64, "sid": pl.Int64,
                                                     "t": pl.String, "vtext": pl.String})
    secs = pl.col("t").cast(pl.Float64, strict=False)
    ts = pl.from_epoch((secs * 1_000_000).round(0).cast(pl.Int64), time_unit="us") \
        .dt.replace_time_zone("UTC")
    return pairs.select("unit", "sid", ts.alias("ts"), "vtext", "t"), labels, None


def raw_pairs(frame: pl.DataFrame, labels: dict[int, dict[str, str]]) -> list[tuple[int, str]]:
    """(unit, `{labels} [t, "v"]`) for rejects: enough to find the pair in the document."""
    out = []
    for unit, sid, t, v in frame.select("unit", "sid", "t", "vtext").iter_rows():
        out.append((unit, json.dumps(labels.get(sid, {}), separators=(",", ":"))
                    + f" [{t}, {json.dumps(v)}]"))
    return out
