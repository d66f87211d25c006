#!/usr/bin/env bash
# Collector replicas on one PostgreSQL under muster-loadgen (BENCHMARKS.md, issue 14).
#
# Usage: loadgen/bench/replicas.sh REPLICAS [HOSTS] [OUT_DIR]
# Needs release binaries and a PostgreSQL on 127.0.0.1:5432 where user postgres may create databases (a new one per
# run, kept). Starts REPLICAS `muster-collector serve` processes, each with its own data directory (its own TLS CA)
# and the same database, and one muster-loadgen per replica with HOSTS/REPLICAS hosts of its own, all at once, as a
# load balancer spreading agents would. Per phase it prints one JSON line: the requests and OK answers summed over the
# load generators, the worst p99, the collectors' CPU seconds summed, and the time the shared evaluation queue took to
# empty afterwards. BENCH_PHASES (default: all) picks phases by name.
set -euo pipefail
cd "$(dirname "$0")/../.."

replicas=${1:?number of replicas}
hosts=${2:-1000}
out=${3:-/tmp/muster-loadgen-replicas}/r$replicas-$hosts
bin=${CARGO_TARGET_DIR:-target}/release
image=${LOADGEN_IMAGE:-debian-12-server}
per=$((hosts / replicas))
rm -rf "$out"
mkdir -p "$out"

db="muster_replicas_$(date +%s)"
psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $db"
export MUSTER_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
for r in $(seq 1 "$replicas"); do
  mkdir -p "$out/c$r/data"
  "$bin/muster-collector" --data-dir "$out/c$r/data" --format json serve --listen 127.0.0.1:0 >"$out/c$r/serve.json" \
    2>"$out/c$r/collector.log" &
  pids+=($!)
  # One at a time: the first creates the schema, the others find it.
  for _ in $(seq 1 100); do
    [ -n "$(jq -r '.ca.sha256_fingerprint // empty' "$out/c$r/serve.json" 2>/dev/null)" ] && break
    sleep 0.2
  done
done
MUSTER_ENROLL_SECRET=$("$bin/muster-collector" --data-dir "$out/c1/data" --format json enroll-secret create \
  --label loadgen-replicas | jq -r .secret)
export MUSTER_ENROLL_SECRET

ticks=$(getconf CLK_TCK)
cpu_s() { for p in "${pids[@]}"; do awk -v t="$ticks" '{print ($14 + $15) / t}' "/proc/$p/stat"; done | awk '{s += $1} END {printf "%.2f", s}'; }
url1=$(jq -r .url "$out/c1/serve.json")
metric() { curl -sk --max-time 5 "$url1/metrics" | awk -v m="$1" '$1 == m {print $2}'; }

phase() {
  local name=$1
  shift
  case " ${BENCH_PHASES:-$name} " in *" $name "*) ;; *) return 0 ;; esac
  local before after drain_start drain_s queued lgs=()
  before=$(cpu_s)
  for r in $(seq 1 "$replicas"); do
    "$bin/muster-loadgen" --collector "$(jq -r .url "$out/c$r/serve.json")" \
      --ca-fingerprint "$(jq -r .ca.sha256_fingerprint "$out/c$r/serve.json")" --state-dir "$out/c$r/state" \
      --hosts "$per" --image "$image" --format json "$@" >"$out/c$r/$name.json" &
    lgs+=($!)
  done
  for p in "${lgs[@]}"; do wait "$p"; done
  drain_start=$(date +%s.%N)
  while :; do
    queued=$(metric muster_evaluation_queue_hosts)
    [ "${queued:-0}" = 0 ] && break
    sleep 0.2
  done
  drain_s=$(echo "$(date +%s.%N) - $drain_start" | bc)
  after=$(cpu_s)
  jq -s -c --arg phase "$name" --arg replicas "$replicas" --arg hosts "$hosts" --arg cpu "$(echo "$after - $before" | bc)" \
    --arg drain "$drain_s" --arg db "$(psql -h 127.0.0.1 -U postgres -Atc "SELECT pg_database_size('$db')")" \
    '{phase: $phase, replicas: ($replicas | tonumber), hosts: ($hosts | tonumber),
      requests: (map(.requests) | add), ok: (map(.ok) | add),
      errors: (map(.errors | to_entries[]) | group_by(.key) | map({key: .[0].key, value: (map(.value) | add)}) | from_entries),
      rate_ok_per_s: (map(.rate_ok_per_s) | add * 10 | floor / 10), p50_ms_worst: (map(.p50_ms) | max),
      p99_ms_worst: (map(.p99_ms) | max), collectors_cpu_s: ($cpu | tonumber),
      eval_drain_s: ($drain | tonumber * 100 | floor / 100),
      done_per_s: ((map(.ok) | add) / ((map(.elapsed_s) | max) + ($drain | tonumber)) * 10 | floor / 10),
      db_kib_per_host: (($db | tonumber) / 1024 / ($hosts | tonumber) | floor)}' "$out"/c*/"$name.json" \
    | tee -a "$out/summary.jsonl"
}

phase first-wave --scenario first-wave --concurrency 4
phase unchanged --scenario unchanged --concurrency 8 --duration 20
phase patch-day --scenario patch-day --concurrency 4 --duration 30
