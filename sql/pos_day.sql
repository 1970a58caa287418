-- A cashier's day at Apotek Sehat: receive stock, sell, an oversell
-- refused, a void, alerts and the reports.
SET client_min_messages = warning;
\set SHOW_CONTEXT never
SET datestyle = 'ISO, YMD';
SET timezone = 'Asia/Jakarta';

-- Logins for the example (roles are cluster-wide: dropped at the end).
CREATE ROLE regress_admin LOGIN IN ROLE mekatek_admin;
CREATE ROLE regress_ana LOGIN IN ROLE mekatek_cashier;
CREATE ROLE regress_budi LOGIN IN ROLE mekatek_cashier;

-- The morning: the admin sets up branches, staff and products.
SET ROLE regress_admin;
INSERT INTO mekatek.branch (name) VALUES ('Apotek Sehat Pusat'), ('Apotek Sehat Sleman');
INSERT INTO mekatek.staff (role_name, full_name, email, branch_id) VALUES
    ('regress_ana', 'Ana Lestari', 'ana@apotek.example', 1),
    ('regress_budi', 'Budi Santoso', 'budi@apotek.example', 2);
INSERT INTO mekatek.product (sku, name, unit, price, min_stock) VALUES
    ('PCT500', 'Paracetamol 500 mg', 'strip', 5000, 20),
    ('AMX500', 'Amoxicillin 500 mg', 'strip', 12000, 5),
    ('OBH100', 'OBH syrup 100 ml', 'bottle', 18500, 3);

-- Goods arrive.  Two lots of paracetamol: the one that expires first is
-- sold first (FEFO), whatever order they arrived in.
SELECT mekatek.receive_stock('PCT500', 'P-LATE', current_date + 400, 30, 3100) AS late_batch;
SELECT mekatek.receive_stock('PCT500', 'P-SOON', current_date + 60, 10, 3000) AS soon_batch;
SELECT mekatek.receive_stock('AMX500', 'A-1', current_date + 365, 20, 8000) AS amx_batch;
SELECT mekatek.receive_stock('OBH100', 'O-1', current_date + 30, 4, 11000) AS obh_batch;
-- The same lot again adds to its batch; a different expiry is refused.
SELECT mekatek.receive_stock('AMX500', 'A-1', current_date + 365, 5) AS amx_batch_again;
-- (The message names both dates; they move with the day the test runs, so
-- they are shown relative to today.)
DO $$
DECLARE msg text; hint text;
BEGIN
    PERFORM mekatek.receive_stock('AMX500', 'A-1', current_date + 300, 5);
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
    RAISE WARNING '% %', SQLSTATE,
        replace(replace(msg, (current_date + 365)::text, 'today+365'), (current_date + 300)::text, 'today+300');
    RAISE WARNING 'HINT: %', hint;
END $$;
RESET ROLE;

-- Ana, cashier at the main branch, sells from a web app in one call.
SET ROLE regress_ana;
SELECT mekatek.checkout(1, '[{"sku": "PCT500", "qty": 12}, {"sku": "AMX500", "qty": 2}]') AS sale_id;
-- The line of 12 was split: all 10 of the soon-expiring lot, then 2.
SELECT l.line_no, p.sku, l.qty, l.unit_price, l.amount, s.total, s.status, s.cashier
  FROM mekatek.sale s JOIN mekatek.sale_line l USING (sale_id) JOIN mekatek.product p USING (product_id)
 WHERE s.sale_id = 1 ORDER BY l.line_no;
RESET ROLE;
SELECT m.movement_id, b.lot, m.qty_delta, m.reason, m.sale_id, m.line_no, m.actor
  FROM mekatek.stock_movement m JOIN mekatek.batch b USING (batch_id)
 WHERE m.reason = 'sale' ORDER BY m.movement_id;

-- A sale can also be built line by line; unit_price comes from the product.
SET ROLE regress_ana;
INSERT INTO mekatek.sale (branch_id) VALUES (1) RETURNING sale_id, status, total;
INSERT INTO mekatek.sale_line (sale_id, line_no, product_id, qty) VALUES (2, 1, 3, 1), (2, 2, 1, 2);
SELECT sale_id, total, status FROM mekatek.sale WHERE sale_id = 2;
-- (since 0.2.0 a sale is paid when its payments cover its total; the
-- change of a cash payment is computed)
INSERT INTO mekatek.payment (sale_id, method, amount, tendered) VALUES (2, 'cash', 28500, 30000);
UPDATE mekatek.sale SET status = 'paid' WHERE sale_id = 2;

-- An oversell is refused, naming the SKU, the quantity asked and what is
-- available; nothing of the sale is kept.
SELECT mekatek.checkout(1, '[{"sku": "AMX500", "qty": 1}, {"sku": "PCT500", "qty": 100}]');
SELECT count(*) AS sales_so_far FROM mekatek.sale;

-- A cashier cannot give a discount, change a price or touch stock.
INSERT INTO mekatek.sale (branch_id) VALUES (1) RETURNING sale_id AS open_sale \gset
INSERT INTO mekatek.sale_line (sale_id, line_no, product_id, qty, unit_price) VALUES (:open_sale, 1, 1, 1, 1000);
UPDATE mekatek.product SET price = 1 WHERE sku = 'PCT500';
SELECT mekatek.adjust_stock(1, 100, 'found a box');
-- ...nor sell for another branch.
SELECT mekatek.checkout(2, '[{"sku": "PCT500", "qty": 1}]');
-- The open sale is abandoned: a cashier may void an open sale.
UPDATE mekatek.sale SET status = 'void' WHERE sale_id = :open_sale RETURNING status;
RESET ROLE;

-- Stock is per branch: Sleman sells only what was sent there.
SET ROLE regress_admin;
SELECT mekatek.transfer_stock(1, 2, 'OBH100', 1) AS obh_to_sleman, mekatek.transfer_stock(1, 2, 'PCT500', 3) AS pct_to_sleman;
RESET ROLE;
-- Budi at the Sleman branch sees only his branch's sales.
SET ROLE regress_budi;
SELECT mekatek.checkout(2, '[{"sku": "OBH100", "qty": 1}]') AS budi_sale \gset
SELECT sale_id, branch_id, cashier, total FROM mekatek.sale ORDER BY sale_id;
-- A paid sale may be voided only by an admin.
UPDATE mekatek.sale SET status = 'void' WHERE sale_id = :budi_sale;
RESET ROLE;

-- The customer of sale 1 returns everything: the admin voids it and the
-- quantities go back to the batches they came from.
SET ROLE regress_admin;
UPDATE mekatek.sale SET status = 'void' WHERE sale_id = 1 RETURNING sale_id, status, voided_by;
UPDATE mekatek.sale SET status = 'paid' WHERE sale_id = 1;
RESET ROLE;
SELECT b.lot, m.qty_delta, m.reason, m.line_no
  FROM mekatek.stock_movement m JOIN mekatek.batch b USING (batch_id)
 WHERE m.sale_id = 1 ORDER BY m.movement_id;
SELECT p.sku, b.lot, b.qty_on_hand, b.expires_on - current_date AS days_left
  FROM mekatek.batch b JOIN mekatek.product p USING (product_id) ORDER BY b.batch_id;

-- Expired stock is never sold.  (An expired lot can only be recorded by a
-- superuser here, since receive_stock refuses expired goods.)
INSERT INTO mekatek.batch (product_id, lot, expires_on, branch_id) VALUES (3, 'O-OLD', current_date - 1, 1);
SELECT mekatek.adjust_stock(currval(pg_get_serial_sequence('mekatek.batch', 'batch_id')), 5, 'found in the back room') > 0 AS recorded;
SELECT mekatek.checkout(1, '[{"sku": "OBH100", "qty": 4}]');

-- Counting finds 1 strip of paracetamol damaged: an adjustment, with a note.
SET ROLE regress_admin;
SELECT mekatek.adjust_stock(1, -1, 'strip damaged in the drawer') > 0 AS adjusted;
SELECT mekatek.adjust_stock(1, -1000, 'typo');
SELECT mekatek.adjust_stock(1, -1, '  ');
-- The admin raises a price.
UPDATE mekatek.product SET price = 5500 WHERE sku = 'PCT500';
RESET ROLE;

-- Alerts: OBH is below its minimum of 3, the old OBH lot is expired with
-- stock left, and the short-dated lots are inside the 90-day window.
SELECT alert, sku, qty, min_stock, expires_on - current_date AS days_left
  FROM mekatek.stock_alert ORDER BY alert, sku, batch_id;
SET mekatek.expiry_warning_days = 10;
SELECT alert, sku FROM mekatek.stock_alert ORDER BY alert, sku, batch_id;
RESET mekatek.expiry_warning_days;

-- The audit trail says who changed what.
SELECT actor, table_name, op, old->>'price' AS old_price, new->>'price' AS new_price,
       new->>'qty_delta' AS qty_delta, new->>'note' AS note
  FROM mekatek.audit_log WHERE op <> 'INSERT' OR table_name = 'stock_movement' ORDER BY audit_id;

-- The ledger invariant: every batch's quantity is the sum of its movements.
SELECT b.batch_id, b.qty_on_hand, sum(m.qty_delta) AS ledger
  FROM mekatek.batch b JOIN mekatek.stock_movement m USING (batch_id)
 GROUP BY b.batch_id HAVING b.qty_on_hand <> sum(m.qty_delta);

-- Reports.  Sales of earlier days, dated for the example.
SELECT mekatek.checkout(1, '[{"sku": "AMX500", "qty": 1}]') AS s1,
       mekatek.checkout(1, '[{"sku": "AMX500", "qty": 2}, {"sku": "PCT500", "qty": 1}]') AS s2,
       mekatek.checkout(2, '[{"sku": "PCT500", "qty": 3}]') AS s3,
       mekatek.checkout(1, '[{"sku": "PCT500", "qty": 4}]') AS s4 \gset
UPDATE mekatek.sale SET sold_at = '2025-10-30 09:15' WHERE sale_id = :s1;
UPDATE mekatek.sale SET sold_at = '2025-11-03 10:00' WHERE sale_id = :s2;
UPDATE mekatek.sale SET sold_at = '2025-11-03 23:45' WHERE sale_id = :s3;
UPDATE mekatek.sale SET sold_at = '2025-11-04 08:00' WHERE sale_id = :s4;
SELECT * FROM mekatek.sales_report('2025-10-30', '2025-11-04');
SELECT * FROM mekatek.sales_report('2025-10-01', '2025-11-30', 'week');
SELECT * FROM mekatek.sales_report('2025-10-01', '2025-11-30', 'month');
SELECT * FROM mekatek.top_products('2025-10-01', '2025-11-30', 2);
SELECT * FROM mekatek.sales_report('2025-11-30', '2025-10-01');
SELECT * FROM mekatek.sales_report('2025-10-01', '2025-11-30', 'year');
-- Ana's report shows her branch only.
SET ROLE regress_ana;
SELECT * FROM mekatek.sales_report('2025-10-01', '2025-11-30', 'month');
RESET ROLE;

-- Export a report as CSV from psql (to a file with \copy ... TO 'report.csv').
\copy (SELECT * FROM mekatek.sales_report('2025-11-01', '2025-11-04')) TO STDOUT WITH (FORMAT csv, HEADER)

-- Clean up the example logins.
DELETE FROM mekatek.staff;
DROP ROLE regress_admin, regress_ana, regress_budi;
