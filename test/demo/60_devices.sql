-- Demo step 60: devices that only INSERT (lab scanner, door camera, lock).
\pset footer off
\set SHOW_CONTEXT never
\echo
\echo '=== devices: RFID lab samples, visitor counting, door access ==='
SET timezone = 'Asia/Jakarta';

\echo 'The counter registers two samples on their RFID tags:'
SELECT r.item_code, r.uid, r.state, r.tag_code
  FROM (VALUES ('04d693caa36580', 'T005A', 'cat tembok'), ('04:CE:93:CA:A3:65:80', 'T001A', 'cat besi')) t(uid, code, kind),
       LATERAL mekatek.lab_register(t.uid, t.code, 'PT Maju', t.kind, 'uji mutu') r;

\echo 'The lab scanner (role mekatek_device) only INSERTs; a double read 1 s later counts once, an unknown tag is flagged:'
SET ROLE mekatek_device;
INSERT INTO mekatek.rfid_scan(scanner, uid, lab, scanned_at) VALUES
  ('lab-1', '04D693CAA36580', 'LAB-KIMIA', now() + interval '1 min'),
  ('lab-1', '04D693CAA36580', 'LAB-KIMIA', now() + interval '1 min 1 s'),
  ('lab-1', '04D693CAA36580', 'LAB-KIMIA', now() + interval '20 min'),
  ('lab-1', '04CE93CAA36580', 'LAB-KIMIA', now() + interval '25 min'),
  ('lab-1', '04FFFFFFFFFFFF', 'LAB-KIMIA', now() + interval '30 min');
RESET ROLE;
SELECT item_code, state, lab, tag_code FROM mekatek.lab_item ORDER BY item_code;
SELECT uid, flag FROM mekatek.rfid_scan WHERE flag IS NOT NULL;

\echo 'The restaurant door camera: capacity 5, seven in, eight counted out (one more than were inside):'
INSERT INTO mekatek.room VALUES ('resto', 'Restoran lantai 1', 5);
INSERT INTO mekatek.visitor_event(camera, room_id, direction, n, seen_at) VALUES
  ('cam-1', 'resto', 'in', 3, '2024-05-01 12:00:10+07'), ('cam-1', 'resto', 'in', 2, '2024-05-01 12:00:40+07'),
  ('cam-1', 'resto', 'in', 2, '2024-05-01 12:01:05+07'), ('cam-1', 'resto', 'out', 3, '2024-05-01 12:01:30+07'),
  ('cam-1', 'resto', 'out', 5, '2024-05-01 12:02:00+07');
SELECT room_id, entered, exited, miscounted, inside FROM mekatek.room_occupancy WHERE room_id = 'resto';
\echo 'Capacity crossings (each also sent as NOTIFY mekatek_capacity to the buzzer):'
SELECT state, inside, capacity, at FROM mekatek.capacity_alert ORDER BY alert_id;
\echo 'The per-minute report (\\copy (SELECT ...) TO ''report.csv'' CSV HEADER exports it):'
SELECT to_char(minute, 'HH24:MI') AS minute, entered, exited, miscounted, inside
  FROM mekatek.visitor_minute WHERE room_id = 'resto' ORDER BY minute;
SELECT round(mekatek.count_accuracy(67, 78)::numeric, 1) AS "accuracy 67 counted / 78 manual (%)";

\echo 'The door lock asks one question; every attempt is logged:'
INSERT INTO mekatek.door_card(uid, holder, door_id) VALUES ('04D693CAA36580', 'Anas', 'front');
SET ROLE mekatek_device;
SELECT mekatek.door_access('front', '04D693CAA36580') AS anas_opens,
       mekatek.door_access('front', '04AA90CAA36580') AS stranger_opens;
RESET ROLE;
SELECT door_id, uid, granted, reason FROM mekatek.door_attempt ORDER BY attempt_id;
