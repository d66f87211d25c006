#!/usr/bin/env bash
# Full-mode read speed of `muster-agent disposal verify` against `dd if=IMAGE of=/dev/null bs=4M` on the same
# multi-GiB image of real (written, not sparse) zeros. Both are measured cold (the file's page cache dropped with
# `dd iflag=nocache count=0`, which needs no root) and warm (file cached), best of RUNS each.
#
# The agent reads through the page cache like dd does (no O_DIRECT), in 4 MiB reads on one thread while a second
# thread checks, so the figures compare the same I/O path; best of RUNS (default 5) each.
#
# Usage: agent/bench/disposal.sh [SIZE_GIB (default 4)] [DIR (default target/bench-disposal)]
set -euo pipefail
cd "$(dirname "$0")/../.."

SIZE_GIB="${1:-4}"
DIR="${2:-target/bench-disposal}"
RUNS="${RUNS:-5}"
IMAGE="$DIR/zeros-${SIZE_GIB}g.img"
BYTES=$((SIZE_GIB * 1024 * 1024 * 1024))

cargo build --release -p muster-agent --quiet
BIN=target/release/muster-agent
mkdir -p "$DIR"
if [ "$(stat -c %s "$IMAGE" 2>/dev/null || echo 0)" != "$BYTES" ] || [ "$(stat -c %b "$IMAGE")" = 0 ]; then
  echo "writing $IMAGE ($SIZE_GIB GiB of zeros, allocated on disk)" >&2
  dd if=/dev/zero of="$IMAGE" bs=4M count=$((SIZE_GIB * 256)) conv=fsync status=none
fi

drop_cache() { dd if="$IMAGE" iflag=nocache count=0 status=none; }
seconds() { local start end; start=$(date +%s.%N); "$@" >/dev/null 2>&1 || [ $? -eq 1 ]; end=$(date +%s.%N); echo "$end - $start" | bc -l; }
best() { sort -g | head -n 1; }
rate() { echo "scale=1; $BYTES / $1 / 1048576" | bc -l; }

prepare() { if [ "$1" = cold ]; then drop_cache; else cat "$IMAGE" >/dev/null; fi; }

# dd and the agent alternate run by run, so a change in the machine's load (other builds) hits both alike.
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) CPUs" >&2
for how in cold warm; do
  dd_runs=(); ours_runs=()
  for _ in $(seq "$RUNS"); do
    prepare "$how"; dd_runs+=("$(seconds dd if="$IMAGE" of=/dev/null bs=4M)")
    prepare "$how"; ours_runs+=("$(seconds "$BIN" disposal verify "$IMAGE" --mode full --expect zero --state-dir "$DIR/no-state")")
  done
  dd_s=$(printf '%s\n' "${dd_runs[@]}" | best)
  ours_s=$(printf '%s\n' "${ours_runs[@]}" | best)
  printf '%-5s dd bs=4M: %6.2f s  %8s MiB/s   muster-agent full: %6.2f s  %8s MiB/s   ratio %s%%\n' \
    "$how" "$dd_s" "$(rate "$dd_s")" "$ours_s" "$(rate "$ours_s")" "$(echo "scale=1; 100 * $dd_s / $ours_s" | bc -l)"
done
