-- firewall: who may do what.  Analysts read logs and rules and run every
-- analysis; only admins load logs and import rules; devices and cashiers
-- get nothing of this module.
BEGIN;
SELECT plan(29);

SELECT ok(has_function_privilege('mekatek_analyst', 'mekatek.fw_parse(text)', 'EXECUTE'), 'analyst may parse');
SELECT ok(has_function_privilege('mekatek_analyst', 'mekatek.fw_anomalies(text)', 'EXECUTE'), 'analyst may classify anomalies');
SELECT ok(has_function_privilege('mekatek_analyst', 'mekatek.fw_rule_usage(text, timestamptz, timestamptz)', 'EXECUTE'), 'analyst may compute usage');
SELECT ok(has_function_privilege('mekatek_analyst', 'mekatek.fw_generalize(timestamptz, timestamptz, int, int, int)', 'EXECUTE'), 'analyst may generalise');
SELECT ok(has_table_privilege('mekatek_analyst', 'mekatek.fw_log', 'SELECT'), 'analyst reads the log');
SELECT ok(NOT has_table_privilege('mekatek_analyst', 'mekatek.fw_log', 'INSERT'), 'analyst does not write the log');
SELECT ok(NOT has_function_privilege('mekatek_analyst', 'mekatek.fw_load(text)', 'EXECUTE'), 'analyst does not load');
SELECT ok(NOT has_function_privilege('mekatek_analyst', 'mekatek.fw_import_iptables(text, text)', 'EXECUTE'), 'analyst does not import rules');
SELECT ok(has_function_privilege('mekatek_admin', 'mekatek.fw_load(text)', 'EXECUTE'), 'admin loads');
SELECT ok(has_function_privilege('mekatek_admin', 'mekatek.fw_anomalies(text)', 'EXECUTE'), 'admin analyses (through analyst)');
SELECT ok(NOT has_table_privilege('mekatek_device', 'mekatek.fw_log', 'SELECT'), 'device does not read the log');
SELECT ok(NOT has_function_privilege('mekatek_cashier', 'mekatek.fw_parse(text)', 'EXECUTE'), 'cashier does not parse');

-- and in practice: an analyst reads, and is refused a load with 42501
CREATE ROLE fw_tap_analyst IN ROLE mekatek_analyst;
CREATE ROLE fw_tap_admin IN ROLE mekatek_admin;
SET ROLE fw_tap_admin;
SELECT is((SELECT loaded FROM mekatek.fw_load('X IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2 PROTO=UDP SPT=1 DPT=2')), 1::bigint,
          'admin loads a line');
RESET ROLE;
SET ROLE fw_tap_analyst;
SELECT is((SELECT count(*) FROM mekatek.fw_log WHERE src = '10.0.0.1'), 1::bigint, 'analyst sees it');
SELECT throws_ok($$ SELECT mekatek.fw_load('X IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2') $$, '42501', NULL,
                 'analyst may not load');
SELECT throws_ok($$ SELECT mekatek.fw_import_iptables('p', '-A INPUT -j ACCEPT') $$, '42501', NULL,
                 'analyst may not import rules');
RESET ROLE;

-- fw_load_file reads a server file: like COPY FROM a file it needs
-- superuser or pg_read_server_files on top of the right to load.
SELECT ok(has_function_privilege('mekatek_admin', 'mekatek.fw_load_file(text)', 'EXECUTE'), 'admin may call fw_load_file');
SELECT ok(NOT has_function_privilege('mekatek_analyst', 'mekatek.fw_load_file(text)', 'EXECUTE'), 'analyst may not');
DO $$
DECLARE o oid := lo_from_bytea(0, convert_to(E'X IN=eth0 OUT= SRC=10.7.7.7 DST=10.0.0.2 PROTO=UDP SPT=1 DPT=2\ngarbage\n', 'UTF8'));
BEGIN
    PERFORM lo_export(o, 'fwload_roles.log');
    PERFORM lo_unlink(o);
END $$;
-- (and only inside mekatek.fw_log_directory: here the data directory)
DO $$ BEGIN PERFORM set_config('mekatek.fw_log_directory', current_setting('data_directory'), true); END $$;
CREATE ROLE fw_tap_reader IN ROLE mekatek_admin, pg_read_server_files;
CREATE ROLE fw_tap_reader_only IN ROLE pg_read_server_files;
GRANT EXECUTE ON FUNCTION mekatek.fw_load_file(text) TO fw_tap_reader_only;
GRANT USAGE ON SCHEMA mekatek TO fw_tap_reader_only;
SET ROLE fw_tap_analyst;
SELECT throws_ok($$ SELECT mekatek.fw_load_file('fwload_roles.log') $$, '42501', NULL,
                 'analyst: 42501 (no EXECUTE)');
RESET ROLE;
SET ROLE fw_tap_admin;
SELECT throws_ok($$ SELECT mekatek.fw_load_file('fwload_roles.log') $$, '42501',
                 'permission denied to read server file "fwload_roles.log"',
                 'admin without pg_read_server_files: 42501');
RESET ROLE;
SET ROLE fw_tap_reader_only;
SELECT throws_ok($$ SELECT mekatek.fw_load_file('fwload_roles.log') $$, '42501',
                 'permission denied for table fw_reject',
                 'a file reader without INSERT on the log tables: 42501');
RESET ROLE;
GRANT INSERT ON mekatek.fw_reject TO fw_tap_reader_only;
SET ROLE fw_tap_reader_only;
SELECT throws_ok($$ SELECT mekatek.fw_load_file('fwload_roles.log') $$, '42501',
                 'permission denied for table fw_log',
                 'INSERT on fw_log is checked as COPY checks it');
RESET ROLE;
SET ROLE fw_tap_reader;
SELECT results_eq($$ SELECT loaded, rejected FROM mekatek.fw_load_file('fwload_roles.log') $$,
                  $$ VALUES (1::bigint, 1::bigint) $$, 'admin with pg_read_server_files loads the file');
RESET ROLE;
SELECT results_eq($$ SELECT line, line_no, source FROM mekatek.fw_reject WHERE source = 'fwload_roles.log' $$,
                  $$ VALUES ('garbage'::text, 2::bigint, 'fwload_roles.log'::text) $$, 'its reject is kept with its line number');


-- Rejected lines can hold anything of the file read (issue 14: an analyst
-- read postgresql.auto.conf this way): admins read them, analysts the counts.
SELECT ok(NOT has_table_privilege('mekatek_analyst', 'mekatek.fw_reject', 'SELECT'), 'analyst does not read rejected lines');
SELECT ok(has_table_privilege('mekatek_admin', 'mekatek.fw_reject', 'SELECT'), 'admin reads rejected lines');
SET ROLE fw_tap_analyst;
SELECT throws_ok($$ SELECT line FROM mekatek.fw_reject $$, '42501', 'permission denied for table fw_reject',
                 'analyst: 42501 on fw_reject');
SELECT results_eq($$ SELECT rejected, first_line_no FROM mekatek.fw_reject_counts WHERE source = 'fwload_roles.log' $$,
                  $$ VALUES (1::bigint, 2::bigint) $$, 'analyst sees how many lines the load rejected');
RESET ROLE;
SELECT ok(NOT has_table_privilege('mekatek_device', 'mekatek.fw_reject_counts', 'SELECT'), 'device sees no counts');

SELECT * FROM finish();
ROLLBACK;
