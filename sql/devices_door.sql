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
