-- basket over the pharmacy's sales: mekatek.sales_rules.  In a database of
-- its own, so that the sales made here do not move the ids other tests see.
SET client_min_messages = warning;
\set regress_db :DBNAME
CREATE DATABASE basket_sales_regress;
\c basket_sales_regress
SET client_min_messages = warning;
SET timezone = 'Asia/Jakarta';
SET datestyle = 'ISO, YMD';
CREATE EXTENSION mekatek CASCADE;
CREATE ROLE regress_basket_ani LOGIN IN ROLE mekatek_cashier;
CREATE ROLE regress_basket_rudi LOGIN IN ROLE mekatek_analyst;

INSERT INTO mekatek.branch (name) VALUES ('Apotek Sehat Pusat');
INSERT INTO mekatek.staff (role_name, full_name, email, branch_id) VALUES
    ('regress_basket_ani', 'Ani', 'ani@apotek.example', 1);
INSERT INTO mekatek.product (sku, name, unit, price) VALUES
    ('PCT500', 'Paracetamol 500 mg', 'strip', 5000),
    ('OBH100', 'OBH syrup 100 ml', 'bottle', 18500),
    ('VITC50', 'Vitamin C 50 mg', 'strip', 4000),
    ('AMX500', 'Amoxicillin 500 mg', 'strip', 12000);
SELECT count(mekatek.receive_stock(sku, 'L1', current_date + 365, 100)) AS received
  FROM mekatek.product;

-- Ten sales: paracetamol with cough syrup is the pattern.
SET ROLE regress_basket_ani;
SELECT count(mekatek.checkout(1, lines::jsonb)) AS sales FROM (VALUES
    ('[{"sku": "PCT500", "qty": 1}, {"sku": "OBH100", "qty": 1}]'),
    ('[{"sku": "PCT500", "qty": 2}, {"sku": "OBH100", "qty": 1}, {"sku": "VITC50", "qty": 1}]'),
    ('[{"sku": "PCT500", "qty": 1}, {"sku": "OBH100", "qty": 1}]'),
    ('[{"sku": "PCT500", "qty": 1}, {"sku": "OBH100", "qty": 1}]'),
    ('[{"sku": "PCT500", "qty": 1}, {"sku": "VITC50", "qty": 2}]'),
    ('[{"sku": "OBH100", "qty": 1}, {"sku": "VITC50", "qty": 1}]'),
    ('[{"sku": "AMX500", "qty": 1}]'),
    ('[{"sku": "PCT500", "qty": 1}]'),
    ('[{"sku": "PCT500", "qty": 1}, {"sku": "PCT500", "qty": 1}, {"sku": "AMX500", "qty": 1}]'),
    ('[{"sku": "AMX500", "qty": 1}, {"sku": "OBH100", "qty": 1}]')) s(lines);
-- An open (unpaid) sale and a voided one do not count.
INSERT INTO mekatek.sale (branch_id) VALUES (1);
RESET ROLE;
UPDATE mekatek.sale SET status = 'void' WHERE sale_id = 10;

-- Rudi, an analyst, asks which medicines go together today.  Nine paid
-- sales; PCT500 is in 7 of them, OBH100 in 5, both in 4.
SET ROLE regress_basket_rudi;
SELECT antecedent, consequent, count, round(support::numeric, 3) AS support,
       round(confidence::numeric, 3) AS confidence, round(lift::numeric, 3) AS lift
  FROM mekatek.sales_rules(current_date, current_date, 0.2, 0.5);
-- Nothing was sold yesterday.
SELECT count(*) FROM mekatek.sales_rules(current_date - 1, current_date - 1);
-- Bad ranges are refused.
SELECT * FROM mekatek.sales_rules('2026-01-02', '2026-01-01');
SELECT * FROM mekatek.sales_rules(NULL, current_date);
SELECT * FROM mekatek.sales_rules(current_date, current_date, 0);
-- A cashier may sell, not mine.
SET ROLE regress_basket_ani;
SELECT count(*) FROM mekatek.sales_rules(current_date, current_date);
RESET ROLE;

\c :regress_db
SET client_min_messages = warning;
DROP DATABASE basket_sales_regress;
DROP ROLE regress_basket_ani, regress_basket_rudi;
