-- devices: the privilege matrix.  A device may INSERT its events (only the
-- columns it owns) and ask door_access; it may read nothing, not even what
-- it just inserted (RETURNING needs SELECT).  The triggers still maintain
-- the tables the device cannot touch (they run SECURITY DEFINER).
BEGIN;
SELECT plan(37);

-- The matrix, read from the catalogue: schema-wide, nothing else.
SELECT is_empty($$
    SELECT c.oid::regclass::text || ' ' || p FROM pg_class c,
           unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) p
     WHERE c.relnamespace = 'mekatek'::regnamespace AND c.relkind IN ('r', 'v', 'm', 'p', 'f')
       AND has_table_privilege('mekatek_device', c.oid, p) $$,
    'mekatek_device has no table-level privilege on any table or view');
SELECT set_eq($$
    SELECT c.oid::regclass::text || '.' || a.attname || ' ' || p
      FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped,
           unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'REFERENCES']) p
     WHERE c.relnamespace = 'mekatek'::regnamespace AND c.relkind IN ('r', 'v', 'm', 'p', 'f')
       AND has_column_privilege('mekatek_device', c.oid, a.attnum, p) $$,
    $$ VALUES ('mekatek.rfid_scan.event_id INSERT'), ('mekatek.rfid_scan.scanner INSERT'),
              ('mekatek.rfid_scan.uid INSERT'), ('mekatek.rfid_scan.lab INSERT'),
              ('mekatek.rfid_scan.scanned_at INSERT'),
              ('mekatek.visitor_event.event_id INSERT'), ('mekatek.visitor_event.camera INSERT'),
              ('mekatek.visitor_event.room_id INSERT'), ('mekatek.visitor_event.direction INSERT'),
              ('mekatek.visitor_event.n INSERT'), ('mekatek.visitor_event.seen_at INSERT') $$,
    'mekatek_device may INSERT exactly the event columns a device sends');
SELECT set_eq($$
    SELECT p.oid::regprocedure::text FROM pg_proc p
     WHERE p.pronamespace = 'mekatek'::regnamespace
       AND has_function_privilege('mekatek_device', p.oid, 'EXECUTE') $$,
    $$ VALUES ('mekatek.door_access(text,text)'), ('mekatek.device_heartbeat(text)') $$,
    'mekatek_device may EXECUTE door_access and device_heartbeat, nothing else');
SELECT ok(NOT has_table_privilege('mekatek_analyst', 'mekatek.door_card', 'SELECT')
          AND NOT has_table_privilege('mekatek_analyst', 'mekatek.door_attempt', 'SELECT'),
          'analysts do not see door cards or the door log');
SELECT ok(has_table_privilege('mekatek_analyst', 'mekatek.visitor_minute', 'SELECT')
          AND has_table_privilege('mekatek_analyst', 'mekatek.lab_item', 'SELECT'),
          'analysts read the visitor report and the lab items');
SELECT ok(NOT has_table_privilege('mekatek_analyst', 'mekatek.visitor_event', 'INSERT'),
          'analysts insert no events');
SELECT ok(has_table_privilege('mekatek_analyst', 'mekatek.visitor_hourly', 'SELECT')
          AND has_table_privilege('mekatek_analyst', 'mekatek.rfid_daily', 'SELECT')
          AND has_function_privilege('mekatek_analyst', 'mekatek.device_rollup_absorb()', 'EXECUTE')
          AND NOT has_table_privilege('mekatek_analyst', 'mekatek.visitor_hourly', 'UPDATE'),
          'analysts read the rollups and may bring them up to date, nothing more');
SELECT ok(NOT has_table_privilege('mekatek_device', 'mekatek.visitor_hourly', 'SELECT')
          AND NOT has_table_privilege('mekatek_admin', 'mekatek.visitor_rollup_pending', 'SELECT')
          AND NOT has_table_privilege('mekatek_admin', 'mekatek.rfid_rollup_pending', 'INSERT'),
          'pending rollup rows are reached only through the triggers and device_rollup_absorb');
SELECT ok(has_function_privilege('mekatek_admin', 'mekatek.device_apply_retention()', 'EXECUTE')
          AND NOT has_function_privilege('mekatek_analyst', 'mekatek.device_apply_retention()', 'EXECUTE')
          AND NOT has_function_privilege('mekatek_admin', 'mekatek.device_retention_table(text, text, text, text, text, timestamptz, text)', 'EXECUTE'),
          'only admins apply the retention, and nobody calls its per-table step');
SELECT is_empty($$
    SELECT c.oid::regclass::text FROM pg_class c
     WHERE c.oid IN ('mekatek.rfid_scan'::regclass, 'mekatek.visitor_event'::regclass,
                     'mekatek.room_occupancy'::regclass, 'mekatek.door_card'::regclass,
                     'mekatek.door_attempt'::regclass, 'mekatek.lab_item'::regclass)
       AND (has_table_privilege('mekatek_cashier', c.oid, 'SELECT')
            OR has_any_column_privilege('mekatek_cashier', c.oid, 'INSERT')) $$,
    'cashiers have nothing to do with devices');
SELECT ok(has_table_privilege('mekatek_admin', 'mekatek.door_attempt', 'SELECT')
          AND NOT has_table_privilege('mekatek_admin', 'mekatek.door_attempt', 'INSERT')
          AND NOT has_table_privilege('mekatek_admin', 'mekatek.lab_item_history', 'UPDATE'),
          'the admin reads the logs but cannot forge them');
SELECT ok(has_function_privilege('mekatek_admin', 'mekatek.lab_register(text,text,text,text,text)', 'EXECUTE'),
          'the admin registers lab items');

-- The same, lived: act as a device.
INSERT INTO mekatek.room VALUES ('tap-room', 'pgTAP', 2);
SELECT mekatek.lab_register('04D693CAA36580', 'TAP-1', 'c', 'k', 't');
INSERT INTO mekatek.door_card(uid, holder) VALUES ('04CE93CAA36580', 'tap');
SET LOCAL ROLE mekatek_device;

SELECT lives_ok($$ INSERT INTO mekatek.visitor_event(event_id, camera, room_id, direction)
                   VALUES ('tap:1', 'cam', 'tap-room', 'in'), ('tap:2', 'cam', 'tap-room', 'in')
                   ON CONFLICT DO NOTHING $$, 'a camera inserts events with ON CONFLICT DO NOTHING');
SELECT lives_ok($$ INSERT INTO mekatek.visitor_event(event_id, camera, room_id, direction)
                   VALUES ('tap:1', 'cam', 'tap-room', 'in') ON CONFLICT DO NOTHING $$,
                'a camera replays an event (no SELECT privilege needed)');
-- Naming the arbiter, ON CONFLICT (event_id), reads event_id: refused.
-- Devices write ON CONFLICT DO NOTHING; event_id is the only key they set.
SELECT throws_ok($$ INSERT INTO mekatek.visitor_event(event_id, camera, room_id, direction)
                   VALUES ('tap:1', 'cam', 'tap-room', 'in') ON CONFLICT (event_id) DO NOTHING $$,
                 '42501', NULL, 'ON CONFLICT (event_id) needs SELECT on event_id, which devices lack');
SELECT lives_ok($$ INSERT INTO mekatek.visitor_event(camera, room_id, direction) VALUES ('cam', 'tap-room', 'in') $$,
                'a camera inserts with the defaults (n, seen_at)');
SELECT lives_ok($$ INSERT INTO mekatek.rfid_scan(event_id, scanner, uid, lab) VALUES ('s:1', 'sc', '04D693CAA36580', 'L') $$,
                'a scanner inserts a scan of a known tag');
SELECT lives_ok($$ INSERT INTO mekatek.rfid_scan(scanner, uid, lab) VALUES ('sc', 'junk', 'L') $$,
                'a scanner inserts garbage; it is kept, not refused');
SELECT is(mekatek.door_access('front', '04CE93CAA36580'), true, 'a lock asks door_access');
SELECT is(mekatek.door_access('front', '04AA90CAA36580'), false, 'and is refused for an unknown card');

SELECT throws_ok($$ SELECT * FROM mekatek.visitor_event $$, '42501', NULL, 'a device cannot read events');
SELECT throws_ok($$ INSERT INTO mekatek.visitor_event(camera, room_id, direction) VALUES ('c', 'tap-room', 'in') RETURNING event_no $$,
                 '42501', NULL, 'RETURNING would read: refused');
SELECT throws_ok($$ INSERT INTO mekatek.visitor_event(camera, room_id, direction, miscount) VALUES ('c', 'tap-room', 'out', 5) $$,
                 '42501', NULL, 'a device cannot set the trigger-owned miscount column');
SELECT throws_ok($$ INSERT INTO mekatek.rfid_scan(scanner, uid, lab, flag) VALUES ('s', '04D693CAA36580', 'L', 'bad_uid') $$,
                 '42501', NULL, 'nor the flag of a scan');
SELECT throws_ok($$ INSERT INTO mekatek.visitor_event(camera, room_id, direction) VALUES ('c', 'tap-room', 'in')
                    ON CONFLICT (event_id) DO UPDATE SET n = 2 $$,
                 '42501', NULL, 'nor rewrite an event through ON CONFLICT DO UPDATE');
SELECT throws_ok($$ UPDATE mekatek.room_occupancy SET inside = 0 $$, '42501', NULL, 'nor touch the occupancy');
SELECT throws_ok($$ DELETE FROM mekatek.rfid_scan $$, '42501', NULL, 'nor delete scans');
SELECT throws_ok($$ SELECT * FROM mekatek.door_card $$, '42501', NULL, 'nor read the cards');
SELECT throws_ok($$ SELECT * FROM mekatek.door_attempt $$, '42501', NULL, 'nor read the door log');
SELECT throws_ok($$ SELECT mekatek.lab_register('04AABBCC', 'X', 'c', 'k', 't') $$, '42501', NULL, 'nor register lab items');
SELECT throws_ok($$ SELECT mekatek.count_accuracy(1, 1) $$, '42501', NULL, 'nor call report functions');
SELECT throws_ok($$ SET mekatek.rfid_debounce = 0 $$, '42501', NULL, 'nor turn debouncing off for itself');
SELECT throws_ok($$ TRUNCATE mekatek.visitor_event $$, '42501', NULL, 'nor truncate');

RESET ROLE;
-- What the device could not touch, its inserts changed through the triggers.
SELECT results_eq($$ SELECT entered, inside FROM mekatek.room_occupancy WHERE room_id = 'tap-room' $$,
                  $$ VALUES (3::bigint, 3) $$, 'three distinct events counted, the replay was not');
SELECT results_eq($$ SELECT state::text FROM mekatek.lab_item WHERE item_code = 'TAP-1' $$,
                  $$ VALUES ('queued') $$, 'the device''s scan advanced the item');
SELECT results_eq($$ SELECT count(*)::int FROM mekatek.capacity_alert WHERE room_id = 'tap-room' $$,
                  $$ VALUES (1) $$, 'and raised the capacity alert');
SELECT results_eq($$ SELECT granted, reason FROM mekatek.door_attempt ORDER BY attempt_id $$,
                  $$ VALUES (true, 'granted'), (false, 'unknown_card') $$, 'both door attempts are logged');

SELECT * FROM finish();
ROLLBACK;
