#!/usr/bin/env python3
"""Runs two agent binaries (before and after a change) alternately under GNU time and prints a Markdown table:
CPU = user+sys from wait4() on the wrapper (median), peak RSS from GNU time %M (largest run), wall (median).

Usage: side_by_side.py BEFORE AFTER RUNS"""
import os, statistics, subprocess, sys, time
before, after, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
cases = [["inventory"], ["inventory", "--sections", "software"], ["inventory", "--sections", "hardware"]]
res = {}
for i in range(runs):
    for args in cases:
        for label, binary in (("before", before), ("after", after)):
            start = time.monotonic()
            p = subprocess.Popen(["/usr/bin/time", "-f", "%M", binary, *args],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            err = p.stderr.read()
            _, status, ru = os.wait4(p.pid, 0)
            wall = time.monotonic() - start
            rss = int(err.strip().splitlines()[-1]) / 1024
            res.setdefault((" ".join(args), label), []).append((ru.ru_utime + ru.ru_stime, rss, wall))
print("| command | binary | runs | median CPU s | max peak RSS MiB | median wall s |")
print("| --- | --- | ---: | ---: | ---: | ---: |")
for (args, label), rows in res.items():
    print(f"| muster-agent {args} | {label} | {len(rows)} | {statistics.median(r[0] for r in rows):.4f} | "
          f"{max(r[1] for r in rows):.1f} | {statistics.median(r[2] for r in rows):.4f} |")
