-- devices: a scan's update through the rows path (src/devices/direct.c)
-- sets lab_item's generated tag_code itself (lab_rfid.c, tag_code_att)
-- while the column's expression is devices.sql's, and leaves it to the
-- executor when it is not.  All in one transaction, rolled back.
BEGIN;
SET LOCAL mekatek.device_time_behind = '20000d';
INSERT INTO mekatek.lab (lab_id) VALUES ('TLAB-1');
SELECT count(*) FROM (SELECT mekatek.lab_register('E077000' || n, 'TAG-' || n, 'PT Kode', 'sample', 'uji')
                        FROM generate_series(1, 3) n) r;
UPDATE mekatek.lab_item SET registered_at = now() - interval '1 day' WHERE item_code LIKE 'TAG-%';
-- A batch naming each tag once takes the rows path; three batches: queued,
-- testing, done for item 1, fewer for the others.
INSERT INTO mekatek.rfid_scan(scanner, uid, lab, scanned_at)
SELECT 'tag-code', 'E077000' || n, 'TLAB-1', now() - interval '3 hours' FROM generate_series(1, 3) n;
INSERT INTO mekatek.rfid_scan(scanner, uid, lab, scanned_at)
SELECT 'tag-code', 'E077000' || n, 'TLAB-1', now() - interval '2 hours' FROM generate_series(1, 2) n;
INSERT INTO mekatek.rfid_scan(scanner, uid, lab, scanned_at)
VALUES ('tag-code', 'E0770001', 'TLAB-1', now() - interval '1 hour');
SELECT item_code, state, tag_code,
       tag_code = item_code || CASE state WHEN 'queued' THEN '-A' WHEN 'testing' THEN '-U'
                                          WHEN 'done' THEN '-S' ELSE '' END AS as_generated
  FROM mekatek.lab_item WHERE item_code LIKE 'TAG-%' ORDER BY item_code;
SELECT count(*) AS flagged FROM mekatek.rfid_scan WHERE scanner = 'tag-code' AND flag IS NOT NULL;
-- Another expression: the executor computes it, for the same path.
ALTER TABLE mekatek.lab_item DROP COLUMN tag_code CASCADE;
ALTER TABLE mekatek.lab_item ADD COLUMN tag_code text
    GENERATED ALWAYS AS (lower(item_code) || CASE state WHEN 'done' THEN '/done' ELSE '/open' END) STORED;
INSERT INTO mekatek.rfid_scan(scanner, uid, lab, scanned_at)
SELECT 'tag-code', 'E077000' || n, 'TLAB-1', now() - interval '30 minutes' FROM generate_series(2, 3) n;
SELECT item_code, state, tag_code FROM mekatek.lab_item WHERE item_code LIKE 'TAG-%' ORDER BY item_code;
ROLLBACK;
