"""Helpers for unattended runs (cron, systemd timers): dated names and waiting for a lock.

A scheduled report must not fail just because an analyst's notebook is loading evidence at
that minute, nor wait for ever: DuckDB lets one process write a case file, and readers in
other processes are refused while it does. So opening retries for a bounded time and then
gives up with `LockWaitTimeout`, which has its own exit code so cron mail says exactly that.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from forensics.errors import CaseLockedError, UsageError

if TYPE_CHECKING:
    from forensics.case import Case

RETRY_INTERVAL = 0.5  # seconds between attempts to open a locked case


class LockWaitTimeout(CaseLockedError):
    """The case stayed locked by a writer for the whole wait."""

    exit_code = 6


def output_path(template: str, now: datetime | None = None) -> str:
    """Fill `{date}` (UTC, 2026-03-04) and `{time}` (UTC, 081500) in an output path.

    Only these two names are replaced (no str.format), so any other braces in a path stay
    as they are and a path can never reach into Python objects.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    return template.replace("{date}", now.strftime("%Y-%m-%d")).replace(
        "{time}", now.strftime("%H%M%S"))


def open_waiting(path: str | os.PathLike[str], *, read_only: bool, wait: float) -> Case:
    """Open the case, retrying while another process holds it, for up to `wait` seconds."""
    from forensics.case import open_case

    if read_only and not os.path.exists(path):
        raise UsageError(f"no case at {os.fspath(path)}",
                         hint="load evidence first: forensics load PATH --case CASE")
    deadline = time.monotonic() + max(0.0, wait)
    while True:
        try:
            return open_case(path, read_only=read_only)
        except CaseLockedError as exc:
            left = deadline - time.monotonic()
            if left <= 0:
                if wait <= 0:
                    raise
                raise LockWaitTimeout(
                    f"{os.fspath(path)} was still locked by a writer after {wait:g}s",
                    hint="a load or notebook holds the case; raise --wait or schedule the "
                         "report after the load") from exc
            time.sleep(min(RETRY_INTERVAL, left))
