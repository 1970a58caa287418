-- devices: heartbeats.  A camera beats every 30 s; once silent longer than
-- that it is announced silent, and announced back with its next beat.
DELETE FROM mekatek.outbox;
INSERT INTO mekatek.device(device_id, kind, heartbeat_interval) VALUES ('cam-7', 'camera', '30 s');
CREATE ROLE hb_device IN ROLE mekatek_device;
SET ROLE hb_device;
SELECT mekatek.device_heartbeat('cam-7');
SELECT mekatek.device_heartbeat('scanner-2');        -- an unknown device registers itself
\set VERBOSITY terse
SELECT mekatek.device_heartbeat(repeat('x', 65));
\set VERBOSITY default
RESET ROLE;
SELECT device_id, kind, heartbeat_interval, last_seen > now() - interval '1 minute' AS just_seen, silent FROM mekatek.device ORDER BY 1;
SELECT mekatek.device_check_silence() AS went_silent;
-- A minute without a beat.
UPDATE mekatek.device SET last_seen = now() - interval '1 minute';
SELECT mekatek.device_check_silence() AS went_silent;
SELECT mekatek.device_check_silence() AS went_silent_again;
SET ROLE hb_device;
SELECT mekatek.device_heartbeat('cam-7');
RESET ROLE;
SELECT device_id, silent FROM mekatek.device ORDER BY 1;
SELECT payload->>'device' AS device, payload->>'state' AS state FROM mekatek.outbox WHERE channel = 'device' ORDER BY outbox_id;
DROP ROLE hb_device;
DELETE FROM mekatek.outbox;
DELETE FROM mekatek.device;
