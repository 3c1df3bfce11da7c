"""The `flows` and `events` views, and the SQL macros the queries share.

`flows` puts Zeek conn rows and firewall flow rows in one vocabulary so a query can follow
one connection across both (the Community ID, where computable, is the join key).
`events` is every row of every table as (ts, source, category, host, src, dst, summary,
evidence_id, line_no): the raw material of timelines.

Zeek tables are created by the data (`zeek_<path>`), so the views are rebuilt after every
load from the tables that exist at that moment: a view never names a missing table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb

# Macros first: they are used by the views and by queries/*.sql.
MACROS = [
    # IPv4 dotted quad -> integer (NULL for anything else, IPv6 included)
    r"""CREATE OR REPLACE MACRO ipv4_int(ip) AS
        CASE WHEN regexp_full_match(ip,
            '(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])){3}')
        THEN (split_part(ip, '.', 1)::UBIGINT << 24) + (split_part(ip, '.', 2)::UBIGINT << 16)
           + (split_part(ip, '.', 3)::UBIGINT << 8) + split_part(ip, '.', 4)::UBIGINT END""",
    # the scope of an address from the case's networks: sandbox, internal, allowed_egress or
    # external (the most specific range wins; only IPv4 is classified in SQL for now)
    """CREATE OR REPLACE MACRO ip_scope(ip) AS COALESCE((
        SELECT n.scope FROM networks n
        WHERE n.family = 4 AND ipv4_int(ip) BETWEEN n.first_addr AND n.last_addr
        ORDER BY (n.last_addr - n.first_addr), n.scope DESC LIMIT 1),
        CASE WHEN ipv4_int(ip) IS NULL AND ip IS NOT NULL THEN 'unknown' ELSE 'external' END)""",
    # Community ID v1 (corelight/community-id-spec) for IPv4 TCP/UDP, seed 0
    """CREATE OR REPLACE MACRO community_id_v4(saddr, daddr, sport, dport, proto) AS
        CASE WHEN ipv4_int(saddr) IS NULL OR ipv4_int(daddr) IS NULL OR sport IS NULL
                  OR dport IS NULL OR lower(proto) NOT IN ('tcp', 'udp') THEN NULL
        ELSE '1:' || to_base64(unhex(sha1(unhex('0000' ||
            CASE WHEN ipv4_int(saddr) < ipv4_int(daddr)
                      OR (ipv4_int(saddr) = ipv4_int(daddr) AND sport <= dport)
            THEN printf('%08x%08x', ipv4_int(saddr), ipv4_int(daddr))
                 || CASE lower(proto) WHEN 'tcp' THEN '06' ELSE '11' END || '00'
                 || printf('%04x%04x', sport, dport)
            ELSE printf('%08x%08x', ipv4_int(daddr), ipv4_int(saddr))
                 || CASE lower(proto) WHEN 'tcp' THEN '06' ELSE '11' END || '00'
                 || printf('%04x%04x', dport, sport)
            END)))) END""",
]

_FIREWALL_FLOWS = """
    SELECT ts, sensor, 'firewall_events' AS source, format, src_ip, src_port, dst_ip, dst_port,
           proto, action, bytes AS bytes_out, NULL::UBIGINT AS bytes_in,
           packets AS packets_out, NULL::UBIGINT AS packets_in,
           epoch(ts_end) - epoch(ts) AS duration_s, NULL::VARCHAR AS uid,
           community_id_v4(src_ip, dst_ip, src_port, dst_port, proto) AS community_id,
           evidence_id, line_no
    FROM firewall_events"""

_ZEEK_CONN_FLOWS = """
    SELECT ts, {sensor} AS sensor, 'zeek_conn' AS source, 'zeek' AS format,
           id_orig_h AS src_ip, id_orig_p AS src_port, id_resp_h AS dst_ip,
           id_resp_p AS dst_port, proto,
           CASE WHEN conn_state IN ('REJ', 'RSTOS0', 'RSTRH', 'SH', 'SHR') THEN 'reject'
                WHEN conn_state = 'S0' THEN 'unanswered' ELSE 'allow' END AS action,
           orig_bytes AS bytes_out, resp_bytes AS bytes_in,
           orig_pkts AS packets_out, resp_pkts AS packets_in, duration AS duration_s, uid,
           {community} AS community_id, evidence_id, line_no
    FROM zeek_conn"""


def refresh(con: duckdb.DuckDBPyConnection) -> None:
    """(Re)create the macros and views from the tables that exist now."""
    for macro in MACROS:
        con.execute(macro)
    tables = _tables(con)
    flows = [_FIREWALL_FLOWS]
    conn_cols = tables.get("zeek_conn", set())
    if {"ts", "id_orig_h", "id_resp_h", "proto", "uid"} <= conn_cols:
        community = ("coalesce(community_id, community_id_v4(id_orig_h, id_resp_h, id_orig_p, "
                     "id_resp_p, proto))" if "community_id" in conn_cols else
                     "community_id_v4(id_orig_h, id_resp_h, id_orig_p, id_resp_p, proto)")
        sensor = "_node_name" if "_node_name" in conn_cols else "NULL::VARCHAR"
        flows.append(_ZEEK_CONN_FLOWS.format(community=community, sensor=sensor))
    con.execute("CREATE OR REPLACE VIEW flows AS " + " UNION ALL BY NAME ".join(flows))
    con.execute("CREATE OR REPLACE VIEW events AS " + " UNION ALL BY NAME ".join(
        _event_selects(tables)))


def _tables(con: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    rows = con.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = 'main'").fetchall()
    out: dict[str, set[str]] = {}
    for table, column in rows:
        out.setdefault(table, set()).add(column)
    return out


_SUMMARY_CAP = 300

_DECLARED_EVENTS = [
    """SELECT ts, 'firewall_events' AS source, 'firewall' AS category, sensor AS host,
              src_ip AS src, dst_ip AS dst,
              concat_ws(' ', action, proto, src_ip || coalesce(':' || src_port, ''), '->',
                        dst_ip || coalesce(':' || dst_port, ''), 'rule=' || rule) AS summary,
              evidence_id, line_no FROM firewall_events""",
    """SELECT charge_period_start AS ts, 'billing_items' AS source, 'billing' AS category,
              coalesce(resource_id, sub_account_id) AS host, billing_account_id AS src,
              sub_account_id AS dst,
              concat_ws(' ', provider, service_name, charge_category, sku_id, region,
                        billed_cost::VARCHAR, currency, charge_description) AS summary,
              evidence_id, line_no FROM billing_items""",
    """SELECT ts, 'gpu_samples' AS source, 'gpu' AS category, host, NULL AS src, NULL AS dst,
              concat_ws(' ', 'gpu', coalesce(gpu_uuid, gpu_index::VARCHAR),
                        'util=' || utilization_gpu_pct, 'mem=' || memory_used_mib,
                        'power=' || power_w) AS summary,
              evidence_id, line_no FROM gpu_samples""",
    """SELECT ts, 'gpu_processes' AS source, 'gpu' AS category, host, NULL AS src, NULL AS dst,
              concat_ws(' ', 'process', pid::VARCHAR, process_name,
                        'mem=' || used_memory_mib) AS summary,
              evidence_id, line_no FROM gpu_processes""",
    """SELECT ts, 'agent_actions' AS source, 'agent' AS category, host, actor AS src,
              target AS dst,
              concat_ws(' ', action_type, coalesce(command, tool_name)) AS summary,
              evidence_id, line_no FROM agent_actions""",
    """SELECT ts, 'ledger_transfers' AS source, 'ledger' AS category, wallet AS host,
              from_address AS src, to_address AS dst,
              concat_ws(' ', chain, amount::VARCHAR, asset, tx_hash) AS summary,
              evidence_id, line_no FROM ledger_transfers""",
]

# What a Zeek row says, per path, in a few words (columns that are present are used).
_ZEEK_SUMMARY = {
    "conn": ["proto", "service", "conn_state", "duration", "orig_bytes", "resp_bytes"],
    "dns": ["query", "qtype_name", "rcode_name", "answers"],
    "http": ["method", "host", "uri", "status_code", "user_agent"],
    "ssl": ["version", "server_name", "subject", "validation_status"],
    "ssh": ["client", "server", "auth_success", "auth_attempts", "direction"],
    "notice": ["note", "msg"],
    "weird": ["name", "addl"],
    "files": ["mime_type", "filename", "source", "sha256"],
    "x509": ["certificate_subject", "certificate_issuer"],
    "tunnel": ["tunnel_type", "action"],
}


def _event_selects(tables: dict[str, set[str]]) -> list[str]:
    selects = list(_DECLARED_EVENTS)
    for table in sorted(tables):
        if not table.startswith("zeek_"):
            continue
        cols = tables[table]
        if not {"ts", "evidence_id", "line_no"} <= cols:
            continue
        path = table[len("zeek_"):]
        src = "id_orig_h" if "id_orig_h" in cols else "NULL"
        dst = "id_resp_h" if "id_resp_h" in cols else "NULL"
        port = "':' || id_resp_p" if "id_resp_p" in cols else "''"
        parts = [f"'{k}=' || \"{k}\"::VARCHAR" for k in _ZEEK_SUMMARY.get(path, []) if k in cols]
        summary = (f"left(concat_ws(' ', '{path}', {src} || ' -> ' || {dst} || {port}"
                   f"{', ' if parts else ''}{', '.join(parts)}), {_SUMMARY_CAP})")
        selects.append(
            f"SELECT ts, '{table}' AS source, 'network' AS category, {src} AS host, "
            f"{src} AS src, {dst} AS dst, {summary} AS summary, evidence_id, line_no "
            f'FROM "{table}"')
    return selects
