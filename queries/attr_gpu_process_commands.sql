-- name = "attr_gpu_process_commands"
-- title = "Attribution: GPU processes whose name is a program an agent command launched"
-- kind = "question"
-- phase = "mining"
-- attack = ["T1496.001"]
-- description = """
-- A GPU process (nvidia-smi, pmon, DCGM) whose base name (xmrig, python3, ...) is the
-- program a command on the same host started (a word of the command ending in that name,
-- with or without a path), run at most lead_hours before the process was sampled. The
-- agent log and the GPU telemetry then tell one story. Host names and addresses are
-- matched through the case's hosts. Used by forensics.attribution (agent side).
-- """
--
-- [tables.gpu_processes]
-- columns = ["ts TIMESTAMPTZ", "host VARCHAR", "pid BIGINT", "process_name VARCHAR",
--            "evidence_id INTEGER", "line_no BIGINT"]
-- [tables.agent_actions]
-- columns = ["ts TIMESTAMPTZ", "run_id VARCHAR", "host VARCHAR", "actor VARCHAR",
--            "command VARCHAR", "evidence_id INTEGER", "line_no BIGINT"]
-- [tables.hosts]
-- columns = ["address VARCHAR", "name VARCHAR"]
--
-- [params.lead_hours]
-- type = "float"
-- default = 48.0
-- min = 0
-- meaning = "how long before the GPU sample the command may have run"
--
-- [output]
-- columns = [
--   "host VARCHAR: the host's address",
--   "process_name VARCHAR: the GPU process, verbatim",
--   "ts TIMESTAMPTZ: first GPU sample showing it",
--   "command_ts TIMESTAMPTZ: when the command ran",
--   "run_id VARCHAR: training run of the command",
--   "actor VARCHAR: who ran the command",
--   "command VARCHAR: the command",
--   "evidence STRUCT(\"table\" VARCHAR, evidence_id INTEGER, line_no BIGINT)[]: the command's row, then the GPU samples",
-- ]

WITH procs AS (
    SELECT p.*, coalesce(h.address, p.host) AS addr,
           lower(regexp_replace(p.process_name, '^.*/', '')) AS base
    FROM gpu_processes p LEFT JOIN hosts h ON h.name = p.host OR h.address = p.host
    WHERE p.process_name IS NOT NULL AND p.ts IS NOT NULL
),
acts AS (
    SELECT a.*, coalesce(h.address, a.host) AS addr
    FROM agent_actions a LEFT JOIN hosts h ON h.name = a.host OR h.address = a.host
    WHERE a.command IS NOT NULL AND a.ts IS NOT NULL
),
pairs AS (
    SELECT p.addr, p.process_name, a.ts AS command_ts, a.run_id, a.actor, a.command,
           a.evidence_id AS a_eid, a.line_no AS a_line,
           min(p.ts) AS ts, evidence_list('gpu_processes', p.evidence_id, p.line_no, p.ts) AS rows
    FROM procs p JOIN acts a ON a.addr = p.addr AND length(p.base) >= 3
     AND regexp_matches(lower(a.command), '(^|[\s/;&|])' || regexp_escape(p.base) || '(\s|$)')
     AND a.ts <= p.ts AND a.ts >= p.ts - to_microseconds(($lead_hours * 3600e6)::BIGINT)
    GROUP BY ALL
)
SELECT addr AS host, process_name, ts, command_ts, run_id, actor, command,
       list_concat([{'table': 'agent_actions', 'evidence_id': a_eid, 'line_no': a_line}],
                   rows)[1:50] AS evidence
FROM pairs
ORDER BY ts, host
