-- backup: logical exports to S3 from inside the database.
\echo
\echo '== backup: the catalogue and its calendar (S3 itself: see README, backup)'
-- Daily, weekly (Mondays) or monthly (the Monday of the month's fourth week).
SELECT d AS day, to_char(d, 'Dy') AS weekday, mekatek.backup_category(d) AS category
  FROM generate_series(date '2026-11-16', date '2026-11-24', interval '1 day') g(t), LATERAL (SELECT t::date) x(d)
 WHERE extract(isodow FROM d) IN (1, 2) OR d = date '2026-11-20';
-- What backup_run would export, and where.
UPDATE mekatek.backup_config SET bucket = 'pharmacy-backups', prefix = 'mekatek';
INSERT INTO mekatek.backup_target (name, query)
VALUES ('roles', 'SELECT rolname FROM pg_roles WHERE rolname LIKE ''mekatek%'' ORDER BY 1');
SELECT t.name, format('%s/%s/%s/%s/<local time>_<UTC time>.csv.gz', c.prefix, current_database(), t.name,
                      mekatek.backup_category(current_date - 1)) AS next_key,
       c.keep_daily, c.keep_weekly, c.keep_monthly
  FROM mekatek.backup_target t, mekatek.backup_config c;
\echo 'Schedule it with pg_cron (in cron.database_name): CREATE EXTENSION IF NOT EXISTS pg_cron; SELECT cron.schedule(''mekatek-backup'', ''0 1 * * 2'', ''CALL mekatek.backup_run()'');'
