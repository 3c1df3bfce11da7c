-- name = "attr_command_pacing"
-- title = "Attribution: how commands were paced, machine (regular, seconds) or human (irregular, typos)"
-- kind = "question"
-- phase = "access"
-- attack = ["T1059.004"]
-- description = """
-- Per host, actor, run and episode of the agent logs (and any other command log loaded
-- into agent_actions), the gaps between consecutive commands: their median, their
-- coefficient of variation (stddev / mean), the share under one second, and corrections
-- (a command that differs from the one before by one to three characters, or follows a
-- "command not found" exit 127: typos put right). A tool-calling agent issues commands
-- seconds apart at a steady rate; a person types, reads, pauses for minutes and corrects.
-- machine_paced: actor 'agent', median gap at most machine_max_median_s and variation at
-- most machine_max_cv. human_paced: actor not 'agent' or corrections, with a median gap of
-- at least human_min_median_s or variation above machine_max_cv.
-- """
--
-- [tables.agent_actions]
-- columns = ["ts TIMESTAMPTZ", "run_id VARCHAR", "trajectory_id VARCHAR", "host VARCHAR",
--            "actor VARCHAR", "command VARCHAR", "exit_code INTEGER", "evidence_id INTEGER",
--            "line_no BIGINT"]
-- [tables.hosts]
-- columns = ["address VARCHAR", "name VARCHAR"]
--
-- [params.min_commands]
-- type = "int"
-- default = 4
-- min = 2
-- meaning = "commands a session needs to be judged"
-- [params.machine_max_median_s]
-- type = "float"
-- default = 10.0
-- min = 0
-- meaning = "median gap (seconds) at or under which a steady session is machine-paced"
-- [params.machine_max_cv]
-- type = "float"
-- default = 1.0
-- min = 0
-- meaning = "gap variation (stddev / mean) at or under which a session is regular"
-- [params.human_min_median_s]
-- type = "float"
-- default = 20.0
-- min = 0
-- meaning = "median gap (seconds) at or over which a session looks typed by hand"
--
-- [output]
-- columns = [
--   "host VARCHAR: the host's address (mapped through the case's hosts)",
--   "host_name VARCHAR: the host as the log names it",
--   "actor VARCHAR: agent, user, ...",
--   "run_id VARCHAR: training run",
--   "trajectory_id VARCHAR: episode or session",
--   "ts_start TIMESTAMPTZ: first command",
--   "ts_end TIMESTAMPTZ: last command",
--   "commands BIGINT: commands in the session",
--   "median_gap_s DOUBLE: median gap between commands, seconds",
--   "gap_cv DOUBLE: stddev / mean of the gaps",
--   "subsecond_share DOUBLE: share of gaps under one second",
--   "corrections BIGINT: commands that correct the one before",
--   "machine_paced BOOLEAN: steady, seconds apart, by the agent",
--   "human_paced BOOLEAN: irregular or slow, with corrections or a human actor",
--   "evidence STRUCT(\"table\" VARCHAR, evidence_id INTEGER, line_no BIGINT)[]: the session's commands (first 50)",
-- ]

WITH acts AS (
    SELECT a.*, coalesce(h.address, a.host) AS addr
    FROM agent_actions a LEFT JOIN hosts h ON h.name = a.host OR h.address = a.host
    WHERE a.ts IS NOT NULL AND a.command IS NOT NULL
),
gaps AS (
    SELECT *,
           epoch(ts) - epoch(lag(ts) OVER w) AS gap,
           lag(command) OVER w AS prev_command, lag(exit_code) OVER w AS prev_exit
    FROM acts
    WINDOW w AS (PARTITION BY addr, actor, run_id, trajectory_id ORDER BY ts, line_no)
),
sessions AS (
    SELECT addr AS host, any_value(host) AS host_name, actor, run_id, trajectory_id,
           min(ts) AS ts_start, max(ts) AS ts_end, count(*) AS commands,
           median(gap) AS median_gap_s,
           stddev_pop(gap) / nullif(avg(gap), 0) AS gap_cv,
           avg((gap < 1)::INT) AS subsecond_share,
           count(*) FILTER (prev_command IS NOT NULL AND command <> prev_command
                            AND gap <= 300
                            AND (levenshtein(command, prev_command) <= 3 OR prev_exit = 127))
               AS corrections,
           evidence_list('agent_actions', evidence_id, line_no, ts) AS evidence
    FROM gaps GROUP BY addr, actor, run_id, trajectory_id
)
SELECT host, host_name, actor, run_id, trajectory_id, ts_start, ts_end, commands,
       median_gap_s, gap_cv, subsecond_share, corrections,
       coalesce(actor = 'agent' AND median_gap_s <= $machine_max_median_s
                AND gap_cv <= $machine_max_cv, false) AS machine_paced,
       coalesce((actor IS DISTINCT FROM 'agent' OR corrections > 0)
                AND (median_gap_s >= $human_min_median_s OR gap_cv > $machine_max_cv), false)
           AS human_paced,
       evidence
FROM sessions
WHERE commands >= $min_commands
ORDER BY ts_start, host
