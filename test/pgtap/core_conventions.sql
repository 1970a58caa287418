-- Conventions every module must keep: comments on every public object
-- (tables, views, functions and aggregates, types, sequences),
-- pinned search_path on SECURITY DEFINER functions, nothing executable or
-- readable by PUBLIC, every table's rows and every sequence's position in
-- pg_dump's output.
BEGIN;
SELECT plan(8);

SELECT is_empty($$
    SELECT c.oid::regclass::text FROM pg_class c
     WHERE c.relnamespace = 'mekatek'::regnamespace
       AND c.relkind IN ('r', 'v', 'm', 'p', 'f')
       AND obj_description(c.oid, 'pg_class') IS NULL $$,
    'every table and view in schema mekatek has a COMMENT');

SELECT is_empty($$
    SELECT p.oid::regprocedure::text FROM pg_proc p
     WHERE p.pronamespace = 'mekatek'::regnamespace
       AND obj_description(p.oid, 'pg_proc') IS NULL $$,
    'every function in schema mekatek has a COMMENT');

SELECT is_empty($$
    SELECT t.oid::regtype::text FROM pg_type t
      LEFT JOIN pg_class c ON c.oid = t.typrelid
     WHERE t.typnamespace = 'mekatek'::regnamespace
       AND t.typtype IN ('b', 'c', 'd', 'e', 'r')
       AND t.typcategory <> 'A'
       AND (t.typrelid = 0 OR c.relkind = 'c')
       AND obj_description(t.oid, 'pg_type') IS NULL $$,
    'every type in schema mekatek has a COMMENT');

-- Sequences of identity and serial columns belong to their table (whose
-- COMMENT covers them); a sequence of its own needs one.
SELECT is_empty($$
    SELECT c.oid::regclass::text FROM pg_class c
     WHERE c.relnamespace = 'mekatek'::regnamespace
       AND c.relkind = 'S'
       AND NOT EXISTS (SELECT FROM pg_depend d
                        WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                          AND d.refobjsubid > 0 AND d.deptype IN ('a', 'i'))
       AND obj_description(c.oid, 'pg_class') IS NULL $$,
    'every sequence in schema mekatek that no column owns has a COMMENT');

-- One exception, a C function whose SQL all runs through the pinned SPI
-- helpers (listed with the reason in core_search_path.sql, where the
-- hijack replay for it is ledger_search_path.sql).
SELECT is_empty($$
    SELECT p.oid::regprocedure::text FROM pg_proc p
     WHERE p.pronamespace = 'mekatek'::regnamespace
       AND p.prosecdef
       AND NOT EXISTS (SELECT FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%')
       AND p.oid <> 'mekatek.chat_ingest(text, text, text, text, timestamptz, text, text, boolean, text)'::regprocedure $$,
    'every SECURITY DEFINER function pins search_path (one listed C exception)');

SELECT is_empty($$
    SELECT p.oid::regprocedure::text FROM pg_proc p
     WHERE p.pronamespace = 'mekatek'::regnamespace
       AND has_function_privilege('public', p.oid, 'EXECUTE') $$,
    'PUBLIC may execute no function in schema mekatek');

-- pg_dump writes the rows of an extension's table only when the table is
-- registered with pg_extension_config_dump; an unregistered table comes
-- back empty from a restore, without any error.  A table whose rows the
-- extension writes itself at install (and that a user never changes)
-- goes on this list, with the reason:
--   ledger_command: the command words the ledger's parser knows, written
--     by the install script and changed only by an upgrade script.
--   fw_prefix_action_default: the built-in LOG prefixes, written by the
--     install script; a user overrides them in fw_prefix_action (dumped).
-- backup_config is filled at install too, but it holds the DBA's policy
-- and is registered (a restored row replaces the installed one).
SELECT is_empty($$
    SELECT c.oid::regclass::text FROM pg_class c
      JOIN pg_extension e ON e.extname = 'mekatek'
     WHERE c.relnamespace = 'mekatek'::regnamespace
       AND c.relkind IN ('r', 'p')
       AND NOT c.oid = ANY (coalesce(e.extconfig, '{}'))
       AND c.relname <> ALL (ARRAY['ledger_command', 'fw_prefix_action_default']::name[]) $$,
    'every table in schema mekatek is registered with pg_extension_config_dump or listed as install-only');

-- A restored table whose sequence is not registered starts its ids at 1
-- again: the first insert after the restore fails on the primary key.
SELECT is_empty($$
    SELECT s.oid::regclass::text FROM pg_class s
      JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid
                      AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
      JOIN pg_extension e ON e.extname = 'mekatek'
     WHERE s.relkind = 'S'
       AND d.refobjid = ANY (coalesce(e.extconfig, '{}'))
       AND NOT s.oid = ANY (e.extconfig) $$,
    'every sequence behind a registered table is registered too');

SELECT * FROM finish();
ROLLBACK;
