-- Demo step 10: a cashier's day at Apotek Sehat (pos).
\pset footer off
\set SHOW_CONTEXT never
\echo
\echo '=== pos: a cashier''s day at Apotek Sehat ==='
INSERT INTO mekatek.branch (name) VALUES ('Apotek Sehat Pusat'), ('Apotek Sehat Sleman');
INSERT INTO mekatek.product (sku, name, unit, price, min_stock) VALUES
    ('PCT500', 'Paracetamol 500 mg', 'strip', 5000, 20),
    ('AMX500', 'Amoxicillin 500 mg', 'strip', 12000, 5),
    ('OBH100', 'OBH syrup 100 ml', 'bottle', 18500, 3),
    ('ORS200', 'Oralit 200 ml', 'sachet', 2500, 10),
    ('VTC500', 'Vitamin C 500 mg', 'strip', 8000, 10);
\echo 'Morning delivery: six lots received through the stock ledger.'
SELECT mekatek.receive_stock(sku, lot, current_date + days, qty, cost) AS batch_id, sku, lot, qty,
       current_date + days AS expires_on
  FROM (VALUES ('PCT500', 'P-2401', 400, 60, 3000), ('PCT500', 'P-2317', 45, 12, 2900),
               ('AMX500', 'A-0911', 365, 30, 8000), ('OBH100', 'O-0102', 200, 6, 11000),
               ('ORS200', 'R-7781', 300, 40, 1200), ('VTC500', 'V-5501', 20, 25, 5000))
       AS d(sku, lot, days, qty, cost);

\echo 'The day''s sales, each one checkout() call from the cashier app:'
CREATE TEMP TABLE todays_sales AS
SELECT mekatek.checkout(1, lines) AS sale_id
  FROM (VALUES (1, '[{"sku": "PCT500", "qty": 15}, {"sku": "ORS200", "qty": 4}]'::jsonb),
               (2, '[{"sku": "AMX500", "qty": 2}, {"sku": "PCT500", "qty": 2}]'),
               (3, '[{"sku": "OBH100", "qty": 4}]'),
               (4, '[{"sku": "VTC500", "qty": 3}, {"sku": "ORS200", "qty": 6}]')) AS d(n, lines)
 ORDER BY n;
SELECT s.sale_id, s.cashier, s.lines, s.total, s.status
  FROM todays_sales JOIN mekatek.sale s USING (sale_id) ORDER BY sale_id;

\echo 'FEFO: the 15 paracetamol came first from the lot that expires first.'
SELECT b.lot, b.expires_on, m.qty_delta, m.reason, m.sale_id
  FROM mekatek.stock_movement m JOIN mekatek.batch b USING (batch_id)
 WHERE m.sale_id = 1 ORDER BY m.movement_id;

\echo 'An oversell is refused, and nothing of that sale is kept:'
\set ON_ERROR_STOP 0
SELECT mekatek.checkout(1, '[{"sku": "OBH100", "qty": 5}]');
\set ON_ERROR_STOP 1

\echo 'A customer returns sale 3: voiding it puts the syrup back in its lot.'
UPDATE mekatek.sale SET status = 'void' WHERE sale_id = 3;
SELECT sku, lot, qty_on_hand FROM mekatek.batch JOIN mekatek.product USING (product_id)
 WHERE sku = 'OBH100';

\echo 'Alerts for the stock room:'
SELECT alert, sku, name, qty, min_stock, expires_on FROM mekatek.stock_alert ORDER BY alert, sku;

\echo 'Today''s report (also by week or month, and exportable to CSV):'
SELECT * FROM mekatek.sales_report(current_date, current_date);
SELECT * FROM mekatek.top_products(current_date, current_date, 3);
