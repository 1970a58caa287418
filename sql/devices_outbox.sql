-- devices: notifications that outlive a missing listener.  What devices
-- announce is also a row of mekatek.outbox, written with the event, so a
-- notifier that was down when it fired still delivers it.
SET timezone = 'Asia/Jakarta';
SET datestyle = 'ISO, YMD';
SET mekatek.device_time_behind = '20000d';
DELETE FROM mekatek.outbox;

-- A refusal is always queued; a grant only where the door asks for it.
INSERT INTO mekatek.door_card(uid, holder, door_id) VALUES ('04A1B2C3', 'Sari', NULL);
INSERT INTO mekatek.door VALUES ('gudang', 'Gudang', true);
SELECT mekatek.door_access('kantor', '04A1B2C3') AS kantor_opens,
       mekatek.door_access('kantor', '04FFFFFF') AS stranger_opens,
       mekatek.door_access('gudang', '04A1B2C3') AS gudang_opens;
SELECT channel, payload->>'door' AS door, payload->>'reason' AS reason, payload->>'uid_tail' AS uid_tail
  FROM mekatek.outbox ORDER BY outbox_id;

-- Lab state changes are queued, in order, whatever path applied them: by
-- default one digest per lab and statement (batch).
SELECT item_code FROM mekatek.lab_register('04A1B2C4', 'T950A', 'PT Contoh', 'sample', 'uji');
UPDATE mekatek.lab_item SET registered_at = '2024-12-01 08:00:00+07' WHERE item_code = 'T950A';
INSERT INTO mekatek.rfid_scan(scanner, uid, lab, scanned_at) VALUES
  ('s-o', '04A1B2C4', 'LAB-1', '2024-12-01 09:00:00+07');
INSERT INTO mekatek.rfid_scan(scanner, uid, lab, scanned_at) VALUES
  ('s-o', '04A1B2C4', 'LAB-1', '2024-12-01 09:10:00+07'),
  ('s-o', '04A1B2C4', 'LAB-1', '2024-12-01 09:20:00+07');
SELECT o.outbox_id - (SELECT min(outbox_id) FROM mekatek.outbox WHERE channel = 'lab') AS row,
       o.payload->>'lab' AS lab, o.payload->>'part' AS part, o.payload->>'parts' AS parts,
       c->>'item' AS item, c->>'from' AS "from", c->>'to' AS "to", c->>'at' AS at
  FROM mekatek.outbox o, jsonb_array_elements(o.payload->'changes') WITH ORDINALITY AS e(c, n)
 WHERE o.channel = 'lab' ORDER BY o.outbox_id, e.n;

-- A lab's row in mekatek.lab says otherwise: each (a row per change, as
-- the NOTIFY), off (none; the history is kept all the same).
INSERT INTO mekatek.lab (lab_id, name, announce) VALUES ('LAB-2', 'Kimia', 'each'), ('LAB-3', 'Fisika', 'off');
SELECT (mekatek.lab_register(u, 'T95' || u, 'PT Contoh', 'sample', 'uji')).item_code
  FROM (VALUES ('04A1B2C5'), ('04A1B2C6'), ('04A1B2C7')) v(u);
UPDATE mekatek.lab_item SET registered_at = '2024-12-01 08:00:00+07' WHERE item_code LIKE 'T9504A1B2C%';
INSERT INTO mekatek.rfid_scan(scanner, uid, lab, scanned_at) VALUES
  ('s-o', '04A1B2C5', 'LAB-2', '2024-12-01 09:00:00+07'),
  ('s-o', '04A1B2C6', 'LAB-3', '2024-12-01 09:00:00+07'),
  ('s-o', '04A1B2C7', 'LAB-2', '2024-12-01 09:01:00+07');
SELECT payload->>'item' AS item, payload->>'from' AS "from", payload->>'to' AS "to", payload->>'lab' AS lab
  FROM mekatek.outbox WHERE channel = 'lab' AND NOT payload ? 'changes' ORDER BY outbox_id;
SELECT item_code, to_state, lab FROM mekatek.lab_item_history
 WHERE item_code LIKE 'T9504A1B2C%' AND from_state IS NOT NULL ORDER BY item_code;

-- A digest holds at most 30 changes: a scanner's batch of 65 tubes is
-- three rows, part 1 to 3, its changes in the scans' order.
SELECT count(mekatek.lab_register('04BB00' || lpad(to_hex(i), 2, '0'), 'TB' || i, 'PT Contoh', 'sample', 'uji'))
  FROM generate_series(1, 65) i;
UPDATE mekatek.lab_item SET registered_at = '2024-12-01 08:00:00+07' WHERE item_code LIKE 'TB%';
INSERT INTO mekatek.rfid_scan(scanner, uid, lab, scanned_at)
SELECT 's-o', '04BB00' || lpad(to_hex(66 - i), 2, '0'), 'LAB-4', '2024-12-01 09:00:00+07'::timestamptz + i * interval '1 second'
  FROM generate_series(1, 65) i ORDER BY i;
SELECT o.payload->>'part' AS part, o.payload->>'parts' AS parts, jsonb_array_length(o.payload->'changes') AS changes,
       o.payload->'changes'->0->>'item' AS first, o.payload->'changes'->-1->>'item' AS last,
       (SELECT bool_and((e.c->>'scan')::bigint > (p.c->>'scan')::bigint)
          FROM jsonb_array_elements(o.payload->'changes') WITH ORDINALITY e(c, n)
          JOIN jsonb_array_elements(o.payload->'changes') WITH ORDINALITY p(c, n) ON p.n = e.n - 1) AS in_order
  FROM mekatek.outbox o WHERE channel = 'lab' AND payload->>'lab' = 'LAB-4' ORDER BY outbox_id;

-- Capacity alerts and their retractions.
INSERT INTO mekatek.room VALUES ('r9', 'Ruang 9', 2);
INSERT INTO mekatek.visitor_event(camera, room_id, direction, seen_at) VALUES ('c9', 'r9', 'in', '2024-12-01 10:00:00+07');
INSERT INTO mekatek.visitor_event(camera, room_id, direction, seen_at) VALUES ('c9', 'r9', 'in', '2024-12-01 10:00:05+07');
INSERT INTO mekatek.visitor_event(camera, room_id, direction, seen_at) VALUES ('c8', 'r9', 'out', '2024-12-01 10:00:02+07');
SELECT payload->>'state' AS state, payload->>'of' AS "of", payload->>'at' AS at
  FROM mekatek.outbox WHERE channel = 'capacity' ORDER BY outbox_id;

-- A deliverer claims the oldest first and marks what it sent; a second
-- deliverer skips what the first holds.
BEGIN;
SELECT outbox_id - (SELECT min(outbox_id) FROM mekatek.outbox) AS n, attempts
  FROM mekatek.outbox_claim('door', 2);
SELECT mekatek.outbox_delivered(array_agg(outbox_id)) FROM mekatek.outbox WHERE channel = 'door' AND claimed_at IS NOT NULL;
COMMIT;
SELECT channel, count(*) FILTER (WHERE delivered_at IS NULL) AS pending, count(delivered_at) AS delivered
  FROM mekatek.outbox GROUP BY channel ORDER BY channel;

-- Leave the shared database as found.
DELETE FROM mekatek.outbox;
DELETE FROM mekatek.door_attempt WHERE door_id IN ('kantor', 'gudang');
DELETE FROM mekatek.door WHERE door_id = 'gudang';
DELETE FROM mekatek.door_card WHERE uid = '04A1B2C3';
DELETE FROM mekatek.rfid_scan WHERE scanner = 's-o';
DELETE FROM mekatek.lab_item_history WHERE item_code = 'T950A' OR item_code LIKE 'T9504A1B2C%' OR item_code LIKE 'TB%';
DELETE FROM mekatek.lab_item WHERE item_code = 'T950A' OR item_code LIKE 'T9504A1B2C%' OR item_code LIKE 'TB%';
DELETE FROM mekatek.lab WHERE lab_id IN ('LAB-2', 'LAB-3');
DELETE FROM mekatek.rfid_rollup_pending WHERE lab IN ('LAB-2', 'LAB-3', 'LAB-4');
DELETE FROM mekatek.capacity_alert WHERE room_id = 'r9';
DELETE FROM mekatek.visitor_event WHERE room_id = 'r9';
DELETE FROM mekatek.room_occupancy WHERE room_id = 'r9';
DELETE FROM mekatek.room WHERE room_id = 'r9';
