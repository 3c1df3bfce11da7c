-- name = "attr_agent_commands"
-- title = "Attribution: agent commands that explain network activity (tunnel, miner, pool, wallet)"
-- kind = "question"
-- phase = "tunnel"
-- attack = ["T1572", "T1496.001", "T1059.004"]
-- description = """
-- Every agent-log command that sets up what the detections see: a reverse SSH tunnel
-- (ssh -R, autossh), a miner launch (a miner binary with a pool), a stratum pool URL, a
-- scan, spending (cloud instances, a marketplace order, a wallet transfer) or a
-- checksum-valid wallet address. Each is checked against the network and ledger: flows
-- from the same host to the tunnel's server (by address), DNS queries and TLS SNI for the
-- pool's name, within follow_minutes after the command; ledger transfers touching the
-- wallet at any time. The agent log's host name is mapped to its address with the case's
-- hosts. One row per command; the evidence is the command's own row then the matching
-- network or ledger rows. Used by forensics.attribution (agent side).
-- """
--
-- [tables.agent_actions]
-- columns = ["ts TIMESTAMPTZ", "run_id VARCHAR", "trajectory_id VARCHAR", "host VARCHAR",
--            "actor VARCHAR", "command VARCHAR", "evidence_id INTEGER", "line_no BIGINT"]
-- [tables.hosts]
-- columns = ["address VARCHAR", "name VARCHAR"]
-- [tables.flows]
-- columns = ["ts TIMESTAMPTZ", "source VARCHAR", "src_ip VARCHAR", "dst_ip VARCHAR",
--            "dst_port INTEGER", "evidence_id INTEGER", "line_no BIGINT"]
-- [tables.zeek_dns]
-- required = false
-- columns = ["ts TIMESTAMPTZ", "id_orig_h VARCHAR", "query VARCHAR", "evidence_id INTEGER",
--            "line_no BIGINT"]
-- [tables.zeek_ssl]
-- required = false
-- columns = ["ts TIMESTAMPTZ", "id_orig_h VARCHAR", "server_name VARCHAR",
--            "evidence_id INTEGER", "line_no BIGINT"]
-- [tables.ledger_transfers]
-- columns = ["ts TIMESTAMPTZ", "from_address VARCHAR", "to_address VARCHAR",
--            "evidence_id INTEGER", "line_no BIGINT"]
--
-- [params.follow_minutes]
-- type = "int"
-- default = 30
-- min = 1
-- meaning = "how long after a command the host's network activity counts as its effect"
--
-- [output]
-- columns = [
--   "host VARCHAR: the host's address (the agent log's name mapped through the case's hosts)",
--   "host_name VARCHAR: the host as the agent log names it",
--   "ts TIMESTAMPTZ: when the command ran",
--   "run_id VARCHAR: training run",
--   "trajectory_id VARCHAR: episode",
--   "actor VARCHAR: who issued it (agent, user, ...)",
--   "kind VARCHAR: tunnel, miner, pool_url, scan, spend or wallet",
--   "destination VARCHAR: tunnel server, pool host or wallet address",
--   "command VARCHAR: the command, verbatim",
--   "confirmations BIGINT: network or ledger rows that match the destination",
--   "evidence STRUCT(\"table\" VARCHAR, evidence_id INTEGER, line_no BIGINT)[]: the command's row, then the matching rows",
-- ]

WITH acts AS (
    SELECT a.*, coalesce(h.address, a.host) AS addr,
           CASE WHEN command_kind(a.command) IS NOT NULL THEN command_kind(a.command)
                WHEN maybe_wallet(a.command) AND len(wallet_addresses(a.command)) > 0
                THEN 'wallet' END AS kind
    FROM agent_actions a
    LEFT JOIN hosts h ON h.name = a.host OR h.address = a.host
    WHERE a.command IS NOT NULL
),
cmds AS (
    SELECT *, CASE WHEN kind IN ('wallet', 'spend') AND maybe_wallet(command)
                        AND len(wallet_addresses(command)) > 0
                   THEN wallet_addresses(command)[1].address
                   ELSE command_destination(command) END AS destination
    FROM acts WHERE kind IS NOT NULL
),
net AS (
    SELECT c.evidence_id AS c_eid, c.line_no AS c_line, f.source AS tbl, f.evidence_id,
           f.line_no, f.ts
    FROM cmds c JOIN flows f ON f.src_ip = c.addr AND f.dst_ip = c.destination
     AND f.ts >= c.ts - INTERVAL 1 MINUTE AND f.ts <= c.ts + to_minutes($follow_minutes)
    UNION ALL
    SELECT c.evidence_id, c.line_no, 'zeek_dns', d.evidence_id, d.line_no, d.ts
    FROM cmds c JOIN zeek_dns d ON d.id_orig_h = c.addr
     AND lower(rtrim(d.query, '.')) = lower(c.destination)
     AND d.ts >= c.ts - INTERVAL 1 MINUTE AND d.ts <= c.ts + to_minutes($follow_minutes)
    UNION ALL
    SELECT c.evidence_id, c.line_no, 'zeek_ssl', s.evidence_id, s.line_no, s.ts
    FROM cmds c JOIN zeek_ssl s ON s.id_orig_h = c.addr
     AND lower(s.server_name) = lower(c.destination)
     AND s.ts >= c.ts - INTERVAL 1 MINUTE AND s.ts <= c.ts + to_minutes($follow_minutes)
    UNION ALL
    SELECT c.evidence_id, c.line_no, 'ledger_transfers', l.evidence_id, l.line_no, l.ts
    FROM cmds c JOIN ledger_transfers l ON c.kind IN ('wallet', 'spend')
     AND (lower(l.from_address) = lower(c.destination) OR lower(l.to_address) = lower(c.destination))
),
matched AS (
    SELECT c_eid, c_line, count(*) AS n, evidence_list(tbl, evidence_id, line_no, ts) AS rows
    FROM net GROUP BY c_eid, c_line
)
SELECT c.addr AS host, c.host AS host_name, c.ts, c.run_id, c.trajectory_id, c.actor, c.kind,
       c.destination, c.command, coalesce(m.n, 0) AS confirmations,
       list_concat([{'table': 'agent_actions', 'evidence_id': c.evidence_id,
                     'line_no': c.line_no}], coalesce(m.rows, []))[1:50] AS evidence
FROM cmds c LEFT JOIN matched m ON m.c_eid = c.evidence_id AND m.c_line = c.line_no
ORDER BY c.ts NULLS LAST, c.evidence_id, c.line_no
