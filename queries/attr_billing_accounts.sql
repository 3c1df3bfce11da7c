-- name = "attr_billing_accounts"
-- title = "Attribution: billing from an account or region the cluster had not used, and who named it"
-- kind = "question"
-- phase = "monetisation"
-- attack = ["T1578.002", "T1496"]
-- description = """
-- Per (sub-)account and region of the billing items: the first charge, and whether it is
-- new (the account, or the account in this region, first charged at least
-- min_history_hours after the billing data begins). For each, the agent-log commands that
-- name the account id (aws sts assume-role ... 444455556666): spending the agent set up is
-- the agent's; spending nobody in the logs set up points to someone else's credentials.
-- Used by forensics.attribution (agent side when named by a command, intruder side when
-- new and named by none).
-- """
--
-- [tables.billing_items]
-- columns = ["charge_period_start TIMESTAMPTZ", "billing_account_id VARCHAR",
--            "sub_account_id VARCHAR", "region VARCHAR", "billed_cost DECIMAL(38,10)",
--            "evidence_id INTEGER", "line_no BIGINT"]
-- [tables.agent_actions]
-- columns = ["ts TIMESTAMPTZ", "run_id VARCHAR", "host VARCHAR", "actor VARCHAR",
--            "command VARCHAR", "evidence_id INTEGER", "line_no BIGINT"]
-- [tables.hosts]
-- columns = ["address VARCHAR", "name VARCHAR"]
--
-- [params.min_history_hours]
-- type = "float"
-- default = 24.0
-- min = 0
-- meaning = "billing history needed before a first charge counts as new"
--
-- [output]
-- columns = [
--   "account VARCHAR: the sub-account (else the billing account) charged",
--   "region VARCHAR: the region (NULL for global charges)",
--   "first_ts TIMESTAMPTZ: first charge period",
--   "last_ts TIMESTAMPTZ: last charge period",
--   "billed DOUBLE: billed cost in all",
--   "new_account BOOLEAN: the account was first charged after the history period",
--   "new_region BOOLEAN: the account was first charged in this region after it",
--   "host VARCHAR: address of a host whose agent-log command names the account (NULL: none)",
--   "command_ts TIMESTAMPTZ: when that command ran",
--   "actor VARCHAR: who ran it",
--   "command VARCHAR: the command",
--   "evidence STRUCT(\"table\" VARCHAR, evidence_id INTEGER, line_no BIGINT)[]: the command's row (if any), then the charges",
-- ]

WITH items AS (
    SELECT *, coalesce(sub_account_id, billing_account_id) AS account
    FROM billing_items WHERE charge_period_start IS NOT NULL
),
span AS (SELECT min(charge_period_start) AS t0 FROM items),
acct_first AS (SELECT account, min(charge_period_start) AS first_ts FROM items GROUP BY account),
groups AS (
    SELECT account, region, min(charge_period_start) AS first_ts,
           max(charge_period_start) AS last_ts, sum(billed_cost)::DOUBLE AS billed,
           evidence_list('billing_items', evidence_id, line_no, charge_period_start) AS rows
    FROM items GROUP BY account, region
),
named AS (
    SELECT g.account, arg_min(coalesce(h.address, a.host), a.ts) AS host, min(a.ts) AS command_ts,
           arg_min(a.actor, a.ts) AS actor, arg_min(a.command, a.ts) AS command,
           arg_min(a.evidence_id, a.ts) AS eid, arg_min(a.line_no, a.ts) AS line
    FROM (SELECT DISTINCT account FROM groups WHERE length(account) >= 6) g
    JOIN agent_actions a ON a.command IS NOT NULL AND contains(a.command, g.account)
    LEFT JOIN hosts h ON h.name = a.host OR h.address = a.host
    GROUP BY g.account
)
SELECT g.account, g.region, g.first_ts, g.last_ts, g.billed,
       f.first_ts >= span.t0 + to_microseconds(($min_history_hours * 3600e6)::BIGINT)
           AS new_account,
       g.first_ts >= span.t0 + to_microseconds(($min_history_hours * 3600e6)::BIGINT)
           AS new_region,
       n.host, n.command_ts, n.actor, n.command,
       list_concat(CASE WHEN n.eid IS NOT NULL THEN [{'table': 'agent_actions',
                   'evidence_id': n.eid, 'line_no': n.line}] ELSE [] END, g.rows)[1:50] AS evidence
FROM groups g JOIN acct_first f USING (account) LEFT JOIN named n USING (account), span
ORDER BY g.first_ts, g.account
