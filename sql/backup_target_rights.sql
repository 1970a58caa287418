-- Issue 14 §2: a backup target's query runs with the rights of the role
-- that wrote it, read-only, as a security-restricted operation, and only
-- for a caller that has that role's privileges.  s3_export's query runs
-- with the caller's rights, read-only.  Everything here fails before any
-- byte is uploaded: the S3 endpoint is a closed port.
SET mekatek.s3_endpoint = 'http://127.0.0.1:1';
SET mekatek.s3_access_key_id = 'AKIDRIGHTS';
SET mekatek.s3_secret_access_key = 'rights-secret';
SET mekatek.s3_max_retries = 0;
CREATE ROLE bk_rights_adm LOGIN IN ROLE mekatek_admin;
CREATE ROLE bk_rights_adm2 LOGIN IN ROLE mekatek_admin;
CREATE FUNCTION pg_temp.bk_rights_write() RETURNS int LANGUAGE sql
    AS 'INSERT INTO mekatek.backup_config DEFAULT VALUES ON CONFLICT DO NOTHING RETURNING 1';
GRANT EXECUTE ON FUNCTION pg_temp.bk_rights_write() TO PUBLIC;

-- An admin cannot name another owner: the row records who wrote it.
SET ROLE bk_rights_adm;
INSERT INTO mekatek.backup_target (name, query, owner) VALUES ('rights_loot', 'SELECT 1', 'postgres');
SELECT name, owner FROM mekatek.backup_target WHERE name = 'rights_loot';
RESET ROLE;
UPDATE mekatek.backup_target SET owner = 'bk_rights_adm2' WHERE name = 'rights_loot';
SELECT name, owner FROM mekatek.backup_target WHERE name = 'rights_loot';
SET ROLE bk_rights_adm;
UPDATE mekatek.backup_target SET enabled = false WHERE name = 'rights_loot';
SELECT name, owner FROM mekatek.backup_target WHERE name = 'rights_loot';

-- The observed attack: a data-modifying CTE making its author superuser.
SELECT * FROM mekatek.s3_export($$WITH u AS (UPDATE pg_catalog.pg_authid SET rolsuper = true
    WHERE rolname = 'bk_rights_adm' RETURNING rolname) SELECT * FROM u$$, 'my-bucket', 'k.csv');
SELECT * FROM mekatek.s3_export('SELECT * FROM mekatek.backup_config FOR UPDATE', 'my-bucket', 'k.csv');
SELECT * FROM mekatek.s3_export('SELECT pg_temp.bk_rights_write()', 'my-bucket', 'k.csv');
RESET ROLE;

-- As backup_run under pg_cron does it: a superuser runs the admin's target.
SELECT * FROM mekatek.backup_export_object($$WITH u AS (UPDATE pg_catalog.pg_authid SET rolsuper = true
    WHERE rolname = 'bk_rights_adm' RETURNING rolname) SELECT * FROM u$$, 'my-bucket', 'k.csv', '', NULL, 'bk_rights_adm');
SELECT * FROM mekatek.backup_export_object('SELECT rolname, rolpassword FROM pg_catalog.pg_authid',
    'my-bucket', 'k.csv', '', NULL, 'bk_rights_adm');
SELECT * FROM mekatek.backup_export_object($$SELECT current_setting('mekatek.s3_secret_access_key')$$,
    'my-bucket', 'k.csv', '', NULL, 'bk_rights_adm');
SELECT * FROM mekatek.backup_export_object($$SELECT set_config('role', 'postgres', false)$$,
    'my-bucket', 'k.csv', '', NULL, 'bk_rights_adm');
SELECT * FROM mekatek.backup_export_object('SELECT pg_temp.bk_rights_write()',
    'my-bucket', 'k.csv', '', NULL, 'bk_rights_adm');
SELECT rolsuper FROM pg_roles WHERE rolname = 'bk_rights_adm';
SELECT current_user, current_setting('transaction_read_only') AS read_only;

-- Never a way up: an admin cannot run another admin's, or a superuser's, target.
SET ROLE bk_rights_adm2;
SELECT * FROM mekatek.backup_export_object('SELECT 1', 'my-bucket', 'k.csv', '', NULL, 'bk_rights_adm');
SELECT * FROM mekatek.backup_export_object('SELECT 1', 'my-bucket', 'k.csv', '', NULL, 'postgres');
SELECT * FROM mekatek.backup_export_object('SELECT 1', 'my-bucket', 'k.csv', '', NULL, NULL);
RESET ROLE;

DELETE FROM mekatek.backup_target WHERE name = 'rights_loot';
DROP ROLE bk_rights_adm, bk_rights_adm2;
