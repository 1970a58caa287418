#!/usr/bin/env bash
# Issue 19 §6 with the real exporter: Debian's prometheus-postgres-exporter,
# logged in as a member of pg_monitor and given the shipped query file
# (src/backup/postgres_exporter.yaml), scrapes a test database and the
# metrics of mekatek.health appear on its /metrics page with their values.
source "$(dirname "$0")/../backup_s3/lib.sh"

EXPORTER=$(command -v prometheus-postgres-exporter || true)
[ -n "$EXPORTER" ] || bk_skip "prometheus-postgres-exporter is not installed (test/harness/packages.txt)"
PORT=$(mk_port backup_exporter)
DB=mekatek_backup_health
psql -Xq -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" 2>/dev/null
export PGDATABASE=$DB
bk_psql <<'SQL'
CREATE EXTENSION mekatek;
DROP ROLE IF EXISTS bk_monitor;
CREATE ROLE bk_monitor LOGIN IN ROLE pg_monitor;
-- A day of the shop as the health view sees it.
UPDATE mekatek.backup_config SET bucket = 'my-bucket';
INSERT INTO mekatek.backup_target (name, table_name) VALUES ('sales', 'mekatek.sale'), ('stock', 'mekatek.batch');
INSERT INTO mekatek.backup_set (category, status, finished_at) VALUES ('daily', 'complete', now() - interval '1 hour');
INSERT INTO mekatek.backup_object (target_id, category, bucket, key, rows, bytes, sha256, started_at, finished_at, status, set_id)
VALUES (1, 'daily', 'my-bucket', 'k/1', 10, 100, repeat('ab', 32), now() - interval '3601 seconds', now() - interval '3600 seconds', 'uploaded', 1),
       (2, 'daily', 'my-bucket', 'k/2', NULL, NULL, NULL, now() - interval '2 hours', now() - interval '2 hours', 'failed', 1);
INSERT INTO mekatek.backup_drill (set_id, rto, rpo, tables, rows, ok, meets_rto, meets_rpo)
VALUES (1, '95 seconds', '26 hours', 1, 10, true, true, false);
SELECT mekatek.outbox_enqueue('device', '{"device": "till-1", "state": "silent"}'),
       mekatek.outbox_enqueue('device', '{"device": "till-2", "state": "silent"}'),
       mekatek.outbox_enqueue('ledger', '{"to": "6281100000000"}');
INSERT INTO mekatek.fw_alert (kind, src, dst, first_seen, last_seen, events)
VALUES ('port_scan', '203.0.113.9', '10.0.0.1', now(), now(), 120), ('port_scan', '203.0.113.10', '10.0.0.1', now(), now(), 80),
       ('brute_force', '198.51.100.7', '10.0.0.2', now(), now(), 500);
INSERT INTO mekatek.device (device_id, last_seen, silent) VALUES ('till-1', now() - interval '1 hour', true),
       ('till-2', now() - interval '1 hour', true), ('scanner-1', now(), false);
INSERT INTO mekatek.branch (name) VALUES ('Apotek Pusat');
INSERT INTO mekatek.product (sku, name, price, min_stock) VALUES ('PCT500', 'Paracetamol 500 mg', 5000, 10);
SQL

bk_check "the health view: one row per metric and subject" \
    "backup_drill_meets_targets||0 backup_drill_ok||1 backup_drill_rpo_seconds||93600 backup_drill_rto_seconds||95 backup_failed_last_day||1 backup_last_good_age_seconds|sales|3600 backup_last_good_age_seconds|stock|-1 devices_silent||2 firewall_threats_last_day|brute_force|1 firewall_threats_last_day|port_scan|2 outbox_pending|device|2 outbox_pending|ledger|1 stock_alerts|1/out_of_stock|1" \
    "$(bk_psql -tA -c "SELECT metric || '|' || subject || '|' || round(value) FROM mekatek.health ORDER BY 1" | tr '\n' ' ' | sed 's/ $//')"
bk_check "pg_monitor reads it" 13 "$(psql -X -U bk_monitor -tA -c "SELECT count(*) FROM mekatek.health")"
bk_check "but not the tables behind it" 1 \
    "$(psql -X -U bk_monitor -c "SELECT count(*) FROM mekatek.outbox" 2>&1 | grep -c 'permission denied for table outbox')"
bk_check "the cashier does not read it" 1 \
    "$(bk_psql -c "SET ROLE mekatek_cashier" -c "SELECT count(*) FROM mekatek.health" 2>&1 | grep -c 'permission denied for view health')"

# The exporter, as a DBA runs it: its own defaults off, our query file.
host=$(psql -XtA -c "SHOW unix_socket_directories" | cut -d, -f1)
pgport=$(psql -XtA -c "SHOW port")
DATA_SOURCE_NAME="host=$host port=$pgport user=bk_monitor dbname=$DB sslmode=disable" \
    "$EXPORTER" --web.listen-address="127.0.0.1:$PORT" \
    --extend.query-path="$MK_ROOT/src/backup/postgres_exporter.yaml" \
    --disable-default-metrics --disable-settings-metrics \
    >"$MK_BUILD/backup_health_exporter.log" 2>&1 &
BK_PIDS+=($!)
metrics=
for i in $(seq 1 100); do
    metrics=$(curl -sf "http://127.0.0.1:$PORT/metrics" 2>/dev/null || true)
    grep -q '^mekatek_health_value' <<<"$metrics" && break
    sleep 0.2
done
[ -n "$metrics" ] || { tail -n 20 "$MK_BUILD/backup_health_exporter.log"; }
echo "$metrics" | grep '^mekatek_health' | sed 's/^/# /'
# The exporter adds its own label server="host:port" between ours.
value() { grep -E "^mekatek_health_value\{metric=\"$1\",(server=\"[^\"]*\",)?subject=\"$2\"\}" <<<"$metrics" | awk '{printf "%.0f", $2}'; }
age=$(value backup_last_good_age_seconds sales)
bk_check "exporter: last good backup age of sales (s), an hour and the seconds since" t \
    "$([ -n "$age" ] && [ "$age" -ge 3600 ] && [ "$age" -lt 3700 ] && echo t || echo "f ($age)")"
bk_check "exporter: a target never backed up" -1 "$(value backup_last_good_age_seconds stock)"
bk_check "exporter: failed runs in the last day" 1 "$(value backup_failed_last_day '')"
bk_check "exporter: last drill RTO and RPO (s), and whether they meet the targets" "95|93600|0" \
    "$(value backup_drill_rto_seconds '')|$(value backup_drill_rpo_seconds '')|$(value backup_drill_meets_targets '')"
bk_check "exporter: pending notifications per outbox channel" "2|1" "$(value outbox_pending device)|$(value outbox_pending ledger)"
bk_check "exporter: firewall threats per kind" "2|1" "$(value firewall_threats_last_day port_scan)|$(value firewall_threats_last_day brute_force)"
bk_check "exporter: devices silent" 2 "$(value devices_silent '')"
bk_check "exporter: stock alerts" 1 "$(value stock_alerts 1/out_of_stock)"
bk_check "exporter: the query ran without error" 1 \
    "$(grep -c '^pg_exporter_last_scrape_error 0' <<<"$metrics")"

bk_stop
psql -Xq -d postgres -c "DROP DATABASE $DB" -c "DROP ROLE bk_monitor"
[ "$bk_fails" = 0 ] || { echo "$bk_fails checks failed"; exit 1; }
echo "mekatek.health is on the exporter's /metrics page"
