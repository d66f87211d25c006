#!/usr/bin/env python3
"""Benchmark: CPU time and peak RSS of `muster-agent inventory` beside dpkg-query and FusionInventory.

Runs each command several times in one go and prints medians, ratios and the release binary's size as a Markdown table
for BENCHMARKS.md. Each run goes through GNU time (`/usr/bin/time -f %M`), a small C program, so the peak RSS is the
command's own: a child forked straight from Python would inherit Python's ~15 MiB high-water mark across exec. CPU is
user+system time from wait4() on that wrapper (microsecond resolution, where GNU time's own output has 10 ms); the
wrapper's share is shown by the `true` row, the measuring floor.

    python3 agent/bench/inventory.py [--runs 20] [--no-build]
"""

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
AGENT = os.path.join(ROOT, "target", "release", "muster-agent")


def measure(argv, runs):
    """Runs argv `runs` times with output discarded; returns lists of cpu seconds, peak RSS MiB, wall seconds."""
    cpu, rss, wall = [], [], []
    with tempfile.NamedTemporaryFile(mode="r", suffix=".rss") as rss_file:
        for _ in range(runs):
            start = time.perf_counter()
            with open(os.devnull, "wb") as null:
                wrapped = ["/usr/bin/time", "-f", "%M", "-o", rss_file.name, *argv]
                proc = subprocess.Popen(wrapped, stdout=null, stderr=null)
                _, status, usage = os.wait4(proc.pid, 0)
            wall.append(time.perf_counter() - start)
            if os.waitstatus_to_exitcode(status) != 0:
                sys.exit(f"{' '.join(argv)} failed with status {status}")
            cpu.append(usage.ru_utime + usage.ru_stime)
            rss_file.seek(0)
            rss.append(int(rss_file.read().split()[-1]) / 1024.0)
    return cpu, rss, wall


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args()

    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "-p", "muster-agent"], cwd=ROOT, check=True)

    if not os.path.exists("/usr/bin/time"):
        sys.exit("GNU time is needed to measure peak RSS: apt-get install time")
    candidates = [
        ("true (measuring floor)", ["true"], args.runs),
        ("muster-agent inventory (all sections)", [AGENT, "inventory"], args.runs),
        ("muster-agent inventory --sections host,hardware,os,software,patches",
         [AGENT, "inventory", "--sections", "host,hardware,os,software,patches"], args.runs),
        ("muster-agent inventory --sections software", [AGENT, "inventory", "--sections", "software"], args.runs),
        ("muster-agent inventory --sections patches", [AGENT, "inventory", "--sections", "patches"], args.runs),
        ("muster-agent inventory --sections checks", [AGENT, "inventory", "--sections", "checks"], args.runs),
        ("dpkg-query -W", ["dpkg-query", "-W"], args.runs),
        ("fusioninventory-inventory", ["fusioninventory-inventory"], max(3, args.runs // 4)),
    ]
    results = []
    for label, argv, runs in candidates:
        if shutil.which(argv[0]) is None and not os.path.exists(argv[0]):
            print(f"skipping {label}: {argv[0]} not installed", file=sys.stderr)
            continue
        measure(argv, 1)  # warm the page cache
        cpu, rss, wall = measure(argv, runs)
        results.append((label, runs, statistics.median(cpu), max(rss), statistics.median(wall)))

    packages = subprocess.run(["dpkg-query", "-W"], capture_output=True, text=True).stdout.count("\n") \
        if shutil.which("dpkg-query") else "n/a"
    size = os.path.getsize(AGENT) / (1024 * 1024)
    print(f"Machine: {platform.node()}, {os.cpu_count()} cores, {platform.platform()}, {packages} dpkg packages")
    print(f"Release binary: {size:.2f} MiB ({AGENT})\n")
    print("| command | runs | median CPU s | peak RSS MiB | median wall s |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for label, runs, cpu, rss, wall in results:
        print(f"| {label} | {runs} | {cpu:.4f} | {rss:.1f} | {wall:.4f} |")
    ours = next(r for r in results if r[0].startswith("muster-agent inventory (all"))
    print()
    for label, _, cpu, rss, _ in results:
        if label.startswith(("muster-agent", "true")) or cpu == 0:
            continue
        print(f"- {label}: {cpu / ours[2]:.1f}x our CPU, {rss / ours[3]:.1f}x our peak RSS")


if __name__ == "__main__":
    main()
