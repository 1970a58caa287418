-- devices: door access.  The lock (ESP32 + RC-522 in the paper) asks one
-- question, SELECT mekatek.door_access(door, uid), and opens on true.
SET timezone = 'Asia/Jakarta';
SET datestyle = 'ISO, YMD';

INSERT INTO mekatek.door_card(uid, holder, door_id, valid_from, valid_until, enabled) VALUES
  ('04d6:93ca:a365:80', 'Anas (owner)', NULL,     '2020-01-01', NULL, true),
  ('04CE93CA',          'Denny',        'front',  '2020-01-01', NULL, true),
  ('04EB93CAA36580',    'old tenant',   'front',  '2020-01-01', '2021-01-01', true),
  ('04CA93CAA36580',    'lost card',    NULL,     '2020-01-01', NULL, false),
  ('04DF93CAA36580',    'next tenant',  'front',  '2099-01-01', NULL, true);
SELECT uid, holder, coalesce(door_id, '(every door)') AS door FROM mekatek.door_card ORDER BY card_id;
INSERT INTO mekatek.door_card(uid, holder) VALUES ('12345', 'typo');
INSERT INTO mekatek.door_card(uid, holder, door_id) VALUES ('04CE93CA', 'Denny again', 'front');

SELECT door, uid, mekatek.door_access(door, uid) AS opens
  FROM (VALUES (1, 'front', '04D693CAA36580'), (2, 'garage', '04d693caa36580'),
               (3, 'front', '04CE93CA'),       (4, 'garage', '04CE93CA'),
               (5, 'front', '04EB93CAA36580'), (6, 'front', '04CA93CAA36580'),
               (7, 'front', '04DF93CAA36580'), (8, 'front', '04AA90CAA36580'),
               (9, 'front', 'DROP TABLE x'),   (10, 'front', NULL),
               (11, NULL, '04CE93CA')) AS t(i, door, uid)
 ORDER BY i;

-- Every attempt is logged with its decision and reason.
SELECT a.door_id, a.uid, holder, granted, reason
  FROM mekatek.door_attempt a LEFT JOIN mekatek.door_card c USING (card_id)
 ORDER BY attempt_id;

-- Door schedules: a card's hours are the door's local time (its time
-- zone, never the session's); from > until spans midnight.
INSERT INTO mekatek.door(door_id, name, time_zone) VALUES ('shop', 'Toko', 'Asia/Jakarta');
INSERT INTO mekatek.door_card(uid, holder, door_id, valid_from, hours_from, hours_until) VALUES
  ('04B1B1B1', 'day shift', 'shop', '2020-01-01',
   (timezone('Asia/Jakarta', now()) - interval '1 hour')::time, (timezone('Asia/Jakarta', now()) + interval '1 hour')::time),
  ('04B2B2B2', 'night shift', 'shop', '2020-01-01',
   (timezone('Asia/Jakarta', now()) + interval '1 hour')::time, (timezone('Asia/Jakarta', now()) + interval '2 hours')::time);
SET timezone = 'America/New_York';   -- the session's zone changes nothing
SELECT mekatek.door_access('shop', '04B1B1B1') AS day_shift_opens,
       mekatek.door_access('shop', '04B2B2B2') AS night_shift_opens;
RESET timezone;
SET timezone = 'Asia/Jakarta';
SELECT uid, granted, reason FROM mekatek.door_attempt WHERE door_id = 'shop' ORDER BY attempt_id;
\set VERBOSITY terse
INSERT INTO mekatek.door_card(uid, holder, hours_from) VALUES ('04B3B3B3', 'half', '08:00');
\set VERBOSITY default

-- Lockout: after 3 refusals of one card within 5 minutes the door refuses
-- it even when it would open, until the window has passed.
UPDATE mekatek.door SET lockout_after = 3 WHERE door_id = 'shop';
-- The night card, refused once above, is refused twice more (outside its
-- hours): from then on it is locked out.
SELECT mekatek.door_access('shop', '04B2B2B2') FROM generate_series(1, 2);
SELECT mekatek.door_access('shop', '04B2B2B2') AS fourth, mekatek.door_access('shop', '04B2B2B2') AS fifth;
UPDATE mekatek.door_card SET hours_from = NULL, hours_until = NULL WHERE uid = '04B2B2B2';
SELECT mekatek.door_access('shop', '04B2B2B2') AS valid_card_locked_out,
       mekatek.door_access('shop', '04B1B1B1') AS other_card_opens;
UPDATE mekatek.door_attempt SET at = at - interval '6 minutes' WHERE uid = '04B2B2B2';
SELECT mekatek.door_access('shop', '04B2B2B2') AS after_the_window;
SELECT reason, count(*) FROM mekatek.door_attempt WHERE door_id = 'shop' GROUP BY reason ORDER BY reason;

-- Remote unlock: admins only, logged with who did it.
CREATE ROLE door_admin IN ROLE mekatek_admin;
CREATE ROLE door_device IN ROLE mekatek_device;
SET ROLE door_admin;
SELECT mekatek.door_unlock('shop', 'courier at the back') > 0 AS unlocked;
RESET ROLE;
SET ROLE door_device;
SELECT mekatek.door_unlock('shop');
RESET ROLE;
SELECT door_id, uid, granted, reason, actor FROM mekatek.door_attempt WHERE reason = 'remote_unlock';
DROP ROLE door_admin;
DROP ROLE door_device;
DELETE FROM mekatek.outbox;
