-- name = "attr_agent_runs"
-- title = "Attribution: when each training run acted on each host, and what it did that recurs"
-- kind = "question"
-- phase = "tunnel"
-- attack = ["T1059.004"]
-- description = """
-- Per host and training run, the span of the agent's actions (first and last), and the
-- kinds of suspicious commands it ran (command_kind: tunnel, miner, pool_url, scan, spend)
-- with, for each, the other runs that ran the same kind. Findings inside a run's span on
-- its host are the agent's to explain; the same behaviour in two runs is a learned policy,
-- not a one-off intrusion. Used by forensics.attribution (training-window and recurrence
-- items).
-- """
--
-- [tables.agent_actions]
-- columns = ["ts TIMESTAMPTZ", "run_id VARCHAR", "host VARCHAR", "actor VARCHAR",
--            "command VARCHAR", "evidence_id INTEGER", "line_no BIGINT"]
-- [tables.hosts]
-- columns = ["address VARCHAR", "name VARCHAR"]
--
-- [params.actors]
-- type = "str_list"
-- default = ["agent"]
-- meaning = "actors whose actions make a run's span"
--
-- [output]
-- columns = [
--   "host VARCHAR: the host's address (mapped through the case's hosts)",
--   "host_name VARCHAR: the host as the agent log names it",
--   "run_id VARCHAR: training run",
--   "ts_start TIMESTAMPTZ: the run's first action on the host",
--   "ts_end TIMESTAMPTZ: its last action on the host",
--   "actions BIGINT: actions of the run on the host",
--   "kinds VARCHAR[]: suspicious command kinds the run ran on the host",
--   "recurring_kinds VARCHAR[]: those kinds that another run ran too",
--   "other_runs VARCHAR[]: the other runs that ran a recurring kind",
--   "evidence STRUCT(\"table\" VARCHAR, evidence_id INTEGER, line_no BIGINT)[]: first and last action, then the recurring commands of every run",
-- ]

WITH acts AS (
    SELECT a.*, coalesce(h.address, a.host) AS addr, command_kind(a.command) AS kind
    FROM agent_actions a LEFT JOIN hosts h ON h.name = a.host OR h.address = a.host
    WHERE a.ts IS NOT NULL AND list_contains($actors, a.actor)
),
runs AS (
    SELECT addr AS host, any_value(host) AS host_name, run_id, min(ts) AS ts_start,
           max(ts) AS ts_end, count(*) AS actions,
           coalesce(list_sort(list_distinct(list(kind) FILTER (kind IS NOT NULL))), []) AS kinds,
           [min_by({'table': 'agent_actions', 'evidence_id': evidence_id, 'line_no': line_no}, ts),
            max_by({'table': 'agent_actions', 'evidence_id': evidence_id, 'line_no': line_no}, ts)]
               AS edges
    FROM acts GROUP BY addr, run_id
),
kind_runs AS (
    SELECT kind, list_distinct(list(run_id)) AS runs,
           evidence_list('agent_actions', evidence_id, line_no, ts) AS rows
    FROM acts WHERE kind IS NOT NULL GROUP BY kind
),
recur AS (
    SELECT r.host, r.run_id,
           list_sort(list(k.kind)) AS recurring_kinds,
           list_sort(list_distinct(flatten(list(list_filter(k.runs, lambda x: x <> r.run_id)))))
               AS other_runs,
           flatten(list(k.rows)) AS rows
    FROM runs r JOIN kind_runs k ON list_contains(r.kinds, k.kind) AND len(k.runs) >= 2
    GROUP BY r.host, r.run_id
)
SELECT r.host, r.host_name, r.run_id, r.ts_start, r.ts_end, r.actions, r.kinds,
       coalesce(c.recurring_kinds, []) AS recurring_kinds,
       coalesce(c.other_runs, []) AS other_runs,
       list_concat(r.edges, coalesce(c.rows, []))[1:50] AS evidence
FROM runs r LEFT JOIN recur c USING (host, run_id)
ORDER BY r.ts_start, r.host
