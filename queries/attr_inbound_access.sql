-- name = "attr_inbound_access"
-- title = "Attribution: logins from outside to internal hosts, with failures first and first-seen sources"
-- kind = "question"
-- phase = "access"
-- attack = ["T1078", "T1110", "T1021.004"]
-- description = """
-- Per external source and internal destination, the SSH authentications Zeek judged
-- (zeek_ssh auth_success): failures, successes, the first of each, and whether the source
-- is new: its first row anywhere in the network logs is this access and the case holds at
-- least min_history_hours of traffic before it. An intruder has to get in; an agent is
-- already inside, so its sessions are outbound. Used by forensics.attribution (intruder
-- side), which compares first_success with the findings that follow.
-- """
--
-- [tables.zeek_ssh]
-- required = false
-- columns = ["ts TIMESTAMPTZ", "id_orig_h VARCHAR", "id_resp_h VARCHAR",
--            "auth_success BOOLEAN", "auth_attempts UBIGINT", "evidence_id INTEGER",
--            "line_no BIGINT"]
-- [tables.flows]
-- columns = ["ts TIMESTAMPTZ", "src_ip VARCHAR", "dst_ip VARCHAR"]
-- [tables.addr_scope]
-- columns = ["ip VARCHAR", "scope VARCHAR", "host_name VARCHAR"]
--
-- [params.min_failures]
-- type = "int"
-- default = 5
-- min = 1
-- meaning = "failed authentications before a success that make a brute force"
-- [params.min_history_hours]
-- type = "float"
-- default = 6.0
-- min = 0
-- meaning = "traffic the case must hold before a source's first row for it to count as new"
--
-- [output]
-- columns = [
--   "host VARCHAR: the internal host logged in to",
--   "host_name VARCHAR: its name from the case context",
--   "src_ip VARCHAR: the external source",
--   "failures BIGINT: failed authentications",
--   "successes BIGINT: successful authentications",
--   "first_failure TIMESTAMPTZ: first failure",
--   "first_success TIMESTAMPTZ: first success",
--   "last_success TIMESTAMPTZ: last success",
--   "brute_force BOOLEAN: at least min_failures failures before the first success",
--   "first_seen BOOLEAN: the source was never seen before this access",
--   "source_first_ts TIMESTAMPTZ: the source's first row in the network logs",
--   "evidence STRUCT(\"table\" VARCHAR, evidence_id INTEGER, line_no BIGINT)[]: the ssh.log rows, successes first",
-- ]

WITH span AS (
    SELECT min(ts) AS t0 FROM (SELECT ts FROM flows UNION ALL SELECT ts FROM zeek_ssh)
),
judged AS (
    SELECT s.*, d.host_name
    FROM zeek_ssh s
    JOIN addr_scope x ON x.ip = s.id_orig_h AND x.scope = 'external'
    JOIN addr_scope d ON d.ip = s.id_resp_h AND d.scope IN ('internal', 'sandbox')
    WHERE s.ts IS NOT NULL AND (s.auth_success IS NOT NULL OR coalesce(s.auth_attempts, 0) > 0)
),
pairs AS (
    SELECT id_resp_h AS host, any_value(host_name) AS host_name, id_orig_h AS src_ip,
           count(*) FILTER (NOT coalesce(auth_success, false)) AS failures,
           count(*) FILTER (auth_success) AS successes,
           min(ts) FILTER (NOT coalesce(auth_success, false)) AS first_failure,
           min(ts) FILTER (auth_success) AS first_success,
           max(ts) FILTER (auth_success) AS last_success,
           -- successes first (the sort key puts failures a century later), then failures
           evidence_list('zeek_ssh', evidence_id, line_no,
                         CASE WHEN auth_success THEN ts ELSE ts + INTERVAL 100 YEAR END)
               AS evidence
    FROM judged GROUP BY id_resp_h, id_orig_h
),
seen AS (
    SELECT p.src_ip, min(f.ts) AS first_ts
    FROM pairs p JOIN flows f ON f.src_ip = p.src_ip OR f.dst_ip = p.src_ip
    GROUP BY p.src_ip
)
SELECT p.host, p.host_name, p.src_ip, p.failures, p.successes, p.first_failure,
       p.first_success, p.last_success,
       coalesce(p.failures >= $min_failures AND p.first_failure < p.first_success, false)
           AS brute_force,
       coalesce(least(s.first_ts, p.first_failure, p.first_success)
                    >= span.t0 + to_microseconds(($min_history_hours * 3600e6)::BIGINT), false)
           AS first_seen,
       least(s.first_ts, p.first_failure, p.first_success) AS source_first_ts,
       p.evidence
FROM pairs p LEFT JOIN seen s USING (src_ip), span
WHERE p.successes > 0
ORDER BY p.first_success, p.host
