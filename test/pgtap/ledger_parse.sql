-- ledger: the command language, one form per line: what chat_parse makes
-- of it, or the reason it refuses it; and the round-trip property of
-- amounts (the canonical print parses back to the same value).
BEGIN;
SELECT plan(9);

SELECT results_eq($$
    SELECT body, p.command, p.qty, p.amount, p.note
      FROM unnest(ARRAY[
        'done 2 x 50000', 'done 2 x 50.000', 'done 2 x 50,000', 'done 2 x Rp 50.000', 'done 2 x Rp50.000,-',
        'done 2 x 50rb', 'done 2 x 50 ribu', 'done 2 x 50k', 'done 1 x 1,5jt', 'done 1 x 1.5jt', 'done 1 x 2 juta',
        'DONE 2X50000', 'done 2*50000', 'done 2 × 50000', '/done 2 x 1.500.000 ML weekly', 'Payment Rp 1.250.000 BCA'
      ]) WITH ORDINALITY AS t(body, n), mekatek.chat_parse(body) p ORDER BY n $$,
    $$ VALUES ('done 2 x 50000', 'done', 2, 50000::bigint, NULL::text), ('done 2 x 50.000', 'done', 2, 50000, NULL),
              ('done 2 x 50,000', 'done', 2, 50000, NULL), ('done 2 x Rp 50.000', 'done', 2, 50000, NULL),
              ('done 2 x Rp50.000,-', 'done', 2, 50000, NULL), ('done 2 x 50rb', 'done', 2, 50000, NULL),
              ('done 2 x 50 ribu', 'done', 2, 50000, NULL), ('done 2 x 50k', 'done', 2, 50000, NULL),
              ('done 1 x 1,5jt', 'done', 1, 1500000, NULL), ('done 1 x 1.5jt', 'done', 1, 1500000, NULL),
              ('done 1 x 2 juta', 'done', 1, 2000000, NULL), ('DONE 2X50000', 'done', 2, 50000, NULL),
              ('done 2*50000', 'done', 2, 50000, NULL), ('done 2 × 50000', 'done', 2, 50000, NULL),
              ('/done 2 x 1.500.000 ML weekly', 'done', 2, 1500000, 'ML weekly'),
              ('Payment Rp 1.250.000 BCA', 'payment', NULL, 1250000, 'BCA') $$,
    'amounts as Indonesian sellers write them');

SELECT results_eq($$
    SELECT p.error FROM unnest(ARRAY[
        'done 2 x 1.5', 'done 2 x 50.00', 'done 2 x 1.000,50', 'done 1 x 1.500rb', 'done 2 x 050000',
        'done 0 x 50000', 'done 50000', 'done 2 x 0', 'done 2 x 50000rp', 'payment', 'settle now',
        'report 2026-02-30', 'roleedit seller +fly', 'math 10/3', 'done 2 x 1000000000000'
      ]) WITH ORDINALITY AS t(body, n), mekatek.chat_parse(body) p ORDER BY n $$,
    $$ VALUES ('amount "1.5" is ambiguous: write whole rupiah as 50000 or 50.000 (groups of 3 digits)'),
              ('amount "50.00" is ambiguous: write whole rupiah as 50000 or 50.000 (groups of 3 digits)'),
              ('amount "1.000,50" mixes "." and ",": write whole rupiah, e.g. 50.000'),
              ('amount "1.500rb" is ambiguous: with rb/k/jt write at most 2 decimals, e.g. 1,5jt'),
              ('amount "050000" starts with 0'),
              ('quantity "0 x" must be 1 to 100000'),
              ('done needs <qty> x <price>: "x" or "*" missing after "50000"'),
              ('price must be at least Rp1, not "0"'),
              ('unexpected "rp" after the amount'),
              ('payment needs an amount, e.g. payment 150.000'),
              ('settle takes no arguments, not "now"'),
              ('report: "2026-02-30" is not a date (write 2026-12-01)'),
              ('roleedit: unknown command "+fly"'),
              ('10 / 3 is not a whole number'),
              ('amount "1000000000000" is too large (at most Rp999.999.999.999)') $$,
    'ambiguous and malformed commands are refused with the reason, never guessed');

SELECT results_eq($$
    SELECT p.command, p.error FROM unnest(ARRAY['makasih kak', 'done.', 'sudah done ya', '', 'totally']) b,
           mekatek.chat_parse(b) p $$,
    $$ VALUES (NULL::text, NULL::text), (NULL, NULL), (NULL, NULL), (NULL, NULL), (NULL, NULL) $$,
    'chatter is not a command');

SELECT results_eq($$
    SELECT p.command, p.args, p.note FROM unnest(ARRAY['roledelate buyer2', 'roledlist', 'useradd 0812-3456-7890 seller Sari Dewi',
        'roleedit Seller +report -math +total:own', 'report 2026-12-01 2026-12-07']) WITH ORDINALITY AS t(b, n),
           mekatek.chat_parse(b) p ORDER BY n $$,
    $$ VALUES ('roledelete', ARRAY['buyer2'], NULL::text), ('rolelist', NULL, NULL),
              ('useradd', ARRAY['0812-3456-7890', 'seller'], 'Sari Dewi'),
              ('roleedit', ARRAY['Seller', '+report', '-math', '+total:own'], NULL),
              ('report', ARRAY['2026-12-01', '2026-12-07'], NULL) $$,
    'arguments, and the paper''s misspelt roledelate and roledlist as aliases');

SELECT is((mekatek.chat_parse('math (2*50000+5000)/3')).amount, 35000::bigint, 'math: whole-number arithmetic');

-- Round trip: canonical print -> parse gives the value back, for the
-- edges and 10,000 random amounts of every magnitude.
SELECT is_empty($$
    SELECT v FROM (SELECT unnest(ARRAY[0, 1, 999, 1000, 1001, 999999, 1000000, 999999999999]::bigint[])
                   UNION ALL
                   SELECT floor(random() * power(10, 1 + (i % 12)))::bigint FROM generate_series(1, 10000) i) s(v)
     WHERE mekatek.ledger_amount(mekatek.ledger_format(v)) <> v $$,
    'every amount prints to a string that parses back to it');
SELECT is(mekatek.ledger_format(1500000), 'Rp1.500.000', 'the canonical form');
SELECT throws_ok($$ SELECT mekatek.ledger_amount('1.5') $$, '22P02',
                 'amount "1.5" is ambiguous: write whole rupiah as 50000 or 50.000 (groups of 3 digits)',
                 'ledger_amount refuses with 22P02');
SELECT is(mekatek.ledger_phone('+62 812-3456-7890'), '6281234567890', 'phone numbers are keyed with the country code');

SELECT * FROM finish();
ROLLBACK;
