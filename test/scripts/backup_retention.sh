#!/usr/bin/env bash
# Issue 19 §3 against @20minutes/s3rver: a generated 100-day catalogue on
# the Jakarta shop's calendar (daily, weekly, monthly runs at 01:00 WIB,
# with unchanged days that become duplicates, and monthly runs whose data
# equals the object before them) is pruned as of the last day.  It ends
# with exactly the rows the documented rules keep; the store's listing is
# exactly the files of the live rows (none referenced by a live row is
# deleted, none is orphaned); monthly/ holds one object per month, copied
# server-side (CopyObject); the catalogue loses failed rows older than 90
# days and keeps the rest.
source "$(dirname "$0")/../backup_s3/lib.sh"

bk_port S3RVER
KEY=MEKATEKRETKEY SECRET='r3t-S3cret-value-never-shown'
DB=mekatek_backup_retention
STORE=$MK_BUILD/backup_retention_s3rver
bk_npm
MK_S3_KEY=$KEY MK_S3_SECRET=$SECRET bk_start_s3rver $S3RVER "$STORE" mekatek-test

bk_s3_settings $S3RVER $KEY "$SECRET"
cleanup() {
    bk_s3_settings_reset
    bk_stop
}
trap cleanup EXIT
listing() { # the store's files under a prefix, as keys
    (cd "$STORE/mekatek-test" && find . -name '*._S3rver_object' | sed 's|^\./||; s|\._S3rver_object$||' | grep "^$1" | sort) || true
}

psql -Xq -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" 2>/dev/null
export PGDATABASE=$DB
# Day d (2026-08-01 + d) is backed up by the run at 01:00 WIB the next day.
# The stock changes before every third run, never before a monthly one.
bk_psql <<'SQL'
CREATE EXTENSION mekatek;
CREATE TABLE stock (sku int PRIMARY KEY, qty int NOT NULL);
INSERT INTO stock SELECT g, 100 FROM generate_series(1, 200) g;
UPDATE mekatek.backup_config SET bucket = 'mekatek-test', prefix = 'ret', time_zone = 'Asia/Jakarta';
INSERT INTO mekatek.backup_target (name, table_name) VALUES ('stock', 'stock');
DO $$
DECLARE
    run_at timestamptz;
    cat text;
    o mekatek.backup_object;
BEGIN
    FOR d IN 0 .. 99 LOOP
        run_at := (date '2026-08-01' + d + 1 + time '01:00') AT TIME ZONE 'Asia/Jakarta';
        cat := mekatek.backup_category(run_at);
        IF d % 3 = 0 AND cat <> 'monthly' THEN
            UPDATE stock SET qty = qty + 1 WHERE sku = 1 + d;
        END IF;
        o := mekatek.backup_run_target('stock', cat);
        IF o.status = 'failed' THEN
            RAISE EXCEPTION 'run % failed: %', d, o.error;
        END IF;
        UPDATE mekatek.backup_object SET started_at = run_at, finished_at = run_at + interval '1 minute'
         WHERE object_id = o.object_id;
    END LOOP;
END $$;
-- Failed runs: two older than the catalogue's 90 days, one recent.
INSERT INTO mekatek.backup_object (target_id, category, bucket, key, started_at, finished_at, status, error)
SELECT 1, 'daily', 'mekatek-test', 'ret/failed/' || d, t, t, 'failed', 'S3 unreachable'
  FROM (VALUES (1, timestamptz '2026-08-02 01:00+07'), (2, '2026-08-05 01:00+07'), (3, '2026-11-01 01:00+07')) v(d, t);
SQL
AT="2026-11-09 02:00+07"
bk_check "100 runs: daily, weekly and monthly rows, duplicates, and server-side copies" t \
    "$(bk_psql -tA -c "SELECT count(*) = 100 AND count(*) FILTER (WHERE status = 'duplicate') > 10
                              AND count(*) FILTER (WHERE copied_from IS NOT NULL) > 5
                              AND count(DISTINCT category) = 3
                         FROM mekatek.backup_object WHERE status <> 'failed'")"
bk_check "every monthly run equalled the object before it and was copied, not uploaded" "3|3" \
    "$(bk_psql -tA -c "SELECT count(*), count(copied_from) FROM mekatek.backup_object WHERE category = 'monthly'")"

# The documented rules, written out here on their own: a live row is kept
# when it is among the newest keep_<category> of its category or younger
# than keep_<category>_days local days, or when a kept row shares its file.
bk_psql <<SQL
CREATE TABLE expect AS
WITH r AS (
    SELECT o.object_id, o.key, o.category,
           rank() OVER (PARTITION BY o.category ORDER BY o.started_at DESC) AS n,
           (timestamptz '$AT' AT TIME ZONE 'Asia/Jakarta')::date - (o.started_at AT TIME ZONE 'Asia/Jakarta')::date AS age
      FROM mekatek.backup_object o WHERE o.status IN ('uploaded', 'duplicate')),
k AS (
    SELECT r.*, CASE r.category WHEN 'daily' THEN n <= 7 OR age < 7
                                WHEN 'weekly' THEN n <= 4 OR age < 28
                                ELSE n <= 12 OR age < 365 END AS kept
      FROM r)
SELECT k.object_id, k.key, k.category, bool_or(k.kept) OVER (PARTITION BY k.key) AS kept FROM k;
SQL
pruned=$(bk_psql -tA -c "SELECT count(*) FROM mekatek.backup_prune('$AT')" 2>"$MK_BUILD/backup_retention_prune.log")
grep -q 'NOTICE:  backup catalogue: 2 rows of pruned or failed objects older than 90 days deleted' "$MK_BUILD/backup_retention_prune.log" && echo 'ok - prune says it trimmed 2 catalogue rows' || { echo 'not ok - prune notice'; bk_fails=$((bk_fails + 1)); }
bk_check "backup_prune pruned the rows the rules do not keep" "$(bk_psql -tA -c "SELECT count(*) FROM expect WHERE NOT kept")" "$pruned"
bk_check "the live rows are exactly the kept ones" "0|0" \
    "$(bk_psql -tA -c "SELECT (SELECT count(*) FROM (SELECT object_id FROM expect WHERE kept EXCEPT SELECT object_id FROM mekatek.backup_object WHERE status IN ('uploaded', 'duplicate')) a),
                              (SELECT count(*) FROM (SELECT object_id FROM mekatek.backup_object WHERE status IN ('uploaded', 'duplicate') EXCEPT SELECT object_id FROM expect WHERE kept) b)")"
bk_check "an expired original whose file a kept duplicate points at is kept (not pruned)" t \
    "$(bk_psql -tA -c "SELECT count(*) > 0 FROM mekatek.backup_object o WHERE o.status = 'uploaded' AND o.category = 'daily'
                          AND (timestamptz '$AT' AT TIME ZONE 'Asia/Jakarta')::date - (o.started_at AT TIME ZONE 'Asia/Jakarta')::date >= 7
                          AND EXISTS (SELECT FROM mekatek.backup_object d WHERE d.duplicate_of = o.object_id AND d.status = 'duplicate')" )"
bk_check "the store holds exactly the files of the live rows" \
    "$(bk_psql -tA -c "SELECT DISTINCT key FROM mekatek.backup_object WHERE status IN ('uploaded', 'duplicate') ORDER BY 1" | sort | tr '\n' ' ')" \
    "$(listing ret/ | tr '\n' ' ')"
bk_check "monthly/ holds one object per month" "3|2026-08,2026-09,2026-10" \
    "$(listing "ret/$DB/stock/monthly/" | wc -l)|$(bk_psql -tA -c "SELECT string_agg(to_char(started_at AT TIME ZONE 'Asia/Jakarta', 'YYYY-MM'), ',' ORDER BY started_at) FROM mekatek.backup_object WHERE category = 'monthly' AND status = 'uploaded'")"
bk_check "every live row verifies against its file" t \
    "$(bk_psql -tA -c "SELECT bool_and(mekatek.backup_verify(object_id)) FROM mekatek.backup_object WHERE status IN ('uploaded', 'duplicate')")"
bk_check "catalogue trimmed: failed rows older than 90 days deleted, the recent one kept" "ret/failed/3" \
    "$(bk_psql -tA -c "SELECT string_agg(key, ',') FROM mekatek.backup_object WHERE status = 'failed'")"
bk_check "a second prune as of the same day changes nothing" 0 \
    "$(bk_psql -tA -c "SELECT count(*) FROM mekatek.backup_prune('$AT')")"
bk_check "pruned rows stay in the catalogue (younger than 90 days)" "$pruned" \
    "$(bk_psql -tA -c "SELECT count(*) FROM mekatek.backup_object WHERE status = 'pruned'")"

psql -Xq -d postgres -c "DROP DATABASE $DB"
[ "$bk_fails" = 0 ] || { echo "$bk_fails checks failed"; exit 1; }
echo "retention keeps what the rules say, prune deletes no live file, monthly/ has its own objects"
