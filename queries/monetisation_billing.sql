-- name = "monetisation_billing"
-- title = "Billing anomalies: new SKUs or services, cost spikes, purchases, GPUs in new regions"
-- kind = "detection"
-- phase = "monetisation"
-- attack = ["T1496", "T1078.004"]
-- description = """
-- One finding per (sub-account, day) on which something unusual was charged. Signals:
-- new_service / new_sku (first charged more than baseline_days after the sub-account's
-- first charge), cost_spike (the day's billed cost has a robust z-score, 0.6745 (x -
-- median) / MAD over the previous trailing_days days, of at least z_threshold, with at
-- least min_history_days of history), purchase (charge category Purchase, unless the
-- purchase is approved: its tags or description match approval_pattern, in either export
-- of the same charge), marketplace (a publisher other than the provider, aliases such as
-- AWS / Amazon Web Services counted as one, or a Marketplace service), and gpu_new_region (a
-- GPU SKU, per ref_gpu_skus, charged in a region where the sub-account had no GPU charge
-- before, after the baseline), and account_in_agent_command (an agent's own command names
-- the account, as in `aws sts assume-role ...:444455556666:role/...`: an agent has no
-- business in the billing plane). Weights: cost_spike, gpu_new_region and
-- account_in_agent_command 0.4, new_service, purchase and marketplace 0.2, new_sku 0.15.
-- """
--
-- [tables.billing_items]
-- columns = ["charge_period_start TIMESTAMPTZ", "billing_account_id VARCHAR",
--            "sub_account_id VARCHAR", "provider VARCHAR", "publisher VARCHAR",
--            "service_name VARCHAR", "charge_category VARCHAR", "charge_description VARCHAR",
--            "sku_id VARCHAR", "resource_id VARCHAR", "resource_name VARCHAR", "region VARCHAR",
--            "billed_cost DECIMAL(38,10)", "currency VARCHAR", "tags JSON",
--            "evidence_id INTEGER", "line_no BIGINT"]
-- [tables.ref_gpu_skus]
-- columns = ["regex VARCHAR", "gpu VARCHAR"]
-- [tables.agent_actions]
-- required = false
-- columns = ["command VARCHAR", "host VARCHAR"]
--
-- [params.approval_pattern]
-- type = "str"
-- default = "(?i)(purchase[-_ ]?order|\\bPO-[0-9]|approved[-_ ]?by|\\bINV-[0-9])"
-- meaning = "regular expression over a purchase's tags and description that marks it as approved (a purchase order, an approver, an invoice)"
-- [params.baseline_days]
-- type = "int"
-- default = 1
-- min = 0
-- meaning = "days from a sub-account's first charge during which nothing counts as new (a case often holds only a few days of billing: one day of history is the least that can call a SKU or region new)"
-- [params.trailing_days]
-- type = "int"
-- default = 28
-- min = 2
-- meaning = "days of history the daily cost is compared with"
-- [params.min_history_days]
-- type = "int"
-- default = 7
-- min = 2
-- meaning = "days of history needed before a spike can be called"
-- [params.z_threshold]
-- type = "float"
-- default = 3.5
-- min = 0
-- meaning = "robust z-score from which a day's cost is a spike (Iglewicz and Hoaglin: 3.5)"
--
-- [output]
-- columns = [
--   "day DATE: the charge day (UTC)",
--   "daily_cost DOUBLE: billed cost that day, in the sub-account's currency",
--   "robust_z DOUBLE: the day's robust z-score (NULL without enough history)",
--   "currency VARCHAR: currency of the costs",
--   "new_items VARCHAR[]: services and SKUs charged for the first time",
--   "gpu_regions VARCHAR[]: regions with a first GPU charge",
-- ]

WITH items AS (
    SELECT *, coalesce(sub_account_id, billing_account_id, '(unknown account)') AS acct,
           charge_period_start::DATE AS day,
           lower(concat_ws(' ', sku_id, charge_description, resource_id, resource_name,
                           service_name)) AS text,
           regexp_matches(coalesce(tags::VARCHAR, '') || ' ' || coalesce(charge_description, ''),
                          $approval_pattern) AS approved_here,
           -- one vendor key for a provider or publisher written several ways
           CASE WHEN regexp_matches(lower(publisher), 'amazon|aws') THEN 'amazon'
                WHEN regexp_matches(lower(publisher), 'google|gcp') THEN 'google'
                WHEN regexp_matches(lower(publisher), 'microsoft|azure') THEN 'microsoft'
                WHEN regexp_matches(lower(publisher), 'oracle|oci') THEN 'oracle'
                ELSE lower(publisher) END AS publisher_key,
           CASE WHEN regexp_matches(lower(provider), 'amazon|aws') THEN 'amazon'
                WHEN regexp_matches(lower(provider), 'google|gcp') THEN 'google'
                WHEN regexp_matches(lower(provider), 'microsoft|azure') THEN 'microsoft'
                WHEN regexp_matches(lower(provider), 'oracle|oci') THEN 'oracle'
                ELSE lower(provider) END AS provider_key
    FROM billing_items WHERE charge_period_start IS NOT NULL
),
approved_charges AS (
    -- a purchase approved in one export (FOCUS tags) is approved in the other (CUR) too
    SELECT DISTINCT charge_period_start, billed_cost FROM items
    WHERE approved_here AND lower(charge_category) = 'purchase'
),
acct_start AS (
    SELECT acct, min(day) AS first_day FROM items GROUP BY acct
),
first_service AS (
    SELECT acct, service_name AS item, min(day) AS day FROM items
    WHERE service_name IS NOT NULL GROUP BY ALL
),
first_sku AS (
    SELECT acct, sku_id AS item, min(day) AS day FROM items WHERE sku_id IS NOT NULL GROUP BY ALL
),
new_items AS (
    SELECT f.acct, f.day, 'service: ' || f.item AS item, 'new_service' AS kind
    FROM first_service f JOIN acct_start a USING (acct)
    WHERE f.day >= a.first_day + to_days($baseline_days)
    UNION ALL
    SELECT f.acct, f.day, 'sku: ' || f.item, 'new_sku'
    FROM first_sku f JOIN acct_start a USING (acct)
    WHERE f.day >= a.first_day + to_days($baseline_days)
),
gpu_rows AS (
    SELECT DISTINCT i.acct, i.day, coalesce(i.region, '(no region)') AS region
    FROM items i
    WHERE EXISTS (SELECT 1 FROM ref_gpu_skus g WHERE regexp_matches(i.text, '(?i)' || g.regex))
),
gpu_new AS (
    SELECT g.acct, g.day, g.region FROM (
        SELECT acct, region, min(day) AS day FROM gpu_rows GROUP BY ALL) g
    JOIN acct_start a USING (acct)
    WHERE g.day >= a.first_day + to_days($baseline_days)
),
daily AS (
    SELECT acct, day, sum(billed_cost)::DOUBLE AS cost, any_value(currency) AS currency
    FROM items GROUP BY acct, day
),
hist AS (
    SELECT d.acct, d.day, d.cost, h.cost AS hcost
    FROM daily d JOIN daily h ON h.acct = d.acct
     AND h.day >= d.day - to_days($trailing_days) AND h.day < d.day
),
med AS (
    SELECT acct, day, any_value(cost) AS cost, median(hcost) AS med, count(*) AS n_hist
    FROM hist GROUP BY acct, day
),
zs AS (
    SELECT m.acct, m.day, m.n_hist,
           robust_z(m.cost, m.med, median(abs(h.hcost - m.med)))::DOUBLE AS z
    FROM med m JOIN hist h USING (acct, day)
    GROUP BY m.acct, m.day, m.cost, m.med, m.n_hist
),
day_flags AS (
    SELECT i.acct, i.day,
           bool_or(lower(i.charge_category) = 'purchase' AND a.billed_cost IS NULL) AS purchase,
           bool_or(i.service_name ILIKE '%marketplace%' OR (i.publisher_key IS NOT NULL
                   AND i.provider_key IS NOT NULL AND i.publisher_key <> i.provider_key))
               AS marketplace,
           count(*) AS n, min(i.charge_period_start) AS ts_start,
           max(i.charge_period_start) AS ts_end,
           evidence_list('billing_items', i.evidence_id, i.line_no, i.charge_period_start)
               AS evidence
    FROM items i
    LEFT JOIN approved_charges a
           ON a.charge_period_start = i.charge_period_start AND a.billed_cost = i.billed_cost
    GROUP BY i.acct, i.day
),
agent_named AS (
    -- accounts an agent's command names (12+ character ids only: short ids match anything)
    SELECT DISTINCT a.acct, list_sort(list_distinct(list(x.host))) AS agent_hosts
    FROM (SELECT DISTINCT acct FROM items WHERE length(acct) >= 12) a
    JOIN agent_actions x ON contains(x.command, a.acct)
    GROUP BY a.acct
),
joined AS (
    SELECT f.*, d.cost, d.currency, z.z, n.agent_hosts,
           coalesce(z.n_hist >= $min_history_days AND z.z >= $z_threshold, false) AS spike,
           (SELECT list(item ORDER BY item) FROM new_items n
             WHERE n.acct = f.acct AND n.day = f.day) AS items_new,
           (SELECT bool_or(kind = 'new_service') FROM new_items n
             WHERE n.acct = f.acct AND n.day = f.day) AS new_service,
           (SELECT bool_or(kind = 'new_sku') FROM new_items n
             WHERE n.acct = f.acct AND n.day = f.day) AS new_sku,
           (SELECT list(region ORDER BY region) FROM gpu_new g
             WHERE g.acct = f.acct AND g.day = f.day) AS regions
    FROM day_flags f JOIN daily d USING (acct, day) LEFT JOIN zs z USING (acct, day)
    LEFT JOIN agent_named n USING (acct)
),
scored AS (
    SELECT *, list_filter([
               CASE WHEN spike THEN 'cost_spike' END,
               CASE WHEN regions IS NOT NULL THEN 'gpu_new_region' END,
               CASE WHEN new_service THEN 'new_service' END,
               CASE WHEN new_sku THEN 'new_sku' END,
               CASE WHEN purchase THEN 'purchase' END,
               CASE WHEN marketplace THEN 'marketplace' END,
               CASE WHEN agent_hosts IS NOT NULL THEN 'account_in_agent_command' END],
               lambda x: x IS NOT NULL) AS signals
    FROM joined
)
SELECT acct AS host,
       'monetisation' AS phase,
       'T1496,T1078.004' AS technique,
       ts_start, ts_end,
       least(1.0, 0.4 * list_contains(signals, 'cost_spike')::INT
                  + 0.4 * list_contains(signals, 'gpu_new_region')::INT
                  + 0.2 * list_contains(signals, 'new_service')::INT
                  + 0.15 * list_contains(signals, 'new_sku')::INT
                  + 0.2 * purchase::INT + 0.2 * marketplace::INT
                  + 0.4 * (agent_hosts IS NOT NULL)::INT)::DOUBLE AS score,
       finding_severity(score) AS severity,
       printf('%s on %s: %s; billed %.2f %s', acct, day::VARCHAR, array_to_string(signals, ', '),
              cost, coalesce(currency, '')) AS summary,
       signals, evidence, n AS evidence_count,
       day, cost AS daily_cost, CASE WHEN spike OR z IS NOT NULL THEN z END AS robust_z,
       currency, coalesce(items_new, []) AS new_items, coalesce(regions, []) AS gpu_regions
FROM scored
WHERE len(signals) > 0
ORDER BY ts_start, host
