-- backup: the shop's calendar and backup sets, without an S3 server (the
-- transfers are in test/scripts/backup_s3.sh and backup_sets.sh).  Every
-- clock is passed in: nothing here depends on today's date.

-- Unset, the policy's zone is the TimeZone sessions start with (the
-- server's configuration, or ALTER DATABASE/ROLE SET; pg_regress sets the
-- database's to America/Los_Angeles), never a SET of the session: pg_cron's
-- sessions (GMT by default) and a DBA's psql decide alike.
SELECT mekatek.backup_time_zone();
SET TimeZone = 'UTC';
SELECT mekatek.backup_time_zone();

-- The Jakarta pharmacy: TimeZone and the setting at Asia/Jakarta.
UPDATE mekatek.backup_config SET time_zone = 'Asia/Jakarta';
SET TimeZone = 'Asia/Jakarta';
-- Tuesday 01:00 WIB backs up Monday: monthly in the fourth week, weekly in
-- the second, daily on other days.  In UTC these runs are still Monday
-- (18:00), and the old UTC rule made them Sunday's "daily".
SELECT to_char(at, 'Dy YYYY-MM-DD HH24:MI') AS run_at_wib, mekatek.backup_category(at) AS category,
       mekatek.backup_category(((at AT TIME ZONE 'UTC') - interval '1 day')::date) AS old_utc_rule
  FROM unnest(ARRAY['2026-11-24 01:00', '2026-11-10 01:00', '2026-11-11 01:00',
                    '2026-12-22 01:00', '2026-06-23 01:00', '2026-11-23 23:59']::timestamptz[]) at;

-- The same runs seen from a session in New York.
SET TimeZone = 'America/New_York';
SELECT mekatek.backup_time_zone(),
       mekatek.backup_category(timestamptz '2026-11-24 01:00 Asia/Jakarta') AS fourth_week,
       mekatek.backup_category(timestamptz '2026-11-10 01:00 Asia/Jakarta') AS second_week;
-- Half past midnight UTC on Tuesday is 07:30 WIB Tuesday: still Monday's
-- backup, whatever the session.
SELECT mekatek.backup_category(timestamptz '2026-11-24 00:30+00');
-- A shop in New York with the same schedule.
UPDATE mekatek.backup_config SET time_zone = 'America/New_York';
SELECT mekatek.backup_category(timestamptz '2026-11-24 01:00 America/New_York') AS ny_fourth_week,
       mekatek.backup_category(timestamptz '2026-11-24 01:00 Asia/Jakarta') AS jakarta_run_in_ny;
-- Object keys carry the run's local time, like categories, then the UTC
-- instant: the Jakarta run of Tuesday 01:00 WIB is 01:00 in its key, not
-- Monday 18:00 UTC; the two 01:30 of the night New York leaves daylight
-- saving stay distinct keys.
UPDATE mekatek.backup_config SET time_zone = 'Asia/Jakarta';
SELECT mekatek.backup_key_time(timestamptz '2026-11-24 01:00:00.25 Asia/Jakarta') AS jakarta,
       mekatek.backup_key_time(timestamptz '2026-11-23 18:00+00') AS same_run_from_utc;
UPDATE mekatek.backup_config SET time_zone = 'America/New_York';
SELECT mekatek.backup_key_time(at) AS key_time, at AT TIME ZONE 'UTC' AS utc
  FROM unnest(ARRAY['2026-07-14 01:00 America/New_York', '2026-11-01 05:30+00',
                    '2026-11-01 06:30+00', '2026-12-01 01:00 America/New_York']::timestamptz[]) at;
UPDATE mekatek.backup_config SET time_zone = 'Asia/Kolkata';
SELECT mekatek.backup_key_time(timestamptz '2026-11-24 01:00 Asia/Kolkata') AS kolkata;
UPDATE mekatek.backup_config SET time_zone = 'UTC';
SELECT mekatek.backup_key_time(timestamptz '2026-11-24 01:00+00') AS utc,
       mekatek.backup_key_time(NULL) AS null_at;
UPDATE mekatek.backup_config SET time_zone = 'America/New_York';
-- An unknown zone is refused.
UPDATE mekatek.backup_config SET time_zone = 'Asia/Atlantis';
UPDATE mekatek.backup_config SET time_zone = NULL;
RESET TimeZone;
SELECT mekatek.backup_category(NULL::timestamptz);

-- Retention by age (local days) and count, and the catalogue's 90 days.
SELECT keep_daily, keep_daily_days, keep_weekly, keep_weekly_days, keep_monthly, keep_monthly_days,
       catalogue_keep_days FROM mekatek.backup_config;
UPDATE mekatek.backup_config SET keep_daily_days = -1;
UPDATE mekatek.backup_config SET catalogue_keep_days = 0;
SELECT * FROM mekatek.backup_prune(NULL);

-- zstd and client-side encryption: options checked before any request.
SELECT * FROM mekatek.s3_export('SELECT 1', 'my-bucket', 'k.csv', 'compression gzip, compression_level 12');
SELECT * FROM mekatek.s3_export('SELECT 1', 'my-bucket', 'k.csv', 'compression gzip, compression_workers 2');
SELECT * FROM mekatek.s3_export('SELECT 1', 'my-bucket', 'k.csv', 'compression zstd, compression_workers 17');
SELECT * FROM mekatek.s3_export('SELECT 1', 'my-bucket', 'k.csv', 'compression zstd, compression_level 20');
UPDATE mekatek.backup_config SET compression_workers = 17;
INSERT INTO mekatek.backup_target (name, table_name, compression) VALUES ('lz', 'pg_class', 'lz4');
-- No key is set up: no key id, and encryption on refuses to run.
SELECT mekatek.backup_key_id();
SHOW mekatek.backup_key_id;
SET mekatek.backup_key_file = '/tmp/x';
UPDATE mekatek.backup_config SET bucket = 'my-bucket', client_side_encryption = true;
INSERT INTO mekatek.backup_target (name, table_name) VALUES ('cls', 'pg_class');
SELECT status FROM mekatek.backup_run_target('cls');
UPDATE mekatek.backup_config SET bucket = NULL, client_side_encryption = false;
DELETE FROM mekatek.backup_target;

-- Drills and health on an empty catalogue.
SELECT rto_target, rpo_target FROM mekatek.backup_config;
SELECT * FROM mekatek.backup_drill();
SELECT * FROM mekatek.backup_drill(42);
SELECT metric, subject, value FROM mekatek.health ORDER BY metric, subject;
-- Nothing runs: no progress to show.
SELECT count(*) FROM mekatek.backup_progress();
SET ROLE mekatek_analyst;
SELECT count(*) FROM mekatek.health;
RESET ROLE;
SET ROLE pg_monitor;
SELECT count(*) FROM mekatek.health;
SELECT count(*) FROM mekatek.backup_object;
RESET ROLE;

-- Restores that a foreign key forbids say what to do instead.
CREATE TABLE public.bk_sale (sale_id bigint PRIMARY KEY, total numeric NOT NULL);
CREATE TABLE public.bk_sale_line (sale_id bigint NOT NULL REFERENCES public.bk_sale, line_no int,
                                  amount numeric NOT NULL, PRIMARY KEY (sale_id, line_no));
INSERT INTO mekatek.backup_target (name, table_name) VALUES ('bk_sale', 'public.bk_sale'), ('bk_sale_line', 'public.bk_sale_line');
INSERT INTO mekatek.backup_set (category, status) VALUES ('daily', 'complete'), ('weekly', 'failed');
INSERT INTO mekatek.backup_object (target_id, category, bucket, key, rows, bytes, sha256, status, set_id)
SELECT t.target_id, 'daily', 'my-bucket', 'k/' || t.name, 1, 10, repeat('ab', 32), 'uploaded', 1
  FROM mekatek.backup_target t WHERE t.name LIKE 'bk_sale%' ORDER BY t.target_id;
\set VERBOSITY verbose
SELECT mekatek.backup_restore(o.object_id) FROM mekatek.backup_object o
  JOIN mekatek.backup_target t USING (target_id) WHERE t.name = 'bk_sale';
\set VERBOSITY default
-- The line table alone is referenced by nothing: that error is about S3.
SELECT mekatek.backup_restore_set(NULL);
SELECT mekatek.backup_restore_set(42);
SELECT mekatek.backup_restore_set(2);
SELECT * FROM mekatek.backup_restore_set(1, 'no_such_schema');
CREATE SCHEMA bk_scratch;
SELECT * FROM mekatek.backup_restore_set(1, 'bk_scratch');
-- A table outside the set that references one in it.
CREATE TABLE public.bk_refund (sale_id bigint REFERENCES public.bk_sale);
SELECT * FROM mekatek.backup_restore_set(1);
SET ROLE mekatek_cashier;
SELECT * FROM mekatek.backup_set;
SELECT * FROM mekatek.backup_restore_set(1);
RESET ROLE;
DELETE FROM mekatek.backup_object;
DELETE FROM mekatek.backup_set;
DELETE FROM mekatek.backup_target;
DROP TABLE public.bk_refund, public.bk_sale_line, public.bk_sale;
DROP SCHEMA bk_scratch;
