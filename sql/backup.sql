-- backup: everything that needs no S3 server.  The transfers themselves are
-- tested against local S3 servers by test/scripts/backup_s3.sh (round trip,
-- catalogue, retention, pg_cron) and test/scripts/backup_faults.sh (faults).

-- The 001 paper's categories: week of month = (day - 1) / 7 + 1; a Monday
-- in the fourth week is monthly, any other Monday weekly, other days daily.
SELECT d, to_char(d, 'Dy') AS day, (extract(day FROM d)::int - 1) / 7 + 1 AS week_of_month,
       mekatek.backup_category(d) AS category
  FROM unnest(ARRAY['2026-11-02', '2026-11-09', '2026-11-16', '2026-11-22', '2026-11-23',
                    '2026-11-24', '2026-11-30', '2026-06-22', '2026-06-28']::date[]) d;

-- The rule is configurable: Sundays, and the first week for monthly.
UPDATE mekatek.backup_config SET weekly_isodow = 7, monthly_week = 1;
SELECT d, to_char(d, 'Dy') AS day, mekatek.backup_category(d) AS category
  FROM unnest(ARRAY['2026-11-01', '2026-11-08', '2026-11-23']::date[]) d;
UPDATE mekatek.backup_config SET weekly_isodow = 8;
UPDATE mekatek.backup_config SET weekly_isodow = 1, monthly_week = 4;

-- The policy's defaults: retention 7 daily, 4 weekly, 12 monthly.
SELECT bucket, prefix, part_size, keep_daily, keep_weekly, keep_monthly, category_lag
  FROM mekatek.backup_config;

-- A target is a table or a query, not both.
INSERT INTO mekatek.backup_target (name, query, table_name) VALUES ('both', 'SELECT 1', 'pg_class');
INSERT INTO mekatek.backup_target (name) VALUES ('neither');
INSERT INTO mekatek.backup_target (name, query) VALUES ('bad/name', 'SELECT 1');

-- Settings: AWS's defaults; the credentials are superuser-only.
SHOW mekatek.s3_endpoint;
SHOW mekatek.s3_region;
SHOW mekatek.s3_uri_style;
SHOW mekatek.s3_verify_tls;
SHOW mekatek.s3_timeout;
SHOW mekatek.s3_max_retries;
SET mekatek.s3_uri_style = 'dns';
SET mekatek.s3_secret_access_key = 'only-a-superuser-may-set-or-read-this';
SELECT name FROM pg_settings WHERE name LIKE 'mekatek.s3%' ORDER BY name;
SET ROLE mekatek_admin;
SHOW mekatek.s3_secret_access_key;
SELECT current_setting('mekatek.s3_secret_access_key');
SHOW mekatek.s3_access_key_id;
SELECT count(*) FROM pg_settings WHERE name LIKE 'mekatek.s3%key%';
SET mekatek.s3_secret_access_key = 'x';
SET mekatek.s3_timeout = '5s';
RESET mekatek.s3_timeout;
RESET ROLE;
RESET mekatek.s3_secret_access_key;

-- Nothing to sign with: a clear error before any connection (terse: the
-- DETAIL names the server account's credentials file).
\set VERBOSITY terse
SELECT * FROM mekatek.s3_export('SELECT 1', 'my-bucket', 'k.csv');
\set VERBOSITY default
SET mekatek.s3_access_key_id = 'AKIDEXAMPLE';
SELECT * FROM mekatek.s3_export('SELECT 1', 'my-bucket', 'k.csv');
SET mekatek.s3_secret_access_key = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
SET mekatek.s3_endpoint = 'ftp://example.com';
SELECT * FROM mekatek.s3_export('SELECT 1', 'my-bucket', 'k.csv');
RESET mekatek.s3_endpoint;

-- Bad arguments are refused before anything is sent.
SELECT * FROM mekatek.s3_export('SELECT 1', 'My_Bucket', 'k.csv');
SELECT * FROM mekatek.s3_export('SELECT 1', 'my-bucket', '');
-- Dot segments would be dropped from the signed URL (then 28000
-- SignatureDoesNotMatch, or another object): refused up front.
SELECT * FROM mekatek.s3_export('SELECT 1', 'my-bucket', 'exports/../k.csv');
SELECT * FROM mekatek.s3_export('SELECT 1', 'my-bucket', './k.csv');
SELECT * FROM mekatek.s3_export('SELECT 1', 'my-bucket', 'a/..');
SELECT mekatek.s3_import('mekatek.backup_target', '', 'format csv', 'my-bucket', '../k.csv');
SELECT * FROM mekatek.s3_export('SELECT 1', 'my-bucket', E'k\n.csv');
SELECT * FROM mekatek.s3_export('SELECT 1', 'my-bucket', repeat('k', 2000));
SELECT * FROM mekatek.s3_export(NULL, 'my-bucket', 'k.csv');
SELECT * FROM mekatek.s3_export('DELETE FROM mekatek.backup_target RETURNING *', 'my-bucket', 'k.csv');
SELECT * FROM mekatek.s3_export('SELECT 1; SELECT 2', 'my-bucket', 'k.csv');
SELECT * FROM mekatek.s3_export('SELEC 1', 'my-bucket', 'k.csv');
SELECT * FROM mekatek.s3_export('SELECT 1', 'my-bucket', 'k.csv', 'compression zip');
SELECT * FROM mekatek.s3_export('SELECT 1', 'my-bucket', 'k.csv', 'part_size ''1MB''');
SELECT * FROM mekatek.s3_export('SELECT 1', 'my-bucket', 'k.csv', 'compression_level 0');
SELECT * FROM mekatek.s3_export('SELECT 1', 'my-bucket', 'k.csv', 'server_side_encryption ''aws:kms''');
-- COPY's own options are COPY's to check.
SELECT * FROM mekatek.s3_export('SELECT 1', 'my-bucket', 'k.csv', 'format xml');
SELECT * FROM mekatek.s3_export('SELECT 1', 'my-bucket', 'k.csv', 'format csv, delimiter ''ab''');
-- The options are an option list, parsed and never executed.
SELECT * FROM mekatek.s3_export('SELECT 1', 'my-bucket', 'k.csv', 'format csv) TO ''/tmp/x'' (format csv');
SELECT mekatek.s3_import('no_such_table', '', 'format csv', 'my-bucket', 'k.csv');
SELECT mekatek.s3_import('mekatek.backup_target', '', 'format csv) FROM STDIN (format csv', 'my-bucket', 'k.csv');
SELECT mekatek.s3_import('mekatek.backup_target', 'no_such_column', 'format csv', 'my-bucket', 'k.csv');
SELECT mekatek.s3_import('mekatek.backup_target', '', 'format csv, quote ''ab''', 'my-bucket', 'k.csv');

-- The catalogue functions.  backup_run is a procedure (it commits each
-- target's row): CALL it.
CALL mekatek.backup_run();
UPDATE mekatek.backup_config SET bucket = 'Bad_Bucket';
UPDATE mekatek.backup_config SET bucket = 'my-bucket';
CALL mekatek.backup_run('hourly');
-- No target enabled: a WARNING, nothing exported.
CALL mekatek.backup_run('daily');
CALL mekatek.backup_run(target => 'no_such_target');
SELECT * FROM mekatek.backup_run_target('no_such_target');
SELECT mekatek.backup_verify(42);
SELECT mekatek.backup_restore(42);
SELECT mekatek.backup_restore(NULL);
UPDATE mekatek.backup_config SET bucket = NULL;

-- Only mekatek_admin (and superusers) may move data in or out, and only
-- they see the catalogue, the policy and the bucket layout.
SET ROLE mekatek_cashier;
SELECT * FROM mekatek.backup_object;
SELECT bucket FROM mekatek.backup_config;
SELECT * FROM mekatek.backup_target;
SELECT * FROM mekatek.s3_export('SELECT 1', 'my-bucket', 'k.csv');
CALL mekatek.backup_run();
RESET ROLE;
SET ROLE mekatek_analyst;
SELECT mekatek.backup_prune();
SELECT mekatek.s3_import('t', '', '', 'my-bucket', 'k.csv');
RESET ROLE;
SET ROLE mekatek_device;
SELECT mekatek.backup_restore(1);
SELECT * FROM mekatek.s3_object_digest('my-bucket', 'k.csv');
RESET ROLE;
SET ROLE mekatek_admin;
SELECT count(*) FROM mekatek.backup_object;
SELECT bucket IS NULL AS no_bucket_yet FROM mekatek.backup_config;
RESET ROLE;
