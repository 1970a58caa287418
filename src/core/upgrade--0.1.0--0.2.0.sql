-- Mekatek upgrade 0.1.0 -> 0.2.0, core part (first).
-- The upgrade script is this file, then each module's
-- src/<module>/upgrade--0.1.0--0.2.0.sql in the order of MODULES, the
-- whole install script of each module new in 0.2.0, and
-- src/core/privileges.sql.  Every schema change made after v0.1.0 goes
-- into the piece of the folder it belongs to; the upgrade test compares
-- the result with a fresh 0.2.0 install.
\echo Use "ALTER EXTENSION mekatek UPDATE TO '0.2.0'" to load this file. \quit
