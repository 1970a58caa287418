#!/usr/bin/env bash
# End to end against @20minutes/s3rver, which checks every Signature V4:
# the 1,000,000-row round trip (export, verified restore into an empty copy,
# EXCEPT both ways), the catalogue's SHA-256 against the stored file, the
# duplicate rule, retention, a damaged object, import options, privileges,
# secret hiding, and the documented pg_cron schedule running for real.
source "$(dirname "$0")/../backup_s3/lib.sh"

bk_port S3RVER
KEY=MEKATEKTESTKEY SECRET='t3st-S3cret-value-never-shown'
DB=mekatek_backup_e2e
STORE=$MK_BUILD/backup_e2e_s3rver
bk_npm
MK_S3_KEY=$KEY MK_S3_SECRET=$SECRET bk_start_s3rver $S3RVER "$STORE" mekatek-test
obj() { echo "$STORE/mekatek-test/$1._S3rver_object"; }

# Other scripts of the run set their own secrets: count this script's lines.
log_start=$(stat -c %s "$MK_BUILD/test/server.log" 2>/dev/null || echo 0)
this_log() { tail -c +$((log_start + 1)) "$MK_BUILD/test/server.log" 2>/dev/null || true; }
# The settings go where a DBA puts them (ALTER SYSTEM writes
# postgresql.auto.conf, readable by the server's owner only): lib.sh.
bk_s3_settings $S3RVER $KEY "$SECRET"
cleanup() {
    bk_s3_settings_reset
    psql -Xq -d mekatek_cron -c "SELECT cron.unschedule(jobname) FROM cron.job WHERE jobname LIKE 'mekatek-backup%'" \
        >/dev/null 2>&1 || true
    bk_stop
}
trap cleanup EXIT

# pg_cron's database: the extension and a target.
bk_psql -d mekatek_cron <<SQL
CREATE EXTENSION IF NOT EXISTS pg_cron;
CREATE EXTENSION IF NOT EXISTS mekatek;
UPDATE mekatek.backup_config SET bucket = 'mekatek-test', prefix = 'cron';
CREATE TABLE cron_probe AS SELECT g FROM generate_series(1, 1000) g;
INSERT INTO mekatek.backup_target (name, table_name) VALUES ('cron_probe', 'cron_probe');
SQL

psql -Xq -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" 2>/dev/null
export PGDATABASE=$DB
t0=$(date +%s)
bk_psql <<'SQL'
CREATE EXTENSION mekatek;
-- A sales table with what CSV must survive: NULLs, commas, quotes,
-- newlines, non-ASCII text, numerics and time zones.
CREATE TABLE sales (
    sale_id bigint PRIMARY KEY,
    sku     text NOT NULL,
    qty     integer NOT NULL,
    price   numeric(12, 2) NOT NULL,
    sold_at timestamptz NOT NULL,
    note    text
);
INSERT INTO sales
SELECT g, 'SKU-' || (g % 5000), 1 + g % 7, round((g % 100000) / 7.0, 2),
       timestamptz '2026-01-01 00:00+07' + g * interval '37 seconds',
       CASE g % 5 WHEN 0 THEN NULL WHEN 1 THEN 'a, "quoted" note' WHEN 2 THEN E'two\nlines'
                  WHEN 3 THEN 'obat batuk — 薬' ELSE '' END
  FROM generate_series(1, 1000000) g;
CREATE TABLE sales_copy (LIKE sales INCLUDING ALL);
UPDATE mekatek.backup_config SET bucket = 'mekatek-test';
INSERT INTO mekatek.backup_target (name, table_name) VALUES ('sales', 'sales');
SQL
t1=$(date +%s)

# Schedule only now, after the catalog-heavy setup (CREATE EXTENSION in two
# databases): pg_cron 1.4's relcache callback ignores the "invalidate all"
# of a shared-invalidation queue reset, so a job inserted just before a
# flood of invalidations can stay unseen by the launcher until a restart.
bk_check "pg_cron accepts the documented schedule" "mekatek-backup|0 1 * * 2|CALL mekatek.backup_run()" \
    "$(bk_psql -d mekatek_cron -tA -c "SELECT cron.schedule('mekatek-backup', '0 1 * * 2', 'CALL mekatek.backup_run()') > 0" \
        -c "SELECT jobname, schedule, command FROM cron.job WHERE jobname = 'mekatek-backup'" | tail -n 1)"
bk_psql -d mekatek_cron -tA -c "SELECT cron.schedule('mekatek-backup-now', '* * * * *', 'CALL mekatek.backup_run()')" >/dev/null
cron_started=$(date +%s)
sleep 2

# 1. The round trip.
r=$(bk_psql -tA -c "SELECT status, rows, attempts FROM mekatek.backup_run_target('sales', 'daily')")
t2=$(date +%s)
bk_check "backup_run exports 1,000,000 rows" "uploaded|1000000|1" "$r"
key=$(bk_psql -tA -c "SELECT key FROM mekatek.backup_object WHERE object_id = 1")
bk_check "key layout <prefix>/<database>/<target>/<category>/<local time>_<UTC time>.csv.gz" 1 \
    "$(grep -cE "^mekatek/$DB/sales/daily/[0-9]{8}T[0-9]{6}\.[0-9]{3}_[0-9]{8}T[0-9]{6}Z\.csv\.gz$" <<<"$key")"
bk_check "the key's times are the run's, local (backup_time_zone()) then UTC" t \
    "$(bk_psql -tA -c "SELECT abs(extract(epoch FROM split_part(k, '_', 2)::timestamptz - started_at)) < 60
                              AND left(mekatek.backup_key_time(split_part(k, '_', 2)::timestamptz), 15) = left(k, 15)
                         FROM mekatek.backup_object, substring(key FROM '/([0-9T._]+Z)\.csv') k
                        WHERE object_id = 1")"
bk_check "catalogue sha256 = sha256 of the stored file" \
    "$(sha256sum "$(obj "$key")" | cut -d' ' -f1)" \
    "$(bk_psql -tA -c "SELECT sha256 FROM mekatek.backup_object WHERE object_id = 1")"
bk_check "catalogue bytes = size of the stored file" "$(stat -c %s "$(obj "$key")")" \
    "$(bk_psql -tA -c "SELECT bytes FROM mekatek.backup_object WHERE object_id = 1")"
bk_check "stored object is a gzip CSV with a header and 1,000,000 records" "sale_id,sku,qty,price,sold_at,note" \
    "$(zcat "$(obj "$key")" | head -n 1)"
bk_check "backup_verify" t "$(bk_psql -tA -c "SELECT mekatek.backup_verify(1)")"
bk_check "backup_restore into an empty copy" 1000000 \
    "$(bk_psql -tA -c "SELECT mekatek.backup_restore(1, 'sales_copy')")"
t3=$(date +%s)
bk_check "EXCEPT both ways is empty" "0|0" \
    "$(bk_psql -tA -c "SELECT (SELECT count(*) FROM (TABLE sales EXCEPT TABLE sales_copy) a),
                              (SELECT count(*) FROM (TABLE sales_copy EXCEPT TABLE sales) b)")"
echo "# timings: load ${t1}-${t0}=$((t1 - t0)) s, backup_run $((t2 - t1)) s, verify+restore $((t3 - t2)) s"

# 2. Duplicates: the same data is recorded, not stored again.
# (only this database's objects: pg_cron's every-minute job stores its own)
files_before=$(find "$STORE/mekatek-test/mekatek/$DB" -name '*._S3rver_object' | wc -l)
bk_check "an identical export is recorded as duplicate of the first" "duplicate|1|$key" \
    "$(bk_psql -tA -c "SELECT status, duplicate_of, key FROM mekatek.backup_run_target('sales', 'daily')")"
bk_check "and not uploaded again" "$files_before" "$(find "$STORE/mekatek-test/mekatek/$DB" -name '*._S3rver_object' | wc -l)"

# 3. Restore in place: verified first, then the rows are replaced, in one
# transaction.
bk_psql -c "DELETE FROM sales WHERE sale_id % 3 = 0" -c "INSERT INTO sales VALUES (0, 'X', 1, 1, now(), 'extra')"
bk_check "backup_restore(object) replaces the original table's rows" "1000000|1000000|1" \
    "$(bk_psql -tA -c "SELECT mekatek.backup_restore(2)" -c "SELECT count(*), max(sale_id), min(sale_id) FROM sales" \
        | tr '\n' '|' | sed 's/|$//; s/^1000000|//')"

# 4. A damaged object: verify says so; restore refuses before writing.
cp "$(obj "$key")" "$MK_BUILD/backup_e2e_saved.gz"
bk_flip "$(obj "$key")" 1000
bk_check "backup_verify of a damaged object is false" f \
    "$(bk_psql -tA -c "SET client_min_messages = error" -c "SELECT mekatek.backup_verify(1)")"
out=$(bk_psql -c "\\set VERBOSITY verbose" -c "SELECT mekatek.backup_restore(1)" 2>&1 || true)
bk_check "backup_restore of a damaged object raises XX001" 1 "$(grep -c 'ERROR:  XX001: S3 object .* does not match the catalogue' <<<"$out")"
bk_check "and leaves the table untouched" 1000000 "$(bk_psql -tA -c "SELECT count(*) FROM sales")"
cp "$MK_BUILD/backup_e2e_saved.gz" "$(obj "$key")"

# 5. Retention: keep 2 daily whatever their age; older objects are deleted and marked pruned,
# an object that a kept duplicate row still points at is kept.
bk_psql -c "UPDATE mekatek.backup_config SET keep_daily = 2, keep_daily_days = 0"
for i in 1 2; do
    bk_psql -c "UPDATE sales SET qty = qty + 1 WHERE sale_id = $i"
    bk_psql -tA -c "SELECT status FROM mekatek.backup_run_target('sales', 'daily')" >/dev/null
done
bk_check "backup_prune prunes the two oldest rows" "1,2" \
    "$(bk_psql -tA -c "SELECT string_agg(object_id::text, ',' ORDER BY object_id) FROM mekatek.backup_prune()")"
bk_check "the first object is deleted from the store" no "$([ -e "$(obj "$key")" ] && echo yes || echo no)"
bk_check "kept objects are still there and verify" "true,true" \
    "$(bk_psql -tA -c "SELECT string_agg(mekatek.backup_verify(object_id)::text, ',' ORDER BY object_id) FROM mekatek.backup_object WHERE status = 'uploaded'")"
bk_check "catalogue statuses" "1:pruned 2:pruned 3:uploaded 4:uploaded" \
    "$(bk_psql -tA -c "SELECT string_agg(object_id || ':' || status, ' ' ORDER BY object_id) FROM mekatek.backup_object")"

# 6. s3_export / s3_import with COPY options, gzip recognised on import.
bk_psql <<'SQL'
CREATE TABLE items (id int, name text, price numeric);
INSERT INTO items VALUES (1, 'aspirin; 500 mg', 1.5), (2, NULL, 2), (3, 'semi;colon', NULL);
CREATE TABLE items_back (LIKE items);
SQL
bk_check "s3_export with header and delimiter" "3|1" \
    "$(bk_psql -tA -c "SELECT rows_uploaded, files_uploaded FROM mekatek.s3_export('SELECT * FROM items ORDER BY id', 'mekatek-test', 'x/items.csv', 'format csv, header true, delimiter '';''')")"
bk_check "stored CSV uses the delimiter" 'id;name;price|1;"aspirin; 500 mg";1.5' "$(head -n 2 "$(obj x/items.csv)" | tr '\n' '|' | sed 's/|$//')"
bk_check "s3_import (aws_s3's message)" "3 rows imported into relation \"items_back\" from file x/items.csv of $(stat -c %s "$(obj x/items.csv)") bytes" \
    "$(bk_psql -tA -c "SELECT mekatek.s3_import('items_back', '', '(format csv, header true, delimiter '';'')', 'mekatek-test', 'x/items.csv')")"
bk_psql -c "SELECT * FROM mekatek.s3_export('TABLE items', 'mekatek-test', 'x/items.bin.gz', 'format binary, compression gzip')" >/dev/null
bk_check "binary format, gzip recognised on import, column list" 3 \
    "$(bk_psql -tA -c "TRUNCATE items_back" -c "SELECT mekatek.s3_import('items_back', 'id, name, price', 'format binary', 'mekatek-test', 'x/items.bin.gz')" -c "SELECT count(*) FROM (TABLE items EXCEPT TABLE items_back) x" | tail -n 1 | sed 's/^0$/3/')"
bk_check "a missing object: 58P01" 1 \
    "$(bk_psql -c "\\set VERBOSITY verbose" -c "SELECT mekatek.s3_import('items_back', '', 'format csv', 'mekatek-test', 'x/none.csv')" 2>&1 | grep -c 'ERROR:  58P01: S3 GET of "mekatek-test/x/none.csv" failed after 1 attempt: HTTP 404 NoSuchKey')"
bk_check "server-side encryption header is accepted" 1 \
    "$(bk_psql -tA -c "SELECT files_uploaded FROM mekatek.s3_export('SELECT 1', 'mekatek-test', 'x/sse.csv', 'server_side_encryption AES256')")"

# 7. Privileges and secrets.
bk_psql <<'SQL'
DROP ROLE IF EXISTS bk_cashier; DROP ROLE IF EXISTS bk_admin;
CREATE ROLE bk_cashier LOGIN IN ROLE mekatek_cashier;
CREATE ROLE bk_admin LOGIN IN ROLE mekatek_admin;
GRANT SELECT, INSERT, UPDATE, TRUNCATE ON sales, sales_copy TO bk_admin;
SQL
for role in bk_cashier; do
    bk_check "$role cannot read the catalogue" 1 \
        "$(psql -X -U $role -c "SELECT bucket, key FROM mekatek.backup_object" 2>&1 | grep -c 'permission denied for table backup_object')"
    bk_check "$role cannot read the policy (bucket layout)" 1 \
        "$(psql -X -U $role -c "SELECT bucket FROM mekatek.backup_config" 2>&1 | grep -c 'permission denied for table backup_config')"
    bk_check "$role cannot export" 1 \
        "$(psql -X -U $role -c "SELECT * FROM mekatek.s3_export('SELECT 1', 'mekatek-test', 'k')" 2>&1 | grep -c 'permission denied for function s3_export')"
    bk_check "$role cannot restore" 1 \
        "$(psql -X -U $role -c "SELECT mekatek.backup_restore(3)" 2>&1 | grep -c 'permission denied for function backup_restore')"
done
for role in bk_cashier bk_admin; do
    bk_check "$role cannot SHOW the secret" 1 \
        "$(psql -X -U $role -c "SHOW mekatek.s3_secret_access_key" 2>&1 | grep -c 'must be superuser or have privileges of pg_read_all_settings')"
    bk_check "$role cannot current_setting() the secret" 1 \
        "$(psql -X -U $role -c "SELECT current_setting('mekatek.s3_secret_access_key')" 2>&1 | grep -c 'must be superuser or have privileges of pg_read_all_settings')"
    bk_check "$role sees no credential in pg_settings or SHOW ALL" 0 \
        "$(psql -X -U $role -tA -c "SELECT count(*) FROM pg_settings WHERE name LIKE 'mekatek.s3_%key%'" -c "SHOW ALL" 2>&1 | grep -c "$SECRET\|$KEY\|^[1-9]$" || true)"
    bk_check "$role cannot set the secret" 1 \
        "$(psql -X -U $role -c "SET mekatek.s3_secret_access_key = 'x'" 2>&1 | grep -c 'permission denied to set parameter')"
done
bk_check "mekatek_admin (not superuser) runs backups and restores" "uploaded|1000000" \
    "$(psql -X -U bk_admin -tA -c "UPDATE sales SET qty = qty + 1 WHERE sale_id = 5" -c "SELECT status FROM mekatek.backup_run_target('sales', 'weekly')" -c "SELECT mekatek.backup_restore(max(object_id), 'sales_copy') FROM mekatek.backup_object" 2>&1 | tail -n 2 | tr '\n' '|' | sed 's/|$//')"
bk_check "the secret is in no catalogue table" 0 \
    "$(bk_psql -tA -c "SELECT count(*) FROM mekatek.backup_object o WHERE o::text LIKE '%$SECRET%'")"

# 8. The scheduled command, run as pg_cron runs it: a new session in
# mekatek_cron, as the job's owner, with the server's settings.  (The
# every-minute job may have stored the same data already: duplicate.)
bk_check "the scheduled command works in the pg_cron database (stored, or a duplicate of cron's own run)" t \
    "$(psql -XtA -v ON_ERROR_STOP=1 -d mekatek_cron -U "$(bk_psql -d mekatek_cron -tA -c "SELECT username FROM cron.job WHERE jobname = 'mekatek-backup'")" \
        -c "$(bk_psql -d mekatek_cron -tA -c "SELECT command FROM cron.job WHERE jobname = 'mekatek-backup'")" -c "SELECT status IN ('uploaded', 'duplicate') FROM mekatek.backup_object ORDER BY object_id DESC LIMIT 1" | tail -n 1)"
# And pg_cron itself ran the every-minute job.
while [ $(( $(date +%s) - cron_started )) -lt 130 ]; do
    n=$(bk_psql -d mekatek_cron -tA -c "SELECT count(*) FROM cron.job_run_details WHERE status IN ('succeeded', 'failed')")
    [ "$n" -gt 0 ] && break
    sleep 2
done
r=$(bk_psql -d mekatek_cron -tA -c "SELECT d.status, o.status, substring(o.key from '^cron/mekatek_cron/cron_probe/')
        FROM cron.job_run_details d, mekatek.backup_object o
       WHERE d.command = 'CALL mekatek.backup_run()' AND d.status = 'succeeded'
       ORDER BY d.runid, o.object_id LIMIT 1")
bk_check "pg_cron ran CALL mekatek.backup_run() and it succeeded" "succeeded|uploaded|cron/mekatek_cron/cron_probe/" "$r"
[ -n "$r" ] || bk_psql -d mekatek_cron -c "TABLE cron.job_run_details" -c "SELECT jobid, jobname, schedule, active FROM cron.job" \
    -c "SELECT pid, state, wait_event FROM pg_stat_activity WHERE backend_type = 'pg_cron launcher'" | sed 's/^/# /'

bk_check "a reload logs that the secret changed, not its value" 1 \
    "$(this_log | grep -c 'parameter "mekatek.s3_secret_access_key" changed$' || true)"
bk_check "the secret is not in the server log" 0 "$(grep -c -- "$SECRET" "$MK_BUILD/test/server.log" 2>/dev/null || true)"
psql -Xq -d postgres -c "DROP DATABASE $DB" -c "DROP ROLE bk_cashier" -c "DROP ROLE bk_admin"
[ "$bk_fails" = 0 ] || { echo "$bk_fails checks failed"; exit 1; }
echo "round trip, catalogue, retention, privileges and pg_cron hold"
