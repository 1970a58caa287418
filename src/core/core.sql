-- Mekatek install script, core (first): schema, roles, conventions.
-- The install script is src/core/core.sql, each module's src/<module>/<module>.sql
-- in the order of the Makefile's MODULES, then src/core/privileges.sql;
-- each module owns one file.
\echo Use "CREATE EXTENSION mekatek CASCADE" to load this file. \quit

COMMENT ON SCHEMA mekatek IS 'Mekatek: shop, pharmacy and device logic enforced inside PostgreSQL';

-- Group roles are cluster-wide: create them when absent, never drop them
-- (other databases of the cluster may use them).  Logins are made members:
--   CREATE ROLE ana LOGIN PASSWORD '...' IN ROLE mekatek_cashier;
DO $roles$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['mekatek_admin', 'mekatek_cashier', 'mekatek_device', 'mekatek_analyst'] LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', r);
        END IF;
    END LOOP;
END
$roles$;

-- The admin may do what a cashier and an analyst may do, and more.
GRANT mekatek_cashier, mekatek_analyst TO mekatek_admin;

REVOKE ALL ON SCHEMA mekatek FROM PUBLIC;
GRANT USAGE ON SCHEMA mekatek TO mekatek_admin, mekatek_cashier, mekatek_device, mekatek_analyst;

-- The one admin rule (src/core/roles.c): the acting role (the session's,
-- as SET ROLE left it, never a SECURITY DEFINER function's owner) is a
-- superuser or has mekatek_admin's privileges.  C code asks the same.
CREATE FUNCTION mekatek.is_admin() RETURNS boolean
LANGUAGE c STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'mk_is_admin';
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
