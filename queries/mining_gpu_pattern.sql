-- name = "mining_gpu_pattern"
-- title = "GPU busy like a miner: flat sustained load, no training rhythm, odd processes"
-- kind = "detection"
-- phase = "mining"
-- attack = ["T1496.001", "T1496"]
-- description = """
-- Per GPU (host and uuid, else index), telemetry is cut into windows of window_minutes.
-- A window is busy when nearly all its samples are at or above busy_pct; a busy window is
-- flat when power and memory barely move (coefficient of variation at or below the
-- limits) and rhythmless when utilisation never dips by more than dip_pct (training steps
-- show eval, data-loading and checkpoint dips; a hash loop does not). Signals:
-- sustained_high_util (a run of busy windows of at least min_minutes), flat_power,
-- no_training_rhythm, miner_process (a GPU process named like a miner) and
-- unexplained_process (a GPU process not in expected_processes: the stand-in for the
-- scheduler's job list until job records are loaded). Thresholds are calibration
-- starting points, not measured on real mining: tune them on the case.
-- """
--
-- [tables.gpu_samples]
-- columns = ["ts TIMESTAMPTZ", "host VARCHAR", "gpu_index INTEGER", "gpu_uuid VARCHAR",
--            "utilization_gpu_pct DOUBLE", "memory_used_mib DOUBLE", "power_w DOUBLE",
--            "evidence_id INTEGER", "line_no BIGINT"]
-- [tables.gpu_processes]
-- columns = ["ts TIMESTAMPTZ", "host VARCHAR", "gpu_index INTEGER", "gpu_uuid VARCHAR",
--            "pid BIGINT", "process_name VARCHAR", "evidence_id INTEGER", "line_no BIGINT"]
--
-- [params.window_minutes]
-- type = "int"
-- default = 120
-- min = 1
-- meaning = "telemetry window length: long enough to hold a training job's checkpoint dip (hourly is common) and four samples of 20-minute nvidia-smi polling"
-- [params.min_samples]
-- type = "int"
-- default = 4
-- min = 2
-- meaning = "samples a window needs to be judged"
-- [params.busy_pct]
-- type = "float"
-- default = 90.0
-- min = 0
-- max = 100
-- meaning = "utilisation (percent) at or above which a sample is busy"
-- [params.dip_pct]
-- type = "float"
-- default = 20.0
-- min = 0
-- max = 100
-- meaning = "a dip below busy_pct - dip_pct in a window is a training rhythm"
-- [params.max_power_cv]
-- type = "float"
-- default = 0.05
-- min = 0
-- meaning = "power coefficient of variation at or below which a busy window is flat"
-- [params.max_memory_cv]
-- type = "float"
-- default = 0.02
-- min = 0
-- meaning = "memory-used coefficient of variation at or below which a busy window is flat"
-- [params.min_minutes]
-- type = "int"
-- default = 60
-- min = 1
-- meaning = "consecutive busy minutes that make sustained_high_util"
-- [params.miner_process_regex]
-- type = "str"
-- default = "(?i)(xmrig|xmr-stak|t-rex|\\btrex\\b|lolminer|nbminer|phoenixminer|ethminer|gminer|nanominer|teamredminer|srbminer|ccminer|cgminer|bfgminer|nheqminer|excavator|cpuminer)"
-- meaning = "RE2 pattern of miner process names"
-- [params.expected_processes]
-- type = "str_list"
-- default = ["python", "python3", "torchrun", "pt_main_thread", "deepspeed", "accelerate", "tritonserver", "vllm", "ray::", "nvidia-smi", "dcgm"]
-- meaning = "process names (prefix of the base name) the cluster's jobs explain"
--
-- [output]
-- columns = [
--   "gpu VARCHAR: GPU uuid or index",
--   "busy_minutes DOUBLE: longest run of busy windows, minutes",
--   "flat_windows BIGINT: busy windows with flat power and memory",
--   "mean_util DOUBLE: mean utilisation over busy windows, percent",
--   "processes VARCHAR[]: GPU processes that fired a signal",
-- ]

WITH s AS (
    SELECT *, coalesce(gpu_uuid, gpu_index::VARCHAR) AS gpu,
           time_bucket(to_minutes($window_minutes), ts) AS win
    FROM gpu_samples
    WHERE ts IS NOT NULL AND host IS NOT NULL AND utilization_gpu_pct IS NOT NULL
),
windows AS (
    SELECT host, gpu, win, count(*) AS n, avg(utilization_gpu_pct) AS util,
           avg((utilization_gpu_pct >= $busy_pct)::INT) AS busy_frac,
           min(utilization_gpu_pct) AS min_util,
           stddev_pop(power_w) / nullif(avg(power_w), 0) AS power_cv,
           stddev_pop(memory_used_mib) / nullif(avg(memory_used_mib), 0) AS mem_cv
    FROM s GROUP BY host, gpu, win
),
judged AS (
    SELECT *, n >= $min_samples AND busy_frac >= 0.95 AS busy,
           coalesce(power_cv <= $max_power_cv, false)
               AND coalesce(mem_cv <= $max_memory_cv, true) AS flat,
           min_util >= $busy_pct - $dip_pct AS rhythmless
    FROM windows
),
runs AS (
    -- consecutive busy windows (gaps and islands on the window index)
    SELECT host, gpu, max(len) * $window_minutes AS busy_minutes FROM (
        SELECT host, gpu, count(*) AS len FROM (
            SELECT host, gpu,
                   epoch(win) // ($window_minutes * 60)
                   - row_number() OVER (PARTITION BY host, gpu ORDER BY win) AS island
            FROM judged WHERE busy)
        GROUP BY host, gpu, island)
    GROUP BY host, gpu
),
per_gpu AS (
    SELECT j.host, j.gpu, coalesce(r.busy_minutes, 0)::DOUBLE AS busy_minutes,
           count(*) FILTER (busy AND flat) AS flat_windows,
           count(*) FILTER (busy) AS busy_windows,
           count(*) FILTER (busy AND rhythmless) AS rhythmless_windows,
           avg(util) FILTER (busy) AS mean_util
    FROM judged j LEFT JOIN runs r USING (host, gpu)
    GROUP BY j.host, j.gpu, r.busy_minutes
),
procs AS (
    SELECT *, coalesce(gpu_uuid, gpu_index::VARCHAR) AS gpu,
           regexp_matches(process_name, $miner_process_regex) AS miner,
           NOT list_bool_or(list_transform($expected_processes,
               lambda e: starts_with(lower(regexp_replace(process_name, '^.*/', '')), lower(e))))
               AS unexplained
    FROM gpu_processes WHERE host IS NOT NULL AND process_name IS NOT NULL
),
proc_hits AS (
    SELECT host, gpu, bool_or(miner) AS miner, bool_or(unexplained) AS unexplained,
           list_sort(list_distinct(list(process_name))) AS processes
    FROM procs WHERE miner OR unexplained GROUP BY host, gpu
),
flagged AS (
    SELECT coalesce(g.host, p.host) AS host, coalesce(g.gpu, p.gpu) AS gpu,
           coalesce(g.busy_minutes, 0) AS busy_minutes, coalesce(g.flat_windows, 0) AS flat_windows,
           g.mean_util, coalesce(p.processes, []) AS processes,
           coalesce(g.busy_minutes >= $min_minutes, false) AS sustained,
           coalesce(g.busy_windows > 0 AND g.flat_windows >= 0.8 * g.busy_windows, false) AS flat,
           coalesce(g.busy_windows > 0 AND g.rhythmless_windows = g.busy_windows, false)
               AS rhythmless,
           coalesce(p.miner, false) AS miner, coalesce(p.unexplained, false) AS unexplained
    FROM per_gpu g FULL JOIN proc_hits p ON p.host = g.host AND p.gpu IS NOT DISTINCT FROM g.gpu
),
scored AS (
    -- flat and rhythmless only count on a sustained load; a process signal counts alone
    SELECT *, list_filter([
               CASE WHEN sustained THEN 'sustained_high_util' END,
               CASE WHEN sustained AND flat THEN 'flat_power' END,
               CASE WHEN sustained AND rhythmless THEN 'no_training_rhythm' END,
               CASE WHEN miner THEN 'miner_process' END,
               CASE WHEN unexplained THEN 'unexplained_process' END],
               lambda x: x IS NOT NULL) AS signals
    FROM flagged
),
ev_rows AS (
    SELECT s.host, s.gpu, s.ts, 'gpu_samples' AS tbl, s.evidence_id, s.line_no
    FROM s JOIN judged j USING (host, gpu, win) WHERE j.busy
    UNION ALL
    SELECT host, gpu, ts, 'gpu_processes', evidence_id, line_no FROM procs
    WHERE miner OR unexplained
),
ev AS (
    SELECT host, gpu, min(ts) AS ts_start, max(ts) AS ts_end, count(*) AS n,
           evidence_list(tbl, evidence_id, line_no, ts) AS evidence
    FROM ev_rows GROUP BY host, gpu
)
SELECT x.host,
       'mining' AS phase,
       'T1496.001' AS technique,
       e.ts_start, e.ts_end,
       least(1.0, 0.25 * x.sustained::INT + 0.2 * list_contains(x.signals, 'flat_power')::INT
                  + 0.15 * list_contains(x.signals, 'no_training_rhythm')::INT
                  + 0.5 * x.miner::INT + 0.2 * x.unexplained::INT)::DOUBLE AS score,
       finding_severity(score) AS severity,
       printf('GPU %s on %s: %s', x.gpu, x.host, array_to_string(list_concat(
           CASE WHEN x.sustained THEN [printf('busy %.0f min at %.0f%%', x.busy_minutes,
                                              x.mean_util)] ELSE [] END,
           list_transform(x.processes[1:3], lambda p: 'process ' || p)), ', ')) AS summary,
       x.signals, e.evidence, e.n AS evidence_count,
       x.gpu, x.busy_minutes, x.flat_windows, x.mean_util::DOUBLE AS mean_util, x.processes
FROM scored x JOIN ev e ON e.host = x.host AND e.gpu IS NOT DISTINCT FROM x.gpu
WHERE len(x.signals) > 0
ORDER BY ts_start, host, gpu
