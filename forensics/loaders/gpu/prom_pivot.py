"""Prometheus samples (one value per metric per series) pivoted into GPU rows.

DCGM exporter, nvidia_gpu_exporter and friends publish one time series per metric per GPU;
an analyst wants one row per GPU per instant. Samples are grouped by (time, host, GPU
identity) and each known metric fills its column, converted to the table's unit (bytes to
MiB, Hz to MHz, ratio to percent). Metrics without a column keep their raw text in `extra`
under the metric name; the series' other labels (modelName, driver version, pod, ...) too.

A series that names no GPU (no gpu/UUID/uuid/device/index label) cannot be attributed: if
its metric is one we would map, each sample is rejected saying so; otherwise it is the
exporter talking about itself (`nvidia_smi_command_exit_code`, `up`) and is counted with the
header lines and named in a note.

Counting: one output row comes from many input samples, so `lines_read` counts records: each
output row, each rejected sample, each comment/blank/self-metric unit. `line_no` is the
first input unit (text line, or (series, value) pair for JSON) that went into the row.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

from forensics.loaders.base import LoadContext, registered
from forensics.loaders.gpu import common as c

MIB = 1.0 / 1048576.0

# metric -> (column, factor)
SAMPLE_METRICS: dict[str, tuple[str, float]] = {
    "DCGM_FI_DEV_GPU_UTIL": ("utilization_gpu_pct", 1.0),
    "DCGM_FI_DEV_MEM_COPY_UTIL": ("utilization_mem_pct", 1.0),
    "DCGM_FI_DEV_FB_USED": ("memory_used_mib", 1.0),
    "DCGM_FI_DEV_FB_TOTAL": ("memory_total_mib", 1.0),
    "DCGM_FI_DEV_POWER_USAGE": ("power_w", 1.0),
    "DCGM_FI_DEV_GPU_TEMP": ("temperature_c", 1.0),
    "DCGM_FI_DEV_SM_CLOCK": ("sm_clock_mhz", 1.0),
    "DCGM_FI_DEV_MEM_CLOCK": ("mem_clock_mhz", 1.0),
    "nvidia_smi_utilization_gpu_ratio": ("utilization_gpu_pct", 100.0),
    "nvidia_smi_utilization_memory_ratio": ("utilization_mem_pct", 100.0),
    "nvidia_smi_memory_used_bytes": ("memory_used_mib", MIB),
    "nvidia_smi_memory_total_bytes": ("memory_total_mib", MIB),
    "nvidia_smi_power_draw_watts": ("power_w", 1.0),
    "nvidia_smi_temperature_gpu": ("temperature_c", 1.0),
    "nvidia_smi_clocks_current_sm_clock_hz": ("sm_clock_mhz", 1e-6),
    "nvidia_smi_clocks_current_memory_clock_hz": ("mem_clock_mhz", 1e-6),
    # mindprince/nvidia_gpu_prometheus_exporter
    "nvidia_gpu_duty_cycle": ("utilization_gpu_pct", 1.0),
    "nvidia_gpu_memory_used_bytes": ("memory_used_mib", MIB),
    "nvidia_gpu_memory_total_bytes": ("memory_total_mib", MIB),
    "nvidia_gpu_power_usage_milliwatts": ("power_w", 1e-3),
    "nvidia_gpu_temperature_celsius": ("temperature_c", 1.0),
}
PROCESS_METRICS: dict[str, tuple[str, float]] = {
    "nvidia_smi_compute_app_used_memory_bytes": ("used_memory_mib", MIB),
}
SAMPLE_TARGETS = sorted({t for t, _ in SAMPLE_METRICS.values()})
PROCESS_TARGETS = sorted({t for t, _ in PROCESS_METRICS.values()})

_HOST_LABELS = ("Hostname", "hostname", "host", "node", "kubernetes_node", "instance")
_UUID_LABELS = ("UUID", "uuid", "gpu_uuid")
_INDEX_LABELS = ("gpu", "index", "gpu_index", "minor_number")
_NAME_LABELS = ("modelName", "name", "model_name", "gpu_name")
_BARE_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                        r"[0-9a-fA-F]{12}$")
_PORT = re.compile(r"^(.*?)(?::\d+)?$")


@dataclass
class Series:
    """What a series' labels say about where its samples belong."""

    kind: str  # gpu, proc or none
    key: str
    host: str | None
    uuid: str | None
    index: int | None
    name: str | None
    mig: str | None
    pid: int | None
    process_name: str | None
    extra: list[dict[str, str]]


@dataclass
class PivotStats:
    self_metrics: Counter[str] = field(default_factory=Counter)
    nan: int = 0
    bare_uuid: bool = False
    instance_host: bool = False
    repeats: int = 0


def describe(labels: dict[str, str], default_host: str | None, stats: PivotStats) -> Series:
    """Identity and context of one series from its labels."""
    host = None
    for lab in _HOST_LABELS:
        if labels.get(lab):
            host = labels[lab]
            if lab == "instance":
                host = _PORT.match(host).group(1)  # type: ignore[union-attr]
                stats.instance_host = True
            break
    host = host or default_host
    uuid = next((labels[k] for k in _UUID_LABELS if labels.get(k)), None)
    if uuid and _BARE_UUID.match(uuid):
        uuid = "GPU-" + uuid  # nvidia_gpu_exporter strips nvidia-smi's "GPU-" prefix
        stats.bare_uuid = True
    index = None
    for lab in _INDEX_LABELS:
        v = labels.get(lab)
        if v is not None and v.isdigit():
            index = int(v)
            break
    name = next((labels[k] for k in _NAME_LABELS if labels.get(k)), None)
    gi = labels.get("GPU_I_ID") or labels.get("gpu_instance_id")
    ci = labels.get("compute_instance_id")
    mig = c.mig_label(gi, ci)
    if mig is None and uuid and uuid.startswith("MIG-"):
        mig = uuid
    device = labels.get("device")
    pid_text = labels.get("pid")
    pid = int(pid_text) if pid_text and pid_text.isdigit() else None
    pname = labels.get("process_name")
    used = {"__name__", *_UUID_LABELS, *_NAME_LABELS, "pid", "process_name"}
    if index is not None:
        used.add(next(lab for lab in _INDEX_LABELS if labels.get(lab) == str(index)))
    if host is not None and labels.get("Hostname") == host:
        used.add("Hostname")
    # sorted by name, as Prometheus itself keeps a label set: a range query's labels come
    # back from polars in an order that changes between reads of the same file
    extra = [{"key": k, "value": v} for k, v in sorted(labels.items())
             if k not in used and v != ""]
    has_gpu = uuid is not None or index is not None or device is not None
    kind = "none"
    if has_gpu:
        kind = "proc" if pid is not None else "gpu"
    # the GPU is its uuid when the series has one (nvidia_gpu_exporter puts index and name
    # only on nvidia_smi_gpu_info); otherwise index/device on the host
    ident = (uuid,) if uuid else (index, device)
    key = "\x1f".join(str(x) for x in (host, *ident, mig, pid, pname))
    return Series(kind, key, host, uuid, index, name, mig, pid, pname, extra)


def series_frame(series: dict, metrics: dict | None = None) -> pl.DataFrame:
    """One row per series: its identity and context. Series ids are text (the label set of
    a text sample) or integers (the index of a JSON series); `metrics` gives each series'
    metric when it has exactly one (JSON), so the samples need not carry it."""
    rows = [(sid, s.kind, s.key, s.host, s.uuid, s.index, s.name, s.mig, s.pid,
             s.process_name, s.extra) for sid, s in series.items()]
    sid_type = pl.Int64 if all(isinstance(k, int) for k in series) and series else pl.String
    frame = pl.DataFrame(rows, orient="row", schema={
        "sid": sid_type, "kind": pl.String, "key": pl.String, "host": pl.String,
        "gpu_uuid": pl.String, "gpu_index": pl.Int32, "gpu_name": pl.String,
        "mig_instance": pl.String, "pid": pl.Int64, "process_name": pl.String,
        "lab_extra": c.ENTRY_LIST})
    if metrics is not None:
        frame = frame.with_columns(pl.Series("metric", [metrics.get(k) for k in series],
                                             dtype=pl.String))
    return frame


_ATTRS = ["host", "gpu_uuid", "gpu_index", "gpu_name", "mig_instance", "pid", "process_name",
          "lab_extra"]


def pivot_store(ctx: LoadContext, frame: pl.DataFrame, series: pl.DataFrame,
                raw_of: Callable[[pl.DataFrame], list[str]], stats: PivotStats) -> int:
    """Reject, count and pivot `frame` (unit, ts, sid, vtext, and metric unless `series`
    has it); returns rows written.

    `frame` must be in input order. `raw_of` gives the raw text of the units in a frame, for
    rejects only. Everything that is the same for all samples of a series (kind, GPU key,
    metric when the series has one) is worked out once per series and joined by sid.
    """
    if frame.height == 0:
        return 0
    df, series, mcodes = _encoded(frame, series)
    return _pivot_all(ctx, _checked(ctx, df, raw_of, stats), series, mcodes, stats)


def screen(ctx: LoadContext, frame: pl.DataFrame, series: pl.DataFrame,
           raw_of: Callable[[pl.DataFrame], list[str]], stats: PivotStats) -> pl.DataFrame:
    """`pivot_store`'s rejects and counts alone, for a loader that pivots later (with
    `pivot_screened`): the samples that will pivot, with `frame`'s columns and their parsed
    `value`. A file read in blocks pivots all its blocks' samples at once, since one (time,
    GPU) row may have samples on both sides of a block's end (pivoted per block, it was two
    rows, and what a file stored depended on where its blocks ended)."""
    if frame.height == 0:
        return frame.with_columns(pl.lit(None, dtype=pl.Float64).alias("value"))
    df, _, _ = _encoded(frame, series)
    return _checked(ctx, df, raw_of, stats).select(*frame.columns, "value")


def pivot_screened(ctx: LoadContext, samples: pl.DataFrame, series: pl.DataFrame,
                   stats: PivotStats) -> int:
    """Pivot and store `screen`'s output (several blocks' of it, concatenated in input
    order): nothing in it is rejected or counted again; returns rows written."""
    if samples.height == 0:
        return 0
    df, series, mcodes = _encoded(samples, series)
    return _pivot_all(ctx, df, series, mcodes, stats)


def _pivot_all(ctx: LoadContext, df: pl.DataFrame, series: pl.DataFrame,
               mcodes: dict[str, int], stats: PivotStats) -> int:
    """Pivot checked samples per kind (GPU rows, process rows) and insert them."""
    stats.nan += int(df.select(pl.col("value").is_nan().sum()).item() or 0)
    written = 0
    for kind, metrics, targets in (("gpu", SAMPLE_METRICS, SAMPLE_TARGETS),
                                   ("proc", PROCESS_METRICS, PROCESS_TARGETS)):
        part = df.filter(pl.col("kind") == kind)
        if part.height == 0:
            continue
        out = _pivot(ctx, part, series, list(mcodes), metrics, targets, stats)
        if kind == "gpu":
            c.insert_samples(ctx, out)
        else:
            c.insert_processes(ctx, out)
        written += out.height
    return written


def _encoded(frame: pl.DataFrame, series: pl.DataFrame
             ) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, int]]:
    """(samples joined to their series, with codes and values; the series, with codes; the
    metric codes). A `value` already in `frame` (from `screen`) is not parsed again."""
    key_codes = {k: i for i, k in enumerate(dict.fromkeys(series["key"].to_list()))}
    series = series.with_columns(
        pl.col("key").replace_strict(key_codes, return_dtype=pl.Int32).alias("__kid"))
    per_series = ["sid", "kind", "__kid", "__sidx"]
    by_series = "metric" not in frame.columns
    metric_names = (series if by_series else frame)["metric"].unique(maintain_order=True)
    mcodes = {m: i for i, m in enumerate(metric_names.to_list())}
    mid = pl.col("metric").replace_strict(mcodes, default=None, return_dtype=pl.Int32)
    series = series.with_columns(pl.int_range(pl.len(), dtype=pl.Int32).alias("__sidx"))
    if by_series:
        series = series.with_columns(mid.alias("__mid"))
        per_series += ["metric", "__mid"]
    df = frame.join(series.select(per_series), on="sid", how="left", maintain_order="left")
    if not by_series:
        df = df.with_columns(mid.alias("__mid"))
    if "value" not in df.columns:
        df = df.with_columns(_values(df["vtext"]))
    return df, series, mcodes


def _checked(ctx: LoadContext, df: pl.DataFrame,
             raw_of: Callable[[pl.DataFrame], list[str]], stats: PivotStats) -> pl.DataFrame:
    """`_encoded` samples that can pivot: the others rejected (with `raw_of`'s text),
    samples about the exporter itself counted as header lines."""
    mapped = SAMPLE_METRICS | PROCESS_METRICS
    is_mapped = pl.col("metric").is_in(list(mapped))
    no_gpu = (pl.col("kind") == "none") & is_mapped
    # a cheap boolean first; the reason texts only for the (rare) rows it flags
    flagged = (pl.col("ts").is_null() | pl.col("value").is_null() | no_gpu).fill_null(False)
    df = df.with_columns(flagged.alias("__bad"))
    if df["__bad"].any():
        reason = (
            pl.when(pl.col("ts").is_null()).then(pl.lit("no usable sample time"))
            .when(pl.col("value").is_null()).then(
                pl.format("value '{}' of {} is not a number",
                          pl.col("vtext").str.slice(0, 80), pl.col("metric")))
            .when(no_gpu).then(pl.format(
                "{} sample has no gpu, UUID, uuid, device or index label: cannot tell which "
                "GPU it belongs to", pl.col("metric")))
        )
        bad = df.filter(pl.col("__bad")).with_columns(reason.alias("__reason"))
        for (unit, why), raw in zip(bad.select("unit", "__reason").iter_rows(), raw_of(bad),
                                    strict=True):
            ctx.reject(unit, why, raw)
        df = df.filter(~pl.col("__bad"))
    df = df.drop("__bad")
    selfm = df.filter(pl.col("kind") == "none")
    if selfm.height:
        ctx.header_lines += selfm.height
        for name, n in selfm["metric"].value_counts().iter_rows():
            stats.self_metrics[name] += n
        df = df.filter(pl.col("kind") != "none")
    return df


def _values(vtext: pl.Series) -> pl.Series:
    """Sample values as floats; a leading '+' is allowed. The strip copies every string,
    so it runs only when a plain cast leaves some value unread (the result is the same:
    a text the cast reads is read the same way without a '+' in front)."""
    value = vtext.cast(pl.Float64, strict=False)
    if value.null_count() != vtext.null_count():
        value = vtext.str.strip_prefix("+").cast(pl.Float64, strict=False)
    return value.alias("value")


def _pivot(ctx: LoadContext, df: pl.DataFrame, series: pl.DataFrame, metric_names: list[str],
           metrics: dict[str, tuple[str, float]], targets: list[str],
           stats: PivotStats) -> pl.DataFrame:
    # target column (index into `targets`) and factor of each metric code, looked up by code
    tidx = {t: i for i, t in enumerate(targets)}
    m_target = pl.Series([tidx[metrics[m][0]] if m in metrics else None for m in metric_names],
                         dtype=pl.Int32)
    m_factor = pl.Series([metrics[m][1] if m in metrics else None for m in metric_names],
                         dtype=pl.Float64)
    mid = df["__mid"]
    df = df.with_columns(m_target.gather(mid).alias("__tix"), m_factor.gather(mid).alias("__f"))
    factor = pl.col("__f")
    scaled = pl.when(pl.col("value").is_nan()).then(None).otherwise(
        pl.when(factor == 1.0).then(pl.col("value"))
        .otherwise((pl.col("value") * factor).round(6)))
    df = df.with_columns(scaled.alias("__scaled"))
    # a metric repeated for the same GPU and time starts a new row (scrapes concatenated
    # without times); the window that numbers repeats is costly, so only when there are any.
    # Ordered series or distinct hashes prove there are none without the dearer exact test.
    ident = pl.struct("ts", "__kid", "__mid")
    if (not _ordered_series(df, series)
            and df.select(ident.hash().n_unique()).item() < df.height
            and df.select(ident.is_duplicated().any()).item()):
        df = df.with_columns(
            pl.int_range(pl.len()).over(["ts", "__kid", "__mid"]).alias("__occ"))
    else:
        df = df.with_columns(pl.lit(0).alias("__occ"))
    repeats = int(df.select((pl.col("__occ") > 0).sum()).item() or 0)
    if repeats:
        stats.repeats += repeats
    fast = None if repeats else _pivot_plain(ctx, df, series, targets)
    if fast is not None:
        return fast
    return _pivot_general(df, series, targets, repeats)


def _ordered_series(df: pl.DataFrame, series: pl.DataFrame) -> bool:
    """True if no (time, GPU, metric) repeats, shown cheaply for a range query: each
    series has its own (GPU, metric), and its samples are one run of strictly increasing
    times (Prometheus returns them so). False only means "not shown this way"."""
    if "__mid" not in series.columns or df.height == 0:
        return False
    sidx, ts = df["__sidx"], df["ts"]
    same = (sidx == sidx.shift(1)).fill_null(False)
    runs = sidx.filter(~same)
    if runs.n_unique() != runs.len():
        return False  # a series in more than one run
    present = series.filter(pl.col("__sidx").is_in(runs.implode()))
    if present.select(pl.struct("__kid", "__mid").is_duplicated().any()).item():
        return False
    backwards = (same & (ts <= ts.shift(1))).fill_null(True)
    return not backwards.any()


def _pivot_plain(ctx: LoadContext, df: pl.DataFrame, series: pl.DataFrame,
                 targets: list[str]) -> pl.DataFrame | None:
    """The common case, without per-row lists: None unless every metric has a column, no
    two metrics of one GPU fill the same column, and all series of a GPU agree on its
    attributes and labels. Then a row's attributes are its GPU's, its `extra` is those
    labels, and each column holds the group's only sample for it, so `max` (which skips
    the NULLs of the other metrics' rows) is that sample: the general path's result."""
    if df["__tix"].null_count():
        return None
    # the (GPU, metric) pairs present, as one integer each: a cheap distinct
    pair = (pl.col("__kid").cast(pl.Int64) * (1 << 32) + pl.col("__mid")).unique()
    pairs = df.select(pair.alias("p")).select(
        (pl.col("p") // (1 << 32)).alias("__kid"), (pl.col("p") % (1 << 32)).alias("__mid"))
    targets_of = df.select("__mid", "__tix").unique("__mid")
    pairs = pairs.join(targets_of.with_columns(pl.col("__mid").cast(pl.Int64)), on="__mid")
    if pairs.select(pl.struct("__kid", "__tix").is_duplicated().any()).item():
        return None
    present = series.filter(pl.col("__sidx").is_in(df["__sidx"].unique().implode()))
    attrs = present.select("__kid", *_ATTRS).unique(maintain_order=True)
    if attrs["__kid"].is_duplicated().any():
        return None
    attrs = attrs.with_columns(entries_json(ctx, attrs["lab_extra"]).alias("extra"))
    # only the columns some metric fills (the insert makes the others NULL); group order
    # does not matter, the rows are sorted by their first unit, which no two share
    filled = set(targets_of["__tix"].to_list())
    aggs = [pl.col("unit").min().alias(c.LINE)]
    aggs += [pl.when(pl.col("__tix") == i).then(pl.col("__scaled")).max().alias(t)
             for i, t in enumerate(targets) if i in filled]
    out = df.group_by(["ts", "__kid"], maintain_order=True).agg(aggs)
    out = out.join(attrs.drop("lab_extra"), on="__kid", how="left", maintain_order="left")
    return out.sort(c.LINE)


def entries_json(ctx: LoadContext, entries: pl.Series) -> pl.Series:
    """{key, value} lists as the JSON text the insert would make of them (DuckDB's own
    `to_json(map_from_entries())`, asked once per distinct list, not once per row)."""
    import pyarrow as pa

    table = pa.table({"e": pl.DataFrame({"e": entries}).to_arrow()["e"]})
    view = f"__entries_{ctx.evidence_id}"
    with registered(ctx.con, view, table):
        texts = ctx.con.execute(
            f'SELECT to_json(map_from_entries(e))::VARCHAR FROM "{view}"').fetchall()
    return pl.Series("extra", [t for (t,) in texts], dtype=pl.String)


def _pivot_general(df: pl.DataFrame, series: pl.DataFrame, targets: list[str],
                   repeats: int) -> pl.DataFrame:
    """Any mix of series: rows carry the list of their series, merged in Python once per
    distinct list, and `extra` as {key, value} lists (unmapped metrics, repeat numbers)."""
    df = df.with_columns(pl.Series(targets, dtype=pl.String).gather(df["__tix"])
                         .alias("__target"),
                         pl.col("__sidx").cast(pl.String).alias("__sid"))
    entry = pl.struct(pl.col("metric").alias("key"), pl.col("vtext").alias("value"))
    aggs = [pl.col("unit").min().alias(c.LINE),
            pl.col("__sid").unique(maintain_order=True).alias("__sids")]
    for t in targets:
        aggs.append(pl.col("__scaled").filter(pl.col("__target") == t).first().alias(t))
    aggs.append(entry.filter(pl.col("__target").is_null()).alias("__mextra"))
    out = df.group_by(["ts", "__kid", "__occ"], maintain_order=True).agg(aggs)
    # attributes of the GPU from all the series that went into the row, merged in Python
    # once per distinct set of series (a handful per GPU, not per row)
    attrs = {str(sidx): row for sidx, *row in series.select("__sidx", *_ATTRS).iter_rows()}
    combos = out.select(pl.col("__sids").list.join("\x1e").alias("__combo"), "__sids") \
        .unique("__combo")
    merged = []
    for combo, sids in combos.iter_rows():
        vals: list = [None] * 7
        extra: dict[str, str] = {}
        for sid in sids:
            row = attrs[sid]
            vals = [v if v is not None else row[i] for i, v in enumerate(vals)]
            for e in row[7] or []:
                extra.setdefault(e["key"], e["value"])
        merged.append((combo, *vals, [{"key": k, "value": v} for k, v in extra.items()]))
    attr_frame = pl.DataFrame(merged, orient="row", schema={
        "__combo": pl.String, "host": pl.String, "gpu_uuid": pl.String, "gpu_index": pl.Int32,
        "gpu_name": pl.String, "mig_instance": pl.String, "pid": pl.Int64,
        "process_name": pl.String, "lab_extra": c.ENTRY_LIST})
    out = out.with_columns(pl.col("__sids").list.join("\x1e").alias("__combo")).join(
        attr_frame, on="__combo", how="left", maintain_order="left")
    parts = [pl.col("lab_extra").fill_null(pl.lit([], dtype=c.ENTRY_LIST)), pl.col("__mextra")]
    if repeats:
        parts.append(pl.when(pl.col("__occ") > 0).then(pl.concat_list(pl.struct(
            pl.lit("scrape_repeat").alias("key"),
            pl.col("__occ").cast(pl.String).alias("value")))).fill_null(
            pl.lit([], dtype=c.ENTRY_LIST)))
    # concat_list of struct lists is slow in polars: only rows that need it pay for it
    out = out.with_columns(parts[0].alias("lab_extra"))
    needs = (pl.col("__mextra").list.len() > 0) | (pl.col("__occ") > 0)
    out = out.with_columns(needs.alias("__needs"))
    plain = out.filter(~pl.col("__needs")).with_columns(pl.col("lab_extra").alias("extra"))
    mixed = out.filter(pl.col("__needs"))
    if mixed.height:
        mixed = mixed.with_columns(pl.concat_list(parts).alias("extra"))
        out = pl.concat([plain, mixed], how="vertical")
    else:
        out = plain
    return _dedupe_extra(out.sort(c.LINE))


def _dedupe_extra(out: pl.DataFrame) -> pl.DataFrame:
    """DuckDB MAPs refuse duplicate keys: keep the first value of a key (labels come first)."""
    keys = pl.col("extra").list.eval(pl.element().struct.field("key"))
    dup = out.select((keys.list.len() != keys.list.unique().list.len()).alias("d"))["d"]
    if not dup.any():
        return out
    idx = dup.arg_true()
    fixed = []
    for entries in out["extra"].gather(idx).to_list():
        seen: dict[str, str] = {}
        for e in entries:
            seen.setdefault(e["key"], e["value"])
        fixed.append([{"key": k, "value": v} for k, v in seen.items()])
    return out.with_columns(out["extra"].scatter(idx, pl.Series(fixed, dtype=c.ENTRY_LIST)))


def note_stats(ctx: LoadContext, stats: PivotStats, what: str) -> None:
    if stats.self_metrics:
        names = ", ".join(f"{k} x{v}" for k, v in sorted(stats.self_metrics.items()))
        ctx.note(f"samples with no GPU label, about the exporter itself, counted as header "
                 f"units and not stored: {names}")
    if stats.nan:
        ctx.note(f"{stats.nan} samples are NaN (no value): NULL in their column")
    if stats.bare_uuid:
        ctx.note("uuid labels without nvidia-smi's 'GPU-' prefix (nvidia_gpu_exporter strips "
                 "it) were given it back, so they join with nvidia-smi's gpu_uuid")
    if stats.instance_host:
        ctx.note("host taken from the Prometheus 'instance' label (port removed) where no "
                 "Hostname label was present")
    if stats.repeats:
        ctx.note(f"{stats.repeats} samples repeat a metric for the same GPU and time (scrapes "
                 "concatenated without timestamps): each repeat starts a new row, numbered in "
                 "extra['scrape_repeat']")
    ctx.note(f"{what}: samples are pivoted into one row per (time, host, GPU); lines_read counts "
             "records (output rows, rejected samples, comment/blank/self-metric units), and "
             "line_no is the first input unit of the row")
