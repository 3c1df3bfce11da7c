"""Headless Chromium for report tests: open a local file, record requests and console.

Skips cleanly when Playwright or a Chromium binary is missing. Only file:// URLs are
opened; the browser runs with networking features off and a fresh profile.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("FORENSICS_CHROMIUM") or shutil.which("chromium") or \
    shutil.which("chromium-browser") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@dataclass
class PageVisit:
    url: str
    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    title: str = ""
    text: str = ""
    pwned: object = None
    plot_drawn: bool = False
    load_seconds: float = 0.0


def chromium_available() -> bool:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return Path(CHROMIUM).exists()


def visit(path: Path, screenshot: Path | None = None, timeout_ms: int = 30000,
          plot: str = "#timeline", hover: bool = False) -> PageVisit:
    """Open `path` in headless Chromium; collect requests, console errors, text, title."""
    if not chromium_available():
        pytest.skip("playwright or chromium not installed")
    from playwright.sync_api import sync_playwright

    url = path.resolve().as_uri()
    result = PageVisit(url)
    profile = tempfile.mkdtemp(prefix="forensics-chromium-")
    try:
        with sync_playwright() as p:
            ctx = p.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, args=ARGS, headless=True)
            try:
                page = ctx.new_page()
                page.on("request", lambda r: result.requests.append(r.url))
                page.on("console", lambda m: result.console_errors.append(m.text)
                        if m.type == "error" else None)
                page.on("pageerror", lambda e: result.page_errors.append(str(e)))
                started = time.monotonic()
                page.goto(url, wait_until="load", timeout=timeout_ms)
                drawn = f"document.querySelector({plot!r} + ' .main-svg') !== null"
                page.wait_for_function(
                    f"() => {drawn} || typeof Plotly === 'undefined' || "
                    f"!document.querySelector({plot!r})", timeout=timeout_ms)
                result.load_seconds = time.monotonic() - started
                result.plot_drawn = bool(page.evaluate(f"() => {drawn}"))
                if hover and result.plot_drawn:  # render every trace's hover label once
                    page.evaluate(
                        f"() => {{ const gd = document.querySelector({plot!r}); "
                        "gd.data.forEach((t, i) => Plotly.Fx.hover(gd, "
                        "[{curveNumber: i, pointNumber: 0}])); }")
                    page.wait_for_timeout(300)
                result.title = page.title()
                result.text = page.evaluate("() => document.body.innerText")
                result.pwned = page.evaluate("() => window.__pwned === undefined ? null : "
                                             "String(window.__pwned)")
                if screenshot is not None:
                    screenshot.parent.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(screenshot), full_page=True)
            finally:
                ctx.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    return result
