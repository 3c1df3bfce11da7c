"""The `forensics` command: load evidence, run detections, write timelines, reports and
scenarios.

Non-interactive and scriptable: output goes to stdout, progress to stderr (only on a
terminal), and the exit code says what happened so cron or a pipeline can act on it:

    0  everything asked for was done (files loaded or already in the case, report written)
    1  the command ran but found a problem in the data (`--fail-on-rejects` and rejects)
    2  usage error: bad arguments, unknown format, invalid config, no such case or notebook
    3  at least one file failed to load or was not recognised (the rest still loaded; with
       `report --ingest` the report was still written)
    4  the case file is locked by another process (and no --wait was given)
    5  an internal error (a bug): please report it with the message
    6  `report`: the case stayed locked by a writer for the whole --wait; nothing written
    7  `report`, `notebook run`: the output file could not be written (permissions, disk
       full); an earlier file of the same name is left as it was
    8  `notebook run`: a cell raised; the HTML was still written, showing the error

`report` and `notebook run` are made for cron and systemd timers: see docs/scheduling.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence

from forensics.errors import ForensicsError

EXIT_OK = 0
EXIT_DATA = 1
EXIT_USAGE = 2
EXIT_LOAD_FAILED = 3
EXIT_LOCKED = 4
EXIT_INTERNAL = 5
EXIT_LOCK_TIMEOUT = 6
EXIT_WRITE_FAILED = 7
EXIT_NOTEBOOK_FAILED = 8


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="forensics",
        description="Incident forensics for AI-agent and GPU-cluster incidents.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    load = sub.add_parser("load", help="load log files, directories or globs into a case")
    load.add_argument("paths", nargs="+", metavar="PATH")
    load.add_argument("--case", default="case.duckdb", help="case file (default: case.duckdb)")
    load.add_argument("--config", help="case config (TOML): networks, hosts, time zone")
    load.add_argument("--format", help="format name instead of sniffing (see `formats`)")
    load.add_argument("--tz", help="zone for times written without one (default: case, UTC)")
    load.add_argument("--year", type=int, help="year for year-less syslog times")
    load.add_argument("--host", help="host name for files that do not name their host")
    load.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                      help="format setting, e.g. mapping=mikrotik (repeatable)")
    load.add_argument("--fail-on-rejects", action="store_true",
                      help="exit 1 when any line was rejected")
    load.add_argument("--quiet", action="store_true", help="no progress bar")

    tables = sub.add_parser("tables", help="row count of every table in a case")
    tables.add_argument("--case", default="case.duckdb")

    sql = sub.add_parser("sql", help="run one SQL statement against a case")
    sql.add_argument("query")
    sql.add_argument("--case", default="case.duckdb")
    sql.add_argument("--param", action="append", default=[], metavar="VALUE",
                     help="bind a positional parameter ($1, ?) (repeatable)")
    sql.add_argument("--format", choices=("table", "csv", "json"), default="table")
    sql.add_argument("--limit", type=int, default=100, help="rows to print as a table")

    sub.add_parser("queries", help="list the prebuilt detections and questions")

    query = sub.add_parser("query", help="run one prebuilt query (see `queries`)")
    query.add_argument("name")
    query.add_argument("--case", default="case.duckdb")
    query.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                       help="set a query parameter (repeatable; lists comma-separated)")
    query.add_argument("--format", choices=("table", "csv", "json"), default="table")
    query.add_argument("--limit", type=int, default=100, help="rows to print as a table")
    query.add_argument("--describe", action="store_true",
                       help="print what the query does and its parameters, then exit")

    timeline = sub.add_parser("timeline", help="every detection's findings, in phases")
    timeline.add_argument("--case", default="case.duckdb")
    timeline.add_argument("--host", help="only findings about this host")
    timeline.add_argument("--since", help="ISO time or a duration back from now (24h, 7d)")
    timeline.add_argument("--until", help="ISO time or a duration back from now")
    timeline.add_argument("--format", choices=("table", "csv", "json"), default="table")
    timeline.add_argument("--limit", type=int, default=200, help="rows to print as a table")

    report = sub.add_parser("report", help="write a standalone HTML report of a case")
    report.add_argument("--case", default="case.duckdb", help="case file (opened read-only)")
    report.add_argument("--out", default="timeline.html",
                        help="HTML file to write; {date} and {time} become the UTC date "
                             "(2026-03-04) and time (081500)")
    report.add_argument("--since", help="ISO time or a duration back from now (24h, 7d)")
    report.add_argument("--until", help="ISO time or a duration back from now")
    report.add_argument("--host", action="append", default=[],
                        help="only findings about this host (repeatable)")
    report.add_argument("--wait", type=float, default=30.0, metavar="SECONDS",
                        help="how long to keep retrying while a writer holds the case "
                             "(default 30; 0: fail at once)")
    report.add_argument("--ingest", metavar="DIR",
                        help="first load new files from this folder (already loaded: no-op)")
    report.add_argument("--quiet", action="store_true", help="print nothing on success")

    notebook = sub.add_parser("notebook", help="run notebooks headless")
    nb_sub = notebook.add_subparsers(dest="notebook_command", required=True)
    nb_run = nb_sub.add_parser("run", help="execute a parameterised notebook, export HTML")
    nb_run.add_argument("notebook")
    nb_run.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="set a parameter (repeatable; Python literals or plain text)")
    nb_run.add_argument("--html", help="write the executed notebook as offline HTML here "
                                       "({date} and {time} as for report --out)")
    nb_run.add_argument("--out", help="write the executed notebook (.ipynb) here")
    nb_run.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    nb_run.add_argument("--kernel", default="python3", help="kernel name (default python3)")
    attribute = sub.add_parser("attribute",
                               help="per incident: was it the agent or an intruder?")
    attribute.add_argument("--case", default="case.duckdb")
    attribute.add_argument("--gap-hours", type=float, default=6.0,
                           help="hours without findings that split a host's incidents")
    attribute.add_argument("--format", choices=("table", "json"), default="table")

    sub.add_parser("formats", help="list the formats the loaders read")
    sub.add_parser("schema", help="print the schema reference (Markdown)")

    scen = sub.add_parser("scenario", help="write a synthetic incident scenario (logs, "
                          "case.toml, ground_truth.json)")
    scen.add_argument("name", choices=("rome", "intruder", "benign", "mixed"))
    scen.add_argument("--out", required=True, help="directory to write into")
    scen.add_argument("--seed", type=int, help="random seed (default: the scenario's own)")
    scen.add_argument("--scale", type=int, default=1,
                      help="background size multiplier (1: ~1,500 conn rows; 6667: ~10M)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except ForensicsError as exc:
        print(f"forensics: error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"forensics: hint: {exc.hint}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("forensics: interrupted; the file being loaded was rolled back", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: say so plainly, without a traceback wall
        print(f"forensics: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_INTERNAL


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "load":
        return _cmd_load(args)
    if args.command == "tables":
        return _cmd_tables(args)
    if args.command == "sql":
        return _cmd_sql(args)
    if args.command == "queries":
        from forensics.queries import list_queries

        rows = [(q.name, q.kind, q.phase, ",".join(q.attack), q.title) for q in list_queries()]
        print(_table(["query", "kind", "phase", "att&ck", "title"], rows, width=90))
        return EXIT_OK
    if args.command == "query":
        return _cmd_query(args)
    if args.command == "timeline":
        return _cmd_timeline(args)
    if args.command == "report":
        return _cmd_report(args)
    if args.command == "notebook":
        return _cmd_notebook(args)
    if args.command == "attribute":
        return _cmd_attribute(args)
    if args.command == "formats":
        from forensics.loaders import FORMATS

        rows = [(f.name, f.family, f.description) for f in FORMATS]
        print(_table(["format", "family", "description"], rows))
        return EXIT_OK
    if args.command == "schema":
        from forensics.schema import reference_markdown

        print(reference_markdown())
        return EXIT_OK
    if args.command == "scenario":
        return _cmd_scenario(args)
    raise AssertionError(args.command)


def _cmd_scenario(args: argparse.Namespace) -> int:
    from forensics.errors import UsageError
    from forensics.scenarios import generate

    if args.scale < 1:
        raise UsageError("--scale must be at least 1")
    started = time.perf_counter()
    truth = generate(args.name, args.out, seed=args.seed, scale=args.scale)
    rows = [(rel, spec["family"], spec["format"]) for rel, spec in truth["files"].items()]
    print(_table(["file", "family", "format"], rows))
    print(f"\nscenario {args.name} (seed {truth['seed']}, scale {args.scale}): "
          f"{len(truth['steps'])} malicious steps, {len(truth['traps'])} traps, written to "
          f"{args.out} in {time.perf_counter() - started:.1f}s "
          f"(load it with: forensics load {args.out} --config {args.out}/case.toml)")
    return EXIT_OK


def _cmd_load(args: argparse.Namespace) -> int:
    import forensics
    from forensics.loaders import get_format

    if args.format:
        get_format(args.format)  # unknown names fail before the case is touched
    with forensics.open_case(args.case) as case:
        if args.config:
            case.configure(args.config)
        progress = None if args.quiet or not sys.stderr.isatty() else _Progress()
        report = case.load(args.paths, format=args.format, tz=args.tz, year=args.year,
                           host=args.host, on_progress=progress,
                           exclude=[args.config] if args.config else [],
                           options=_key_values(args.option))
        if progress:
            progress.done()
    rows = [(f.path, f.format or "-", f.status, f.rows, f.rejects, f.message)
            for f in report.files]
    print(_table(["file", "format", "status", "rows", "rejects", "message"], rows))
    print(f"\n{len(report.files)} files, {report.rows} rows loaded, {report.rejects} rejected "
          f"into {args.case}")
    if not report.ok:
        return EXIT_LOAD_FAILED
    if args.fail_on_rejects and report.rejects:
        return EXIT_DATA
    return EXIT_OK


def _key_values(items: list[str]) -> dict[str, str]:
    from forensics.errors import UsageError

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--option {item!r} is not KEY=VALUE")
        out[key.strip()] = value
    return out


def _cmd_tables(args: argparse.Namespace) -> int:
    import forensics

    with forensics.open_case(args.case, read_only=True) as case:
        counts = case.tables()
    print(_table(["table", "rows"], list(counts.items())))
    return EXIT_OK


def _cmd_sql(args: argparse.Namespace) -> int:
    import forensics

    with forensics.open_case(args.case, read_only=True) as case:
        try:
            frame = case.sql(args.query, args.param or None)
        except Exception as exc:  # duckdb's messages are good; pass them on as usage errors
            print(f"forensics: SQL error: {exc}", file=sys.stderr)
            return EXIT_USAGE
    if args.format == "csv":
        sys.stdout.write(frame.write_csv())
    elif args.format == "json":
        print(json.dumps(frame.to_dicts(), default=str, indent=1))
    else:
        shown = frame.head(args.limit)
        print(_table(frame.columns, [tuple(r) for r in shown.iter_rows()]))
        if frame.height > args.limit:
            print(f"... {frame.height - args.limit} more rows (use --limit or --format csv)")
    return EXIT_OK


def _cmd_query(args: argparse.Namespace) -> int:
    import forensics
    from forensics import queries
    from forensics.queries.params import bind, parse_cli

    if args.describe:
        print(queries.describe(args.name))
        return EXIT_OK
    query = queries.get_query(args.name)
    params = bind(query, parse_cli(args.param))  # bad parameters fail before the case opens
    with forensics.open_case(args.case, read_only=True) as case:
        result = queries.run_result(case, query, params)
    for note in result.notes:
        print(f"forensics: note: {note}", file=sys.stderr)
    _print_frame(result.frame, args.format, args.limit)
    return EXIT_OK


def _cmd_timeline(args: argparse.Namespace) -> int:
    import forensics
    from forensics import timeline

    since, until = timeline.parse_time(args.since), timeline.parse_time(args.until)
    with forensics.open_case(args.case, read_only=True) as case:
        table = timeline.build(case, host=args.host, since=since, until=until).table()
    _print_frame(table, args.format, args.limit)
    return EXIT_OK


def _cmd_report(args: argparse.Namespace) -> int:
    from forensics import report, timeline
    from forensics.report.schedule import open_waiting, output_path

    since, until = timeline.parse_time(args.since), timeline.parse_time(args.until)
    out = output_path(args.out)
    status = EXIT_OK
    if args.ingest:
        with open_waiting(args.case, read_only=False, wait=args.wait) as case:
            loaded = case.load(os.path.abspath(args.ingest))
        for f in loaded.files:
            if f.status not in ("loaded", "duplicate", "skipped"):
                print(f"forensics: {f.path}: {f.status}: {f.message}", file=sys.stderr)
        if not loaded.ok:
            status = EXIT_LOAD_FAILED
    with open_waiting(args.case, read_only=True, wait=args.wait) as case:
        result = report.export_html(case, out, since=since, until=until, hosts=args.host)
    for note in result.notes:
        print(f"forensics: note: {note}", file=sys.stderr)
    if not args.quiet:
        print(f"wrote {result.path} ({result.size_bytes} bytes, {result.findings} findings)")
    return status


def _cmd_notebook(args: argparse.Namespace) -> int:
    from forensics.errors import UsageError
    from forensics.report import notebook
    from forensics.report.schedule import output_path

    if not args.html and not args.out:
        raise UsageError("nothing to write", hint="give --html FILE and/or --out FILE.ipynb")
    params = notebook.parse_params(args.param)
    result = notebook.run(args.notebook, params=params,
                          html=output_path(args.html) if args.html else None,
                          output=output_path(args.out) if args.out else None,
                          timeout=args.timeout, kernel=args.kernel)
    for written in (result.html, result.notebook):
        if written:
            print(f"wrote {written}")
    return EXIT_OK


def _cmd_attribute(args: argparse.Namespace) -> int:
    import forensics
    from forensics import attribution

    with forensics.open_case(args.case, read_only=True) as case:
        incs = attribution.incidents(case, gap_hours=args.gap_hours)
        items = attribution.evidence(case, gap_hours=args.gap_hours)
    if args.format == "json":
        out = []
        for row in incs.iter_rows(named=True):
            mine = items.filter(items["incident_id"] == row["incident_id"])
            row["evidence"] = [{k: v for k, v in r.items() if k != "incident_id"}
                               for r in mine.iter_rows(named=True)]
            out.append(row)
        print(json.dumps(out, default=str, indent=1))
        return EXIT_OK
    rows = [(r["host_name"] or r["host"], r["host"],
             f"{r['ts_start']:%Y-%m-%d %H:%M} - {r['ts_end']:%Y-%m-%d %H:%M}", r["verdict"],
             f"{r['confidence']:.2f}", f"{r['agent_score']:.2f}/{r['intruder_score']:.2f}",
             ", ".join(r["deciding"]) or "-") for r in incs.iter_rows(named=True)]
    print(_table(["host", "address", "window (UTC)", "verdict", "confidence",
                  "agent/intruder", "deciding evidence"], rows, width=90))
    return EXIT_OK


def _print_frame(frame: object, fmt: str, limit: int) -> None:
    """Write a polars frame as a table, CSV (nested columns as JSON) or JSON."""
    import polars as pl

    assert isinstance(frame, pl.DataFrame)
    if fmt == "json":
        print(json.dumps(frame.to_dicts(), default=str, indent=1))
        return
    nested = [c for c, t in frame.schema.items() if isinstance(t, (pl.List, pl.Struct))]
    flat = frame.with_columns(
        pl.col(c).map_elements(lambda v: json.dumps(v.to_list() if hasattr(v, "to_list") else v,
                                                    default=str), return_dtype=pl.String)
        for c in nested)
    if fmt == "csv":
        sys.stdout.write(flat.write_csv())
        return
    shown = flat.head(limit)
    print(_table(flat.columns, [tuple(r) for r in shown.iter_rows()]))
    if frame.height > limit:
        print(f"... {frame.height - limit} more rows (use --limit or --format csv)")


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]], width: int = 60) -> str:
    """A plain text table; cells are cut at `width` characters and control chars shown."""
    def cell(v: object) -> str:
        text = "" if v is None else str(v)
        text = text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text
        return text if len(text) <= width else text[: width - 1] + "…"

    body = [[cell(v) for v in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in body]) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in body]
    return "\n".join(out)


class _Progress:
    """A one-line progress bar on stderr: files done, current file, elapsed time."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def __call__(self, done: int, total: int, path: str, result: object) -> None:
        width = 30
        filled = int(width * done / total) if total else width
        bar = "█" * filled + "·" * (width - filled)
        name = path if len(path) <= 40 else "…" + path[-39:]
        elapsed = time.monotonic() - self.started
        sys.stderr.write(f"\r[{bar}] {done}/{total} {elapsed:6.1f}s {name:<40}")
        sys.stderr.flush()

    def done(self) -> None:
        sys.stderr.write("\n")


if __name__ == "__main__":
    sys.exit(main())
