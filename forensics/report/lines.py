"""The raw log text behind a finding: the cited line, read back from the evidence file.

A report is read by people who were not in the notebook, so each finding shows the log
lines it rests on, verbatim. The case keeps the path and SHA-256 of every file but not its
lines, so a line is read from the file when it is still there and still the same bytes
(same size, and same SHA-256 up to `HASH_LIMIT`); otherwise, and for formats without lines
(JSON documents, Parquet, tuples inside a record), the `events` view's summary stands in
and the report says so.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass

LINE_CAP = 500  # characters of one evidence line shown in the report
HASH_LIMIT = 1 << 30  # files up to 1 GiB are re-hashed before their lines are trusted
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class EvidenceFile:
    """What the case knows about one evidence file."""

    evidence_id: int
    path: str
    sha256: str
    size_bytes: int
    notes: tuple[str, ...] = ()

    @property
    def line_based(self) -> bool:
        """False for formats whose line_no is a record index (the loaders note that)."""
        for note in self.notes:
            low = note.lower()
            if ("line_no is" in low and "index" in low) or "input unit" in low:
                return False
        return True


def cap(text: str, limit: int = LINE_CAP) -> str:
    """Cut `text` to `limit` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text) - limit} more characters]"


def unchanged(ev: EvidenceFile) -> bool:
    """True when the file at ev.path is still the file that was loaded."""
    try:
        if os.path.getsize(ev.path) != ev.size_bytes:
            return False
    except OSError:
        return False
    if ev.size_bytes > HASH_LIMIT:
        return True  # size checked only: re-hashing very large files every morning is too slow
    digest = hashlib.sha256()
    try:
        with open(ev.path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return False
    return digest.hexdigest() == ev.sha256


def read_lines(ev: EvidenceFile, line_nos: Iterable[int]) -> dict[int, str]:
    """The text of the wanted 1-based lines of a line-based, unchanged evidence file.

    Reads the file once, up to the last wanted line; gzip is read transparently like the
    loaders do. Bytes that are not UTF-8 show as `\\xHH`. Returns {} when the file cannot be
    trusted (moved, changed, unreadable) so the caller falls back to the events summary.
    """
    wanted = set(line_nos)
    if not wanted or not ev.line_based or not unchanged(ev):
        return {}
    last = max(wanted)
    out: dict[int, str] = {}
    try:
        with open(ev.path, "rb") as probe:
            magic = probe.read(2)
        opener = gzip.open if magic == _GZIP_MAGIC else open
        with opener(ev.path, "rb") as fh:  # type: ignore[operator]
            for no, raw in enumerate(fh, start=1):
                if no in wanted:
                    text = raw.rstrip(b"\r\n").decode("utf-8", errors="backslashreplace")
                    out[no] = cap(text)
                if no >= last:
                    break
    except (OSError, EOFError):
        return {}
    return out
