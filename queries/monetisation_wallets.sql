-- name = "monetisation_wallets"
-- title = "Wallets: checksum-valid addresses in agent commands, HTTP and pool logins; ledger transfers"
-- kind = "detection"
-- phase = "monetisation"
-- attack = ["T1496", "T1657"]
-- description = """
-- One finding per wallet address. Addresses are found in agent commands, targets and
-- outputs, in HTTP URIs, and in ledger exports, and kept only when their checksum
-- validates (EIP-55, Base58Check, bech32/bech32m, Monero; see forensics/queries/wallets.py:
-- the wallet_addresses UDF, after a cheap regexp pre-filter). Signals: address_in_agent
-- (an agent wrote or saw it, 0.3), pool_login (in a miner command line or stratum URL,
-- 0.3), address_in_http (0.2), ledger_transfer (value moved to or from it, 0.2), and
-- agent_and_ledger (the same address in the agent's actions and in the ledger: activity
-- tied to money, 0.3). Lower-case Ethereum addresses carry no checksum (kind eth_unchecked).
-- """
--
-- [tables.agent_actions]
-- columns = ["ts TIMESTAMPTZ", "host VARCHAR", "run_id VARCHAR", "command VARCHAR",
--            "target VARCHAR", "output_excerpt VARCHAR", "evidence_id INTEGER", "line_no BIGINT"]
-- [tables.ledger_transfers]
-- columns = ["ts TIMESTAMPTZ", "chain VARCHAR", "asset VARCHAR", "from_address VARCHAR",
--            "to_address VARCHAR", "amount DECIMAL(38,18)", "wallet VARCHAR",
--            "evidence_id INTEGER", "line_no BIGINT"]
-- [tables.zeek_http]
-- required = false
-- columns = ["ts TIMESTAMPTZ", "id_orig_h VARCHAR", "host VARCHAR", "uri VARCHAR",
--            "evidence_id INTEGER", "line_no BIGINT"]
--
-- [params.pool_login_regex]
-- type = "str"
-- default = "(?i)(stratum2?\\+(tcp|ssl|tls)://|xmrig|--user[= ]|\\s-u\\s|--donate-level|--algo|mining\\.authorize|\"login\")"
-- meaning = "RE2 pattern of a miner command line or stratum login around an address"
-- [params.min_score]
-- type = "float"
-- default = 0.2
-- min = 0
-- max = 1
-- meaning = "score from which an address is reported"
--
-- [output]
-- columns = [
--   "address VARCHAR: the wallet address as written",
--   "kind VARCHAR: eth, eth_unchecked, btc, bech32, bech32m, xmr, xmr_subaddress, xmr_integrated",
--   "hosts VARCHAR[]: hosts (or ledger wallets) where it appeared",
--   "mentions BIGINT: agent and HTTP rows naming it",
--   "transfers BIGINT: ledger rows moving value to or from it",
--   "amounts VARCHAR[]: ledger totals per asset",
-- ]

WITH texts AS (
    -- every text an address can hide in, pre-filtered in SQL before the Python UDF
    SELECT ts, host, 'agent_actions' AS tbl, evidence_id, line_no,
           concat_ws(' ', command, target, output_excerpt) AS text,
           regexp_matches(coalesce(command, '') || ' ' || coalesce(target, ''),
                          $pool_login_regex) AS login_like
    FROM agent_actions
    WHERE maybe_wallet(concat_ws(' ', command, target, output_excerpt))
    UNION ALL
    SELECT ts, id_orig_h, 'zeek_http', evidence_id, line_no, concat_ws(' ', host, uri),
           regexp_matches(coalesce(uri, ''), $pool_login_regex)
    FROM zeek_http WHERE maybe_wallet(uri)
),
mentions AS (
    SELECT t.*, w.address, w.kind
    FROM (SELECT *, unnest(wallet_addresses(text)) AS w FROM texts) t
),
ledger_addrs AS (
    SELECT l.*, a.address
    FROM ledger_transfers l, unnest([l.from_address, l.to_address]) AS a(address)
    WHERE a.address IS NOT NULL AND a.address <> ''
    UNION ALL BY NAME
    -- payouts that name no address (a pool's daily running totals): one account per chain,
    -- so mining proceeds still show even when the export leaves the wallet out
    SELECT l.*, printf('unnamed %s %s wallet', l.chain, l.asset) AS address
    FROM ledger_transfers l
    WHERE coalesce(l.from_address, '') = '' AND coalesce(l.to_address, '') = ''
),
ledger_kinds AS (
    SELECT address, (wallet_addresses(address))[1].kind AS kind
    FROM (SELECT DISTINCT address FROM ledger_addrs)
),
ledger AS (
    -- ledger rows are evidence even without a checksum (exchange accounts, pool ids)
    SELECT la.*, coalesce(k.kind, 'ledger_account') AS kind FROM ledger_addrs la
    JOIN ledger_kinds k USING (address)
),
amounts AS (
    SELECT address, list(printf('%s %s', total::VARCHAR, asset) ORDER BY asset) AS amounts
    FROM (SELECT address, coalesce(asset, '?') AS asset, sum(amount) AS total
          FROM ledger GROUP BY ALL)
    GROUP BY address
),
rows AS (
    SELECT address, kind, ts, host, tbl, evidence_id, line_no,
           tbl = 'agent_actions' AS in_agent, tbl = 'zeek_http' AS in_http,
           login_like AS pool_login, false AS in_ledger
    FROM mentions
    UNION ALL
    SELECT address, kind, ts, coalesce(wallet, chain), 'ledger_transfers', evidence_id, line_no,
           false, false, false, true
    FROM ledger
),
per_address AS (
    SELECT address, any_value(kind) FILTER (kind <> 'ledger_account') AS kind_checked,
           any_value(kind) AS kind_any,
           bool_or(in_agent) AS in_agent, bool_or(in_http) AS in_http,
           bool_or(pool_login) AS pool_login, bool_or(in_ledger) AS in_ledger,
           count(*) FILTER (NOT in_ledger) AS mentions, count(*) FILTER (in_ledger) AS transfers,
           list_sort(list_distinct(list(host) FILTER (host IS NOT NULL))) AS hosts,
           min(ts) AS ts_start, max(ts) AS ts_end, count(*) AS n,
           evidence_list(tbl, evidence_id, line_no, ts) AS evidence
    FROM rows GROUP BY address
),
scored AS (
    SELECT p.*, coalesce(a.amounts, []) AS amounts, list_filter([
               CASE WHEN in_agent THEN 'address_in_agent' END,
               CASE WHEN pool_login THEN 'pool_login' END,
               CASE WHEN in_http THEN 'address_in_http' END,
               CASE WHEN in_ledger THEN 'ledger_transfer' END,
               CASE WHEN in_agent AND in_ledger THEN 'agent_and_ledger' END],
               lambda x: x IS NOT NULL) AS signals
    FROM per_address p LEFT JOIN amounts a USING (address)
)
SELECT coalesce(hosts[1], address) AS host,
       'monetisation' AS phase,
       'T1496,T1657' AS technique,
       ts_start, ts_end,
       least(1.0, 0.3 * in_agent::INT + 0.3 * pool_login::INT + 0.2 * in_http::INT
                  + 0.2 * in_ledger::INT + 0.3 * (in_agent AND in_ledger)::INT)::DOUBLE AS score,
       finding_severity(score) AS severity,
       printf('%s wallet %s: %d mention(s), %d ledger transfer(s)%s',
              coalesce(kind_checked, kind_any), address, mentions, transfers,
              CASE WHEN len(amounts) > 0 THEN ' (' || array_to_string(amounts, ', ') || ')'
                   ELSE '' END) AS summary,
       signals, evidence, n AS evidence_count,
       address, coalesce(kind_checked, kind_any) AS kind, hosts, mentions, transfers, amounts
FROM scored
WHERE least(1.0, 0.3 * in_agent::INT + 0.3 * pool_login::INT + 0.2 * in_http::INT
            + 0.2 * in_ledger::INT + 0.3 * (in_agent AND in_ledger)::INT) >= $min_score
ORDER BY ts_start, address
