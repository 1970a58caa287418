-- Mekatek upgrade 0.1.0 -> 0.2.0, module firewall.

-- ---------------------------------------------------------------------
-- pg_dump: these tables hold what users wrote, so pg_dump must write
-- their rows (and the sequences' positions) although they belong to the
-- extension.  A restore loads them with session_replication_role =
-- replica so that no trigger acts on them a second time (README, DBA).
-- ---------------------------------------------------------------------
SELECT pg_catalog.pg_extension_config_dump('mekatek.fw_prefix_action', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.fw_log', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.fw_log_raw', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.fw_reject', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.fw_rule', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.fw_chain_policy', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.fw_log_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.fw_log_raw_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.fw_reject_id_seq', '');
