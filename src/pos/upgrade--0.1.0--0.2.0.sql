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

-- ---------------------------------------------------------------------
-- The branch's own time zone: days, weeks, months and receipts are cut
-- in it.  Existing branches get Asia/Jakarta, the default of 0.1.0's
-- users; an admin changes it with UPDATE.
-- ---------------------------------------------------------------------
ALTER TABLE mekatek.branch
    ADD COLUMN time_zone text NOT NULL DEFAULT 'Asia/Jakarta'
        CONSTRAINT branch_time_zone_known CHECK (pg_catalog.timezone(time_zone, timestamptz '2000-01-01 00:00+00') IS NOT NULL);
COMMENT ON COLUMN mekatek.branch.time_zone IS 'pos: the branch''s time zone (IANA name); its receipts, days, weeks and months are in it whatever the session''s setting';
