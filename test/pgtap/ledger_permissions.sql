-- ledger: the paper's Tabel 1 (Uji Coba, seeds/004 section 3), each command
-- tried with and without the permission, through chat_ingest as the bot
-- would call it; then the bot's database role, which may call chat_ingest
-- and nothing else.
--
-- Where Tabel 1 is wrong:
--   * rows 11 and 13 repeat "dengan hak akses yang tidak mencukupi"
--     (insufficient access) in their input while expecting success; they
--     are the with-permission cases of broadcast and settle.
--   * row 13's expected result ("sends the closing message to all groups,
--     then the unpaid total") is settleall, not settle (the command list
--     says settle closes one group): both are tested below.
--   * row 5 (total) has no without-permission case, but the use case
--     (Gambar 3) limits a buyer to its own group: tested both ways.
--   * rows 8 and 9 ("pemilihan jabatan", choosing a role) are the command
--     list's userroleedit.
BEGIN;
SELECT plan(38);

SET LOCAL mekatek.ledger_timezone = 'Asia/Jakarta';

-- say(): the bot's call; the answer's outcome and reply.
CREATE FUNCTION pg_temp.say(id text, grp text, who text, body text, OUT outcome text, OUT reply text)
LANGUAGE sql AS $$
    SELECT r.outcome, r.reply
      FROM mekatek.chat_ingest('wa', id, grp, who, '2026-12-01 09:00+07', body) r
$$;

DO $$
BEGIN
    PERFORM mekatek.ledger_setup('6281100000000', 'Budi');
    PERFORM pg_temp.say('a1', 'g1', '6281100000000', 'groupadd 6281200000001 Andi');
    PERFORM pg_temp.say('a2', 'g2', '6281100000000', 'groupadd 6281200000002 Bima');
    PERFORM pg_temp.say('a3', 'g1', '6281100000000', 'useradd 6281100000002 seller Sari');
    PERFORM pg_temp.say('a4', 'g1', '6281100000000', 'useradd 6281200000001 buyer Andi');
    PERFORM pg_temp.say('a5', 'g1', '6281100000000', 'useradd 6281300000009 buyer Rina');
END
$$;

-- 1, 2: done (pemasukan transaksi)
SELECT is((pg_temp.say('t1', 'g1', '6281200000001', 'done 1 x 10000')).reply, 'You may not use done.',
          'Tabel 1 row 1: done without permission is refused');
SELECT is((SELECT count(*) FROM mekatek.ledger_entry), 0::bigint, 'row 1: nothing was booked');
SELECT is((SELECT outcome || ': ' || reply FROM pg_temp.say('t2', 'g1', '6281100000002', 'done 2 x 50000')),
          'recorded: Recorded: 2 x Rp50.000 = Rp100.000. Unpaid: Rp100.000',
          'row 2: done with permission answers with the unpaid total');

-- 3, 4: payment (pemasukan pembayaran)
SELECT is((pg_temp.say('t3', 'g1', '6281200000001', 'payment 50000')).outcome, 'refused',
          'row 3: payment without permission is refused');
SELECT is((SELECT outcome || ': ' || reply FROM pg_temp.say('t4', 'g1', '6281100000002', 'payment 40rb')),
          'recorded: Payment recorded: Rp40.000. Unpaid: Rp60.000',
          'row 4: payment with permission answers with the unpaid total');

-- 5: total (permintaan total grup): a buyer in its own group only
SELECT is((pg_temp.say('t5', 'g1', '6281200000001', 'total')).reply, 'Andi: unpaid Rp60.000.',
          'row 5: the buyer asks its own group''s total');
SELECT is((pg_temp.say('t5b', 'g2', '6281200000001', 'total')).reply, 'You may not use total in this group.',
          'row 5 (missing in the paper): a buyer may not ask another group''s total');
SELECT is((pg_temp.say('t5c', 'g1', '6281300000009', 'total')).outcome, 'refused',
          'row 5 (missing in the paper): another buyer may not ask this group''s total');
SELECT is((pg_temp.say('t5d', 'g1', '6289999999999', 'total')).reply,
          'You are not registered with this ledger; ask the owner to add you.',
          'an unknown sender may do nothing');

-- 6, 7: totalall (permintaan total semua grup)
SELECT is((pg_temp.say('t6', 'g1', '6281200000001', 'totalall')).outcome, 'refused',
          'row 6: totalall without permission is refused');
SELECT is((pg_temp.say('t7', 'g1', '6281100000002', 'totalall')).reply,
          E'Unpaid per group (0-7 / 8-30 / over 30 days):\nAndi: Rp60.000 (Rp60.000 / Rp0 / Rp0)\nBima: Rp0 (Rp0 / Rp0 / Rp0)\nAll groups: Rp60.000',
          'row 7: totalall with permission lists every group''s unpaid total');

-- 8, 9: userroleedit (pemilihan jabatan)
SELECT is((pg_temp.say('t8', 'g1', '6281100000002', 'userroleedit 6281300000009 seller')).outcome, 'refused',
          'row 8: a seller may not change roles');
SELECT is((SELECT count(*) FROM mekatek.ledger_audit WHERE command = 'userroleedit'), 0::bigint,
          'row 8: nothing changed, nothing audited');
SELECT is((pg_temp.say('t9', 'g1', '6281100000000', 'userroleedit 6281300000009 seller')).reply,
          'User 6281300000009 now has role seller.', 'row 9: the owner changes a role');
SELECT is((pg_temp.say('t9b', 'g2', '6281300000009', 'done 1 x 5000')).outcome, 'recorded',
          'row 9: the user can now do what the new role allows');
SELECT is((SELECT detail FROM mekatek.ledger_audit WHERE command = 'userroleedit'),
          '{"arg1": "6281300000009", "arg2": "seller", "group_id": "g1"}'::jsonb, 'row 9: the change is audited');

-- 10, 11: broadcast (permintaan siaran)
SELECT is((pg_temp.say('t10', 'g1', '6281100000002', 'broadcast Promo diamond 10%')).outcome, 'refused',
          'row 10: broadcast without permission is refused');
SELECT is((pg_temp.say('t11', 'g1', '6281100000000', 'broadcast Promo diamond 10%')).reply,
          'Broadcast queued for 2 groups.', 'row 11 (with permission, not "tidak mencukupi"): broadcast');
SELECT set_eq($$ SELECT payload->>'group_id' FROM mekatek.outbox WHERE payload->>'action' = 'broadcast' $$,
              ARRAY['g1', 'g2'], 'row 11: the text is queued for every group');

-- 12, 13: settle and settleall (penutupan transaksi)
SELECT is((pg_temp.say('t12', 'g1', '6281200000001', 'settle')).outcome, 'refused',
          'row 12: settle without permission is refused');
SELECT is((SELECT count(*) FROM mekatek.ledger_settlement), 0::bigint, 'row 12: nothing settled');
-- (settlement numbers come from a sequence, which other files advance too)
SELECT is(regexp_replace((pg_temp.say('t13', 'g1', '6281100000002', 'settle')).reply, '#[0-9]+', '#N'),
          E'Settlement #N, Andi\n1. 2 x Rp50.000 = Rp100.000\n2. payment Rp40.000\nTransactions: Rp100.000\nCarried over: Rp0\nPaid: Rp40.000\nUnpaid: Rp60.000',
          'row 13 (with permission): settle closes the group and answers with its unpaid total');
SELECT is((pg_temp.say('t13b', 'g1', '6281200000001', 'settleall')).outcome, 'refused',
          'row 12 for settleall: refused without permission');
SELECT is((pg_temp.say('t13c', 'g2', '6281100000002', 'settleall')).reply,
          'Settled 1 of 2 groups. All groups unpaid: Rp65.000',
          'row 13 as the paper describes it (settleall): every group with open entries is settled');
SELECT is((SELECT regexp_replace(payload->>'reply', '#[0-9]+', '#N') FROM mekatek.outbox WHERE payload->>'action' = 'settlement'),
          E'Settlement #N, Bima\n1. 1 x Rp5.000 = Rp5.000\nTransactions: Rp5.000\nCarried over: Rp0\nPaid: Rp0\nUnpaid: Rp5.000',
          'row 13: each settled group gets its own closing message');

-- The commands a role may run, as the commands command lists them.
SELECT is((pg_temp.say('t14', 'g1', '6281200000001', 'commands')).reply,
          E'Your commands:\ncommands - list the commands you may run\ninfo - show your name, phone number and roles\nping - check that the ledger answers\ntotal - the unpaid total of this group',
          'a buyer''s commands');

-- The bot's database role: chat_ingest, and nothing else.
SELECT set_eq($$
    SELECT p.oid::regprocedure::text FROM pg_proc p
     WHERE p.pronamespace = 'mekatek'::regnamespace AND has_function_privilege('mekatek_bot', p.oid, 'EXECUTE') $$,
    ARRAY['mekatek.chat_ingest(text,text,text,text,timestamp with time zone,text,text,boolean,text)'],
    'mekatek_bot may EXECUTE chat_ingest and nothing else');
SELECT is_empty($$
    SELECT c.oid::regclass::text FROM pg_class c,
           unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) p
     WHERE c.relnamespace = 'mekatek'::regnamespace AND c.relkind IN ('r', 'v', 'm', 'p', 'f', 'S')
       AND has_table_privilege('mekatek_bot', c.oid, p) $$,
    'mekatek_bot reads and writes no table');
SET LOCAL ROLE mekatek_bot;
SELECT is((mekatek.chat_ingest('wa', 'r1', 'g1', '6281100000002', '2026-12-01 10:00+07', 'done 1 x 1000')).outcome,
          'recorded', 'as mekatek_bot: chat_ingest works');
SELECT throws_ok($$ SELECT count(*) FROM mekatek.ledger_entry $$, '42501', NULL, 'as mekatek_bot: the books are not readable');
SELECT throws_ok($$ SELECT mekatek.ledger_receivables() $$, '42501', NULL, 'as mekatek_bot: no other function');
SELECT throws_ok($$ SELECT count(*) FROM mekatek.outbox_claim('ledger') $$, '42501', NULL, 'as mekatek_bot: no claiming of replies');
RESET ROLE;
-- An admin (not a superuser) sets the ledger up and runs the reminders.
SET LOCAL ROLE mekatek_admin;
SELECT lives_ok($$ SELECT mekatek.ledger_setup('6281100000077', 'Dewi') $$, 'as mekatek_admin: ledger_setup');
SELECT is(mekatek.ledger_autocharge_run(), 0, 'as mekatek_admin: ledger_autocharge_run (no group has autocharge on)');
RESET ROLE;
-- The deliverer's role claims and marks the outbox, and reads nothing else.
SET LOCAL ROLE mekatek_outbox;
SELECT is((SELECT count(*) FROM mekatek.outbox_claim('ledger', 1)), 1::bigint, 'as mekatek_outbox: claim one reply (behind the fence)');
SELECT ok((SELECT count(*) FROM mekatek.outbox_claim('ledger', 1000)) > 0, 'as mekatek_outbox: claim the replies');
RESET ROLE;

-- Issue 14, bounded input: the ids are indexed, so a 1 MB one was 54000
-- "index row requires ..." without naming the argument.
SELECT throws_ok($$ SELECT mekatek.chat_ingest('wa', repeat('m', 1000000), 'g1', '6281100000000', now(), 'total') $$,
                 '22001', NULL, 'a 1 MB message_id is refused by name (22001)');
SELECT throws_like($$ SELECT mekatek.chat_ingest('wa', 'm1', repeat('g', 300), '6281100000000', now(), 'total') $$,
                   '%group_id must have at most 256 bytes, not 300%', 'the message names the argument and its length');

SELECT * FROM finish();
ROLLBACK;
