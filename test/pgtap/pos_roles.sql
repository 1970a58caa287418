-- The pos role matrix, checked by acting as each role.
BEGIN;
SELECT plan(28);

CREATE ROLE tap_admin LOGIN IN ROLE mekatek_admin;
CREATE ROLE tap_cashier1 LOGIN IN ROLE mekatek_cashier;
CREATE ROLE tap_cashier2 LOGIN IN ROLE mekatek_cashier;
CREATE ROLE tap_device LOGIN IN ROLE mekatek_device;
CREATE ROLE tap_analyst LOGIN IN ROLE mekatek_analyst;

INSERT INTO mekatek.branch (name) VALUES ('Tap Pusat'), ('Tap Sleman');
INSERT INTO mekatek.staff (role_name, full_name, branch_id)
SELECT 'tap_cashier1', 'Kasir Satu', branch_id FROM mekatek.branch WHERE name = 'Tap Pusat';
INSERT INTO mekatek.staff (role_name, full_name, branch_id)
SELECT 'tap_cashier2', 'Kasir Dua', branch_id FROM mekatek.branch WHERE name = 'Tap Sleman';
INSERT INTO mekatek.product (sku, name, price) VALUES ('TAP1', 'Tap product', 1000);
SELECT mekatek.receive_stock('TAP1', 'T1', current_date + 30, 100);
CREATE TEMP TABLE ids AS
SELECT (SELECT branch_id FROM mekatek.branch WHERE name = 'Tap Pusat') AS b1,
       (SELECT branch_id FROM mekatek.branch WHERE name = 'Tap Sleman') AS b2;
GRANT SELECT ON ids TO PUBLIC;
-- stock is per branch: Sleman gets its own lot
SELECT mekatek.receive_stock('TAP1', 'T2', current_date + 30, 100, NULL, (SELECT b2 FROM ids));

-- Privileges as declared (the matrix in the README).
SELECT table_privs_are('mekatek', 'audit_log', 'mekatek_admin', ARRAY['SELECT'], 'admin only reads the audit log');
SELECT table_privs_are('mekatek', 'audit_log', 'mekatek_cashier', ARRAY[]::text[], 'cashier has no access to the audit log');
SELECT table_privs_are('mekatek', 'batch', 'mekatek_admin', ARRAY['SELECT'], 'nobody writes batch directly: stock changes go through the ledger functions');
SELECT table_privs_are('mekatek', 'stock_movement', 'mekatek_cashier', ARRAY[]::text[], 'cashier cannot read or write the ledger');
SELECT table_privs_are('mekatek', 'sale', 'mekatek_device', ARRAY[]::text[], 'device has no access to sales');
SELECT table_privs_are('mekatek', 'sale', 'mekatek_analyst', ARRAY['SELECT'], 'analyst only reads sales');

-- The cashier.
SET ROLE tap_cashier1;
SELECT throws_ok($$UPDATE mekatek.product SET price = 1 WHERE sku = 'TAP1'$$, '42501', NULL,
                 'a cashier cannot change a price');
SELECT throws_ok($$SELECT mekatek.adjust_stock(1, 5, 'x')$$, '42501', NULL,
                 'a cashier cannot adjust stock');
SELECT throws_ok($$SELECT mekatek.receive_stock('TAP1', 'X', current_date + 9, 5)$$, '42501', NULL,
                 'a cashier cannot receive stock');
SELECT throws_ok($$UPDATE mekatek.batch SET qty_on_hand = 1000$$, '42501', NULL,
                 'a cashier cannot set stock');
SELECT throws_ok($$INSERT INTO mekatek.audit_log (actor, table_name, op) VALUES ('x', 'y', 'INSERT')$$,
                 '42501', NULL, 'a cashier cannot write the audit log');
SELECT lives_ok($$SELECT mekatek.checkout((SELECT b1 FROM ids), '[{"sku": "TAP1", "qty": 1}]')$$,
                'a cashier sells for its own branch');
SELECT throws_ok($$SELECT mekatek.checkout((SELECT b2 FROM ids), '[{"sku": "TAP1", "qty": 1}]')$$,
                 '42501', NULL, 'a cashier cannot sell for another branch');
SELECT throws_ok($$UPDATE mekatek.sale SET total = 0$$, '42501', NULL,
                 'a cashier cannot change a sale total');
SELECT lives_ok($$UPDATE mekatek.staff SET email = 'satu@apotek.example'$$, 'a login edits its own profile');
SELECT is((SELECT count(*) FROM mekatek.staff)::int, 1, 'a login sees only its own profile');
RESET ROLE;

SET ROLE tap_cashier2;
SELECT is((SELECT count(*) FROM mekatek.sale)::int, 0, 'a cashier does not see another branch''s sales');
SELECT is((SELECT count(*) FROM mekatek.sale_line)::int, 0, '...nor their lines');
SELECT throws_ok($$INSERT INTO mekatek.sale_line (sale_id, line_no, product_id, qty)
                   SELECT max(sale_id), 9, 1, 1 FROM mekatek.sale$$, NULL, NULL,
                 'a cashier cannot add lines to another branch''s sale');
SELECT is((SELECT count(*) FROM mekatek.staff WHERE role_name = 'tap_cashier1')::int, 0,
          'a login cannot read another login''s profile');
RESET ROLE;

-- The device and the analyst.
SET ROLE tap_device;
SELECT throws_ok($$SELECT count(*) FROM mekatek.sale$$, '42501', NULL, 'a device cannot read sales');
SELECT throws_ok($$SELECT mekatek.checkout(1, '[{"sku": "TAP1", "qty": 1}]')$$, '42501', NULL,
                 'a device cannot sell');
RESET ROLE;
SET ROLE tap_analyst;
SELECT is((SELECT count(*) FROM mekatek.sale)::int, 1, 'an analyst reads every branch''s sales');
SELECT throws_ok($$INSERT INTO mekatek.sale (branch_id) VALUES (1)$$, '42501', NULL, 'an analyst cannot sell');
RESET ROLE;

-- The admin, and the append-only tables even for their owner.
SET ROLE tap_admin;
SELECT lives_ok($$SELECT mekatek.checkout((SELECT b2 FROM ids), '[{"sku": "TAP1", "qty": 1}]')$$,
                'an admin sells for any branch');
SELECT throws_ok($$DELETE FROM mekatek.audit_log$$, '42501', NULL, 'an admin cannot delete audit entries');
RESET ROLE;
SELECT throws_ok($$UPDATE mekatek.audit_log SET actor = 'nobody'$$, '42501', NULL,
                 'even the owner cannot rewrite the audit log');
SELECT throws_ok($$DELETE FROM mekatek.stock_movement$$, '42501', NULL,
                 'even the owner cannot delete ledger rows');

SELECT * FROM finish();
ROLLBACK;
