-- name = "long_connections"
-- title = "Long connections: pairs that stay connected for hours"
-- kind = "detection"
-- phase = "tunnel"
-- attack = ["T1572", "T1071"]
-- description = """
-- Summed connection time per source/destination address pair (all ports), graded like
-- RITA at 1 h, 4 h, 8 h and 12 h (score 0.25, 0.5, 0.75, 1.0). A tunnel or a miner's pool
-- session shows here even when it is one connection. Zeek writes a connection when it
-- closes, so a session still open when the log ends is missing until conn_long-style logs
-- are loaded. Allowlisted destinations are skipped unless include_allowed.
-- """
--
-- [tables.zeek_conn]
-- required = true
-- columns = ["ts TIMESTAMPTZ", "id_orig_h VARCHAR", "id_resp_h VARCHAR", "id_resp_p INTEGER",
--            "duration DOUBLE", "orig_bytes UBIGINT", "resp_bytes UBIGINT",
--            "evidence_id INTEGER", "line_no BIGINT"]
-- [tables.addr_scope]
-- columns = ["ip VARCHAR", "scope VARCHAR", "host_name VARCHAR"]
--
-- [params.min_hours]
-- type = "float"
-- default = 1.0
-- min = 0
-- meaning = "summed hours from which a pair is reported"
-- [params.include_allowed]
-- type = "bool"
-- default = false
-- meaning = "also report pairs whose destination is allowlisted egress"
-- [params.outbound_only]
-- type = "bool"
-- default = true
-- meaning = "only pairs from an internal or sandbox host to a destination outside (a tunnel leaves the cluster); false also reports inbound and internal pairs, such as admin sessions through a bastion"
--
-- [output]
-- columns = [
--   "dst_ip VARCHAR: destination of the pair",
--   "dst_scope VARCHAR: its scope",
--   "ports INTEGER[]: destination ports used (up to ten)",
--   "connections BIGINT: connections in the pair",
--   "total_hours DOUBLE: summed duration, hours",
--   "longest_hours DOUBLE: longest single connection, hours",
--   "bytes_out UBIGINT: bytes sent by the source",
--   "bytes_in UBIGINT: bytes received",
-- ]

WITH pairs AS (
    -- aggregate first (cheap), then scope only the pairs that qualify
    SELECT id_orig_h AS src, id_resp_h AS dst, min(ts) AS ts_start,
           max(ts + to_microseconds((coalesce(duration, 0) * 1e6)::BIGINT)) AS ts_end,
           count(*) AS connections, sum(coalesce(duration, 0)) / 3600 AS total_hours,
           max(coalesce(duration, 0)) / 3600 AS longest_hours,
           sum(coalesce(orig_bytes, 0))::UBIGINT AS bytes_out,
           sum(coalesce(resp_bytes, 0))::UBIGINT AS bytes_in
    FROM zeek_conn
    WHERE ts IS NOT NULL AND id_orig_h IS NOT NULL AND id_resp_h IS NOT NULL
    GROUP BY id_orig_h, id_resp_h
    HAVING sum(coalesce(duration, 0)) >= $min_hours * 3600
),
ev AS (
    -- evidence only for the pairs that qualified (a top-50 list per pair of millions is costly)
    SELECT c.id_orig_h AS src, c.id_resp_h AS dst,
           evidence_list('zeek_conn', c.evidence_id, c.line_no, c.ts) AS evidence,
           list_sort(list_distinct(list(c.id_resp_p)))[1:10] AS ports
    FROM zeek_conn c SEMI JOIN pairs p ON p.src = c.id_orig_h AND p.dst = c.id_resp_h
    WHERE c.ts IS NOT NULL
    GROUP BY ALL
),
scoped AS (
    SELECT p.*, ev.evidence, ev.ports, d.scope AS dst_scope, s.host_name
    FROM pairs p
    JOIN ev USING (src, dst)
    JOIN addr_scope d ON d.ip = p.dst
    LEFT JOIN addr_scope s ON s.ip = p.src
    WHERE ($include_allowed OR d.scope <> 'allowed_egress')
      AND (NOT $outbound_only OR (s.scope IN ('internal', 'sandbox')
                                  AND d.scope IN ('external', 'unknown', 'allowed_egress')))
)
SELECT src AS host,
       'tunnel' AS phase,
       'T1572' AS technique,
       ts_start, ts_end,
       (CASE WHEN total_hours >= 12 THEN 1.0 WHEN total_hours >= 8 THEN 0.75
             WHEN total_hours >= 4 THEN 0.5 ELSE 0.25 END)::DOUBLE AS score,
       finding_severity(score) AS severity,
       printf('%s%s -> %s (%s): %.1f h connected over %d connection(s), longest %.1f h',
              src, coalesce(' (' || host_name || ')', ''), dst, dst_scope, total_hours,
              connections, longest_hours) AS summary,
       list_filter([
           CASE WHEN total_hours >= 12 THEN 'total_over_12h' WHEN total_hours >= 8
                THEN 'total_over_8h' WHEN total_hours >= 4 THEN 'total_over_4h'
                ELSE 'total_over_1h' END,
           CASE WHEN longest_hours >= 1 THEN 'single_connection_over_1h' END,
           CASE WHEN dst_scope = 'external' THEN 'external_destination' END
       ], lambda x: x IS NOT NULL) AS signals,
       evidence,
       connections AS evidence_count,
       dst AS dst_ip, dst_scope, ports, connections, total_hours::DOUBLE AS total_hours,
       longest_hours::DOUBLE AS longest_hours, bytes_out, bytes_in
FROM scoped
ORDER BY total_hours DESC, host, dst_ip
