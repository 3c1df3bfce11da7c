"""The loader registry: every input format, in one explicit table.

Adding a format is one class in its family's module and one line here. Nothing registers
itself by being imported. The order matters only to break a tie between two formats that
are equally sure a file is theirs; sniffing should make ties rare and tests check that no
format claims another family's files.
"""

from __future__ import annotations

from forensics.errors import UnknownNameError
from forensics.loaders import billing
from forensics.loaders.agent import AgentJsonl, OpenHandsEvents, SweAgentTrajectory
from forensics.loaders.base import Format, LoadContext, LoadOptions
from forensics.loaders.firewall import (
    AwsVpcFlow,
    AzureNsgFlow,
    FirewallMapping,
    GcpFirewall,
    GcpVpcFlow,
    Netfilter,
    PanOs,
    PfFilterlog,
)
from forensics.loaders.gpu import (
    NvidiaSmiCapture,
    NvidiaSmiDmon,
    NvidiaSmiPmon,
    NvidiaSmiQueryApps,
    NvidiaSmiQueryGpu,
    NvidiaSmiXml,
    PrometheusRangeJson,
    PrometheusText,
)
from forensics.loaders.ledger import (
    BinanceStatement,
    EsploraTransactions,
    EtherscanErc20,
    EtherscanInternal,
    EtherscanTxlist,
    P2PoolPayouts,
)
from forensics.loaders.zeek import ZeekJson, ZeekTsv

FORMATS: tuple[Format, ...] = (
    ZeekTsv(),
    ZeekJson(),
    billing.FocusCsv(),
    billing.FocusParquet(),
    billing.AwsCurLegacy(),
    billing.AwsCur2(),
    billing.GcpBillingCsv(),
    billing.GcpBillingJson(),
    billing.AzureCostExport(),
    billing.OciCostReport(),
    NvidiaSmiQueryGpu(),
    NvidiaSmiQueryApps(),
    NvidiaSmiDmon(),
    NvidiaSmiPmon(),
    NvidiaSmiXml(),
    PrometheusText(),
    PrometheusRangeJson(),
    NvidiaSmiCapture(),
    Netfilter(),
    PfFilterlog(),
    AwsVpcFlow(),
    GcpVpcFlow(),
    GcpFirewall(),
    AzureNsgFlow(),
    PanOs(),
    FirewallMapping(),
    SweAgentTrajectory(),
    OpenHandsEvents(),
    AgentJsonl(),
    EtherscanTxlist(),
    EtherscanErc20(),
    EtherscanInternal(),
    EsploraTransactions(),
    P2PoolPayouts(),
    BinanceStatement(),
)

SNIFF_THRESHOLD = 0.5


def format_names() -> list[str]:
    return [f.name for f in FORMATS]


def get_format(name: str) -> Format:
    """The registered format called `name`; the error lists the valid names."""
    for fmt in FORMATS:
        if fmt.name == name:
            return fmt
    raise UnknownNameError("format", name, format_names())


def sniff(path: str, head: bytes) -> tuple[Format | None, list[tuple[str, float]]]:
    """The format most sure it owns the file (or None), and every format's score."""
    scores: list[tuple[str, float]] = []
    best: Format | None = None
    best_score = 0.0
    for fmt in FORMATS:
        try:
            score = float(fmt.sniff(path, head))
        except Exception:  # a sniffer must never break a batch; treat as "not mine"
            score = 0.0
        scores.append((fmt.name, score))
        if score > best_score:
            best, best_score = fmt, score
    return (best if best_score >= SNIFF_THRESHOLD else None), scores


__all__ = ["FORMATS", "Format", "LoadContext", "LoadOptions", "format_names", "get_format",
           "sniff"]
