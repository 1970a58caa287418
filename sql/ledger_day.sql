-- ledger: one seller's day in three customers' WhatsApp groups, message by
-- message, with the exact replies the bot would send.  After every message
-- the books must balance: the sum of a group's entries is its unpaid total.
-- The paper (seeds/004, section 2.1) describes the day: sellers type
-- "done <qty> x <price>" and settle in the evening.
SET mekatek.ledger_timezone = 'Asia/Jakarta';
SET DateStyle = ISO;
SET TimeZone = 'UTC';   -- the session's zone must not matter: days are WIB
\pset format unaligned
\pset fieldsep ' | '

-- say(): hand one message to chat_ingest, then check every group balances.
CREATE FUNCTION pg_temp.say(id text, grp text, who text, at timestamptz, body text,
                            edited_of text DEFAULT NULL, revoked boolean DEFAULT false,
                            OUT outcome text, OUT unpaid bigint, OUT balanced boolean, OUT reply text)
LANGUAGE sql AS $$
    WITH r AS (SELECT * FROM mekatek.chat_ingest('wa', id, grp, who, at, body, edited_of, revoked))
    SELECT r.outcome, r.unpaid,
           (SELECT coalesce(bool_and(g.unpaid = (SELECT coalesce(sum(e.amount), 0) FROM mekatek.ledger_entry e
                                          WHERE e.group_id = g.group_id)), true)
              FROM mekatek.ledger_group g),
           r.reply
      FROM r
$$;

-- The owner is set up once in SQL; everyone else arrives through the chat.
SELECT mekatek.ledger_setup('+62 811-0000-0000', 'Budi');
SELECT * FROM pg_temp.say('a1', 'g-andi', '6281100000000@c.us', '2026-12-01 07:00+07', 'groupadd 0812-0000-0001 Andi Store');
SELECT * FROM pg_temp.say('a2', 'g-bima', '6281100000000@c.us', '2026-12-01 07:01+07', 'groupadd 081200000002 Bima Game');
SELECT * FROM pg_temp.say('a3', 'g-citra', '6281100000000@c.us', '2026-12-01 07:02+07', 'groupadd 6281200000003 Citra');
SELECT * FROM pg_temp.say('a4', 'g-andi', '6281100000000@c.us', '2026-12-01 07:03+07', 'useradd 081100000002 seller Sari');
SELECT * FROM pg_temp.say('a5', 'g-andi', '6281100000000@c.us', '2026-12-01 07:04+07', 'useradd 081200000001 buyer Andi');
SELECT * FROM pg_temp.say('a6', 'g-bima', '6281100000000@c.us', '2026-12-01 07:05+07', 'useradd 081200000002 buyer Bima');

-- Sales, in every way sellers write amounts.
SELECT * FROM pg_temp.say('s1', 'g-andi', '6281100000002@c.us', '2026-12-01 09:00+07', 'done 2 x 50000');
SELECT * FROM pg_temp.say('s2', 'g-andi', '6281100000002@c.us', '2026-12-01 09:05+07', 'Done 1x50.000 diamond ML');
SELECT * FROM pg_temp.say('s3', 'g-bima', '6281100000002@c.us', '2026-12-01 09:10+07', 'DONE 3 * Rp 25.000');
SELECT * FROM pg_temp.say('s4', 'g-bima', '6281100000002@c.us', '2026-12-01 09:15+07', 'done 1 x 50,000');
SELECT * FROM pg_temp.say('s5', 'g-citra', '6281100000002@c.us', '2026-12-01 09:20+07', 'done 2 x 15rb');
SELECT * FROM pg_temp.say('s6', 'g-citra', '6281100000002@c.us', '2026-12-01 09:25+07', 'done 1 x 1,5jt weekly pass');
SELECT * FROM pg_temp.say('s7', 'g-citra', '6281100000002@c.us', '2026-12-01 09:30+07', 'done 4 x 20k');
-- Ambiguous amounts are refused with the reason, never guessed.
SELECT * FROM pg_temp.say('s8', 'g-citra', '6281100000002@c.us', '2026-12-01 09:31+07', 'done 2 x 1.5');
SELECT * FROM pg_temp.say('s9', 'g-citra', '6281100000002@c.us', '2026-12-01 09:32+07', 'done 2 x 50.00');
-- Chatter is recorded as ignored, without a reply.
SELECT * FROM pg_temp.say('c1', 'g-andi', '6281200000001@c.us', '2026-12-01 09:40+07', 'makasih kak, sudah masuk');
-- A buyer may not record a sale, but may ask its own group's total...
SELECT * FROM pg_temp.say('b1', 'g-andi', '6281200000001@c.us', '2026-12-01 10:00+07', 'done 1 x 10000');
SELECT * FROM pg_temp.say('b2', 'g-andi', '6281200000001@c.us', '2026-12-01 10:01+07', 'total');
-- ...not another group's; and a stranger may do nothing.
SELECT * FROM pg_temp.say('b3', 'g-bima', '6281200000001@c.us', '2026-12-01 10:02+07', 'total');
SELECT * FROM pg_temp.say('b4', 'g-bima', '6289999999999@c.us', '2026-12-01 10:03+07', 'total');
-- A payment.
SELECT * FROM pg_temp.say('p1', 'g-andi', '6281100000002@c.us', '2026-12-01 11:00+07', 'payment 100.000 transfer BCA');
-- cancel reverses the seller's last sale in the group (s4).
SELECT * FROM pg_temp.say('x1', 'g-bima', '6281100000002@c.us', '2026-12-01 11:10+07', 'cancel');
-- An edit: s7 (4 x 20k) becomes 3 x 20k; the old entry is reversed.
SELECT * FROM pg_temp.say('s7e', 'g-citra', '6281100000002@c.us', '2026-12-01 11:20+07', 'done 3 x 20k', 's7');
-- A revoked message: s5 is deleted for everyone.
SELECT * FROM pg_temp.say('s5', 'g-citra', '6281100000002@c.us', '2026-12-01 11:30+07', 'done 2 x 15rb', NULL, true);
-- The same message delivered twice: the first answer, nothing booked.
SELECT * FROM pg_temp.say('s2', 'g-andi', '6281100000002@c.us', '2026-12-01 09:05+07', 'Done 1x50.000 diamond ML');
SELECT count(*) AS andi_entries FROM mekatek.ledger_entry WHERE group_id = 'g-andi';

-- Evening: Andi's group is settled; its unpaid Rp50.000 is carried over.
SELECT * FROM pg_temp.say('e1', 'g-andi', '6281100000002@c.us', '2026-12-01 20:00+07', 'settle');
SELECT * FROM pg_temp.say('e2', 'g-andi', '6281100000002@c.us', '2026-12-01 20:01+07', 'settle');

-- The next day: a sale on top of the carried balance, then a settlement
-- that shows the carry-over, totalall with ageing and the report.
SELECT * FROM pg_temp.say('n1', 'g-andi', '6281100000002@c.us', '2026-12-02 09:00+07', 'done 1 x Rp 75.000');
SELECT * FROM pg_temp.say('n2', 'g-andi', '6281100000002@c.us', '2026-12-02 20:00+07', 'settle');
SELECT * FROM pg_temp.say('n3', 'g-andi', '6281100000002@c.us', '2026-12-09 09:00+07', 'totalall');
SELECT * FROM pg_temp.say('n4', 'g-andi', '6281100000002@c.us', '2026-12-09 09:01+07', 'report 2026-12-01 2026-12-02');
SELECT * FROM mekatek.ledger_report('2026-12-01', '2026-12-02');
SELECT * FROM mekatek.ledger_receivables('2026-12-09 09:00+07');

-- Every reply went to the outbox once (a redelivery queues nothing).
SELECT (SELECT count(*) FROM mekatek.outbox WHERE channel = 'ledger') AS queued,
       (SELECT count(*) FROM mekatek.ledger_message WHERE reply IS NOT NULL) AS replied;
SELECT outcome, count(*) FROM mekatek.ledger_message GROUP BY outcome ORDER BY outcome;
SELECT message_id, reason FROM mekatek.ledger_reject ORDER BY reject_id;
-- The books are append-only.
UPDATE mekatek.ledger_entry SET amount = 0 WHERE entry_id = 1;
DELETE FROM mekatek.ledger_settlement;
