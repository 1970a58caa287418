-- Mekatek upgrade 0.1.0 -> 0.2.0, module devices.

-- ---------------------------------------------------------------------
-- pg_dump: these tables hold what users wrote, so pg_dump must write
-- their rows (and the sequences' positions) although they belong to the
-- extension.  A restore loads them with session_replication_role =
-- replica so that no trigger acts on them a second time (README, DBA).
-- ---------------------------------------------------------------------
SELECT pg_catalog.pg_extension_config_dump('mekatek.lab_item', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.lab_item_history', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.rfid_scan', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.room', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.visitor_event', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.room_occupancy', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.capacity_alert', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.door_card', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.door_attempt', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.lab_item_item_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.lab_item_history_history_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.rfid_scan_scan_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.visitor_event_event_no_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.capacity_alert_alert_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.door_card_card_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.door_attempt_attempt_id_seq', '');

-- ---------------------------------------------------------------------
-- Bounded device input, device clocks believed within a window, camera
-- events in event time, lab scans flagged when they go back in time or
-- to the wrong lab (issues 14 and 18).
-- ---------------------------------------------------------------------

-- Bounds on every text a device sends.  Added NOT VALID and then
-- validated: a 0.1.0 database may hold what 0.1.0 let through (a 50 MB
-- UID in door_attempt), and an upgrade must neither fail on it nor cut
-- it.  A constraint that old rows break stays NOT VALID, with a WARNING
-- naming it; new rows are checked all the same.
ALTER TABLE mekatek.lab_item
    ADD CONSTRAINT lab_item_item_code_length CHECK (octet_length(item_code) <= 64) NOT VALID,
    ADD CONSTRAINT lab_item_text_length CHECK (octet_length(company) <= 200 AND octet_length(kind) <= 200
                                               AND octet_length(test) <= 200) NOT VALID;
ALTER TABLE mekatek.rfid_scan
    DROP CONSTRAINT rfid_scan_flag_check,
    ADD CONSTRAINT rfid_scan_flag_check CHECK (flag IN ('bad_uid', 'unregistered', 'bad_time', 'before_registration',
                                                        'out_of_order', 'wrong_lab')),
    ADD CONSTRAINT rfid_scan_event_id_length CHECK (octet_length(event_id) <= 150) NOT VALID,
    ADD CONSTRAINT rfid_scan_scanner_length CHECK (octet_length(scanner) BETWEEN 1 AND 64) NOT VALID,
    ADD CONSTRAINT rfid_scan_uid_length CHECK (octet_length(uid) <= 64) NOT VALID,
    ADD CONSTRAINT rfid_scan_lab_length CHECK (octet_length(lab) BETWEEN 1 AND 64) NOT VALID;
ALTER TABLE mekatek.room
    ADD CONSTRAINT room_room_id_length CHECK (octet_length(room_id) <= 64) NOT VALID,
    ADD CONSTRAINT room_name_length CHECK (octet_length(name) <= 200) NOT VALID;
ALTER TABLE mekatek.visitor_event
    ADD COLUMN flag text CHECK (flag IN ('late', 'bad_time')),
    ADD CONSTRAINT visitor_event_event_id_length CHECK (octet_length(event_id) <= 150) NOT VALID,
    ADD CONSTRAINT visitor_event_camera_length CHECK (octet_length(camera) BETWEEN 1 AND 64) NOT VALID,
    ADD CONSTRAINT visitor_event_room_id_length CHECK (octet_length(room_id) BETWEEN 1 AND 64) NOT VALID;
ALTER TABLE mekatek.door_card
    ADD CONSTRAINT door_card_holder_length CHECK (octet_length(holder) <= 200) NOT VALID,
    ADD CONSTRAINT door_card_door_id_length CHECK (octet_length(door_id) BETWEEN 1 AND 64) NOT VALID;
ALTER TABLE mekatek.door_attempt
    ADD CONSTRAINT door_attempt_door_id_length CHECK (octet_length(door_id) <= 64) NOT VALID,
    ADD CONSTRAINT door_attempt_uid_length CHECK (octet_length(uid) <= 64) NOT VALID;
DO $validate$
DECLARE
    c record;
BEGIN
    FOR c IN SELECT conrelid::regclass AS tab, conname FROM pg_catalog.pg_constraint
              WHERE connamespace = 'mekatek'::regnamespace AND NOT convalidated
                AND conname LIKE '%\_length' ORDER BY conname LOOP
        BEGIN
            EXECUTE format('ALTER TABLE %s VALIDATE CONSTRAINT %I', c.tab, c.conname);
        EXCEPTION WHEN check_violation THEN
            RAISE WARNING 'mekatek upgrade: rows of % written by 0.1.0 break % (left NOT VALID)', c.tab, c.conname
                USING HINT = 'Shorten or delete them, then ALTER TABLE ... VALIDATE CONSTRAINT.';
        END;
    END LOOP;
END
$validate$;

-- Camera events in event time: the room's latest applied event, and
-- alerts a late event undid.
ALTER TABLE mekatek.room_occupancy ADD COLUMN last_event_at timestamptz;
UPDATE mekatek.room_occupancy o SET last_event_at = e.last
  FROM (SELECT room_id, max(seen_at) AS last FROM mekatek.visitor_event GROUP BY room_id) e
 WHERE e.room_id = o.room_id;
ALTER TABLE mekatek.capacity_alert ADD COLUMN retracted_at timestamptz;

-- The per-minute report counts only events that counted.
CREATE OR REPLACE VIEW mekatek.visitor_minute AS
SELECT room_id, minute, entered, exited, miscounted,
       sum(entered) OVER w AS entered_total,
       sum(exited) OVER w AS exited_total,
       sum(entered - exited + miscounted) OVER w AS inside
  FROM (SELECT room_id, date_trunc('minute', seen_at) AS minute,
               coalesce(sum(n) FILTER (WHERE direction = 'in'), 0) AS entered,
               coalesce(sum(n) FILTER (WHERE direction = 'out'), 0) AS exited,
               sum(miscount) AS miscounted
          FROM mekatek.visitor_event
        WHERE flag IS NULL
        GROUP BY 1, 2) m
WINDOW w AS (PARTITION BY room_id ORDER BY minute);

COMMENT ON TABLE mekatek.rfid_scan IS
'Scanner events (INSERT only for devices); event_id deduplicates replays; flag marks a scan that moved no item: bad_uid, unregistered (no item in the lab), bad_time (clock outside the window), before_registration, out_of_order (before the item''s last counted scan), wrong_lab (not the lab the item was queued at)';
COMMENT ON TABLE mekatek.visitor_event IS
'Camera events (INSERT only for devices), applied in event time (seen_at); miscount > 0 marks an out with fewer people inside than it counted; flag: late (older than the room''s latest event by more than mekatek.event_lateness) or bad_time (clock outside the window), kept but not counted';
COMMENT ON TABLE mekatek.capacity_alert IS
'One row per capacity crossing in event time: full when inside reaches capacity, below when it falls back (also sent as NOTIFY mekatek_capacity); retracted_at set when a late event undid it';
COMMENT ON TABLE mekatek.door_attempt IS
'Every door_access call: decision and reason (granted, unknown_card, wrong_door, disabled, not_yet_valid, expired, outside_hours, locked_out, bad_uid, no_uid, no_door, bad_door, remote_unlock with its actor); an over-long door or UID is kept as its first 64 bytes';
COMMENT ON FUNCTION mekatek.count_accuracy(int, int) IS
'Counting accuracy in percent, the paper''s formula 100 - |counted - manual| / manual * 100, clamped to [0, 100]';

-- Per-door settings: announce grants too.
CREATE TABLE mekatek.door (
    door_id        text PRIMARY KEY CONSTRAINT door_door_id_length CHECK (octet_length(door_id) BETWEEN 1 AND 64),
    name           text NOT NULL DEFAULT '' CONSTRAINT door_name_length CHECK (octet_length(name) <= 200),
    -- Refusals are always announced; grants only where someone asked.
    notify_grants  boolean NOT NULL DEFAULT false,
    -- Cards' hours are the door's local time, never the session's.
    time_zone      text NOT NULL DEFAULT 'UTC'
                   CONSTRAINT door_time_zone_known CHECK (pg_catalog.timezone(time_zone, timestamptz '2000-01-01 00:00+00') IS NOT NULL),
    -- After lockout_after refusals of one card within lockout_window, the
    -- card is refused (locked_out) until the window has passed.
    lockout_after  int CONSTRAINT door_lockout_after_positive CHECK (lockout_after > 0),
    lockout_window interval NOT NULL DEFAULT '5 minutes'
                   CONSTRAINT door_lockout_window_positive CHECK (lockout_window > interval '0')
);
COMMENT ON TABLE mekatek.door IS
'Per-door settings (a door needs no row): notify_grants announces granted entries too; time_zone of the cards'' hours; lockout after lockout_after refusals of a card within lockout_window';
GRANT INSERT, UPDATE, DELETE, SELECT ON mekatek.door TO mekatek_admin;
SELECT pg_catalog.pg_extension_config_dump('mekatek.door', '');

-- Per-lab settings: how state changes are announced.
CREATE TABLE mekatek.lab (
    lab_id   text PRIMARY KEY CONSTRAINT lab_lab_id_length CHECK (octet_length(lab_id) BETWEEN 1 AND 64),
    name     text NOT NULL DEFAULT '' CONSTRAINT lab_name_length CHECK (octet_length(name) <= 200),
    -- each: one message per state change; batch: one per statement (a
    -- scanner's batch) with its changes in order; off: none.
    announce text NOT NULL DEFAULT 'batch'
             CONSTRAINT lab_announce_known CHECK (announce IN ('each', 'batch', 'off'))
);
COMMENT ON TABLE mekatek.lab IS
'Per-lab settings (a lab needs no row): announce = each (a message per state change), batch (default: one digest per lab and INSERT statement, at most 30 changes a row) or off';
GRANT INSERT, UPDATE, DELETE, SELECT ON mekatek.lab TO mekatek_admin;
SELECT pg_catalog.pg_extension_config_dump('mekatek.lab', '');

-- Door schedules, lockout and remote unlock.
ALTER TABLE mekatek.door_card
    ADD COLUMN hours_from time,
    ADD COLUMN hours_until time,
    ADD CONSTRAINT door_card_hours_both CHECK ((hours_from IS NULL) = (hours_until IS NULL));
ALTER TABLE mekatek.door_attempt ADD COLUMN actor text;
CREATE INDEX door_attempt_refused_card ON mekatek.door_attempt (door_id, uid, at) WHERE NOT granted;
CREATE FUNCTION mekatek.door_unlock(door_id text, note text DEFAULT NULL) RETURNS bigint
LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, mekatek, pg_temp
AS 'MODULE_PATHNAME', 'mk_door_unlock';
COMMENT ON FUNCTION mekatek.door_unlock(text, text) IS
'Admin: open a door remotely; logged in door_attempt (reason remote_unlock, actor), NOTIFY mekatek_door_unlock for the lock, outbox channel door; returns the attempt_id';
GRANT EXECUTE ON FUNCTION mekatek.door_unlock(text, text) TO mekatek_admin;

-- ---------------------------------------------------------------- heartbeats
-- A device says it is alive with mekatek.device_heartbeat(its id); the
-- server's clock stamps it (a device's clock may be wrong).
-- mekatek.device_check_silence(), run every minute (pg_cron), marks the
-- devices silent longer than their interval; each change is announced
-- (NOTIFY mekatek_device, outbox channel device): silent, and back.
CREATE TABLE mekatek.device (
    device_id          text PRIMARY KEY CONSTRAINT device_device_id_length CHECK (octet_length(device_id) BETWEEN 1 AND 64),
    kind               text NOT NULL DEFAULT '' CONSTRAINT device_kind_length CHECK (octet_length(kind) <= 64),
    heartbeat_interval interval NOT NULL DEFAULT '1 minute'
                       CONSTRAINT device_interval_positive CHECK (heartbeat_interval > interval '0'),
    last_seen          timestamptz,
    silent             boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE mekatek.device IS
'Devices and their heartbeats: last_seen (server clock), silent once quiet longer than heartbeat_interval';

CREATE FUNCTION mekatek.device_heartbeat(device_id text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, mekatek, pg_temp
AS $$
DECLARE
    was_silent boolean;
BEGIN
    IF device_id IS NULL OR octet_length(device_id) NOT BETWEEN 1 AND 64 THEN
        RAISE EXCEPTION 'device_heartbeat: device_id must be 1 to 64 bytes, not "%"', left(device_id, 64)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- The old silent flag, read under the row lock the upsert takes.
    SELECT d.silent INTO was_silent FROM mekatek.device d WHERE d.device_id = device_heartbeat.device_id FOR UPDATE;
    INSERT INTO mekatek.device AS d (device_id, last_seen) VALUES (device_heartbeat.device_id, now())
        ON CONFLICT ON CONSTRAINT device_pkey DO UPDATE SET last_seen = now(), silent = false;
    IF was_silent THEN
        PERFORM pg_catalog.pg_notify('mekatek_device', jsonb_build_object('device', device_heartbeat.device_id, 'state', 'back', 'at', now())::text),
                mekatek.outbox_enqueue('device', jsonb_build_object('device', device_heartbeat.device_id, 'state', 'back', 'at', now()));
    END IF;
END
$$;
COMMENT ON FUNCTION mekatek.device_heartbeat(text) IS
'Device: I am alive (last_seen = now()); a device that was silent is announced back (NOTIFY mekatek_device, outbox channel device)';

CREATE FUNCTION mekatek.device_check_silence() RETURNS integer
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, mekatek, pg_temp
AS $$
    WITH s AS (
        UPDATE mekatek.device d SET silent = true
         WHERE NOT d.silent AND d.last_seen < now() - d.heartbeat_interval
        RETURNING d.device_id, d.last_seen
    ), n AS (
        SELECT pg_catalog.pg_notify('mekatek_device', p::text), mekatek.outbox_enqueue('device', p)
          FROM (SELECT jsonb_build_object('device', device_id, 'state', 'silent', 'last_seen', last_seen) AS p
                  FROM s ORDER BY device_id) q
    )
    SELECT count(*)::integer FROM n
$$;
COMMENT ON FUNCTION mekatek.device_check_silence() IS
'Marks devices silent longer than their heartbeat_interval and announces each (NOTIFY mekatek_device, outbox channel device); returns how many; run it every minute with pg_cron';

GRANT EXECUTE ON FUNCTION mekatek.device_heartbeat(text) TO mekatek_device;
GRANT EXECUTE ON FUNCTION mekatek.device_check_silence() TO mekatek_admin;
GRANT SELECT, INSERT, UPDATE, DELETE ON mekatek.device TO mekatek_admin;
GRANT SELECT ON mekatek.device TO mekatek_analyst;
SELECT pg_catalog.pg_extension_config_dump('mekatek.device', '');

-- ------------------------------------------------------------------ rollups
-- Hourly and daily counts, stored incrementally in two steps so that no
-- two devices ever wait on the same row: the AFTER INSERT apply triggers
-- (C) append each statement's counts per (room or lab, hour) to a pending
-- table, a plain INSERT that takes no shared lock, from the rows they
-- apply (flags included, so the big tables are never read back); and
-- mekatek.device_rollup_absorb() (pg_cron, every minute) moves the pending
-- rows into the hourly and daily tables (DELETE ... RETURNING, so a row is
-- absorbed once, and one still uncommitted waits for the next run).
-- Hours and days are those of mekatek.device_time_zone (default UTC), never
-- the session's.  A restore or a replicated row (session_replication_role
-- = replica) fires no trigger: rollups and pending rows come with the
-- dump, counted once.  Rollups only grow; mekatek.device_apply_retention()
-- deletes raw events once their hour is absorbed and older than
-- mekatek.device_raw_retention.
CREATE TABLE mekatek.visitor_hourly (
    room_id  text NOT NULL,
    hour     timestamptz NOT NULL,
    entered  bigint NOT NULL DEFAULT 0,
    exited   bigint NOT NULL DEFAULT 0,
    events   bigint NOT NULL DEFAULT 0,
    flagged  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (room_id, hour)
);
COMMENT ON TABLE mekatek.visitor_hourly IS
'Camera events per room and hour (start of the hour in mekatek.device_time_zone), added by device_rollup_absorb(): entered/exited count the people of unflagged events, events every event, flagged the late and bad_time ones';

CREATE TABLE mekatek.visitor_daily (
    room_id  text NOT NULL,
    day      date NOT NULL,
    entered  bigint NOT NULL DEFAULT 0,
    exited   bigint NOT NULL DEFAULT 0,
    events   bigint NOT NULL DEFAULT 0,
    flagged  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (room_id, day)
);
COMMENT ON TABLE mekatek.visitor_daily IS
'Camera events per room and day in mekatek.device_time_zone, added by device_rollup_absorb() (columns as in visitor_hourly)';

CREATE TABLE mekatek.rfid_hourly (
    lab      text NOT NULL,
    hour     timestamptz NOT NULL,
    scans    bigint NOT NULL DEFAULT 0,
    flagged  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (lab, hour)
);
COMMENT ON TABLE mekatek.rfid_hourly IS
'Scans per lab and hour (start of the hour in mekatek.device_time_zone), added by device_rollup_absorb(): scans every scan, flagged those that moved no item';

CREATE TABLE mekatek.rfid_daily (
    lab      text NOT NULL,
    day      date NOT NULL,
    scans    bigint NOT NULL DEFAULT 0,
    flagged  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (lab, day)
);
COMMENT ON TABLE mekatek.rfid_daily IS
'Scans per lab and day in mekatek.device_time_zone, added by device_rollup_absorb() (columns as in rfid_hourly)';

CREATE TABLE mekatek.visitor_rollup_pending (
    room_id  text NOT NULL,
    hour     timestamptz NOT NULL,
    day      date NOT NULL,
    entered  bigint NOT NULL,
    exited   bigint NOT NULL,
    events   bigint NOT NULL,
    flagged  bigint NOT NULL
);
COMMENT ON TABLE mekatek.visitor_rollup_pending IS
'Camera event counts per statement, room and hour, waiting for device_rollup_absorb() to add them to visitor_hourly and visitor_daily';

CREATE TABLE mekatek.rfid_rollup_pending (
    lab      text NOT NULL,
    hour     timestamptz NOT NULL,
    day      date NOT NULL,
    scans    bigint NOT NULL,
    flagged  bigint NOT NULL
);
COMMENT ON TABLE mekatek.rfid_rollup_pending IS
'Scan counts per statement, lab and hour, waiting for device_rollup_absorb() to add them to rfid_hourly and rfid_daily';

CREATE FUNCTION mekatek.device_time_zone() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, mekatek, pg_temp
AS $$ SELECT coalesce(nullif(current_setting('mekatek.device_time_zone', true), ''), 'UTC') $$;
COMMENT ON FUNCTION mekatek.device_time_zone() IS
'The time zone of the device rollups'' hours and days: mekatek.device_time_zone, UTC when unset';

-- The apply triggers count each inserted row as it ends up, flags and all
-- (rollup.c: summed per room or lab and hour in C, one INSERT into the
-- pending table per statement).  Any other UPDATE of a raw row that
-- changes what it counts for (only the tables' owner may UPDATE them: a
-- superuser's correction) takes the old row's counts out and puts the new
-- row's in, as pending deltas.
CREATE FUNCTION mekatek.device_rollup_reflag() RETURNS trigger
LANGUAGE c SECURITY DEFINER
SET search_path = pg_catalog, mekatek, pg_temp
AS 'MODULE_PATHNAME', 'mk_device_rollup_reflag';
COMMENT ON FUNCTION mekatek.device_rollup_reflag() IS
'AFTER UPDATE statement trigger on visitor_event and rfid_scan: for rows whose room or lab, time, direction, n or flag changed (other than by the apply triggers, which count rows as they end up), appends the change of their counts to the pending rollup rows';
CREATE TRIGGER visitor_event_reflag AFTER UPDATE ON mekatek.visitor_event
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION mekatek.device_rollup_reflag();
CREATE TRIGGER rfid_scan_reflag AFTER UPDATE ON mekatek.rfid_scan
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION mekatek.device_rollup_reflag();

CREATE FUNCTION mekatek.device_rollup_absorb() RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, mekatek, pg_temp
AS $$
DECLARE
    nv bigint;
    nr bigint;
BEGIN
    -- Ordered by key so that two absorbers upsert the same rows in the same order.
    WITH d AS (
        DELETE FROM mekatek.visitor_rollup_pending RETURNING *
    ), h AS (
        INSERT INTO mekatek.visitor_hourly AS r (room_id, hour, entered, exited, events, flagged)
        SELECT room_id, hour, sum(entered), sum(exited), sum(events), sum(flagged)
          FROM d GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (room_id, hour) DO UPDATE
           SET entered = r.entered + excluded.entered, exited = r.exited + excluded.exited,
               events = r.events + excluded.events, flagged = r.flagged + excluded.flagged
    ), y AS (
        INSERT INTO mekatek.visitor_daily AS r (room_id, day, entered, exited, events, flagged)
        SELECT room_id, day, sum(entered), sum(exited), sum(events), sum(flagged)
          FROM d GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (room_id, day) DO UPDATE
           SET entered = r.entered + excluded.entered, exited = r.exited + excluded.exited,
               events = r.events + excluded.events, flagged = r.flagged + excluded.flagged
    )
    SELECT count(*) INTO nv FROM d;
    WITH d AS (
        DELETE FROM mekatek.rfid_rollup_pending RETURNING *
    ), h AS (
        INSERT INTO mekatek.rfid_hourly AS r (lab, hour, scans, flagged)
        SELECT lab, hour, sum(scans), sum(flagged) FROM d GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (lab, hour) DO UPDATE
           SET scans = r.scans + excluded.scans, flagged = r.flagged + excluded.flagged
    ), y AS (
        INSERT INTO mekatek.rfid_daily AS r (lab, day, scans, flagged)
        SELECT lab, day, sum(scans), sum(flagged) FROM d GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (lab, day) DO UPDATE
           SET scans = r.scans + excluded.scans, flagged = r.flagged + excluded.flagged
    )
    SELECT count(*) INTO nr FROM d;
    RETURN nv + nr;
END
$$;
COMMENT ON FUNCTION mekatek.device_rollup_absorb() IS
'Adds the pending rollup rows (committed ones) to visitor_hourly/_daily and rfid_hourly/_daily and removes them; returns how many; run it every minute with pg_cron';

-- One raw table's share of device_apply_retention (names fixed by it).
CREATE FUNCTION mekatek.device_retention_table(raw text, at_col text, key_col text, rollup text,
                                               counted text, cutoff timestamptz, tz text,
                                               OUT deleted bigint, OUT kept bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, mekatek, pg_temp
AS $$
BEGIN
    EXECUTE format($q$
        WITH g AS (
            SELECT r.%2$I AS k, date_trunc('hour', r.%3$I, $2) AS hour, count(*) AS c
              FROM mekatek.%1$I r WHERE r.%3$I < $1 GROUP BY 1, 2
        ), ok AS (
            SELECT g.k, g.hour FROM g
              JOIN mekatek.%4$I h ON h.%2$I = g.k AND h.hour = g.hour AND h.%5$I >= g.c
        ), d AS (
            DELETE FROM mekatek.%1$I r USING ok
             WHERE r.%3$I < $1 AND r.%2$I = ok.k AND date_trunc('hour', r.%3$I, $2) = ok.hour
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM d), (SELECT coalesce(sum(c), 0) FROM g) - (SELECT count(*) FROM d)
        $q$, raw, key_col, at_col, rollup, counted)
      INTO deleted, kept USING cutoff, tz;
    IF kept > 0 THEN
        RAISE WARNING 'device_apply_retention: % rows of % older than mekatek.device_raw_retention (%) kept: their hours are not in the rollups',
                      kept, raw, current_setting('mekatek.device_raw_retention')
            USING HINT = 'Rows that reached the table without its trigger (restored or replicated without the rollup tables) are never deleted unabsorbed.';
    END IF;
END
$$;
COMMENT ON FUNCTION mekatek.device_retention_table(text, text, text, text, text, timestamptz, text) IS
'Internal to device_apply_retention: deletes one raw device table''s rows older than cutoff from the hours its hourly rollup has absorbed';
REVOKE ALL ON FUNCTION mekatek.device_retention_table(text, text, text, text, text, timestamptz, text) FROM PUBLIC;

-- Raw events older than mekatek.device_raw_retention (whole hours of
-- mekatek.device_time_zone) go, but only from hours whose rollup holds at
-- least as many events as are left in them: rows that reached the table
-- without its trigger (a restore without the rollup tables, a replica
-- applying only the raw table, the trigger disabled) stay, counted in
-- "kept", and a WARNING says so.
CREATE FUNCTION mekatek.device_apply_retention()
RETURNS TABLE (table_name text, deleted bigint, kept bigint)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, mekatek, pg_temp
AS $$
DECLARE
    tz text := mekatek.device_time_zone();
    -- The setting is shown with its unit ("90d"), which interval reads.
    keep interval := coalesce(nullif(current_setting('mekatek.device_raw_retention', true), ''), '0')::interval;
    cutoff timestamptz;
BEGIN
    IF keep = interval '0' THEN
        RAISE NOTICE 'mekatek.device_raw_retention is 0: raw events are kept';
        RETURN;
    END IF;
    cutoff := date_trunc('hour', now() - keep, tz);
    PERFORM mekatek.device_rollup_absorb();
    RETURN QUERY
    SELECT t.raw, r.deleted, r.kept
      FROM (VALUES (1, 'visitor_event', 'seen_at', 'room_id', 'visitor_hourly', 'events'),
                   (2, 'rfid_scan', 'scanned_at', 'lab', 'rfid_hourly', 'scans')) t(i, raw, at_col, key_col, rollup, counted),
           LATERAL mekatek.device_retention_table(t.raw, t.at_col, t.key_col, t.rollup, t.counted, cutoff, tz) r
     ORDER BY t.i;
END
$$;
COMMENT ON FUNCTION mekatek.device_apply_retention() IS
'Admin (or pg_cron, daily): deletes raw visitor_event and rfid_scan rows older than mekatek.device_raw_retention whose hour the rollups have absorbed; returns per table how many went and how many older rows were kept because their hour is not absorbed';

GRANT SELECT ON mekatek.visitor_hourly, mekatek.visitor_daily, mekatek.rfid_hourly, mekatek.rfid_daily
   TO mekatek_analyst, mekatek_admin;
GRANT EXECUTE ON FUNCTION mekatek.device_apply_retention() TO mekatek_admin;
GRANT EXECUTE ON FUNCTION mekatek.device_rollup_absorb() TO mekatek_admin, mekatek_analyst;
SELECT pg_catalog.pg_extension_config_dump('mekatek.visitor_hourly', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.visitor_daily', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.rfid_hourly', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.rfid_daily', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.visitor_rollup_pending', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.rfid_rollup_pending', '');

-- Events that arrived before this upgrade: into the rollups once, so that
-- reports see them and retention may delete them.
INSERT INTO mekatek.visitor_hourly (room_id, hour, entered, exited, events, flagged)
SELECT room_id, date_trunc('hour', seen_at, mekatek.device_time_zone()),
       coalesce(sum(n) FILTER (WHERE flag IS NULL AND direction = 'in'), 0),
       coalesce(sum(n) FILTER (WHERE flag IS NULL AND direction = 'out'), 0),
       count(*), count(*) FILTER (WHERE flag IS NOT NULL)
  FROM mekatek.visitor_event GROUP BY 1, 2;
INSERT INTO mekatek.visitor_daily (room_id, day, entered, exited, events, flagged)
SELECT room_id, (seen_at AT TIME ZONE mekatek.device_time_zone())::date,
       coalesce(sum(n) FILTER (WHERE flag IS NULL AND direction = 'in'), 0),
       coalesce(sum(n) FILTER (WHERE flag IS NULL AND direction = 'out'), 0),
       count(*), count(*) FILTER (WHERE flag IS NOT NULL)
  FROM mekatek.visitor_event GROUP BY 1, 2;
INSERT INTO mekatek.rfid_hourly (lab, hour, scans, flagged)
SELECT lab, date_trunc('hour', scanned_at, mekatek.device_time_zone()), count(*), count(*) FILTER (WHERE flag IS NOT NULL)
  FROM mekatek.rfid_scan GROUP BY 1, 2;
INSERT INTO mekatek.rfid_daily (lab, day, scans, flagged)
SELECT lab, (scanned_at AT TIME ZONE mekatek.device_time_zone())::date, count(*), count(*) FILTER (WHERE flag IS NOT NULL)
  FROM mekatek.rfid_scan GROUP BY 1, 2;
