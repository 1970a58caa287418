-- Mekatek upgrade 0.1.0 -> 0.2.0, module pos.

-- ---------------------------------------------------------------------
-- pg_dump: these tables hold what users wrote, so pg_dump must write
-- their rows (and the sequences' positions) although they belong to the
-- extension.  A restore loads them with session_replication_role =
-- replica so that no trigger acts on them a second time (README, DBA).
-- ---------------------------------------------------------------------
SELECT pg_catalog.pg_extension_config_dump('mekatek.branch', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.product', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.batch', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.sale', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.sale_line', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.stock_movement', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.staff', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.branch_branch_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.product_product_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.batch_batch_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.sale_sale_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.stock_movement_movement_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.audit_log_audit_id_seq', '');
