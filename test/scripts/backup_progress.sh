#!/usr/bin/env bash
# Issue 19 §7: a second session follows a long export and restore through
# mekatek.backup_progress(): the phase, COPY's rows, the S3 parts uploaded,
# the retries, and the wait event while a request waits on the network.
# The network is made slow on purpose by test/backup_s3/fault_proxy.py in
# front of fauxqs: every request with a body waits 1 s, so that the
# sampling sees each part and each wait.  (Retries are counted in the same
# report; backup_faults.sh covers them through the catalogue's attempts.)
source "$(dirname "$0")/../backup_s3/lib.sh"

bk_port FAUXQS PROXY
DB=mekatek_backup_progress
bk_npm
bk_start_fauxqs $FAUXQS mekatek-test
bk_start_proxy $PROXY $FAUXQS
arm() { curl -fsS "http://127.0.0.1:$PROXY/__fault?$1" >/dev/null; }

bk_fauxqs_db $DB $PROXY MEKATEKPROGRESSKEY
# The slow part waits 3 s: longer than the 2 s timeout of no progress.
bk_psql -c "ALTER DATABASE $DB SET mekatek.s3_timeout = '20s'"
bk_psql <<SQL
-- 800,000 rows of hex, uncompressed: about 33 MB, seven 5 MB parts (parts
-- are sent on a thread while COPY goes on: five of them finish while
-- the export is still in its exporting phase).
CREATE TABLE f (g int PRIMARY KEY, h text);
INSERT INTO f SELECT g, md5(g::text) FROM generate_series(1, 800000) g;
CREATE TABLE f_copy (LIKE f);
SQL
SAMPLES=$MK_BUILD/backup_progress_samples
sample() { # backup_progress() every 0.1 s into $SAMPLES while $SAMPLES.run exists
    : >"$SAMPLES"
    while [ -e "$SAMPLES.run" ]; do
        psql -XtA -c "SELECT phase, rows_processed, parts_done, bytes_transferred, retries, wait_event FROM mekatek.backup_progress()" >>"$SAMPLES" 2>/dev/null || true
        sleep 0.1
    done
}

arm "mode=slow&part=0&times=0&delay=1"
touch "$SAMPLES.run"
sample &
sampler=$!
sleep 0.5
bk_psql -tA -c "SET mekatek.s3_secret_access_key = 'fauxqs-ignores-it'" \
    -c "SELECT rows_uploaded FROM mekatek.s3_export('TABLE f', 'mekatek-test', 'p/f.csv', 'format csv, part_size ''5MB''')" >/dev/null &
exporter=$!
wait $exporter
sleep 0.3
rm -f "$SAMPLES.run"
arm "mode=pass"
wait $sampler
sed 's/^/# /' "$SAMPLES" | sort -u | head -n 20
bk_check "a second session saw the export's phase with rows and parts done" t \
    "$(awk -F'|' '$1 == "exporting" && $2 > 0 && $3 >= 1 {found = 1} END {print found ? "t" : "f"}' "$SAMPLES")"
bk_check "and the wait on the slow part as a wait event" t \
    "$(awk -F'|' '$1 == "exporting" && $6 == "Extension:Extension" {found = 1} END {print found ? "t" : "f"}' "$SAMPLES")"
bk_check "parts done grew one by one" t \
    "$(awk -F'|' '$1 != "" {if ($3 < last) bad = 1; last = $3} END {print (!bad && last >= 2) ? "t" : "f"}' "$SAMPLES")"
bk_check "nothing is left in the progress view afterwards" 0 "$(psql -XtA -c "SELECT count(*) FROM mekatek.backup_progress()")"

# A restore: downloading, then loading (COPY FROM's rows).
size=$(bk_psql -tA -c "SET mekatek.s3_secret_access_key = 'x'" -c "SELECT bytes || '|' || sha256 FROM mekatek.s3_object_digest('mekatek-test', 'p/f.csv')" | tail -n 1)
touch "$SAMPLES.run"
sample &
sampler=$!
sleep 0.3
bk_check "the restore loads every row" 800000 \
    "$(bk_psql -tA -c "SET mekatek.s3_secret_access_key = 'x'" -c "SELECT mekatek.s3_restore('mekatek-test', 'p/f.csv', '${size#*|}', ${size%|*}, 'f_copy', true, 'format csv')" | tail -n 1)"
rm -f "$SAMPLES.run"
wait $sampler
bk_check "and a second session saw it load" t \
    "$(awk -F'|' '($1 == "loading" && $2 > 0) || $1 == "downloading" {found = 1} END {print found ? "t" : "f"}' "$SAMPLES")"

bk_stop
psql -Xq -d postgres -c "DROP DATABASE $DB"
[ "$bk_fails" = 0 ] || { echo "$bk_fails checks failed"; exit 1; }
echo "backup_progress shows phase, rows, parts and the network wait"
