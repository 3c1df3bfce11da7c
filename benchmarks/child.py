"""What the benchmarks that load in a fresh child process share (imported by bench_gpu and
bench_agent, which run from this folder)."""

# Source text for the child: its own peak RSS. VmHWM, not ru_maxrss: a child's ru_maxrss
# starts at its parent's peak (the generator's), which is what the figures showed before.
def load_source(repo: object, path: object, case_path: object) -> str:
    """Source text for a child that loads `path` into a case file and times it; it leaves
    `f` (the FileResult), `dt`, `cpu` and `peak_rss_mib()` for the caller's own report."""
    return (
        "import json, resource, sys, time\n"
        + PEAK_RSS_MIB_SOURCE
        + f"sys.path.insert(0, {str(repo)!r})\n"
        "import forensics\n"
        f"case = forensics.open_case({str(case_path)!r})\n"
        "t, c = time.perf_counter(), time.process_time()\n"
        f"report = case.load({str(path)!r})\n"
        "dt, cpu = time.perf_counter() - t, time.process_time() - c\n"
        "f = report.files[0]\n"
    )


PEAK_RSS_MIB_SOURCE = (
    "def peak_rss_mib():\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmHWM:'):\n"
    "            return int(line.split()[1]) / 1024\n"
    "    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
)
