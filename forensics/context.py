"""The case context: which networks are internal, which are sandboxes, where egress is
allowed, and what the known hosts are called.

Detections need this to tell an internal scan from internet noise and an allowed upload
from a tunnel. It comes from a small TOML file (documented in README.md):

    [case]
    timezone = "UTC"                 # zone for log times written without one (syslog)

    [networks]
    internal = ["10.0.0.0/8"]        # or [{cidr = "10.0.0.0/8", label = "cluster"}]
    sandbox  = ["10.42.7.0/24"]

    [allow]
    egress = ["203.0.113.10"]        # a bare address is a /32 (or /128)

    [hosts."10.42.7.17"]
    name = "sb-07"
    role = "sandbox"

When no internal network is given, RFC 1918 (and RFC 4193 for IPv6) ranges count as
internal, and the `networks` table says that this was a default, not the analyst's word.
"""

from __future__ import annotations

import ipaddress
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from forensics.errors import ConfigError

SCOPES = ("internal", "sandbox", "allowed_egress")
DEFAULT_INTERNAL = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
_TOP_KEYS = {"case", "networks", "allow", "hosts"}
_CASE_KEYS = {"timezone", "year", "name"}
_NETWORK_KEYS = {"internal", "sandbox"}
_ALLOW_KEYS = {"egress"}
_HOST_KEYS = {"name", "role"}


@dataclass(frozen=True)
class Network:
    cidr: str
    scope: str
    label: str | None = None

    @property
    def net(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return ipaddress.ip_network(self.cidr, strict=False)


@dataclass(frozen=True)
class Host:
    address: str
    name: str | None = None
    role: str | None = None


@dataclass
class CaseContext:
    """The parsed config: settings, networks and hosts."""

    networks: list[Network] = field(default_factory=list)
    hosts: list[Host] = field(default_factory=list)
    timezone: str | None = None
    year: int | None = None
    name: str | None = None
    source: str = "notebook"

    def with_defaults(self) -> list[tuple[Network, str]]:
        """Networks with their source; RFC 1918/4193 added when no internal range is given."""
        out = [(n, self.source) for n in self.networks]
        if not any(n.scope == "internal" for n in self.networks):
            out += [
                (Network(c, "internal", "private (default)"), "default (RFC 1918 / RFC 4193)")
                for c in DEFAULT_INTERNAL
            ]
        return out


def load_config(path: str | Path) -> CaseContext:
    """Read a case config file; every problem names the file and the key."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("config file not found", path=str(p)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", path=str(p)) from None
    except UnicodeDecodeError:
        raise ConfigError("not UTF-8 text", path=str(p)) from None
    return parse_config(data, source=str(p))


def parse_config(data: dict[str, Any], *, source: str = "notebook") -> CaseContext:
    """Validate a config given as a dict (the TOML's shape); unknown keys are errors."""
    _check_keys(data, _TOP_KEYS, "top level", source)
    ctx = CaseContext(source=source)
    case = _table(data, "case", source)
    _check_keys(case, _CASE_KEYS, "[case]", source)
    ctx.timezone = case.get("timezone")
    if ctx.timezone is not None:
        _check_zone(ctx.timezone, source)
    ctx.year = case.get("year")
    ctx.name = case.get("name")
    networks = _table(data, "networks", source)
    _check_keys(networks, _NETWORK_KEYS, "[networks]", source)
    for scope in ("internal", "sandbox"):
        ctx.networks += _networks(networks.get(scope, []), scope, f"networks.{scope}", source)
    allow = _table(data, "allow", source)
    _check_keys(allow, _ALLOW_KEYS, "[allow]", source)
    ctx.networks += _networks(allow.get("egress", []), "allowed_egress", "allow.egress", source)
    hosts = _table(data, "hosts", source)
    for address, spec in hosts.items():
        _check_address(address, f'hosts."{address}"', source)
        if not isinstance(spec, dict):
            raise ConfigError(f'hosts."{address}" must be a table with name and role',
                              path=source)
        _check_keys(spec, _HOST_KEYS, f'[hosts."{address}"]', source)
        ctx.hosts.append(Host(address, spec.get("name"), spec.get("role")))
    return ctx


def _table(data: dict[str, Any], key: str, source: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"[{key}] must be a table", path=source)
    return value


def _check_keys(data: dict[str, Any], valid: set[str], where: str, source: str) -> None:
    unknown = sorted(set(data) - valid)
    if unknown:
        raise ConfigError(
            f"unknown key(s) {', '.join(unknown)} in {where}",
            path=source,
            hint=f"valid keys there: {', '.join(sorted(valid))}",
        )


def _check_zone(zone: str, source: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"unknown time zone {zone!r} in [case] timezone", path=source,
                          hint="use an IANA name such as UTC or Europe/Berlin") from None


def _check_address(address: str, where: str, source: str) -> None:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise ConfigError(f"{where}: {address!r} is not an IP address", path=source) from None


def _networks(items: Any, scope: str, where: str, source: str) -> list[Network]:
    if not isinstance(items, list):
        raise ConfigError(f"{where} must be a list", path=source)
    out = []
    for item in items:
        cidr, label = (item, None) if isinstance(item, str) else _cidr_label(item, where, source)
        try:
            net = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise ConfigError(f"{where}: {cidr!r} is not a network or address",
                              path=source) from None
        out.append(Network(str(net), scope, label))
    return out


def _cidr_label(item: Any, where: str, source: str) -> tuple[str, str | None]:
    if not isinstance(item, dict) or "cidr" not in item:
        raise ConfigError(f"{where}: each entry is a string or {{cidr = ..., label = ...}}",
                          path=source)
    _check_keys(item, {"cidr", "label"}, where, source)
    return str(item["cidr"]), item.get("label")


def network_rows(ctx: CaseContext) -> list[tuple[Any, ...]]:
    """Rows for the `networks` table, with integer bounds for range tests in SQL."""
    rows = []
    for n, source in ctx.with_defaults():
        net = n.net
        rows.append((str(net), n.label, n.scope, net.version,
                     int(net.network_address), int(net.broadcast_address), source))
    return rows


def host_rows(ctx: CaseContext) -> list[tuple[Any, ...]]:
    return [(h.address, h.name, h.role, ctx.source) for h in ctx.hosts]


def to_toml(ctx: CaseContext) -> str:
    """The context written back as a config file (for `Case.context()` round trips)."""
    lines = []
    if ctx.timezone or ctx.year or ctx.name:
        lines.append("[case]")
        if ctx.name:
            lines.append(f"name = {_q(ctx.name)}")
        if ctx.timezone:
            lines.append(f"timezone = {_q(ctx.timezone)}")
        if ctx.year:
            lines.append(f"year = {int(ctx.year)}")
        lines.append("")
    sections = (("[networks]", ("internal", "sandbox")), ("[allow]", ("allowed_egress",)))
    for header, scopes in sections:
        entries = [(s, [n for n in ctx.networks if n.scope == s]) for s in scopes]
        if not any(e for _, e in entries):
            continue
        lines.append(header)
        for scope, nets in entries:
            if nets:
                key = "egress" if scope == "allowed_egress" else scope
                items = ", ".join(
                    f"{{cidr = {_q(n.cidr)}, label = {_q(n.label)}}}" if n.label else _q(n.cidr)
                    for n in nets
                )
                lines.append(f"{key} = [{items}]")
        lines.append("")
    for h in ctx.hosts:
        lines.append(f"[hosts.{_q(h.address)}]")
        if h.name:
            lines.append(f"name = {_q(h.name)}")
        if h.role:
            lines.append(f"role = {_q(h.role)}")
        lines.append("")
    return "\n".join(lines)


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
