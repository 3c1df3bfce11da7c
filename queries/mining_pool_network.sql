-- name = "mining_pool_network"
-- title = "Mining-pool traffic: pool names in DNS, TLS and HTTP; pool ports; stratum cadence"
-- kind = "detection"
-- phase = "mining"
-- attack = ["T1496"]
-- description = """
-- Per internal host, the network marks of a miner talking to its pool: DNS queries, TLS
-- SNI or HTTP Host names on the pool list (ref_pool_domains, subdomains included) or with a
-- pool-like label (ref_pool_name_keywords, weaker); stratum URLs in HTTP; flows to an
-- address a pool name resolved to; flows to external destinations on a pool port
-- (ref_pool_ports; weak ports count little); and a stratum-like session: long-lived to a
-- pool port or pool address with small packets (share submits and keepalives).
-- Weights: pool DNS / SNI 0.4, HTTP 0.3, resolved pool address 0.3, strong pool port 0.2,
-- pool-like name 0.15, stratum cadence 0.2, weak pool port 0.05.
-- """
--
-- [tables.zeek_dns]
-- required = false
-- columns = ["ts TIMESTAMPTZ", "id_orig_h VARCHAR", "query VARCHAR", "answers VARCHAR[]",
--            "evidence_id INTEGER", "line_no BIGINT"]
-- [tables.zeek_ssl]
-- required = false
-- columns = ["ts TIMESTAMPTZ", "id_orig_h VARCHAR", "id_resp_h VARCHAR", "server_name VARCHAR",
--            "evidence_id INTEGER", "line_no BIGINT"]
-- [tables.zeek_http]
-- required = false
-- columns = ["ts TIMESTAMPTZ", "id_orig_h VARCHAR", "host VARCHAR", "uri VARCHAR",
--            "evidence_id INTEGER", "line_no BIGINT"]
-- [tables.flows]
-- columns = ["ts TIMESTAMPTZ", "source VARCHAR", "src_ip VARCHAR", "dst_ip VARCHAR",
--            "dst_port INTEGER", "duration_s DOUBLE", "bytes_out UBIGINT", "bytes_in UBIGINT",
--            "packets_out UBIGINT", "packets_in UBIGINT", "action VARCHAR",
--            "evidence_id INTEGER", "line_no BIGINT"]
-- [tables.ref_pool_domains]
-- columns = ["domain VARCHAR", "coin VARCHAR"]
-- [tables.ref_pool_ports]
-- columns = ["port BIGINT", "strength VARCHAR"]
-- [tables.ref_pool_name_keywords]
-- columns = ["label VARCHAR"]
-- [tables.addr_scope]
-- columns = ["ip VARCHAR", "scope VARCHAR", "host_name VARCHAR"]
--
-- [params.min_score]
-- type = "float"
-- default = 0.2
-- min = 0
-- max = 1
-- meaning = "score from which a host is reported"
-- [params.min_session_s]
-- type = "float"
-- default = 600.0
-- min = 0
-- meaning = "a pool session at least this long can show a stratum cadence"
-- [params.max_avg_packet]
-- type = "float"
-- default = 400.0
-- min = 1
-- meaning = "mean bytes per packet at or below which a long pool session looks like stratum"
--
-- [output]
-- columns = [
--   "pool_names VARCHAR[]: pool names queried or contacted",
--   "pool_ips VARCHAR[]: pool addresses contacted (up to ten)",
--   "pool_ports INTEGER[]: pool ports contacted (up to ten)",
-- ]

WITH names AS (
    -- every name a host looked up or contacted, with where it was seen
    SELECT ts, id_orig_h AS src, query AS name, 'dns' AS via, answers,
           'zeek_dns' AS tbl, evidence_id, line_no
    FROM zeek_dns WHERE query IS NOT NULL
    UNION ALL
    SELECT ts, id_orig_h, server_name, 'sni', [id_resp_h], 'zeek_ssl', evidence_id, line_no
    FROM zeek_ssl WHERE server_name IS NOT NULL AND server_name <> ''
    UNION ALL
    SELECT ts, id_orig_h, split_part(host, ':', 1), 'http', NULL, 'zeek_http', evidence_id, line_no
    FROM zeek_http WHERE host IS NOT NULL
),
listed AS (
    SELECT n.*, 'listed' AS how FROM names n
    WHERE EXISTS (SELECT 1 FROM ref_pool_domains r
                  WHERE list_contains(domain_suffixes(n.name), lower(r.domain)))
),
pool_like AS (
    SELECT n.*, 'pool_like' AS how FROM names n
    WHERE NOT EXISTS (SELECT 1 FROM listed l WHERE l.tbl = n.tbl AND l.evidence_id = n.evidence_id
                      AND l.line_no = n.line_no)
      AND EXISTS (SELECT 1 FROM ref_pool_name_keywords k
                  WHERE list_contains(string_split(lower(n.name), '.'), k.label))
),
name_hits AS (
    SELECT * FROM listed UNION ALL SELECT * FROM pool_like
),
stratum_uris AS (
    SELECT ts, id_orig_h AS src, 'zeek_http' AS tbl, evidence_id, line_no
    FROM zeek_http WHERE uri ILIKE '%stratum%+%://%' OR uri ILIKE '%mining.subscribe%'
),
pool_ips AS (
    SELECT DISTINCT unnest(answers) AS ip FROM name_hits WHERE answers IS NOT NULL
),
pool_flows AS (
    -- flows from internal hosts to a pool address or to an external pool port
    SELECT f.ts, f.source AS tbl, f.evidence_id, f.line_no, f.src_ip AS src, f.dst_ip, f.dst_port,
           f.duration_s, coalesce(f.bytes_out, 0) + coalesce(f.bytes_in, 0) AS bytes,
           coalesce(f.packets_out, 0) + coalesce(f.packets_in, 0) AS packets,
           f.dst_ip IN (SELECT ip FROM pool_ips) AS to_pool_ip, p.strength
    FROM flows f
    LEFT JOIN ref_pool_ports p ON p.port = f.dst_port
    JOIN addr_scope d ON d.ip = f.dst_ip AND d.scope = 'external'
    WHERE coalesce(f.action, 'allow') NOT IN ('deny', 'drop', 'reject')
      AND (p.port IS NOT NULL OR f.dst_ip IN (SELECT ip FROM pool_ips))
),
signals_by_host AS (
    SELECT src,
           bool_or(via = 'dns' AND how = 'listed') AS pool_dns,
           bool_or(via = 'sni' AND how = 'listed') AS pool_sni,
           bool_or(via = 'http' AND how = 'listed') AS pool_http,
           bool_or(how = 'pool_like') AS pool_like,
           NULL::BOOLEAN AS pool_ip, NULL::BOOLEAN AS strong_port, NULL::BOOLEAN AS weak_port,
           NULL::BOOLEAN AS cadence,
           list_distinct(list(lower(name))) AS pool_names, NULL::VARCHAR[] AS ips,
           NULL::INTEGER[] AS ports
    FROM name_hits GROUP BY src
    UNION ALL
    SELECT src, NULL, NULL, true, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
    FROM stratum_uris GROUP BY src
    UNION ALL
    SELECT src, NULL, NULL, NULL, NULL, bool_or(to_pool_ip), bool_or(strength = 'strong'),
           bool_or(strength = 'weak'),
           bool_or(duration_s >= $min_session_s AND packets > 0
                   AND bytes / packets <= $max_avg_packet),
           NULL, list_distinct(list(dst_ip)), list_distinct(list(dst_port) FILTER (strength IS NOT NULL))
    FROM pool_flows GROUP BY src
),
evidence_rows AS (
    SELECT src, ts, tbl, evidence_id, line_no FROM name_hits
    UNION ALL SELECT src, ts, tbl, evidence_id, line_no FROM stratum_uris
    UNION ALL SELECT src, ts, tbl, evidence_id, line_no FROM pool_flows
),
ev AS (
    SELECT src, min(ts) AS ts_start, max(ts) AS ts_end, count(*) AS n,
           evidence_list(tbl, evidence_id, line_no, ts) AS evidence
    FROM evidence_rows GROUP BY src
),
per_host AS (
    SELECT src, coalesce(bool_or(pool_dns), false) AS pool_dns,
           coalesce(bool_or(pool_sni), false) AS pool_sni,
           coalesce(bool_or(pool_http), false) AS pool_http,
           coalesce(bool_or(pool_like), false) AS pool_like,
           coalesce(bool_or(pool_ip), false) AS pool_ip,
           coalesce(bool_or(strong_port), false) AS strong_port,
           coalesce(bool_or(weak_port), false) AS weak_port,
           coalesce(bool_or(cadence), false) AS cadence,
           list_sort(list_distinct(flatten(list(pool_names) FILTER (pool_names IS NOT NULL))))
               AS pool_names,
           list_sort(list_distinct(flatten(list(ips) FILTER (ips IS NOT NULL))))[1:10] AS pool_ips,
           list_sort(list_distinct(flatten(list(ports) FILTER (ports IS NOT NULL))))[1:10]
               AS pool_ports
    FROM signals_by_host GROUP BY src
),
scored AS (
    SELECT p.*, e.ts_start, e.ts_end, e.n, e.evidence, s.host_name,
           least(1.0, 0.4 * pool_dns::INT + 0.4 * pool_sni::INT + 0.3 * pool_http::INT
                 + 0.3 * pool_ip::INT + 0.2 * strong_port::INT + 0.15 * pool_like::INT
                 + 0.2 * cadence::INT + 0.05 * weak_port::INT)::DOUBLE AS score
    FROM per_host p JOIN ev e USING (src)
    JOIN addr_scope s ON s.ip = p.src AND s.scope IN ('internal', 'sandbox')
)
SELECT src AS host,
       'mining' AS phase,
       'T1496' AS technique,
       ts_start, ts_end, score,
       finding_severity(score) AS severity,
       printf('%s%s talks to mining pools: %s', src, coalesce(' (' || host_name || ')', ''),
              array_to_string(list_concat(pool_names[1:3],
                  list_transform(pool_ports[1:3], lambda p: 'port ' || p)), ', ')) AS summary,
       list_filter([CASE WHEN pool_dns THEN 'pool_dns' END, CASE WHEN pool_sni THEN 'pool_sni' END,
                    CASE WHEN pool_http THEN 'pool_http' END,
                    CASE WHEN pool_like THEN 'pool_like_name' END,
                    CASE WHEN pool_ip THEN 'resolved_pool_address' END,
                    CASE WHEN strong_port THEN 'pool_port' END,
                    CASE WHEN weak_port THEN 'weak_pool_port' END,
                    CASE WHEN cadence THEN 'stratum_cadence' END],
                   lambda x: x IS NOT NULL) AS signals,
       evidence, n AS evidence_count,
       coalesce(pool_names, []) AS pool_names, coalesce(pool_ips, []) AS pool_ips,
       coalesce(pool_ports, []) AS pool_ports
FROM scored
WHERE score >= $min_score
ORDER BY ts_start, host
