-- Issue 14 §3: no function of ours runs the caller's search_path.
-- Every SECURITY DEFINER and every trigger function in schema mekatek
-- pins it with a SET clause, except the C trigger functions below: their
-- SQL goes through core/spi.c, which parses, plans and replans it under
-- MK_SEARCH_PATH (a SET clause would cost a GUC save and restore per row).
-- Then a cashier who may create objects in a schema on its own path (a
-- database upgraded from PostgreSQL 14, where public was writable) replays
-- the observed attack: an = for bigint and for text of its own, ahead of
-- pg_catalog, does not change the price a sale is charged.
BEGIN;
SELECT plan(9);

CREATE TEMP TABLE pin_exempt (fn regprocedure PRIMARY KEY, why text NOT NULL);
INSERT INTO pin_exempt VALUES
    ('mekatek.pos_line_fill_trg()', 'C, per row; its SQL runs through the pinned SPI helpers'),
    ('mekatek.pos_sale_guard_trg()', 'C, per row; its SQL runs through the pinned SPI helpers'),
    ('mekatek.pos_append_only_trg()', 'C; raises an error, runs no SQL'),
    ('mekatek.ledger_append_only()', 'C; raises an error, runs no SQL'),
    ('mekatek.rfid_uid_normalise()', 'C, per row; normalises NEW.uid, runs no SQL'),
    ('mekatek.chain_place_trg()', 'C, per row on every sale table; its SQL runs through the pinned SPI helpers'),
    ('mekatek.chat_ingest(text, text, text, text, timestamptz, text, text, boolean, text)',
     'C, per message; a plain sale runs no SQL of ours, the rest runs through the pinned SPI helpers');

SELECT is(array_agg(p.oid::regprocedure ORDER BY p.oid::regprocedure::text), NULL,
          'every SECURITY DEFINER or trigger function pins search_path (or is a listed C exception)')
FROM pg_proc p
WHERE p.pronamespace = 'mekatek'::regnamespace
  AND (p.prosecdef OR p.prorettype = 'trigger'::regtype)
  AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search\_path=%')
  AND p.oid NOT IN (SELECT fn FROM pin_exempt);

SELECT is(array_agg(p.oid::regprocedure), NULL,
          'every exception is a C function')
FROM pg_proc p JOIN pin_exempt e ON e.fn = p.oid
WHERE p.prolang <> (SELECT oid FROM pg_language WHERE lanname = 'c');

-- A pinned path names only schemas a Mekatek role cannot create in.
SELECT is(array_agg(DISTINCT c), NULL, 'pinned paths hold only pg_catalog, mekatek and pg_temp')
FROM pg_proc p, unnest(p.proconfig) c
WHERE p.pronamespace = 'mekatek'::regnamespace AND c LIKE 'search\_path=%'
  AND EXISTS (SELECT 1 FROM unnest(string_to_array(replace(substr(c, 13), ' ', ''), ',')) s
              WHERE s NOT IN ('pg_catalog', 'mekatek', 'pg_temp'));

-- The replay.
CREATE ROLE tap_sp_cashier LOGIN IN ROLE mekatek_cashier;
CREATE SCHEMA tap_writable AUTHORIZATION tap_sp_cashier;
INSERT INTO mekatek.branch (name) VALUES ('Tap SP');
INSERT INTO mekatek.staff (role_name, full_name, branch_id)
SELECT 'tap_sp_cashier', 'Kasir SP', branch_id FROM mekatek.branch WHERE name = 'Tap SP';
-- AMX500's id is far from any sale's, so that the hijacked = below
-- changes only the product lookup.
INSERT INTO mekatek.product (product_id, sku, name, price) OVERRIDING SYSTEM VALUE
VALUES (900000001, 'TAPAMX500', 'Amoxicillin 500', 12000);
INSERT INTO mekatek.product (sku, name, price) VALUES ('TAPCHEAP', 'Cheap thing', 2500);
SELECT mekatek.receive_stock('TAPAMX500', 'SP1', current_date + 30, 10);
SELECT mekatek.receive_stock('TAPCHEAP', 'SP2', current_date + 30, 10);
CREATE TEMP TABLE sp_ids AS
SELECT (SELECT branch_id FROM mekatek.branch WHERE name = 'Tap SP') AS branch,
       (SELECT product_id FROM mekatek.product WHERE sku = 'TAPCHEAP') AS cheap,
       (SELECT product_id FROM mekatek.product WHERE sku = 'TAPAMX500') AS amx;
GRANT SELECT ON sp_ids TO PUBLIC;

SET ROLE tap_sp_cashier;
-- product_id = AMX500's means "the cheap product"; so does sku = anything.
SELECT format($f$CREATE FUNCTION tap_writable.eq8(bigint, bigint) RETURNS boolean
                LANGUAGE sql IMMUTABLE AS
                'SELECT CASE WHEN $2 OPERATOR(pg_catalog.=) 900000001
                             THEN $1 OPERATOR(pg_catalog.=) %s
                             ELSE $1 OPERATOR(pg_catalog.=) $2 END'$f$,
              (SELECT cheap FROM sp_ids)) \gexec
CREATE FUNCTION tap_writable.eqt(text, text) RETURNS boolean
    LANGUAGE sql IMMUTABLE AS $$SELECT $1 OPERATOR(pg_catalog.=) 'TAPCHEAP'$$;
CREATE OPERATOR tap_writable.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = tap_writable.eq8);
CREATE OPERATOR tap_writable.= (LEFTARG = text, RIGHTARG = text, FUNCTION = tap_writable.eqt);
SET search_path = tap_writable, pg_catalog, mekatek;
-- (pgTAP's own queries would meet the hijacked = too: assert afterwards)
CREATE TEMP TABLE own_query AS
SELECT string_agg(p.sku, ',') AS skus FROM mekatek.product p WHERE p.sku = 'TAPAMX500';
CREATE TEMP TABLE sold AS
SELECT mekatek.checkout((SELECT branch FROM sp_ids), '[{"sku": "TAPAMX500", "qty": 1}]') AS sale_id;
-- the observed path: a sale and a line written directly, the BEFORE
-- trigger filling in the price
CREATE TEMP TABLE sold2 AS
WITH s AS (INSERT INTO mekatek.sale (branch_id) SELECT branch FROM sp_ids RETURNING sale_id)
SELECT sale_id FROM s;
INSERT INTO mekatek.sale_line (sale_id, line_no, product_id, qty)
SELECT sale_id, 1, (SELECT amx FROM sp_ids), 1 FROM sold2;
RESET search_path;
RESET ROLE;
SELECT is((SELECT skus FROM own_query), 'TAPCHEAP',
          'the cashier''s own = is in effect on its own queries');
SELECT is((SELECT p.sku || ' ' || l.unit_price::text
           FROM mekatek.sale_line l JOIN mekatek.product p USING (product_id)
           WHERE l.sale_id = (SELECT sale_id FROM sold)),
          'TAPAMX500 12000.00', 'checkout sells AMX500 at its own price under a hijacked search_path');
SELECT is((SELECT total FROM mekatek.sale WHERE sale_id = (SELECT sale_id FROM sold)), 12000::numeric,
          '...and the sale total is that price');
SELECT is((SELECT p.sku || ' ' || l.unit_price::text
           FROM mekatek.sale_line l JOIN mekatek.product p USING (product_id)
           WHERE l.sale_id = (SELECT sale_id FROM sold2)),
          'TAPAMX500 12000.00', 'a line inserted directly is filled with AMX500''s own price');
SELECT is((SELECT total FROM mekatek.sale WHERE sale_id = (SELECT sale_id FROM sold2)), 12000::numeric,
          '...and that sale''s total is that price');
SELECT is((SELECT sum(qty_on_hand)::int FROM mekatek.batch b JOIN mekatek.product p USING (product_id)
           WHERE p.sku = 'TAPCHEAP'), 10, 'the cheap product''s stock is untouched');

SELECT * FROM finish();
ROLLBACK;
