-- Issue 21: no ledger function runs the caller's search_path.
-- ledger_setup pins the core SPI helpers' path (MK_SEARCH_PATH,
-- src/core/mekatek.h).  chat_ingest pins none (a SET clause would save and
-- restore the GUCs around every message): a plain sale or payment runs no
-- statement of ours (src/ledger/direct.c works by OID), every other
-- statement runs through the pinned helpers (ingest.c's lk_run), and the
-- user's own code on our tables (a row trigger, a CHECK calling its
-- functions) sends the write to those statements.  The replay below puts
-- an = for text that is always true ahead of pg_catalog on the caller's
-- path: if any lookup used it, a new message would be a "duplicate" of
-- an old one, a sender would be someone else, the books would be wrong.
BEGIN;
SELECT plan(6);

SELECT is(p.proconfig, ARRAY['search_path=pg_catalog, mekatek, pg_temp'],
          'ledger_setup pins the core SPI helpers'' path')
  FROM pg_proc p WHERE p.oid = 'mekatek.ledger_setup(text, text)'::regprocedure;
SELECT is(p.proconfig, NULL, 'chat_ingest has no SET clause (core_search_path lists why)')
  FROM pg_proc p
 WHERE p.oid = 'mekatek.chat_ingest(text, text, text, text, timestamptz, text, text, boolean, text)'::regprocedure;

SELECT mekatek.ledger_setup('6281100000077', 'Tap owner');
SELECT (mekatek.chat_ingest('tap', 'path-0', 'g-tap-path@g.us', '6281100000077@c.us', now(),
                            'groupadd 081200000077 Tap path')).outcome;
SELECT (mekatek.chat_ingest('tap', 'path-1', 'g-tap-path@g.us', '6281100000077@c.us', now(),
                            'done 1 x 5000')).outcome;

CREATE SCHEMA tap_ledger_evil;
CREATE FUNCTION tap_ledger_evil.eqt(text, text) RETURNS boolean
    LANGUAGE sql IMMUTABLE AS 'SELECT true';
CREATE OPERATOR tap_ledger_evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = tap_ledger_evil.eqt);
SET search_path = tap_ledger_evil, pg_catalog, mekatek;
-- (pgTAP's own queries would meet the hijacked = too: assert afterwards)
CREATE TEMP TABLE said AS
SELECT 'rows' AS way, (mekatek.chat_ingest('tap', 'path-2', 'g-tap-path@g.us', '6281100000077@c.us', now(),
                                           'done 2 x 1000')).*;
INSERT INTO said
SELECT 'statements', (mekatek.chat_ingest('tap', 'path-3', 'g-tap-path@g.us', '6281100000077@c.us', now(),
                                          'cancel')).*;
INSERT INTO said
SELECT 'total', (mekatek.chat_ingest('tap', 'path-4', 'g-tap-path@g.us', '6281100000077@c.us', now(),
                                     'total')).*;
CREATE TEMP TABLE path_after AS SELECT current_setting('search_path') AS path;
RESET search_path;

SELECT is((SELECT path FROM path_after), 'tap_ledger_evil, pg_catalog, mekatek',
          'the caller''s path is unchanged after chat_ingest');
SELECT results_eq($$SELECT way, outcome, unpaid FROM said ORDER BY way$$,
                  $$VALUES ('rows', 'recorded', 7000::bigint), ('statements', 'recorded', 5000::bigint),
                           ('total', 'answered', 5000::bigint)$$,
                  'under a hijacked = every message is booked as itself, by rows and by statements');
SELECT is((SELECT unpaid FROM mekatek.ledger_group WHERE group_id = 'g-tap-path@g.us'),
          (SELECT sum(amount)::bigint FROM mekatek.ledger_entry WHERE group_id = 'g-tap-path@g.us'),
          'and the books balance');
SELECT is((SELECT count(*)::int FROM mekatek.ledger_message WHERE source = 'tap'), 5,
          'five messages stored, none taken for another');

SELECT * FROM finish();
ROLLBACK;
