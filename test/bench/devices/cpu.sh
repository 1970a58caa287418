#!/usr/bin/env bash
# CPU per event of the device triggers, measured in one backend with no
# other client: the backend's own time on a CPU (user + system, in
# nanoseconds from /proc/self/schedstat, read by the backend before and
# after) over a fixed number of INSERT statements, each committed, with
# the triggers and without them (the same statements as run.sh's batch,
# single and rfid workloads).  One client means no lock waits and no
# spinning.  Each of MK_BENCH_ROUNDS rounds (default 5) starts from empty
# event tables; printed: the median microseconds per event of each side
# and the median of the rounds' ratios.
#
# How a round measures (MK_BENCH_METHOD):
#   interleaved (the default)  one backend runs both sides in chunks of
#       MK_BENCH_CHUNK statements (default 10; single: 10x), in turns
#       A B B A, ALTER TABLE ... DISABLE/ENABLE TRIGGER USER between
#       chunks and one unmeasured statement after each switch, having
#       first read the tables the triggers look rows up in.  Both sides
#       then run over the same minutes, on tables of the same size, in a
#       backend that has mapped the same shared buffers: on the 2 shared
#       cores a round's ratio moved by a quarter when the sides ran a
#       minute apart in fresh backends, most of it the side without
#       triggers (9 to 16 us per RFID scan with the same code).
#   old  what this script did until the night of 2026-12-01: a fresh
#       backend per side, the side without triggers first, user + system
#       time in clock ticks (/proc/self/stat, 10 ms); for comparing
#       figures across the change.
#   MK_BENCH_STATEMENTS  statements per side (default 300 batches of 100;
#                        single uses 10x as many one-event statements)
#   MK_BENCH_RFID_ITEMS  lab items (default 300000)
#   MK_BENCH_LAB_ANNOUNCE  how LAB-1 announces its state changes: batch
#                        (the default, one digest per statement), each or
#                        off (mekatek.lab.announce)
#   MK_BENCH_CLOCK       schedstat (default; stat with MK_BENCH_METHOD=old)
#                        or stat: clock ticks
# Reuses run.sh's bench cluster settings (synchronous_commit = off).
source "$(dirname "$0")/../../harness/common.sh"
port=${MK_BENCH_PORT:-$(mk_port bench_devices)}
rounds=${MK_BENCH_ROUNDS:-5}
stmts=${MK_BENCH_STATEMENTS:-300}
items=${MK_BENCH_RFID_ITEMS:-300000}
name=bench-devices-cpu
method=${MK_BENCH_METHOD:-interleaved}
clock=${MK_BENCH_CLOCK:-$([ "$method" = old ] && echo stat || echo schedstat)}
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
$(if [ "$clock" = stat ]; then cat <<'STAT'
CREATE FUNCTION bench_cpu_us() RETURNS float8 LANGUAGE sql AS $$
    SELECT (s[12]::float8 + s[13]::float8) * 1000000 / CLKTCK
      FROM regexp_split_to_array(split_part(pg_read_file('/proc/self/stat'), ') ', 2), ' ') AS s
$$;
STAT
else cat <<'SCHED'
CREATE FUNCTION bench_cpu_us() RETURNS float8 LANGUAGE sql AS $$
    SELECT split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)::float8 / 1000
$$;
SCHED
fi | sed "s/CLKTCK/$(getconf CLK_TCK)/")
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
-- MK_BENCH_METHOD=interleaved: n statements a side in chunks of 'chunk',
-- the sides in turns A B B A (the triggers disabled and enabled between
-- chunks by ALTER TABLE), each chunk after one unmeasured statement (the
-- INSERT's plan is made again after the ALTER TABLE).  The CPU per event
-- of each side, in the same backend over the same minutes.
CREATE PROCEDURE bench_interleaved(kind text, tbl text, n int, per int, chunk int,
                                   INOUT with_us float8 DEFAULT 0, INOUT without_us float8 DEFAULT 0)
LANGUAGE plpgsql AS \$\$
DECLARE
    c0 float8;
    nextstmt int := 1;
    warm int := 2 * n + 1;
    chunks int := 2 * (n / chunk);
    enabled bool;
BEGIN
    FOR k IN 0 .. chunks - 1 LOOP
        enabled := k % 4 IN (1, 2);
        EXECUTE format('ALTER TABLE mekatek.%I %s TRIGGER USER', tbl,
                       CASE WHEN enabled THEN 'ENABLE' ELSE 'DISABLE' END);
        COMMIT;
        CALL bench_insert(kind, warm, 1, per);
        warm := warm + 1;
        c0 := bench_cpu_us();
        CALL bench_insert(kind, nextstmt, chunk, per);
        nextstmt := nextstmt + chunk;
        IF enabled THEN
            with_us := with_us + bench_cpu_us() - c0;
        ELSE
            without_us := without_us + bench_cpu_us() - c0;
        END IF;
    END LOOP;
    with_us := round((with_us / (chunks / 2 * chunk * per))::numeric, 2);
    without_us := round((without_us / (chunks / 2 * chunk * per))::numeric, 2);
END
\$\$;
SQL

reset() { # workload: empty the event tables, every item registered again
    psql -c "TRUNCATE mekatek.visitor_event, mekatek.capacity_alert, mekatek.rfid_scan, mekatek.lab_item_history,
                      mekatek.visitor_rollup_pending, mekatek.rfid_rollup_pending, mekatek.outbox" \
         -c "UPDATE mekatek.room_occupancy SET entered = 0, exited = 0, miscounted = 0, inside = 0, last_event_at = NULL" \
         -c "UPDATE mekatek.lab_item SET state = 'registered', active_uid = uid, lab = NULL, last_scan_at = NULL
             WHERE state <> 'registered'" \
         -c "VACUUM ANALYZE mekatek.lab_item" -c "CHECKPOINT" >/dev/null
}

# The backend first reads the tables the triggers look rows up in
# (lab_item, its active_uid index, the rooms), as a device's long-lived
# connection has: a fresh backend maps each shared buffer at its first
# touch (a page fault per 4 kB), and the RFID side touches some 7,000
# pages of lab_item that the side without triggers never reads (13,500
# faults against 4,700 per old-method measurement, the difference about
# 3 % of the side with triggers).
warm="SET enable_seqscan = off; SET enable_bitmapscan = off;
SELECT count(active_uid) FROM mekatek.lab_item WHERE active_uid >= '';
RESET enable_seqscan; RESET enable_bitmapscan;
SELECT count(*) FROM mekatek.lab_item; SELECT count(*) FROM mekatek.room_occupancy;"

measure_old() { # ENABLE|DISABLE workload -> microseconds per event
    local table=visitor_event n=$stmts per=100 kind=$2
    [ "$2" = rfid ] && table=rfid_scan
    [ "$2" = single ] && n=$((stmts * 10)) per=1 kind=visitor
    reset "$2"
    psql -c "ALTER TABLE mekatek.$table $1 TRIGGER USER" >/dev/null
    # A warm-up statement first (plans, caches), then the measurement.
    psql -At <<SQL
CALL bench_insert('$kind', $n + 1, 1, $per);
SELECT bench_cpu_us() AS c0 \gset
CALL bench_insert('$kind', 1, $n, $per);
SELECT round(((bench_cpu_us() - :c0) / ($n * $per))::numeric, 2);
SQL
}

measure_interleaved() { # workload -> "with without" microseconds per event
    local table=visitor_event n=$stmts per=100 kind=$1 chunk=${MK_BENCH_CHUNK:-10}
    [ "$1" = rfid ] && table=rfid_scan
    [ "$1" = single ] && n=$((stmts * 10)) per=1 kind=visitor chunk=$((${MK_BENCH_CHUNK:-10} * 10))
    reset "$1"
    psql -At <<SQL | tail -n 1 | tr '|' ' '
$warm
CALL bench_interleaved('$kind', '$table', $n, $per, $chunk);
SQL
}

median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
echo "one client, $stmts statements per measurement (single: $((stmts * 10))), $rounds rounds, $(nproc) cores (shared), lab announce ${MK_BENCH_LAB_ANNOUNCE:-batch}, method $method, clock $clock"
printf '%-8s %12s %12s %8s   %s\n' workload "with us/ev" "no us/ev" cpu "per round (with/no)"
for w in ${MK_BENCH_WORKLOADS:-batch single rfid}; do
    ons= offs= ratios= detail=
    for r in $(seq "$rounds"); do
        if [ "$method" = old ]; then
            off=$(measure_old DISABLE "$w") on=$(measure_old ENABLE "$w")
        else
            read -r on off <<<"$(measure_interleaved "$w")"
        fi
        ons="$ons $on" offs="$offs $off" ratios="$ratios $(echo "$on / $off" | bc -l)"
        detail="$detail $(printf '%.2f' "$(echo "$on / $off" | bc -l)")"
    done
    printf '%-8s %12.2f %12.2f %7.2fx  %s\n' "$w" "$(echo $ons | median)" "$(echo $offs | median)" \
        "$(echo $ratios | median)" "$detail"
done
