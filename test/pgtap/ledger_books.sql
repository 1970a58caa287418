-- ledger: the corners of the books that the day's conversation does not
-- reach: cancel of a quoted message, an edit edited again, a revoke by
-- someone else, a payment edited, a deleted group's books, and the
-- balance rule after all of it.
BEGIN;
SELECT plan(11);

CREATE FUNCTION pg_temp.say(id text, who text, body text, edited_of text DEFAULT NULL,
                            revoked boolean DEFAULT false, quoted text DEFAULT NULL)
RETURNS text LANGUAGE sql AS $$
    SELECT r.outcome || ': ' || coalesce(r.reply, '-')
      FROM mekatek.chat_ingest('wa', id, 'g1', who, '2026-12-01 09:00+07', body, edited_of, revoked, quoted) r
$$;
DO $$
BEGIN
    PERFORM mekatek.ledger_setup('6281100000000', 'Budi');
    PERFORM pg_temp.say('a1', '6281100000000', 'groupadd 6281200000001 Andi');
    PERFORM pg_temp.say('a2', '6281100000000', 'useradd 6281100000002 seller Sari');
END
$$;

SELECT is(pg_temp.say('s1', '6281100000002', 'done 1 x 10000'), 'recorded: Recorded: 1 x Rp10.000 = Rp10.000. Unpaid: Rp10.000', 'a sale');
SELECT is(pg_temp.say('s2', '6281100000002', 'done 1 x 20000'), 'recorded: Recorded: 1 x Rp20.000 = Rp20.000. Unpaid: Rp30.000', 'another');
SELECT is(pg_temp.say('c1', '6281100000002', 'cancel', quoted => 's1'),
          'recorded: Cancelled: Rp10.000. Unpaid: Rp20.000', 'cancel with a quoted message reverses that message, not the last sale');
SELECT is(pg_temp.say('c2', '6281100000002', 'cancel', quoted => 's1'),
          'answered: Nothing to cancel: the quoted message booked nothing open.', 'a second cancel of it reverses nothing');

-- s2 edited twice: each edit reverses what the chain booked before
SELECT is(pg_temp.say('s2e1', '6281100000002', 'done 2 x 20000', 's2'),
          'recorded: Edited: reversed Rp20.000. Recorded: 2 x Rp20.000 = Rp40.000. Unpaid: Rp40.000', 'first edit');
SELECT is(pg_temp.say('s2e2', '6281100000002', 'done 3 x 20000', 's2'),
          'recorded: Edited: reversed Rp40.000. Recorded: 3 x Rp20.000 = Rp60.000. Unpaid: Rp60.000', 'second edit reverses the first edit''s entry');
SELECT is(pg_temp.say('s2', '6281100000000', '', revoked => true), 'ignored: -',
          'a revoke by someone else than the sender reverses nothing');

SELECT is(pg_temp.say('p1', '6281100000002', 'payment 50000'), 'recorded: Payment recorded: Rp50.000. Unpaid: Rp10.000', 'a payment');
SELECT is(pg_temp.say('p1e', '6281100000002', 'payment 5000', 'p1'),
          'recorded: Edited: reversed payment Rp50.000. Payment recorded: Rp5.000. Unpaid: Rp55.000', 'an edited payment');

SELECT is(pg_temp.say('d1', '6281100000000', 'groupdelete'), 'recorded: Group Andi unregistered; its books are kept (unpaid Rp55.000).',
          'deleting a group keeps its books');
SELECT is((SELECT sum(amount) FROM mekatek.ledger_entry WHERE group_id = 'g1'),
          (SELECT unpaid FROM mekatek.ledger_group WHERE group_id = 'g1')::numeric, 'the entries still sum to the unpaid total');

SELECT * FROM finish();
ROLLBACK;
