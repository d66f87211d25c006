#!/usr/bin/env bash
# The ingest baseline of BENCHMARKS.md: a release collector on SQLite or PostgreSQL under muster-loadgen.
#
# Usage: loadgen/bench/baseline.sh sqlite|postgres [HOSTS] [OUT_DIR]
# Needs release binaries (`cargo build --release -p muster-loadgen -p muster-collector`); for postgres, a server on
# 127.0.0.1:5432 where user postgres may create databases (a new database is created for the run and kept).
# Prints one line per phase: the loadgen's JSON plus the collector's CPU seconds for the phase, its RSS and peak
# RSS, and the database size (SQLite: the main file, its WAL apart); everything is also written to OUT_DIR.
# After each phase it waits for the collector's evaluation queue to empty (`muster_evaluation_queue_hosts` in
# /metrics; a collector without the queue evaluates inside the request and reports none): `eval_drain_s` is that
# wait, `eval_lag_max_s` the largest queue lag seen, `eval_queued_at_end` the hosts still queued when the phase's last
# request was answered, and `done_per_s` the requests over phase plus drain time.
# BENCH_PHASES (default: all) picks phases by name, space-separated; BENCH_FIRST_CONCURRENCY (default 4) sets the
# first-report wave's requests in flight; BENCH_SERVE_ARGS adds flags to `serve` (`--max-reports-in-flight 8`). BENCH_PERF=1 records each phase and its drain
# with `perf record --call-graph dwarf` on the collector into OUT_DIR/PHASE.perf.data (build with symbols first:
# CARGO_PROFILE_RELEASE_STRIP=false CARGO_PROFILE_RELEASE_DEBUG=line-tables-only).
set -euo pipefail
cd "$(dirname "$0")/../.."

store=${1:?sqlite or postgres}
hosts=${2:-1000}
out=${3:-/tmp/muster-loadgen-bench}/$store-$hosts
bin=${CARGO_TARGET_DIR:-target}/release
image=${LOADGEN_IMAGE:-debian-12-server}
rm -rf "$out"
mkdir -p "$out/data"

if [ "$store" = postgres ]; then
  db="muster_loadgen_$(date +%s)"
  psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $db"
  export MUSTER_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db"
fi

# shellcheck disable=SC2086 # BENCH_SERVE_ARGS is a list of flags.
"$bin/muster-collector" --data-dir "$out/data" --format json serve --listen 127.0.0.1:0 ${BENCH_SERVE_ARGS:-} >"$out/serve.json" \
  2>"$out/collector.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  # jq 1.6 exits 0 on an empty file: wait for the value itself.
  [ -n "$(jq -r '.ca.sha256_fingerprint // empty' "$out/serve.json" 2>/dev/null)" ] && break
  sleep 0.2
done
url=$(jq -r .url "$out/serve.json")
fp=$(jq -r .ca.sha256_fingerprint "$out/serve.json")
MUSTER_ENROLL_SECRET=$("$bin/muster-collector" --data-dir "$out/data" --format json enroll-secret create \
  --label loadgen-bench | jq -r .secret)
export MUSTER_ENROLL_SECRET

ticks=$(getconf CLK_TCK)
cpu_s() { awk -v t="$ticks" '{printf "%.2f", ($14 + $15) / t}' "/proc/$pid/stat"; }
kib() { awk -v k="$1" '$1 == k":" {print $2}' "/proc/$pid/status"; }
db_bytes() {
  if [ "$store" = postgres ]; then
    psql -h 127.0.0.1 -U postgres -Atc "SELECT pg_database_size('$db')"
  else
    stat -c %s "$out/data/muster.db"
  fi
}
wal_mib() { if [ "$store" = sqlite ]; then echo $(($(stat -c %s "$out/data/muster.db-wal" 2>/dev/null || echo 0) / 1048576)); else echo 0; fi; }

metric() { curl -sk --max-time 5 "$url/metrics" | awk -v m="$1" '$1 == m {print $2}'; }

phase() {
  local name=$1
  shift
  case " ${BENCH_PHASES:-$name} " in *" $name "*) ;; *) return 0 ;; esac
  local before after queued lag lag_max=0 drain_start drain_s
  local perf_pid=
  if [ -n "${BENCH_PERF:-}" ]; then
    perf record -q -F 199 --call-graph dwarf,16384 -p "$pid" -o "$out/$name.perf.data" 2>"$out/$name.perf.log" &
    perf_pid=$!
    sleep 1
  fi
  before=$(cpu_s)
  "$bin/muster-loadgen" --collector "$url" --ca-fingerprint "$fp" --state-dir "$out/state" --hosts "$hosts" \
    --image "$image" --format json "$@" >"$out/$name.json"
  drain_start=$(date +%s.%N)
  # The hosts still waiting when the last request was answered: how far evaluation fell behind during the phase.
  queued_at_end=$(metric muster_evaluation_queue_hosts)
  while :; do
    queued=$(metric muster_evaluation_queue_hosts)
    lag=$(metric muster_evaluation_queue_lag_seconds)
    lag_max=$(echo "${lag:-0} $lag_max" | awk '{print ($1 > $2) ? $1 : $2}')
    [ "${queued:-0}" = 0 ] && break
    sleep 0.2
  done
  drain_s=$(echo "$(date +%s.%N) - $drain_start" | bc)
  after=$(cpu_s)
  if [ -n "$perf_pid" ]; then kill -INT "$perf_pid" && wait "$perf_pid" || true; fi
  jq -c --arg phase "$name" --arg cpu "$(echo "$after - $before" | bc)" --arg rss "$(kib VmRSS)" \
    --arg drain "$drain_s" --arg lagmax "$lag_max" --arg queued_at_end "${queued_at_end:-0}" \
    --arg hwm "$(kib VmHWM)" --arg db "$(db_bytes)" --arg wal "$(wal_mib)" --arg hosts "$hosts" \
    '{phase: $phase, mode, requests, ok, errors, rate_ok_per_s, p50_ms, p90_ms, p99_ms, max_ms,
      enrol_per_s: .preparation.enrol_per_s, collector_cpu_s: ($cpu | tonumber), rss_mib: (($rss | tonumber) / 1024 | floor),
      peak_rss_mib: (($hwm | tonumber) / 1024 | floor), db_mib: (($db | tonumber) / 1048576 | floor),
      db_kib_per_host: (($db | tonumber) / 1024 / ($hosts | tonumber) | floor), sqlite_wal_mib: ($wal | tonumber),
      eval_drain_s: ($drain | tonumber * 100 | floor / 100), eval_lag_max_s: ($lagmax | tonumber),
      eval_queued_at_end: ($queued_at_end | tonumber),
      done_per_s: (.ok / (.elapsed_s + ($drain | tonumber)) * 10 | floor / 10)}' "$out/$name.json" | tee -a "$out/summary.jsonl"
}

phase first-wave --scenario first-wave --concurrency "${BENCH_FIRST_CONCURRENCY:-4}"
phase unchanged --scenario unchanged --concurrency 8 --duration 20
phase unchanged-open --scenario unchanged --rate 100 --duration 20 --concurrency 64
phase patch-day --scenario patch-day --concurrency 4 --duration 40
phase unchanged-after --scenario unchanged --concurrency 8 --duration 20
