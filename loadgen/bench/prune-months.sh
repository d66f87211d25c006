#!/usr/bin/env bash
# BENCHMARKS.md, "History by month on PostgreSQL": one month of host history (1,000,000 rows, 100 hosts) deleted
# beside a kept month of as many, three ways on the same rows and the same PostgreSQL (127.0.0.1:5432, user postgres):
# the batches the collector ran before migration 0025 (5,000 rows a statement, each its own transaction) on the old
# table; counting and dropping the month's partition (store/partitions.rs) on the new layout; and the new layout's
# range batches (store/sql.rs), which run should the drop not get its lock. The statements are the collector's, run
# by psql. Usage: loadgen/bench/prune-months.sh (creates and drops databases prune_ab_old and prune_ab_new).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=.
P="psql -h 127.0.0.1 -U postgres -qAtX -v ON_ERROR_STOP=1"
# The two months after next (the upgrade's old-table partition covers up to the end of this month).
month_ms() { echo "$(date -u -d "$(date -u +%Y-%m-01) +$1 month" +%s)000"; }
jan=$(month_ms 2); feb=$(month_ms 3); mar=$(month_ms 4)
m1=$(date -u -d "@${jan%000}" +history_y%Ym%m); m2=$(date -u -d "@${feb%000}" +history_y%Ym%m)
setup() { # db upto
  $P -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" postgres
  for f in "$repo"/collector/migrations/postgres/*.sql; do
    n=$(basename "$f"); [[ "$n" > "$2" ]] && continue
    $P -f "$f" "$1" >/dev/null
  done
  $P "$1" <<SQL
INSERT INTO hosts (id, hostname, first_seen, last_seen) SELECT 'h' || g, 'host' || g, 0, 0 FROM generate_series(1, 100) g;
SQL
  if [ "$2" != 0024 ]; then   # the new layout: its months
    $P "$1" -c "CREATE TABLE $m1 PARTITION OF history FOR VALUES FROM ($jan) TO ($feb)" \
      -c "CREATE TABLE $m2 PARTITION OF history FOR VALUES FROM ($feb) TO ($mar)"
  fi
  $P "$1" <<SQL
INSERT INTO history (host_id, at, kind, subject, from_value, to_value)
  SELECT 'h' || (g % 100 + 1), $jan + (g::bigint * 2678) % ($feb - $jan), 'package_upgraded', 'pkg' || (g % 900), '1.' || g, '2.' || g
  FROM generate_series(1, 1000000) g;
INSERT INTO history (host_id, at, kind, subject, from_value, to_value)
  SELECT 'h' || (g % 100 + 1), $feb + (g::bigint * 2419) % ($mar - $feb), 'package_upgraded', 'pkg' || (g % 900), '1.' || g, '2.' || g
  FROM generate_series(1, 1000000) g;
VACUUM ANALYZE;
SQL
}
# The collector's batch statements before and after 0025 (store/sql.rs): a list of ids, and a range of `at`.
OLD_BATCH="DELETE FROM history WHERE id IN (SELECT id FROM history WHERE at < $feb ORDER BY at LIMIT 5000)"
RANGE_BATCH="DELETE FROM history WHERE at < $feb AND at <= (SELECT max(at) FROM (SELECT at FROM history WHERE at < $feb ORDER BY at LIMIT 5000) batch)"
batches() { # db label statement: each its own transaction, until one deletes fewer than 5,000
  local t0 n total=0; t0=$(date +%s.%N)
  while :; do
    n=$($P "$1" -c "WITH d AS ($3 RETURNING 1) SELECT count(*) FROM d")
    total=$((total + n)); [ "$n" -lt 5000 ] && break
  done
  echo "$2: $total rows in $(echo "$(date +%s.%N) - $t0" | bc) s"
}
new_prune() { # db: partitions.rs's drop_before, then one batch that finds nothing left
  local t0 n; t0=$(date +%s.%N)
  n=$($P "$1" <<SQL
BEGIN;
SELECT pg_advisory_xact_lock(hashtext('muster.history_partitions'));
SELECT count(*) FROM $m1;
SET LOCAL lock_timeout = '5s';
LOCK TABLE history IN ACCESS EXCLUSIVE MODE;
DROP TABLE $m1;
COMMIT;
SQL
)
  $P "$1" -c "$RANGE_BATCH"
  echo "month dropped: $n rows in $(echo "$(date +%s.%N) - $t0" | bc) s"
}
for _ in 1 2; do
  setup prune_ab_old 0024; batches prune_ab_old "old batches" "$OLD_BATCH"; $P -c "SELECT 'old left', count(*) FROM history" prune_ab_old
  setup prune_ab_new 9999; new_prune prune_ab_new; $P -c "SELECT 'new left', count(*) FROM history" prune_ab_new
  setup prune_ab_new 9999
  $P prune_ab_new -c "EXPLAIN $RANGE_BATCH" | grep -E "Scan|Delete" | sed 's/^/  plan: /'
  batches prune_ab_new "new batches" "$RANGE_BATCH"; $P -c "SELECT 'new left', count(*) FROM history" prune_ab_new
done
$P -c "DROP DATABASE prune_ab_old" -c "DROP DATABASE prune_ab_new" postgres
