-- Mekatek upgrade 0.1.0 -> 0.2.0, module devices.

-- ---------------------------------------------------------------------
-- pg_dump: these tables hold what users wrote, so pg_dump must write
-- their rows (and the sequences' positions) although they belong to the
-- extension.  A restore loads them with session_replication_role =
-- replica so that no trigger acts on them a second time (README, DBA).
-- ---------------------------------------------------------------------
SELECT pg_catalog.pg_extension_config_dump('mekatek.lab_item', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.lab_item_history', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.rfid_scan', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.room', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.visitor_event', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.room_occupancy', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.capacity_alert', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.door_card', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.door_attempt', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.lab_item_item_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.lab_item_history_history_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.rfid_scan_scan_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.visitor_event_event_no_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.capacity_alert_alert_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.door_card_card_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.door_attempt_attempt_id_seq', '');
