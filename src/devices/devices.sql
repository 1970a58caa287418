-- Mekatek install script, module devices (RFID lab samples, visitor
-- counting, door access).  Devices only INSERT events (or, for a lock, call
-- door_access); every rule lives in the C triggers of src/devices/lab_rfid.c,
-- src/devices/room_occupancy.c and src/devices/door_access.c.
--
-- Event tables carry an optional event_id given by the edge client: a
-- replayed event is dropped by INSERT ... ON CONFLICT DO NOTHING (without
-- an arbiter: naming (event_id) would need SELECT on it, which devices do
-- not have; event_id is the only unique key a device sets), and since the
-- state changes happen in AFTER INSERT triggers (row triggers, or statement
-- triggers reading the transition table) they see only rows actually
-- inserted.  The triggers are SECURITY DEFINER so a device needs no
-- privilege on the tables they maintain.

-- ---------------------------------------------------------------- RFID UIDs

CREATE FUNCTION mekatek.rfid_uid(uid text) RETURNS text
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'mk_rfid_uid';
COMMENT ON FUNCTION mekatek.rfid_uid(text) IS
'Normalised RFID UID: 4, 7 or 10 bytes as upper-case hex (separators " ", ":" and "-" dropped); ERROR 22P02 otherwise';

CREATE FUNCTION mekatek.rfid_uid_normalise() RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'mk_rfid_uid_trigger';
COMMENT ON FUNCTION mekatek.rfid_uid_normalise() IS
'BEFORE row trigger: normalises the UID column TG_ARGV[0]; TG_ARGV[1] = strict (bad UID is an ERROR) or keep (kept as sent, flagged later)';

-- ---------------------------------------------------------------- lab items

CREATE TYPE mekatek.lab_state AS ENUM ('registered', 'queued', 'testing', 'done');
COMMENT ON TYPE mekatek.lab_state IS
'Where a lab item is: registered at the counter, queued (antrian), testing (uji), done (selesai)';

CREATE TABLE mekatek.lab_item (
    item_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- UIDs are upper-case hex: bytewise ("C") order is their natural order,
    -- and it keeps the scanners' index lookups to memcmp.
    uid           text COLLATE "C" NOT NULL,
    -- The tag while the item is in the lab, NULL once done: unique, so a
    -- tag is in the lab for one item at a time, and done items free it.
    -- (A partial unique index on uid WHERE state <> 'done' would say the
    -- same, but would make every scan's UPDATE a non-HOT one.)
    active_uid    text COLLATE "C" UNIQUE CHECK (active_uid = uid),
    item_code     text NOT NULL UNIQUE CHECK (item_code <> ''),
    company       text NOT NULL,
    kind          text NOT NULL,
    test          text NOT NULL,
    lab           text,
    state         mekatek.lab_state NOT NULL DEFAULT 'registered',
    -- The paper writes a state character onto the code on the tag; here it
    -- is derived, never stored twice.
    tag_code      text GENERATED ALWAYS AS (item_code || CASE state
                      WHEN 'queued' THEN '-A' WHEN 'testing' THEN '-U'
                      WHEN 'done' THEN '-S' ELSE '' END) STORED,
    registered_at timestamptz NOT NULL DEFAULT now(),
    last_scan_at  timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((active_uid IS NULL) = (state = 'done')),
    -- Normalised on INSERT by the trigger below.  An UPDATE must give the
    -- normal form itself: a BEFORE UPDATE trigger, even one that never
    -- fires because uid is not in the SET list, fetches the old row on
    -- every scan's update.
    CONSTRAINT lab_item_uid_normalised CHECK (uid = mekatek.rfid_uid(uid))
)
-- A scan changes no indexed column, so its update is HOT when the page has
-- room for the new version.  Pruning makes room only once no snapshot can
-- see the old versions, and autovacuum's ANALYZE of the busy scan table
-- holds such a snapshot for a while: at fillfactor 80 one update in 13 went
-- to another page (and into all four indexes) under the bench's load, at
-- 60 one in 600.
WITH (fillfactor = 60);
CREATE INDEX lab_item_uid ON mekatek.lab_item (uid);
CREATE TRIGGER lab_item_uid BEFORE INSERT ON mekatek.lab_item
    FOR EACH ROW EXECUTE FUNCTION mekatek.rfid_uid_normalise('uid', 'strict');
COMMENT ON TABLE mekatek.lab_item IS
'Lab samples bound to RFID tags, one row per item holding its current state; advanced by scans (mekatek.rfid_scan)';

CREATE TABLE mekatek.lab_item_history (
    -- Not cached: the item's row lock orders its transitions, and only an
    -- uncached sequence keeps history_id in that order across sessions.
    history_id  bigint GENERATED ALWAYS AS IDENTITY,
    -- No foreign key: the only writer is the trigger that just updated the
    -- item, and an RI check per transition would cost a lock and a lookup
    -- on the scanner's hot path.
    item_id     bigint NOT NULL,
    uid         text NOT NULL,
    item_code   text NOT NULL,
    from_state  mekatek.lab_state,
    to_state    mekatek.lab_state NOT NULL,
    lab         text,
    scan_id     bigint,
    at          timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    -- One index: an item's history in order is how it is read, and the
    -- identity keeps history_id unique on its own.
    PRIMARY KEY (item_id, history_id)
);
COMMENT ON TABLE mekatek.lab_item_history IS
'Every state change of a lab item: registration (from_state NULL) and each counted scan';

CREATE FUNCTION mekatek.lab_register(uid text, item_code text, company text, kind text, test text)
RETURNS mekatek.lab_item
LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, mekatek, pg_temp
AS 'MODULE_PATHNAME', 'mk_lab_register';
COMMENT ON FUNCTION mekatek.lab_register(text, text, text, text, text) IS
'Counter: bind an RFID tag to a new lab item; ERROR 23505 when the tag is still in the lab or the code is taken';

CREATE TABLE mekatek.rfid_scan (
    scan_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id   text UNIQUE,
    scanner    text NOT NULL,
    uid        text NOT NULL,
    lab        text NOT NULL,
    scanned_at timestamptz NOT NULL DEFAULT now(),
    flag       text CHECK (flag IN ('bad_uid', 'unregistered'))
);
CREATE INDEX rfid_scan_flagged ON mekatek.rfid_scan (scan_id) WHERE flag IS NOT NULL;
COMMENT ON TABLE mekatek.rfid_scan IS
'Scanner events (INSERT only for devices); event_id deduplicates replays; flag marks scans of no item in the lab';

CREATE FUNCTION mekatek.rfid_scan_apply() RETURNS trigger
LANGUAGE c SECURITY DEFINER
SET search_path = pg_catalog, mekatek, pg_temp
AS 'MODULE_PATHNAME', 'mk_rfid_scan_apply';
COMMENT ON FUNCTION mekatek.rfid_scan_apply() IS
'AFTER INSERT statement trigger on rfid_scan: for each inserted scan in order, advances the tag''s lab item (debounced by mekatek.rfid_debounce) or flags the scan and NOTIFYs mekatek_rfid';

CREATE TRIGGER rfid_scan_uid BEFORE INSERT ON mekatek.rfid_scan
    FOR EACH ROW EXECUTE FUNCTION mekatek.rfid_uid_normalise('uid', 'keep');
CREATE TRIGGER rfid_scan_apply AFTER INSERT ON mekatek.rfid_scan
    REFERENCING NEW TABLE AS new_scans
    FOR EACH STATEMENT EXECUTE FUNCTION mekatek.rfid_scan_apply();

-- ---------------------------------------------------------- visitor counting

CREATE TABLE mekatek.room (
    room_id  text PRIMARY KEY CHECK (room_id <> ''),
    name     text NOT NULL,
    capacity int CHECK (capacity > 0)
);
COMMENT ON TABLE mekatek.room IS
'Rooms whose visitors cameras count; capacity NULL means no capacity alerts';

CREATE TABLE mekatek.visitor_event (
    event_no  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id  text UNIQUE,
    camera    text NOT NULL,
    room_id   text NOT NULL,
    direction text NOT NULL CHECK (direction IN ('in', 'out')),
    n         int NOT NULL DEFAULT 1 CHECK (n BETWEEN 1 AND 10000),
    seen_at   timestamptz NOT NULL DEFAULT now(),
    miscount  int NOT NULL DEFAULT 0
);
CREATE INDEX visitor_event_room_time ON mekatek.visitor_event (room_id, seen_at);
COMMENT ON TABLE mekatek.visitor_event IS
'Camera events (INSERT only for devices); miscount > 0 marks an out with fewer people inside than it counted';

-- No foreign key to room: an event for a room not configured yet is kept
-- and counted all the same.
CREATE TABLE mekatek.room_occupancy (
    room_id     text PRIMARY KEY,
    entered     bigint NOT NULL DEFAULT 0,
    exited      bigint NOT NULL DEFAULT 0,
    miscounted  bigint NOT NULL DEFAULT 0,
    inside      int NOT NULL DEFAULT 0 CHECK (inside >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (inside = entered - exited + miscounted)
);
COMMENT ON TABLE mekatek.room_occupancy IS
'Exact occupancy per room kept by the visitor_event trigger: inside = entered - exited + miscounted, never below zero';

CREATE TABLE mekatek.capacity_alert (
    alert_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    room_id  text NOT NULL,
    state    text NOT NULL CHECK (state IN ('full', 'below')),
    inside   int NOT NULL,
    capacity int NOT NULL,
    at       timestamptz NOT NULL,
    event_no bigint NOT NULL
);
CREATE INDEX capacity_alert_room ON mekatek.capacity_alert (room_id, alert_id);
COMMENT ON TABLE mekatek.capacity_alert IS
'One row per capacity crossing: full when inside reaches capacity, below when it falls back (also sent as NOTIFY mekatek_capacity)';

CREATE FUNCTION mekatek.visitor_event_apply() RETURNS trigger
LANGUAGE c SECURITY DEFINER
SET search_path = pg_catalog, mekatek, pg_temp
AS 'MODULE_PATHNAME', 'mk_visitor_event_apply';
COMMENT ON FUNCTION mekatek.visitor_event_apply() IS
'AFTER INSERT statement trigger on visitor_event: applies the inserted events (transition table) to room_occupancy, room by room in order, and signals capacity crossings';

-- FOR EACH STATEMENT with the transition table: one lock and one write per
-- room per statement, however many events a batch carries.
CREATE TRIGGER visitor_event_apply AFTER INSERT ON mekatek.visitor_event
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION mekatek.visitor_event_apply();

-- A configured room shows in room_occupancy before its first event.
CREATE FUNCTION mekatek.room_created() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, mekatek, pg_temp
AS $$
BEGIN
    INSERT INTO mekatek.room_occupancy(room_id) VALUES (NEW.room_id) ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION mekatek.room_created() IS
'AFTER INSERT trigger on room: creates its occupancy row';
CREATE TRIGGER room_created AFTER INSERT ON mekatek.room
    FOR EACH ROW EXECUTE FUNCTION mekatek.room_created();

-- The paper's report: per-minute records instead of one per frame.  inside
-- is at the end of the minute (entered - exited + miscounted, cumulative).
CREATE VIEW mekatek.visitor_minute AS
SELECT room_id, minute, entered, exited, miscounted,
       sum(entered) OVER w AS entered_total,
       sum(exited) OVER w AS exited_total,
       sum(entered - exited + miscounted) OVER w AS inside
  FROM (SELECT room_id, date_trunc('minute', seen_at) AS minute,
               coalesce(sum(n) FILTER (WHERE direction = 'in'), 0) AS entered,
               coalesce(sum(n) FILTER (WHERE direction = 'out'), 0) AS exited,
               sum(miscount) AS miscounted
          FROM mekatek.visitor_event
         GROUP BY 1, 2) m
WINDOW w AS (PARTITION BY room_id ORDER BY minute);
COMMENT ON VIEW mekatek.visitor_minute IS
'Per-minute visitor report per room (minutes in the session time zone); export with \copy (SELECT ...) TO ''file.csv'' CSV HEADER';

CREATE FUNCTION mekatek.count_accuracy(counted int, manual int) RETURNS double precision
LANGUAGE c IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'mk_count_accuracy';
COMMENT ON FUNCTION mekatek.count_accuracy(int, int) IS
'Counting accuracy in percent, the paper''s formula: 100 - |counted - manual| / manual * 100';

-- -------------------------------------------------------------- door access

CREATE TABLE mekatek.door_card (
    card_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uid         text NOT NULL,
    holder      text NOT NULL,
    door_id     text,
    valid_from  timestamptz NOT NULL DEFAULT now(),
    valid_until timestamptz,
    enabled     boolean NOT NULL DEFAULT true,
    CHECK (valid_until > valid_from),
    UNIQUE NULLS NOT DISTINCT (uid, door_id)
);
CREATE TRIGGER door_card_uid BEFORE INSERT OR UPDATE OF uid ON mekatek.door_card
    FOR EACH ROW EXECUTE FUNCTION mekatek.rfid_uid_normalise('uid', 'strict');
COMMENT ON TABLE mekatek.door_card IS
'RFID cards allowed through a door (door_id NULL: every door) between valid_from and valid_until';

CREATE TABLE mekatek.door_attempt (
    attempt_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    door_id    text,
    uid        text,
    card_id    bigint,
    granted    boolean NOT NULL,
    reason     text NOT NULL
);
CREATE INDEX door_attempt_refused ON mekatek.door_attempt (at) WHERE NOT granted;
COMMENT ON TABLE mekatek.door_attempt IS
'Every door_access call: decision and reason (granted, unknown_card, wrong_door, disabled, not_yet_valid, expired, bad_uid, no_uid, no_door)';

CREATE FUNCTION mekatek.door_access(door_id text, uid text) RETURNS boolean
LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, mekatek, pg_temp
AS 'MODULE_PATHNAME', 'mk_door_access';
COMMENT ON FUNCTION mekatek.door_access(text, text) IS
'The lock''s question: may this card open this door now?  Logs every attempt; NOTIFY mekatek_door on refusal';

-- ---------------------------------------------------------------- privileges
-- Devices: INSERT their events (not the columns the triggers own) and ask
-- the lock question; nothing else, not even SELECT.
GRANT INSERT (event_id, scanner, uid, lab, scanned_at) ON mekatek.rfid_scan TO mekatek_device;
GRANT INSERT (event_id, camera, room_id, direction, n, seen_at) ON mekatek.visitor_event TO mekatek_device;
GRANT EXECUTE ON FUNCTION mekatek.door_access(text, text) TO mekatek_device;

GRANT SELECT ON mekatek.lab_item, mekatek.lab_item_history, mekatek.rfid_scan,
                mekatek.room, mekatek.visitor_event, mekatek.room_occupancy,
                mekatek.capacity_alert, mekatek.visitor_minute
   TO mekatek_analyst, mekatek_admin;
GRANT INSERT, UPDATE, DELETE ON mekatek.room, mekatek.door_card TO mekatek_admin;
GRANT SELECT ON mekatek.door_card, mekatek.door_attempt TO mekatek_admin;
GRANT EXECUTE ON FUNCTION mekatek.lab_register(text, text, text, text, text) TO mekatek_admin;
GRANT EXECUTE ON FUNCTION mekatek.rfid_uid(text), mekatek.count_accuracy(int, int)
   TO mekatek_admin, mekatek_analyst;

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
