"""What the queries need in a case besides its tables: reference data, address scopes,
shared macros and the wallet UDF.

All of it is TEMP (per connection), so a read-only case can run queries and nothing here is
ever written into the evidence file. Reference data is reloaded per connection (small);
`addr_scope` (every address in the case with its scope) is rebuilt only when the case's
address-bearing tables or its context change, because scoping each row with the `ip_scope`
macro (a correlated lookup) costs seconds per million rows while a join on the distinct
addresses costs milliseconds.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from forensics.queries import wallets

if TYPE_CHECKING:
    import duckdb

EVIDENCE_CAP = 50

# Macros queries share. `evidence_list` keeps the first EVIDENCE_CAP rows by time (a top-n
# aggregate: no full list is ever built; rows without a time, such as an unconfirmed
# transaction, sort last but still count); `finding_severity` is the one grading of scores.
MACROS = [
    f"""CREATE OR REPLACE TEMP MACRO evidence_list(tbl, eid, line, t) AS
        min_by({{'table': tbl::VARCHAR, 'evidence_id': eid::INTEGER, 'line_no': line::BIGINT}},
               coalesce(epoch_us(t), 9223372036854775807), {EVIDENCE_CAP})""",
    """CREATE OR REPLACE TEMP MACRO finding_severity(s) AS
        CASE WHEN s >= 0.7 THEN 'high' WHEN s >= 0.4 THEN 'medium' ELSE 'low' END""",
    # every dot-suffix of a DNS name, lower case: a.b.pool.net -> [a.b.pool.net, b.pool.net,
    # pool.net, net]; joining these to a domain list matches subdomains with an equi-join
    """CREATE OR REPLACE TEMP MACRO domain_suffixes(d) AS
        list_transform(range(1, len(string_split(rtrim(lower(d), '.'), '.')) + 1),
                       lambda i: array_to_string(
                           string_split(rtrim(lower(d), '.'), '.')[i:], '.'))""",
    # a cheap RE2 pre-filter before the (Python) wallet_addresses UDF: candidates only
    f"""CREATE OR REPLACE TEMP MACRO maybe_wallet(t) AS
        regexp_matches(t, '{wallets.SQL_PREFILTER}')""",
    # what an agent's (or anyone's) shell command does, for attribution: a reverse tunnel,
    # a miner launch (a miner binary with a pool to talk to), a bare pool URL, a scan, or
    # spending (cloud instances, a wallet transfer); NULL for everything else
    r"""CREATE OR REPLACE TEMP MACRO command_kind(c) AS CASE
        WHEN regexp_matches(c, '(?i)\b(autossh|ssh)\b[^|;&]*\s-[A-Za-z]*R\s*[0-9A-Za-z\[]')
            THEN 'tunnel'
        WHEN regexp_matches(c, '(?i)(xmrig|xmr-stak|t-rex|lolminer|nbminer|phoenixminer|ethminer'
                               '|gminer|nanominer|teamredminer|srbminer|ccminer|cpuminer|minerd)')
         AND regexp_matches(c, '(?i)(stratum\+(tcp|ssl|tls)://|\s(-o|--url)[= ]?\s*[^\s:]+:[0-9]+)')
            THEN 'miner'
        WHEN regexp_matches(c, '(?i)stratum\+(tcp|ssl|tls)://') THEN 'pool_url'
        WHEN regexp_matches(c, '(?i)\b(nmap|masscan|zmap|rustscan)\b') THEN 'scan'
        WHEN regexp_matches(c, '(?i)(run-instances|instances create|az vm create|cast send'
                               '|/orders|sts assume-role)') THEN 'spend'
        END""",
    # where such a command points: the tunnel's server (user@HOST, else the last word) or
    # the miner's pool host (stratum URL or -o HOST:PORT)
    r"""CREATE OR REPLACE TEMP MACRO command_destination(c) AS CASE command_kind(c)
        WHEN 'tunnel' THEN coalesce(
            nullif(regexp_extract(c, '@([A-Za-z0-9._-]*[A-Za-z0-9])', 1), ''),
            nullif(regexp_extract(c, '([^\s@]+)\s*$', 1), ''))
        WHEN 'miner' THEN coalesce(
            nullif(regexp_extract(c, '(?i)stratum\+[a-z]+://([^:/\s]+)', 1), ''),
            nullif(regexp_extract(c, '(?i)\s(?:-o|--url)[= ]?\s*([^\s:]+):[0-9]+', 1), ''))
        WHEN 'pool_url' THEN nullif(regexp_extract(c, '(?i)stratum\+[a-z]+://([^:/\s]+)', 1), '')
        END""",
    # robust z-score (Iglewicz and Hoaglin): 0.6745 (x - median) / MAD
    """CREATE OR REPLACE TEMP MACRO robust_z(x, med, mad) AS
        CASE WHEN mad > 0 THEN 0.6745 * (x - med) / mad
             WHEN x > med THEN 1e9 ELSE 0 END""",
]


def reference_dir(queries_dir: Path) -> Path:
    return queries_dir / "reference"


def load_reference(con: duckdb.DuckDBPyConnection, queries_dir: Path) -> list[str]:
    """Every queries/reference/<name>.csv as TEMP TABLE ref_<name>; returns the names."""
    names = []
    for path in sorted(reference_dir(queries_dir).glob("*.csv")):
        frame = pl.read_csv(path, comment_prefix="#", infer_schema_length=None)
        name = f"ref_{path.stem}"
        con.register("_forensics_ref", frame.to_arrow())
        try:
            con.execute(f'CREATE OR REPLACE TEMP TABLE "{name}" AS SELECT * FROM _forensics_ref')
        finally:
            con.unregister("_forensics_ref")
        names.append(name)
    return names


def register_udfs(con: duckdb.DuckDBPyConnection) -> None:
    """wallet_addresses(text) -> STRUCT(address, kind)[] of checksum-valid addresses."""
    import duckdb as _duckdb

    try:
        con.create_function("wallet_addresses", wallets.find_wallets, [_duckdb.sqltype("VARCHAR")],
                            _duckdb.sqltype(wallets.WALLET_LIST_TYPE), null_handling="special",
                            side_effects=False)
    except _duckdb.Error as exc:  # already registered on this connection
        if "already" not in str(exc).lower():
            raise


def _address_sources(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """(table, column) pairs holding IP addresses in this case."""
    rows = con.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = 'main' AND table_catalog = current_database()").fetchall()
    cols: dict[str, set[str]] = {}
    for t, c in rows:
        cols.setdefault(t, set()).add(c)
    out = [("firewall_events", "src_ip"), ("firewall_events", "dst_ip"), ("hosts", "address")]
    for table in sorted(t for t in cols if t.startswith("zeek_")):
        out += [(table, c) for c in ("id_orig_h", "id_resp_h") if c in cols[table]]
    return out


def _fingerprint(con: duckdb.DuckDBPyConnection, sources: list[tuple[str, str]]) -> str:
    parts = []
    for table in sorted({t for t, _ in sources}):
        (n,) = con.execute(f'SELECT count(*) FROM main."{table}"').fetchall()[0]
        parts.append(f"{table}={n}")
    nets = con.execute("SELECT cidr, scope FROM networks ORDER BY ALL").fetchall()
    hosts = con.execute("SELECT address, name, role FROM hosts ORDER BY ALL").fetchall()
    return hashlib.sha256(repr((parts, nets, hosts)).encode()).hexdigest()


_SCOPE_SQL = """
CREATE OR REPLACE TEMP TABLE addr_scope AS
WITH a AS (SELECT DISTINCT ip FROM ({union}) WHERE ip IS NOT NULL),
n AS (SELECT ip, ipv4_int(ip) AS num FROM a),
-- the most specific range wins; at equal size sandbox > internal > allowed_egress (as ip_scope)
m AS (
    SELECT n.ip, arg_min(nw.scope, (nw.last_addr - nw.first_addr) * 4
               + CASE nw.scope WHEN 'sandbox' THEN 0 WHEN 'internal' THEN 1 ELSE 2 END) AS scope
    FROM n JOIN networks nw ON nw.family = 4 AND n.num BETWEEN nw.first_addr AND nw.last_addr
    GROUP BY n.ip)
SELECT n.ip,
       -- a host the analyst named as a sandbox or training node counts as a sandbox
       CASE WHEN h.role IN ('sandbox', 'training') AND m.scope IN ('internal', 'sandbox')
            THEN 'sandbox'
            ELSE coalesce(m.scope, CASE WHEN n.num IS NULL THEN 'unknown' ELSE 'external' END)
       END AS scope,
       h.name AS host_name, h.role AS host_role
FROM n LEFT JOIN m USING (ip) LEFT JOIN hosts h ON h.address = n.ip
"""


def refresh_addr_scope(con: duckdb.DuckDBPyConnection, state: dict[str, str]) -> None:
    """(Re)build TEMP TABLE addr_scope(ip, scope, host_name, host_role) when stale."""
    sources = _address_sources(con)
    fp = _fingerprint(con, sources)
    if state.get("addr_scope") == fp:
        return
    union = " UNION ALL ".join(f'SELECT "{c}"::VARCHAR AS ip FROM main."{t}"' for t, c in sources)
    con.execute(_SCOPE_SQL.format(union=union))
    state["addr_scope"] = fp


def prepare(con: duckdb.DuckDBPyConnection, queries_dir: Path, state: dict[str, str]) -> None:
    """Make the case ready for queries; cheap when already done on this connection."""
    if not state.get("static"):
        for macro in MACROS:
            con.execute(macro)
        register_udfs(con)
        load_reference(con, queries_dir)
        state["static"] = "1"
    refresh_addr_scope(con, state)
