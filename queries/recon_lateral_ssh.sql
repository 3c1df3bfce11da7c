-- name = "recon_lateral_ssh"
-- title = "Lateral SSH: a sandbox logging in to its neighbours"
-- kind = "detection"
-- phase = "recon"
-- attack = ["T1021.004", "T1018"]
-- description = """
-- A sandbox or training host has no reason to open SSH sessions to other cluster hosts:
-- administrators come in through the bastion, jobs through the scheduler. This finds a
-- sandbox that reaches at least min_hosts distinct internal hosts on SSH (port 22 or a Zeek
-- `ssh` service) within a session (sessions end after idle_minutes without such a
-- connection). Unlike a scan, the sessions may succeed and come minutes apart: it is how a
-- person with a foothold looks around by hand. Signals: lateral_ssh (0.4), established
-- (at least one session carried data both ways, 0.2), many_hosts (at least 2 x min_hosts
-- hosts, 0.2), infrastructure_target (a target whose scope is internal rather than
-- sandbox: schedulers, storage, control plane, 0.2).
-- """
--
-- [tables.zeek_conn]
-- required = true
-- columns = ["ts TIMESTAMPTZ", "id_orig_h VARCHAR", "id_resp_h VARCHAR", "id_resp_p INTEGER",
--            "service VARCHAR", "orig_bytes UBIGINT", "resp_bytes UBIGINT",
--            "evidence_id INTEGER", "line_no BIGINT"]
-- [tables.addr_scope]
-- columns = ["ip VARCHAR", "scope VARCHAR", "host_name VARCHAR"]
--
-- [params.min_hosts]
-- type = "int"
-- default = 3
-- min = 2
-- meaning = "distinct internal hosts reached on SSH in one session"
-- [params.idle_minutes]
-- type = "int"
-- default = 60
-- min = 1
-- meaning = "a session ends after this many minutes without an SSH connection to a neighbour"
--
-- [output]
-- columns = [
--   "targets VARCHAR[]: the hosts reached (up to ten)",
--   "hosts BIGINT: distinct hosts reached",
--   "connections BIGINT: SSH connections in the session",
--   "established BIGINT: connections that carried data both ways",
-- ]

WITH ssh AS (
    SELECT c.ts, c.id_orig_h AS src, c.id_resp_h AS dst, c.evidence_id, c.line_no,
           coalesce(c.orig_bytes, 0) > 0 AND coalesce(c.resp_bytes, 0) > 0 AS established,
           d.scope AS dst_scope, s.host_name
    FROM zeek_conn c
    JOIN addr_scope s ON s.ip = c.id_orig_h AND s.scope = 'sandbox'
    JOIN addr_scope d ON d.ip = c.id_resp_h AND d.scope IN ('internal', 'sandbox')
    WHERE c.ts IS NOT NULL AND c.id_orig_h <> c.id_resp_h
      AND (c.id_resp_p = 22 OR lower(coalesce(c.service, '')) LIKE '%ssh%')
),
gapped AS (
    SELECT *, epoch(ts) - epoch(lag(ts) OVER (PARTITION BY src ORDER BY ts)) AS gap_s
    FROM ssh
),
sessions AS (
    SELECT *, sum(CASE WHEN gap_s IS NULL OR gap_s > $idle_minutes * 60 THEN 1 ELSE 0 END)
                  OVER (PARTITION BY src ORDER BY ts ROWS UNBOUNDED PRECEDING) AS session
    FROM gapped
),
per_session AS (
    SELECT src, session, any_value(host_name) AS host_name, min(ts) AS ts_start,
           max(ts) AS ts_end, count(*) AS connections, count(DISTINCT dst) AS hosts,
           count(*) FILTER (established) AS established,
           bool_or(dst_scope = 'internal') AS infrastructure,
           list_sort(list_distinct(list(dst)))[1:10] AS targets,
           evidence_list('zeek_conn', evidence_id, line_no, ts) AS evidence
    FROM sessions GROUP BY src, session
    HAVING count(DISTINCT dst) >= $min_hosts
)
SELECT src AS host,
       'recon' AS phase,
       'T1021.004' AS technique,
       ts_start, ts_end,
       least(1.0, 0.4 + 0.2 * (established > 0)::INT + 0.2 * (hosts >= 2 * $min_hosts)::INT
                  + 0.2 * infrastructure::INT)::DOUBLE AS score,
       finding_severity(score) AS severity,
       printf('sandbox %s%s opened SSH to %d internal hosts (%d connections, %d established) '
              || 'in %s', src, coalesce(' (' || host_name || ')', ''), hosts, connections,
              established, (ts_end - ts_start)::VARCHAR) AS summary,
       list_filter(['lateral_ssh',
                    CASE WHEN established > 0 THEN 'established' END,
                    CASE WHEN hosts >= 2 * $min_hosts THEN 'many_hosts' END,
                    CASE WHEN infrastructure THEN 'infrastructure_target' END],
                   lambda x: x IS NOT NULL) AS signals,
       evidence,
       connections AS evidence_count,
       targets, hosts, connections, established
FROM per_session
ORDER BY ts_start, host
