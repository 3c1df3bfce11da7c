"""Loading files into a case: expand the inputs, sniff, one transaction per file.

The guarantees an analyst relies on live here, not in the loaders:
- a file is in the case completely or not at all (one transaction, rolled back on any error);
- the same bytes loaded twice are a no-op that says so (matched by SHA-256);
- a file no format claims is recorded as `unrecognised`, naming the formats tried, and the
  rest of the batch still loads;
- every line is accounted for (`LoadContext.verify_counts`) before the commit.
"""

from __future__ import annotations

import glob
import os
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import polars as pl

from forensics import __version__, views
from forensics.errors import ForensicsError
from forensics.loaders import LoadContext, LoadOptions, get_format, sniff
from forensics.loaders.base import unordered_insert
from forensics.loaders.reading import BackgroundDigest, read_head, sha256_file

if TYPE_CHECKING:
    from forensics.case import Case

_GLOB_CHARS = set("*?[")


@dataclass
class FileResult:
    """What happened to one input."""

    path: str
    status: str  # loaded, duplicate, skipped, unrecognised, failed, missing
    format: str | None = None
    evidence_id: int | None = None
    rows: int = 0
    rejects: int = 0
    message: str = ""
    seconds: float = 0.0
    detail: str | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.status in ("loaded", "duplicate", "skipped")


@dataclass
class LoadReport:
    """The outcome of one `Case.load` call, a row per input file."""

    files: list[FileResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.files)

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    @property
    def rejects(self) -> int:
        return sum(f.rejects for f in self.files)

    def to_polars(self) -> pl.DataFrame:
        return pl.DataFrame(
            [(f.path, f.status, f.format, f.evidence_id, f.rows, f.rejects, f.message)
             for f in self.files],
            schema={"file": pl.String, "status": pl.String, "format": pl.String,
                    "evidence_id": pl.Int64, "rows": pl.Int64, "rejects": pl.Int64,
                    "message": pl.String},
            orient="row",
        )

    def __repr__(self) -> str:
        return f"LoadReport({len(self.files)} files, {self.rows} rows, {self.rejects} rejects)"


ProgressHook = Callable[[int, int, str, "FileResult | None"], None]


def expand_inputs(inputs: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
                  exclude: Iterable[str] = ()) -> tuple[list[str], list[FileResult]]:
    """Files named by paths, directories (recursively, sorted) and globs; plus what was missing."""
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    skip = {os.path.realpath(e) for e in exclude}
    files: list[str] = []
    missing: list[FileResult] = []
    for item in inputs:
        item = os.fspath(item)
        if os.path.isdir(item):
            found = _walk(item)
        elif os.path.isfile(item):
            found = [item]
        elif _GLOB_CHARS & set(item):
            found = sorted(p for p in glob.glob(item, recursive=True) if os.path.isfile(p))
            if not found:
                missing.append(FileResult(item, "missing", message="the pattern matched no file"))
        else:
            found = []
            missing.append(FileResult(item, "missing", message="no such file or directory"))
        for path in found:
            if os.path.realpath(path) not in skip and path not in files:
                files.append(path)
    return files, missing


def _walk(root: str) -> list[str]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        out += [os.path.join(dirpath, f) for f in sorted(filenames) if not f.startswith(".")]
    return out


def load_files(case: Case, inputs, *, format: str | None = None,
               options: LoadOptions | None = None,
               on_progress: ProgressHook | None = None,
               exclude: Iterable[str] = ()) -> LoadReport:
    """Load every input into `case`; see the module docstring for the guarantees."""
    options = options or LoadOptions()
    forced = get_format(format) if format else None  # unknown names fail before any work
    skip = list(exclude)
    if case.path != ":memory:":
        skip += [case.path, f"{case.path}.wal"]
    files, missing = expand_inputs(inputs, skip)
    report = LoadReport(list(missing))
    total = len(files)
    for i, path in enumerate(files):
        if on_progress:
            on_progress(i, total, path, None)
        result = load_one(case, path, forced_format=forced, options=options)
        report.files.append(result)
        if on_progress:
            on_progress(i + 1, total, path, result)
    return report


def load_one(case: Case, path: str, *, forced_format=None,
             options: LoadOptions | None = None) -> FileResult:
    """Load one file in one transaction. Never raises for a bad file; returns the outcome."""
    options = options or LoadOptions()
    started = time.perf_counter()
    if forced_format is None and _is_case_config(path):
        return FileResult(path, "skipped", message="a case config, not evidence; "
                          "apply it with --config or case.configure()")
    if forced_format is None and _is_scenario_truth(path):
        return FileResult(path, "skipped", message="a scenario's ground truth "
                          "(forensics.scenarios), not evidence")
    try:
        head = read_head(path)
        digest, size, hashing = _digest_or_start(case, path)
    except OSError as exc:
        return FileResult(path, "failed", message=f"cannot read: {exc.strerror or exc}")
    try:
        return _load_checked(case, path, head, digest, size, hashing, forced_format,
                             options, started)
    finally:
        if hashing is not None:
            hashing.cancel()  # (a no-op once its result was taken)


def _digest_or_start(case: Case, path: str
                     ) -> tuple[str | None, int, BackgroundDigest | None]:
    """The file's SHA-256 now when it may already be in the case, else started in a thread.

    Identical bytes have identical sizes, so a file whose size no evidence row has cannot
    be a duplicate (or an earlier unrecognised copy): its digest is only needed for the
    record, and is computed while the file loads. Otherwise it is computed first, so a
    duplicate is found without loading it (a cron job re-reading a folder stays cheap).
    """
    size = os.path.getsize(path)
    [(seen,)] = case.con.execute(
        "SELECT count(*) FROM evidence WHERE size_bytes = ?", [size]).fetchall()
    if seen:
        digest, size = sha256_file(path)
        return digest, size, None
    return None, size, BackgroundDigest(path)


def _load_checked(case: Case, path: str, head: bytes, digest: str | None, size: int,
                  hashing: BackgroundDigest | None, forced_format, options: LoadOptions,
                  started: float) -> FileResult:
    """`load_one` once the file is readable: duplicates, sniffing, the transaction."""
    con = case.con
    prior = [] if digest is None else con.execute(
        "SELECT evidence_id, status, format FROM evidence WHERE sha256 = ? "
        "ORDER BY evidence_id", [digest]
    ).fetchall()
    loaded = [p for p in prior if p[1] == "loaded"]
    if loaded:
        eid, _, fmt_name = loaded[0]
        return FileResult(path, "duplicate", fmt_name, eid,
                          message=f"same bytes already loaded as evidence {eid}; nothing changed")
    if forced_format is None:
        fmt, scores = sniff(path, head)
        if fmt is None:
            if prior:
                return FileResult(path, "unrecognised", evidence_id=prior[0][0],
                                  message="same bytes already recorded as unrecognised")
            tried = ", ".join(f"{name} ({score:.2f})" for name, score in scores)
            message = f"no format recognised this file; tried: {tried}"
            if hashing is not None:
                try:
                    digest, size = hashing.result()
                except OSError as exc:
                    return FileResult(path, "failed",
                                      message=f"cannot read: {exc.strerror or exc}")
            eid = _record_unrecognised(case, path, digest, size, message)
            return FileResult(path, "unrecognised", evidence_id=eid, message=message + (
                "; name one with --format if you know it"))
    else:
        fmt = forced_format
    with unordered_insert(con):  # around the transaction: see unordered_insert
        return _load_in_transaction(case, path, fmt, prior, hashing, digest, size, options,
                                    started)


def _load_in_transaction(case: Case, path: str, fmt, prior: list[tuple],
                         hashing: BackgroundDigest | None, digest: str | None, size: int,
                         options: LoadOptions, started: float) -> FileResult:
    """The file's rows, its evidence row and the count check in one transaction."""
    con = case.con
    con.execute("BEGIN TRANSACTION")
    try:
        eid = _next_evidence_id(case)
        ctx = LoadContext(con, path, eid, options)
        fmt.load(ctx)
        ctx.verify_counts()
        if hashing is not None:
            digest, size = hashing.result()
        for old_id, _, _ in prior:  # the same bytes were unrecognised before; now they load
            con.execute("DELETE FROM evidence WHERE evidence_id = ?", [old_id])
        _record_loaded(case, ctx, fmt, digest, size)
        views.refresh(con)  # new zeek_<path> tables join the flows and events views
        con.execute("COMMIT")
    except BaseException as exc:
        con.execute("ROLLBACK")
        if not isinstance(exc, Exception):
            raise
        cause = _first_cause(exc)
        message = str(cause) if isinstance(cause, ForensicsError) else (
            f"loader {fmt.name} failed: {type(cause).__name__}: {cause}; the case is unchanged")
        return FileResult(path, "failed", fmt.name, message=message,
                          seconds=time.perf_counter() - started,
                          detail=traceback.format_exc())
    note = f"; {len(ctx.notes)} note(s)" if ctx.notes else ""
    return FileResult(path, "loaded", fmt.name, eid, ctx.total_loaded, ctx.rows_rejected,
                      message=f"{ctx.lines_read} lines{note}",
                      seconds=time.perf_counter() - started)


def _first_cause(exc: BaseException) -> BaseException:
    """The error that aborted the transaction, not one of the refusals that followed it.

    After a failed statement DuckDB answers every later one with "Current transaction is
    aborted", which names no cause; when that is what reached us, the error it was raised
    while handling (Python's implicit chaining) is the one the analyst needs to see.
    """
    seen: set[int] = set()
    while ("transaction is aborted" in str(exc) and exc.__context__ is not None
           and id(exc) not in seen):
        seen.add(id(exc))
        exc = exc.__context__
    return exc


def _is_scenario_truth(path: str) -> bool:
    """The ground_truth.json a generated scenario writes beside its logs is the answer key,
    not evidence: loading the scenario's folder must not report it as unrecognised."""
    if os.path.basename(path) != "ground_truth.json":
        return False
    try:
        head = read_head(path)
    except OSError:
        return False
    return head.lstrip().startswith(b"{") and b'"scenario"' in head and b'"attribution"' in head


def _is_case_config(path: str) -> bool:
    """A case config TOML sitting beside the logs is context, not evidence."""
    if not path.endswith(".toml"):
        return False
    from forensics.context import load_config

    try:
        load_config(path)
    except ForensicsError:
        return False
    return True


def _next_evidence_id(case: Case) -> int:
    (eid,) = case.con.execute(
        "SELECT coalesce(max(evidence_id), 0) + 1 FROM evidence").fetchall()[0]
    return int(eid)


def _record_unrecognised(case: Case, path: str, digest: str, size: int, message: str) -> int:
    con = case.con
    con.execute("BEGIN TRANSACTION")
    try:
        eid = _next_evidence_id(case)
        con.execute(
            "INSERT INTO evidence (evidence_id, path, sha256, size_bytes, status, notes, "
            "loader_version, loaded_at) VALUES (?, ?, ?, ?, 'unrecognised', ?, ?, now())",
            [eid, path, digest, size, [message], f"forensics {__version__}"],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return eid


def _record_loaded(case: Case, ctx: LoadContext, fmt, digest: str, size: int) -> None:
    case.con.execute(
        "INSERT INTO evidence (evidence_id, path, sha256, size_bytes, status, family, format, "
        "tables, lines_read, rows_loaded, rows_rejected, header_lines, blank_lines, "
        "loader_version, tz_assumed, notes, loaded_at) "
        "VALUES (?, ?, ?, ?, 'loaded', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, now())",
        [ctx.evidence_id, ctx.path, digest, size, fmt.family, fmt.name,
         sorted(ctx.rows_loaded), ctx.lines_read, ctx.total_loaded, ctx.rows_rejected,
         ctx.header_lines, ctx.blank_lines, f"forensics {__version__} {fmt.name}",
         ctx.tz_assumed, ctx.notes],
    )
