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
