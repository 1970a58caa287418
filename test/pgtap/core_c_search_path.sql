-- Every C function of ours that pins search_path pins exactly the path the
-- core SPI helpers pin (MK_SEARCH_PATH in src/core/mekatek.h).  With any
-- other path (0.1.0 pinned pg_catalog, pg_temp) every SPI statement inside
-- the function sets and restores search_path and recomputes the namespace
-- search path twice: issue 14 measured that as a few percent of a sale.
-- pos_search_path.sql checks a checkout leaves the caller's path alone.
BEGIN;
SELECT plan(1);

SELECT is(array_agg(p.oid::regprocedure ORDER BY p.oid::regprocedure::text), NULL,
          'every C function with a SET search_path pins pg_catalog, mekatek, pg_temp')
FROM pg_proc p, unnest(p.proconfig) c
WHERE p.pronamespace = 'mekatek'::regnamespace
  AND p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'c')
  AND c LIKE 'search\_path=%'
  AND c <> 'search_path=pg_catalog, mekatek, pg_temp';

SELECT * FROM finish();
ROLLBACK;
