"""An HTML report over a case of 1,000,000 events: its size and how fast a browser opens it.

Builds a case file with N Zeek conn rows (default 1,000,000, vectorised: the generator of
bench_queries.py, random traffic between 2,000 internal and 50,000 external hosts, which
gives hundreds of findings), an evidence row for them, and 500 DNS rows; then times
`forensics.report.export_html` and opens the file in headless Chromium (Playwright, the
local /usr/bin/chromium, no network) until the timeline figure is drawn. Targets: the file
under 10 MB, the browser load under 5 s.

Usage: python benchmarks/bench_report.py [--rows 1000000] [--out benchmarks/out/report.html]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from bench_queries import T0, build  # noqa: E402


def add_evidence(case, rows: int) -> None:
    """The evidence row the synthetic conn rows cite (a file that is not on disk, so the
    report falls back to the events summary for every line, the slower path)."""
    case.con.execute(
        "INSERT INTO evidence (evidence_id, path, sha256, size_bytes, status, family, format, "
        "tables, lines_read, rows_loaded, rows_rejected, header_lines, blank_lines, "
        "loader_version, loaded_at) VALUES (1, '/nonexistent/conn.log', repeat('0', 64), "
        "?, 'loaded', 'zeek', 'zeek-tsv', ['zeek_conn', 'zeek_dns'], ?, ?, 0, 8, 0, "
        "'bench', to_timestamp(?))", [rows * 150, rows, rows, T0])


def browser_load(path: Path) -> float:
    from playwright.sync_api import sync_playwright

    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"]
    requests: list[str] = []
    errors: list[str] = []
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(profile, executable_path="/usr/bin/chromium",
                                                   args=args, headless=True)
        page = ctx.new_page()
        page.on("request", lambda r: requests.append(r.url))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        started = time.perf_counter()
        page.goto(path.resolve().as_uri(), wait_until="load")
        page.wait_for_selector("#timeline .main-svg", timeout=60000)
        seconds = time.perf_counter() - started
        ctx.close()
    print(f"browser: {len(requests)} request(s) {requests[:2]}, {len(errors)} console errors")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=HERE / "out" / "report-1m.html")
    parser.add_argument("--memory-limit", default="2GB")
    args = parser.parse_args()
    from forensics import report

    with tempfile.TemporaryDirectory() as tmp:
        case = build(Path(tmp) / "bench.duckdb", args.rows, args.memory_limit)
        add_evidence(case, args.rows)
        (events,) = case.con.execute("SELECT count(*) FROM events").fetchall()[0]
        started = time.perf_counter()
        result = report.export_html(case, args.out)
        export_s = time.perf_counter() - started
        case.close()
    size_mb = result.size_bytes / 1e6
    print(f"report: {events:,} events, {result.findings} findings, exported in {export_s:.1f} s "
          f"(detections included) to {result.path}")
    print(f"size: {size_mb:.2f} MB (target < 10 MB)")
    for note in result.notes:
        print(f"note: {note}")
    seconds = browser_load(result.path)
    print(f"browser load until the figure is drawn: {seconds:.2f} s (target < 5 s)")
    return 0 if size_mb < 10 and seconds < 5 else 1


if __name__ == "__main__":
    sys.exit(main())
