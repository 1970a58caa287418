-- A cashier's morning at the till (issue 15): a sale with a line
-- discount, PPN on one line and none on an exempt one, paid with cash and
-- QRIS with change given; its receipt as jsonb and as 32-column text; a
-- retried request; the errors an application catches; a partial return
-- the next day; the days' report.
--
-- The sale's time and its receipt number's date move with the day the
-- test runs: they are shown masked (the number of the day is not).
SET client_min_messages = warning;
\set SHOW_CONTEXT never
SET datestyle = 'ISO, YMD';
-- The session's zone is not the branch's: receipts and days follow the
-- branch (Asia/Jakarta).
SET timezone = 'America/New_York';
-- A database of its own, so that the numbers in the output are the till's.
SELECT current_database() AS regress_db \gset
CREATE DATABASE regress_till;
\c regress_till
SET client_min_messages = warning;
\set SHOW_CONTEXT never
SET datestyle = 'ISO, YMD';
SET timezone = 'America/New_York';
CREATE EXTENSION mekatek CASCADE;

CREATE ROLE regress_till_admin LOGIN IN ROLE mekatek_admin;
CREATE ROLE regress_sari LOGIN IN ROLE mekatek_cashier;
CREATE ROLE regress_joko LOGIN IN ROLE mekatek_cashier;
CREATE ROLE regress_temp LOGIN IN ROLE mekatek_cashier;   -- no staff row

SET ROLE regress_till_admin;
INSERT INTO mekatek.branch (name, payment_methods) VALUES
    ('Apotek Sehat Pusat', DEFAULT), ('Apotek Sehat Sleman', '{cash,qris}');
INSERT INTO mekatek.staff (role_name, full_name, branch_id) VALUES
    ('regress_sari', 'Sari Dewi', 1), ('regress_joko', 'Joko Widodo', 2);
-- PPN is 11% (mekatek.ppn_rate) unless the product's tax class says otherwise.
INSERT INTO mekatek.tax_class (tax_class, rate, note) VALUES ('exempt', 0, 'PPN-exempt medicines');
INSERT INTO mekatek.product (sku, name, unit, price, min_stock, tax_class) VALUES
    ('PCT500', 'Paracetamol 500 mg', 'strip', 5000, 5, NULL),
    ('AMX500', 'Amoxicillin 500 mg', 'strip', 12000, 5, 'exempt'),
    ('OBH100', 'OBH Combi syrup 100 ml with a long name', 'bottle', 18500, 1, NULL);
SELECT mekatek.receive_stock('PCT500', 'P-2611', '2031-09-30', 10, 3000) AS pct,
       mekatek.receive_stock('AMX500', 'A-0912', '2031-06-30', 10, 8000) AS amx,
       mekatek.receive_stock('OBH100', 'O-77', '2031-03-31', 3, 11000) AS obh;
RESET ROLE;

-- 07:30, Sari's first customer: 2 strips of paracetamol with 10% off, one
-- of amoxicillin (PPN-exempt), a bottle of syrup; Rp 40.000 in cash and
-- Rp 10.000 by QRIS.  The web app posts qty as text, as HTML forms do,
-- and a key so that a retry cannot sell twice.
SET ROLE regress_sari;
SELECT mekatek.checkout(1,
    '[{"sku": "PCT500", "qty": "2", "discount_percent": 10},
      {"sku": "AMX500", "qty": 1},
      {"sku": "OBH100", "qty": 1}]',
    payments => '[{"method": "cash", "amount": 40000},
                  {"method": "qris", "amount": 10000, "reference": "QRIS-8812-0001"}]',
    idempotency_key => 'web-7f3a-0001') AS r \gset
-- The receipt: totals computed in the database, PPN per line, the change.
SELECT jsonb_pretty(jsonb_set(jsonb_set(:'r'::jsonb, '{time}', '"(today, Asia/Jakarta)"'),
       '{receipt_no}', to_jsonb(regexp_replace(:'r'::jsonb->>'receipt_no', '-\d{8}-', '-YYYYMMDD-'))))
       AS receipt;
-- ...and for the 58 mm printer.
SELECT regexp_replace(regexp_replace(mekatek.receipt_text(1), '\d{2}-\d{2}-\d{4} \d{2}:\d{2}', 'DD-MM-YYYY hh:mm'),
                      '-\d{8}-', '-YYYYMMDD-') AS receipt_text;
-- The network hiccups and the app sends the same request again: the same
-- sale comes back, nothing is sold twice.
SELECT (mekatek.checkout(1, '[{"sku": "PCT500", "qty": 2}]', '[{"method": "cash", "amount": 10000}]',
                         idempotency_key => 'web-7f3a-0001'))->>'sale_id' AS same_sale;
SELECT count(*) AS sales, sum(total) AS takings FROM mekatek.sale;
SELECT b.lot, b.qty_on_hand FROM mekatek.batch b ORDER BY b.batch_id;

-- What an application catches.  Insufficient stock: SQLSTATE 23M01 of its
-- own, the DETAIL as JSON, and no SQL of ours in the CONTEXT.
\set SHOW_CONTEXT always
SELECT mekatek.checkout(1, '[{"sku": "OBH100", "qty": 5}]', '[{"method": "cash", "amount": 100000}]');
DO $$
DECLARE st text; det text; ctx text;
BEGIN
    PERFORM mekatek.checkout(1, '[{"sku": "OBH100", "qty": 5}]', '[{"method": "cash", "amount": 100000}]');
EXCEPTION WHEN SQLSTATE '23M01' THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, det = PG_EXCEPTION_DETAIL, ctx = PG_EXCEPTION_CONTEXT;
    RAISE WARNING 'caught % sku=% asked=% available=%', st, det::jsonb->>'sku', det::jsonb->>'asked', det::jsonb->>'available';
    RAISE WARNING 'context: %', ctx;
END $$;
\set SHOW_CONTEXT never
SELECT mekatek.checkout(1, '[{"sku": "PCT500", "qty": "two"}]', '[{"method": "cash", "amount": 5000}]');
SELECT mekatek.checkout(1, '[{"sku": "PCT500", "qty": 1}]', '[{"method": "debit_card", "amount": 6000, "reference": "APPR-1"}]');
SELECT mekatek.checkout(1, '[{"sku": "PCT500", "qty": 1}]', '[{"method": "cash", "amount": 2000}, {"method": "qris", "amount": 2000, "reference": "Q-2"}]');
SELECT mekatek.checkout(1, '[{"sku": "PCT500", "qty": 1}]', '[{"method": "qris", "amount": 5000}]');
SELECT mekatek.checkout(1, '[{"sku": "PCT500", "qty": 1, "discount_percent": 20}]', '[{"method": "cash", "amount": 5000}]');
SELECT mekatek.checkout(2, '[{"sku": "PCT500", "qty": 1}]', '[{"method": "cash", "amount": 5000}]');
RESET ROLE;
SET ROLE regress_joko;
SELECT mekatek.checkout(2, '[{"sku": "PCT500", "qty": 1}]', '[{"method": "debit_card", "amount": 5000, "reference": "APPR-2"}]');
RESET ROLE;
SET ROLE regress_temp;
SELECT mekatek.checkout(1, '[{"sku": "PCT500", "qty": 1}]', '[{"method": "cash", "amount": 5000}]');
RESET ROLE;
-- An admin may give more than the cashier's limit; the discount is audited.
SET ROLE regress_till_admin;
SELECT r->>'total' AS total, r->'lines'->0->>'discount' AS line_discount, r->>'discount' AS discount,
       r->>'dpp' AS dpp, r->>'ppn' AS ppn
  FROM mekatek.checkout(1, '[{"sku": "PCT500", "qty": 2}]', '[{"method": "cash", "amount": 20000}]',
                        discount => '{"percent": 25}') AS r;
RESET ROLE;

-- A sale built by hand pays the same way: no payment, no paid sale; the
-- cash payment's change is computed; a void sale takes no payment.
SET ROLE regress_sari;
INSERT INTO mekatek.sale (branch_id) VALUES (1) RETURNING sale_id AS hand \gset
INSERT INTO mekatek.sale_line (sale_id, product_id, qty) VALUES (:hand, 1, 1);
UPDATE mekatek.sale SET status = 'paid' WHERE sale_id = :hand;
INSERT INTO mekatek.payment (sale_id, method, amount, tendered) VALUES (:hand, 'cash', 5000, 10000)
RETURNING method, amount, tendered, change;
UPDATE mekatek.sale SET status = 'paid' WHERE sale_id = :hand RETURNING status, regexp_replace(receipt_no, '-\d{8}-', '-YYYYMMDD-') AS receipt_no;
INSERT INTO mekatek.sale (branch_id) VALUES (1) RETURNING sale_id AS gone \gset
INSERT INTO mekatek.sale_line (sale_id, product_id, qty) VALUES (:gone, 1, 1);
UPDATE mekatek.sale SET status = 'void' WHERE sale_id = :gone;
INSERT INTO mekatek.payment (sale_id, method, amount) VALUES (:gone, 'cash', 5000);
-- ...nor a sale at another branch, by hand either
INSERT INTO mekatek.sale (branch_id) VALUES (2);
-- a cashier cannot record a refund by hand
INSERT INTO mekatek.payment (sale_id, method, amount) VALUES (:hand, 'cash', -5000);
RESET ROLE;

-- The next day.  (The test moves the first sale back by a day.)
UPDATE mekatek.sale SET sold_at = sold_at - interval '1 day' WHERE sale_id = 1;
-- The customer brings back one strip of paracetamol: it goes back to its
-- lot, and the refund is the line's amount per unit, PPN included.
SET ROLE regress_sari;
SELECT mekatek.return_line(1, 1, 1, 'bought one strip too many') AS first_return;
SELECT return_id, sale_id, line_no, qty, resellable, refund, dpp, ppn, actor FROM mekatek.sale_return;
SELECT b.lot, b.qty_on_hand FROM mekatek.batch b WHERE b.lot = 'P-2611';
-- two more than are left, and a line that does not exist
SELECT mekatek.return_line(1, 1, 2, 'again');
SELECT mekatek.return_line(1, 9, 1, 'no such line');
SELECT mekatek.return_line(1, 2, 1, '   ');
RESET ROLE;
-- Past the cashier's window (mekatek.return_days, a superuser's setting)
-- only an admin takes a return; damaged syrup cannot be sold again.
SET mekatek.return_days = 0;
SET ROLE regress_sari;
SELECT mekatek.return_line(1, 3, 1, 'bottle cracked');
RESET ROLE;
SET ROLE regress_till_admin;
SELECT mekatek.return_line(1, 3, 1, 'bottle cracked', resellable => false) AS second_return;
RESET ROLE;
RESET mekatek.return_days;
SELECT b.lot, b.qty_on_hand FROM mekatek.batch b WHERE b.lot = 'O-77';
SELECT regexp_replace(regexp_replace(mekatek.receipt_text(1), '\d{2}-\d{2}-\d{4} \d{2}:\d{2}', 'DD-MM-YYYY hh:mm'),
                      '-\d{8}-', '-YYYYMMDD-') AS receipt_after_returns;

-- The report: yesterday's sale, today's sales and returns.
SELECT day - (now() AT TIME ZONE 'Asia/Jakarta')::date AS day, branch_id, sales, gross, discounts,
       returns, dpp, ppn, net
  FROM mekatek.till_report(((now() AT TIME ZONE 'Asia/Jakarta') - interval '1 day')::date,
                           (now() AT TIME ZONE 'Asia/Jakarta')::date);
-- Every paid sale's payments add up to its total less its refunds.
SELECT s.sale_id, s.total, s.refunded, sum(p.amount) AS paid
  FROM mekatek.sale s JOIN mekatek.payment p USING (sale_id)
 WHERE s.status = 'paid' GROUP BY s.sale_id HAVING sum(p.amount) <> s.total - s.refunded;
-- The audit trail: discounts and returns, with who.
SELECT actor, table_name, row_key, new->>'discount' AS discount, new->>'reason' AS reason
  FROM mekatek.audit_log WHERE table_name IN ('sale_line', 'sale_return') ORDER BY audit_id;

DELETE FROM mekatek.staff;
\c :regress_db
DROP DATABASE regress_till;
DROP ROLE regress_till_admin, regress_sari, regress_joko, regress_temp;
