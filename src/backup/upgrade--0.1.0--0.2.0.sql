-- Mekatek upgrade 0.1.0 -> 0.2.0, module backup.

-- The self-reference made every pg_dump warn about a dependency loop.
ALTER TABLE mekatek.backup_object DROP CONSTRAINT backup_object_duplicate_of_fkey;

-- pg_dump writes the policy, the targets and the catalogue (and the
-- sequences' positions); see README, DBA.
SELECT pg_catalog.pg_extension_config_dump('mekatek.backup_config', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.backup_target', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.backup_object', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.backup_target_target_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.backup_object_object_id_seq', '');

-- A restore loads the dumped policy row into a table to which CREATE
-- EXTENSION has just given its default row: the loaded row replaces the
-- default instead of failing on the primary key (and the values a DBA set
-- survive).  ENABLE ALWAYS, because the restore procedure and logical
-- replication apply rows with session_replication_role = replica, where
-- ordinary triggers are silent.
CREATE FUNCTION mekatek.backup_config_replace() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    DELETE FROM mekatek.backup_config c WHERE c.singleton = NEW.singleton;
    RETURN NEW;
END $$;
COMMENT ON FUNCTION mekatek.backup_config_replace() IS
'Trigger: an inserted backup_config row (a restore) replaces the one row instead of colliding with it';
CREATE TRIGGER backup_config_replace BEFORE INSERT ON mekatek.backup_config
    FOR EACH ROW EXECUTE FUNCTION mekatek.backup_config_replace();
ALTER TABLE mekatek.backup_config ENABLE ALWAYS TRIGGER backup_config_replace;
