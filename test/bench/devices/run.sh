#!/usr/bin/env bash
# Device events: four clients (pgbench, -c 4) insert visitor events for
# MK_BENCH_SECONDS (default 60) each, with the triggers (the C trigger
# keeping room_occupancy, then the rollups) and without them (disabled,
# same table and indexes),
# side by side: events per second of both and the ratio, and the bench
# backends' CPU time per event of both and its ratio (test/bench/devices/
# cpu.sh measures the same with one client, less moved by the load).
#   batch  : 100 events per INSERT (what mekatek-edge sends), 8 rooms
#   single : 1 event per INSERT, each its own transaction (a bare device)
#   rfid   : 100 scans per INSERT, a lab's flow at its heaviest: every scan
#            is a counted transition (no bounces) of one of 2,000,000 items
#            in the lab (MK_BENCH_RFID_ITEMS).  Scan number k reads tag
#            (k * 1000003) mod items, so one statement's 100 tags lie on 100
#            scattered pages, and each item is queued, tested and done, one
#            pass over all items apart (never within the debounce).  The
#            triggers: UID normalising, then the state machine, its history
#            and, for scans of no item in the lab, flag and NOTIFY.  (A
#            uniform random choice of tags drifts into scanning done items
#            again at these rates, and every such scan is an unknown-tag
#            NOTIFY, which serialises commits on PostgreSQL's notify queue.)
# Each measurement starts from empty event tables (TRUNCATE), the run
# without the trigger first.  The bench database runs with
# synchronous_commit = off so that the single-row workload shows the
# trigger's cost rather than the disk's flush time (with it on, both sides
# are bound by fsync at ~1,000 commits/s here).
# Then the capacity notification latency (commit to listener, p50/p99)
# measured by a small libpq listener while the four clients keep inserting.
# Then (workload "mqtt", test/bench/devices/mqtt.sh) mekatek-edge fed by
# MQTT against its line input: events/s and publish-to-commit latency.
# MK_BENCH_WORKLOADS picks workloads (default "batch single rfid mqtt");
# MK_BENCH_ROUNDS (default 1) repeats each without/with pair and prints the
# medians.  The bench server is sized like a production server for this
# load: shared_buffers 2GB (the items and their indexes fit), max_wal_size
# 16GB and checkpoint_timeout 30min (no checkpoint inside a measurement);
# each measurement starts right after a CHECKPOINT, so it pays the full-page
# images of every page it touches first.  Between rfid measurements the
# items are put back and the table rewritten (VACUUM FULL), then VACUUMed:
# VACUUM FULL leaves the reset's dead-row count in the statistics, and
# autovacuum would otherwise scan the whole table during the next
# measurement, whichever side it is.
# Goals (issue 7): >= 20,000 events/s with triggers, triggers <= 2x,
# notification p99 <= 50 ms.  The machine is shared: figures are noisy.
source "$(dirname "$0")/../../harness/common.sh"
here=$(cd "$(dirname "$0")" && pwd)
port=${MK_BENCH_PORT:-$(mk_port bench_devices)}
secs=${MK_BENCH_SECONDS:-60}
rounds=${MK_BENCH_ROUNDS:-1}
items=${MK_BENCH_RFID_ITEMS:-2000000}
name=bench-devices
export MK_CLUSTER_CONF=${MK_CLUSTER_CONF:-$'shared_buffers = 2GB\nmax_wal_size = 16GB\ncheckpoint_timeout = 30min'}

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
           FROM generate_series(1, $items) i, LATERAL upper(lpad(to_hex(i), 8, '0')) u" \
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

# :n counts each client's transactions (pgbench keeps variables between them).
cat >"$work/rfid.pgbench" <<SQL
\\set n :n + 1
\\set k0 ((:n - 1) * 4 + :client_id) * 100
INSERT INTO mekatek.rfid_scan(event_id, scanner, uid, lab)
SELECT gen_random_uuid()::text, 'sc-' || :client_id, lpad(to_hex(1 + (k * 1000003) % $items), 8, '0'), 'LAB-1'
  FROM generate_series(:k0::bigint, :k0::bigint + 99) k
ON CONFLICT DO NOTHING;
SQL

# CPU per event: the bench backends' user + system time (sampled from
# /proc while pgbench runs, the last sample before each exits) over the
# rows the run inserted.  It moves much less with the machine's load than
# events/s does.
tick_us=$((1000000 / $(getconf CLK_TCK)))
tps() { # script table -> "transactions/s cpu_us_per_row"
    "$bindir/pgbench" -n -f "$1" -D n=0 -c 4 -j 2 -T "$secs" >"$work/pgbench.out" 2>&1 &
    local bench=$! pid t ticks=0 rows
    local -A cpu=()
    while kill -0 "$bench" 2>/dev/null; do
        for pid in $(pgrep -f "postgres: postgres bench " || true); do
            t=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null) && cpu[$pid]=$t
        done
        sleep 0.2
    done
    wait "$bench" || { cat "$work/pgbench.out" >&2; return 1; }
    for t in "${cpu[@]}"; do ticks=$((ticks + t)); done
    rows=$(psql -Atc "SELECT count(*) FROM mekatek.$2")
    echo "$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$work/pgbench.out") $(echo "$ticks * $tick_us / $rows" | bc -l)"
}
triggers() { # ENABLE|DISABLE workload: empty the tables, then switch
    if [ "$2" = rfid ]; then
        psql -c "TRUNCATE mekatek.rfid_scan, mekatek.lab_item_history" \
             -c "UPDATE mekatek.lab_item SET state = 'registered', active_uid = uid, lab = NULL, last_scan_at = NULL
                 WHERE state <> 'registered'" \
             -c "VACUUM FULL mekatek.lab_item" -c "VACUUM ANALYZE mekatek.lab_item" -c "CHECKPOINT" \
             -c "ALTER TABLE mekatek.rfid_scan $1 TRIGGER USER"
    else
        psql -c "TRUNCATE mekatek.visitor_event, mekatek.capacity_alert" \
             -c "UPDATE mekatek.room_occupancy SET entered = 0, exited = 0, miscounted = 0, inside = 0" \
             -c "CHECKPOINT" \
             -c "ALTER TABLE mekatek.visitor_event $1 TRIGGER USER"
    fi
}

echo "4 clients, $secs s per measurement, $(nproc) cores (shared)"
echo "cost = no-trigger ev/s over with-trigger ev/s; cpu = with-trigger CPU per event over no-trigger (backends' user + system)"
printf '%-8s %18s %18s %8s %10s %10s %8s\n' workload "with trigger ev/s" "no trigger ev/s" cost \
    "with us/ev" "no us/ev" cpu
median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
workloads=${MK_BENCH_WORKLOADS:-batch single rfid mqtt}
for w in $workloads; do
    [ "$w" = mqtt ] && continue
    per=100; [ "$w" = single ] && per=1
    table=visitor_event; [ "$w" = rfid ] && table=rfid_scan
    offs= ons= costs= offcpus= oncpus= cpus=
    for r in $(seq "$rounds"); do
        triggers DISABLE "$w"
        read -r t offcpu < <(tps "$work/$w.pgbench" "$table")
        off=$(echo "$t * $per" | bc -l)
        triggers ENABLE "$w"
        read -r t oncpu < <(tps "$work/$w.pgbench" "$table")
        on=$(echo "$t * $per" | bc -l)
        [ "$rounds" = 1 ] || printf '  %-6s round %d %18.0f %18.0f %7.2fx %10.1f %10.1f %7.2fx\n' "$w" "$r" "$on" "$off" \
            "$(echo "$off / $on" | bc -l)" "$oncpu" "$offcpu" "$(echo "$oncpu / $offcpu" | bc -l)"
        offs="$offs $off" ons="$ons $on" costs="$costs $(echo "$off / $on" | bc -l)"
        offcpus="$offcpus $offcpu" oncpus="$oncpus $oncpu" cpus="$cpus $(echo "$oncpu / $offcpu" | bc -l)"
    done
    printf '%-8s %18.0f %18.0f %7.2fx %10.1f %10.1f %7.2fx\n' "$w" "$(echo $ons | median)" "$(echo $offs | median)" \
        "$(echo $costs | median)" "$(echo $oncpus | median)" "$(echo $offcpus | median)" "$(echo $cpus | median)"
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
case " $workloads " in *" mqtt "*) source "$here/mqtt.sh" ;; esac
