"""Reading files as numbered whole-line blocks: boundaries, gzip members, damage."""

from __future__ import annotations

import gzip

import pytest

from forensics.loaders import reading
from forensics.loaders.reading import iter_blocks, prefetch, read_head, split_runs


def _lines(blocks):
    out = []
    for b in blocks:
        for i, line in enumerate(b.data.split(b"\n")):
            out.append((b.first_line + i, line))
    return out


@pytest.mark.parametrize("block_bytes", [1, 7, 64, 1 << 20])
def test_block_boundaries_keep_every_line_and_its_number(tmp_path, block_bytes):
    text = b"".join(b"line %d %s\n" % (i, b"x" * (i % 13)) for i in range(1, 501))
    path = tmp_path / "f.log"
    path.write_bytes(text)
    got = _lines(iter_blocks(path, block_bytes=block_bytes))
    assert got == [(i, b"line %d %s" % (i, b"x" * (i % 13))) for i in range(1, 501)]


def test_no_trailing_newline_and_trailing_blank_line(tmp_path):
    (tmp_path / "a").write_bytes(b"a\nb")
    assert _lines(iter_blocks(tmp_path / "a")) == [(1, b"a"), (2, b"b")]
    (tmp_path / "b").write_bytes(b"a\nb\n\n")
    assert _lines(iter_blocks(tmp_path / "b")) == [(1, b"a"), (2, b"b"), (3, b"")]
    (tmp_path / "c").write_bytes(b"")
    assert list(iter_blocks(tmp_path / "c")) == []


def test_plain_file_blocks_match_the_stream_splitter_on_random_files(tmp_path, monkeypatch):
    """The seek-and-read splitter of plain files gives exactly the lines (and numbers) of
    the general stream splitter, for random line lengths, blank lines, file endings, block
    sizes and peek windows smaller than a line."""
    import random

    from forensics.loaders import reading

    rng = random.Random(3)
    path = tmp_path / "f.log"
    for _ in range(600):
        lines = [b"x" * rng.choice([0, 0, 1, 3, 7, 20, 70]) for _ in range(rng.randrange(40))]
        path.write_bytes(b"\n".join(lines) + rng.choice([b"", b"\n", b"\n\n"]))
        block = rng.choice([1, 2, 5, 16, 64])
        monkeypatch.setattr(reading, "_PEEK_BYTES", rng.choice([1, 3, 64]))
        streamed = reading._stream_blocks(reading._raw_chunks(path, block), block)
        plain = list(reading._plain_blocks(path, block))
        assert _lines(plain) == _lines(streamed)
        assert all(b.data.count(b"\n") + 1 == b.n_lines for b in plain)


def test_concatenated_gzip_members_are_followed(tmp_path):
    path = tmp_path / "rotated.log.gz"
    path.write_bytes(gzip.compress(b"one\ntwo\n") + gzip.compress(b"three\n"))
    blocks = list(iter_blocks(path))
    assert _lines(blocks) == [(1, b"one"), (2, b"two"), (3, b"three")]
    assert all(b.damage is None for b in blocks)


def test_truncated_gzip_keeps_what_came_before_and_says_where_it_broke(tmp_path):
    body = b"".join(b"record %06d\n" % i for i in range(20000))
    packed = gzip.compress(body)
    path = tmp_path / "cut.log.gz"
    path.write_bytes(packed[: len(packed) // 2])
    blocks = list(iter_blocks(path))
    assert blocks[-1].damage and "truncated" in blocks[-1].damage
    lines = _lines(blocks)
    *whole, (last_no, partial) = lines
    assert len(whole) > 1000
    assert whole == [(i + 1, b"record %06d" % i) for i in range(len(whole))]
    assert last_no == len(whole) + 1 and b"record %06d" % len(whole) != partial


def test_corrupted_gzip_bytes_are_reported_as_damage(tmp_path):
    packed = bytearray(gzip.compress(b"".join(b"r%d\n" % i for i in range(50000))))
    packed[len(packed) // 2 : len(packed) // 2 + 16] = b"\xff" * 16
    path = tmp_path / "bad.log.gz"
    path.write_bytes(bytes(packed))
    blocks = list(iter_blocks(path))
    assert blocks[-1].damage is not None


def test_read_head_decompresses(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(b"#separator \\x09\n" * 10))
    assert read_head(path, 16) == b"#separator \\x09\n"


def test_split_runs_separates_comment_and_blank_lines(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"#h\n1\n2\n\n#x\n3\n")
    (block,) = iter_blocks(path)
    runs = [(r.first_line, r.n_lines, r.special, r.data) for r in split_runs(block, b"#")]
    assert runs == [(1, 1, True, b"#h"), (2, 2, False, b"1\n2"), (4, 1, True, b""),
                    (5, 1, True, b"#x"), (6, 1, False, b"3")]


def test_prefetch_passes_items_and_errors_through():
    assert list(prefetch(iter(range(100)), depth=2)) == list(range(100))

    def broken():
        yield 1
        raise ValueError("producer failed")

    got = []
    with pytest.raises(ValueError, match="producer failed"):
        for item in prefetch(broken()):
            got.append(item)
    assert got == [1]


def test_prefetch_stops_its_producer_when_the_consumer_stops():
    produced = []

    def endless():
        i = 0
        while True:
            produced.append(i)
            yield i
            i += 1

    gen = prefetch(endless(), depth=2)
    assert next(gen) == 0
    gen.close()
    count = len(produced)
    assert count < 10


def test_has_long_line_agrees_with_measuring_every_line():
    import random

    from forensics.loaders.reading import has_long_line

    rng = random.Random(5)
    for _ in range(2000):
        lines = [b"y" * rng.choice([0, 1, 5, 9, 10, 11, 30]) for _ in range(rng.randrange(1, 30))]
        data = b"\n".join(lines)
        limit = rng.choice([1, 2, 9, 10, 16])
        assert has_long_line(data, limit) == (max(map(len, lines)) > limit), (data, limit)


def test_ordered_map_keeps_order_raises_in_order_and_stops_when_abandoned():
    import threading
    import time

    from forensics.loaders.reading import ordered_map

    def slow(i):
        time.sleep(0.002 * ((7 * i) % 5))  # later items often finish first
        return i * i

    assert list(ordered_map(slow, iter(range(40)))) == [i * i for i in range(40)]

    def boom(i):
        if i == 5:
            raise ValueError("item 5")
        return i

    got = []
    with pytest.raises(ValueError, match="item 5"):
        for value in ordered_map(boom, iter(range(20))):
            got.append(value)
    assert got == [0, 1, 2, 3, 4]

    started = []
    lock = threading.Lock()

    def record(i):
        with lock:
            started.append(i)
        return i

    stream = ordered_map(record, iter(range(1000)))
    assert next(stream) == 0
    stream.close()
    assert len(started) <= 4  # at most workers + 1 in flight, nothing after the close


@pytest.mark.parametrize("size", [0, 1, 1000, (1 << 20) - 1, 1 << 20, (1 << 20) + 1,
                                  3 * (1 << 20) + 17])
def test_count_newlines_agrees_with_bytes_count(size):
    import random
    rng = random.Random(size)
    data = bytes(rng.choice(b"ab\n\r\xc3\xa9 ") for _ in range(size))
    assert reading.count_newlines(data) == data.count(b"\n")
    assert reading.count_newlines(b"\n" * size) == size
