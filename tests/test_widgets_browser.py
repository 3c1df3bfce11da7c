"""A real browser: JupyterLab on a free local port, Debian's Chromium driven by Playwright,
opens notebooks/02_attribution.ipynb, runs it, clicks through the wizard, records a
decision, and the decision is then found in the case file. Screenshots go to
test-artifacts/. Always runs (no skip): CI installs chromium and playwright."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import forensics
from forensics import attribution

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = os.environ.get("FORENSICS_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            # loopback only: never through a proxy from the environment
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            with opener.open(url, timeout=5):
                return
        except Exception:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer in {timeout} s")


def test_wizard_in_jupyterlab_records_a_decision(tmp_path):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    root = tmp_path / "notebooks"
    shutil.copytree(REPO / "notebooks", root)
    cases = tmp_path / "cases"
    cases.mkdir()
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "PYTHONPATH": str(REPO), "FORENSICS_CASE_DIR": str(cases),
           "FORENSICS_SAMPLES": str(REPO / "sample_logs"), "FORENSICS_ANALYST": "browser-test",
           "JUPYTER_CONFIG_DIR": str(tmp_path / "jcfg"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "jrt")}
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}",
         "--ip=127.0.0.1", f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}",
         "--ServerApp.open_browser=False", "--allow-root"],
        env=env, stdout=open(tmp_path / "jupyter.log", "wb"), stderr=subprocess.STDOUT)
    try:
        _wait_http(f"http://127.0.0.1:{port}/api/status?token={token}", 90)
        with sync_playwright() as pw:
            browser = pw.chromium.launch_persistent_context(
                str(tmp_path / "profile"), executable_path=CHROMIUM, args=ARGS,
                headless=True, viewport={"width": 1400, "height": 1000})
            page = browser.new_page()
            page.set_default_timeout(120_000)
            try:
                page.goto(f"http://127.0.0.1:{port}/lab/tree/02_attribution.ipynb?token={token}")
                page.wait_for_selector(".jp-Notebook", timeout=120_000)
                # JupyterLab may ask which kernel to start: take the default one
                select = page.locator(".jp-Dialog button:has-text('Select')")
                try:
                    select.wait_for(timeout=20_000)
                    select.click()
                except Exception:
                    pass
                page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']",
                                       timeout=120_000, state="attached")
                page.screenshot(path=str(ARTIFACTS / "browser-01-opened.png"))
                page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
                page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
                record = page.locator("button:has-text('Record decision')")
                record.wait_for(timeout=240_000)
                record.scroll_into_view_if_needed()
                page.screenshot(path=str(ARTIFACTS / "browser-02-wizard.png"), full_page=True)
                nxt = page.locator("button:has-text('Next ▶')")
                if nxt.is_enabled():
                    nxt.click()
                    time.sleep(1)
                page.locator(".widget-toggle-buttons button:has-text('reject')").first.click()
                time.sleep(1)
                page.locator(".widget-textarea textarea").first.fill("checked in the browser")
                record.click()
                page.locator("text=Recorded decision").first.wait_for(timeout=60_000)
                page.screenshot(path=str(ARTIFACTS / "browser-03-recorded.png"), full_page=True)
            finally:
                try:
                    page.screenshot(path=str(ARTIFACTS / "browser-99-last.png"), full_page=True)
                except Exception:
                    pass
                browser.close()
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
    files = sorted(cases.glob("*.duckdb"))
    assert files, (tmp_path / "jupyter.log").read_text()[-3000:]
    decided, item_counts = [], []
    for path in files:
        with forensics.open_case(path, read_only=True) as case:
            d = attribution.decisions(case)
            decided += d.to_dicts()
            item_counts += [attribution.evidence(case, i).height for i in d["incident_id"]]
    assert decided and decided[0]["analyst"] == "browser-test"
    assert decided[0]["rationale"] == "checked in the browser"
    # the click on "reject" is in the record when the incident had an item to reject
    assert decided[0]["rejected"] or item_counts[0] == 0
