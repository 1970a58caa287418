-- A busy day in every module, for the data-safety scripts (dump and
-- restore, upgrade): the demo's steps, then more of everything so that
-- every table of schema mekatek holds rows, several of them through the
-- triggers that a restore must not fire again.  The demo's steps show a
-- refused oversell (an ERROR on stderr) and are run with ON_ERROR_STOP
-- off; what follows must not fail.
\ir ../demo/10_pos.sql
\ir ../demo/20_basket.sql
\ir ../demo/30_geo.sql
\ir ../demo/40_firewall.sql
\ir ../demo/50_backup.sql
\ir ../demo/60_devices.sql
-- ledger is new in 0.2.0: against 0.1.0 (the upgrade test) it is left out,
-- and its tables are compared with a fresh install's instead.
SELECT to_regproc('mekatek.chat_ingest') IS NOT NULL AS has_ledger \gset
\if :has_ledger
\ir ../demo/70_ledger.sql
\endif
-- survey is new in 0.2.0 too.
SELECT to_regproc('mekatek.survey_cluster') IS NOT NULL AS has_survey \gset
\if :has_survey
\ir ../demo/80_survey.sql
\endif
\set ON_ERROR_STOP 1

-- pos: staff, more deliveries, a few hundred checkouts, an open sale with
-- lines, a counted correction and a write-off (both audited).
INSERT INTO mekatek.staff (role_name, full_name, email, branch_id)
VALUES ('ana', 'Ana Wijaya', 'ana@apotek.example', 1), ('budi', 'Budi Santoso', NULL, 2);
SELECT count(mekatek.receive_stock(sku, 'BUSY-' || sku, current_date + 500, 2000, 1000))
  FROM mekatek.product;
-- 0.2.0 keeps stock per branch: the Sleman branch gets its own delivery,
-- a transfer and a purchase order (0.1.0 sold every branch from one stock).
SELECT to_regproc('mekatek.transfer_stock') IS NOT NULL AS has_stockroom \gset
\if :has_stockroom
SELECT count(mekatek.receive_stock(sku, 'BUSY2-' || sku, current_date + 500, 2000, 1000, 2))
  FROM mekatek.product;
\endif
SELECT count(mekatek.checkout(1 + g % 2, jsonb_build_array(
           jsonb_build_object('sku', (ARRAY['PCT500', 'AMX500', 'ORS200', 'VTC500'])[1 + g % 4], 'qty', 1 + g % 3),
           jsonb_build_object('sku', 'OBH100', 'qty', 1))))
  FROM generate_series(1, 300) g;
INSERT INTO mekatek.sale (branch_id) VALUES (2);
INSERT INTO mekatek.sale_line (sale_id, product_id, qty)
SELECT max(sale_id), 1, 2 FROM mekatek.sale;
UPDATE mekatek.sale SET status = 'void' WHERE sale_id IN (10, 20, 30);
SELECT mekatek.adjust_stock((SELECT batch_id FROM mekatek.batch WHERE lot = 'BUSY-PCT500'), -1, 'one strip found torn at the stock count');
SELECT mekatek.adjust_stock((SELECT batch_id FROM mekatek.batch WHERE lot = 'BUSY-AMX500'), -2, 'written off before expiry', 'expiry');
UPDATE mekatek.product SET price = 5500 WHERE sku = 'PCT500';
-- the stock room: transfers, a purchase order, stock counts, a prescription
\if :has_stockroom
SELECT mekatek.transfer_stock(1, 2, 'PCT500', 5, in_transit => true) AS in_transit_transfer;
SELECT mekatek.transfer_stock(1, 2, 'AMX500', 3) AS done_transfer;
INSERT INTO mekatek.supplier (name, contact) VALUES ('PBF Sehat Sentosa', '0274-555-0101');
INSERT INTO mekatek.purchase_order (supplier_id, branch_id) VALUES (1, 1);
INSERT INTO mekatek.purchase_order_line (po_id, line_no, product_id, qty_ordered, unit_cost)
VALUES (1, 1, 1, 100, 3000), (1, 2, 2, 40, 8000);
UPDATE mekatek.purchase_order SET status = 'ordered' WHERE po_id = 1;
SELECT mekatek.receive_purchase(1, 1, 'PO1-PCT', current_date + 700, 60);
INSERT INTO mekatek.product (sku, name, unit, price, drug_class)
VALUES ('AMX250', 'Amoxicillin 250 mg', 'strip', 9000, 'keras');
SELECT mekatek.receive_stock('AMX250', 'A-250', current_date + 400, 50, 6000, 1);
SELECT mekatek.count_open(2, ARRAY['PCT500']) AS busy_count \gset
SELECT mekatek.count_enter(:busy_count, batch_id, qty_on_hand - 1)
  FROM mekatek.batch WHERE lot = 'BUSY2-PCT500' AND branch_id = 2;
SELECT count(*) FROM mekatek.count_close(:busy_count);
SELECT mekatek.count_open(2) AS open_count;
SELECT mekatek.checkout(1, '[{"sku": "AMX250", "qty": 1, "prescriber": "dr. Sari", "prescription_no": "R-77", "prescription_date": "2026-11-30"}]');
\endif
-- the till (0.2.0): a tax class, a sale with discounts paid in cash and
-- QRIS, a retried request, a return (payment, receipt_counter, sale_return)
SELECT to_regclass('mekatek.sale_return') IS NOT NULL AS has_till \gset
\if :has_till
INSERT INTO mekatek.tax_class (tax_class, rate, note) VALUES ('exempt', 0, 'PPN-exempt medicines');
UPDATE mekatek.product SET tax_class = 'exempt' WHERE sku = 'AMX500';
SELECT mekatek.checkout(1, '[{"sku": "PCT500", "qty": 2, "discount_percent": 10}, {"sku": "AMX500", "qty": "1"}]',
                        '[{"method": "qris", "amount": 5000, "reference": "QR-BUSY-1"}, {"method": "cash", "amount": 50000}]',
                        '{"amount": 500}', 'busy-web-0001') ->> 'sale_id' AS till_sale \gset
SELECT mekatek.checkout(1, '[{"sku": "PCT500", "qty": 2}]', '[{"method": "cash", "amount": 1}]',
                        NULL, 'busy-web-0001') ->> 'sale_id' = :'till_sale' AS same_sale;
SELECT mekatek.return_line(:till_sale, 1, 1, 'one strip too many') > 0 AS returned;
SELECT mekatek.return_line(:till_sale, 2, 1, 'box crushed', false) > 0 AS quarantined;
\endif

-- basket: a second run.
SELECT mekatek.basket_mine('pharmacy lines',
    $$SELECT sale_id, product_id::text FROM mekatek.sale_line$$, 0.05, 0.2);

-- firewall: lines staged for the bulk path and not loaded yet, a chain
-- policy set by hand.
INSERT INTO mekatek.fw_log_raw (line)
SELECT format('Mar 9 10:00:%s gw kernel: [9.5] IPTABLES_INPUT: IN=eth0 OUT= SRC=203.0.113.%s DST=202.110.90.45 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=1 DF PROTO=UDP SPT=5000 DPT=53',
              lpad((g % 60)::text, 2, '0'), g)
  FROM generate_series(1, 20) g;
INSERT INTO mekatek.fw_chain_policy VALUES ('gw', 'FORWARD', 'drop') ON CONFLICT DO NOTHING;
-- an alert an earlier load raised (fw_alert is new in 0.2.0; the upgrade
-- test runs this script on 0.1.0 too)
DO $$
BEGIN
    IF to_regclass('mekatek.fw_alert') IS NOT NULL THEN
        INSERT INTO mekatek.fw_alert (kind, src, dst, dport, first_seen, last_seen, events)
        VALUES ('brute_force', '203.0.113.9', '202.110.90.45', 22,
                '2024-03-09 10:00:00+07', '2024-03-09 10:00:50+07', 40);
    END IF;
END $$;

-- backup: the catalogue of earlier runs, as backup_run leaves it.
UPDATE mekatek.backup_config SET keep_daily = 9, part_size = '8MB';
INSERT INTO mekatek.backup_object (target_id, category, bucket, key, rows, bytes, sha256, finished_at, attempts, status)
VALUES (1, 'daily', 'pharmacy-backups', 'mekatek/x/roles/daily/1.csv.gz', 4, 120, repeat('ab', 32), now(), 1, 'uploaded');
-- backup sets and drills are new in 0.2.0 (not there for the upgrade test).
SELECT to_regclass('mekatek.backup_drill') IS NOT NULL AS has_backup_sets \gset
\if :has_backup_sets
INSERT INTO mekatek.backup_set (category, finished_at, status) VALUES ('daily', now(), 'complete');
UPDATE mekatek.backup_object SET set_id = (SELECT max(set_id) FROM mekatek.backup_set)
 WHERE key = 'mekatek/x/roles/daily/1.csv.gz';
INSERT INTO mekatek.backup_drill (set_id, rto, rpo, tables, rows, ok, meets_rto, meets_rpo)
VALUES ((SELECT max(set_id) FROM mekatek.backup_set), '2 minutes', '1 hour', 1, 4, true, true, true);
\endif
INSERT INTO mekatek.backup_object (target_id, category, bucket, key, rows, bytes, sha256, finished_at, attempts, status, duplicate_of)
VALUES (1, 'daily', 'pharmacy-backups', 'mekatek/x/roles/daily/1.csv.gz', 4, 120, repeat('ab', 32), now(), 1, 'duplicate', 1);
INSERT INTO mekatek.backup_object (target_id, category, bucket, key, finished_at, attempts, status, error)
VALUES (1, 'weekly', 'pharmacy-backups', 'mekatek/x/roles/weekly/2.csv.gz', now(), 3, 'failed', 'S3 unreachable');

-- devices: more scans, visitors and door attempts.
INSERT INTO mekatek.rfid_scan (scanner, uid, lab, scanned_at)
SELECT 'lab-2', '04D693CAA36580', 'LAB-FISIKA', now() - interval '9 min' + g * interval '1 min'
  FROM generate_series(1, 3) g;
INSERT INTO mekatek.room VALUES ('lobby', 'Lobby', 2);
INSERT INTO mekatek.visitor_event (camera, room_id, direction, n, seen_at)
SELECT 'cam-2', 'lobby', CASE WHEN g % 3 = 0 THEN 'out' ELSE 'in' END, 1,
       timestamptz '2024-05-01 09:00+07' + g * interval '20 s'
  FROM generate_series(1, 30) g;
SELECT count(mekatek.door_access('front', CASE WHEN g % 2 = 0 THEN '04D693CAA36580' ELSE '04AA90CAA36580' END))
  FROM generate_series(1, 10) g;
-- devices' tables new in 0.2.0: door settings and heartbeats.
SELECT to_regclass('mekatek.device') IS NOT NULL AS has_device_tables \gset
\if :has_device_tables
INSERT INTO mekatek.door (door_id, name, notify_grants, time_zone, lockout_after) VALUES ('front', 'Pintu depan', true, 'Asia/Jakarta', 5);
SELECT mekatek.door_access('front', '04D693CAA36580');
INSERT INTO mekatek.device (device_id, kind, heartbeat_interval) VALUES ('cam-2', 'camera', '30 s');
INSERT INTO mekatek.lab (lab_id, name, announce) VALUES ('LAB-FISIKA', 'Lab Fisika', 'each');
SELECT mekatek.device_heartbeat('cam-2'), mekatek.device_heartbeat('lab-2');
\endif
-- devices' rollups (0.2.0): absorb the day so far, then leave one camera
-- batch and one scan pending, so that both steps' tables hold rows.
SELECT to_regclass('mekatek.visitor_rollup_pending') IS NOT NULL AS has_device_rollups \gset
\if :has_device_rollups
SELECT mekatek.device_rollup_absorb() > 0 AS absorbed;
INSERT INTO mekatek.visitor_event (camera, room_id, direction, n, seen_at)
VALUES ('cam-2', 'lobby', 'out', 1, timestamptz '2024-05-01 09:10:30+07');
INSERT INTO mekatek.rfid_scan (scanner, uid, lab, scanned_at)
VALUES ('lab-2', '04D693CAA36580', 'LAB-FISIKA', now());
\endif
-- chain (0.2.0): this database plays headquarters (node 0: its ids stay
-- as they are) of a third branch with a server of its own, and holds a
-- transfer's lot as it left a branch server and what arrived (written
-- here by hand: the test cluster has no wal_level = logical for the
-- setup helpers' publications).
SELECT to_regclass('mekatek.chain_node') IS NOT NULL AS has_chain \gset
\if :has_chain
INSERT INTO mekatek.branch (name, time_zone) VALUES ('Apotek Makassar', 'Asia/Makassar');
INSERT INTO mekatek.chain_node (node_id, role) VALUES (0, 'headquarters');
INSERT INTO mekatek.chain_member (branch_id, node_id)
SELECT branch_id, 3 FROM mekatek.branch WHERE name = 'Apotek Makassar';
-- the lot comes from branch 3's server, as replication applies it
SET session_replication_role = replica;
INSERT INTO mekatek.chain_transfer_lot (transfer_id, from_batch_id, from_branch_id, to_branch_id, product_id, sku,
                                        lot, expires_on, unit_cost, qty)
SELECT (3::bigint << 48) + 1, (3::bigint << 48) + 1, branch_id, 1, 1, 'PCT500', 'MKS-01', current_date + 300, 3000, 10
  FROM mekatek.branch WHERE name = 'Apotek Makassar';
INSERT INTO mekatek.chain_transfer_arrival (transfer_id, from_batch_id, to_branch_id, to_batch_id, qty_sent,
                                            qty_received, received_by)
VALUES ((3::bigint << 48) + 1, (3::bigint << 48) + 1, 1, NULL, 10, 0, 'postgres');
RESET session_replication_role;
\endif
