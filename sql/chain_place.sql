-- chain on one server: what a chain node refuses (25M01) and lets through,
-- the node-ranged ids, and the setup helpers' own errors.  The servers and
-- their replication are test/scripts/chain_day.sh's; here the node's row
-- is written by hand, as chain_setup_* would (they need wal_level =
-- logical).  In a database of its own: the sequences change.
SET client_min_messages = warning;
\set regress_db :DBNAME
CREATE DATABASE chain_place_regress;
\c chain_place_regress
CREATE EXTENSION mekatek CASCADE;
SET client_min_messages = warning;
\set SHOW_CONTEXT never
\set VERBOSITY default

INSERT INTO mekatek.branch (name) VALUES ('Pusat'), ('Sleman'), ('Makassar');
INSERT INTO mekatek.product (sku, name, price) VALUES ('PCT500', 'Paracetamol', 5000);
SELECT mekatek.receive_stock('PCT500', 'P-1', current_date + 300, 50, 3000, 1) AS pusat_batch;

-- The setup helpers check first.
SELECT mekatek.chain_setup_headquarters(-1);
SELECT mekatek.chain_setup_branch(1, 0);
CREATE ROLE regress_chain_admin LOGIN IN ROLE mekatek_admin;
SET ROLE regress_chain_admin;
SELECT mekatek.chain_setup_headquarters();
SELECT mekatek.chain_setup_slot(1);
RESET ROLE;
SELECT mekatek.chain_setup_slot(1);

-- Headquarters with branch 3 on a server of its own: its rows are refused
-- here, the others' (and the master data) not.
INSERT INTO mekatek.chain_node (node_id, role) VALUES (0, 'headquarters');
INSERT INTO mekatek.chain_member (branch_id, node_id) VALUES (3, 3);
SELECT mekatek.checkout(3, '[{"sku": "PCT500", "qty": 1}]');
SELECT mekatek.receive_stock('PCT500', 'M-1', current_date + 300, 5, 3000, 3);
SELECT mekatek.checkout(1, '[{"sku": "PCT500", "qty": 1}]') > 0 AS pusat_sells;
UPDATE mekatek.product SET price = 5500 WHERE sku = 'PCT500';
-- a row of branch 3 that arrived by replication (replica role, as the
-- apply worker): no trigger acts, and it may not be changed here after
SET session_replication_role = replica;
INSERT INTO mekatek.sale (sale_id, branch_id, status, total) OVERRIDING SYSTEM VALUE
VALUES ((3::bigint << 48) + 1, 3, 'paid', 5500);
RESET session_replication_role;
UPDATE mekatek.sale SET status = 'void' WHERE branch_id = 3;
INSERT INTO mekatek.payment (sale_id, method, amount, reference) VALUES ((3::bigint << 48) + 1, 'qris', 1, 'X');
-- a transfer to a member's server may leave; once written it is not changed
SELECT mekatek.transfer_stock(1, 3, 'PCT500', 2, in_transit => true) > 0 AS sent;
UPDATE mekatek.stock_transfer SET note = 'late' WHERE to_branch_id = 3;
SELECT count(*) AS manifest_lots FROM mekatek.chain_transfer_lot;  -- written only at a branch server
SELECT mekatek.chain_transfer_receive(1);

-- A branch server: master data refused, other branches refused, its own
-- rows in its node's id range.
DELETE FROM mekatek.chain_member;
DELETE FROM mekatek.chain_node;
INSERT INTO mekatek.chain_node (node_id, role, branch_id) VALUES (2, 'branch', 2);
SELECT mekatek.chain_setup_sequences(2) > 10 AS sequences_set;
UPDATE mekatek.product SET price = 1 WHERE sku = 'PCT500';
INSERT INTO mekatek.tax_class (tax_class, rate) VALUES ('exempt', 0);
SELECT mekatek.checkout(1, '[{"sku": "PCT500", "qty": 1}]');
SELECT mekatek.receive_stock('PCT500', 'S-1', current_date + 300, 20, 3000, 2) >> 48 AS batch_node;
SELECT mekatek.checkout(2, '[{"sku": "PCT500", "qty": 1}]') >> 48 AS sale_node;
SELECT count(*) AS movements, bool_and(movement_id >> 48 = 2) AS all_node_2
  FROM mekatek.stock_movement m JOIN mekatek.batch b USING (batch_id) WHERE b.branch_id = 2;
-- a transfer from this branch: its lots are recorded as they leave
SELECT mekatek.transfer_stock(2, 1, 'PCT500', 3, in_transit => true) >> 48 AS transfer_node;
SELECT from_branch_id, to_branch_id, sku, lot, qty FROM mekatek.chain_transfer_lot;
-- received at the source's server: the destination's batch is refused
SELECT mekatek.transfer_stock(2, 1, 'PCT500', 1);
SELECT mekatek.chain_transfer_receive((SELECT max(transfer_id) FROM mekatek.stock_transfer));
SELECT * FROM mekatek.chain_status;

\c :regress_db
SET client_min_messages = warning;
DROP DATABASE chain_place_regress;
DROP ROLE regress_chain_admin;
