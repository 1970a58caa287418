#!/usr/bin/env bash
# Dump and restore, the DBA's way (README, DBA): a database with a busy day
# in every module is dumped with pg_dump -Fc and as plain SQL, restored
# with pg_restore and with psql into new databases under
# session_replication_role = replica (the documented restore procedure),
# and then
#   - every table has the same rows (count and ordered checksum) and every
#     sequence the same position as in the source;
#   - the restore produced nothing: no ledger, audit, lab history or alert
#     row (the counts above), and no NOTIFY reached a listener;
#   - every batch's quantity equals the sum of its ledger;
#   - work goes on: a checkout, a sale line and a door refusal on each
#     restored database get the same ids as on the source.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
src=mekatek_safety_src
out=${MK_BUILD:-/tmp}/safety_dump_restore
mkdir -p "$out"
psql() { command psql -X -v ON_ERROR_STOP=1 -q "$@"; }
dbs="$src mekatek_safety_custom mekatek_safety_plain"
drop_all() { for d in $dbs; do psql -d postgres -c "DROP DATABASE IF EXISTS $d WITH (FORCE)"; done; }
drop_all
trap 'drop_all || true' EXIT

echo "-- a busy day in $src"
psql -d postgres -c "CREATE DATABASE $src"
psql -d $src -c "CREATE EXTENSION mekatek CASCADE"
psql -d $src -f "$here/safety/busy_day.sql" >/dev/null 2>"$out/busy_day.log" \
    || { cat "$out/busy_day.log"; exit 1; }
pg_dump -Fc -d $src -f "$out/dump.custom" 2>"$out/pg_dump.log"
pg_dump -Fp -d $src -f "$out/dump.sql" 2>>"$out/pg_dump.log"
if [ -s "$out/pg_dump.log" ]; then echo "pg_dump said:"; cat "$out/pg_dump.log"; exit 1; fi
psql -d $src -At -f "$here/safety/table_digest.sql" >"$out/$src.digest"
echo "$(grep -c '|' "$out/$src.digest") tables and sequences in the source"
if awk -F'|' 'NF == 3 && $2 == 0 { print "empty table in the busy day: " $1; bad = 1 } END { exit !bad }' "$out/$src.digest"; then
    exit 1
fi

# A listener on the new database during the restore: any NOTIFY the
# restore sent would be printed when it next runs a statement.
listen_start() { # db
    rm -f "$out/fifo"; mkfifo "$out/fifo"
    command psql -X -d "$1" <"$out/fifo" >"$out/$1.listen" 2>&1 &
    listener=$!
    exec 3>"$out/fifo"
    echo "LISTEN mekatek_capacity; LISTEN mekatek_rfid; LISTEN mekatek_door; SELECT 'listening';" >&3
    until grep -q listening "$out/$1.listen" 2>/dev/null; do sleep 0.1; done
}
listen_stop() {
    echo "SELECT 'done';" >&3
    exec 3>&-
    wait "$listener"
}

restore() { # db how
    local db=$1 how=$2
    psql -d postgres -c "CREATE DATABASE $db"
    listen_start "$db"
    export PGOPTIONS='-c session_replication_role=replica'
    if [ "$how" = custom ]; then
        pg_restore --exit-on-error -d "$db" "$out/dump.custom"
    else
        psql -d "$db" -f "$out/dump.sql" >/dev/null
    fi
    unset PGOPTIONS
    listen_stop
    if grep -q 'Asynchronous notification' "$out/$db.listen"; then
        echo "FAIL: the $how restore sent notifications:"; grep 'Asynchronous' "$out/$db.listen"; exit 1
    fi
    psql -d "$db" -At -f "$here/safety/table_digest.sql" >"$out/$db.digest"
    if ! diff -u "$out/$src.digest" "$out/$db.digest"; then
        echo "FAIL: the $how restore differs from the source (above)"; exit 1
    fi
    echo "$how restore: every table and sequence equal to the source, no notification"
}
restore mekatek_safety_custom custom
restore mekatek_safety_plain plain

# The same work on each database, the source last: same ids everywhere.
work() { # db
    psql -d "$1" -At <<'SQL'
SELECT count(*) FILTER (WHERE b.qty_on_hand <> coalesce(m.s, 0)) AS batches_off_ledger
  FROM mekatek.batch b
  LEFT JOIN (SELECT batch_id, sum(qty_delta) AS s FROM mekatek.stock_movement GROUP BY 1) m USING (batch_id);
SELECT 'checkout', mekatek.checkout(1, '[{"sku": "PCT500", "qty": 2}, {"sku": "ORS200", "qty": 1}]');
INSERT INTO mekatek.sale (branch_id) VALUES (1) RETURNING 'open sale', sale_id;
INSERT INTO mekatek.sale_line (sale_id, product_id, qty)
SELECT max(sale_id), 2, 1 FROM mekatek.sale RETURNING 'sale line', sale_id, line_no, amount;
SELECT 'ledger', max(movement_id), count(*) FROM mekatek.stock_movement;
SELECT 'door', mekatek.door_access('front', '04AA90CAA36580');
SELECT 'door attempts', max(attempt_id) FROM mekatek.door_attempt;
WITH s AS (INSERT INTO mekatek.rfid_scan (scanner, uid, lab, scanned_at)
           VALUES ('lab-3', '04CE93CAA36580', 'LAB-BIO', now()) RETURNING scan_id)
SELECT 'scan', scan_id FROM s;
SELECT 'history', max(history_id), count(*) FROM mekatek.lab_item_history;
SELECT count(*) FILTER (WHERE b.qty_on_hand <> coalesce(m.s, 0)) AS batches_off_ledger
  FROM mekatek.batch b
  LEFT JOIN (SELECT batch_id, sum(qty_delta) AS s FROM mekatek.stock_movement GROUP BY 1) m USING (batch_id);
SQL
}
for d in mekatek_safety_custom mekatek_safety_plain $src; do work $d >"$out/$d.work"; done
cat "$out/$src.work"
for d in mekatek_safety_custom mekatek_safety_plain; do
    if ! diff -u "$out/$src.work" "$out/$d.work"; then echo "FAIL: work on $d differs from the source"; exit 1; fi
done
if [ "$(head -n 1 "$out/$src.work")" != 0 ] || [ "$(tail -n 1 "$out/$src.work")" != 0 ]; then
    echo "FAIL: a batch's quantity is not the sum of its ledger"; exit 1
fi
echo "work after the restore: same ids as on the source, stock invariant holds"
echo "ok: dump and restore (custom and plain) reproduce every table and sequence"
