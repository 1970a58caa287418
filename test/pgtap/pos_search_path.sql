-- Issue 14: pos's C functions pin exactly the path the core SPI helpers
-- pin (MK_SEARCH_PATH, src/core/mekatek.h).  A function that pins another
-- path (pg_catalog, pg_temp was 0.1.0's) makes every SPI statement inside
-- it set and restore search_path, and every statement then recomputes the
-- namespace search path: the flip costs a sale a few percent of its CPU.
-- With the same path, fmgr sets it once per call and the helpers see it
-- already in place.  core_c_search_path.sql checks the paths of every
-- module's C functions; this file checks what a cashier sees.
BEGIN;
SELECT plan(1);

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
