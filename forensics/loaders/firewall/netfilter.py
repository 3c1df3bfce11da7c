"""Linux netfilter LOG lines (iptables, nftables, ufw) and Proxmox pve-firewall lines.

The kernel writes one line per logged packet (`nf_log_syslog`): an optional log prefix
chosen by the admin, then `IN=.. OUT=..` and `KEY=value` pairs in a fixed order. The
lines reach us wrapped by syslog (RFC 3164, RFC 5424, ISO-timestamp BSD as journald's
short-iso writes it) or by pve-firewall's own logger (`vmid level chain dd/Mon/yyyy:
hh:mm:ss +zzzz policy DROP: IN=...`).

The LOG target itself decides nothing, so the action comes from the admin's prefix
(`[UFW BLOCK]`, `IPTABLES-DROP:`) or pve's policy word, by keyword: REJECT -> reject,
DROP -> drop, DENY/BLOCK -> deny, ACCEPT/ALLOW/PASS/PERMIT -> allow, else NULL. The prefix
is kept as `rule`. Direction follows the interfaces: IN only -> in, OUT only -> out, both
-> forward. `bytes` is the IP packet length (the first LEN=), `packets` is 1.

Lines with no `IN=`/`OUT=` pair are not packet logs (other kernel messages in the same
syslog file, or damaged lines) and are rejected; pve-firewall's own status lines
("starting pvefw logger") are counted as header lines, with a note.
"""

from __future__ import annotations

import re
from collections import Counter

import polars as pl

from forensics.loaders.base import LoadContext
from forensics.loaders.firewall import common as c
from forensics.loaders.firewall import timeparse as tp

NAME = "netfilter"

_PVE_RE = (r"^(?P<vmid>\d+) (?P<level>\d+) (?P<chain>\S+) "
           r"(?P<ts>\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}) (?P<msg>.*)$")
_BODY_RE = (r"^(?:\[\s*(?P<uptime>\d+\.\d+)\] ?)?(?P<prefix>.*?)"
            r"IN=(?P<in>\S*) OUT=(?P<out>\S*)(?P<kv>(?: .*)?)$")
_FLAGS_RE = r" RES=0x[0-9a-fA-F]+ ((?:[A-Z]+ )*)URGP="
# key -> column name; the first occurrence wins (ICMP echo repeats ID=, UDP repeats LEN=).
_KEYS = {
    "SRC": "src_ip", "DST": "dst_ip", "LEN": "bytes", "PROTO": "proto", "SPT": "src_port",
    "DPT": "dst_port", "MAC": "mac", "PHYSIN": "physin", "PHYSOUT": "physout", "TTL": "ttl",
    "HOPLIMIT": "hoplimit", "ID": "ip_id", "TOS": "tos", "TC": "tc", "TYPE": "icmp_type",
    "CODE": "icmp_code", "MARK": "mark", "UID": "uid", "GID": "gid", "WINDOW": "window",
}
_EXTRA = ["pri", "tag", "uptime", "mac", "physin", "physout", "ttl", "hoplimit", "ip_id",
          "tos", "tc", "icmp_type", "icmp_code", "mark", "uid", "gid", "window", "pve_vmid",
          "pve_level"]
_SNIFF_LINE = re.compile(r"\bIN=\S* OUT=\S* .*\bSRC=\S+ DST=\S+ .*\bPROTO=")


def with_fields(frame: pl.DataFrame) -> pl.DataFrame:
    """From `__after` (the message after its first `IN=`, NULL if it has none): `__in` and
    `__out` (when `IN=` starts an `IN= OUT=` pair) and the `_KEYS` columns, each key's
    value in its first `KEY=` token from there on; and `__fast`, true on the lines read by
    shape (their key values are `_VALUE` text: nothing in them needs a JSON escape).

    The careful way is a regex for IN=/OUT= on the first 64 characters and one regex per
    key over the line (`(?:^| )KEY=(\\S*)`), 20 capture searches a line. Lines of a block
    mostly share a few token sequences (IN= OUT= MAC= SRC= ... with the same flags), so
    the fast way learns those shapes from a sample, checks each line against them with
    one capture-free regex (a DFA pass, which also proves the line is single-space-
    separated tokens of printable ASCII, and IN=/OUT= short enough to fit the 64
    characters), and takes each value by its position in the shape. Lines matching no
    shape get the careful regexes; both give the same values (`tests/test_firewall_fast.py`).
    Shapes and careful regexes read the text from `IN=` on; the fast path splits `__after`
    itself (the first token is IN='s value), which spares a copy of every message. A
    block whose lines all take one path is not split into two frames (two filters and a
    sort of every column).
    """
    shapes = _shapes(frame["__after"])
    fast = pl.Series("__fast", [False] * frame.height, dtype=pl.Boolean)
    if shapes:
        pattern = "|".join(f"(?:{_shape_regex(sh)})" for sh in shapes)
        fast = frame.select(pl.col("__after").str.contains(pattern).fill_null(False)
                            .alias("__fast")).to_series()
    frame = frame.with_columns(fast)
    n_fast = int(fast.sum())
    if n_fast == 0:
        return _fields_careful(frame)
    if n_fast == frame.height:
        return _fields_by_shape(frame, shapes)
    quick = _fields_by_shape(frame.filter(fast), shapes)
    slow = _fields_careful(frame.filter(~fast)).select(quick.columns)
    return pl.concat([quick, slow]).sort(c.LINE)


def _fields_by_shape(frame: pl.DataFrame, shapes: list[tuple[str, ...]]) -> pl.DataFrame:
    """`with_fields` for lines matching one of `shapes`: values by token position."""
    after = pl.col("__after")
    # materialised once: eager with_columns would split again for every key
    frame = frame.with_columns(after.str.split(" ").alias("__tok"))
    frame = frame.with_columns(pl.col("__tok").list.len().alias("__ntok"))
    tokens, n = pl.col("__tok"), pl.col("__ntok")
    cols = [tokens.list.get(0).alias("__in"), tokens.list.get(1).str.slice(4).alias("__out")]
    for key, name in _KEYS.items():
        where = {len(sh): sh.index(f"{key}=") for sh in shapes if f"{key}=" in sh}
        if not where:
            cols.append(pl.lit(None, dtype=pl.String).alias(name))
            continue
        if len(where) == len(shapes) and len(set(where.values())) == 1:
            idx = pl.lit(next(iter(where.values())), dtype=pl.Int64)  # same place in all
        else:
            idx = pl.lit(None, dtype=pl.Int64)
            for count, pos in where.items():
                idx = pl.when(n == count).then(pl.lit(pos, dtype=pl.Int64)).otherwise(idx)
        cols.append(tokens.list.get(idx, null_on_oob=True).str.slice(len(key) + 1)
                    .alias(name))
    cols.append(_shape_flags(shapes, n).alias("__flags"))
    return frame.with_columns(cols).drop("__tok", "__ntok")


def _fields_careful(frame: pl.DataFrame) -> pl.DataFrame:
    """`with_fields` for any line: the IN=/OUT= regex, then one regex per key."""
    after = pl.col("__after")
    rest = pl.col("__rest")
    frame = frame.with_columns(pl.concat_str(pl.lit("IN="), after).alias("__rest"))
    frame = frame.with_columns(rest.str.slice(0, 64).str.extract_groups(
        r"^IN=(?P<in>\S*) OUT=(?P<out>\S*)").alias("__io"))
    io = pl.col("__io").struct.field
    frame = frame.with_columns(io("in").alias("__in"), io("out").alias("__out"),
                               pl.when(io("in").is_not_null()).then(rest).alias("__kv"))
    kv = pl.col("__kv")
    return frame.with_columns(
        *(kv.str.extract(rf"(?:^| ){k}=(\S*)").alias(n) for k, n in _KEYS.items()),
        kv.str.extract(_FLAGS_RE).str.strip_chars().alias("__flags"),
    ).drop("__io", "__rest", "__kv")


_LEAD_RE = r"^(?:\[\s*(?P<uptime>\d+\.\d+)\] ?)?(?P<prefix>.*)$"
_UPTIME_RE = r"^\[\s*\d+\.\d+\]"  # _LEAD_RE's optional group: the kernel's uptime stamp
_UPTIME_PLAIN_RE = r"^\[ *[0-9]+\.[0-9]+\] "  # the common case of it: ASCII, one space


def with_lead(frame: pl.DataFrame) -> pl.DataFrame:
    """`__lead` {uptime, prefix} from `__before` (the text before IN=), as `_LEAD_RE` reads
    it. Its captures cost as much as all keys together, so two capture-free checks sort
    the lines: no uptime stamp (prefix is the text), a plain `[ 123.456] ` stamp (split at
    its `] `), and anything else (the regex; a block without such lines is not filtered).
    """
    before = pl.col("__before")
    frame = frame.with_columns(
        before.str.contains(_UPTIME_RE).fill_null(False).alias("__stamp"),
        before.str.contains(_UPTIME_PLAIN_RE).fill_null(False).alias("__plain"),
        before.str.find("] ", literal=True).alias("__end"))  # (used twice: found once)
    stamp, plain = pl.col("__stamp"), pl.col("__plain")
    odd_rows = frame.select(stamp & ~plain).to_series()
    odd = None
    if odd_rows.any():
        odd = frame.filter(odd_rows)
        frame = frame.filter(~odd_rows)
    end = pl.col("__end")  # the stamp is ASCII: bytes = characters
    frame = frame.with_columns(pl.struct(
        pl.when(plain).then(before.str.slice(1, end - 1).str.strip_chars_start(" "))
        .alias("uptime"),
        pl.when(plain).then(before.str.slice(end + 2)).otherwise(before).alias("prefix"),
    ).alias("__lead"))
    if odd is not None:
        odd = odd.with_columns(before.str.extract_groups(_LEAD_RE).alias("__lead"))
        frame = pl.concat([frame, odd]).sort(c.LINE)
    return frame.drop("__stamp", "__plain", "__end")


def _shapes(after: pl.Series, sample: int = 1000, share: float = 0.01
            ) -> list[tuple[str, ...]]:
    """The common token sequences of a block from its `IN=` on (`KEY=` for a key token,
    else the token), from an even sample of `__after`: the most frequent per token count,
    if frequent enough."""
    values = after.gather_every(max(1, after.len() // sample)).drop_nulls().to_list()
    counts = Counter(_shape_of("IN=" + v) for v in values)
    best: dict[int, tuple[tuple[str, ...], int]] = {}
    for shape, k in counts.items():
        usable = (shape[:2] == ("IN=", "OUT=") and shape.count("RES=") <= 1
                  and k >= max(2, share * len(values)))
        if usable and k > best.get(len(shape), ((), 0))[1]:
            best[len(shape)] = (shape, k)
    return [shape for shape, _ in sorted(best.values(), key=lambda x: -x[1])[:_MAX_SHAPES]]


_MAX_SHAPES = 8


def _shape_of(kv: str) -> tuple[str, ...]:
    return tuple(t[:t.index("=") + 1] if "=" in t else t for t in kv.split(" "))


def _flag_words(shape: tuple[str, ...]) -> list[str] | None:
    """The flag words between `RES=` and `URGP=` of a shape (`_FLAGS_RE`'s group), or None
    if the shape has no `RES= [WORD ...] URGP=` run."""
    if "RES=" not in shape:
        return None
    at = shape.index("RES=")
    words = []
    for token in shape[at + 1:]:
        if token == "URGP=" or not re.fullmatch(r"[A-Z]+", token):
            break
        words.append(token)
    if shape[at + 1 + len(words):at + 2 + len(words)] != ("URGP=",):
        return None
    return words


def _shape_flags(shapes: list[tuple[str, ...]], n: pl.Expr) -> pl.Expr:
    """`tcp_flags` of shape lines, as `_FLAGS_RE` reads them: the words between `RES=0x..`
    and `URGP=` are part of the shape, and `_shape_regex` has checked the RES value."""
    flags = pl.lit(None, dtype=pl.String)
    for shape in shapes:
        words = _flag_words(shape)
        if words is not None:
            flags = pl.when(n == len(shape)).then(pl.lit(" ".join(words))).otherwise(flags)
    return flags


# A shape line's token text: printable ASCII but the space (tokens are split at single
# spaces), `"` and backslash, so that no value read by shape needs a JSON escape in
# `extra` (`common.EXTRA_SAFE`). A line with other text in a token takes the careful way.
_VALUE = r'[!#-\[\]-~]'


def _shape_regex(shape: tuple[str, ...]) -> str:
    """Anchored, for the text after `IN=`: each key token is `KEY=` and `_VALUE` text, any
    other token itself, single spaces. IN='s value and OUT= are bounded so that both lie
    within the 64 characters the careful regex reads. Before flag words, RES= holds what
    `_FLAGS_RE` takes (`0x` and hex digits): a line with another RES value is left to the
    careful regexes, so a shape line's flags are its shape's words.
    """
    tokens = [re.escape(t) + _VALUE + "*" if t.endswith("=") else re.escape(t) for t in shape]
    tokens[:2] = [_VALUE + "{0,27}", "OUT=" + _VALUE + "{0,28}"]
    if _flag_words(shape) is not None:
        tokens[shape.index("RES=")] = r"RES=0x[0-9a-fA-F]+"
    return "^" + " ".join(tokens) + "$"


def action_of(prefixes: pl.Series) -> pl.Expr:
    """`action_from_words` of a column, worked out once per distinct prefix (a block holds
    a handful: four regexes on every line cost more than the rest of the line's fields)."""
    distinct = prefixes.drop_nulls().unique()
    if distinct.len() * 4 > prefixes.len():
        return action_from_words(pl.col(prefixes.name))
    actions = pl.select(action_from_words(pl.lit(distinct))).to_series()
    return pl.col(prefixes.name).replace_strict(distinct, actions, default=None,
                                                return_dtype=pl.String)


def action_from_words(text: pl.Expr) -> pl.Expr:
    """The decision named by a log prefix or policy word, else NULL."""
    up = text.str.to_uppercase()
    return (pl.when(up.str.contains(r"REJECT")).then(pl.lit("reject"))
            .when(up.str.contains(r"DROP")).then(pl.lit("drop"))
            .when(up.str.contains(r"DENY|DENIED|BLOCK")).then(pl.lit("deny"))
            .when(up.str.contains(r"ACCEPT|ALLOW|PASS|PERMIT")).then(pl.lit("allow"))
            .otherwise(pl.lit(None, dtype=pl.String)))


def _escape_free(texts: pl.Series) -> pl.Expr:
    """True where a value holds nothing `extra` would JSON-escape (NULL adds nothing: true),
    looked at once per distinct value (a block's syslog tags are a handful)."""
    distinct = texts.drop_nulls().unique()
    bad = distinct.filter(distinct.str.contains(c.NEEDS_ESCAPE))
    if bad.len() == 0:
        return pl.lit(True)
    return ~pl.col(texts.name).is_in(bad.to_list()).fill_null(False)


_PVE_FIELDS = pl.Struct({name: pl.String for name in re.compile(_PVE_RE).groupindex})


def _pve_header(frame: pl.DataFrame) -> pl.Expr:
    """`__pve`: `_PVE_RE`'s groups (all NULL for a line that is not pve-firewall's).

    The regex starts with the vmid, so only a line starting with a digit (`\\d`: any
    Unicode digit) can match. Most blocks have none, which is proved without a pass over
    the text when every line has an RFC 3164 time (`__ts3164`, after `tp.add_syslog`: such
    a line starts with `<` or a month name), else by the least and greatest line (all
    start at or after ":", above the ASCII digits, and below U+0080): the regex and the
    pass that picks its lines are skipped for a column of NULLs."""
    lines = frame["line"]
    if (frame["__ts3164"].null_count() == 0
            or (lines.len() and lines.min() >= ":"  # type: ignore[operator]
                and lines.max() < "\x80")):  # type: ignore[operator]
        return pl.lit(None, dtype=_PVE_FIELDS).alias("__pve")
    line = pl.col(lines.name)
    return pl.when(line.str.contains(r"^\d")).then(line).str.extract_groups(_PVE_RE).alias(
        "__pve")


class Netfilter:
    """iptables/nftables/ufw LOG lines via syslog, and pve-firewall logs."""

    name = NAME
    family = "firewall"
    description = ("Linux netfilter LOG lines (iptables, nftables, ufw, custom prefixes) in "
                   "RFC 3164/5424/ISO syslog or journald short-iso, and Proxmox pve-firewall")

    def sniff(self, path: str, head: bytes) -> float:
        return c.sniff_by_lines(head, _SNIFF_LINE, 0.9)

    def load(self, ctx: LoadContext) -> None:
        c.store_blocks(ctx, lambda part, lines: c.finish(self._parse(part, lines), NAME))
        tp.note_assumptions(ctx, ctx.tally["bsd"], ctx.tally["naive"])
        if ctx.tally["status"]:
            ctx.note(f"{ctx.tally['status']} pve-firewall status lines (no packet) counted as "
                     "header lines")
        ctx.note("action inferred from the log prefix or pve policy word (REJECT, DROP, "
                 "DENY/BLOCK, ACCEPT/ALLOW/PASS); NULL where the prefix names no decision")

    def _parse(self, ctx: LoadContext, frame: pl.DataFrame) -> pl.DataFrame:
        """A block's lines as `firewall_events` text columns; counts its BSD (year-less)
        times, zone-less ISO times and pve status lines in `ctx.tally`."""
        frame, sys_ok = tp.add_syslog(frame)
        frame = frame.with_columns(sys_ok.alias("__sys_ok"), _pve_header(frame))
        sys_ok = pl.col("__sys_ok")
        is_pve = pl.col("__pve").struct.field("msg").is_not_null()
        # pve-firewall status lines: well-formed pve header, no packet in it.
        n_status = 0
        if frame.select(is_pve.any()).item():  # (else no copy of every message)
            frame = frame.with_columns(
                pl.when(is_pve).then(pl.col("__pve").struct.field("msg"))
                .otherwise(pl.col("__msg")).alias("__msg"))
            status = frame.select(is_pve & ~pl.col("__msg").str.contains(r"\bIN=\S* OUT="))
            status = status.to_series()
            n_status = int(status.sum())
            if n_status:
                ctx.header_lines += n_status
                frame = frame.filter(~status)
        # IN=/OUT= found by a literal search, then short anchored regexes: capture groups
        # over the whole line would be several times slower.
        # Each step is materialised: eager with_columns evaluates a repeated expression (a
        # struct's regex for every field read from it) once per use.
        # Split at the first IN= (not find + slice: str.find counts bytes, str.slice
        # characters, so a log prefix with non-ASCII text would be cut in the wrong place).
        at_in = pl.col("__msg").str.splitn("IN=", 2)
        frame = frame.with_columns(at_in.alias("__pos"))
        after = pl.col("__pos").struct.field("field_1")
        frame = frame.with_columns(pl.col("__pos").struct.field("field_0").alias("__before"),
                                   after.alias("__after"))
        frame = with_lead(with_fields(frame))
        # extra holds the tag, digits (pri, uptime, pve ids) and key values, which need no
        # JSON escape on shape lines (`_VALUE`): only the tag is left to look at.
        frame = frame.with_columns(
            (pl.col("__fast") & _escape_free(frame["__tag"])).alias(c.EXTRA_SAFE))
        lead = pl.col("__lead").struct.field
        frame = frame.with_columns(pl.struct(
            lead("uptime"), lead("prefix"), pl.col("__in").alias("in"),
            pl.col("__out").alias("out"),
        ).alias("__b")).drop("__pos", "__before", "__after", "__lead", "__in", "__out")
        b = pl.col("__b").struct.field
        if frame["__tsiso"].null_count() < frame.height:
            tsiso, naive = tp.iso_to_utc(pl.col("__tsiso"), ctx.options.tz)
        else:  # no ISO time in the block: skip parsing a column of NULLs
            tsiso, naive = pl.lit(None, dtype=tp.TS_TYPE), pl.lit(False)
        pve_f = pl.col("__pve").struct.field
        pve_ts = pve_f("ts").str.to_datetime("%d/%b/%Y:%H:%M:%S %z", strict=False,
                                             time_unit="us").dt.convert_time_zone("UTC")
        frame = frame.with_columns(b("prefix").str.strip_chars().alias("__prefix"))
        prefix = pl.col("__prefix")
        frame = frame.with_columns(
            pl.when(is_pve).then(pve_ts).when(pl.col("__ts3164").is_not_null())
            .then(tp.bsd_column_to_utc(ctx, frame["__ts3164"])).otherwise(tsiso).alias("ts"),
            pl.when(is_pve).then(pve_f("ts")).otherwise(pl.col("__ts_text")).alias("__ts_text"),
            pl.when(is_pve).then(pl.lit(ctx.options.host)).otherwise(
                pl.col("sensor")).alias("sensor"),
            pl.when(is_pve).then(pve_f("chain")).otherwise(
                pl.when(prefix != "").then(prefix)).alias("rule"),
            action_of(frame["__prefix"]).alias("action"),
            pl.when(b("in") != "").then(b("in")).alias("in_interface"),
            pl.when(b("out") != "").then(b("out")).alias("out_interface"),
            pl.col("__flags").alias("tcp_flags"),
            b("uptime").alias("uptime"),
            pl.col("__pri").alias("pri"), pl.col("__tag").alias("tag"),
            pve_f("vmid").alias("pve_vmid"), pve_f("level").alias("pve_level"),
            pl.col("line").alias("message"),
            (pl.col("__ts3164").is_not_null() & ~is_pve).alias("__bsd"),
            (naive & ~is_pve & pl.col("__ts3164").is_null()).alias("__naive"),
        )
        frame = frame.with_columns(
            pl.when(pl.col("in_interface").is_not_null() & pl.col("out_interface").is_not_null())
            .then(pl.lit("forward"))
            .when(pl.col("in_interface").is_not_null()).then(pl.lit("in"))
            .when(pl.col("out_interface").is_not_null()).then(pl.lit("out"))
            .alias("direction"),
            pl.when(pl.col("bytes").is_not_null()).then(pl.lit(1, dtype=pl.UInt64))
            .alias("packets"),
            self._reason(frame, sys_ok | is_pve),
        )
        frame = frame.rename({n: f"__x_{n}" for n in _EXTRA})
        ctx.tally["bsd"] += int(frame["__bsd"].sum())
        ctx.tally["naive"] += int(frame["__naive"].sum())
        ctx.tally["status"] += n_status
        return frame

    @staticmethod
    def _reason(frame: pl.DataFrame, header_ok: pl.Expr) -> pl.Expr:
        """Why a line is rejected, the first that applies. A ported protocol's missing
        port is excused in a fragment or an ICMP error's quoted packet; that search over
        the message is skipped when no line misses a port (NULL counts are free)."""
        b = pl.col("__b").struct.field
        low = pl.col("proto").str.to_lowercase()
        ported = low.is_in(["tcp", "udp", "udplite", "sctp", "dccp"])
        missing = pl.col("src_port").is_null() | pl.col("dst_port").is_null()
        partial = pl.lit(False)
        if frame["src_port"].null_count() or frame["dst_port"].null_count():
            partial = pl.col("__msg").str.contains(r"INCOMPLETE \[|FRAG:")
        return pl.coalesce(
            pl.when(~header_ok).then(pl.lit("no syslog or pve-firewall header")),
            pl.when(b("in").is_null()).then(
                pl.lit("no IN=/OUT= fields: not a netfilter LOG line")),
            pl.when(pl.col("src_ip").is_null()).then(pl.lit("SRC= missing")),
            pl.when(pl.col("dst_ip").is_null()).then(pl.lit("DST= missing")),
            pl.when(pl.col("proto").is_null()).then(pl.lit("PROTO= missing (truncated line?)")),
            pl.when(ported & missing & ~partial)
            .then(pl.format("SPT=/DPT= missing for {} (truncated line?)", low)),
            pl.when(pl.col("ts").is_null()).then(
                c.bad_text("ts", pl.col("__ts_text").fill_null(""), "a valid time")),
        ).alias(c.REASON)
