#!/usr/bin/env bash
# Cost of `muster-agent inventory --sections checks` (almost all of it the `files.world_writable` walk) for one or
# more agent binaries, run alternately so a change in the machine's load hits each alike, and how often the walk
# was cut short. Warm (dentry and inode caches filled by the previous run) unless COLD is set: COLD=2 drops the
# dentry and inode caches before each run (`echo 2 > /proc/sys/vm/drop_caches`, root only; the inode tables stay in
# the page cache), COLD=3 the page cache too (slows everything else on the machine for a moment).
#
# Usage: agent/bench/world_writable.sh [RUNS (default 5)] BINARY...
# e.g.   agent/bench/world_writable.sh 5 /tmp/muster-agent-before target/release/muster-agent
set -euo pipefail

RUNS="${1:-5}"
shift
[ "$#" -gt 0 ] || { echo "usage: $0 RUNS BINARY..." >&2; exit 2; }
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) CPUs; cold=${COLD:-0}"
printf '%-40s %4s %8s %8s %8s %8s  %s\n' binary run wall_s user_s sys_s cpu_s "files.world_writable"
for run in $(seq "$RUNS"); do
  for bin in "$@"; do
    case "${COLD:-0}" in
      2|3) sync; echo "$COLD" > /proc/sys/vm/drop_caches ;;
    esac
    /usr/bin/time -f "%e %U %S" -o "$OUT/time" "$bin" inventory --sections checks >"$OUT/report.json" 2>/dev/null
    read -r wall user sys <"$OUT/time"
    verdict=$(python3 - "$OUT/report.json" <<'EOF'
import json, sys
report = json.load(open(sys.argv[1]))
check = next(c for c in report["checks"] if c["id"] == "files.world_writable")
stopped = [e["message"] for e in report.get("errors", []) if e.get("item") == "files.world_writable"]
if stopped:
    print(f'{check["status"]}: {stopped[0]}')
else:
    print(f'{check["status"]}: {check["evidence"][-1].split(" in ")[0]}')
EOF
)
    printf '%-40s %4s %8s %8s %8s %8.2f  %s\n' "$bin" "$run" "$wall" "$user" "$sys" "$(echo "$user + $sys" | bc -l)" \
      "$verdict"
  done
done
