"""Firewall fast paths give exactly what the careful paths give (values, rejects, lines)."""

from __future__ import annotations

import random

import polars as pl

from forensics.loaders.firewall import common
from forensics.loaders.jsontext import json_object


def test_build_extra_matches_json_object():
    """The concat_str `extra` is byte-identical to json_object, escapes and quirks included
    (values with quotes, backslashes, control characters, `:null`, non-ASCII, all NULL)."""
    rng = random.Random(7)
    alphabet = ["a", '"', "\\", "\x01", "\t", "é", "\x7f", ":", "null", ",", "}", "{", " ",
                ":null", "😀", "\u2028"]
    n = 5000
    cols = {f"__x_k{i}": [None if rng.random() < 0.4 else
                          "".join(rng.choice(alphabet) for _ in range(rng.randrange(4)))
                          for _ in range(n)] for i in range(4)}
    cols["__x_all_null"] = [None] * n
    # never NULL: first, the object is one flat concat_str; moved last, the nested form
    cols = {"__x_first": ["v" + rng.choice(alphabet) for _ in range(n)], **cols}
    frame = pl.DataFrame(cols, schema={k: pl.String for k in cols}).with_columns(
        pl.Series("__x_num", [None if rng.random() < 0.5 else rng.randrange(100)
                              for _ in range(n)], dtype=pl.UInt64))
    names = [c for c in frame.columns if c.startswith("__x_")]
    want = frame.select(json_object(names, {c: c[4:] for c in names}).alias("extra"))["extra"]
    assert common.build_extra(frame).to_list() == want.to_list()
    nested = frame.select([c for c in frame.columns if c != "__x_first"] + ["__x_first"])
    want = nested.select(json_object(nested.columns, {c: c[4:] for c in nested.columns}))
    assert common.build_extra(nested).to_list() == want.to_series().to_list()
    nulls = frame.select("__x_all_null")
    assert common.build_extra(nulls).to_list() == ["{}"] * n


# --- netfilter: fields by token shape vs the per-key regexes ---------------------------

_NF = [
    "Sep  1 00:00:00 fw-0 kernel: [0.000000] [UFW BLOCK] IN=eth0 OUT= "
    "MAC=de:1c:88:64:10:19:5e:e1:a4:3b:cf:f0:08:00 SRC=35.32.130.31 DST=129.200.240.74 LEN=60 "
    "TOS=0x00 PREC=0x00 TTL=52 ID=0 DF PROTO=UDP SPT=1024 DPT=22 LEN=56 ",
    "Sep 10 00:00:01 fw-1 kernel: [0.001000] IPTABLES-DROP: IN=eth0 OUT= "
    "MAC=de:1c:88:64:10:19:5e:e1:a4:3b:cf:f0:08:00 SRC=127.230.241.167 DST=131.187.168.251 "
    "LEN=60 TOS=0x00 PREC=0x00 TTL=52 ID=1 DF PROTO=TCP SPT=1025 DPT=80 WINDOW=1024 RES=0x00 "
    "SYN URGP=0 ",
    "Sep  2 03:04:05 gw kernel: IN=br0 OUT=eth1 PHYSIN=veth1 SRC=10.0.0.2 DST=8.8.8.8 LEN=84 "
    "TOS=0x00 PREC=0x00 TTL=63 ID=4711 DF PROTO=ICMP TYPE=8 CODE=0 ID=77 SEQ=1 MARK=0x1",
    "Sep  3 03:04:05 gw kernel: IN= OUT=eth1 SRC=10.0.0.2 DST=8.8.8.8 LEN=40 TOS=0x00 "
    "PREC=0x00 TTL=64 ID=1 PROTO=TCP SPT=5 DPT=443 WINDOW=0 RES=0x00 ACK PSH URGP=0",
    "Sep  3 03:04:06 gw kernel: IN= OUT=eth1 SRC=10.0.0.2 DST=8.8.8.8 LEN=40 TOS=0x00 "
    "PREC=0x00 TTL=64 ID=1 PROTO=TCP SPT=5 DPT=443 WINDOW=0 RES=0x00 URGP=0 ",
]


def _mutations(lines: list[str], rng: random.Random) -> list[str]:
    """Lines that must leave the fast path: odd whitespace, repeated or missing keys,
    empty tokens, over-long interface names, a prefix holding IN=; and text a JSON value
    escapes (or non-ASCII) in a token, which stays in the shape but not in `_VALUE`."""
    out = []
    for line in lines:
        head, _, kv = line.partition("IN=")
        tokens = ("IN=" + kv).split(" ")
        i = rng.randrange(len(tokens))
        pick = rng.randrange(12)
        if pick == 0:
            tokens.insert(i, "SRC=9.9.9.9")
        elif pick == 1:
            tokens[i] += "\tX"
        elif pick == 2:
            tokens[i] += "\u00a0Y"
        elif pick == 3:
            del tokens[i]
        elif pick == 4:
            tokens.insert(i, "")
        elif pick == 5:
            tokens[i] = "LEN=" + tokens[i]
        elif pick == 6:
            tokens[0] = "IN=" + "x" * rng.choice([27, 28, 40, 70])
        elif pick == 7:
            tokens[1] = "OUT=" + "y" * rng.choice([28, 29, 60])
        elif pick == 8:
            head = "LOGIN=1 " + head
        elif pick == 10:
            tokens[i] += rng.choice(['"', "\\", "\x01", "\x7f", "é", ":null", "😀"])
        else:  # a RES value _FLAGS_RE does not take: same shape, no flags
            tokens = [("RES=" + rng.choice(["zz", "0x", "00", "0xAbG"])) if t.startswith("RES=")
                      else t for t in tokens]
        out.append(head + " ".join(tokens))
    return out


def _netfilter_lines(n: int = 3000) -> list[str]:
    rng = random.Random(11)
    lines = [rng.choice(_NF) for _ in range(n)]
    lines[5:5] = _mutations(_NF * 60, rng)
    return lines


def _write(tmp_path, lines: list[str]) -> str:
    path = tmp_path / "nf.log"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _rows_and_rejects(case, path: str) -> tuple[list, list]:
    report = case.load(path, format="netfilter", year=2024)
    (f,) = report.files
    assert f.status == "loaded", f.message
    rows = case.sql("SELECT * EXCLUDE (evidence_id) FROM firewall_events "
                    "WHERE evidence_id = ? ORDER BY line_no", [f.evidence_id]).rows()
    rejects = case.sql("SELECT line_no, reason, raw FROM rejects WHERE evidence_id = ? "
                       "ORDER BY line_no", [f.evidence_id]).rows()
    return rows, rejects


def test_netfilter_fields_fast_equals_careful(monkeypatch):
    """Every field, per line, is what the per-key regexes give, for lines on and off the
    fast path (the same frame with shapes switched off is the careful path)."""
    from forensics.loaders.firewall import netfilter as nf

    lines = _netfilter_lines()
    after = [line.partition("IN=")[2] if "IN=" in line else None for line in lines]
    frame = pl.DataFrame({"line_no": range(len(after)), "__after": after},
                         schema={"line_no": pl.Int64, "__after": pl.String})
    assert nf._shapes(frame["__after"])  # the block has shapes: the fast path is in use
    fast = nf.with_fields(frame)
    assert 0 < fast.height
    monkeypatch.setattr(nf, "_shapes", lambda kv: [])
    careful = nf.with_fields(frame)
    assert fast.columns == careful.columns
    assert fast["__fast"].any() and not careful["__fast"].any()
    assert fast.drop("__fast").rows() == careful.drop("__fast").rows()
    # a shape line's key values need no JSON escape (what EXTRA_SAFE relies on)
    keys = fast.filter("__fast").select(list(nf._KEYS.values()))
    for name in keys.columns:
        assert not keys[name].str.contains(common.NEEDS_ESCAPE).any(), name


def test_netfilter_load_fast_equals_careful(tmp_path, monkeypatch):
    """A whole load, clean lines around damaged ones: the same rows and the same rejects
    with their line numbers, with and without the fast path."""
    import forensics
    from forensics.loaders.firewall import netfilter as nf

    lines = _netfilter_lines(2000)
    lines[100] = "Sep  1 00:00:00 fw-0 kernel: IN=eth0 OUT= SRC=1.2.3.4"  # truncated
    lines[200] = "Sep  1 00:00:00 fw-0 kernel: IN=eth0 OUT= SRC=1.2.3.999 DST=1.1.1.1 PROTO=UDP"
    lines[300] = "not a syslog line IN=eth0 OUT= SRC=1.2.3.4 DST=1.1.1.1 PROTO=ICMP"
    path = _write(tmp_path, lines)
    with forensics.open_case(str(tmp_path / "fast.duckdb")) as case:
        fast = _rows_and_rejects(case, path)
    monkeypatch.setattr(nf, "_shapes", lambda kv: [])
    with forensics.open_case(str(tmp_path / "careful.duckdb")) as case:
        careful = _rows_and_rejects(case, path)
    assert fast == careful
    rejected = [r[0] for r in fast[1]]
    assert {101, 201, 301} <= set(rejected)
    assert len(fast[0]) + len(fast[1]) == len(lines)


def test_syslog_fixed_layout_equals_header_regex():
    """The fixed-layout RFC 3164 split gives the header regex's groups exactly, and lines
    outside the layout (other wrappers, odd spacing, odd tags) still get the regex."""
    from forensics.loaders.firewall import timeparse as tp

    heads = ["Sep  1 00:00:00 fw-0 kernel: ", "Sep 10 23:59:59 fw-1 kernel[123]: ",
             "Oct 01 01:02:03 h CRON[1]:  ", "Sep 1 00:00:00 fw kernel: ",
             "Sep  1 00:00:00 fw kernel:", "Sep  1 00:00:00 fw kernel:x ",
             "Sep  1 00:00:00  fw kernel: ", "Sep  1 00:00:00 fw tag[x]: ",
             "Sep  1 00:00:00 fw\ttab: ", "Sep  1 00:00:00.123 fw kernel: ",
             "<4>Sep  1 00:00:00 fw kernel: ", "Sep  1 0٣:00:00 fw kernel: ",
             "Sep  1 00:00:00 hôst kernel: ", "Sep  1 00:00:00 " + "h" * 300 + " kernel: ",
             "2024-09-01T00:00:00+02:00 fw kernel: ", "<13>1 2024-09-01T00:00:00Z fw app - - - ",
             "Sep  1 00:00:00 fw a:b: ", "no header at all ", ""]
    bodies = ["IN=eth0 OUT= SRC=1.2.3.4", "", " leading space", "ÄÖ IN=x"]
    lines = [h + b for h in heads for b in bodies] * 3
    frame = pl.DataFrame({"line_no": range(len(lines)), "line": lines},
                         schema={"line_no": pl.Int64, "line": pl.String})
    got, _ = tp.add_syslog(frame)
    assert frame.select(pl.col("line").str.contains(tp._BSD_FIXED_RE)).to_series().sum() > 0
    want = tp._syslog_careful(frame, "line")
    assert got.columns == want.columns
    assert got.rows() == want.rows()


def test_split_lines_matches_python():
    """Bulk line splitting gives Python's decode().split("\\n"), and None (the careful
    per-line decode) exactly when Python's strict decode fails."""
    from forensics.loaders.reading import split_lines

    samples = [b"", b"a", b"a\n", b"\n", b"a\nb\n\nc", "é\n😀".encode(), b"\xff\n",
               b"\xed\xa0\x80", b"\xc0\xaf", b"ok\n\xf0\x9f\x98", "a\u2028b\x85c\rd".encode()]
    for data in samples:
        try:
            want = data.decode("utf-8").split("\n")
        except UnicodeDecodeError:
            want = None
        got = split_lines(data)
        assert (got.to_list() if got is not None else None) == want, data


def _random_block(rng: random.Random, n_lines: int) -> bytes:
    """Lines of every length around the 12-byte inline limit of a string view, blank and
    whitespace-only lines, CRLF, multi-byte characters and (sometimes) invalid UTF-8."""
    pieces = ["a", "IN=", " ", "\t", "\r", "é", "😀", "x" * 9, "\u2028"]
    lines = []
    for _ in range(n_lines):
        line = "".join(rng.choice(pieces) for _ in range(rng.choice([0, 1, 3, 6, 12, 40])))
        raw = line.encode()
        if rng.random() < 0.002:
            raw += rng.choice([b"\xff", b"\xed\xa0\x80", b"\xc3"])
        lines.append(raw)
    return b"\n".join(lines)


def test_split_lines_random_blocks():
    """Views over a block's bytes are the strings Python splits: values, lengths, and
    comparisons (which read the view's inlined bytes and prefix) all agree."""
    from forensics.loaders.reading import split_lines

    rng = random.Random(11)
    for n_lines in [1, 2, 5, 50, 2000]:
        for _ in range(20):
            data = _random_block(rng, n_lines)
            try:
                want = data.decode("utf-8").split("\n")
            except UnicodeDecodeError:
                assert split_lines(data) is None
                continue
            got = split_lines(data)
            assert got.to_list() == want
            ref = pl.Series("line", want, dtype=pl.String)
            assert (got == ref).all() and got.equals(ref)
            assert got.str.len_bytes().to_list() == [len(w.encode()) for w in want]
            assert got.sort().to_list() == sorted(want)
            assert got.unique().sort().to_list() == sorted(set(want))
            assert got.str.starts_with("a").to_list() == [w.startswith("a") for w in want]


def _block_lines_by_python(data: bytes, first: int, limit: int):
    """The reference for `block_lines`: one line at a time, in Python."""
    kept, rejects, blank = [], [], 0
    crlf = b"\r" in data
    for i, raw in enumerate(data.split(b"\n")):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            rejects.append((first + i, f"not valid UTF-8 at byte {exc.start}"))
            continue
        if crlf:
            text = text.removesuffix("\r")
        if text.strip(" \t") == "":
            blank += 1
        elif len(text.encode()) > limit:
            rejects.append((first + i, f"line is {len(text.encode())} bytes, over the limit "
                                       f"of {limit}"))
        else:
            kept.append((first + i, text))
    return kept, rejects, blank


def test_block_lines_matches_python():
    """A block's data lines, blank count and rejects (invalid UTF-8, over-long) are what
    a line-by-line reading gives."""
    from forensics.loaders.base import LoadContext, LoadOptions
    from forensics.loaders.reading import Block

    rng = random.Random(5)
    for n_lines in [1, 3, 40, 3000]:
        for _ in range(15):
            data = _random_block(rng, n_lines)
            if rng.random() < 0.3:
                data = data.replace(b"\r", b"")  # no CR: the cheaper path
            ctx = LoadContext(con=None, path="x", evidence_id=1,
                              options=LoadOptions(max_line_bytes=60), _owner=-1)
            block = Block(data, 7, data.count(b"\n") + 1)
            frame = common.block_lines(ctx, block)
            got = frame.rows() if frame is not None else []
            kept, rejects, blank = _block_lines_by_python(data, 7, 60)
            assert got == kept
            assert sorted((r[0], r[1]) for r in ctx._rejects) == rejects
            assert ctx.blank_lines == blank
            assert ctx.lines_read == len(kept) + len(rejects) + blank


def test_netfilter_lead_equals_regex():
    """Uptime stamp and prefix by position give `_LEAD_RE`'s groups, odd stamps included."""
    from forensics.loaders.firewall import netfilter as nf

    before = ["[0.000000] [UFW BLOCK] ", "[  12.5] IPTABLES-DROP: ", "[1.2]", "[1.2]x ",
              "[\t1.2] y ", "[1٣.2] z ", "[UFW BLOCK] ", "", "plain ", "[1.2]  two ",
              "[ 1.2] é ", "ö [1.2] ", None]
    frame = pl.DataFrame({"line_no": range(len(before) * 3), "__before": before * 3},
                         schema={"line_no": pl.Int64, "__before": pl.String})
    got = nf.with_lead(frame)["__lead"]
    want = frame.select(pl.col("__before").str.extract_groups(nf._LEAD_RE))["__before"]
    assert got.struct.unnest().rows() == want.struct.unnest().rows()


def test_bsd_times_once_per_distinct_text(tmp_path):
    """Parsing each distinct RFC 3164 time once gives the per-line values: the year from
    the file's mtime (December lines in a January file go back a year), DST gaps NULL,
    the earliest of an ambiguous hour, unparsable text NULL."""
    import datetime as dt
    import os
    from types import SimpleNamespace

    from forensics.loaders.firewall import timeparse as tp

    path = tmp_path / "fw.log"
    path.write_text("x\n")
    jan = dt.datetime(2024, 1, 2, 12, tzinfo=dt.UTC).timestamp()
    os.utime(path, (jan, jan))
    texts = ["Dec 31 23:59:59", "Jan  1 00:00:01", "Mar 31 02:30:00", "Oct 27 02:30:00",
             "Jan  2 13:00:00", "Jan  3 13:00:00", "Feb 30 00:00:00", "Sep  1 00:00:00.5",
             None]
    series = pl.Series("t", texts * 20, dtype=pl.String)
    for year in (None, 2023):
        ctx = SimpleNamespace(path=str(path),
                              options=SimpleNamespace(year=year, tz="Europe/Berlin"))
        frame = series.to_frame()
        got = frame.select(tp.bsd_column_to_utc(ctx, series).alias("t"))["t"]
        want = frame.select(tp.bsd_to_utc(ctx, pl.col("t")).alias("t"))["t"]
        assert got.to_list() == want.to_list()
        assert got.null_count() < got.len()


def test_proto_once_per_text_equals_per_line():
    """Protocol value and reason worked out per distinct text are the per-line ones."""
    texts = ["TCP", " udp ", "6", "17", "300", "-1", "", "ip v6", "ICMPv6", "ipv6-icmp",
             "gre", None, "x\ty", "Tcp", "0", "255", "256"]
    for column in [texts, texts * 50]:  # few repeats: per line; many: per text
        protos = pl.Series("proto", column, dtype=pl.String)
        value, why = common.proto_expr("proto")
        want = protos.to_frame().with_columns(common.proto_parts("proto")).select(
            value.alias("value"), why.alias("why"))
        got = common.proto_checked(protos)
        assert got[0].to_list() == want["value"].to_list()
        assert got[1].to_list() == want["why"].to_list()


def test_netfilter_extra_escapes_on_shape_lines(tmp_path):
    """Shape lines are marked EXTRA_SAFE (their extra is not searched for escapes), so what
    could still need one there must not be missed: a syslog tag with a quote, a backslash
    or a control character (the tag is looked at on its own), and key values with such
    text (those lines leave the shape). extra is valid JSON holding the text as written."""
    import json

    import forensics

    odd = {"tags": ['ker"nel', "ker\\nel", "ker\x01nel"],
           "ttl": ['5"', "5\\", "5\x02", ":null", "é"]}
    lines = [_NF[i % 2] for i in range(400)]
    for k, tag in enumerate(odd["tags"]):
        lines[10 + k] = _NF[1].replace(" kernel: ", f" {tag}: ")
    for k, ttl in enumerate(odd["ttl"]):
        lines[20 + k] = _NF[1].replace("TTL=52", f"TTL={ttl}")
    path = _write(tmp_path, lines)
    with forensics.open_case(str(tmp_path / "c.duckdb")) as case:
        rows, rejects = _rows_and_rejects(case, path)
        extras = case.sql("SELECT line_no, extra FROM firewall_events ORDER BY line_no").rows()
    assert not rejects and len(rows) == len(lines)
    by_line = {n: json.loads(text) for n, text in extras}
    assert [by_line[11 + k]["tag"] for k in range(3)] == odd["tags"]
    assert [by_line[21 + k]["ttl"] for k in range(5)] == odd["ttl"]
    assert by_line[1] == {"tag": "kernel", "uptime": "0.000000", "ttl": "52", "ip_id": "0",
                          "mac": "de:1c:88:64:10:19:5e:e1:a4:3b:cf:f0:08:00", "tos": "0x00"}


def test_escape_free_text_is_written_as_json_object_writes_it():
    """What EXTRA_SAFE rows get (the concat_str object, no search) equals json_object for
    any value free of quotes, backslashes and control characters, `:null` included."""
    values = [":null", "a:null", ":nullx", "null", "x:null,", "é", "\x7f", "", "}{"]
    frame = pl.DataFrame({"__x_a": values, "__x_b": ["1"] * len(values)})
    keys = {"__x_a": "a", "__x_b": "b"}
    got = frame.select(common._flat_object(frame, ["__x_a", "__x_b"], keys)).to_series()
    want = frame.select(json_object(["__x_a", "__x_b"], keys)).to_series()
    assert got.to_list() == want.to_list()
    flagged = frame.with_columns(pl.lit(True).alias(common.EXTRA_SAFE))
    assert common.build_extra(flagged).to_list() == want.to_list()
