-- name = "recon_internal_scan"
-- title = "Internal scan: one host probing many internal hosts or ports"
-- kind = "detection"
-- phase = "recon"
-- attack = ["T1046", "T1018"]
-- description = """
-- Failed or unanswered connection attempts from an internal host to other internal hosts,
-- grouped per source into sessions that end after idle_minutes without an attempt
-- (bro-simple-scan style). A session becomes a finding when its attempts reach the
-- threshold for the source's scope (much lower for sandboxes: a training node has no reason
-- to scan) and it touched at least min_hosts hosts, min_ports ports or min_targets distinct
-- host:port pairs. Scan type: horizontal (many hosts, few ports), vertical (many ports on
-- few hosts), random (both), or block (a few hosts times a few ports: an infrastructure
-- sweep of the control-plane ports of a handful of servers).
-- Reads `flows` (Zeek conn and firewall flows); internal-to-internal traffic only.
-- """
--
-- [tables.flows]
-- required = true
-- columns = ["ts TIMESTAMPTZ", "source VARCHAR", "src_ip VARCHAR", "dst_ip VARCHAR",
--            "dst_port INTEGER", "action VARCHAR", "evidence_id INTEGER", "line_no BIGINT"]
-- [tables.addr_scope]
-- columns = ["ip VARCHAR", "scope VARCHAR", "host_name VARCHAR"]
--
-- [params.idle_minutes]
-- type = "int"
-- default = 15
-- min = 1
-- meaning = "a source's session ends after this many minutes without a failed attempt"
-- [params.min_attempts_sandbox]
-- type = "int"
-- default = 10
-- min = 1
-- meaning = "failed attempts in a session that make a sandbox host a scanner"
-- [params.min_attempts_internal]
-- type = "int"
-- default = 100
-- min = 1
-- meaning = "failed attempts in a session that make any other internal host a scanner"
-- [params.min_hosts]
-- type = "int"
-- default = 10
-- min = 2
-- meaning = "distinct internal hosts that make a session an address (horizontal) scan"
-- [params.min_ports]
-- type = "int"
-- default = 10
-- min = 2
-- meaning = "distinct ports that make a session a port (vertical) scan"
-- [params.min_targets]
-- type = "int"
-- default = 20
-- min = 2
-- meaning = "distinct host:port pairs that make a session a block scan"
-- [params.admin_ports]
-- type = "str_list"
-- default = ["22", "2222", "3389", "5985", "5986", "6443", "10250", "2379", "8265", "6379"]
-- meaning = "ports whose probing adds the admin_ports signal (SSH, RDP, WinRM, k8s, etcd, Ray, Redis)"
--
-- [output]
-- columns = [
--   "scan_type VARCHAR: horizontal, vertical, random or block",
--   "attempts BIGINT: failed or unanswered attempts in the session",
--   "hosts BIGINT: distinct internal hosts probed",
--   "ports BIGINT: distinct destination ports probed",
--   "src_scope VARCHAR: scope of the scanning host (sandbox or internal)",
--   "top_ports INTEGER[]: up to ten probed ports, lowest first",
-- ]

WITH attempts AS (
    -- failed or unanswered attempts between two internal addresses
    SELECT f.ts, f.source, f.src_ip, f.dst_ip, f.dst_port, f.evidence_id, f.line_no,
           s.scope AS src_scope, s.host_name
    FROM flows f
    JOIN addr_scope s ON s.ip = f.src_ip AND s.scope IN ('internal', 'sandbox')
    JOIN addr_scope d ON d.ip = f.dst_ip AND d.scope IN ('internal', 'sandbox')
    WHERE f.ts IS NOT NULL
      AND f.action IN ('reject', 'unanswered', 'deny', 'drop')
      AND f.src_ip <> f.dst_ip
),
gapped AS (
    SELECT *, epoch(ts) - epoch(lag(ts) OVER (PARTITION BY src_ip ORDER BY ts)) AS gap_s
    FROM attempts
),
sessions AS (
    -- a new session starts after idle_minutes of silence
    SELECT *, sum(CASE WHEN gap_s IS NULL OR gap_s > $idle_minutes * 60 THEN 1 ELSE 0 END)
                  OVER (PARTITION BY src_ip ORDER BY ts ROWS UNBOUNDED PRECEDING) AS session
    FROM gapped
),
per_session AS (
    SELECT src_ip, session, any_value(src_scope) AS src_scope, any_value(host_name) AS host_name,
           min(ts) AS ts_start, max(ts) AS ts_end, count(*) AS attempts,
           count(DISTINCT dst_ip) AS hosts, count(DISTINCT dst_port) AS ports,
           count(DISTINCT (dst_ip, dst_port)) AS targets,
           list_sort(list_distinct(list(dst_port)))[1:10] AS top_ports,
           bool_or(list_contains($admin_ports, dst_port::VARCHAR)) AS admin,
           evidence_list(source, evidence_id, line_no, ts) AS evidence
    FROM sessions
    GROUP BY src_ip, session
),
scored AS (
    SELECT *,
           CASE WHEN src_scope = 'sandbox' THEN $min_attempts_sandbox
                ELSE $min_attempts_internal END AS threshold,
           CASE WHEN hosts >= $min_hosts AND ports >= $min_ports THEN 'random'
                WHEN hosts >= $min_hosts THEN 'horizontal'
                WHEN ports >= $min_ports THEN 'vertical' ELSE 'block' END AS scan_type
    FROM per_session
    WHERE hosts >= $min_hosts OR ports >= $min_ports OR targets >= $min_targets
)
SELECT src_ip AS host,
       'recon' AS phase,
       'T1046' AS technique,
       ts_start, ts_end,
       least(1.0, 0.4 + CASE WHEN src_scope = 'sandbox' THEN 0.2 ELSE 0 END
                      + CASE WHEN attempts >= 4 * threshold THEN 0.2 ELSE 0 END
                      + CASE WHEN admin THEN 0.2 ELSE 0 END)::DOUBLE AS score,
       finding_severity(score) AS severity,
       printf('%s scan from %s%s: %d failed attempts to %d internal hosts on %d ports in %s',
              scan_type, src_ip, coalesce(' (' || host_name || ')', ''), attempts, hosts, ports,
              (ts_end - ts_start)::VARCHAR) AS summary,
       list_filter(['scan_threshold', scan_type || '_scan',
                    CASE WHEN src_scope = 'sandbox' THEN 'sandbox_source' END,
                    CASE WHEN attempts >= 4 * threshold THEN 'large_scan' END,
                    CASE WHEN admin THEN 'admin_ports' END], lambda x: x IS NOT NULL) AS signals,
       evidence,
       attempts AS evidence_count,
       scan_type, attempts, hosts, ports, src_scope, top_ports
FROM scored
WHERE attempts >= threshold
ORDER BY ts_start, host
