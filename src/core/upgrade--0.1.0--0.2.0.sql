-- Mekatek upgrade 0.1.0 -> 0.2.0, core part (first).
-- The upgrade script is this file, then each module's
-- src/<module>/upgrade--0.1.0--0.2.0.sql in the order of MODULES, the
-- whole install script of each module new in 0.2.0, and
-- src/core/privileges.sql.  Every schema change made after v0.1.0 goes
-- into the piece of the folder it belongs to; the upgrade test compares
-- the result with a fresh 0.2.0 install.
\echo Use "ALTER EXTENSION mekatek UPDATE TO '0.2.0'" to load this file. \quit

-- is_admin() becomes the C admin check every module uses (src/core/roles.c).
CREATE OR REPLACE FUNCTION mekatek.is_admin() RETURNS boolean
LANGUAGE c STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'mk_is_admin';
ALTER FUNCTION mekatek.is_admin() RESET ALL;
COMMENT ON FUNCTION mekatek.is_admin() IS 'True when the acting role (the session''s, not a SECURITY DEFINER owner''s) has mekatek_admin''s privileges or is a superuser';

-- DROP EXTENSION mekatek drops its tables with their rows, CASCADE or not
-- (they are the extension's members): refused while they hold rows,
-- unless mekatek.drop_with_data is on (src/core/drop_guard.c).
CREATE FUNCTION mekatek.drop_guard() RETURNS event_trigger
AS 'MODULE_PATHNAME', 'mk_drop_guard' LANGUAGE C;
COMMENT ON FUNCTION mekatek.drop_guard() IS
'Event trigger: refuses DROP EXTENSION mekatek and DROP SCHEMA mekatek while the extension''s tables hold rows, unless mekatek.drop_with_data is on';
CREATE EVENT TRIGGER mekatek_drop_guard ON ddl_command_start
    WHEN TAG IN ('DROP EXTENSION', 'DROP SCHEMA')
    EXECUTE FUNCTION mekatek.drop_guard();
COMMENT ON EVENT TRIGGER mekatek_drop_guard IS
'Refuses to drop the extension mekatek (and its tables) while they hold rows; SET mekatek.drop_with_data = on forces it';
