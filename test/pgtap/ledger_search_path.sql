-- Issue 21: the ledger's C functions pin exactly the path the core SPI
-- helpers pin (MK_SEARCH_PATH, src/core/mekatek.h), as pos's do
-- (pos_search_path.sql): with another path every statement they run
-- would set and restore search_path again.
BEGIN;
SELECT plan(3);

-- the two with a SET clause (the other C functions run no SQL)
SELECT is(p.proconfig, ARRAY['search_path=pg_catalog, mekatek, pg_temp'],
          p.oid::regprocedure || ' pins the core SPI helpers'' path')
  FROM pg_proc p
 WHERE p.oid IN ('mekatek.chat_ingest(text, text, text, text, timestamptz, text, text, boolean, text)'::regprocedure,
                 'mekatek.ledger_setup(text, text)'::regprocedure)
 ORDER BY p.oid::regprocedure::text;

-- chat_ingest under the caller's own path leaves that path as it was
SELECT mekatek.ledger_setup('6281100000077', 'Tap owner');
SET search_path = public, pg_catalog;
SELECT (mekatek.chat_ingest('tap', 'path-1', 'g-tap-path@g.us', '6281100000077@c.us', now(),
                            'groupadd 081200000077 Tap path')).outcome;
SELECT (mekatek.chat_ingest('tap', 'path-2', 'g-tap-path@g.us', '6281100000077@c.us', now(),
                            'done 1 x 5000')).outcome;
SELECT is(current_setting('search_path'), 'public, pg_catalog', 'the caller''s path is unchanged after chat_ingest');
RESET search_path;

SELECT * FROM finish();
ROLLBACK;
