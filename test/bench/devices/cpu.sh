#!/usr/bin/env bash
# CPU per event of the device triggers, measured in one backend with no
# other client: the backend's own user + system time (/proc/self/stat,
# read by the backend before and after) over a fixed number of INSERT
# statements, each committed, with the triggers and without them (the
# same statements as run.sh's batch, single and rfid workloads).  One
# client means no lock waits and no spinning, so the figure moves far less
# with the machine's load than run.sh's 4-client throughput does.  The
# sides alternate MK_BENCH_ROUNDS times (default 5); printed: the median
# microseconds per event of each side and the median ratio per round.
#   MK_BENCH_STATEMENTS  statements per measurement (default 300 batches;
#                        single uses 10x as many one-event statements)
#   MK_BENCH_RFID_ITEMS  lab items (default 300000)
#   MK_BENCH_LAB_ANNOUNCE  how LAB-1 announces its state changes: batch
#                        (the default, one digest per statement), each or
#                        off (mekatek.lab.announce)
# Reuses run.sh's bench cluster settings (synchronous_commit = off).
source "$(dirname "$0")/../../harness/common.sh"
port=${MK_BENCH_PORT:-$(mk_port bench_devices)}
rounds=${MK_BENCH_ROUNDS:-5}
stmts=${MK_BENCH_STATEMENTS:-300}
items=${MK_BENCH_RFID_ITEMS:-300000}
name=bench-devices-cpu
export MK_CLUSTER_CONF=${MK_CLUSTER_CONF:-$'shared_buffers = 1GB\nmax_wal_size = 16GB\ncheckpoint_timeout = 30min'}

make -s -C "$MK_ROOT" all >/dev/null
bindir=$(bash "$MK_ROOT/test/harness/stage.sh" | tail -n 1)
bash "$MK_ROOT/test/harness/cluster.sh" fresh "$name" "$port" "$bindir"
trap 'bash "$MK_ROOT/test/harness/cluster.sh" stop '"$name"' "$bindir"' EXIT
export PGHOST=$MK_BUILD/$name/run PGPORT=$port PGUSER=postgres PGDATABASE=bench
psql() { "$bindir/psql" -Xq -v ON_ERROR_STOP=1 "$@"; }
psql -d postgres -c "CREATE DATABASE bench"
psql -c "ALTER DATABASE bench SET synchronous_commit = off"
psql >/dev/null <<SQL
CREATE EXTENSION mekatek CASCADE;
INSERT INTO mekatek.room SELECT 'room-' || i, 'Room ' || i, 500 FROM generate_series(1, 8) i;
INSERT INTO mekatek.lab_item(uid, active_uid, item_code, company, kind, test)
SELECT u, u, 'B' || i, 'bench', 'sample', 'uji'
  FROM generate_series(1, $items) i, LATERAL upper(lpad(to_hex(i), 8, '0')) u;
VACUUM ANALYZE mekatek.lab_item;
INSERT INTO mekatek.lab (lab_id, announce) VALUES ('LAB-1', '${MK_BENCH_LAB_ANNOUNCE:-batch}');
-- This backend's CPU time (user + system), microseconds.
CREATE FUNCTION bench_cpu_us() RETURNS float8 LANGUAGE sql AS \$\$
    SELECT (s[12]::float8 + s[13]::float8) * 1000000 / $(getconf CLK_TCK)
      FROM regexp_split_to_array(split_part(pg_read_file('/proc/self/stat'), ') ', 2), ' ') AS s
\$\$;
-- n statements of 'per' events each, each its own transaction; the scans
-- of statement i read tags no other statement reads.
CREATE PROCEDURE bench_insert(kind text, first int, n int, per int) LANGUAGE plpgsql AS \$\$
BEGIN
    FOR i IN first .. first + n - 1 LOOP
        IF kind = 'rfid' THEN
            INSERT INTO mekatek.rfid_scan(event_id, scanner, uid, lab)
            SELECT gen_random_uuid()::text, 'sc-1', lpad(to_hex(1 + (k * 1000003) % $items), 8, '0'), 'LAB-1'
              FROM generate_series(i::bigint * per, i::bigint * per + per - 1) k
            ON CONFLICT DO NOTHING;
        ELSE
            INSERT INTO mekatek.visitor_event(event_id, camera, room_id, direction)
            SELECT gen_random_uuid()::text, 'cam-1', 'room-' || (1 + i % 8),
                   CASE WHEN random() < 0.55 THEN 'in' ELSE 'out' END
              FROM generate_series(1, per)
            ON CONFLICT DO NOTHING;
        END IF;
        COMMIT;
    END LOOP;
END
\$\$;
SQL

measure() { # ENABLE|DISABLE workload -> microseconds per event
    local table=visitor_event n=$stmts per=100 kind=$2
    [ "$2" = rfid ] && table=rfid_scan
    [ "$2" = single ] && n=$((stmts * 10)) per=1 kind=visitor
    psql -c "TRUNCATE mekatek.visitor_event, mekatek.capacity_alert, mekatek.rfid_scan, mekatek.lab_item_history,
                      mekatek.visitor_rollup_pending, mekatek.rfid_rollup_pending, mekatek.outbox" \
         -c "UPDATE mekatek.room_occupancy SET entered = 0, exited = 0, miscounted = 0, inside = 0, last_event_at = NULL" \
         -c "UPDATE mekatek.lab_item SET state = 'registered', active_uid = uid, lab = NULL, last_scan_at = NULL
             WHERE state <> 'registered'" \
         -c "VACUUM ANALYZE mekatek.lab_item" -c "CHECKPOINT" \
         -c "ALTER TABLE mekatek.$table $1 TRIGGER USER" >/dev/null
    # A warm-up statement first (plans, caches), then the measurement.
    psql -At <<SQL
CALL bench_insert('$kind', $n + 1, 1, $per);
SELECT bench_cpu_us() AS c0 \gset
CALL bench_insert('$kind', 1, $n, $per);
SELECT round(((bench_cpu_us() - :c0) / ($n * $per))::numeric, 2);
SQL
}

median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
echo "one client, $stmts statements per measurement (single: $((stmts * 10))), $rounds rounds, $(nproc) cores (shared), lab announce ${MK_BENCH_LAB_ANNOUNCE:-batch}"
printf '%-8s %12s %12s %8s   %s\n' workload "with us/ev" "no us/ev" cpu "per round (with/no)"
for w in ${MK_BENCH_WORKLOADS:-batch single rfid}; do
    ons= offs= ratios= detail=
    for r in $(seq "$rounds"); do
        off=$(measure DISABLE "$w")
        on=$(measure ENABLE "$w")
        ons="$ons $on" offs="$offs $off" ratios="$ratios $(echo "$on / $off" | bc -l)"
        detail="$detail $(printf '%.2f' "$(echo "$on / $off" | bc -l)")"
    done
    printf '%-8s %12.2f %12.2f %7.2fx  %s\n' "$w" "$(echo $ons | median)" "$(echo $offs | median)" \
        "$(echo $ratios | median)" "$detail"
done
