-- devices: hourly and daily rollups stored incrementally, in the
-- configured zone (here Asia/Kolkata, +05:30, so hours start at :30 UTC),
-- and the retention of raw events, which never deletes an hour the rollups
-- have not absorbed.
SET mekatek.device_time_zone = 'Asia/Kolkata';
INSERT INTO mekatek.room VALUES ('ru1', 'Rollup hall', NULL);
CREATE ROLE ru_device IN ROLE mekatek_device;
SET ROLE ru_device;
-- One batch over two hours and two days (Kolkata time), then a replay of
-- part of it, then a late event (20 min behind the room's latest: flagged).
INSERT INTO mekatek.visitor_event(event_id, camera, room_id, direction, n, seen_at) VALUES
    ('ru:1', 'cam-r', 'ru1', 'in', 2, '2026-11-28 23:20+05:30'),
    ('ru:2', 'cam-r', 'ru1', 'in', 1, '2026-11-28 23:40+05:30'),
    ('ru:3', 'cam-r', 'ru1', 'out', 1, '2026-11-29 00:10+05:30')
ON CONFLICT DO NOTHING;
INSERT INTO mekatek.visitor_event(event_id, camera, room_id, direction, n, seen_at) VALUES
    ('ru:2', 'cam-r', 'ru1', 'in', 1, '2026-11-28 23:40+05:30'),
    ('ru:4', 'cam-r', 'ru1', 'out', 2, '2026-11-29 00:15+05:30')
ON CONFLICT DO NOTHING;
INSERT INTO mekatek.visitor_event(event_id, camera, room_id, direction, n, seen_at) VALUES
    ('ru:5', 'cam-r', 'ru1', 'in', 4, '2026-11-28 23:50+05:30')
ON CONFLICT DO NOTHING;
INSERT INTO mekatek.rfid_scan(event_id, scanner, uid, lab, scanned_at) VALUES
    ('ru:s1', 'sc-r', '04AAAAAA', 'LAB-R', '2026-11-28 23:59+05:30'),
    ('ru:s2', 'sc-r', 'not-a-uid', 'LAB-R', '2026-11-29 00:01+05:30')
ON CONFLICT DO NOTHING;
SELECT count(*) FROM mekatek.visitor_hourly;     -- devices read no rollup
SELECT mekatek.device_rollup_absorb();            -- nor move them
RESET ROLE;
-- The triggers left counts per statement and hour; absorbing them fills
-- the rollups (pg_cron does it every minute) and empties the pending rows.
SELECT count(*) > 0 AS pending FROM mekatek.visitor_rollup_pending WHERE room_id = 'ru1';
SELECT mekatek.device_rollup_absorb() > 0 AS absorbed;
SELECT (SELECT count(*) FROM mekatek.visitor_rollup_pending) + (SELECT count(*) FROM mekatek.rfid_rollup_pending) AS pending_left;
SELECT room_id, hour AT TIME ZONE 'Asia/Kolkata' AS kolkata_hour, entered, exited, events, flagged
  FROM mekatek.visitor_hourly WHERE room_id = 'ru1' ORDER BY hour;
SELECT room_id, day, entered, exited, events, flagged FROM mekatek.visitor_daily WHERE room_id = 'ru1' ORDER BY day;
SELECT lab, hour AT TIME ZONE 'Asia/Kolkata' AS kolkata_hour, scans, flagged FROM mekatek.rfid_hourly WHERE lab = 'LAB-R' ORDER BY hour;
SELECT lab, day, scans, flagged FROM mekatek.rfid_daily WHERE lab = 'LAB-R' ORDER BY day;
-- The rollups equal a recount from the raw events.
SELECT (SELECT array_agg((hour, entered, exited, events, flagged) ORDER BY hour) FROM mekatek.visitor_hourly WHERE room_id = 'ru1')
     = (SELECT array_agg((h, i, o, e, f) ORDER BY h) FROM (
          SELECT date_trunc('hour', seen_at, 'Asia/Kolkata') h,
                 coalesce(sum(n) FILTER (WHERE flag IS NULL AND direction = 'in'), 0) i,
                 coalesce(sum(n) FILTER (WHERE flag IS NULL AND direction = 'out'), 0) o,
                 count(*) e, count(*) FILTER (WHERE flag IS NOT NULL) f
            FROM mekatek.visitor_event WHERE room_id = 'ru1' GROUP BY 1) r) AS rollup_equals_recount;

-- The settings: a zone PostgreSQL knows; raw events kept 0 (forever) or at
-- least a day; superuser only.
SET mekatek.device_time_zone = 'Mars/Olympus';
SET mekatek.device_raw_retention = '1h';
SET ROLE ru_device;
SET mekatek.device_raw_retention = '2d';
RESET ROLE;
RESET mekatek.device_raw_retention;
SELECT * FROM mekatek.device_apply_retention();

-- Retention, in a transaction rolled back at the end: the other tests'
-- raw events (bucketed in UTC, not in this zone) are set aside first.
BEGIN;
DELETE FROM mekatek.visitor_event WHERE event_id IS NULL OR event_id NOT LIKE 'ru:%';
DELETE FROM mekatek.rfid_scan WHERE event_id IS NULL OR event_id NOT LIKE 'ru:%';
-- A raw row that reached the table without its trigger (a restore of the
-- raw table alone) has no rollup: its hour is kept.
SET session_replication_role = replica;
INSERT INTO mekatek.visitor_event(event_id, camera, room_id, direction, n, seen_at)
    VALUES ('ru:x', 'cam-r', 'ru2', 'in', 1, '2026-11-28 10:00+05:30');
RESET session_replication_role;
SET mekatek.device_raw_retention = '2d';
SELECT * FROM mekatek.device_apply_retention();
SELECT event_id FROM mekatek.visitor_event WHERE event_id LIKE 'ru:%' ORDER BY 1;
SELECT event_id FROM mekatek.rfid_scan WHERE event_id LIKE 'ru:%' ORDER BY 1;
-- The rollups keep what was deleted.
SELECT sum(events) AS events, sum(entered) AS entered FROM mekatek.visitor_hourly WHERE room_id = 'ru1';
SELECT * FROM mekatek.device_apply_retention();
ROLLBACK;
RESET mekatek.device_raw_retention;
RESET mekatek.device_time_zone;

DELETE FROM mekatek.visitor_event WHERE event_id LIKE 'ru:%';
DELETE FROM mekatek.visitor_hourly WHERE room_id IN ('ru1', 'ru2');
DELETE FROM mekatek.visitor_daily WHERE room_id IN ('ru1', 'ru2');
DELETE FROM mekatek.rfid_hourly WHERE lab = 'LAB-R';
DELETE FROM mekatek.rfid_daily WHERE lab = 'LAB-R';
DELETE FROM mekatek.room_occupancy WHERE room_id IN ('ru1', 'ru2');
DELETE FROM mekatek.room WHERE room_id = 'ru1';
DELETE FROM mekatek.outbox;
DROP ROLE ru_device;
