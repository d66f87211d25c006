#!/usr/bin/env bash
# Samples a running collector while a load runs beside it, for the per-interval tables of BENCHMARKS.md: reports
# stored so far, the evaluation queue and its lag (from /metrics), the collector's CPU seconds and RSS (from /proc),
# the SQLite file and WAL sizes (or the PostgreSQL database's size) and the machine's one-minute load average, to
# say what ran beside it. One tab-separated line per sample until the collector exits.
#
# Usage: loadgen/bench/sample.sh URL PID [DATA_DIR] [INTERVAL_S]
#   URL       the collector's base URL (serve.json's .url); /metrics needs no credentials
#   PID       the collector's process id
#   DATA_DIR  its data directory (SQLite sizes), or its PostgreSQL database URL (the database's size; no WAL column)
#   INTERVAL  seconds between samples (default 30)
# Rates over an interval are differences of two lines: stored/s = Δstored / Δt, evaluated/s = (Δstored − Δqueued)
# / Δt during a first-report wave, where every stored report queues its host once.
set -euo pipefail
url=${1:?collector URL}
pid=${2:?collector pid}
data=${3:-}
interval=${4:-30}
ticks=$(getconf CLK_TCK)
metric() { awk -v m="$1" '$1 == m {print $2}' <<<"$2"; }
size() {
  case "$data" in
    postgres://*) if [ "$1" = muster.db ]; then psql "$data" -Atc "SELECT pg_database_size(current_database())" \
      2>/dev/null || echo 0; else echo 0; fi ;;
    "") echo 0 ;;
    *) stat -c %s "$data/$1" 2>/dev/null || echo 0 ;;
  esac
}
printf 'unix_s\tstored\tqueued\tlag_s\tcpu_s\trss_mib\tdb_mib\twal_mib\tload1\n'
while [ -e "/proc/$pid" ]; do
  m=$(curl -sk --max-time 5 "$url/metrics" || true)
  stored=$(metric 'muster_reports_received_total{outcome="stored"}' "$m")
  cpu=$(awk -v t="$ticks" '{printf "%.1f", ($14 + $15) / t}' "/proc/$pid/stat" 2>/dev/null || echo 0)
  rss=$(awk '$1 == "VmRSS:" {printf "%d", $2 / 1024}' "/proc/$pid/status" 2>/dev/null || echo 0)
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date +%s)" "${stored:-0}" \
    "$(metric muster_evaluation_queue_hosts "$m")" "$(metric muster_evaluation_queue_lag_seconds "$m")" \
    "$cpu" "$rss" $(($(size muster.db) / 1048576)) $(($(size muster.db-wal) / 1048576)) \
    "$(cut -d' ' -f1 /proc/loadavg)"
  sleep "$interval"
done
