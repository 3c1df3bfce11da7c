"""HTML for widgets, always escaped: a log line is attacker-written text."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], limit: int = 200) -> str:
    """A small HTML table; every cell escaped and capped."""
    head = "".join(f"<th style='text-align:left'>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(
        f"<td style='font-family:monospace;white-space:pre-wrap'>{esc(_cap(c))}</td>"
        for c in r) + "</tr>" for r in rows[:limit])
    more = f"<p>… {len(rows) - limit} more</p>" if len(rows) > limit else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}"


def _cap(value: Any, n: int = 400) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= n else text[: n - 1] + "…"
