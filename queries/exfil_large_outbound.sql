-- name = "exfil_large_outbound"
-- title = "Large one-way uploads from sandboxes to outside servers"
-- kind = "detection"
-- phase = "exfiltration"
-- attack = ["T1048", "T1567"]
-- description = """
-- Per (sandbox host, external non-allowlisted destination): total bytes sent, from Zeek
-- conn and firewall flows (the `flows` view). Reported when the bytes out reach min_bytes
-- and outweigh the bytes in by min_ratio (an upload, not a download with chatter).
-- Signals: large_upload (0.4), very_large_upload (ten times min_bytes, 0.3), one_way
-- (ratio at or above min_ratio, 0.2), many_connections (at least 10, 0.1).
-- """
--
-- [tables.flows]
-- columns = ["ts TIMESTAMPTZ", "source VARCHAR", "src_ip VARCHAR", "dst_ip VARCHAR",
--            "dst_port INTEGER", "bytes_out UBIGINT", "bytes_in UBIGINT", "action VARCHAR",
--            "evidence_id INTEGER", "line_no BIGINT"]
-- [tables.addr_scope]
-- columns = ["ip VARCHAR", "scope VARCHAR", "host_name VARCHAR"]
--
-- [params.min_bytes]
-- type = "int"
-- default = 100000000
-- min = 1
-- meaning = "bytes sent to one destination from which a pair is reported"
-- [params.min_ratio]
-- type = "float"
-- default = 10.0
-- min = 1
-- meaning = "bytes out per byte in from which the transfer is one-way"
-- [params.source_scopes]
-- type = "str_list"
-- default = ["sandbox"]
-- meaning = "scopes of the hosts watched"
--
-- [output]
-- columns = [
--   "dst_ip VARCHAR: the destination",
--   "ports INTEGER[]: destination ports (up to ten)",
--   "bytes_out UBIGINT: bytes sent",
--   "bytes_in UBIGINT: bytes received",
--   "connections BIGINT: flows in the pair",
-- ]

WITH pairs AS (
    SELECT src_ip AS src, dst_ip AS dst, min(ts) AS ts_start, max(ts) AS ts_end,
           sum(coalesce(bytes_out, 0))::UBIGINT AS bytes_out,
           sum(coalesce(bytes_in, 0))::UBIGINT AS bytes_in, count(*) AS connections
    FROM flows
    WHERE coalesce(action, 'allow') NOT IN ('deny', 'drop', 'reject', 'unanswered')
    GROUP BY src_ip, dst_ip
    HAVING sum(coalesce(bytes_out, 0)) >= $min_bytes
),
kept AS (
    SELECT p.*, s.host_name,
           p.bytes_out >= $min_ratio * greatest(p.bytes_in, 1) AS one_way
    FROM pairs p
    JOIN addr_scope s ON s.ip = p.src AND list_contains($source_scopes, s.scope)
    JOIN addr_scope d ON d.ip = p.dst AND d.scope = 'external'
),
scored AS (
    -- evidence only for the pairs that qualified
    SELECT k.*, e.evidence, e.ports FROM kept k JOIN (
        SELECT f.src_ip AS src, f.dst_ip AS dst,
               evidence_list(f.source, f.evidence_id, f.line_no, f.ts) AS evidence,
               list_sort(list_distinct(list(f.dst_port)))[1:10] AS ports
        FROM flows f SEMI JOIN kept k ON k.src = f.src_ip AND k.dst = f.dst_ip
        WHERE coalesce(f.action, 'allow') NOT IN ('deny', 'drop', 'reject', 'unanswered')
        GROUP BY ALL) e USING (src, dst)
)
SELECT src AS host,
       'exfiltration' AS phase,
       'T1048' AS technique,
       ts_start, ts_end,
       least(1.0, 0.4 + 0.3 * (bytes_out >= 10 * $min_bytes)::INT + 0.2 * one_way::INT
                  + 0.1 * (connections >= 10)::INT)::DOUBLE AS score,
       finding_severity(score) AS severity,
       printf('%s%s sent %s to %s (received %s) over %d flow(s)', src,
              coalesce(' (' || host_name || ')', ''), format_bytes(bytes_out::BIGINT), dst,
              format_bytes(bytes_in::BIGINT), connections) AS summary,
       list_filter(['large_upload',
                    CASE WHEN bytes_out >= 10 * $min_bytes THEN 'very_large_upload' END,
                    CASE WHEN one_way THEN 'one_way' END,
                    CASE WHEN connections >= 10 THEN 'many_connections' END],
                   lambda x: x IS NOT NULL) AS signals,
       evidence, connections AS evidence_count,
       dst AS dst_ip, ports, bytes_out, bytes_in, connections
FROM scored
WHERE one_way
ORDER BY ts_start, host
