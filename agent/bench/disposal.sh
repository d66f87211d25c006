#!/usr/bin/env bash
# Full-mode cost of `muster-agent disposal verify` against `dd if=IMAGE of=/dev/null` (bs=1M and bs=4M) on the same
# multi-GiB image of real (written, not sparse) zeros: CPU time (user + system) and read rate, cold (the file's page
# cache dropped with `dd iflag=nocache count=0`, which needs no root) and warm (file cached).
#
# All commands run in turn within each round, so a change in the machine's load hits each alike; the table gives
# the median CPU and the best wall time over RUNS rounds (default 5), and the CPU ratio against dd bs=1M.
#
# Usage: agent/bench/disposal.sh [SIZE_GIB (default 4)] [DIR (default target/bench-disposal)]
#        AGENTS="/tmp/muster-agent-old target/release/muster-agent" agent/bench/disposal.sh 1   # compare builds
set -euo pipefail
cd "$(dirname "$0")/../.."

SIZE_GIB="${1:-4}"
DIR="${2:-target/bench-disposal}"
RUNS="${RUNS:-5}"
IMAGE="$DIR/zeros-${SIZE_GIB}g.img"
BYTES=$((SIZE_GIB * 1024 * 1024 * 1024))

if [ -z "${AGENTS:-}" ]; then
  cargo build --release -p muster-agent --quiet
  AGENTS=target/release/muster-agent
fi
mkdir -p "$DIR"
if [ "$(stat -c %s "$IMAGE" 2>/dev/null || echo 0)" != "$BYTES" ] || [ "$(stat -c %b "$IMAGE")" = 0 ]; then
  echo "writing $IMAGE ($SIZE_GIB GiB of zeros, allocated on disk)" >&2
  dd if=/dev/zero of="$IMAGE" bs=4M count=$((SIZE_GIB * 256)) conv=fsync status=none
fi
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

commands=("dd bs=1M" "dd bs=4M")
for agent in $AGENTS; do commands+=("$agent"); done

argv() {
  case "$1" in
    "dd bs=1M") cmd=(dd if="$IMAGE" of=/dev/null bs=1M status=none) ;;
    "dd bs=4M") cmd=(dd if="$IMAGE" of=/dev/null bs=4M status=none) ;;
    *) cmd=("$1" disposal verify "$IMAGE" --mode full --expect zero --state-dir "$DIR/no-state") ;;
  esac
}
# Wall, user and system seconds of one command, from wait4() (microseconds; GNU time rounds to 10 ms).
measure() {
  python3 - "$@" <<'EOF'
import os, subprocess, sys, time
start = time.perf_counter()
with open(os.devnull, "wb") as null:
    child = subprocess.Popen(sys.argv[1:], stdout=null, stderr=null)
    _, status, usage = os.wait4(child.pid, 0)
if os.waitstatus_to_exitcode(status) not in (0, 1):
    sys.exit(f"{sys.argv[1:]} failed with status {status}")
print(f"{time.perf_counter() - start:.4f} {usage.ru_utime:.4f} {usage.ru_stime:.4f}")
EOF
}
prepare() { if [ "$1" = cold ]; then dd if="$IMAGE" iflag=nocache count=0 status=none; else cat "$IMAGE" >/dev/null; fi; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) CPUs; $SIZE_GIB GiB; $RUNS rounds"
printf '%-5s %-40s %12s %12s %12s %10s %12s\n' case command "CPU s (med)" "user s" "sys s" "wall best" "CPU / dd 1M"
for how in cold warm; do
  for i in "${!commands[@]}"; do : >"$OUT/$how.$i"; done
  for _ in $(seq "$RUNS"); do
    for i in "${!commands[@]}"; do
      prepare "$how"
      argv "${commands[$i]}"
      measure "${cmd[@]}" >"$OUT/time"
      cat "$OUT/time" >>"$OUT/$how.$i"
    done
  done
  dd_cpu=$(awk '{ print $2 + $3 }' "$OUT/$how.0" | median)
  for i in "${!commands[@]}"; do
    cpu=$(awk '{ print $2 + $3 }' "$OUT/$how.$i" | median)
    user=$(awk '{ print $2 }' "$OUT/$how.$i" | median)
    sys=$(awk '{ print $3 }' "$OUT/$how.$i" | median)
    wall=$(awk '{ print $1 }' "$OUT/$how.$i" | sort -g | head -n 1)
    printf '%-5s %-40s %12.3f %12.3f %12.3f %9.2fs %11.2fx   (%s MiB/s)\n' "$how" "${commands[$i]}" "$cpu" "$user" \
      "$sys" "$wall" "$(echo "$cpu / $dd_cpu" | bc -l)" "$(echo "scale=0; $BYTES / $wall / 1048576" | bc -l)"
  done
done
