-- Demo step 70: the chat ledger.  A seller's WhatsApp messages go through
-- mekatek.chat_ingest as the bot would send them; the replies wait in the
-- outbox for the bot to deliver.
\pset footer off
\set SHOW_CONTEXT never
\echo
\echo '=== ledger: a day of sales typed in WhatsApp groups ==='
SELECT mekatek.ledger_setup('+62 811-0000-0000', 'Budi') \gset

\echo 'The owner registers a customer group and a seller, then the seller records sales'
\echo '(an ambiguous amount, a buyer trying done, a cancel, and a redelivered message):'
SELECT m.body, r.outcome, r.reply
  FROM (VALUES (1, '6281100000000@c.us', '07:00', 'groupadd 0812-0000-0001 Andi Store'),
               (2, '6281100000000@c.us', '07:01', 'useradd 081100000002 seller Sari'),
               (3, '6281100000000@c.us', '07:02', 'useradd 081200000001 buyer Andi'),
               (4, '6281100000002@c.us', '09:00', 'done 2 x 50000'),
               (5, '6281100000002@c.us', '09:05', 'Done 1x50.000 diamond ML'),
               (6, '6281100000002@c.us', '09:10', 'done 1 x 1,5jt weekly pass'),
               (7, '6281100000002@c.us', '09:11', 'done 2 x 1.5'),
               (8, '6281200000001@c.us', '10:00', 'done 1 x 10000'),
               (9, '6281200000001@c.us', '10:01', 'total'),
               (10, '6281100000002@c.us', '11:00', 'cancel'),
               (11, '6281100000002@c.us', '11:10', 'payment 100.000 transfer BCA'),
               (5, '6281100000002@c.us', '09:05', 'Done 1x50.000 diamond ML')) m(n, sender, at, body),
       LATERAL mekatek.chat_ingest('wa', 'demo-' || m.n, 'g-andi@g.us', m.sender,
                                   ('2026-12-01 ' || m.at || '+07')::timestamptz, m.body) r;

\echo 'In the evening the seller settles the group:'
SELECT r.reply FROM mekatek.chat_ingest('wa', 'demo-12', 'g-andi@g.us', '6281100000002@c.us',
                                        '2026-12-01 20:00+07', 'settle') r;

\echo 'The books: append-only entries whose sum is the unpaid total:'
SELECT entry_id, kind, amount, qty, price, note FROM mekatek.ledger_entry ORDER BY entry_id;
SELECT * FROM mekatek.ledger_receivables('2026-12-02 09:00+07');

\echo 'What the bot delivers (claimed from the outbox, then marked delivered):'
SELECT outbox_id, payload->>'reply' AS reply FROM mekatek.outbox_claim('ledger', 3);
