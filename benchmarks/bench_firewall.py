"""Benchmark the firewall loaders on generated files of >= 1,000,000 rows each.

Formats: netfilter (iptables LOG lines in RFC 3164 syslog) and aws-vpc-flow (default v2
with a header line). Each file is loaded into a case FILE (not :memory:) with
`forensics.open_case`; prints rows/s, CPU seconds (user+sys of the whole process, all
threads: on a shared machine wall time is noisy, CPU time much less so) and peak RSS.
Target: >= 300,000 rows/s.

    python benchmarks/bench_firewall.py [rows]
"""

from __future__ import annotations

import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout too

import forensics  # noqa: E402

ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000


def _ip(rng: random.Random) -> str:
    a, b = rng.randrange(1, 224), rng.randrange(256)
    return f"{a}.{b}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def write_netfilter(path: str, rows: int) -> None:
    rng = random.Random(1)
    srcs = [_ip(rng) for _ in range(5000)]
    dsts = [_ip(rng) for _ in range(500)]
    prefixes = ["[UFW BLOCK] ", "IPTABLES-DROP: ", "", "[UFW ALLOW] "]
    with open(path, "w") as fh:
        chunk = []
        for i in range(rows):
            sec = i // 200
            day = 1 + (sec // 86400) % 28
            ts = f"Sep {day:2d} {sec // 3600 % 24:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}"
            proto = "TCP" if i % 3 else "UDP"
            tail = ("WINDOW=1024 RES=0x00 SYN URGP=0 " if proto == "TCP" else "LEN=56 ")
            chunk.append(
                f"{ts} fw-{i % 7} kernel: [{i * 0.001:.6f}] {prefixes[i % 4]}IN=eth0 OUT= "
                f"MAC=de:1c:88:64:10:19:5e:e1:a4:3b:cf:f0:08:00 SRC={srcs[i % 5000]} "
                f"DST={dsts[i % 500]} LEN=60 TOS=0x00 PREC=0x00 TTL=52 ID={i % 65536} DF "
                f"PROTO={proto} SPT={1024 + i % 60000} DPT={(22, 80, 443, 3389)[i % 4]} {tail}\n")
            if len(chunk) >= 100_000:
                fh.write("".join(chunk))
                chunk.clear()
        fh.write("".join(chunk))


def write_vpc(path: str, rows: int) -> None:
    rng = random.Random(2)
    srcs = [_ip(rng) for _ in range(5000)]
    dsts = [_ip(rng) for _ in range(500)]
    with open(path, "w") as fh:
        fh.write("version account-id interface-id srcaddr dstaddr srcport dstport protocol "
                 "packets bytes start end action log-status\n")
        chunk = []
        for i in range(rows):
            start = 1_700_000_000 + i // 100
            chunk.append(
                f"2 123456789010 eni-1235b8ca1234567{i % 100:02d} {srcs[i % 5000]} "
                f"{dsts[i % 500]} {1024 + i % 60000} {(22, 80, 443, 53)[i % 4]} "
                f"{(6, 6, 6, 17)[i % 4]} {1 + i % 50} {60 + i % 9000} {start} {start + 60} "
                f"{'ACCEPT' if i % 5 else 'REJECT'} OK\n")
            if len(chunk) >= 100_000:
                fh.write("".join(chunk))
                chunk.clear()
        fh.write("".join(chunk))


def bench(name: str, writer, fmt: str, tmp: str) -> float:
    path = os.path.join(tmp, f"{name}.log")
    writer(path, ROWS)
    size = os.path.getsize(path) / 1e6
    case_path = os.path.join(tmp, f"{name}.duckdb")
    with forensics.open_case(case_path) as case:
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        report = case.load(path, format=fmt, year=2024)
        dt = time.perf_counter() - t0
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu = r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime
        f = report.files[0]
        assert f.status == "loaded", f.message
        assert f.rows == ROWS and f.rejects == 0, (f.rows, f.rejects)
    rate = ROWS / dt
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{fmt:14s} {ROWS:>9,} rows {size:7.1f} MB  {dt:6.2f} s  {rate:>10,.0f} rows/s  "
          f"CPU {cpu:5.2f} s  peak RSS {rss:,.0f} MiB  (load {os.getloadavg()[0]:.1f})")
    return rate


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        rates = [bench("netfilter", write_netfilter, "netfilter", tmp),
                 bench("vpcflow", write_vpc, "aws-vpc-flow", tmp)]
    if min(rates) < 300_000:
        print("below the 300,000 rows/s target")


if __name__ == "__main__":
    main()
