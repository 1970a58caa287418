-- A week of Apotek Sehat, a pharmacy with two branches: Yogyakarta
-- (Asia/Jakarta, UTC+7) and Makassar (Asia/Makassar, UTC+8).  A purchase
-- order received in parts, a lot sent to Makassar, sales taking only local
-- stock FEFO, prescriptions, a stock count with a variance, and the reports
-- of the week in each branch's time zone, identical whatever the session's.
-- In a database of its own, so that its ids do not depend on other tests.
SET client_min_messages = warning;
\set regress_db :DBNAME
CREATE DATABASE pos_stockroom_regress;
\c pos_stockroom_regress
CREATE EXTENSION mekatek CASCADE;
SET client_min_messages = warning;
\set SHOW_CONTEXT never
SET datestyle = 'ISO, YMD';
SET timezone = 'UTC';

CREATE ROLE regress_sr_admin LOGIN IN ROLE mekatek_admin;
CREATE ROLE regress_sr_kasir1 LOGIN IN ROLE mekatek_cashier;
CREATE ROLE regress_sr_kasir2 LOGIN IN ROLE mekatek_cashier;
CREATE ROLE regress_sr_apoteker LOGIN IN ROLE mekatek_cashier, mekatek_pharmacist;

-- The week's events happen now; the test dates each day's afterwards (the
-- ledger is append-only, so the dating runs as a restore does, with
-- session_replication_role = replica).
CREATE TEMP TABLE watermark (movement bigint NOT NULL, sale bigint NOT NULL);
INSERT INTO watermark VALUES (0, 0);
CREATE FUNCTION pg_temp.dated(t timestamptz) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    SET LOCAL session_replication_role = replica;
    UPDATE mekatek.stock_movement SET at = t WHERE movement_id > (SELECT movement FROM watermark);
    UPDATE mekatek.sale SET sold_at = t WHERE sale_id > (SELECT sale FROM watermark);
    UPDATE watermark SET movement = (SELECT coalesce(max(movement_id), 0) FROM mekatek.stock_movement),
                         sale = (SELECT coalesce(max(sale_id), 0) FROM mekatek.sale);
    RETURN to_char(t AT TIME ZONE 'Asia/Jakarta', 'Dy YYYY-MM-DD HH24:MI') || ' WIB';
END $$;

-- Setting up: two branches, staff, three medicines of three classes.
SET ROLE regress_sr_admin;
INSERT INTO mekatek.branch (name, time_zone) VALUES
    ('Apotek Sehat Yogyakarta', 'Asia/Jakarta'), ('Apotek Sehat Makassar', 'Asia/Makassar');
INSERT INTO mekatek.staff (role_name, full_name, branch_id) VALUES
    ('regress_sr_kasir1', 'Ana Lestari', 1), ('regress_sr_kasir2', 'Wahyu Pratama', 2),
    ('regress_sr_apoteker', 'apt. Sari Dewi', 1);
INSERT INTO mekatek.product (sku, name, unit, price, min_stock, drug_class) VALUES
    ('PCT500', 'Paracetamol 500 mg', 'strip', 5000, 20, 'bebas'),
    ('AMX500', 'Amoxicillin 500 mg', 'strip', 12000, 5, 'keras'),
    ('DZP5', 'Diazepam 5 mg', 'tablet', 2500, 10, 'psikotropika');

-- Purchasing: a draft order to the supplier; nothing is received against a
-- draft.
INSERT INTO mekatek.supplier (name, contact) VALUES ('PBF Kimia Sehat', 'order@pbf.example');
INSERT INTO mekatek.purchase_order (supplier_id, branch_id, note) VALUES (1, 1, 'weekly order')
RETURNING po_id, status;
INSERT INTO mekatek.purchase_order_line (po_id, line_no, product_id, qty_ordered, unit_cost) VALUES
    (1, 1, 1, 100, 3000), (1, 2, 2, 40, 8000), (1, 3, 3, 50, 1200);
SELECT mekatek.receive_purchase(1, 1, 'P-2401', '2031-03-31', 60);
UPDATE mekatek.purchase_order SET status = 'ordered' WHERE po_id = 1 RETURNING status, ordered_at IS NOT NULL AS ordered;
-- An ordered order's lines are fixed.
UPDATE mekatek.purchase_order_line SET qty_ordered = 500 WHERE po_id = 1 AND line_no = 1;

-- Monday: the first delivery, at Yogyakarta.
SELECT mekatek.receive_purchase(1, 1, 'P-2401', '2031-03-31', 60) AS pct_batch;
SELECT mekatek.receive_purchase(1, 2, 'A-0911', '2031-06-30', 25) AS amx_batch;
SELECT mekatek.receive_purchase(1, 3, 'D-0077', '2031-01-31', 55) AS dzp_batch;
RESET ROLE;
SELECT pg_temp.dated('2025-11-03 08:00+07');

-- Tuesday: the rest of the paracetamol, a later lot at a new price (110
-- of 100 ordered); the amoxicillin stays short, and the admin closes the
-- order as received.
SET ROLE regress_sr_admin;
SELECT mekatek.receive_purchase(1, 1, 'P-2409', '2031-09-30', 50, 3100) AS pct_late_batch;
SELECT po_id, status FROM mekatek.purchase_order;
UPDATE mekatek.purchase_order SET status = 'received' WHERE po_id = 1;
SELECT line_no, qty_ordered, qty_received, unit_cost FROM mekatek.purchase_order_line ORDER BY line_no;
SELECT supplier, sku, unit_cost, qty FROM mekatek.supplier_price_history ORDER BY sku, unit_cost;

-- One lot goes to Makassar: 30 strips of P-2409, in transit for a day.
-- The same lot (code, expiry, cost) arrives; amoxicillin and diazepam go
-- FEFO in one step each.
SELECT mekatek.transfer_stock(1, 2, 'PCT500', 30, lot => 'P-2409', in_transit => true) AS pct_transfer;
SELECT mekatek.transfer_stock(1, 2, 'AMX500', 10) AS amx_transfer,
       mekatek.transfer_stock(1, 2, 'DZP5', 10) AS dzp_transfer;
RESET ROLE;
SELECT pg_temp.dated('2025-11-04 10:00+07');
SET ROLE regress_sr_admin;
SELECT transfer_id, from_branch_id, to_branch_id, qty, status FROM mekatek.stock_transfer ORDER BY transfer_id;
-- Wednesday morning in Makassar the parcel is opened.
SELECT mekatek.transfer_receive(1);
SELECT mekatek.transfer_receive(1);
RESET ROLE;
SELECT pg_temp.dated('2025-11-05 08:00+08');
SELECT b.branch_id, p.sku, b.lot, b.expires_on, b.qty_on_hand, b.unit_cost
  FROM mekatek.batch b JOIN mekatek.product p USING (product_id) ORDER BY b.branch_id, p.sku, b.expires_on;

-- Wednesday: sales.  Yogyakarta sells 65 strips: all 60 of P-2401 (it
-- expires first), then 5 of what Yogyakarta has left of P-2409.
SET ROLE regress_sr_kasir1;
SELECT mekatek.checkout(1, '[{"sku": "PCT500", "qty": 65}]') AS sale_id;
RESET ROLE;
SELECT pg_temp.dated('2025-11-05 10:00+07');
-- Makassar has only its own 30: 35 are refused although Yogyakarta has 15 more.
SET ROLE regress_sr_kasir2;
SELECT mekatek.checkout(2, '[{"sku": "PCT500", "qty": 35}]');
SELECT mekatek.checkout(2, '[{"sku": "PCT500", "qty": 12}]') AS sale_id;
RESET ROLE;
SELECT pg_temp.dated('2025-11-05 11:00+08');
SELECT m.sale_id, b.branch_id, b.lot, m.qty_delta
  FROM mekatek.stock_movement m JOIN mekatek.batch b USING (batch_id)
 WHERE m.reason = 'sale' ORDER BY m.movement_id;

-- Thursday: amoxicillin is keras: refused without a prescription, sold
-- with one.  Diazepam (psikotropika) also needs a pharmacist.
SET ROLE regress_sr_kasir1;
SELECT mekatek.checkout(1, '[{"sku": "AMX500", "qty": 2}]');
SELECT mekatek.checkout(1, '[{"sku": "AMX500", "qty": 2, "prescriber": "dr. Budi Hartono",
                              "prescription_no": "R-1103", "prescription_date": "2025-11-05"}]') AS sale_id;
SELECT mekatek.checkout(1, '[{"sku": "DZP5", "qty": 3, "prescriber": "dr. Budi Hartono",
                              "prescription_no": "R-1104", "prescription_date": "2025-11-06"}]');
SELECT mekatek.checkout(1, '[{"sku": "AMX500", "qty": 1, "prescriber": "dr. Budi Hartono"}]');
RESET ROLE;
SET ROLE regress_sr_apoteker;
SELECT mekatek.checkout(1, '[{"sku": "DZP5", "qty": 3, "prescriber": "dr. Budi Hartono",
                              "prescription_no": "R-1104", "prescription_date": "2025-11-06"}]') AS sale_id;
RESET ROLE;
SELECT pg_temp.dated('2025-11-06 16:00+07');
SELECT l.sale_id, p.sku, l.qty, l.prescriber, l.prescription_no, l.prescription_date
  FROM mekatek.sale_line l JOIN mekatek.product p USING (product_id)
 WHERE l.prescription_no IS NOT NULL ORDER BY l.sale_id;

-- Saturday: a stock count at Makassar.  Wahyu counts the paracetamol lot
-- (17 strips: one is missing), then sells 2 of it while the count is
-- open, then counts the rest.  The count compares each lot with the
-- ledger at the moment it was counted, so the sale does not show as a
-- variance.
SET ROLE regress_sr_admin;
SELECT mekatek.count_open(2, note => 'stock opname November') AS count_id;
RESET ROLE;
SET ROLE regress_sr_kasir1;
SELECT mekatek.count_enter(1, batch_id, 17) FROM mekatek.batch WHERE branch_id = 2 AND lot = 'P-2409';
RESET ROLE;
SET ROLE regress_sr_kasir2;
SELECT mekatek.count_enter(1, batch_id, 17) AS variance FROM mekatek.batch WHERE branch_id = 2 AND lot = 'P-2409';
SELECT mekatek.checkout(2, '[{"sku": "PCT500", "qty": 2}]') AS sale_id;
SELECT mekatek.count_enter(1, b.batch_id, b.qty_on_hand) AS variance
  FROM mekatek.batch b JOIN mekatek.product p USING (product_id)
 WHERE b.branch_id = 2 AND p.sku IN ('AMX500', 'DZP5') ORDER BY b.batch_id;
SELECT * FROM mekatek.count_close(1);
RESET ROLE;
SET ROLE regress_sr_admin;
SELECT * FROM mekatek.count_close(1);
SELECT * FROM mekatek.count_close(1);
RESET ROLE;
SELECT pg_temp.dated('2025-11-08 18:00+08');
SELECT b.branch_id, b.lot, b.qty_on_hand FROM mekatek.batch b WHERE b.branch_id = 2 ORDER BY b.batch_id;

-- Sunday 23:30 in Yogyakarta is Sunday in UTC too; 00:30 on Monday in
-- Makassar is still Sunday in Yogyakarta and in UTC: Makassar's sale
-- belongs to next week in Makassar's own days.
SET ROLE regress_sr_kasir1;
SELECT mekatek.checkout(1, '[{"sku": "PCT500", "qty": 2}]') AS sale_id;
RESET ROLE;
SELECT pg_temp.dated('2025-11-09 23:30+07');
SET ROLE regress_sr_kasir2;
SELECT mekatek.checkout(2, '[{"sku": "PCT500", "qty": 1}]') AS sale_id;
RESET ROLE;
SELECT pg_temp.dated('2025-11-10 00:30+08');

-- The ledger holds per branch: every lot's quantity is the sum of its
-- movements (no row), and each branch's stock of a product is the sum of
-- what came in and went out there.
SELECT b.batch_id FROM mekatek.batch b JOIN mekatek.stock_movement m USING (batch_id)
 GROUP BY b.batch_id HAVING b.qty_on_hand <> sum(m.qty_delta);
SELECT b.branch_id, p.sku, sum(b.qty_on_hand) AS on_hand,
       (SELECT sum(m.qty_delta) FROM mekatek.stock_movement m JOIN mekatek.batch x USING (batch_id)
         WHERE x.branch_id = b.branch_id AND x.product_id = b.product_id) AS ledger
  FROM mekatek.batch b JOIN mekatek.product p USING (product_id)
 GROUP BY b.branch_id, b.product_id, p.sku ORDER BY 1, 2;

-- The week's reports, in each branch's time zone.
CREATE FUNCTION pg_temp.week_reports() RETURNS TABLE (report text, line text) LANGUAGE sql AS $$
    SELECT 'sales by day, both branches', r::text FROM mekatek.sales_report('2025-11-03', '2025-11-10') r
    UNION ALL
    SELECT 'sales by day, Makassar', r::text FROM mekatek.sales_report('2025-11-03', '2025-11-10', 'day', 2) r
    UNION ALL
    SELECT 'sales by week from Wednesday', r::text FROM mekatek.sales_report('2025-11-05', '2025-11-16', 'week') r
    UNION ALL
    SELECT 'top products, Yogyakarta', r::text FROM mekatek.top_products('2025-11-03', '2025-11-09', 5, 1) r
    UNION ALL
    SELECT 'margin by week', r::text FROM mekatek.margin_report('2025-11-03', '2025-11-09', 'week') r
    UNION ALL
    SELECT 'controlled register', r::text FROM mekatek.controlled_register('2025-11-01') r
    UNION ALL
    SELECT 'register, all classes', r::text FROM mekatek.controlled_register('2025-11-01', NULL, true) r
    UNION ALL
    SELECT 'dashboard', mekatek.dashboard(1, '2025-11-05')::text
$$;
SELECT * FROM mekatek.sales_report('2025-11-03', '2025-11-10');
SELECT * FROM mekatek.sales_report('2025-11-03', '2025-11-10', 'day', 2);
SELECT * FROM mekatek.sales_report('2025-11-05', '2025-11-16', 'week');
SELECT * FROM mekatek.top_products('2025-11-03', '2025-11-09', 5, 1);
SELECT * FROM mekatek.margin_report('2025-11-03', '2025-11-09', 'week');
SELECT * FROM mekatek.controlled_register('2025-11-01');
SELECT * FROM mekatek.controlled_register('2025-11-01', NULL, true);
SELECT jsonb_pretty(mekatek.dashboard(1, '2025-11-05'));
-- The same reports under other session time zones: no line differs.
CREATE TEMP TABLE under_utc AS SELECT * FROM pg_temp.week_reports();
SET timezone = 'Asia/Jakarta';
SELECT count(*) AS lines, count(*) FILTER (WHERE (r.report, r.line) NOT IN (SELECT * FROM under_utc)) AS differing
  FROM pg_temp.week_reports() r;
SET timezone = 'America/Los_Angeles';
SELECT count(*) AS lines, count(*) FILTER (WHERE (r.report, r.line) NOT IN (SELECT * FROM under_utc)) AS differing
  FROM pg_temp.week_reports() r;
SET timezone = 'UTC';

-- The register's closing balance is the ledger's sum for every controlled
-- product and branch at the end of each month (no row).
SELECT r.branch_id, r.sku, r.closing
  FROM (SELECT * FROM mekatek.controlled_register('2025-10-01', NULL, true)
        UNION ALL SELECT * FROM mekatek.controlled_register('2025-11-01', NULL, true)
        UNION ALL SELECT * FROM mekatek.controlled_register('2025-12-01', NULL, true)) r
 WHERE r.closing <> (SELECT coalesce(sum(m.qty_delta), 0) FROM mekatek.stock_movement m
                       JOIN mekatek.batch b USING (batch_id) JOIN mekatek.product p USING (product_id)
                       JOIN mekatek.branch br ON br.branch_id = b.branch_id
                      WHERE b.branch_id = r.branch_id AND p.sku = r.sku
                        AND (m.at AT TIME ZONE br.time_zone)::date < (r.month_start + interval '1 month')::date)
    OR r.opening + r.received + r.transferred - r.sold + r.returned + r.adjusted <> r.closing;

-- Stock value and slow movers (today's: the lots expire in 2031).
SELECT branch_id, branch_name, sku, qty, value, expired_qty FROM mekatek.stock_value();
SELECT * FROM mekatek.slow_movers(36500);

-- Bad input (issue 14): non-finite report ranges, an infinite expiry, a
-- NaN cost, a range of centuries.
SELECT * FROM mekatek.sales_report('-infinity', 'infinity');
SELECT * FROM mekatek.margin_report('2025-11-01', 'infinity');
SELECT * FROM mekatek.sales_report('0001-01-01', '9999-12-31', 'month');
SELECT mekatek.receive_stock('PCT500', 'P-INF', 'infinity', 5, 3000, 1);
SELECT mekatek.receive_stock('PCT500', 'P-NAN', '2031-01-01', 5, 'NaN', 1);
SELECT mekatek.receive_stock('PCT500', 'P-X', '2031-01-01', 5, 3000, 99);
SELECT mekatek.transfer_stock(1, 1, 'PCT500', 1);
SELECT mekatek.transfer_stock(2, 1, 'PCT500', 1000);
SELECT mekatek.checkout(1, '[{"sku": "AMX500", "qty": 1, "prescriber": "dr. X", "prescription_no": "R-9", "prescription_date": "11/05/2025"}]');
-- One product's stock above 2^31-1 units: the alert view and the stock
-- value sum it in bigint.
INSERT INTO mekatek.product (sku, name, price) VALUES ('BULK', 'Bulk stock', 1);
SELECT mekatek.receive_stock('BULK', 'B-1', '2031-01-01', 2147483647, 1, 2) > 0 AS b1,
       mekatek.receive_stock('BULK', 'B-2', '2031-02-01', 2147483647, 1, 2) > 0 AS b2;
UPDATE mekatek.product SET min_stock = 2147483647 WHERE sku = 'BULK';
SELECT alert, branch_id, sku, qty FROM mekatek.stock_alert WHERE sku = 'BULK' ORDER BY branch_id;
SELECT branch_id, sku, qty, value FROM mekatek.stock_value(2) WHERE sku = 'BULK';

\c :regress_db
SET client_min_messages = warning;
DROP DATABASE pos_stockroom_regress;
DROP ROLE regress_sr_admin, regress_sr_kasir1, regress_sr_kasir2, regress_sr_apoteker;
