-- survey: SMARTER (Edwards and Barron 1994) rank weights and ranking.
-- The seed paper's SMARTER body did not survive (../shared/seeds/004 prints
-- the SUS paper twice), so the worked example is ours, computed by hand.
SET extra_float_digits = 0;

-- Rank order centroid weights, w_i = (1/k) sum_{j=i..k} 1/j, as exact
-- fractions: k = 3: 11/18, 5/18, 2/18; k = 4: 25/48, 13/48, 7/48, 3/48;
-- k = 5: 137/300, 77/300, 47/300, 27/300, 12/300.
SELECT k, i, round((w * den)::numeric, 10) || '/' || den AS fraction,
       abs(w - num::float8 / den) < 1e-15 AS exact, sum(w) OVER (PARTITION BY k) AS total
  FROM (VALUES (3, 18, '{11,5,2}'::int[]), (4, 48, '{25,13,7,3}'), (5, 300, '{137,77,47,27,12}')) v(k, den, nums),
       unnest(mekatek.roc_weights(k), nums) WITH ORDINALITY u(w, num, i)
 ORDER BY k, i;
SELECT mekatek.roc_weights(1) AS one_criterion;

-- Rank weights by method, ties averaged over the positions they share:
-- ranks {1,2,2,4} under ROC are 25/48, (13+7)/2/48 twice, 3/48.
SELECT m, array_agg(round((w * 48)::numeric, 10) ORDER BY i) AS times_48
  FROM unnest(ARRAY['roc', 'rank_sum', 'rank_reciprocal']) m,
       unnest(mekatek.rank_weights('{1,2,2,4}', m)) WITH ORDINALITY u(w, i)
 GROUP BY m ORDER BY m;
SELECT array_agg(round((w * 18)::numeric, 10) ORDER BY i) AS in_given_order_times_18
  FROM unnest(mekatek.rank_weights('{3,1,2}')) WITH ORDINALITY u(w, i);

-- A worked ranking: choosing a coffee supplier on price (cost, rank 1),
-- quality (benefit, rank 2) and delivery days (cost, rank 3).
--   price   A 100, B 80, C 120 -> A 0.5, B 1, C 0
--   quality A 7,   B 5,  C 9   -> A 0.5, B 0, C 1
--   days    A 2,   B 4,  C 1   -> A 2/3, B 0, C 1
-- B = 11/18 = 0.6111, A = (11/2 + 5/2 + 4/3)/18 = 14/27 = 0.5185,
-- C = (5 + 2)/18 = 0.3889.
SELECT rank, alternative, round(score::numeric, 10) AS score
  FROM mekatek.smarter_rank('{
    "criteria": [{"name": "price", "rank": 1, "direction": "cost"},
                 {"name": "quality", "rank": 2, "direction": "benefit"},
                 {"name": "days", "rank": 3, "direction": "cost"}],
    "alternatives": {"A": {"price": 100, "quality": 7, "days": 2},
                     "B": {"price": 80, "quality": 5, "days": 4},
                     "C": {"price": 120, "quality": 9, "days": 1}}}'::jsonb);
SELECT round((14 / 27.0)::numeric, 10) AS a_by_hand, round((11 / 18.0)::numeric, 10) AS b_by_hand,
       round((7 / 18.0)::numeric, 10) AS c_by_hand;

-- The same model kept in tables.
INSERT INTO mekatek.smarter_criterion VALUES
    ('supplier', 'price', 1, 'cost'), ('supplier', 'quality', 2, 'benefit'), ('supplier', 'days', 3, 'cost');
INSERT INTO mekatek.smarter_value VALUES
    ('supplier', 'A', 'price', 100), ('supplier', 'A', 'quality', 7), ('supplier', 'A', 'days', 2),
    ('supplier', 'B', 'price', 80),  ('supplier', 'B', 'quality', 5), ('supplier', 'B', 'days', 4),
    ('supplier', 'C', 'price', 120), ('supplier', 'C', 'quality', 9), ('supplier', 'C', 'days', 1);
SELECT rank, alternative, round(score::numeric, 10) AS score FROM mekatek.smarter_rank('supplier');
-- Rank sum weights instead: 3/6, 2/6, 1/6 -> A (1.5 + 1 + 2/3)/6 = 0.5278,
-- B 3/6 and C 3/6 tie at 0.5 (rank 2 twice).
SELECT rank, alternative, round(score::numeric, 10) AS score FROM mekatek.smarter_rank('supplier', 'rank_sum');

-- Bad input.
SELECT mekatek.roc_weights(0);
SELECT mekatek.rank_weights('{1,0}');
SELECT mekatek.rank_weights('{1,2}', 'entropy');
SELECT * FROM mekatek.smarter_rank('{"criteria": [{"name": "price", "rank": 1}], "alternatives": {"A": {}}}'::jsonb);
SELECT * FROM mekatek.smarter_rank('{"criteria": [{"name": "price", "rank": 1, "direction": "up"}], "alternatives": {"A": {"price": 1}}}'::jsonb);
SELECT * FROM mekatek.smarter_rank('nobody');
INSERT INTO mekatek.smarter_criterion VALUES ('supplier', 'taste', 0, 'benefit');
