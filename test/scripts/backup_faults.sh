#!/usr/bin/env bash
# Faults between mekatek.backup_run / s3_export and S3, injected by
# test/backup_s3/fault_proxy.py in front of fauxqs (which keeps multipart
# uploads faithfully), and a wrong secret against s3rver (which checks
# signatures).  Every case must end in a verified object, or in an ERROR with
# the catalogue row marked failed and no multipart upload left open.
source "$(dirname "$0")/../backup_s3/lib.sh"

bk_port FAUXQS PROXY S3RVER DOWN
DB=mekatek_backup_faults
bk_npm
bk_start_fauxqs $FAUXQS mekatek-test
bk_start_proxy $PROXY $FAUXQS
MK_S3_KEY=MEKATEKFAULTKEY MK_S3_SECRET=right-secret bk_start_s3rver $S3RVER "$MK_BUILD/backup_faults_s3rver" mekatek-test

# The settings a DBA would put in postgresql.conf, here for this database.
bk_fauxqs_db $DB $PROXY MEKATEKFAULTKEY
bk_psql <<SQL
-- 400,000 rows of hex: about 9 MB gzipped, two 5 MB parts.
CREATE TABLE f (g int PRIMARY KEY, h text);
INSERT INTO f SELECT g, md5(g::text) FROM generate_series(1, 400000) g;
UPDATE mekatek.backup_config SET bucket = 'mekatek-test', part_size = '5MB';
INSERT INTO mekatek.backup_target (name, table_name) VALUES ('f', 'f');
SQL

arm() { curl -fsS "http://127.0.0.1:$PROXY/__fault?$1" >/dev/null; }
# Every upload the proxy saw created is closed (completed or aborted), and
# fauxqs itself answers NoSuchUpload for each of them.
no_open_upload() {
    local ledger open ids id code bad=0
    ledger=$(curl -fsS "http://127.0.0.1:$PROXY/__uploads")
    open=${ledger#*open=}
    ids=${ledger#created=}; ids=${ids%% open=*}
    for id in ${ids//,/ }; do
        code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT --data-binary x \
            -H 'Content-Type: application/octet-stream' \
            "http://127.0.0.1:$FAUXQS/mekatek-test/probe?partNumber=1&uploadId=$id")
        [ "$code" = 404 ] || bad=$((bad + 1))
    done
    echo "open=[${open}] still-accepting-parts=$bad"
}
# run CASE: one backup_run with the secret set in the session; prints
# "status attempts error-class".
run() {
    bk_psql -tA <<SQL
SET mekatek.s3_secret_access_key = 'fauxqs-ignores-it';
SET client_min_messages = error;
SELECT status || ' ' || attempts || ' ' || coalesce(substring(error from 'HTTP [0-9]+|Timeout was reached|Couldn''t connect to server|Failure when receiving data from the peer|Send failure'), '-')
  FROM mekatek.backup_run_target('f', 'daily');
SQL
}
last_id() { bk_psql -tA -c "SELECT max(object_id) FROM mekatek.backup_object"; }
verify_last() {
    bk_psql -tA -c "SET mekatek.s3_secret_access_key = 'x'" \
        -c "SELECT mekatek.backup_verify($(last_id))" | tail -n 1
}
# The export is deterministic: vary the data so that no run is a duplicate.
bump() { bk_psql -c "UPDATE f SET h = md5(h) WHERE g = $1"; }

bk_check "no fault: uploaded in one attempt" "uploaded 1 -" "$(run)"
bk_check "no fault: verified" t "$(verify_last)"

bump 1; arm "mode=500&part=1&times=2"
bk_check "500 twice on part 1: uploaded after 2 retries" "uploaded 3 -" "$(run)"
bk_check "500 twice on part 1: verified" t "$(verify_last)"

bump 2; arm "mode=500&part=1&times=0"
bk_check "500 always on part 1: failed after 4 attempts" "failed 4 HTTP 500" "$(run)"
bk_check "500 always: no multipart upload left open" "open=[] still-accepting-parts=0" "$(no_open_upload)"

bump 3; arm "mode=reset&part=1&times=1"
r=$(run); bk_check "reset in the middle of part 1 once: uploaded after a retry" "uploaded 2" "$(cut -d' ' -f1-2 <<<"$r")"
bk_check "reset once: verified" t "$(verify_last)"

bump 4; arm "mode=reset&part=2&times=0"
r=$(run); bk_check "reset always on part 2: failed after 4 attempts" "failed 4" "$(cut -d' ' -f1-2 <<<"$r")"
bk_check "reset always: no multipart upload left open" "open=[] still-accepting-parts=0" "$(no_open_upload)"

bump 5; arm "mode=slow&part=1&times=1&delay=4"
bk_check "part 1 slower than the 2 s timeout once: uploaded after a retry" "uploaded 2 -" "$(run)"
bk_check "slow once: verified" t "$(verify_last)"

bump 6; arm "mode=slow&part=1&times=0&delay=4"
bk_check "part 1 always slower than the timeout: failed" "failed 4 Timeout was reached" "$(run)"
bk_check "slow always: no multipart upload left open" "open=[] still-accepting-parts=0" "$(no_open_upload)"
arm "mode=pass"

# s3_export itself raises the ERROR (the catalogue is backup_run's).
bump 7; arm "mode=500&part=2&times=0"
out=$(bk_psql -c "SET mekatek.s3_secret_access_key = 'x'" -c "\\set VERBOSITY verbose" \
    -c "SELECT * FROM mekatek.s3_export('TABLE f', 'mekatek-test', 'direct/f.csv.gz', 'format csv, compression gzip, part_size ''5MB''')" 2>&1 || true)
bk_check "s3_export with 500 on part 2 raises 58030 naming the part" 1 \
    "$(grep -c 'ERROR:  58030: S3 UploadPart 2 of "mekatek-test/direct/f.csv.gz" failed after 4 attempts: HTTP 500 InternalError' <<<"$out")"
bk_check "s3_export with 500: no multipart upload left open" "open=[] still-accepting-parts=0" "$(no_open_upload)"
bk_check "s3_export with 500: no object visible" 404 \
    "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$FAUXQS/mekatek-test/direct/f.csv.gz")"
arm "mode=pass"

# A cancel (statement_timeout) in the middle of a slow part aborts too.
arm "mode=slow&part=1&times=0&delay=3"
out=$(bk_psql -c "SET mekatek.s3_secret_access_key = 'x'" -c "SET statement_timeout = '1500ms'" \
    -c "SELECT * FROM mekatek.s3_export('TABLE f', 'mekatek-test', 'direct/cancel.csv', 'part_size ''5MB''')" 2>&1 || true)
bk_check "statement_timeout during a part: canceled" 1 "$(grep -c 'canceling statement due to statement timeout' <<<"$out")"
arm "mode=pass"
bk_check "cancel: no multipart upload left open" "open=[] still-accepting-parts=0" "$(no_open_upload)"

# An error in the query while a part is on its upload thread (every part
# slow; the rows stream in table order, the error comes after two parts):
# the backend stops the thread, aborts the upload, and the session goes on.
arm "mode=slow&part=0&times=0&delay=1"
out=$(bk_psql -v ON_ERROR_STOP=0 -c "SET mekatek.s3_secret_access_key = 'x'" -c "\\set VERBOSITY verbose" \
    -c "SELECT * FROM mekatek.s3_export('SELECT g, h, CASE WHEN g = 330000 THEN 1 / (g - g) END FROM f', 'mekatek-test', 'direct/broken.csv', 'part_size ''5MB''')" \
    -c "SELECT 'session alive'" 2>&1 || true)
arm "mode=pass"
grep -E 'ERROR|alive' <<<"$out" | sed 's/^/# /'
bk_check "query error while a part uploads: the query's ERROR, the session goes on" "1 1" \
    "$(grep -c 'ERROR:  22012: division by zero' <<<"$out") $(grep -c 'session alive' <<<"$out")"
bk_check "query error: no multipart upload left open" "open=[] still-accepting-parts=0" "$(no_open_upload)"

# Server down: nothing listens on $DOWN.
bk_psql -c "ALTER DATABASE $DB SET mekatek.s3_endpoint = 'http://127.0.0.1:$DOWN'"
bk_check "server down: failed after 4 attempts" "failed 4 Couldn't connect to server" "$(run)"

# A wrong secret against the signing server: 403, and the secret is never
# printed (client, catalogue, server log).
SECRET='Wr0ng-S3cret-ZZZ-must-not-leak'
bk_psql -c "ALTER DATABASE $DB SET mekatek.s3_endpoint = 'http://127.0.0.1:$S3RVER'"
out=$(bk_psql -c "SET mekatek.s3_secret_access_key = '$SECRET'" -c "\\set VERBOSITY verbose" \
    -c "SELECT * FROM mekatek.s3_export('SELECT 1', 'mekatek-test', 'k.csv')" 2>&1 || true)
bk_check "wrong secret: 28000 SignatureDoesNotMatch" 1 \
    "$(grep -c 'ERROR:  28000: S3 PUT of "mekatek-test/k.csv" failed after 1 attempt: HTTP 403 SignatureDoesNotMatch' <<<"$out")"
bk_check "wrong secret: not in the error" 0 "$(grep -c "$SECRET" <<<"$out" || true)"
# (backup_run_target's first request is the HEAD of the previous object,
# whose 403 has no body to name SignatureDoesNotMatch.)
r=$(bk_psql -tA -c "SET mekatek.s3_secret_access_key = '$SECRET'" -c "SET client_min_messages = error" \
    -c "SELECT status || ' ' || attempts || ' ' || (error LIKE '%HTTP 403%') FROM mekatek.backup_run_target('f', 'daily')")
bk_check "wrong secret: catalogue row failed, not retried" "failed 1 true" "$r"
bk_check "wrong secret: not in the catalogue" 0 \
    "$(bk_psql -tA -c "SELECT count(*) FROM mekatek.backup_object WHERE error LIKE '%$SECRET%'")"
bk_check "wrong secret: not in the server log" 0 \
    "$(grep -c "$SECRET" "$MK_BUILD/test/server.log" 2>/dev/null || true)"
out=$(bk_psql -c "SET mekatek.s3_secret_access_key = 'right-secret'" \
    -c "SELECT rows_uploaded FROM mekatek.s3_export('SELECT 1', 'mekatek-test', 'k.csv')" 2>&1)
bk_check "right secret: signed request accepted" 1 "$(grep -c '^ *1$' <<<"$out")"

bk_check "catalogue: no row left running" 0 \
    "$(bk_psql -tA -c "SELECT count(*) FROM mekatek.backup_object WHERE status = 'running'")"
psql -Xq -d postgres -c "DROP DATABASE $DB"
[ "$bk_fails" = 0 ] || { echo "$bk_fails checks failed"; exit 1; }
echo "every fault ends in a verified object or a failed row with no upload left open"
