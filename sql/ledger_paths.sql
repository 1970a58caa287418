-- ledger: chat_ingest's two ways to the same rows.  In READ COMMITTED the
-- lookup and a plain sale or payment go by rows (src/ledger/direct.c); in
-- REPEATABLE READ or SERIALIZABLE, or when one of the tables has a column
-- or a statement trigger the row path does not fill or fire, they go by
-- statements (ingest.c).  Both must leave the same rows.
SET DateStyle = ISO;
SET TimeZone = 'UTC';
\pset format unaligned
\pset fieldsep ' | '

SELECT mekatek.ledger_setup('6281100000000', 'Budi');
SELECT outcome, reply FROM mekatek.chat_ingest('wa', 'p-g1', 'g-rows', '6281100000000@c.us', '2026-12-01 07:00+07',
                                               'groupadd 081200000011 Rows');
SELECT outcome, reply FROM mekatek.chat_ingest('wa', 'p-g2', 'g-stmt', '6281100000000@c.us', '2026-12-01 07:00+07',
                                               'groupadd 081200000012 Statements');

-- The same messages in each group: by rows (read committed) ...
CREATE FUNCTION pg_temp.day(grp text, p text) RETURNS SETOF mekatek.chat_reply
LANGUAGE sql AS $$
    SELECT * FROM mekatek.chat_ingest('wa', p || '1', grp, '6281100000000@c.us', '2026-12-01 09:00+07', 'done 2 x 50rb diamonds')
    UNION ALL
    SELECT * FROM mekatek.chat_ingest('wa', p || '2', grp, '6281100000000@c.us', '2026-12-01 09:01+07', 'payment Rp 30.000 cash')
    UNION ALL
    SELECT * FROM mekatek.chat_ingest('wa', p || '2', grp, '6281100000000@c.us', '2026-12-01 09:01+07', 'payment Rp 30.000 cash')
    UNION ALL
    SELECT * FROM mekatek.chat_ingest('wa', p || '3', grp, '6281100000000@c.us', '2026-12-01 09:02+07', 'done 1 x 1,5jt')
    UNION ALL
    SELECT * FROM mekatek.chat_ingest('wa', p || '4', grp, '6281299999999@c.us', '2026-12-01 09:03+07', 'done 1 x 5000')
$$;
SELECT * FROM pg_temp.day('g-rows', 'p-r');
-- ... and by statements (repeatable read)
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT * FROM pg_temp.day('g-stmt', 'p-s');
COMMIT;

-- No difference in the entries, the messages, the outbox or the balance
-- (ids and receive times aside).
CREATE VIEW pg_temp.entries AS
    SELECT group_id, kind, amount, paid_side, qty, price, note, sender, source,
           substr(message_id, 4) AS msg, substr(root_message_id, 4) AS root, booked_at, reverses
      FROM mekatek.ledger_entry WHERE group_id IN ('g-rows', 'g-stmt');
CREATE VIEW pg_temp.messages AS
    SELECT group_id, substr(message_id, 4) AS msg, revoked, sender, sent_at, body, edited_of, quoted_id,
           outcome, reply, unpaid
      FROM mekatek.ledger_message WHERE group_id IN ('g-rows', 'g-stmt') AND message_id ~ '^p-[rs][0-9]$';
CREATE VIEW pg_temp.replies AS
    SELECT payload->>'group_id' AS group_id, payload - 'group_id' - 'message_id' AS payload,
           substr(payload->>'message_id', 4) AS msg, channel, claimed_at, delivered_at, attempts
      FROM mekatek.outbox WHERE payload->>'group_id' IN ('g-rows', 'g-stmt') AND payload->>'message_id' ~ '^p-[rs][0-9]$';
SELECT 'entries' AS rows, count(*) FILTER (WHERE group_id = 'g-rows') AS by_rows,
       count(*) FILTER (WHERE group_id = 'g-stmt') AS by_statements,
       (SELECT count(*) FROM ((SELECT * FROM pg_temp.entries WHERE group_id = 'g-rows'
                               EXCEPT ALL SELECT 'g-rows', kind, amount, paid_side, qty, price, note, sender, source, msg,
                                          root, booked_at, reverses FROM pg_temp.entries WHERE group_id = 'g-stmt')
                              UNION ALL
                              (SELECT * FROM pg_temp.entries WHERE group_id = 'g-stmt'
                               EXCEPT ALL SELECT 'g-stmt', kind, amount, paid_side, qty, price, note, sender, source, msg,
                                          root, booked_at, reverses FROM pg_temp.entries WHERE group_id = 'g-rows')) d) AS differ
  FROM pg_temp.entries
UNION ALL
SELECT 'messages', count(*) FILTER (WHERE group_id = 'g-rows'), count(*) FILTER (WHERE group_id = 'g-stmt'),
       (SELECT count(*) FROM ((SELECT * FROM pg_temp.messages WHERE group_id = 'g-rows'
                               EXCEPT ALL SELECT 'g-rows', msg, revoked, sender, sent_at, body, edited_of, quoted_id,
                                          outcome, replace(reply, 'Statements', 'Rows'), unpaid
                                 FROM pg_temp.messages WHERE group_id = 'g-stmt')
                              UNION ALL
                              (SELECT * FROM pg_temp.messages WHERE group_id = 'g-stmt'
                               EXCEPT ALL SELECT 'g-stmt', msg, revoked, sender, sent_at, body, edited_of, quoted_id,
                                          outcome, replace(reply, 'Rows', 'Statements'), unpaid
                                 FROM pg_temp.messages WHERE group_id = 'g-rows')) d)
  FROM pg_temp.messages
UNION ALL
SELECT 'replies', count(*) FILTER (WHERE group_id = 'g-rows'), count(*) FILTER (WHERE group_id = 'g-stmt'),
       (SELECT count(*) FROM ((SELECT payload, msg, channel, claimed_at, delivered_at, attempts
                                 FROM pg_temp.replies WHERE group_id = 'g-rows'
                               EXCEPT ALL SELECT payload, msg, channel, claimed_at, delivered_at, attempts
                                 FROM pg_temp.replies WHERE group_id = 'g-stmt')
                              UNION ALL
                              (SELECT payload, msg, channel, claimed_at, delivered_at, attempts
                                 FROM pg_temp.replies WHERE group_id = 'g-stmt'
                               EXCEPT ALL SELECT payload, msg, channel, claimed_at, delivered_at, attempts
                                 FROM pg_temp.replies WHERE group_id = 'g-rows')) d)
  FROM pg_temp.replies;
SELECT group_id, unpaid, unpaid = (SELECT sum(amount) FROM mekatek.ledger_entry e WHERE e.group_id = g.group_id) AS balanced
  FROM mekatek.ledger_group g WHERE group_id IN ('g-rows', 'g-stmt') ORDER BY group_id;

-- A column added later, with its default: the posting goes by statement,
-- so the default is written.
ALTER TABLE mekatek.ledger_entry ADD COLUMN added_later text DEFAULT 'default written';
SELECT outcome, reply FROM mekatek.chat_ingest('wa', 'p-c1', 'g-rows', '6281100000000@c.us', '2026-12-01 10:00+07', 'done 1 x 1000');
SELECT message_id, added_later FROM mekatek.ledger_entry WHERE message_id = 'p-c1';
ALTER TABLE mekatek.ledger_entry DROP COLUMN added_later;

-- A column whose type changed (the row path builds each value for its
-- type): by statement, which coerces.
DROP VIEW pg_temp.entries, pg_temp.messages, pg_temp.replies;
ALTER TABLE mekatek.ledger_message ALTER COLUMN unpaid TYPE numeric;
SELECT outcome, reply FROM mekatek.chat_ingest('wa', 'p-y1', 'g-rows', '6281100000000@c.us', '2026-12-01 10:00+07', 'done 1 x 1000');
SELECT message_id, unpaid FROM mekatek.ledger_message WHERE message_id = 'p-y1';
ALTER TABLE mekatek.ledger_message ALTER COLUMN unpaid TYPE bigint;

-- A row trigger of the user's, or a statement trigger, sends the write to
-- the statement (which runs the user's code under the pinned path and
-- fires both).
CREATE FUNCTION pg_temp.said() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE NOTICE '% % trigger on %', TG_WHEN, TG_LEVEL, TG_TABLE_NAME;
    RETURN NULL;
END
$$;
CREATE TRIGGER paths_row AFTER INSERT ON mekatek.ledger_entry FOR EACH ROW EXECUTE FUNCTION pg_temp.said();
SELECT outcome, reply FROM mekatek.chat_ingest('wa', 'p-t1', 'g-rows', '6281100000000@c.us', '2026-12-01 10:01+07', 'done 1 x 1000');
CREATE TRIGGER paths_statement AFTER INSERT ON mekatek.ledger_message FOR EACH STATEMENT EXECUTE FUNCTION pg_temp.said();
SELECT outcome, reply FROM mekatek.chat_ingest('wa', 'p-t2', 'g-rows', '6281100000000@c.us', '2026-12-01 10:02+07', 'done 1 x 1000');
DROP TRIGGER paths_row ON mekatek.ledger_entry;
DROP TRIGGER paths_statement ON mekatek.ledger_message;

-- Still balanced, and the row path is back once the tables are as installed.
SELECT outcome, reply FROM mekatek.chat_ingest('wa', 'p-t3', 'g-rows', '6281100000000@c.us', '2026-12-01 10:03+07', 'done 1 x 1000');
SELECT group_id, unpaid, unpaid = (SELECT sum(amount) FROM mekatek.ledger_entry e WHERE e.group_id = g.group_id) AS balanced
  FROM mekatek.ledger_group g WHERE group_id IN ('g-rows', 'g-stmt') ORDER BY group_id;

-- A read-only transaction is refused up front (every message is stored).
BEGIN READ ONLY;
SELECT outcome, reply FROM mekatek.chat_ingest('wa', 'p-ro', 'g-rows', '6281100000000@c.us', '2026-12-01 10:04+07', 'done 1 x 1000');
ROLLBACK;
SELECT count(*) AS stored FROM mekatek.ledger_message WHERE message_id = 'p-ro';

-- The row path keeps what it knows about the tables (src/ledger/
-- direct_cache.c), and forgets it when they change: a CHECK constraint
-- added afterwards holds on the row path too, as it does for a statement.
-- (terse: the failing row's DETAIL holds ids and times)
\set VERBOSITY terse
SELECT outcome, reply FROM mekatek.chat_ingest('wa', 'p-k0', 'g-rows', '6281100000000@c.us', '2026-12-01 11:00+07', 'done 1 x 1000');
ALTER TABLE mekatek.ledger_group ADD CONSTRAINT paths_cap CHECK (unpaid <= 2000000);
SELECT outcome, reply FROM mekatek.chat_ingest('wa', 'p-k1', 'g-rows', '6281100000000@c.us', '2026-12-01 11:01+07', 'done 1 x 500rb');
ALTER TABLE mekatek.ledger_group DROP CONSTRAINT paths_cap;
ALTER TABLE mekatek.ledger_entry ADD CONSTRAINT paths_small CHECK (amount < 1000000) NOT VALID;
SELECT outcome, reply FROM mekatek.chat_ingest('wa', 'p-k2', 'g-rows', '6281100000000@c.us', '2026-12-01 11:02+07', 'done 1 x 1,5jt');
ALTER TABLE mekatek.ledger_entry DROP CONSTRAINT paths_small;
-- The balance update skips a validated constraint on columns it leaves
-- alone (it passed for the row it replaces), but not a NOT VALID one:
-- that one fails here, as it fails an UPDATE of the balance.
ALTER TABLE mekatek.ledger_group ADD CONSTRAINT paths_name CHECK (name <> 'Rows') NOT VALID;
SELECT outcome, reply FROM mekatek.chat_ingest('wa', 'p-k3', 'g-rows', '6281100000000@c.us', '2026-12-01 11:03+07', 'done 1 x 1000');
ALTER TABLE mekatek.ledger_group DROP CONSTRAINT paths_name;
\set VERBOSITY default
ALTER TABLE mekatek.ledger_group ADD CONSTRAINT paths_name CHECK (name <> 'Nobody');
SELECT outcome, reply FROM mekatek.chat_ingest('wa', 'p-k4', 'g-rows', '6281100000000@c.us', '2026-12-01 11:04+07', 'done 1 x 1000');
ALTER TABLE mekatek.ledger_group DROP CONSTRAINT paths_name;
-- A chat_ingest inside a chat_ingest (a row trigger, so the outer one
-- goes by statement) that rebuilds the cache, invalidated by an ALTER
-- TABLE, and books by rows; the outer one's books stay right.
CREATE FUNCTION pg_temp.nested() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF pg_trigger_depth() = 1 THEN
        ALTER TABLE mekatek.ledger_user SET (fillfactor = 100);
        ALTER TABLE mekatek.ledger_user RESET (fillfactor);
        PERFORM mekatek.chat_ingest('wa', NEW.message_id || '-nested', 'g-stmt', '6281100000000@c.us',
                                    '2026-12-01 11:05+07', 'done 1 x 2000');
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER paths_nested BEFORE INSERT ON mekatek.ledger_entry FOR EACH ROW EXECUTE FUNCTION pg_temp.nested();
SELECT outcome, reply FROM mekatek.chat_ingest('wa', 'p-k5', 'g-rows', '6281100000000@c.us', '2026-12-01 11:05+07', 'done 1 x 1000');
DROP TRIGGER paths_nested ON mekatek.ledger_entry;
SELECT message_id, group_id, amount FROM mekatek.ledger_entry WHERE message_id LIKE 'p-k%' ORDER BY entry_id;
SELECT group_id, unpaid, unpaid = (SELECT sum(amount) FROM mekatek.ledger_entry e WHERE e.group_id = g.group_id) AS balanced
  FROM mekatek.ledger_group g WHERE group_id IN ('g-rows', 'g-stmt') ORDER BY group_id;
