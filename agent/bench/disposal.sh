#!/usr/bin/env bash
# Full-mode read speed of `muster-agent disposal verify` against `dd if=IMAGE of=/dev/null bs=4M` on the same
# multi-GiB image of real (written, not sparse) zeros. Both are measured cold (the file's page cache dropped with
# `dd iflag=nocache count=0`, which needs no root) and warm (file cached), best of RUNS each.
#
# Usage: agent/bench/disposal.sh [SIZE_GIB (default 4)] [DIR (default target/bench-disposal)]
set -euo pipefail
cd "$(dirname "$0")/../.."

SIZE_GIB="${1:-4}"
DIR="${2:-target/bench-disposal}"
RUNS="${RUNS:-3}"
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

measure() { # $1 = cold|warm, rest = command
  local how=$1; shift
  for _ in $(seq "$RUNS"); do
    if [ "$how" = cold ]; then drop_cache; else cat "$IMAGE" >/dev/null; fi
    seconds "$@"
  done | best
}

for how in cold warm; do
  dd_s=$(measure "$how" dd if="$IMAGE" of=/dev/null bs=4M)
  ours_s=$(measure "$how" "$BIN" disposal verify "$IMAGE" --mode full --expect zero --state-dir "$DIR/no-state")
  printf '%-5s dd bs=4M: %6.2f s  %8s MiB/s   muster-agent full: %6.2f s  %8s MiB/s   ratio %s%%\n' \
    "$how" "$dd_s" "$(rate "$dd_s")" "$ours_s" "$(rate "$ours_s")" "$(echo "scale=1; 100 * $dd_s / $ours_s" | bc -l)"
done
