"""The cluster, the clock and the evidence bag every story writes into.

One fixed, small GPU training cluster is shared by all scenarios, so the stories differ
only in what happens on it: an analyst comparing `rome` with `intruder` sees the same
hosts, addresses and background, and only the incident changes. Times are integer
microseconds since the Unix epoch (no floats, no wall clock), counted from a fixed base
date, so every output is byte-for-byte reproducible from the seed.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

BASE_TS = 1772582400  # 2026-03-04T00:00:00Z
US = 1_000_000
MINUTE = 60 * US
HOUR = 60 * MINUTE
DAY = 24 * HOUR
BASE_US = BASE_TS * US
DAYS = 2  # every scenario covers 2026-03-04 and 2026-03-05
END_US = BASE_US + DAYS * DAY

PHASES = ("access", "recon", "tunnel", "mining", "monetisation", "exfiltration")
ACTORS = ("agent", "intruder")


def at(day: int, hh: int, mm: int = 0, ss: float = 0.0) -> int:
    """Microseconds for day `day` (0-based from the base date) at hh:mm:ss UTC."""
    return BASE_US + day * DAY + hh * HOUR + mm * MINUTE + int(round(ss * US))


def iso(us: int, sep: str = "T", frac: bool = False, z: str = "Z") -> str:
    """UTC ISO-8601 text of a microsecond time (no float round trip)."""
    d = datetime.fromtimestamp(us // US, tz=UTC)
    text = d.strftime(f"%Y-%m-%d{sep}%H:%M:%S")
    if frac:
        text += f".{us % US:06d}"
    return text + z


def sub_rng(seed: int, name: str) -> np.random.Generator:
    """An independent numpy generator per (seed, purpose): adding a family never shifts
    the random stream of another, so a small change keeps the rest of the output stable."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


@dataclass(frozen=True)
class Host:
    name: str
    ip: str
    role: str
    instance_id: str = ""
    eni: str = ""
    gpus: int = 0


def _sandbox(i: int) -> Host:
    return Host(f"sb-{i:02d}", f"10.42.7.{10 + i}", "sandbox", f"i-0a{i:02d}5e7c1d2b3f4{i:02d}a",
                f"eni-07{i:02d}c3b9e1f2a4d{i:02d}", 4)


SANDBOXES: tuple[Host, ...] = tuple(_sandbox(i) for i in range(1, 9))
DNS = Host("dns-01", "10.42.0.2", "dns")
SCHEDULER = Host("sched-01", "10.42.0.5", "scheduler", "i-0c0ffee0000000005", "eni-0c0ffee00000005")
MONITOR = Host("mon-01", "10.42.0.9", "monitoring")
BASTION = Host("bastion-01", "10.42.1.10", "bastion", "i-0b0a5710000000010", "eni-0b0a57100000010")
STORAGE = Host("store-01", "10.42.2.20", "storage")
FIREWALL = Host("fw-egress-01", "10.42.0.1", "firewall")
SENSOR = Host("zeek-01", "10.42.0.3", "sensor")
INFRA: tuple[Host, ...] = (DNS, SCHEDULER, MONITOR, BASTION, STORAGE, FIREWALL, SENSOR)
ALL_HOSTS: tuple[Host, ...] = INFRA + SANDBOXES
BY_NAME: dict[str, Host] = {h.name: h for h in ALL_HOSTS}

# Allowlisted external services (documentation addresses standing in for real ones).
ALLOWED: tuple[tuple[str, str], ...] = (
    ("pypi.org", "192.0.2.10"),
    ("files.pythonhosted.org", "192.0.2.11"),
    ("github.com", "192.0.2.20"),
    ("huggingface.co", "192.0.2.30"),
    ("ckpt-store.s3.us-east-1.amazonaws.com", "192.0.2.40"),
    ("wandb.ai", "192.0.2.50"),
)
NTP = "192.0.2.123"
ADMIN_HOME = "192.0.2.77"  # an admin's home address, allowlisted for the bastion
AWS_ACCOUNT = "123456789012"  # the cluster's account (payer)
LINKED_ACCOUNT = "444455556666"  # a linked account with its own card on file
ETH_CHAIN_ID = 1


@dataclass
class Step:
    """One malicious step of a story, as ground truth states it."""

    id: str
    phase: str
    actor: str
    host: str
    start: int
    end: int
    summary: str
    evidence: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Trap:
    """Something that looks bad and is not; the ground truth names it and says why."""

    id: str
    kind: str
    hosts: list[str]
    start: int
    end: int
    why_benign: str
    evidence: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Bag:
    """Incident rows per output, each a dict with `tag` (a step or trap id) and `shows`
    (strings the written line must contain, checked by the tests). Writers merge these
    into the vectorised background and report where each tagged row landed."""

    seed: int
    scale: int
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)
    traps: list[Trap] = field(default_factory=list)
    attribution: dict[str, str] = field(default_factory=dict)
    gpu_hosts: list[str] = field(default_factory=list)
    gpu_overrides: list[dict[str, Any]] = field(default_factory=list)
    agent_runs: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    _uid_counter: int = 0

    def add(self, sink: str, tag: str | None, shows: list[str] | None = None, /,
            **row: Any) -> dict[str, Any]:
        row["tag"] = tag
        row["shows"] = list(shows or [])
        self.rows.setdefault(sink, []).append(row)
        return row

    def uid(self) -> str:
        """A Zeek-style uid that is unique within the incident rows (prefix 'Cz' keeps it
        apart from the background's uids, which are random 'C' + 17)."""
        self._uid_counter += 1
        n = zlib.crc32(f"{self.seed}:{self._uid_counter}".encode())
        return f"Cz{_b62(n, 6)}{_b62(self._uid_counter, 10)}"

    def step(self, step: Step) -> Step:
        self.steps.append(step)
        return step

    def trap(self, trap: Trap) -> Trap:
        self.traps.append(trap)
        return trap


_ALPHA = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _b62(n: int, width: int) -> str:
    out = []
    for _ in range(width):
        n, r = divmod(n, 62)
        out.append(_ALPHA[r])
    return "".join(reversed(out))
