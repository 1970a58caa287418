-- 10,000 products, three lots each with ample stock, for both sides.
CREATE EXTENSION mekatek;
-- four branches (the till's sales spread over them: each branch's receipt
-- numbers are taken one sale at a time)
INSERT INTO mekatek.branch (name) VALUES ('Bench'), ('Bench 2'), ('Bench 3'), ('Bench 4');
-- every third product PPN-exempt
INSERT INTO mekatek.tax_class (tax_class, rate) VALUES ('exempt', 0);
INSERT INTO mekatek.product (sku, name, price, min_stock)
SELECT 'SKU' || i, 'Product ' || i, 1000 + i % 5000, 10 FROM generate_series(1, 10000) i;
UPDATE mekatek.product SET tax_class = 'exempt' WHERE product_id % 3 = 0;
-- batches through the ledger, as in production
-- (stock is per branch: every branch receives the same lots)
SELECT count(mekatek.receive_stock('SKU' || i, 'L' || l, current_date + 30 * l, 100000, NULL, b))
  FROM generate_series(1, 4) b, generate_series(1, 10000) i, generate_series(1, 3) l;
\i peer.sql
INSERT INTO peer.product OVERRIDING SYSTEM VALUE SELECT * FROM mekatek.product;
INSERT INTO peer.batch OVERRIDING SYSTEM VALUE SELECT * FROM mekatek.batch;
INSERT INTO peer.sale (branch_id) VALUES (1);
DELETE FROM peer.sale;
VACUUM ANALYZE;
