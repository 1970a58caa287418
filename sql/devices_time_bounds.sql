-- devices: event time and bounded input.  Devices send what they like:
-- late events, clocks that were never set, megabytes where a UID belongs.
-- Nothing they send is lost, nothing outside the bounds moves state, and
-- no error quotes more than a short prefix of what was sent.
SET timezone = 'Asia/Jakarta';
SET datestyle = 'ISO, YMD';
-- The examples are dated 2024; believe device clocks that far back.
SET mekatek.device_time_behind = '20000d';

-- ------------------------------------------------------------ bounded input
-- A 10 MB "UID": refused, quoting 64 bytes of it.
SELECT mekatek.rfid_uid(repeat('a', 10 * 1024 * 1024));
-- The counter's fields are bounded too; the error names the argument.
SELECT mekatek.lab_register('04AABBCC', repeat('T', 10 * 1024 * 1024), 'x', 'sample', 'uji');
SELECT mekatek.lab_register('04AABBCC', 'T1', repeat('c', 201), 'sample', 'uji');
-- A lock always gets an answer; a 50 MB UID or a 100-byte door name is
-- logged as its first 64 bytes.
SELECT mekatek.door_access('d1', repeat('A', 50000000)) AS opens;
SELECT mekatek.door_access(repeat('d', 100), '04CE93CA') AS opens;
SELECT octet_length(door_id) AS door_bytes, octet_length(uid) AS uid_bytes, reason
  FROM mekatek.door_attempt WHERE door_id = 'd1' OR door_id LIKE 'ddd%' ORDER BY attempt_id;
-- A scan of a 1 MB "UID" is kept (its 64-byte prefix) and flagged.
INSERT INTO mekatek.rfid_scan(scanner, uid, lab) VALUES ('s1', repeat('U', 1024 * 1024), 'L1');
SELECT scanner, octet_length(uid) AS uid_bytes, flag FROM mekatek.rfid_scan WHERE scanner = 's1';
-- Names and event ids beyond their bounds are refused by the table's CHECK
-- (PostgreSQL quotes at most 64 bytes of each column of the refused row).
\set VERBOSITY terse
INSERT INTO mekatek.rfid_scan(scanner, uid, lab) VALUES (repeat('s', 65), '04AABBCC', 'L1');
INSERT INTO mekatek.rfid_scan(scanner, uid, lab) VALUES ('s1', '04AABBCC', '');
INSERT INTO mekatek.visitor_event(camera, room_id, direction) VALUES (repeat('c', 1000000), 'r1', 'in');
INSERT INTO mekatek.visitor_event(event_id, camera, room_id, direction) VALUES (repeat('e', 151), 'c', 'r1', 'in');
INSERT INTO mekatek.visitor_event(camera, room_id, direction) VALUES ('c', repeat('r', 65), 'in');
\set VERBOSITY default

-- ------------------------------------------------------------ device clocks
-- Outside the window around the server's clock (default: ten years back,
-- one hour ahead): kept, flagged bad_time, not counted.
INSERT INTO mekatek.room VALUES ('r1', 'Ruang 1', 10);
INSERT INTO mekatek.visitor_event(camera, room_id, direction, seen_at) VALUES
  ('c1', 'r1', 'in', 'infinity'), ('c1', 'r1', 'in', '-infinity'),
  ('c1', 'r1', 'in', '2099-01-01'), ('c1', 'r1', 'in', now());
SELECT seen_at < 'infinity' AND seen_at > '-infinity' AS finite, flag
  FROM mekatek.visitor_event WHERE room_id = 'r1' ORDER BY event_no;
SELECT entered, inside FROM mekatek.room_occupancy WHERE room_id = 'r1';
SELECT count(*) AS minutes FROM mekatek.visitor_minute WHERE room_id = 'r1';

-- ------------------------------------------------------------ late cameras
-- The issue's example.  Room r2 holds 2.  Camera B's "out 2" at 10:00:05
-- arrives first; camera A's "in 2" at 10:00:00 arrives late, within
-- mekatek.event_lateness (5 minutes).  In arrival order that is an exit
-- from an empty room (miscount 2) and then a room full of nobody.  In event
-- time two people came in and left: the room ends empty, nobody was
-- miscounted, and the five seconds of "full", over before the late event
-- told of them, are one retracted alert.
SHOW mekatek.event_lateness;
INSERT INTO mekatek.room VALUES ('r2', 'Ruang 2', 2);
INSERT INTO mekatek.visitor_event(camera, room_id, direction, n, seen_at)
VALUES ('cam-B', 'r2', 'out', 2, '2024-12-01 10:00:05+07');
SELECT entered, exited, miscounted, inside FROM mekatek.room_occupancy WHERE room_id = 'r2';
INSERT INTO mekatek.visitor_event(camera, room_id, direction, n, seen_at)
VALUES ('cam-A', 'r2', 'in', 2, '2024-12-01 10:00:00+07');
SELECT entered, exited, miscounted, inside FROM mekatek.room_occupancy WHERE room_id = 'r2';
SELECT camera, direction, n, miscount, flag FROM mekatek.visitor_event WHERE room_id = 'r2' ORDER BY seen_at;
SELECT state, inside, at, retracted_at IS NOT NULL AS retracted
  FROM mekatek.capacity_alert WHERE room_id = 'r2' ORDER BY alert_id;

-- An alert that was true when it fired, undone by a late event: one
-- visitor inside, camera A's "in" at 10:10:05 fills the room (alert
-- fires), camera B's "out" at 10:10:03 arrives after it: in event time the
-- room never held 2, and the alert is retracted.
INSERT INTO mekatek.visitor_event(camera, room_id, direction, n, seen_at)
VALUES ('cam-A', 'r2', 'in', 1, '2024-12-01 10:10:00+07');
INSERT INTO mekatek.visitor_event(camera, room_id, direction, n, seen_at)
VALUES ('cam-A', 'r2', 'in', 1, '2024-12-01 10:10:05+07');
SELECT state, inside, at, retracted_at IS NOT NULL AS retracted
  FROM mekatek.capacity_alert WHERE room_id = 'r2' ORDER BY alert_id;
INSERT INTO mekatek.visitor_event(camera, room_id, direction, n, seen_at)
VALUES ('cam-B', 'r2', 'out', 1, '2024-12-01 10:10:03+07');
SELECT state, inside, at, retracted_at IS NOT NULL AS retracted
  FROM mekatek.capacity_alert WHERE room_id = 'r2' ORDER BY alert_id;
SELECT entered, exited, miscounted, inside FROM mekatek.room_occupancy WHERE room_id = 'r2';

-- Later than the lateness window: kept, flagged late, not counted.
INSERT INTO mekatek.visitor_event(camera, room_id, direction, n, seen_at)
VALUES ('cam-B', 'r2', 'out', 1, '2024-12-01 10:04:00+07');
SELECT camera, direction, seen_at, flag FROM mekatek.visitor_event
 WHERE room_id = 'r2' AND flag IS NOT NULL;
SELECT entered, exited, miscounted, inside FROM mekatek.room_occupancy WHERE room_id = 'r2';

-- A batch out of order in itself is applied in event time: the "out"
-- stamped after the "in" finds somebody inside.
INSERT INTO mekatek.room VALUES ('r3', 'Ruang 3', NULL);
INSERT INTO mekatek.visitor_event(camera, room_id, direction, n, seen_at) VALUES
  ('cam-C', 'r3', 'out', 1, '2024-12-01 11:00:02+07'),
  ('cam-C', 'r3', 'in', 1, '2024-12-01 11:00:01+07');
SELECT entered, exited, miscounted, inside FROM mekatek.room_occupancy WHERE room_id = 'r3';
-- The per-minute report counts what counted, in event time.
SELECT to_char(minute, 'HH24:MI') AS minute, entered, exited, miscounted, inside
  FROM mekatek.visitor_minute WHERE room_id = 'r2' ORDER BY minute;

-- ---------------------------------------------------------- lab scan times
-- The issue's item: registered on 12-01, then scans dated 11-30, 11-29 and
-- 11-28 (a scanner whose clock runs backwards).  It stays registered and
-- the scans are flagged.
SELECT item_code FROM mekatek.lab_register('04112233', 'T900A', 'PT Contoh', 'sample', 'uji');
UPDATE mekatek.lab_item SET registered_at = '2024-12-01 08:00:00+07' WHERE item_code = 'T900A';
UPDATE mekatek.lab_item_history SET at = '2024-12-01 08:00:00+07' WHERE item_code = 'T900A';
INSERT INTO mekatek.rfid_scan(scanner, uid, lab, scanned_at) VALUES
  ('s-f', '04112233', 'LAB-FISIKA', '2024-11-30 09:00:00+07');
INSERT INTO mekatek.rfid_scan(scanner, uid, lab, scanned_at) VALUES
  ('s-f', '04112233', 'LAB-FISIKA', '2024-11-29 09:00:00+07');
INSERT INTO mekatek.rfid_scan(scanner, uid, lab, scanned_at) VALUES
  ('s-f', '04112233', 'LAB-FISIKA', '2024-11-28 09:00:00+07');
SELECT item_code, state FROM mekatek.lab_item WHERE item_code = 'T900A';
-- Queued at LAB-FISIKA; a scan dated before that one goes back in time; a
-- test scan at LAB-KIMIA is at the wrong lab.  Neither moves the item.
INSERT INTO mekatek.rfid_scan(scanner, uid, lab, scanned_at) VALUES
  ('s-f', '04112233', 'LAB-FISIKA', '2024-12-01 09:00:00+07');
INSERT INTO mekatek.rfid_scan(scanner, uid, lab, scanned_at) VALUES
  ('s-f', '04112233', 'LAB-FISIKA', '2024-12-01 08:30:00+07');
INSERT INTO mekatek.rfid_scan(scanner, uid, lab, scanned_at) VALUES
  ('s-k', '04112233', 'LAB-KIMIA', '2024-12-01 10:00:00+07');
SELECT item_code, state, lab FROM mekatek.lab_item WHERE item_code = 'T900A';
-- The same rules in one batch naming the tag several times (an edge
-- client's spool): the right lab advances it, the others are flagged.
INSERT INTO mekatek.rfid_scan(scanner, uid, lab, scanned_at) VALUES
  ('s-k', '04112233', 'LAB-KIMIA', '2024-12-01 10:01:00+07'),
  ('s-f', '04112233', 'LAB-FISIKA', '2024-12-01 10:02:00+07'),
  ('s-f', '04112233', 'LAB-FISIKA', '2024-12-01 09:30:00+07'),
  ('s-f', '04112233', 'LAB-FISIKA', '2024-12-01 07:00:00+07');
SELECT s.lab, s.scanned_at, s.flag, h.from_state, h.to_state
  FROM mekatek.rfid_scan s LEFT JOIN mekatek.lab_item_history h USING (scan_id)
 WHERE s.uid = '04112233' ORDER BY s.scan_id;
SELECT from_state, to_state, lab, at FROM mekatek.lab_item_history
 WHERE item_code = 'T900A' ORDER BY history_id;

-- ------------------------------------------------------------ accuracy
-- Formula (2) clamps to [0, 100]: a count four times the manual one is 0 %
-- accurate, not -200 %.
SELECT mekatek.count_accuracy(200, 50) AS accuracy;

-- The other device tests share this database: leave it as found.
DELETE FROM mekatek.door_attempt WHERE door_id = 'd1' OR door_id LIKE 'ddd%';
DELETE FROM mekatek.rfid_scan WHERE scanner IN ('s1', 's-f', 's-k');
DELETE FROM mekatek.lab_item_history WHERE item_code = 'T900A';
DELETE FROM mekatek.lab_item WHERE item_code = 'T900A';
DELETE FROM mekatek.capacity_alert WHERE room_id IN ('r1', 'r2', 'r3');
DELETE FROM mekatek.visitor_event WHERE room_id IN ('r1', 'r2', 'r3');
DELETE FROM mekatek.room_occupancy WHERE room_id IN ('r1', 'r2', 'r3');
DELETE FROM mekatek.room WHERE room_id IN ('r1', 'r2', 'r3');
