"""Which Zeek log a file holds, when the file does not say.

TSV logs name themselves in `#path`, json-streaming logs in `_path`. Plain JSON logs do
not, so the path comes from the file name (`conn.log`, `conn.07:00:00-08:00:00.log.gz`,
`json_conn.log`) or, failing that, from the field names matched against the catalogue.
"""

from __future__ import annotations

import os
import re

from forensics.loaders.zeek_catalog import ZEEK_FIELD_TYPES

KNOWN_PATHS = frozenset(
    """analyzer capture_loss cluster config conn conn_long dce_rpc dhcp dnp3 dns dpd files
    ftp http intel irc kerberos known_certs known_hosts known_modbus known_services ldap
    ldap_search loaded_scripts modbus mqtt_connect mqtt_publish mqtt_subscribe mysql netcontrol
    notice notice_alarm ntlm ntp ocsp openflow packet_filter pe print quic radius rdp reporter
    rfb signatures sip smb_files smb_mapping smtp snmp socks software ssh ssl stats syslog
    telemetry traceroute tunnel unified2 websocket weird weird_stats x509""".split()
)

_TOKEN_SPLIT = re.compile(r"[^a-z0-9_]+")
_SAFE = re.compile(r"[^a-z0-9_]")


def table_for(path: str) -> str:
    """The case table for a Zeek path: `zeek_` + the path made safe for SQL."""
    safe = _SAFE.sub("_", path.strip().lower()) or "unknown"
    return f"zeek_{safe}"


def path_from_filename(filename: str) -> str | None:
    """The known Zeek path named in a file name, preferring the longest match."""
    stem = os.path.basename(filename).lower()
    for suffix in (".gz", ".log", ".json", ".jsonl", ".ndjson", ".tsv"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
    tokens = [t for t in _TOKEN_SPLIT.split(stem) if t]
    best: str | None = None
    for token in tokens:
        parts = token.split("_")
        # every run of underscore-joined parts is a candidate: json_conn -> json, conn, json_conn
        for i in range(len(parts)):
            for j in range(i + 1, len(parts) + 1):
                cand = "_".join(parts[i:j])
                if cand in KNOWN_PATHS and (best is None or len(cand) > len(best)):
                    best = cand
    return best


def path_from_fields(fields: list[str]) -> str | None:
    """The catalogued path whose fields best cover these field names (at least 60%)."""
    names = set(fields) - {"ts", "_path", "_write_ts"}
    if not names:
        return None
    best, best_score = None, 0.0
    for path, known in ZEEK_FIELD_TYPES.items():
        overlap = len(names & set(known))
        score = overlap / max(len(names), 1)
        if overlap >= 3 and score > best_score:
            best, best_score = path, score
    return best if best_score >= 0.6 else None


def stem_path(filename: str) -> str:
    """Last resort: the file name without extensions."""
    stem = os.path.basename(filename)
    while "." in stem:
        stem = stem.rsplit(".", 1)[0]
    return stem or "unknown"
