-- survey: the Likert percentage index of the WhatsApp top-up bot's
-- acceptance survey (../shared/seeds/004, "Tabel 2 Hasil Kuisisioner"):
-- 15 respondents, 8 items, counts per option STS, TS, CS, S, SS weighted
-- 1..5.  The paper's totals hold: 120 answers, weighted total 514 of 600,
-- 85.67%, "sangat setuju" (strongly agree).
--
-- Item 1 asks whether the WhatsApp display has changed ("Apakah tampilan
-- pada aplikasi whatsapp ada perubahankah?"); all 15 strongly agree, and
-- the paper counts that as acceptance.  But the bot lives inside WhatsApp
-- and the respondents' own remark is that "tampilannya mengikuti tampilan
-- whatsapp" (the display follows WhatsApp's): agreeing that it changed is
-- not a point for the bot, so the item is scored in the wrong direction.
-- Reversed, the index is 454 / 600 = 75.67%, "agree".
SET extra_float_digits = 0;

CREATE TEMP TABLE bot_survey (item int PRIMARY KEY, counts int[]);
INSERT INTO bot_survey VALUES
    (1, '{0,0,0,0,15}'),
    (2, '{0,0,3,4,8}'),
    (3, '{0,0,3,8,4}'),
    (4, '{0,2,3,9,1}'),
    (5, '{0,0,0,6,9}'),
    (6, '{1,1,4,6,3}'),
    (7, '{0,0,0,7,8}'),
    (8, '{0,0,0,7,8}');

-- Per item, then the whole questionnaire (rows of counts, one per item).
SELECT item, l.responses, l.weighted_total, l.max_total, round(l.percent::numeric, 2) AS percent, l.verdict
  FROM bot_survey, mekatek.likert_index(counts) l ORDER BY item;
SELECT l.responses, l.weighted_total, l.max_total, round(l.percent::numeric, 2) AS percent, l.verdict
  FROM mekatek.likert_index((SELECT array_agg(counts ORDER BY item) FROM bot_survey)) l;
-- The paper's column sums: 1, 3, 13, 47, 56 answers per option.
SELECT array_agg(s ORDER BY o) AS answers_per_option
  FROM (SELECT o, sum(counts[o]) AS s FROM bot_survey, generate_series(1, 5) o GROUP BY o) x;
-- Item 1 scored in the direction its wording asks.
SELECT l.weighted_total, round(l.percent::numeric, 2) AS percent, l.verdict
  FROM mekatek.likert_index((SELECT array_agg(counts ORDER BY item) FROM bot_survey),
                            reverse_items => '{1}') l;

-- The bands are 20% wide; with weights 1..5 the lowest index is 20%.
SELECT c AS counts, round(l.percent::numeric, 2) AS percent, l.verdict
  FROM unnest(ARRAY['{10,0,0,0,0}', '{0,10,0,0,0}', '{0,5,5,0,0}', '{0,0,10,0,0}',
                    '{0,0,0,10,0}', '{0,0,0,5,5}', '{0,0,0,0,10}']::text[]) c,
       mekatek.likert_index(c::int[]) l;
-- Other weights: 0..4 reaches the lowest band.
SELECT (mekatek.likert_index('{10,0,0,0,0}', weights => '{0,1,2,3,4}')).verdict;

-- Bad input.
SELECT mekatek.likert_index('{0,0,0,0,0}');
SELECT mekatek.likert_index('{1,-2,3}');
SELECT mekatek.likert_index('{1,2,3}', weights => '{1,2}');
SELECT mekatek.likert_index('{{1,2,3}}', reverse_items => '{2}');
SELECT mekatek.likert_index('{7}');
