-- Issue 14: pos's C functions pin exactly the path the core SPI helpers
-- pin (MK_SEARCH_PATH, src/core/mekatek.h).  A function that pins another
-- path (pg_catalog, pg_temp was 0.1.0's) makes every SPI statement inside
-- it set and restore search_path, and every statement then recomputes the
-- namespace search path: the flip costs a sale a few percent of its CPU.
-- With the same path, fmgr sets it once per call and the helpers see it
-- already in place.
BEGIN;
SELECT plan(2);

SELECT is(array_agg(p.oid::regprocedure ORDER BY p.oid::regprocedure::text), NULL,
          'every pos C function with a SET clause pins pg_catalog, mekatek, pg_temp')
FROM pg_proc p, unnest(p.proconfig) c
WHERE p.pronamespace = 'mekatek'::regnamespace
  AND p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'c')
  AND obj_description(p.oid, 'pg_proc') LIKE 'pos:%'
  AND c LIKE 'search\_path=%'
  AND c <> 'search_path=pg_catalog, mekatek, pg_temp';

-- a checkout under the caller's own path leaves that path as it was
INSERT INTO mekatek.branch (name) VALUES ('Tap path');
INSERT INTO mekatek.product (sku, name, price) VALUES ('TAPPATH', 'Path thing', 1000);
SELECT mekatek.receive_stock('TAPPATH', 'P1', current_date + 30, 5,
                             branch_id => (SELECT branch_id FROM mekatek.branch WHERE name = 'Tap path'));
SET search_path = public, pg_catalog;
SELECT mekatek.checkout((SELECT branch_id FROM mekatek.branch WHERE name = 'Tap path'),
                        '[{"sku": "TAPPATH", "qty": 2}]', '[{"method": "cash", "amount": 5000}]') IS NOT NULL AS sold;
SELECT is(current_setting('search_path'), 'public, pg_catalog', 'the caller''s path is unchanged after a checkout');
RESET search_path;

SELECT * FROM finish();
ROLLBACK;
