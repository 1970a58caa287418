-- devices: the apply triggers count the rollups themselves (rollup.c), each
-- row as it ends up: a batch with times over two hours of the configured
-- zone (Asia/Kathmandu, +05:45), late and bad_time events, scans that move
-- an item and scans that are flagged, all equal a recount once absorbed.
-- An UPDATE by the tables' owner that changes what a row counts for moves
-- its counts with it (device_rollup_reflag); the apply triggers' own
-- UPDATEs (flags, miscounts) are never counted twice.
SET mekatek.device_time_zone = 'Asia/Kathmandu';
INSERT INTO mekatek.room VALUES ('rx1', 'Rollup annex', NULL);
SELECT item_code FROM mekatek.lab_register('04AB12CD', 'RX-1', 'co', 'water', 'ph');
CREATE ROLE rx_device IN ROLE mekatek_device;
SET ROLE rx_device;
INSERT INTO mekatek.visitor_event(event_id, camera, room_id, direction, n, seen_at) VALUES
    ('rx:1', 'cam-x', 'rx1', 'in', 3, '2026-11-29 09:50+05:45'),
    ('rx:2', 'cam-x', 'rx1', 'out', 5, '2026-11-29 10:05+05:45'),   -- more out than in: miscount 2
    ('rx:3', 'cam-x', 'rx1', 'in', 2, '2026-11-29 10:40+05:45'),
    ('rx:4', 'cam-x', 'rx1', 'in', 9, '1960-01-01 10:00+00'),       -- bad_time
    ('rx:5', 'cam-x', 'rx1', 'in', 4, 'infinity');                   -- bad_time
INSERT INTO mekatek.visitor_event(event_id, camera, room_id, direction, n, seen_at) VALUES
    ('rx:6', 'cam-y', 'rx1', 'in', 1, '2026-11-29 10:38+05:45'),    -- late, within the window: replayed
    ('rx:7', 'cam-y', 'rx1', 'in', 6, '2026-11-29 09:40+05:45');    -- late beyond it: flagged
-- Scans after the item's registration (now), so at times that vary.
INSERT INTO mekatek.rfid_scan(event_id, scanner, uid, lab, scanned_at) VALUES
    ('rx:s1', 'sc-x', '04AB12CD', 'LAB-X', now() + interval '1 min'),    -- queued
    ('rx:s2', 'sc-x', '04EEEEEE', 'LAB-X', now() + interval '2 min'),    -- unregistered
    ('rx:s3', 'sc-x', 'zz', 'LAB-X', now() + interval '3 min'),          -- bad_uid
    ('rx:s4', 'sc-x', '04AB12CD', 'LAB-X', '1960-01-01 10:00+00');      -- bad_time
RESET ROLE;
SELECT event_id, flag, miscount FROM mekatek.visitor_event WHERE event_id LIKE 'rx:%' ORDER BY 1;
SELECT event_id, flag FROM mekatek.rfid_scan WHERE event_id LIKE 'rx:%' ORDER BY 1;
SELECT mekatek.device_rollup_absorb() > 0 AS absorbed;
SELECT hour AT TIME ZONE 'Asia/Kathmandu' AS kathmandu_hour, entered, exited, events, flagged
  FROM mekatek.visitor_hourly WHERE room_id = 'rx1' ORDER BY hour;
SELECT day, entered, exited, events, flagged FROM mekatek.visitor_daily WHERE room_id = 'rx1' ORDER BY day;
SELECT sum(scans) AS scans, sum(flagged) AS flagged FROM mekatek.rfid_hourly WHERE lab = 'LAB-X';
SELECT sum(scans) AS scans, sum(flagged) AS flagged FROM mekatek.rfid_daily WHERE lab = 'LAB-X';

-- A recount of the raw rows, per hour and per day, for both tables.
CREATE TEMP VIEW rx_check AS
SELECT (SELECT array_agg((hour, entered, exited, events, flagged) ORDER BY hour)
          FROM mekatek.visitor_hourly WHERE room_id = 'rx1')
     = (SELECT array_agg((h, i, o, e, f) ORDER BY h) FROM (
          SELECT date_trunc('hour', seen_at, 'Asia/Kathmandu') h,
                 coalesce(sum(n) FILTER (WHERE flag IS NULL AND direction = 'in'), 0) i,
                 coalesce(sum(n) FILTER (WHERE flag IS NULL AND direction = 'out'), 0) o,
                 count(*) e, count(*) FILTER (WHERE flag IS NOT NULL) f
            FROM mekatek.visitor_event WHERE room_id = 'rx1' GROUP BY 1) r) AS visitor_hourly_ok,
       (SELECT array_agg((day, entered, exited, events, flagged) ORDER BY day)
          FROM mekatek.visitor_daily WHERE room_id = 'rx1')
     = (SELECT array_agg((d, i, o, e, f) ORDER BY d) FROM (
          SELECT (seen_at AT TIME ZONE 'Asia/Kathmandu')::date d,
                 coalesce(sum(n) FILTER (WHERE flag IS NULL AND direction = 'in'), 0) i,
                 coalesce(sum(n) FILTER (WHERE flag IS NULL AND direction = 'out'), 0) o,
                 count(*) e, count(*) FILTER (WHERE flag IS NOT NULL) f
            FROM mekatek.visitor_event WHERE room_id = 'rx1' GROUP BY 1) r) AS visitor_daily_ok,
       (SELECT array_agg((hour, scans, flagged) ORDER BY hour) FROM mekatek.rfid_hourly WHERE lab = 'LAB-X')
     = (SELECT array_agg((h, s, f) ORDER BY h) FROM (
          SELECT date_trunc('hour', scanned_at, 'Asia/Kathmandu') h, count(*) s,
                 count(*) FILTER (WHERE flag IS NOT NULL) f
            FROM mekatek.rfid_scan WHERE lab = 'LAB-X' GROUP BY 1) r) AS rfid_hourly_ok;
SELECT * FROM rx_check;

-- The owner's corrections: a flag set and one cleared, an event moved to
-- the next hour, a scan's flag cleared; an UPDATE that changes no counted
-- column adds nothing.
UPDATE mekatek.visitor_event SET flag = 'late' WHERE event_id = 'rx:3';
UPDATE mekatek.visitor_event SET flag = NULL WHERE event_id = 'rx:7';
UPDATE mekatek.visitor_event SET seen_at = '2026-11-29 11:02+05:45' WHERE event_id = 'rx:6';
UPDATE mekatek.rfid_scan SET flag = NULL WHERE event_id = 'rx:s2';
UPDATE mekatek.visitor_event SET camera = camera WHERE event_id = 'rx:1';
SELECT count(*) AS pending_deltas FROM mekatek.visitor_rollup_pending WHERE room_id = 'rx1';
SELECT mekatek.device_rollup_absorb() > 0 AS absorbed;
SELECT * FROM rx_check;
SELECT hour AT TIME ZONE 'Asia/Kathmandu' AS kathmandu_hour, entered, exited, events, flagged
  FROM mekatek.visitor_hourly WHERE room_id = 'rx1' ORDER BY hour;
SELECT sum(scans) AS scans, sum(flagged) AS flagged FROM mekatek.rfid_hourly WHERE lab = 'LAB-X';

-- Only an UPDATE trigger, only on the two raw tables.
CREATE TABLE rx_other (a int);
CREATE TRIGGER rx_wrong AFTER INSERT ON rx_other
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION mekatek.device_rollup_reflag();
INSERT INTO rx_other VALUES (1);
DROP TRIGGER rx_wrong ON rx_other;
CREATE TRIGGER rx_wrong AFTER UPDATE ON rx_other
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION mekatek.device_rollup_reflag();
UPDATE rx_other SET a = 2;
DROP TABLE rx_other;

DROP VIEW rx_check;
RESET mekatek.device_time_zone;
DELETE FROM mekatek.visitor_event WHERE event_id LIKE 'rx:%';
DELETE FROM mekatek.rfid_scan WHERE event_id LIKE 'rx:%';
DELETE FROM mekatek.lab_item_history WHERE item_code = 'RX-1';
DELETE FROM mekatek.lab_item WHERE item_code = 'RX-1';
DELETE FROM mekatek.visitor_hourly WHERE room_id = 'rx1';
DELETE FROM mekatek.visitor_daily WHERE room_id = 'rx1';
DELETE FROM mekatek.rfid_hourly WHERE lab = 'LAB-X';
DELETE FROM mekatek.rfid_daily WHERE lab = 'LAB-X';
DELETE FROM mekatek.visitor_rollup_pending WHERE room_id = 'rx1';
DELETE FROM mekatek.rfid_rollup_pending WHERE lab = 'LAB-X';
DELETE FROM mekatek.room_occupancy WHERE room_id = 'rx1';
DELETE FROM mekatek.room WHERE room_id = 'rx1';
DELETE FROM mekatek.outbox;
DROP ROLE rx_device;
