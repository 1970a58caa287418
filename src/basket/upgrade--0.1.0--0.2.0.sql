-- Mekatek upgrade 0.1.0 -> 0.2.0, module basket.

-- ---------------------------------------------------------------------
-- pg_dump: these tables hold what users wrote, so pg_dump must write
-- their rows (and the sequences' positions) although they belong to the
-- extension.  A restore loads them with session_replication_role =
-- replica so that no trigger acts on them a second time (README, DBA).
-- ---------------------------------------------------------------------
SELECT pg_catalog.pg_extension_config_dump('mekatek.basket_run', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.basket_itemset', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.basket_rule', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.basket_run_run_id_seq', '');
