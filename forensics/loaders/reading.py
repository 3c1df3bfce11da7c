"""Reading evidence files as numbered blocks of whole lines.

Every loader needs the same three things from a file: its bytes decompressed (`.gz` is
transparent, and a damaged gzip yields everything before the damage plus a note of where it
broke), those bytes in large blocks that end on a line boundary so a bulk parser can take a
whole block at once, and the 1-based line number of each block's first line so every row
keeps its provenance. Counting newlines and finding the rare comment or blank line are
C-speed byte searches; no Python code runs per line here.
"""

from __future__ import annotations

import hashlib
import os
import threading
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from queue import Empty, Full, Queue
from typing import Any, TypeVar

import numpy as np
import polars as pl
import pyarrow as pa

T = TypeVar("T")
U = TypeVar("U")

BLOCK_BYTES = 32 << 20
RAW_READ_BYTES = 8 << 20
GZIP_MAGIC = b"\x1f\x8b"


@dataclass
class Block:
    """Whole lines of a file: `data` holds `n_lines` lines, the first being `first_line`.

    `data` never includes the final newline of its last line. `damage` is set on the last
    block of a stream that could not be fully decompressed: its last line is the partial
    text before the damage (possibly empty) and must not be treated as a data line.
    """

    data: bytes
    first_line: int
    n_lines: int
    damage: str | None = None


def sha256_file(path: str | os.PathLike[str],
                stop: threading.Event | None = None) -> tuple[str, int]:
    """SHA-256 and size of the file as stored (compressed bytes for .gz); `stop` ends the
    reading early (`BackgroundDigest.cancel`)."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while not (stop and stop.is_set()) and (chunk := fh.read(RAW_READ_BYTES)):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


class BackgroundDigest:
    """`sha256_file` computed in a thread while the file is loaded.

    A loader reads every byte anyway and rarely keeps both cores busy at the start and end
    of a file; hashing 700 MB first cost half a second of one core before any row was
    parsed. `hashlib` and file reads release the GIL, so the digest costs the load almost
    nothing. `result()` waits and returns (digest, size) or raises the read's error;
    `cancel()` stops it early (the load failed).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._stop = threading.Event()
        self._outcome: tuple[str, int] | BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(path,),
                                         name="forensics-sha256", daemon=True)
        self._thread.start()

    def _run(self, path: str | os.PathLike[str]) -> None:
        try:
            self._outcome = sha256_file(path, self._stop)
        except BaseException as exc:  # handed to result(), never lost
            self._outcome = exc

    def result(self) -> tuple[str, int]:
        self._thread.join()
        if self._stop.is_set():
            raise RuntimeError("the digest was cancelled")
        if isinstance(self._outcome, BaseException):
            raise self._outcome
        assert self._outcome is not None
        return self._outcome

    def cancel(self) -> None:
        self._stop.set()
        self._thread.join()


def is_gzip(path: str | os.PathLike[str]) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == GZIP_MAGIC


def _raw_chunks(path: str | os.PathLike[str], size: int = RAW_READ_BYTES) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while chunk := fh.read(size):
            yield chunk


def decompressed_chunks(path: str | os.PathLike[str]) -> Iterator[bytes | BaseException]:
    """Yield the file's content in chunks; a gzip that breaks yields its error last.

    zlib is driven directly (not `gzip.GzipFile`) so that everything decompressed before
    a corruption is kept: GzipFile discards the partial buffer of the read that fails.
    Concatenated gzip members (rotated logs joined with `cat`) are followed.
    """
    if not is_gzip(path):
        # whole blocks at once: iter_blocks then joins two pieces, not many
        yield from _raw_chunks(path, BLOCK_BYTES)
        return
    decomp = zlib.decompressobj(wbits=47)
    fed = False
    carry = b""
    for raw in _raw_chunks(path):
        chunk = carry + raw
        carry = b""
        while chunk:
            if not fed and len(chunk) < 2:
                carry = chunk  # too short to tell whether another member starts here
                break
            if not fed and chunk[:2] != GZIP_MAGIC:
                if chunk.strip(b"\x00"):
                    yield ValueError("bytes after the last gzip member are not gzip data")
                return
            fed = True
            try:
                out = decomp.decompress(chunk)
            except zlib.error as exc:
                yield ValueError(f"gzip data is damaged: {exc}")
                return
            if out:
                yield out
            if decomp.eof:
                chunk = decomp.unused_data
                decomp = zlib.decompressobj(wbits=47)
                fed = False
            else:
                chunk = b""
    if fed and not decomp.eof:
        tail = decomp.flush()
        if tail:
            yield tail
        yield EOFError("gzip stream ends before its end marker: the file is truncated")


def iter_blocks(path: str | os.PathLike[str], block_bytes: int = BLOCK_BYTES) -> Iterator[Block]:
    """Split the decompressed content into blocks of whole lines, numbered from 1."""
    if os.path.isfile(path) and not is_gzip(path):  # seekable: read each block once
        yield from _plain_blocks(path, block_bytes)
        return
    yield from _stream_blocks(decompressed_chunks(path), block_bytes)


# How far past a block's nominal end to look for the newline that ends it.
_PEEK_BYTES = 64 << 10


def _plain_blocks(path: str | os.PathLike[str], block_bytes: int) -> Iterator[Block]:
    """Blocks of an uncompressed file, each read with ONE `read` of exactly its bytes.

    The end of a block (the first newline after `block_bytes`) is found by peeking at a
    small window there first, so the block's bytes are copied once, from the kernel, and
    never joined or sliced again: on a 720 MB log that is a third of the CPU the general
    stream splitter spends.
    """
    size = os.path.getsize(path)
    next_line = 1
    with open(path, "rb") as fh:
        start = 0
        while start < size:
            end = _block_end(fh, start + block_bytes, size)
            fh.seek(start)
            data = fh.read(end - start)
            start = end + 1  # past the newline (or past the end of the file)
            if end >= size and data.endswith(b"\n"):
                data = data[:-1]  # the file's final newline ends the last line
            n = count_newlines(data) + 1
            yield Block(data, next_line, n)
            next_line += n


def _block_end(fh: Any, nominal: int, size: int) -> int:
    """Offset of the first newline at or after `nominal` (or `size`: the file's end)."""
    pos = nominal
    while pos < size:
        fh.seek(pos)
        window = fh.read(_PEEK_BYTES)
        hit = window.find(b"\n")
        if hit >= 0:
            return pos + hit
        pos += len(window)
    return size


def _stream_blocks(chunks: Iterator[bytes | BaseException], block_bytes: int) -> Iterator[Block]:
    """Blocks of a decompressed stream, which cannot be read at an offset."""
    parts: list[bytes] = []
    size = 0
    next_line = 1
    for item in chunks:
        if isinstance(item, BaseException):
            # Whatever is pending (possibly empty) ends in the partial line before the damage.
            pending = b"".join(parts)
            yield Block(pending, next_line, count_newlines(pending) + 1, damage=str(item))
            return
        parts.append(item)
        size += len(item)
        if size < block_bytes or b"\n" not in item:
            continue  # (one enormous line: keep reading until it ends)
        pending = b"".join(parts)
        cut = pending.rfind(b"\n")
        data, rest = pending[:cut], pending[cut + 1 :]
        parts, size = ([rest], len(rest)) if rest else ([], 0)
        n = count_newlines(data) + 1
        yield Block(data, next_line, n)
        next_line += n
    if parts:
        pending = b"".join(parts)
        if pending.endswith(b"\n"):
            pending = pending[:-1]
        yield Block(pending, next_line, count_newlines(pending) + 1)


def prefetch(items: Iterator[T], depth: int = 2) -> Iterator[T]:
    """Run a producer generator in a background thread, `depth` items ahead.

    Parsing (polars) and inserting (DuckDB) both release the GIL, so on two cores the next
    block is parsed while the previous one is written. The producer must not touch the
    database connection. An exception in the producer is re-raised here; if the consumer
    stops early, the producer is told to stop and is joined.
    """
    queue: Queue = Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def run() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        queue.put(("item", item), timeout=0.1)
                        break
                    except Full:
                        continue
                if stop.is_set():
                    return
            queue.put(("done", done))
        except BaseException as exc:  # handed to the consumer, never lost
            queue.put(("error", exc))

    thread = threading.Thread(target=run, name="forensics-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = queue.get()
            if kind == "item":
                yield value
            elif kind == "error":
                raise value
            else:
                return
    finally:
        stop.set()
        while thread.is_alive():
            try:
                queue.get_nowait()
            except Empty:
                pass
            thread.join(timeout=0.05)


def ordered_map(work: Callable[[T], U], items: Iterator[T], workers: int = 2) -> Iterator[U]:
    """`work(item)` for each item in `workers` threads, yielded in the items' order.

    A producer that is one thread (parse, check, convert a block) leaves a core idle
    while DuckDB waits for it; polars releases the GIL, so two blocks parsed at once use
    both. At most `workers + 1` items are in flight. `work` must not touch the database
    connection and must keep its counting to itself (see `LoadContext.fork`). An error
    is raised here, in order; if the consumer stops, pending work is cancelled.
    """
    from concurrent.futures import Future, ThreadPoolExecutor

    pending: deque[Future[U]] = deque()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="forensics-block")
    try:
        for item in items:
            pending.append(pool.submit(work, item))
            if len(pending) > workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True)


def has_long_line(data: bytes, limit: int) -> bool:
    """Whether a line of `data` is longer than `limit` bytes, without splitting it.

    Such a line covers a whole aligned window of limit/2 bytes, so only a window with no
    newline in it (rare) calls for the exact check: a few hundred `find`s per 32 MB block
    that each stop at the window's first newline.
    """
    if len(data) <= limit:
        return False
    half = max(limit // 2, 1)
    for start in range(0, len(data), half):
        if start + half <= len(data) and data.find(b"\n", start, start + half) < 0:
            return max(map(len, data.split(b"\n"))) > limit
    return False


def special_line_starts(data: bytes, comment: bytes | None) -> list[int]:
    """Byte offsets of lines in `data` that are blank or start with `comment`.

    Found with `bytes.find`, so a block with none costs two memchr-speed passes.
    """
    hits: list[int] = []
    needles = [b"\n\n"]
    if comment:
        needles.append(b"\n" + comment)
    for needle in needles:
        pos = data.find(needle)
        while pos >= 0:
            hits.append(pos + 1)
            pos = data.find(needle, pos + 1)
    if data.startswith(b"\n") or data == b"" or (comment and data.startswith(comment)):
        hits.append(0)
    if data.endswith(b"\n"):
        hits.append(len(data))  # the empty last line
    return sorted(set(hits))


@dataclass
class Run:
    """Consecutive lines of one kind inside a block."""

    data: bytes
    first_line: int
    n_lines: int
    special: bool


def split_runs(block: Block, comment: bytes | None) -> Iterator[Run]:
    """Split a block into runs of ordinary lines and single special (blank/comment) lines."""
    data = block.data
    starts = special_line_starts(data, comment)
    if not starts:
        yield Run(data, block.first_line, block.n_lines, special=False)
        return
    pos = 0
    line = block.first_line
    for start in starts:
        if start > pos:
            chunk = data[pos : start - 1]  # the lines before, without the newline ending them
            n = chunk.count(b"\n") + 1
            yield Run(chunk, line, n, special=False)
            line += n
        end = data.find(b"\n", start)
        end = len(data) if end < 0 else end
        yield Run(data[start:end], line, 1, special=True)
        line += 1
        pos = end + 1
    if pos <= len(data):
        chunk = data[pos:]
        yield Run(chunk, line, chunk.count(b"\n") + 1, special=False)


def split_lines(data: bytes) -> pl.Series | None:
    """`data.split(b"\\n")` decoded, as one String column that points into `data` (no copy
    of the text); None if `data` is not valid UTF-8 (the caller decodes line by line).

    A polars string is a 16-byte view: its length, its first 4 bytes, and the offset of
    the rest in a shared buffer (a string of 12 bytes or fewer is held in the view itself).
    numpy finds the newlines and writes the views over the block's own bytes, so splitting
    costs a pass over the bytes and a few column operations, not a copy of every line
    (polars' `str.split` + `explode` cost twice as much, and finding blank lines by
    `bytes.find` as much again: empty lines are simply empty strings here). A block is
    valid UTF-8 exactly when each of its lines is (a newline is never part of a multi-byte
    character), so one check of the block covers its lines.
    """
    if not data.isascii():
        try:
            pl.Series([data], dtype=pl.Binary).cast(pl.String)
        except pl.exceptions.ComputeError:  # "invalid utf8"
            return None
    if len(data) >= 1 << 32:  # a view's offset is 32 bits: split the slow way
        return pl.Series("line", [data.decode("utf-8")]).str.split("\n").explode()
    raw = np.frombuffer(data, dtype=np.uint8)
    newlines = _newlines(raw)
    starts = np.empty(len(newlines) + 1, dtype=np.int64)
    starts[0] = 0
    starts[1:] = newlines + 1
    lengths = np.empty_like(starts)
    lengths[:-1] = newlines - starts[:-1]
    lengths[-1] = len(data) - starts[-1]
    views = np.zeros(len(starts), dtype=[("len", "<u4"), ("prefix", "<u4"), ("buffer", "<u4"),
                                         ("offset", "<u4")])
    views["len"] = lengths
    views["offset"] = starts
    if len(data):
        last = len(data) - 1  # (prefix bytes past a string's end only matter for inlined ones)
        prefix = np.zeros(len(starts), dtype=np.uint32)
        for k in range(4):
            prefix |= raw[np.minimum(starts + k, last)].astype(np.uint32) << (8 * k)
        views["prefix"] = prefix
    short = np.flatnonzero(lengths <= 12)
    if len(short):  # inlined: the bytes themselves, zero-padded, in place of prefix/buffer/offset
        at = np.minimum(starts[short, None] + np.arange(12), max(len(data) - 1, 0))
        inline = raw[at] if len(data) else np.zeros((len(short), 12), dtype=np.uint8)
        inline[np.arange(12) >= lengths[short, None]] = 0
        views.view(np.uint8).reshape(-1, 16)[short, 4:] = inline
    array = pa.Array.from_buffers(pa.string_view(), len(starts),
                                  [None, pa.py_buffer(views), pa.py_buffer(data)])
    return pl.Series("line", array)


_SCAN_BYTES = 1 << 20


def count_newlines(data: bytes) -> int:
    """`data.count(b"\\n")`, a third of its CPU on a 32 MiB block: numpy compares a MiB at
    a time (a reused temporary, like `_newlines`) where `bytes.count` runs a general
    substring search. Small data takes `bytes.count` (numpy's per-call cost is larger)."""
    if len(data) < _SCAN_BYTES:
        return data.count(b"\n")
    raw = np.frombuffer(data, dtype=np.uint8)
    return sum(int(np.count_nonzero(raw[at:at + _SCAN_BYTES] == 10))
               for at in range(0, len(raw), _SCAN_BYTES))


def _newlines(raw: np.ndarray) -> np.ndarray:
    """Offsets of the newlines in `raw`, found a MiB at a time: a block-sized temporary
    (the comparison's booleans) would be fresh memory every block, paid for in page
    faults; a small one is reused."""
    parts = [np.flatnonzero(raw[at:at + _SCAN_BYTES] == 10) + at
             for at in range(0, len(raw), _SCAN_BYTES)]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def read_head(path: str | os.PathLike[str], size: int = 65536) -> bytes:
    """The first `size` bytes of the decompressed content, for sniffing.

    A plain file is read for just those bytes: its chunks are whole 32 MiB blocks, and
    reading one to keep 64 KiB cost ~12 ms for an 18 MB file, on every load."""
    if not is_gzip(path):
        with open(path, "rb") as fh:
            return fh.read(size)
    out = b""
    for item in decompressed_chunks(path):
        if isinstance(item, BaseException):
            break
        out += item
        if len(out) >= size:
            break
    return out[:size]
