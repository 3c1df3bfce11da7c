"""Standalone HTML reports of a case: the timeline, findings with their log lines,
attribution verdicts, analyst decisions and the evidence manifest, in one file that opens
in any browser without Jupyter and without the network.

    from forensics import report
    report.export_html(case, "timeline.html", since="24h", hosts=["10.42.7.17"])

Modules: `gather` (data from the case, capped), `lines` (raw evidence lines read back from
the files), `render` (HTML, escaped everywhere, strict CSP), `atomic` (write-then-rename),
`schedule` (dated names, waiting for a locked case), `notebook` (parameterised notebooks
run headless and exported to HTML).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from forensics.report import gather as _gather
from forensics.report import render as _render
from forensics.report.atomic import write_atomic
from forensics.report.gather import ReportData

if TYPE_CHECKING:
    from forensics.case import Case


@dataclass
class ExportResult:
    """What was written: the file, its size, how many findings, and any notes."""

    path: Path
    size_bytes: int
    findings: int
    notes: list[str]


def export_html(case: Case, path: str | os.PathLike[str], *,
                since: str | datetime | None = None, until: str | datetime | None = None,
                hosts: list[str] | tuple[str, ...] | str | None = None,
                now: datetime | None = None) -> ExportResult:
    """Write the case's report to `path` (atomically) and say what was written.

    `since`/`until` are ISO times or durations back from now ("24h"); `hosts` limits the
    report to findings about these hosts. Works on a read-only case.
    """
    if isinstance(hosts, str):
        hosts = [hosts]
    data = _gather.gather(case, since=since, until=until, hosts=list(hosts or ()), now=now)
    text = _render.render(data)
    target = write_atomic(path, text)
    notes = list(data.notes)
    if data.attribution.status == "error":
        notes.append(data.attribution.message)
    return ExportResult(target, len(text.encode("utf-8")), data.findings_total, notes)


__all__ = ["ExportResult", "ReportData", "export_html"]
