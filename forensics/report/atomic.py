"""Writing a report so that a reader never sees half of it.

A cron job that dies (disk full, killed, power) must leave either yesterday's report or
today's whole report, never a truncated file that a manager opens. So the text goes to a
temporary file in the same directory (same filesystem, so the rename is atomic), is
flushed and fsync'd, then renamed over the target with `os.replace`, and the directory is
fsync'd so the rename itself survives a crash.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from forensics.errors import ForensicsError


class ReportWriteError(ForensicsError):
    """The output could not be written (directory not writable, disk full, ...)."""

    exit_code = 7


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically; create missing parent directories.

    The file gets the permissions a plain `open()` would give it (0666 less the umask),
    not mkstemp's 0600, so a web server or a colleague's account can read scheduled reports
    exactly as they could read any other file written by this user.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise ReportWriteError(f"cannot write {target}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise ReportWriteError(f"cannot write {target}: {exc.strerror or exc}") from None
        raise
    _fsync_dir(target.parent)
    return target


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return  # not possible on every platform (Windows); the rename is still atomic
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
