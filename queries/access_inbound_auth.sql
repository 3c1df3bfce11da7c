-- name = "access_inbound_auth"
-- title = "Access from outside: inbound logins, brute force then success, new external sources"
-- kind = "detection"
-- phase = "access"
-- attack = ["T1078", "T1110", "T1021.004"]
-- description = """
-- The intruder's mark: an external source that authenticates to an internal host, above
-- all when failures come first and when the host then does other things (connects out).
-- One finding per (external source, internal destination). Signals: external_auth_success
-- (zeek_ssh auth_success, 0.3), failures_then_success (failed attempts before the first
-- success, 0.3), brute_force (at least min_failures failures, 0.2), inbound_admin_session
-- (an established inbound connection to an admin port, Zeek conn, 0.2),
-- first_seen_source (the source first appears after the first first_seen_hours of the
-- case, 0.1) and precedes_activity (the destination connects to an external address within
-- follow_hours after the access, 0.2). A successful agent tunnel does not produce this:
-- its sessions are outbound.
-- """
--
-- [tables.zeek_ssh]
-- required = false
-- columns = ["ts TIMESTAMPTZ", "uid VARCHAR", "id_orig_h VARCHAR", "id_resp_h VARCHAR",
--            "id_resp_p INTEGER", "auth_success BOOLEAN", "auth_attempts UBIGINT",
--            "evidence_id INTEGER", "line_no BIGINT"]
-- [tables.zeek_conn]
-- required = false
-- columns = ["ts TIMESTAMPTZ", "uid VARCHAR", "id_orig_h VARCHAR", "id_resp_h VARCHAR",
--            "id_resp_p INTEGER", "conn_state VARCHAR", "evidence_id INTEGER", "line_no BIGINT"]
-- [tables.addr_scope]
-- columns = ["ip VARCHAR", "scope VARCHAR", "host_name VARCHAR"]
--
-- [params.min_failures]
-- type = "int"
-- default = 5
-- min = 1
-- meaning = "failed authentications that make brute_force"
-- [params.admin_ports]
-- type = "str_list"
-- default = ["22", "2222", "3389", "5985", "5986", "5900"]
-- meaning = "ports whose established inbound sessions count (SSH, RDP, WinRM, VNC)"
-- [params.first_seen_hours]
-- type = "float"
-- default = 24.0
-- min = 0
-- meaning = "sources seen first after this many hours into the case are new"
-- [params.follow_hours]
-- type = "float"
-- default = 6.0
-- min = 0
-- meaning = "window after the access in which outbound activity by the host counts"
--
-- [output]
-- columns = [
--   "src_ip VARCHAR: the external source",
--   "dst_ip VARCHAR: the internal host it reached",
--   "failures BIGINT: failed authentications",
--   "successes BIGINT: successful authentications or established admin sessions",
--   "first_success TIMESTAMPTZ: first success (NULL when none)",
-- ]

WITH span AS (
    SELECT min(ts) AS t0 FROM (SELECT ts FROM zeek_conn UNION ALL SELECT ts FROM zeek_ssh)
),
attempts AS (
    SELECT s.ts, 'zeek_ssh' AS tbl, s.evidence_id, s.line_no, s.id_orig_h AS src,
           s.id_resp_h AS dst, s.auth_success AS ok,
           s.auth_success IS NOT NULL OR coalesce(s.auth_attempts, 0) > 0 AS judged,
           true AS from_ssh
    FROM zeek_ssh s
    UNION ALL
    -- established inbound sessions on admin ports (no authentication verdict in conn.log)
    SELECT c.ts, 'zeek_conn', c.evidence_id, c.line_no, c.id_orig_h, c.id_resp_h,
           CASE WHEN c.conn_state IN ('SF', 'S1', 'S2', 'S3', 'RSTO', 'RSTR') THEN true END,
           false, false
    FROM zeek_conn c
    WHERE list_contains($admin_ports, c.id_resp_p::VARCHAR)
      AND c.uid NOT IN (SELECT uid FROM zeek_ssh WHERE uid IS NOT NULL)
),
inbound AS (
    SELECT a.*, d.host_name
    FROM attempts a
    JOIN addr_scope s ON s.ip = a.src AND s.scope = 'external'
    JOIN addr_scope d ON d.ip = a.dst AND d.scope IN ('internal', 'sandbox')
    WHERE a.ts IS NOT NULL
),
pairs AS (
    SELECT src, dst, any_value(host_name) AS host_name, min(ts) AS ts_start, max(ts) AS ts_end,
           count(*) FILTER (from_ssh AND judged AND NOT coalesce(ok, false)) AS failures,
           count(*) FILTER (ok) AS successes,
           min(ts) FILTER (ok) AS first_success,
           min(ts) FILTER (from_ssh AND judged AND NOT coalesce(ok, false)) AS first_failure,
           bool_or(from_ssh AND ok) AS ssh_success,
           bool_or(NOT from_ssh AND ok) AS admin_session,
           count(*) AS n, evidence_list(tbl, evidence_id, line_no, ts) AS evidence
    FROM inbound GROUP BY src, dst
),
source_first AS (
    SELECT src, min(ts) AS first_ts FROM inbound GROUP BY src
),
after AS (
    -- outbound connections by the accessed host to external addresses after the access
    SELECT p.src, p.dst, count(*) AS n
    FROM pairs p
    JOIN zeek_conn c ON c.id_orig_h = p.dst AND c.ts > p.first_success
     AND c.ts <= p.first_success + to_microseconds(($follow_hours * 3600e6)::BIGINT)
    JOIN addr_scope x ON x.ip = c.id_resp_h AND x.scope = 'external'
    WHERE p.first_success IS NOT NULL
    GROUP BY p.src, p.dst
),
scored AS (
    SELECT p.*, list_filter([
               CASE WHEN p.ssh_success THEN 'external_auth_success' END,
               CASE WHEN p.first_failure < p.first_success THEN 'failures_then_success' END,
               CASE WHEN p.failures >= $min_failures THEN 'brute_force' END,
               CASE WHEN p.admin_session THEN 'inbound_admin_session' END,
               CASE WHEN f.first_ts > span.t0 + to_microseconds(($first_seen_hours * 3600e6)::BIGINT)
                    THEN 'first_seen_source' END,
               CASE WHEN a.n > 0 THEN 'precedes_activity' END], lambda x: x IS NOT NULL) AS signals
    FROM pairs p JOIN source_first f USING (src) LEFT JOIN after a USING (src, dst), span
)
SELECT dst AS host,
       'access' AS phase,
       'T1078,T1110,T1021.004' AS technique,
       ts_start, ts_end,
       least(1.0, 0.3 * list_contains(signals, 'external_auth_success')::INT
                  + 0.3 * list_contains(signals, 'failures_then_success')::INT
                  + 0.2 * list_contains(signals, 'brute_force')::INT
                  + 0.2 * list_contains(signals, 'inbound_admin_session')::INT
                  + 0.1 * list_contains(signals, 'first_seen_source')::INT
                  + 0.2 * list_contains(signals, 'precedes_activity')::INT)::DOUBLE AS score,
       finding_severity(score) AS severity,
       printf('external %s -> %s%s: %d failed, %d successful login(s)%s', src, dst,
              coalesce(' (' || host_name || ')', ''), failures, successes,
              CASE WHEN list_contains(signals, 'precedes_activity')
                   THEN ', then the host connected out' ELSE '' END) AS summary,
       signals, evidence, n AS evidence_count,
       src AS src_ip, dst AS dst_ip, failures, successes, first_success
FROM scored
-- failures alone are internet noise; report a pair once something succeeded
WHERE successes > 0
ORDER BY ts_start, host
