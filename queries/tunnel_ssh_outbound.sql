-- name = "tunnel_ssh_outbound"
-- title = "Outbound SSH from a sandbox to an outside server (reverse-tunnel set-up)"
-- kind = "detection"
-- phase = "tunnel"
-- attack = ["T1572", "T1021.004"]
-- description = """
-- SSH sessions (Zeek service 'ssh' on any port, a zeek_ssh record, or destination port 22;
-- firewall allows to port 22 too) from a sandbox or training host to an external address
-- that is not allowlisted, one finding per (source, destination, port). The base signal is
-- the outbound session itself; each further signal that fires adds to the score and is
-- named: non-standard port (SSH on 443...), long-lived (one session or the total over
-- long_seconds), data both ways, an idle-tunnel keepalive cadence (long session, small
-- steady byte rate), reconnects (autossh), successful authentication (zeek_ssh), and
-- firewall denies to the same server shortly before the first session.
-- """
--
-- [tables.zeek_conn]
-- required = false
-- columns = ["ts TIMESTAMPTZ", "uid VARCHAR", "id_orig_h VARCHAR", "id_resp_h VARCHAR",
--            "id_resp_p INTEGER", "proto VARCHAR", "service VARCHAR", "duration DOUBLE",
--            "orig_bytes UBIGINT", "resp_bytes UBIGINT", "orig_pkts UBIGINT",
--            "resp_pkts UBIGINT", "evidence_id INTEGER", "line_no BIGINT"]
-- [tables.zeek_ssh]
-- required = false
-- columns = ["ts TIMESTAMPTZ", "uid VARCHAR", "id_orig_h VARCHAR", "id_resp_h VARCHAR",
--            "id_resp_p INTEGER", "auth_success BOOLEAN", "client VARCHAR",
--            "evidence_id INTEGER", "line_no BIGINT"]
-- [tables.firewall_events]
-- columns = ["ts TIMESTAMPTZ", "ts_end TIMESTAMPTZ", "action VARCHAR", "src_ip VARCHAR",
--            "dst_ip VARCHAR", "dst_port INTEGER", "bytes UBIGINT", "packets UBIGINT",
--            "evidence_id INTEGER", "line_no BIGINT"]
-- [tables.addr_scope]
-- columns = ["ip VARCHAR", "scope VARCHAR", "host_name VARCHAR"]
--
-- [params.source_scopes]
-- type = "str_list"
-- default = ["sandbox"]
-- meaning = "scopes of the hosts watched (sandbox covers hosts with role sandbox or training)"
-- [params.long_seconds]
-- type = "float"
-- default = 3600.0
-- min = 1
-- meaning = "a session (or the pair's total) this long is long-lived"
-- [params.min_bytes_each_way]
-- type = "int"
-- default = 4096
-- min = 0
-- meaning = "bytes both directions must reach for the data_both_ways signal"
-- [params.keepalive_max_bps]
-- type = "float"
-- default = 200.0
-- min = 0
-- meaning = "mean bytes per second at or below which a long session looks like an idle tunnel"
-- [params.min_reconnects]
-- type = "int"
-- default = 3
-- min = 2
-- meaning = "sessions to the same server that count as reconnects"
-- [params.deny_lookback_minutes]
-- type = "int"
-- default = 60
-- min = 1
-- meaning = "firewall denies to the same server this long before the first session count"
--
-- [output]
-- columns = [
--   "dst_ip VARCHAR: the outside server",
--   "dst_port INTEGER: its port",
--   "sessions BIGINT: SSH sessions seen (distinct connections)",
--   "total_seconds DOUBLE: summed session time",
--   "longest_seconds DOUBLE: longest single session",
--   "bytes_out UBIGINT: bytes sent by the sandbox",
--   "bytes_in UBIGINT: bytes received",
--   "clients VARCHAR[]: SSH client strings seen (zeek_ssh)",
--   "denies_before BIGINT: firewall denies to the server before the first session",
-- ]

WITH ssh_uids AS (
    SELECT DISTINCT uid FROM zeek_ssh WHERE uid IS NOT NULL
),
sessions AS (
    -- Zeek conn: SSH by protocol detection (any port), by an ssh.log record, or port 22
    SELECT c.ts, 'zeek_conn' AS tbl, c.evidence_id, c.line_no, c.uid AS session_key,
           c.id_orig_h AS src, c.id_resp_h AS dst, c.id_resp_p AS port,
           coalesce(c.duration, 0) AS dur, coalesce(c.orig_bytes, 0) AS b_out,
           coalesce(c.resp_bytes, 0) AS b_in, NULL::BOOLEAN AS auth_ok, NULL AS client
    FROM zeek_conn c
    WHERE c.service ILIKE '%ssh%' OR c.id_resp_p = 22
       OR c.uid IN (SELECT uid FROM ssh_uids)
    UNION ALL
    SELECT s.ts, 'zeek_ssh', s.evidence_id, s.line_no, s.uid, s.id_orig_h, s.id_resp_h,
           s.id_resp_p, 0, 0, 0, s.auth_success, s.client
    FROM zeek_ssh s
    UNION ALL
    -- firewall flow records of allowed SSH (used for time and size only when Zeek is absent)
    SELECT f.ts, 'firewall_events', f.evidence_id, f.line_no,
           'fw:' || f.evidence_id || ':' || f.line_no, f.src_ip, f.dst_ip, f.dst_port,
           coalesce(epoch(f.ts_end) - epoch(f.ts), 0), coalesce(f.bytes, 0), 0, NULL, NULL
    FROM firewall_events f
    WHERE f.action = 'allow' AND f.dst_port = 22
),
scoped AS (
    SELECT x.*, s.host_name
    FROM sessions x
    JOIN addr_scope s ON s.ip = x.src AND list_contains($source_scopes, s.scope)
    JOIN addr_scope d ON d.ip = x.dst AND d.scope = 'external'
    WHERE x.ts IS NOT NULL
),
pairs AS (
    SELECT src, dst, port, any_value(host_name) AS host_name,
           min(ts) AS first_ts, max(ts + to_microseconds((dur * 1e6)::BIGINT)) AS last_ts,
           count(DISTINCT session_key) AS sessions,
           -- Zeek measures sessions; firewall rows only when Zeek has none for the pair
           CASE WHEN count(*) FILTER (tbl = 'zeek_conn') > 0
                THEN sum(dur) FILTER (tbl = 'zeek_conn') ELSE sum(dur) END AS total_seconds,
           max(dur) AS longest_seconds,
           CASE WHEN count(*) FILTER (tbl = 'zeek_conn') > 0
                THEN sum(b_out) FILTER (tbl = 'zeek_conn') ELSE sum(b_out) END::UBIGINT AS bytes_out,
           CASE WHEN count(*) FILTER (tbl = 'zeek_conn') > 0
                THEN sum(b_in) FILTER (tbl = 'zeek_conn') ELSE sum(b_in) END::UBIGINT AS bytes_in,
           bool_or(auth_ok) AS auth_ok,
           coalesce(list_sort(list_distinct(list(client) FILTER (client IS NOT NULL))), []) AS clients,
           count(*) AS n_rows,
           evidence_list(tbl, evidence_id, line_no, ts) AS evidence
    FROM scoped
    GROUP BY src, dst, port
),
denies AS (
    SELECT p.src, p.dst, p.port, count(*) AS n,
           evidence_list('firewall_events', f.evidence_id, f.line_no, f.ts) AS evidence
    FROM pairs p
    JOIN firewall_events f
      ON f.src_ip = p.src AND f.dst_ip = p.dst AND f.action IN ('deny', 'drop', 'reject')
     AND f.ts < p.first_ts AND f.ts >= p.first_ts - to_minutes($deny_lookback_minutes)
    GROUP BY ALL
),
flagged AS (
    SELECT p.*, coalesce(d.n, 0) AS denies_before,
           list_filter([
               'outbound_ssh_external',
               CASE WHEN p.port <> 22 THEN 'non_standard_port' END,
               CASE WHEN p.longest_seconds >= $long_seconds OR p.total_seconds >= $long_seconds
                    THEN 'long_lived' END,
               CASE WHEN p.bytes_out >= $min_bytes_each_way AND p.bytes_in >= $min_bytes_each_way
                    THEN 'data_both_ways' END,
               CASE WHEN p.longest_seconds >= 600
                     AND (p.bytes_out + p.bytes_in) / p.total_seconds <= $keepalive_max_bps
                    THEN 'keepalive_cadence' END,
               CASE WHEN p.sessions >= $min_reconnects THEN 'reconnects' END,
               CASE WHEN p.auth_ok THEN 'auth_success' END,
               CASE WHEN d.n > 0 THEN 'firewall_denied_first' END
           ], lambda x: x IS NOT NULL) AS signals,
           list_concat(d.evidence, p.evidence)[1:50] AS all_evidence
    FROM pairs p LEFT JOIN denies d USING (src, dst, port)
)
SELECT src AS host,
       'tunnel' AS phase,
       'T1572,T1021.004' AS technique,
       first_ts AS ts_start, last_ts AS ts_end,
       -- weights: the outbound session 0.3, non-standard port 0.15, long-lived 0.2, others 0.1
       least(1.0, 0.3
           + CASE WHEN list_contains(signals, 'non_standard_port') THEN 0.15 ELSE 0 END
           + CASE WHEN list_contains(signals, 'long_lived') THEN 0.2 ELSE 0 END
           + 0.1 * len(list_filter(signals, lambda s: s IN ('data_both_ways', 'keepalive_cadence',
                 'reconnects', 'auth_success', 'firewall_denied_first'))))::DOUBLE AS score,
       finding_severity(score) AS severity,
       printf('SSH from %s%s to external %s:%d: %d session(s), %.0f s in all, %d B out / %d B in',
              src, coalesce(' (' || host_name || ')', ''), dst, port, sessions, total_seconds,
              bytes_out, bytes_in) AS summary,
       signals,
       all_evidence AS evidence,
       n_rows + denies_before AS evidence_count,
       dst AS dst_ip, port AS dst_port, sessions, total_seconds, longest_seconds,
       bytes_out, bytes_in, clients, denies_before
FROM flagged
ORDER BY ts_start, host
