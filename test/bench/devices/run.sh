#!/usr/bin/env bash
# Device events: four clients (pgbench, -c 4) insert visitor events for
# MK_BENCH_SECONDS (default 60) each, with the C trigger keeping
# room_occupancy and without it (trigger disabled, same table and indexes),
# side by side: events per second of both and the ratio.
#   batch  : 100 events per INSERT (what mekatek-edge sends), 8 rooms
#   single : 1 event per INSERT, each its own transaction (a bare device)
#   rfid   : 100 scans per INSERT over 1,000,000 registered tags (the row
#            triggers: UID normalising, state machine with debounce; about
#            1.5 scans per tag in 60 s, so mostly counted transitions; tags
#            scanned after their item is done are flagged and NOTIFYed)
# Each measurement starts from empty event tables (TRUNCATE), the run
# without the trigger first.  The bench database runs with
# synchronous_commit = off so that the single-row workload shows the
# trigger's cost rather than the disk's flush time (with it on, both sides
# are bound by fsync at ~1,000 commits/s here).
# Then the capacity notification latency (commit to listener, p50/p99)
# measured by a small libpq listener while the four clients keep inserting.
# Goals (issue 7): >= 20,000 events/s with triggers, triggers <= 2x,
# notification p99 <= 50 ms.  The machine is shared: figures are noisy.
source "$(dirname "$0")/../../harness/common.sh"
here=$(cd "$(dirname "$0")" && pwd)
port=${MK_BENCH_PORT:-54382}
secs=${MK_BENCH_SECONDS:-60}
name=bench-devices

make -s -C "$MK_ROOT" all >/dev/null
bindir=$(bash "$MK_ROOT/test/harness/stage.sh" | tail -n 1)
bash "$MK_ROOT/test/harness/cluster.sh" fresh "$name" "$port" "$bindir"
[ "${MK_BENCH_KEEP:-0}" = 1 ] || trap 'bash "$MK_ROOT/test/harness/cluster.sh" stop '"$name"' "$bindir"' EXIT
export PGHOST=$MK_BUILD/$name/run PGPORT=$port PGUSER=postgres PGDATABASE=bench
psql() { "$bindir/psql" -Xq -v ON_ERROR_STOP=1 "$@"; }
psql -d postgres -c "CREATE DATABASE bench"
psql -c "ALTER DATABASE bench SET synchronous_commit = off"
psql -c "CREATE EXTENSION mekatek CASCADE" \
     -c "INSERT INTO mekatek.room SELECT 'room-' || i, 'Room ' || i, 500 FROM generate_series(1, 8) i" \
     -c "INSERT INTO mekatek.room VALUES ('probe', 'latency probe', 1)" \
     -c "INSERT INTO mekatek.lab_item(uid, active_uid, item_code, company, kind, test)
         SELECT u, u, 'B' || i, 'bench', 'sample', 'uji'
           FROM generate_series(1, 1000000) i, LATERAL upper(lpad(to_hex(i), 8, '0')) u" \
     -c "VACUUM ANALYZE mekatek.lab_item" >/dev/null

work=$MK_BUILD/$name/scripts
mkdir -p "$work"
cc -O2 -o "$work/latency" "$here/latency.c" -I"$($PG_CONFIG --includedir)" -L"$($PG_CONFIG --libdir)" -lpq

cat >"$work/batch.pgbench" <<'SQL'
\set room random(1, 8)
INSERT INTO mekatek.visitor_event(event_id, camera, room_id, direction)
SELECT gen_random_uuid()::text, 'cam-' || :client_id, 'room-' || :room,
       CASE WHEN random() < 0.55 THEN 'in' ELSE 'out' END
  FROM generate_series(1, 100)
ON CONFLICT DO NOTHING;
SQL
cat >"$work/single.pgbench" <<'SQL'
\set room random(1, 8)
\set d random(0, 99)
INSERT INTO mekatek.visitor_event(event_id, camera, room_id, direction)
VALUES (gen_random_uuid()::text, 'cam-' || :client_id, 'room-' || :room,
        CASE WHEN :d < 55 THEN 'in' ELSE 'out' END)
ON CONFLICT DO NOTHING;
SQL

cat >"$work/rfid.pgbench" <<'SQL'
INSERT INTO mekatek.rfid_scan(event_id, scanner, uid, lab)
SELECT gen_random_uuid()::text, 'sc-' || :client_id, lpad(to_hex(1 + (random() * 999999)::int), 8, '0'), 'LAB-1'
  FROM generate_series(1, 100)
ON CONFLICT DO NOTHING;
SQL

tps() { # script -> transactions/s
    "$bindir/pgbench" -n -f "$1" -c 4 -j 2 -T "$secs" 2>&1 | sed -n 's/^tps = \([0-9.]*\) .*/\1/p'
}
triggers() { # ENABLE|DISABLE workload: empty the tables, then switch
    if [ "$2" = rfid ]; then
        psql -c "TRUNCATE mekatek.rfid_scan, mekatek.lab_item_history" \
             -c "UPDATE mekatek.lab_item SET state = 'registered', active_uid = uid, lab = NULL, last_scan_at = NULL" \
             -c "VACUUM mekatek.lab_item" -c "CHECKPOINT" \
             -c "ALTER TABLE mekatek.rfid_scan $1 TRIGGER USER"
    else
        psql -c "TRUNCATE mekatek.visitor_event, mekatek.capacity_alert" \
             -c "UPDATE mekatek.room_occupancy SET entered = 0, exited = 0, miscounted = 0, inside = 0" \
             -c "CHECKPOINT" \
             -c "ALTER TABLE mekatek.visitor_event $1 TRIGGER visitor_event_apply"
    fi
}

echo "4 clients, $secs s per measurement, $(nproc) cores (shared)"
printf '%-8s %18s %18s %8s\n' workload "with trigger ev/s" "no trigger ev/s" cost
for w in batch single rfid; do
    per=100; [ "$w" = single ] && per=1
    triggers DISABLE "$w"
    off=$(tps "$work/$w.pgbench")
    triggers ENABLE "$w"
    on=$(tps "$work/$w.pgbench")
    printf '%-8s %18.0f %18.0f %7.2fx\n' "$w" "$(echo "$on * $per" | bc -l)" \
        "$(echo "$off * $per" | bc -l)" "$(echo "$off / $on" | bc -l)"
done

echo
echo "capacity notification latency under load (batch workload running, one probe every 20 ms):"
"$bindir/pgbench" -n -f "$work/batch.pgbench" -c 4 -j 2 -T "$secs" >/dev/null 2>&1 &
load=$!
sleep 1
"$work/latency" "host=$PGHOST port=$port dbname=bench user=postgres" $((secs - 2)) 20 || true
wait $load

echo
psql -At <<'SQL'
SELECT 'rfid run: ' || count(*) || ' scans, ' || count(*) FILTER (WHERE flag IS NOT NULL) || ' flagged'
  FROM mekatek.rfid_scan;
SELECT 'lab items: ' || string_agg(state || ' ' || n, ', ' ORDER BY state)
  FROM (SELECT state, count(*) n FROM mekatek.lab_item GROUP BY state) s;
SELECT 'invariant inside = entered - exited + miscounted broken on ' || count(*) || ' rooms (want 0)'
  FROM mekatek.room_occupancy WHERE inside <> entered - exited + miscounted OR inside < 0;
SQL
