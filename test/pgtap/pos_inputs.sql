-- Bad input to the cashier gives an ERROR with a SQLSTATE and a message
-- that names the bad value; nothing is half-done.
BEGIN;
SELECT plan(34);

INSERT INTO mekatek.branch (name) VALUES ('Inputs');
INSERT INTO mekatek.product (sku, name, price) VALUES ('INP1', 'Input product', 2500),
                                                     ('BIG1', 'Expensive', 9999999999.99);
SELECT mekatek.receive_stock('INP1', 'I1', current_date + 30, 10);
CREATE TEMP TABLE b AS SELECT branch_id AS id FROM mekatek.branch WHERE name = 'Inputs';

-- checkout(branch_id, lines)
SELECT throws_ok($$SELECT mekatek.checkout(NULL, '[{"sku": "INP1", "qty": 1}]')$$, '22004',
                 'argument "branch_id" must not be null', 'NULL branch');
SELECT throws_ok($$SELECT mekatek.checkout((SELECT id FROM b), NULL)$$, '22004',
                 'argument "lines" must not be null', 'NULL lines');
SELECT throws_ok($$SELECT mekatek.checkout((SELECT id FROM b), '{"sku": "INP1", "qty": 1}')$$, '22023',
                 'lines must be a JSON array, not an object', 'an object instead of an array');
SELECT throws_ok($$SELECT mekatek.checkout((SELECT id FROM b), '"INP1"')$$, '22023', NULL, 'a scalar');
SELECT throws_ok($$SELECT mekatek.checkout((SELECT id FROM b), '[]')$$, '22023',
                 'lines must hold 1 to 10000 lines, not 0', 'no lines');
SELECT throws_ok($$SELECT mekatek.checkout((SELECT id FROM b), '[1]')$$, '22023',
                 'line 1 of checkout must be a JSON object', 'a line that is not an object');
SELECT throws_ok($$SELECT mekatek.checkout((SELECT id FROM b), '[{"sku": "INP1"}]')$$, '22023',
                 'line 1 of checkout needs a numeric "qty"', 'qty missing');
SELECT throws_ok($$SELECT mekatek.checkout((SELECT id FROM b), '[{"qty": 1}]')$$, '22023',
                 'line 1 of checkout needs a string "sku"', 'sku missing');
SELECT throws_ok($$SELECT mekatek.checkout((SELECT id FROM b), '[{"sku": "INP1", "qty": 1, "qyt": 2}]')$$, '22023',
                 'line 1 of checkout has an unknown key "qyt"', 'a misspelt key');
-- (a numeric string such as "2", as HTML forms post it, is accepted since 0.2.0)
SELECT throws_ok($$SELECT mekatek.checkout((SELECT id FROM b), '[{"sku": "INP1", "qty": "two"}]')$$, '22023',
                 NULL, 'qty as a non-numeric string');
SELECT throws_ok($$SELECT mekatek.checkout((SELECT id FROM b), '[{"sku": "INP1", "qty": 0}]')$$, '22003',
                 'line 1 of checkout: qty must be between 1 and 2147483647, not 0', 'zero qty');
SELECT throws_ok($$SELECT mekatek.checkout((SELECT id FROM b), '[{"sku": "INP1", "qty": -3}]')$$, '22003',
                 'line 1 of checkout: qty must be between 1 and 2147483647, not -3', 'negative qty');
SELECT throws_ok($$SELECT mekatek.checkout((SELECT id FROM b), '[{"sku": "INP1", "qty": 1.5}]')$$, '22023',
                 'line 1 of checkout: qty must be a whole number, not 1.5', 'fractional qty');
SELECT throws_ok($$SELECT mekatek.checkout((SELECT id FROM b), '[{"sku": "INP1", "qty": 1e30}]')$$, '22003',
                 NULL, 'a huge qty');
SELECT throws_ok($$SELECT mekatek.checkout((SELECT id FROM b), '[{"sku": "INP1", "qty": 1}, {"sku": "NOPE", "qty": 1}]')$$,
                 '23503', 'unknown SKU "NOPE" on line 2 of checkout', 'an unknown SKU');
SELECT throws_ok($$SELECT mekatek.checkout((SELECT id FROM b), '[{"sku": "INP1", "qty": 11}]')$$, '23M01',
                 'insufficient stock for SKU "INP1": asked 11, available 10', 'more than the stock');
SELECT throws_ok($$SELECT mekatek.checkout(999999, '[{"sku": "INP1", "qty": 1}]')$$, '23503', NULL,
                 'an unknown branch');
SELECT throws_ok($$SELECT mekatek.checkout((SELECT id FROM b), '[{"sku": "INP1", "qty": 1')$$, '22P02', NULL,
                 'malformed JSON text');
SELECT is((SELECT count(*) FROM mekatek.sale WHERE branch_id = (SELECT id FROM b))::int, 0,
          'no failed checkout left a sale behind');

-- sale_line directly
INSERT INTO mekatek.sale (branch_id) SELECT id FROM b;
CREATE TEMP TABLE s AS SELECT max(sale_id) AS id FROM mekatek.sale;
SELECT throws_ok($$INSERT INTO mekatek.sale_line (sale_id, line_no, product_id, qty) SELECT id, 1, 1, 0 FROM s$$,
                 '23514', 'sale_line.qty must be positive, not 0', 'a zero line');
SELECT throws_ok($$INSERT INTO mekatek.sale_line (sale_id, line_no, product_id, qty)
                   SELECT s.id, 1, p.product_id, 1000 FROM s, mekatek.product p WHERE p.sku = 'BIG1'$$,
                 '22003', NULL, 'an amount beyond numeric(14,2)');
SELECT throws_ok($$INSERT INTO mekatek.sale_line (sale_id, line_no, product_id, qty) VALUES (-1, 1, 1, 1)$$,
                 '23503', 'sale -1 does not exist', 'an unknown sale');

-- receive_stock and adjust_stock
SELECT throws_ok($$SELECT mekatek.receive_stock(NULL, 'L', current_date + 1, 1)$$, '22004',
                 'argument "sku" must not be null', 'NULL sku');
SELECT throws_ok($$SELECT mekatek.receive_stock('INP1', '', current_date + 1, 1)$$, '22023',
                 'argument "lot" must not be empty', 'empty lot');
SELECT throws_ok($$SELECT mekatek.receive_stock('INP1', 'L', current_date + 1, 0)$$, '22023',
                 'argument "qty" must be between 1 and 2147483647, not 0', 'zero qty received');
SELECT throws_ok($$SELECT mekatek.receive_stock('INP1', 'L', current_date, 1)$$, '22023', NULL,
                 'goods expiring today are not received');
SELECT throws_ok($$SELECT mekatek.receive_stock('NOPE', 'L', current_date + 1, 1)$$, '23503',
                 'unknown SKU "NOPE"', 'receiving an unknown SKU');
SELECT throws_ok($$SELECT mekatek.receive_stock('INP1', 'I1', current_date + 30, 2147483647)$$, '22003', NULL,
                 'a receipt that would overflow the batch');
SELECT throws_ok($$SELECT mekatek.receive_stock('INP1', 'L', current_date + 1, 1, -5)$$, '22023',
                 'unit_cost must not be negative, not -5', 'negative cost');
SELECT throws_ok($$SELECT mekatek.adjust_stock(1, 0, 'x')$$, '22023', 'qty_delta must not be 0', 'a zero adjustment');
SELECT throws_ok($$SELECT mekatek.adjust_stock(-1, 1, 'x')$$, '23503', 'batch -1 does not exist', 'an unknown batch');
SELECT throws_ok($$SELECT mekatek.adjust_stock(1, 1, 'x', 'theft')$$, '22023',
                 'reason must be adjustment or expiry, not "theft"', 'an unknown reason');
SELECT throws_ok($$INSERT INTO mekatek.product (sku, name, price) VALUES ('HUGE', 'x', 1e13)$$, '22003', NULL,
                 'a price beyond numeric(12,2)');

-- The C triggers refuse to run on a table they were not written for.
CREATE TABLE not_sale_line (sale_id text, qty text);
CREATE TRIGGER t BEFORE INSERT ON not_sale_line FOR EACH ROW EXECUTE FUNCTION mekatek.pos_line_fill_trg();
SELECT throws_ok($$INSERT INTO not_sale_line VALUES ('x', 'y')$$, '39P01',
                 'pos_line_fill_trg fires only on mekatek.sale_line, not on not_sale_line',
                 'a pos trigger on a foreign table');

SELECT * FROM finish();
ROLLBACK;
