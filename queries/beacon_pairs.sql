-- name = "beacon_pairs"
-- title = "Beacons: connections between a pair repeating on a regular schedule"
-- kind = "detection"
-- phase = "tunnel"
-- attack = ["T1071", "T1572"]
-- description = """
-- A RITA-style beacon score per source/destination address pair over the case's time span
-- (re-derived from the published method, not copied): the mean of four parts, each 0..1.
-- interval: gaps between connections (zero gaps dropped): 1 - |Bowley skew| (skew counted
-- only when Q3 - Q1 >= 10 s) averaged with the dispersion (median - MAD) / median;
-- size: the same on the bytes the source sent per connection (orig_ip_bytes, else
-- orig_bytes; no 10 s rule); histogram: the pair's connections in `bins` equal bins over
-- the case span, 1 - coefficient of variation of the bin counts (0 above 1; RITA's bimodal
-- variant is not implemented); duration: max(coverage of the case span by the pair's first
-- to last connection, longest run of consecutive active hours / 12).
-- By default only pairs whose destination is outside the cluster are scored, as RITA does:
-- schedulers, monitoring and training heartbeats beacon inside a cluster all day. Set
-- include_internal to score internal pairs too (an internal relay); allowlisted
-- destinations are skipped unless include_allowed.
-- """
--
-- [tables.zeek_conn]
-- required = true
-- columns = ["ts TIMESTAMPTZ", "id_orig_h VARCHAR", "id_resp_h VARCHAR",
--            "orig_bytes UBIGINT", "orig_ip_bytes UBIGINT", "evidence_id INTEGER",
--            "line_no BIGINT"]
-- [tables.addr_scope]
-- columns = ["ip VARCHAR", "scope VARCHAR"]
--
-- [params.min_connections]
-- type = "int"
-- default = 4
-- min = 3
-- meaning = "distinct connection times a pair needs before it is scored (RITA: 4)"
-- [params.min_score]
-- type = "float"
-- default = 0.7
-- min = 0
-- max = 1
-- meaning = "beacon score from which a pair is reported (RITA grades 0.5 / 0.7 / 0.9 / 1.0)"
-- [params.bins]
-- type = "int"
-- default = 24
-- min = 2
-- meaning = "histogram bins over the case span"
-- [params.include_allowed]
-- type = "bool"
-- default = false
-- meaning = "also score pairs whose destination is allowlisted egress"
-- [params.include_internal]
-- type = "bool"
-- default = false
-- meaning = "also score pairs whose destination is internal or a sandbox"
--
-- [output]
-- columns = [
--   "dst_ip VARCHAR: the destination of the pair",
--   "dst_scope VARCHAR: its scope (external, internal, sandbox, allowed_egress)",
--   "connections BIGINT: connections from source to destination",
--   "interval_score DOUBLE: regularity of the gaps, 0..1",
--   "size_score DOUBLE: regularity of the bytes sent, 0..1",
--   "histogram_score DOUBLE: evenness over the span, 0..1",
--   "duration_score DOUBLE: persistence over the span, 0..1",
--   "median_interval_s DOUBLE: median gap between connections, seconds",
-- ]

WITH conns AS (
    SELECT id_orig_h AS src, id_resp_h AS dst, ts, epoch(ts) AS t,
           coalesce(orig_ip_bytes, orig_bytes, 0)::DOUBLE AS bytes, evidence_id, line_no
    FROM zeek_conn
    WHERE ts IS NOT NULL AND id_orig_h IS NOT NULL AND id_resp_h IS NOT NULL
),
span AS (
    SELECT min(t) AS t0, greatest(max(t) - min(t), 1) AS secs FROM conns
),
candidates AS (
    -- a cheap count first: most pairs of a large case have only a few connections
    SELECT src, dst FROM conns GROUP BY src, dst HAVING count(*) >= $min_connections
),
pairs AS (
    -- enough distinct times to say anything, and not an allowlisted destination
    SELECT c.src, c.dst, any_value(d.scope) AS dst_scope
    FROM conns c SEMI JOIN candidates k ON k.src = c.src AND k.dst = c.dst
    JOIN addr_scope d ON d.ip = c.dst
    WHERE ($include_allowed OR d.scope <> 'allowed_egress')
      AND ($include_internal OR d.scope NOT IN ('internal', 'sandbox'))
    GROUP BY c.src, c.dst
    HAVING count(DISTINCT c.t) >= $min_connections
),
pc AS (
    SELECT c.*, p.dst_scope FROM conns c JOIN pairs p USING (src, dst)
),
gaps AS (
    SELECT src, dst, bytes, t - lag(t) OVER (PARTITION BY src, dst ORDER BY t) AS gap
    FROM pc
),
-- quartiles and median absolute deviation of gaps and of sizes
q AS (
    SELECT src, dst,
           quantile_cont(gap, [0.25, 0.5, 0.75]) FILTER (gap > 0) AS gq,
           quantile_cont(bytes, [0.25, 0.5, 0.75]) AS bq
    FROM gaps GROUP BY src, dst
),
mad AS (
    SELECT g.src, g.dst,
           median(abs(g.gap - q.gq[2])) FILTER (g.gap > 0) AS gmad,
           median(abs(g.bytes - q.bq[2])) AS bmad
    FROM gaps g JOIN q USING (src, dst) GROUP BY g.src, g.dst
),
parts AS (
    SELECT q.src, q.dst,
           -- Bowley skew only when the quartiles are 10 s apart (RITA); else no skew
           CASE WHEN q.gq[3] - q.gq[1] >= 10
                THEN 1 - abs((q.gq[1] + q.gq[3] - 2 * q.gq[2]) / (q.gq[3] - q.gq[1]))
                ELSE 1 END AS g_skew,
           CASE WHEN q.gq[2] > 0 THEN greatest(0, least(1, (q.gq[2] - m.gmad) / q.gq[2]))
                ELSE 0 END AS g_disp,
           CASE WHEN q.bq[3] - q.bq[1] > 0
                THEN 1 - abs((q.bq[1] + q.bq[3] - 2 * q.bq[2]) / (q.bq[3] - q.bq[1]))
                ELSE 1 END AS b_skew,
           CASE WHEN q.bq[2] > 0 THEN greatest(0, least(1, (q.bq[2] - m.bmad) / q.bq[2]))
                ELSE 0 END AS b_disp,
           q.gq[2] AS median_gap
    FROM q JOIN mad m USING (src, dst)
),
bins AS (
    SELECT pc.src, pc.dst,
           least($bins - 1, floor((pc.t - span.t0) / span.secs * $bins))::INTEGER AS bin,
           count(*) AS n
    FROM pc, span GROUP BY ALL
),
hist AS (
    -- coefficient of variation over all bins, empty bins included as zeros
    SELECT src, dst, sum(n) / $bins AS mean_n,
           sqrt(greatest(0, sum(n * n) / $bins - pow(sum(n) / $bins, 2))) AS sd_n
    FROM bins GROUP BY src, dst
),
hours AS (
    SELECT DISTINCT src, dst, floor(t / 3600)::BIGINT AS h FROM pc
),
runs AS (
    -- longest run of consecutive active hours (gaps and islands)
    SELECT src, dst, max(len) AS longest_run FROM (
        SELECT src, dst, count(*) AS len FROM (
            SELECT src, dst, h - row_number() OVER (PARTITION BY src, dst ORDER BY h) AS island
            FROM hours)
        GROUP BY src, dst, island)
    GROUP BY src, dst
),
agg AS (
    SELECT src, dst, any_value(dst_scope) AS dst_scope, min(ts) AS ts_start, max(ts) AS ts_end,
           (max(t) - min(t)) AS covered, count(*) AS connections,
           evidence_list('zeek_conn', evidence_id, line_no, ts) AS evidence
    FROM pc GROUP BY src, dst
),
scored AS (
    SELECT a.*, p.median_gap,
           (p.g_skew + p.g_disp) / 2 AS interval_score,
           (p.b_skew + p.b_disp) / 2 AS size_score,
           CASE WHEN h.mean_n > 0 THEN greatest(0, 1 - h.sd_n / h.mean_n) ELSE 0 END
               AS histogram_score,
           least(1, greatest(a.covered / span.secs, r.longest_run / 12.0)) AS duration_score
    FROM agg a JOIN parts p USING (src, dst) JOIN hist h USING (src, dst)
    JOIN runs r USING (src, dst), span
)
SELECT src AS host,
       'tunnel' AS phase,
       'T1071,T1572' AS technique,
       ts_start, ts_end,
       ((interval_score + size_score + histogram_score + duration_score) / 4)::DOUBLE AS score,
       finding_severity(score) AS severity,
       printf('%s -> %s (%s) beacons: %d connections, median gap %.0f s, score %.2f',
              src, dst, dst_scope, connections, median_gap, score) AS summary,
       list_filter([
           CASE WHEN interval_score >= 0.8 THEN 'regular_intervals' END,
           CASE WHEN size_score >= 0.8 THEN 'regular_sizes' END,
           CASE WHEN histogram_score >= 0.8 THEN 'spread_over_span' END,
           CASE WHEN duration_score >= 0.8 THEN 'persistent' END,
           CASE WHEN dst_scope = 'external' THEN 'external_destination' END
       ], lambda x: x IS NOT NULL) AS signals,
       evidence,
       connections AS evidence_count,
       dst AS dst_ip, dst_scope, connections,
       interval_score::DOUBLE AS interval_score, size_score::DOUBLE AS size_score,
       histogram_score::DOUBLE AS histogram_score, duration_score::DOUBLE AS duration_score,
       median_gap::DOUBLE AS median_interval_s
FROM scored
WHERE (interval_score + size_score + histogram_score + duration_score) / 4 >= $min_score
ORDER BY score DESC, host, dst_ip
