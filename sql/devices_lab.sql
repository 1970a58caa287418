-- devices: RFID lab samples.  Replays the paper's Tabel 2 (the UID and
-- item-code registrations) and the queue (antrian), test (uji) and done
-- (selesai) transitions its lab scanner makes.
SET timezone = 'Asia/Jakarta';
SET datestyle = 'ISO, YMD';

-- UIDs: 4, 7 or 10 bytes of hex, case-insensitive, stored upper-case.
SELECT mekatek.rfid_uid('04d693caa36580') AS seven_bytes,
       mekatek.rfid_uid('04:D6:93:CA') AS four_bytes,
       mekatek.rfid_uid('04 d6 93 ca a3 65 80 11 22 33') AS ten_bytes;
SELECT mekatek.rfid_uid('046D9ADA06581');   -- the paper's misprinted "Data Terima" (13 digits)
SELECT mekatek.rfid_uid('04D693CAA3658G');
SELECT mekatek.rfid_uid('04D693CAA36580:');
SELECT mekatek.rfid_uid('');

-- Tabel 2: the counter registers 19 items (T010A is absent in the paper).
SELECT count(*) AS registered
  FROM (VALUES ('04CE93CAA36580', 'T001A'), ('046D9ADAA06581', 'T002A'),
               ('04EB93CAA36580', 'T003A'), ('04CA93CAA36580', 'T004A'),
               ('04D693CAA36580', 'T005A'), ('04DF93CAA36580', 'T006A'),
               ('04EF93CAA36580', 'T007A'), ('04DA93CAA36580', 'T008A'),
               ('04E793CAA36580', 'T009A'), ('04AA90CAA36580', 'T011A'),
               ('041091CAA36581', 'T012A'), ('048490CAA36580', 'T013A'),
               ('040891CAA36581', 'T014A'), ('044891CAA36581', 'T015A'),
               ('04CA91CAA36580', 'T016A'), ('047790CAA36580', 'T017A'),
               ('049090CAA36580', 'T018A'), ('049B91CAA36580', 'T019A'),
               ('047393CAA36580', 'T020A')) AS t(uid, code),
       LATERAL mekatek.lab_register(lower(uid), code, 'Balai Riset Standardisasi', 'sample', 'uji mutu');

-- The paper's counter registered them on 2022-06-01: scans dated before
-- an item's registration move nothing (see the back-dated scans below).
UPDATE mekatek.lab_item SET registered_at = '2022-06-01 08:00:00+07';
UPDATE mekatek.lab_item_history SET at = '2022-06-01 08:00:00+07' WHERE from_state IS NULL;

SELECT item_code, uid, state, tag_code FROM mekatek.lab_item WHERE item_code IN ('T001A', 'T002A');

-- T021A reuses T001A's tag while T001A is still in the lab: refused.
SELECT mekatek.lab_register('04CE93CAA36580', 'T021A', 'Balai Riset Standardisasi', 'sample', 'uji mutu');
-- A code is a test number: never twice.
SELECT mekatek.lab_register('04AABBCC', 'T001A', 'Balai Riset Standardisasi', 'sample', 'uji mutu');
-- The misprinted UID is no UID.
SELECT mekatek.lab_register('046D9ADA06581', 'T099A', 'Balai Riset Standardisasi', 'sample', 'uji mutu');
SELECT mekatek.lab_register('04AABBCC', 'T099A', NULL, 'sample', 'uji mutu');
SELECT mekatek.lab_register('04AABBCC', '', 'x', 'sample', 'uji mutu');

-- The lab scanner: three presses per item, 10 s apart between items.
-- First round: every item is queued (antrian) at LAB-1.
INSERT INTO mekatek.rfid_scan(scanner, uid, lab, scanned_at)
SELECT 'lab-1', uid, 'LAB-1', '2022-06-01 09:00:00+07'::timestamptz + item_id * interval '10 s'
  FROM mekatek.lab_item ORDER BY item_id;
SELECT state, count(*) FROM mekatek.lab_item GROUP BY state ORDER BY state;

-- The same press read twice (1 s later) counts once: debounce is 3 s.
SHOW mekatek.rfid_debounce;
INSERT INTO mekatek.rfid_scan(scanner, uid, lab, scanned_at)
VALUES ('lab-1', '04CE93CAA36580', 'LAB-1', '2022-06-01 09:00:11+07');
SELECT item_code, state, tag_code FROM mekatek.lab_item WHERE item_code = 'T001A';

-- Second round: testing (uji); third round: done (selesai).
INSERT INTO mekatek.rfid_scan(scanner, uid, lab, scanned_at)
SELECT 'lab-1', uid, 'LAB-1', '2022-06-01 10:00:00+07'::timestamptz + item_id * interval '10 s'
  FROM mekatek.lab_item ORDER BY item_id;
SELECT state, count(*), min(tag_code) FROM mekatek.lab_item GROUP BY state ORDER BY state;
INSERT INTO mekatek.rfid_scan(scanner, uid, lab, scanned_at)
SELECT 'lab-1', uid, 'LAB-1', '2022-06-01 11:00:00+07'::timestamptz + item_id * interval '10 s'
  FROM mekatek.lab_item ORDER BY item_id;
SELECT state, count(*), min(tag_code) FROM mekatek.lab_item GROUP BY state ORDER BY state;

-- A bounce of the finishing press is no unknown tag; a later scan is.
INSERT INTO mekatek.rfid_scan(scanner, uid, lab, scanned_at)
VALUES ('lab-1', '04CE93CAA36580', 'LAB-1', '2022-06-01 11:00:12+07'),
       ('lab-1', '04CE93CAA36580', 'LAB-1', '2022-06-01 12:00:00+07');
-- Unknown tags and garbage are kept and flagged, never refused.
INSERT INTO mekatek.rfid_scan(scanner, uid, lab, scanned_at)
VALUES ('lab-2', '04ffffffffffff', 'LAB-2', '2022-06-01 12:00:01+07'),
       ('lab-2', 'not a tag', 'LAB-2', '2022-06-01 12:00:02+07');
SELECT scanner, uid, scanned_at, flag FROM mekatek.rfid_scan
 WHERE scanned_at = '2022-06-01 11:00:12+07' OR scanned_at >= '2022-06-01 12:00:00+07' ORDER BY scan_id;

-- The history of T001A: registration and one row per counted press.
SELECT from_state, to_state, h.lab, CASE WHEN scan_id IS NOT NULL THEN at END AS scanned_at
  FROM mekatek.lab_item_history h
 WHERE h.item_code = 'T001A' ORDER BY history_id;
SELECT count(*) AS transitions FROM mekatek.lab_item_history WHERE from_state IS NOT NULL;

-- Every tag is free again: the rest of Tabel 2 (T021A..T030A) reuses them.
SELECT count(*) AS registered
  FROM (VALUES ('04CE93CAA36580', 'T021A'), ('046D9ADAA06581', 'T022A'),
               ('04EB93CAA36580', 'T023A'), ('04CA93CAA36580', 'T025A'),
               ('04D693CAA36580', 'T026A'), ('04DF93CAA36580', 'T027A'),
               ('04EF93CAA36580', 'T028A'), ('04DA93CAA36580', 'T029A'),
               ('04E793CAA36580', 'T030A')) AS t(uid, code),
       LATERAL mekatek.lab_register(uid, code, 'Balai Riset Standardisasi', 'sample', 'uji mutu');
UPDATE mekatek.lab_item SET registered_at = '2022-06-02 08:00:00+07' WHERE state = 'registered';
SELECT uid, string_agg(item_code || ':' || state, ' ' ORDER BY item_id) AS items
  FROM mekatek.lab_item WHERE uid IN ('04CE93CAA36580', '04E793CAA36580') GROUP BY uid ORDER BY uid;

-- An edge client replaying a scan (same event_id) changes nothing twice.
INSERT INTO mekatek.rfid_scan(event_id, scanner, uid, lab, scanned_at)
VALUES ('lab-1:1001', 'lab-1', '04CE93CAA36580', 'LAB-1', '2022-06-02 09:00:00+07')
ON CONFLICT (event_id) DO NOTHING;
INSERT INTO mekatek.rfid_scan(event_id, scanner, uid, lab, scanned_at)
VALUES ('lab-1:1001', 'lab-1', '04CE93CAA36580', 'LAB-1', '2022-06-02 09:00:00+07')
ON CONFLICT (event_id) DO NOTHING;
SELECT item_code, state FROM mekatek.lab_item WHERE item_code = 'T021A';

-- Debouncing can be turned off (superuser setting): two quick presses count twice.
SET mekatek.rfid_debounce = 0;
INSERT INTO mekatek.rfid_scan(scanner, uid, lab, scanned_at)
VALUES ('lab-1', '04CE93CAA36580', 'LAB-1', '2022-06-02 09:00:01+07'),
       ('lab-1', '04CE93CAA36580', 'LAB-1', '2022-06-02 09:00:01+07');
SELECT item_code, state, lab, tag_code FROM mekatek.lab_item WHERE item_code = 'T021A';
RESET mekatek.rfid_debounce;
SET mekatek.rfid_debounce = '-1';

-- A scanner's batch naming each tag once (the usual statement): a counted
-- press at LAB-2 and one at LAB-1, a bounce of an item's press made just
-- before, a bounce of the press that finished T021A, an unknown tag and
-- garbage.  Only the last two are flagged.
INSERT INTO mekatek.rfid_scan(scanner, uid, lab, scanned_at)
VALUES ('lab-1', '04EB93CAA36580', 'LAB-1', '2022-06-02 09:00:00+07');
INSERT INTO mekatek.rfid_scan(scanner, uid, lab, scanned_at)
VALUES ('lab-2', '046D9ADAA06581', 'LAB-2', '2022-06-02 09:00:02+07'),
       ('lab-2', '04EB93CAA36580', 'LAB-2', '2022-06-02 09:00:02+07'),
       ('lab-2', '04CE93CAA36580', 'LAB-2', '2022-06-02 09:00:02+07'),
       ('lab-2', '04aabbcc', 'LAB-2', '2022-06-02 09:00:02+07'),
       ('lab-2', 'zz', 'LAB-2', '2022-06-02 09:00:02+07'),
       ('lab-1', '04CA93CAA36580', 'LAB-1', '2022-06-02 09:00:02+07');
SELECT s.uid, s.lab, s.flag, h.item_code, h.from_state, h.to_state
  FROM mekatek.rfid_scan s LEFT JOIN mekatek.lab_item_history h USING (scan_id)
 WHERE s.scanned_at = '2022-06-02 09:00:02+07' ORDER BY s.scan_id;

-- One batch carrying a tag's whole visit (an edge client's spool): each
-- press 5 s apart advances it, the bounce between does not, and a press
-- after it is done names no item in the lab.
INSERT INTO mekatek.rfid_scan(scanner, uid, lab, scanned_at)
VALUES ('lab-1', '04D693CAA36580', 'LAB-1', '2022-06-02 09:10:00+07'),
       ('lab-1', '04D693CAA36580', 'LAB-1', '2022-06-02 09:10:01+07'),
       ('lab-1', '04DF93CAA36580', 'LAB-1', '2022-06-02 09:10:02+07'),
       ('lab-1', '04D693CAA36580', 'LAB-1', '2022-06-02 09:10:05+07'),
       ('lab-1', '04D693CAA36580', 'LAB-1', '2022-06-02 09:10:10+07'),
       ('lab-1', '04D693CAA36580', 'LAB-1', '2022-06-02 09:10:15+07');
SELECT s.uid, s.scanned_at, s.flag, h.item_code, h.from_state, h.to_state
  FROM mekatek.rfid_scan s LEFT JOIN mekatek.lab_item_history h USING (scan_id)
 WHERE s.scanned_at >= '2022-06-02 09:10:00+07' ORDER BY s.scan_id;
SELECT item_code, state, tag_code FROM mekatek.lab_item WHERE item_code IN ('T026A', 'T027A') ORDER BY 1;
-- Infinite scan times (and any outside mekatek.device_time_behind/_ahead
-- of the server's clock) are kept, flagged bad_time, and move nothing.
INSERT INTO mekatek.rfid_scan(scanner, uid, lab, scanned_at)
VALUES ('lab-1', '04DF93CAA36580', 'LAB-1', 'infinity');
INSERT INTO mekatek.rfid_scan(scanner, uid, lab, scanned_at)
VALUES ('lab-1', '04DF93CAA36580', 'LAB-1', '-infinity'),
       ('lab-1', '04DF93CAA36580', 'LAB-1', 'infinity');
SELECT s.scanned_at, s.flag, h.from_state, h.to_state
  FROM mekatek.rfid_scan s LEFT JOIN mekatek.lab_item_history h USING (scan_id)
 WHERE s.scanned_at IN ('infinity', '-infinity') ORDER BY s.scan_id;
-- UIDs are normalised on INSERT; an UPDATE must keep them so.
\set VERBOSITY terse
UPDATE mekatek.lab_item SET uid = lower(uid) WHERE item_code = 'T026A';
UPDATE mekatek.lab_item SET uid = 'x' WHERE item_code = 'T026A';
\set VERBOSITY default

-- The trigger functions refuse a table they were not written for.
CREATE TEMP TABLE not_scans(scan_id int, uid text, lab text);
CREATE TRIGGER wrong AFTER INSERT ON not_scans REFERENCING NEW TABLE AS n
    FOR EACH STATEMENT EXECUTE FUNCTION mekatek.rfid_scan_apply();
INSERT INTO not_scans VALUES (1, '04D693CAA36580', 'L');
DROP TRIGGER wrong ON not_scans;
CREATE TRIGGER wrong BEFORE INSERT ON not_scans FOR EACH ROW EXECUTE FUNCTION mekatek.rfid_uid_normalise('scan_id', 'strict');
INSERT INTO not_scans VALUES (1, '04D693CAA36580', 'L');
DROP TRIGGER wrong ON not_scans;
CREATE TRIGGER wrong AFTER INSERT ON not_scans FOR EACH ROW EXECUTE FUNCTION mekatek.visitor_event_apply();
INSERT INTO not_scans VALUES (1, '04D693CAA36580', 'L');
