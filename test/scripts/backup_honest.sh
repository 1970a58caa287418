#!/usr/bin/env bash
# Honest backups: backup_run never reports success that is not there.
# Against s3rver (signatures checked), in pg_cron's database:
#   - S3 stopped: no target ends duplicate (the HEAD that confirms the
#     previous object fails), CALL backup_run() raises an ERROR after
#     trying every target, and each target keeps its failed row;
#   - the same under pg_cron: the job's run is recorded failed;
#   - S3 back: the next run (pg_cron's) succeeds and uploads;
#   - a previous object gone from the store is uploaded anew, not
#     recorded as a duplicate of nothing;
#   - no target enabled: a WARNING; target => name runs one target.
source "$(dirname "$0")/../backup_s3/lib.sh"

bk_port S3RVER
KEY=MEKATEKHONESTKEY SECRET='h0nest-S3cret'
STORE=$MK_BUILD/backup_honest_s3rver
DB=mekatek_cron
bk_npm
rm -rf "$STORE"; mkdir -p "$STORE"
# s3rver on a store that survives its restarts.
s3_pid=
s3_start() {
    : >"$STORE.log"   # bk_wait_started looks for this start's line only
    MK_S3_KEY=$KEY MK_S3_SECRET=$SECRET node --openssl-legacy-provider "$BK_DIR/server.mjs" s3rver "$S3RVER" "$STORE" mekatek-test \
        >"$STORE.log" 2>&1 &
    s3_pid=$!
    BK_PIDS+=($s3_pid)
    bk_wait_started $s3_pid "$STORE.log" "$S3RVER"
}
s3_stop() { kill "$s3_pid"; wait "$s3_pid" 2>/dev/null || true; }
obj() { echo "$STORE/mekatek-test/$1._S3rver_object"; }

created_ext=0
cleanup() {
    psql -Xq -d $DB -c "SELECT cron.unschedule(jobname) FROM cron.job WHERE jobname = 'mekatek-honest'" >/dev/null 2>&1 || true
    psql -Xq -d $DB -c "DELETE FROM cron.job_run_details WHERE command LIKE '%honest%'" >/dev/null 2>&1 || true
    if [ "$created_ext" = 1 ]; then
        psql -Xq -d $DB -c "SET mekatek.drop_with_data = on" -c "DROP EXTENSION IF EXISTS mekatek" \
            -c "DROP TABLE IF EXISTS honest_a, honest_b" >/dev/null 2>&1 || true
    fi
    for s in s3_endpoint s3_uri_style s3_access_key_id s3_secret_access_key s3_max_retries s3_retry_base s3_timeout; do
        psql -Xq -d postgres -c "ALTER DATABASE $DB RESET mekatek.$s" >/dev/null 2>&1 || true
    done
    bk_stop
}
trap cleanup EXIT

if [ "$(psql -XtA -d $DB -c "SELECT count(*) FROM pg_extension WHERE extname = 'mekatek'")" != 0 ]; then
    bk_skip "skipped: $DB already has the extension mekatek (this test owns it while it runs)"
fi
created_ext=1
psql -Xq -d postgres <<SQL
ALTER DATABASE $DB SET mekatek.s3_endpoint = 'http://127.0.0.1:$S3RVER';
ALTER DATABASE $DB SET mekatek.s3_uri_style = 'path';
ALTER DATABASE $DB SET mekatek.s3_access_key_id = '$KEY';
ALTER DATABASE $DB SET mekatek.s3_secret_access_key = '$SECRET';
ALTER DATABASE $DB SET mekatek.s3_max_retries = 1;
ALTER DATABASE $DB SET mekatek.s3_retry_base = '50ms';
ALTER DATABASE $DB SET mekatek.s3_timeout = '2s';
SQL
export PGDATABASE=$DB
bk_psql <<'SQL'
CREATE EXTENSION IF NOT EXISTS pg_cron;
CREATE EXTENSION mekatek;
UPDATE mekatek.backup_config SET bucket = 'mekatek-test', prefix = 'honest';
CREATE TABLE honest_a AS SELECT g FROM generate_series(1, 1000) g;
CREATE TABLE honest_b AS SELECT g, md5(g::text) AS h FROM generate_series(1, 1000) g;
SQL
statuses() { bk_psql -tA -c "SELECT string_agg(t.name || ':' || o.status, ' ' ORDER BY o.object_id) FROM mekatek.backup_object o JOIN mekatek.backup_target t USING (target_id) WHERE o.object_id > $1"; }
last() { bk_psql -tA -c "SELECT coalesce(max(object_id), 0) FROM mekatek.backup_object"; }

out=$(bk_psql -c "CALL mekatek.backup_run('daily')" 2>&1)
bk_check "no target: WARNING, nothing exported" "1|0" \
    "$(grep -c 'WARNING:  no backup target is enabled' <<<"$out")|$(last)"
bk_psql -c "INSERT INTO mekatek.backup_target (name, table_name) VALUES ('a', 'honest_a'), ('b', 'honest_b')"

s3_start
m=$(last)
bk_psql -c "CALL mekatek.backup_run('daily')"
bk_check "S3 up: both targets uploaded" "a:uploaded b:uploaded" "$(statuses $m)"
m=$(last)
bk_psql -c "CALL mekatek.backup_run('daily')"
bk_check "S3 up, same data: both duplicates (HEAD found the objects)" "a:duplicate b:duplicate" "$(statuses $m)"
m=$(last)
bk_psql -c "CALL mekatek.backup_run('daily', target => 'b')"
bk_check "target => b runs b only" "b:duplicate" "$(statuses $m)"

# S3 stopped, data unchanged: each target tried, none duplicate, ERROR.
s3_stop
m=$(last)
out=$(bk_psql -c "\\set VERBOSITY verbose" -c "CALL mekatek.backup_run('daily')" 2>&1 || true)
bk_check "S3 stopped: the run ends with ERROR 58030 naming both targets" 1 \
    "$(grep -c "ERROR:  58030: backup failed for 2 of 2 targets: a (.*Couldn't connect to server.*); b (" <<<"$out")"
bk_check "S3 stopped: each target kept a failed row, none duplicate" "a:failed b:failed" "$(statuses $m)"
bk_check "S3 stopped: the rows say why" 2 \
    "$(bk_psql -tA -c "SELECT count(*) FROM mekatek.backup_object WHERE object_id > $m AND error LIKE 'S3 HEAD of %Couldn''t connect to server%'")"

# The same under pg_cron: the job's run is failed.
runs_of() { bk_psql -tA -c "SELECT count(*) FROM cron.job_run_details WHERE jobid = $job AND status = '$1'"; }
wait_run() { # status: until pg_cron has recorded one more run with it (150 s)
    local before=$(runs_of "$1") i
    for i in $(seq 1 75); do
        [ "$(runs_of "$1")" -gt "$before" ] && return 0
        sleep 2
    done
    return 1
}
job=$(bk_psql -tA -c "SELECT cron.schedule('mekatek-honest', '* * * * *', 'CALL mekatek.backup_run(''daily'') /* honest */')")
m=$(last)
wait_run failed || true
bk_check "pg_cron with S3 stopped: the job's status is failed" "1" "$(runs_of failed)"
bk_check "pg_cron with S3 stopped: its message is backup_run's ERROR" 1 \
    "$(bk_psql -tA -c "SELECT count(*) FROM cron.job_run_details WHERE jobid = $job AND return_message LIKE '%backup failed for 2 of 2 targets%'")"
bk_check "pg_cron with S3 stopped: failed rows kept" "a:failed b:failed" "$(statuses $m)"

# S3 back, a's data changed: pg_cron's next run succeeds, a is uploaded.
bk_psql -c "UPDATE honest_a SET g = g + 1"
s3_start
m=$(last)
wait_run succeeded || true
bk_check "S3 back: pg_cron's next run succeeded" 1 "$(runs_of succeeded)"
bk_check "S3 back: a uploaded, b a duplicate of its stored object" "a:uploaded b:duplicate" "$(statuses $m)"
bk_psql -tA -c "SELECT cron.unschedule($job)" >/dev/null
bk_check "S3 back: the new object of a is in the store" yes \
    "$([ -e "$(obj "$(bk_psql -tA -c "SELECT key FROM mekatek.backup_object o JOIN mekatek.backup_target t USING (target_id) WHERE t.name = 'a' ORDER BY object_id DESC LIMIT 1")")" ] && echo yes || echo no)"

# The previous object of b deleted behind the catalogue's back: the next
# export of the same data is stored anew.
rm -f "$(obj "$(bk_psql -tA -c "SELECT key FROM mekatek.backup_object o JOIN mekatek.backup_target t USING (target_id) WHERE t.name = 'b' AND status = 'uploaded' ORDER BY object_id DESC LIMIT 1")")"
m=$(last)
bk_psql -c "CALL mekatek.backup_run('daily', target => 'b')"
bk_check "previous object missing: uploaded anew, not duplicate" "b:uploaded" "$(statuses $m)"
bk_check "and it verifies" t "$(bk_psql -tA -c "SELECT mekatek.backup_verify(max(object_id)) FROM mekatek.backup_object")"
bk_check "no row left running" 0 "$(bk_psql -tA -c "SELECT count(*) FROM mekatek.backup_object WHERE status = 'running'")"

[ "$bk_fails" = 0 ] || { echo "$bk_fails checks failed"; exit 1; }
echo "S3 down: every target tried, failed rows kept, ERROR, pg_cron failed; S3 back: uploaded"
