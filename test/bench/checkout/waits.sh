#!/usr/bin/env bash
# Where a checkout run waits: pgbench the till's sale (uniform mix) on the
# cluster a kept run left (MK_BENCH_KEEP=1 bash run.sh), and sample
# pg_stat_activity's wait events, plus the tuple locks and ungranted locks
# of each backend, every 10 ms; print the shares.  Issue 15: the
# transactionid waits without a tuple lock are INSERT ... ON CONFLICT
# waiting for the transaction that holds the branch's receipt counter row
# (a wait for a batch holds a tuple lock on mekatek.batch).
#   waits.sh [mekatek|peer] [clients, default 8] [seconds, default 8]
source "$(dirname "$0")/../../harness/common.sh"
side=${1:-mekatek} clients=${2:-8} secs=${3:-8}
port=${MK_BENCH_PORT:-$(mk_port bench_checkout)}
bindir=$(bash "$MK_ROOT/test/harness/stage.sh" | tail -n 1)
export PGHOST=$MK_BUILD/bench-checkout/run PGPORT=$port PGUSER=postgres PGDATABASE=bench
script=$MK_BUILD/bench-checkout/scripts/till-$side-uniform.pgbench
[ -s "$script" ] || mk_die "no $script: run MK_BENCH_KEEP=1 bash test/bench/checkout/run.sh first"
psql -Xq -c "DROP TABLE IF EXISTS bench_waits" \
    -c "CREATE UNLOGGED TABLE bench_waits (n int, pid int, state text, wait_type text, wait_event text, locks text)"
"$bindir/pgbench" -n -f "$script" -c "$clients" -j 2 -T "$secs" --max-tries=20 2>&1 | grep '^tps' &
bench=$!
sleep 0.5
psql -Xq <<SQL
DO \$\$
DECLARE i int := 0; t0 timestamptz := clock_timestamp();
BEGIN
  WHILE clock_timestamp() < t0 + interval '$((secs - 1)) s' LOOP
    i := i + 1;
    PERFORM pg_stat_clear_snapshot();
    INSERT INTO bench_waits
    SELECT i, a.pid, a.state, a.wait_event_type, a.wait_event,
           (SELECT string_agg(l.locktype || ':' || coalesce(l.relation::regclass::text, '') || ':' || l.mode, ',')
              FROM pg_locks l WHERE l.pid = a.pid AND (NOT l.granted OR l.locktype = 'tuple'))
      FROM pg_stat_activity a WHERE a.application_name = 'pgbench';
    PERFORM pg_sleep(0.01);
  END LOOP;
END \$\$;
SQL
wait "$bench"
psql -XA -F' | ' \
    -c "SELECT count(DISTINCT n) AS samples FROM bench_waits" \
    -c "SELECT state, coalesce(wait_type, '(on CPU)') AS wait_type, coalesce(wait_event, '') AS wait_event,
               coalesce(locks, '') AS locks, count(*) AS n, round(100.0 * count(*) / sum(count(*)) OVER (), 1) AS pct
          FROM bench_waits GROUP BY 1, 2, 3, 4 ORDER BY n DESC LIMIT 12"
