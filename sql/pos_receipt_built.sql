-- checkout() writes its sale's receipt itself (from what it has computed,
-- the lots the stock trigger took and the row the guard trigger stored)
-- instead of reading it back: it must equal mekatek.receipt() byte for
-- byte, for every shape of sale.  Each query compares the two as text
-- (jsonb's = would call 11 and 11.00 equal).
SELECT current_database() AS regress_db \gset
CREATE DATABASE regress_receipt_built;
\c regress_receipt_built
\set SHOW_CONTEXT never
SET client_min_messages = warning;
-- the session's zone and style are not the branches'
SET timezone = 'America/New_York';
SET datestyle = 'ISO, YMD';
CREATE EXTENSION mekatek CASCADE;

CREATE ROLE regress_rb_admin LOGIN IN ROLE mekatek_admin;
CREATE ROLE regress_rb_sari LOGIN IN ROLE mekatek_cashier;
CREATE ROLE regress_rb_joko LOGIN IN ROLE mekatek_cashier;

SET ROLE regress_rb_admin;
INSERT INTO mekatek.branch (name, payment_methods, prices_include_tax, time_zone) VALUES
    ('Apotek Pusat', DEFAULT, true, 'Asia/Jakarta'),
    ('Apotek Makassar', DEFAULT, false, 'Asia/Makassar');
INSERT INTO mekatek.staff (role_name, full_name, branch_id) VALUES
    ('regress_rb_sari', 'Sari Dewi', 1), ('regress_rb_joko', 'Joko "JW" Widodo', 2);
INSERT INTO mekatek.tax_class (tax_class, rate) VALUES ('exempt', 0), ('half', 5.5);
INSERT INTO mekatek.product (sku, name, price, min_stock, tax_class) VALUES
    ('PCT500', 'Paracetamol 500 mg', 5000, 5, NULL),
    ('AMX500', 'Amoxicillin 500 mg', 12000.50, 5, 'exempt'),
    ('VIT-C', 'Vitamin C "1000" ñ', 999.99, 0, 'half');
-- two lots of paracetamol at branch 1, so one line takes from both
SELECT count(*) FROM (
  SELECT mekatek.receive_stock('PCT500', 'P-1', '2031-03-31', 3, NULL, 1),
         mekatek.receive_stock('PCT500', 'P-2', '2031-09-30', 100, NULL, 1),
         mekatek.receive_stock('PCT500', 'P-0', '2031-03-31', 2, NULL, 1),
         mekatek.receive_stock('AMX500', 'A-1', '2031-06-30', 100, NULL, 1),
         mekatek.receive_stock('VIT-C', 'V-1', '2031-06-30', 100, NULL, 1),
         mekatek.receive_stock('PCT500', 'M-1', '2031-06-30', 100, NULL, 2),
         mekatek.receive_stock('AMX500', 'M-2', '2031-06-30', 100, NULL, 2),
         mekatek.receive_stock('VIT-C', 'M-3', '2031-06-30', 100, NULL, 2)) x;
RESET ROLE;

CREATE FUNCTION pg_temp.same(r jsonb) RETURNS text LANGUAGE sql AS $$
  SELECT CASE WHEN r::text = mekatek.receipt((r->>'sale_id')::bigint)::text THEN 'same'
              ELSE 'DIFFERENT: ' || r::text || ' <> ' || mekatek.receipt((r->>'sale_id')::bigint)::text END
$$;

-- Sari: one line over three lots (two with the same expiry), the same
-- product on a second line, an amount discount with cents, a sale discount
-- in percent, QRIS and cash with change.
SET ROLE regress_rb_sari;
SELECT pg_temp.same(mekatek.checkout(1,
    '[{"sku": "PCT500", "qty": 7, "discount_amount": 1500.50},
      {"sku": "AMX500", "qty": "2", "discount_percent": 5.5},
      {"sku": "PCT500", "qty": 1},
      {"sku": "VIT-C", "qty": 3}]',
    payments => '[{"method": "qris", "amount": 10000, "reference": "QR-1"},
                  {"method": "cash", "amount": 100000}]',
    discount => '{"percent": 3.25}')) AS sari_1;
-- the lots it took, for the record
SELECT jsonb_path_query_array(mekatek.receipt(max(sale_id)), '$.lines[*].lots[*].lot') FROM mekatek.sale;
-- exact cash, no change; an amount discount on the sale
SELECT pg_temp.same(mekatek.checkout(1, '[{"sku": "VIT-C", "qty": 1}]',
    payments => '[{"method": "cash", "amount": 949.99}]', discount => '{"amount": 50}')) AS sari_exact;
-- a retried request reads its first sale's receipt back: the same
SELECT pg_temp.same(mekatek.checkout(1, '[{"sku": "AMX500", "qty": 1}]',
    payments => '[{"method": "cash", "amount": 20000}]', idempotency_key => 'k-1')) AS sari_key,
       pg_temp.same(mekatek.checkout(1, '[{"sku": "AMX500", "qty": 1}]',
    payments => '[{"method": "cash", "amount": 20000}]', idempotency_key => 'k-1')) AS sari_retry;
RESET ROLE;

-- Joko at a branch that adds PPN on top, in another zone: card only (no
-- cash, so "change" is a bare 0), a name with quotes.
SET ROLE regress_rb_joko;
SELECT mekatek.checkout(2, '[{"sku": "PCT500", "qty": 2}, {"sku": "VIT-C", "qty": 1}]',
    payments => '[{"method": "debit_card", "amount": 12154.99, "reference": "APP-9"}]') AS r \gset
SELECT pg_temp.same(:'r'), :'r'::jsonb->'change' AS change, :'r'::jsonb->'prices_include_tax' AS incl;
RESET ROLE;

-- An admin without a staff row (cashier name null), half off.
SET ROLE regress_rb_admin;
SELECT mekatek.checkout(1, '[{"sku": "AMX500", "qty": 1, "discount_percent": 50}]',
    payments => '[{"method": "cash", "amount": 50000}]') AS r \gset
SELECT pg_temp.same(:'r') AS admin, :'r'::jsonb->'cashier'->'name' AS cashier_name;
RESET ROLE;

-- Many random sales at both branches: every receipt the same.
SET ROLE regress_rb_admin;
SELECT count(*) AS sales, count(*) FILTER (WHERE same = 'same') AS same FROM (
  SELECT pg_temp.same(mekatek.checkout(b,
           jsonb_build_array(jsonb_build_object('sku', (ARRAY['PCT500','AMX500','VIT-C'])[1 + i % 3], 'qty', 1 + i % 4,
                                                'discount_percent', 1 + i % 20),
                             jsonb_build_object('sku', (ARRAY['PCT500','AMX500','VIT-C'])[1 + (i / 3) % 3], 'qty', 1)),
           payments => jsonb_build_array(jsonb_build_object('method', 'cash', 'amount', 500000)),
           discount => CASE WHEN i % 5 = 0 THEN jsonb_build_object('amount', i % 7 + 0.5) END)) AS same
    FROM generate_series(1, 40) i, LATERAL (SELECT 1 + i % 2 AS b) x) s;
RESET ROLE;

\c :regress_db
DROP DATABASE regress_receipt_built;
DROP ROLE regress_rb_admin, regress_rb_sari, regress_rb_joko;
