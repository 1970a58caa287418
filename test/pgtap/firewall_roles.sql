-- firewall: who may do what.  Analysts read logs and rules and run every
-- analysis; only admins load logs and import rules; devices and cashiers
-- get nothing of this module.
BEGIN;
SELECT plan(16);

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

SELECT * FROM finish();
ROLLBACK;
