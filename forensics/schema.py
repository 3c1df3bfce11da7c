"""Every table of a case, declared once, as data.

The DDL a case is created with, the schema reference page (`docs/schema.md`) and the
conformance tests all come from the declarations below, so a column cannot mean one thing
in the loader and another in the docs. Zeek tables are the one exception: their columns come
from each log's own `#fields`/`#types` header (see `loaders/zeek_types.py`), so only their
provenance columns are fixed here.

Types are DuckDB types. Every timestamp is TIMESTAMPTZ in UTC; money and token amounts are
DECIMAL, never floating point; a value the source did not give is NULL, never 0 or the epoch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MONEY = "DECIMAL(38,10)"
TOKEN_AMOUNT = "DECIMAL(38,18)"
# Vendor fields and tags are JSON objects of text values (`extra->>'field'`,
# `json_keys(tags)`): building DuckDB MAPs costs about 5 us a row, JSON text a tenth of it.
STRMAP = "JSON"


# Storage compression for long text that is unique per row (a raw line, a vendor-field
# object of ten members). DuckDB's default for strings (dictionary + FSST) spends most of a
# load's write analysing such text and still stores it at a third of its size; zstd, asked
# for per column, wrote 1M netfilter rows' `message` and `extra` in 1.0 CPU-s less and 2.5
# times smaller, and FOCUS `extra` in 1.0-1.4 CPU-s less and 3 times smaller. Short,
# repetitive text (addresses, agent fields, tags) stays with the default, which stores it
# smaller (agent_actions' text under zstd: 28 MB against 10 MB, at the same CPU).
LONG_TEXT = "zstd"


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    meaning: str
    compression: str | None = None  # DuckDB `USING COMPRESSION`; None: DuckDB chooses


@dataclass(frozen=True)
class Table:
    """One table: its name, the evidence family that fills it, and its columns."""

    name: str
    family: str
    meaning: str
    columns: tuple[Column, ...]
    provenance: bool = True
    extra_ddl: tuple[str, ...] = field(default=())

    def all_columns(self) -> tuple[Column, ...]:
        return (*self.columns, *PROVENANCE) if self.provenance else self.columns

    def column(self, name: str) -> Column:
        for col in self.all_columns():
            if col.name == name:
                return col
        raise KeyError(f"{self.name} has no column {name!r}")

    def ddl(self) -> str:
        cols = ",\n    ".join(
            f'"{c.name}" {c.type}'
            + (f" USING COMPRESSION {c.compression}" if c.compression else "")
            for c in self.all_columns())
        return f'CREATE TABLE IF NOT EXISTS "{self.name}" (\n    {cols}\n)'


def _cols(*spec: tuple[str, ...]) -> tuple[Column, ...]:
    return tuple(Column(*s) for s in spec)


PROVENANCE = _cols(
    ("evidence_id", "INTEGER NOT NULL", "the evidence row (file) this row was read from"),
    ("line_no", "BIGINT NOT NULL", "1-based line of the file (record index for line-less formats)"),
)

EVIDENCE = Table(
    "evidence",
    "case",
    "One row per ingested file: what it was, how it was read, and what came of it.",
    _cols(
        ("evidence_id", "INTEGER PRIMARY KEY", "identifier every normalised row refers to"),
        ("path", "VARCHAR NOT NULL", "the path as given to the loader"),
        ("sha256", "VARCHAR NOT NULL", "SHA-256 of the file's bytes as stored (compressed if .gz)"),
        ("size_bytes", "UBIGINT NOT NULL", "size of the file as stored"),
        ("status", "VARCHAR NOT NULL", "loaded, or unrecognised when no format claimed the file"),
        ("family", "VARCHAR", "evidence family (zeek, firewall, billing, gpu, agent, ledger)"),
        ("format", "VARCHAR", "format name from the loader registry"),
        ("tables", "VARCHAR[]", "normalised tables this file wrote rows into"),
        ("lines_read", "UBIGINT", "lines (or records) read from the decompressed content"),
        ("rows_loaded", "UBIGINT", "rows written to normalised tables"),
        ("rows_rejected", "UBIGINT", "rows written to rejects"),
        ("header_lines", "UBIGINT", "header, comment and directive lines (not data)"),
        ("blank_lines", "UBIGINT", "empty lines (not data)"),
        ("loader_version", "VARCHAR", "forensics version and loader that read the file"),
        ("tz_assumed", "VARCHAR", "zone assumed for times written without one (NULL: none needed)"),
        ("notes", "VARCHAR[]", "assumptions and observations recorded while loading"),
        ("loaded_at", "TIMESTAMPTZ NOT NULL", "when the load committed (UTC)"),
    ),
    provenance=False,
)

REJECTS = Table(
    "rejects",
    "case",
    "Every line that could not be parsed, with the reason: nothing is dropped silently.",
    _cols(
        ("evidence_id", "INTEGER NOT NULL", "file the line came from"),
        ("line_no", "BIGINT NOT NULL", "1-based line (or record index) in that file"),
        ("reason", "VARCHAR NOT NULL", "why the line was rejected, naming the column if one"),
        ("raw", "VARCHAR", "the line as read, capped at 4096 characters", LONG_TEXT),
        ("raw_bytes", "UBIGINT", "length of the whole line in bytes, before the cap"),
    ),
    provenance=False,
)

NETWORKS = Table(
    "networks",
    "context",
    "Address ranges the queries need to tell internal from external (case config).",
    _cols(
        ("cidr", "VARCHAR NOT NULL", "network in CIDR form, normalised (10.0.0.0/8)"),
        ("label", "VARCHAR", "analyst's name for the range"),
        ("scope", "VARCHAR NOT NULL", "internal, sandbox or allowed_egress"),
        ("family", "UTINYINT NOT NULL", "4 or 6"),
        ("first_addr", "UHUGEINT NOT NULL", "first address of the range as an integer"),
        ("last_addr", "UHUGEINT NOT NULL", "last address of the range as an integer"),
        ("source", "VARCHAR NOT NULL", "config file, notebook, or default (RFC 1918)"),
    ),
    provenance=False,
)

HOSTS = Table(
    "hosts",
    "context",
    "Known hosts: address, name and role (sandbox, bastion, scheduler, ...).",
    _cols(
        ("address", "VARCHAR NOT NULL", "IP address as written in the logs"),
        ("name", "VARCHAR", "host name"),
        ("role", "VARCHAR", "role in the cluster (sandbox, training, bastion, scheduler, ...)"),
        ("source", "VARCHAR NOT NULL", "config file or notebook"),
    ),
    provenance=False,
)

FIREWALL_EVENTS = Table(
    "firewall_events",
    "firewall",
    "Firewall decisions and flow records in one vocabulary, whatever the vendor.",
    _cols(
        ("ts", "TIMESTAMPTZ", "event time (flow start for flow logs), UTC"),
        ("ts_end", "TIMESTAMPTZ", "flow end, when the source gives one"),
        ("sensor", "VARCHAR", "the device, host or account that logged it"),
        ("format", "VARCHAR", "source format name"),
        ("action", "VARCHAR", "allow, deny, drop, reject or alert"),
        ("direction", "VARCHAR", "in, out, forward or NULL when the source does not say"),
        ("src_ip", "VARCHAR", "source address"),
        ("src_port", "INTEGER", "source port (NULL for ICMP)"),
        ("dst_ip", "VARCHAR", "destination address"),
        ("dst_port", "INTEGER", "destination port (NULL for ICMP)"),
        ("proto", "VARCHAR", "tcp, udp, icmp, icmpv6 or the IANA number as text"),
        ("bytes", "UBIGINT", "bytes in the packet or flow"),
        ("packets", "UBIGINT", "packets in the flow (1 for a packet log)"),
        ("rule", "VARCHAR", "rule name, number or log prefix that matched"),
        ("in_interface", "VARCHAR", "ingress interface"),
        ("out_interface", "VARCHAR", "egress interface"),
        ("tcp_flags", "VARCHAR", "TCP flags as the source writes them"),
        ("extra", STRMAP, "vendor fields with no column here, a JSON object by field name",
         LONG_TEXT),
        ("message", "VARCHAR", "the original line or record, for the analyst", LONG_TEXT),
    ),
)

BILLING_ITEMS = Table(
    "billing_items",
    "billing",
    "Cloud cost line items, aligned to FinOps FOCUS 1.x column names.",
    _cols(
        ("charge_period_start", "TIMESTAMPTZ", "start of the charge period, UTC"),
        ("charge_period_end", "TIMESTAMPTZ", "end of the charge period, UTC"),
        ("billing_account_id", "VARCHAR", "account that pays"),
        ("billing_account_name", "VARCHAR", "its name"),
        ("sub_account_id", "VARCHAR", "project, subscription or linked account that used it"),
        ("sub_account_name", "VARCHAR", "its name"),
        ("provider", "VARCHAR", "cloud provider"),
        ("publisher", "VARCHAR", "publisher of the service (marketplace sellers differ)"),
        ("service_name", "VARCHAR", "service (Compute Engine, Amazon EC2, ...)"),
        ("service_category", "VARCHAR", "FOCUS service category"),
        ("charge_category", "VARCHAR", "Usage, Purchase, Tax, Credit or Adjustment"),
        ("charge_description", "VARCHAR", "provider's description of the charge"),
        ("sku_id", "VARCHAR", "SKU identifier"),
        ("resource_id", "VARCHAR", "resource charged"),
        ("resource_name", "VARCHAR", "its name"),
        ("region", "VARCHAR", "region"),
        ("pricing_unit", "VARCHAR", "unit the price is quoted in"),
        ("pricing_quantity", MONEY, "quantity in pricing units"),
        ("list_cost", MONEY, "cost at list price"),
        ("billed_cost", MONEY, "cost invoiced"),
        ("effective_cost", MONEY, "cost after discounts and amortisation"),
        ("currency", "VARCHAR", "ISO 4217 billing currency, per row"),
        ("consumed_quantity", MONEY, "usage quantity"),
        ("consumed_unit", "VARCHAR", "usage unit"),
        ("tags", STRMAP, "resource tags or labels, as a JSON object"),
        ("extra", STRMAP, "native columns with no FOCUS counterpart, a JSON object by column name",
         LONG_TEXT),
    ),
)

GPU_SAMPLES = Table(
    "gpu_samples",
    "gpu",
    "GPU telemetry samples (nvidia-smi, DCGM, Prometheus), one row per GPU per sample.",
    _cols(
        ("ts", "TIMESTAMPTZ", "sample time, UTC"),
        ("host", "VARCHAR", "host the GPU belongs to"),
        ("gpu_index", "INTEGER", "index on the host"),
        ("gpu_uuid", "VARCHAR", "GPU (or MIG instance) uuid where the source has it"),
        ("gpu_name", "VARCHAR", "product name"),
        ("mig_instance", "VARCHAR", "MIG GPU-instance/compute-instance, when a MIG device"),
        ("utilization_gpu_pct", "DOUBLE", "SM utilisation, percent"),
        ("utilization_mem_pct", "DOUBLE", "memory controller utilisation, percent"),
        ("memory_used_mib", "DOUBLE", "framebuffer used, MiB"),
        ("memory_total_mib", "DOUBLE", "framebuffer total, MiB"),
        ("power_w", "DOUBLE", "power draw, watts"),
        ("temperature_c", "DOUBLE", "GPU temperature, Celsius"),
        ("sm_clock_mhz", "DOUBLE", "SM clock, MHz"),
        ("mem_clock_mhz", "DOUBLE", "memory clock, MHz"),
        ("extra", STRMAP, "other fields the source gave, a JSON object by name"),
    ),
)

GPU_PROCESSES = Table(
    "gpu_processes",
    "gpu",
    "Processes seen on a GPU (compute apps, pmon), one row per process per sample.",
    _cols(
        ("ts", "TIMESTAMPTZ", "sample time, UTC"),
        ("host", "VARCHAR", "host"),
        ("gpu_index", "INTEGER", "GPU index on the host"),
        ("gpu_uuid", "VARCHAR", "GPU uuid where known"),
        ("pid", "BIGINT", "process id"),
        ("process_name", "VARCHAR", "process name or path, verbatim"),
        ("process_type", "VARCHAR", "C (compute), G (graphics) or C+G"),
        ("used_memory_mib", "DOUBLE", "GPU memory used by the process, MiB"),
        ("sm_util_pct", "DOUBLE", "SM utilisation by the process, percent (pmon)"),
        ("extra", STRMAP, "other fields the source gave, a JSON object by name"),
    ),
)

AGENT_ACTIONS = Table(
    "agent_actions",
    "agent",
    "What an AI agent did, one action per row: the evidence that separates agent from intruder.",
    _cols(
        ("ts", "TIMESTAMPTZ", "action time, UTC (NULL when the source has no absolute time)"),
        ("ts_is_absolute", "BOOLEAN", "false when only the order of actions is known"),
        ("framework", "VARCHAR", "swe-agent, openhands, forensics-jsonl, ..."),
        ("run_id", "VARCHAR", "training run or session"),
        ("trajectory_id", "VARCHAR", "episode or trajectory within the run"),
        ("step", "INTEGER", "step number within the trajectory"),
        ("host", "VARCHAR", "host (sandbox) the action ran on"),
        ("actor", "VARCHAR", "agent, user, environment or tool"),
        ("action_type", "VARCHAR", "shell, tool_call, edit, message, ..."),
        ("command", "VARCHAR", "shell command or tool call, verbatim"),
        ("tool_name", "VARCHAR", "tool called, when not a shell command"),
        ("target", "VARCHAR", "file, URL or host the action addressed"),
        ("exit_code", "INTEGER", "exit status, when the source has one"),
        ("output_excerpt", "VARCHAR", "start of the output, capped"),
        ("extra", STRMAP, "other fields the source gave, a JSON object by name"),
    ),
)

LEDGER_TRANSFERS = Table(
    "ledger_transfers",
    "ledger",
    "Value moved on a chain, a pool or an exchange account: who paid whom, how much, when.",
    _cols(
        ("ts", "TIMESTAMPTZ", "transfer time (block time), UTC"),
        ("chain", "VARCHAR", "ethereum, bitcoin, monero, ... or the exchange name"),
        ("asset", "VARCHAR", "ETH, BTC, USDT, XMR, ..."),
        ("token_contract", "VARCHAR", "token contract address for token transfers"),
        ("tx_hash", "VARCHAR", "transaction hash as written"),
        ("block_number", "UBIGINT", "block height"),
        ("from_address", "VARCHAR", "payer address exactly as written"),
        ("to_address", "VARCHAR", "payee address exactly as written"),
        ("amount", TOKEN_AMOUNT, "amount in the asset's units, exact"),
        ("fee", TOKEN_AMOUNT, "fee paid, in fee_asset units"),
        ("fee_asset", "VARCHAR", "asset the fee was paid in"),
        ("direction", "VARCHAR", "in, out, self or NULL relative to the exported wallet"),
        ("wallet", "VARCHAR", "the wallet or account the export belongs to"),
        ("status", "VARCHAR", "confirmed, pending, failed, ..."),
        ("extra", STRMAP, "other fields the source gave, a JSON object by name"),
    ),
)

SETTINGS = Table(
    "case_settings",
    "case",
    "Case-wide settings (schema version, default time zone, case name), key to value.",
    _cols(
        ("key", "VARCHAR PRIMARY KEY", "setting name"),
        ("value", "VARCHAR", "its value, as text"),
    ),
    provenance=False,
)

ATTRIBUTION_DECISIONS = Table(
    "attribution_decisions",
    "case",
    "The analyst's attribution of each incident, append-only: a newer decision for the same "
    "incident supersedes an older one, which stays as the record of what was decided when.",
    _cols(
        ("decision_id", "INTEGER PRIMARY KEY", "1, 2, 3... in the order decisions were made"),
        ("incident_id", "VARCHAR NOT NULL", "the incident (host@window start) decided"),
        ("verdict", "VARCHAR NOT NULL", "agent, intruder, mixed or inconclusive"),
        ("confidence", "DOUBLE", "0..1, as scored from the accepted evidence or as set"),
        ("analyst", "VARCHAR NOT NULL", "who decided"),
        ("decided_at", "TIMESTAMPTZ NOT NULL", "when (UTC)"),
        ("rationale", "VARCHAR", "why, in the analyst's words"),
        ("accepted", "VARCHAR[]", "evidence item ids the analyst accepted"),
        ("rejected", "VARCHAR[]", "evidence item ids the analyst rejected"),
        ("notes", "JSON", "the analyst's note per evidence item id, a JSON object"),
        ("agent_score", "DOUBLE", "sum of the accepted agent items' weights at decision time"),
        ("intruder_score", "DOUBLE", "sum of the accepted intruder items' weights"),
    ),
    provenance=False,
)

CASE_TABLES: tuple[Table, ...] = (EVIDENCE, REJECTS, NETWORKS, HOSTS, SETTINGS,
                                 ATTRIBUTION_DECISIONS)
NORMALISED_TABLES: tuple[Table, ...] = (
    FIREWALL_EVENTS,
    BILLING_ITEMS,
    GPU_SAMPLES,
    GPU_PROCESSES,
    AGENT_ACTIONS,
    LEDGER_TRANSFERS,
)
ALL_TABLES: tuple[Table, ...] = CASE_TABLES + NORMALISED_TABLES

ZEEK_TABLE_PREFIX = "zeek_"
SCHEMA_VERSION = "1"


def table(name: str) -> Table:
    """The declared table called `name`; raises with the valid names otherwise."""
    for t in ALL_TABLES:
        if t.name == name:
            return t
    from forensics.errors import UnknownNameError

    raise UnknownNameError("table", name, [t.name for t in ALL_TABLES])


def ddl_statements() -> list[str]:
    """Everything a new case needs, in order. Idempotent (IF NOT EXISTS)."""
    return [t.ddl() for t in ALL_TABLES]


def reference_markdown() -> str:
    """The schema reference page (docs/schema.md), generated from the declarations."""
    out = [
        "# Case schema",
        "",
        "Generated from `forensics/schema.py` by `python -m forensics.schema`; do not edit.",
        "All timestamps are TIMESTAMPTZ in UTC. Missing values are NULL.",
        "",
        "## Zeek tables",
        "",
        "`zeek_<path>` for every Zeek log path (`zeek_conn`, `zeek_dns`, ...). Columns come from",
        "the log's own `#fields`/`#types` (dots become underscores: `id.orig_h` is `id_orig_h`);",
        "Zeek types map to DuckDB types as listed in `forensics/loaders/zeek_types.py`. Each",
        "also has the provenance columns `evidence_id` and `line_no`.",
        "",
    ]
    for t in ALL_TABLES:
        out += [f"## `{t.name}` ({t.family})", "", t.meaning, "", "| column | type | meaning |"]
        out.append("|---|---|---|")
        out += [f"| `{c.name}` | `{c.type}` | {c.meaning} |" for c in t.all_columns()]
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":  # pragma: no cover - documentation generator
    print(reference_markdown())
