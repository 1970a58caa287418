-- devices: a scanner's batch (each tag once) is applied by rows, through
-- the executor's row entry points (src/devices/direct.c), unless the
-- statement must do it: under REPEATABLE READ or SERIALIZABLE, or with a
-- statement trigger on a table it writes.  The same scans, run each way on
-- their own items, must leave the same items, history, outbox rows and
-- flags.  PLAB-1 announces its changes as digests (batch, the default),
-- PLAB-2 each change on its own (each): a statement's digest holds the
-- same changes, in the same order, as the rows of 'each'.
SET timezone = 'Asia/Jakarta';
SET datestyle = 'ISO, YMD';
SET mekatek.device_time_behind = '20000d';
DELETE FROM mekatek.outbox;
INSERT INTO mekatek.lab (lab_id, announce) VALUES ('PLAB-2', 'each');

-- Every announced change, from 'each' rows (n = 0) and digests (n = its place).
CREATE FUNCTION public.path_changes() RETURNS TABLE (outbox_id bigint, n bigint, lab text, c jsonb) LANGUAGE sql AS $$
    SELECT o.outbox_id, 0, o.payload->>'lab', o.payload FROM mekatek.outbox o
     WHERE o.channel = 'lab' AND NOT o.payload ? 'changes'
    UNION ALL
    SELECT o.outbox_id, e.n, o.payload->>'lab', e.c
      FROM mekatek.outbox o, jsonb_array_elements(o.payload->'changes') WITH ORDINALITY AS e(c, n)
     WHERE o.channel = 'lab' AND o.payload ? 'changes'
$$;

-- Four items per path: P1 to P4; tag E0<path>000<n>, 'FF' a tag of no item.
CREATE FUNCTION public.path_run(path text, batch int) RETURNS void LANGUAGE sql AS $$
    INSERT INTO mekatek.rfid_scan(scanner, uid, lab, scanned_at)
    SELECT 'paths-' || path, 'E0' || path || '00' || uid_tail, lab, at
      FROM (VALUES
        -- 1: P1 queued, P2 before its registration, P3 testing -> done,
        --    P4 queued at PLAB-2, and a tag of no item
        (1, 1, '01', 'PLAB-1', '2024-12-01 09:00:00+07'::timestamptz),
        (1, 2, '02', 'PLAB-1', '2024-12-01 07:00:00+07'),
        (1, 3, '03', 'PLAB-1', '2024-12-01 09:30:00+07'),
        (1, 4, '04', 'PLAB-2', '2024-12-01 09:00:00+07'),
        (1, 5, 'FF', 'PLAB-1', '2024-12-01 09:00:00+07'),
        -- 2: P1 at the wrong lab, P4 going back in time, P2 queued
        (2, 1, '01', 'PLAB-2', '2024-12-01 09:10:00+07'),
        (2, 2, '04', 'PLAB-2', '2024-12-01 08:30:00+07'),
        (2, 3, '02', 'PLAB-1', '2024-12-01 09:05:00+07'),
        -- 3: P1 bounces, P4 testing, P3 done already (a bounce of its last press)
        (3, 1, '01', 'PLAB-1', '2024-12-01 09:00:01+07'),
        (3, 2, '04', 'PLAB-2', '2024-12-01 10:00:00+07'),
        (3, 3, '03', 'PLAB-1', '2024-12-01 09:30:01+07')) AS v(b, k, uid_tail, lab, at)
     WHERE b = batch
     ORDER BY k
$$;
CREATE FUNCTION public.path_setup(path text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM mekatek.lab_register('E0' || path || '000' || n, 'PATH-' || path || '-' || n, 'PT Jalur', 'sample', 'uji')
       FROM generate_series(1, 4) n;
    UPDATE mekatek.lab_item SET registered_at = '2024-12-01 08:00:00+07' WHERE item_code LIKE 'PATH-' || path || '-%';
    -- P3 is testing at PLAB-1 since 09:00 (two scans, one statement each)
    INSERT INTO mekatek.rfid_scan(scanner, uid, lab, scanned_at)
    VALUES ('paths-' || path, 'E0' || path || '0003', 'PLAB-1', '2024-12-01 08:30:00+07');
    INSERT INTO mekatek.rfid_scan(scanner, uid, lab, scanned_at)
    VALUES ('paths-' || path, 'E0' || path || '0003', 'PLAB-1', '2024-12-01 09:00:00+07');
END
$$;
-- What a path left, with its own ids and tags taken out.
CREATE FUNCTION public.path_result(path text) RETURNS TABLE (what text, row_text text) LANGUAGE sql AS $$
    SELECT 'item', format('%s %s %s %s %s active=%s', right(item_code, 1), state, right(tag_code, 3), lab,
                          last_scan_at, active_uid IS NOT NULL)
      FROM mekatek.lab_item WHERE item_code LIKE 'PATH-' || path || '-%'
    UNION ALL
    SELECT 'history', format('%s %s->%s %s %s', right(h.item_code, 1), h.from_state, h.to_state, h.lab,
                             CASE WHEN h.from_state IS NOT NULL THEN h.at END)
      FROM mekatek.lab_item_history h WHERE h.item_code LIKE 'PATH-' || path || '-%'
    UNION ALL
    SELECT 'scan', format('%s %s %s %s', right(uid, 2), lab, scanned_at, coalesce(flag, '-'))
      FROM mekatek.rfid_scan WHERE scanner = 'paths-' || path
    UNION ALL
    SELECT 'outbox', format('%s %s->%s %s %s %s', right(o.c->>'item', 1), o.c->>'from',
                            o.c->>'to', o.lab, o.c->>'at',
                            o.c->>'scan' = s.scan_id::text AND o.c->>'uid' = s.uid AND o.lab = s.lab)
      FROM public.path_changes() o JOIN mekatek.rfid_scan s ON s.scan_id = (o.c->>'scan')::bigint
     WHERE s.scanner = 'paths-' || path
    UNION ALL
    SELECT 'digest', format('%s %s changes, part %s of %s', o.payload->>'lab',
                            jsonb_array_length(o.payload->'changes'), o.payload->>'part', o.payload->>'parts')
      FROM mekatek.outbox o
     WHERE o.channel = 'lab' AND o.payload->'changes'->0->>'item' LIKE 'PATH-' || path || '-%'
$$;
-- In order: by history_id / outbox_id within an item, as the rows were written.
CREATE FUNCTION public.path_ordered(path text) RETURNS TABLE (what text, n bigint, row_text text) LANGUAGE sql AS $$
    SELECT 'history', row_number() OVER (ORDER BY history_id),
           format('%s %s->%s', right(item_code, 1), from_state, to_state)
      FROM mekatek.lab_item_history WHERE item_code LIKE 'PATH-' || path || '-%'
    UNION ALL
    SELECT 'outbox', row_number() OVER (ORDER BY outbox_id, n),
           format('%s %s->%s', right(c->>'item', 1), c->>'from', c->>'to')
      FROM public.path_changes() WHERE c->>'item' LIKE 'PATH-' || path || '-%'
$$;

CREATE FUNCTION public.path_all(path text) RETURNS TABLE (what text, row_text text) LANGUAGE sql AS $$
    SELECT * FROM public.path_result(path)
    UNION ALL
    SELECT what || ' order', n || ' ' || row_text FROM public.path_ordered(path)
$$;

-- A: READ COMMITTED, rows.
SELECT public.path_setup('0A');
SELECT public.path_run('0A', 1);
SELECT public.path_run('0A', 2);
SELECT public.path_run('0A', 3);
SELECT what, row_text FROM public.path_result('0A') ORDER BY what, row_text;
SELECT * FROM public.path_ordered('0A') ORDER BY what, n;
SELECT payload = payload::text::jsonb AND pg_column_size(payload) = pg_column_size(payload::text::jsonb)
       AS same_as_parsed
  FROM mekatek.outbox o
 WHERE channel = 'lab' AND EXISTS (SELECT FROM public.path_changes() c
                                    WHERE c.outbox_id = o.outbox_id AND c.c->>'item' LIKE 'PATH-0A-%')
 GROUP BY 1;

-- B: REPEATABLE READ, the statements.
SELECT public.path_setup('0B');
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT public.path_run('0B', 1);
COMMIT;
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT public.path_run('0B', 2);
COMMIT;
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT public.path_run('0B', 3);
COMMIT;

-- C: a statement trigger on the history, the statements; an AFTER row
-- trigger fires on both ways (A's rows are already written).
CREATE FUNCTION public.path_noop() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NULL; END$$;
CREATE FUNCTION public.path_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE NOTICE 'history row: % % -> %', right(NEW.item_code, 1), NEW.from_state, NEW.to_state;
    RETURN NULL;
END
$$;
CREATE TRIGGER path_row AFTER INSERT ON mekatek.lab_item_history
    FOR EACH ROW WHEN (NEW.item_code LIKE 'PATH-%') EXECUTE FUNCTION public.path_row();
SELECT public.path_setup('0D');
SELECT public.path_run('0D', 1);
CREATE TRIGGER path_noop AFTER INSERT ON mekatek.lab_item_history
    FOR EACH STATEMENT EXECUTE FUNCTION public.path_noop();
SELECT public.path_setup('0C');
SELECT public.path_run('0C', 1);
SELECT public.path_run('0C', 2);
SELECT public.path_run('0C', 3);
DROP TRIGGER path_noop ON mekatek.lab_item_history;
DROP TRIGGER path_row ON mekatek.lab_item_history;
SELECT public.path_run('0D', 2);
SELECT public.path_run('0D', 3);

-- No difference in either direction, nor in the order rows were written.
SELECT p.path, count(d.*) AS differences
  FROM (VALUES ('0B'), ('0C'), ('0D')) p(path)
  LEFT JOIN LATERAL ((SELECT * FROM public.path_all('0A') EXCEPT ALL SELECT * FROM public.path_all(p.path))
                     UNION ALL
                     (SELECT * FROM public.path_all(p.path) EXCEPT ALL SELECT * FROM public.path_all('0A'))) d ON true
 GROUP BY p.path ORDER BY p.path;

-- Leave the shared database as found.
DELETE FROM mekatek.outbox;
DELETE FROM mekatek.lab WHERE lab_id = 'PLAB-2';
DELETE FROM mekatek.rfid_scan WHERE scanner LIKE 'paths-%';
DELETE FROM mekatek.lab_item_history WHERE item_code LIKE 'PATH-%';
DELETE FROM mekatek.lab_item WHERE item_code LIKE 'PATH-%';
DROP FUNCTION public.path_run(text, int), public.path_setup(text), public.path_result(text),
              public.path_ordered(text), public.path_all(text), public.path_noop(), public.path_row(),
              public.path_changes();
DELETE FROM mekatek.rfid_rollup_pending WHERE lab IN ('PLAB-1', 'PLAB-2');
