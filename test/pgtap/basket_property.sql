-- basket property test: on 50 random data sets, every itemset of up to three
-- items and every rule of mekatek.frequent_itemsets / mekatek.apriori agree
-- with a brute-force count in plain SQL (self-joins, as the coffee-shop
-- paper's PHP application counts).  Data sets alternate between the two
-- input forms and contain duplicate and NULL items.
BEGIN;
SELECT plan(105);

CREATE TEMP TABLE line (ds int, tid int, item text);
CREATE TEMP TABLE params (ds int PRIMARY KEY, min_support float8, min_confidence float8);

SELECT setseed(0.42);
INSERT INTO params
SELECT ds, (ARRAY[0.02, 0.05, 0.1, 0.15, 0.2, 0.3])[1 + floor(random() * 6)::int],
           (ARRAY[0, 0.1, 0.3, 0.5, 0.8, 1])[1 + floor(random() * 6)::int]
  FROM generate_series(1, 50) ds;
-- ds transactions of 1..6 draws from a skewed pool of 4..12 items
INSERT INTO line
SELECT ds, tid,
       CASE WHEN random() < 0.03 THEN NULL
            ELSE 'i' || floor(pool * random() ^ 2)::int END
  FROM (SELECT ds, 4 + ds % 9 AS pool, 10 + (ds * 7) % 50 AS ntrans FROM params) p,
       generate_series(1, p.ntrans) tid,
       generate_series(1, 1 + floor(random() * 6)::int) draw;

-- Brute force: distinct items per transaction, then 1-, 2- and 3-item
-- combinations by self-join, kept when count >= min_support * N (numeric,
-- so exact).
CREATE TEMP TABLE bf_itemset AS
WITH d AS (SELECT DISTINCT ds, tid, item FROM line WHERE item IS NOT NULL),
     n AS (SELECT ds, count(DISTINCT tid) AS n FROM line GROUP BY ds),
     c AS (
        SELECT ds, ARRAY[item] AS items, count(*) AS count FROM d GROUP BY ds, item
        UNION ALL
        SELECT a.ds, ARRAY[a.item, b.item], count(*)
          FROM d a JOIN d b ON b.ds = a.ds AND b.tid = a.tid AND b.item COLLATE "C" > a.item
         GROUP BY a.ds, a.item, b.item
        UNION ALL
        SELECT a.ds, ARRAY[a.item, b.item, c.item], count(*)
          FROM d a JOIN d b ON b.ds = a.ds AND b.tid = a.tid AND b.item COLLATE "C" > a.item
                   JOIN d c ON c.ds = a.ds AND c.tid = a.tid AND c.item COLLATE "C" > b.item
         GROUP BY a.ds, a.item, b.item, c.item)
SELECT c.ds, c.items, c.count, c.count::float8 / n.n AS support, n.n
  FROM c JOIN n USING (ds) JOIN params p USING (ds)
 WHERE c.count >= p.min_support::numeric * n.n;

CREATE TEMP TABLE bf_rule AS
SELECT x.ds, a.items AS antecedent, ARRAY[c] AS consequent, x.support,
       x.count::float8 / a.count AS confidence, x.count, a.count AS antecedent_count,
       s.count AS consequent_count, x.n
  FROM bf_itemset x
  CROSS JOIN LATERAL unnest(x.items) c
  JOIN bf_itemset a ON a.ds = x.ds
                   AND a.items = (SELECT array_agg(i ORDER BY i COLLATE "C") FROM unnest(x.items) i WHERE i <> c)
  JOIN bf_itemset s ON s.ds = x.ds AND s.items = ARRAY[c]
  JOIN params p ON p.ds = x.ds
 WHERE cardinality(x.items) >= 2
   AND x.count >= p.min_confidence::numeric * a.count;

CREATE FUNCTION pg_temp.query(d int) RETURNS text LANGUAGE sql AS $$
    SELECT CASE WHEN d % 2 = 0
        THEN format('SELECT tid, item FROM line WHERE ds = %s', d)
        ELSE format('SELECT array_agg(item) FROM line WHERE ds = %s GROUP BY tid', d) END $$;

SELECT cmp_ok((SELECT count(*) FROM bf_rule), '>', 100::bigint, 'the data sets have rules to compare');

-- one test per data set: itemsets up to three items
SELECT is((SELECT count(*) FROM (
              (SELECT items, count, support FROM mekatek.frequent_itemsets(pg_temp.query(p.ds), p.min_support, 3)
               EXCEPT ALL
               SELECT items, count, support FROM bf_itemset WHERE ds = p.ds)
              UNION ALL
              (SELECT items, count, support FROM bf_itemset WHERE ds = p.ds
               EXCEPT ALL
               SELECT items, count, support FROM mekatek.frequent_itemsets(pg_temp.query(p.ds), p.min_support, 3))) diff),
          0::bigint,
          format('data set %s (%s transactions, min_support %s): itemsets agree',
                 p.ds, (SELECT count(DISTINCT tid) FROM line WHERE ds = p.ds), p.min_support))
  FROM params p ORDER BY p.ds;

-- ... and one for the rules, measures included (to 1e-12)
SELECT is((SELECT count(*) FROM mekatek.apriori(pg_temp.query(p.ds), p.min_support, p.min_confidence, 3) m
             FULL JOIN (SELECT * FROM bf_rule WHERE ds = p.ds) b USING (antecedent, consequent)
            WHERE b.ds IS NULL OR m.count IS NULL OR m.count <> b.count
               OR abs(m.support - b.support) > 1e-12
               OR abs(m.confidence - b.confidence) > 1e-12
               OR abs(m.lift - b.confidence * b.n / b.consequent_count) > 1e-9
               OR abs(m.leverage - (b.support - b.antecedent_count::float8 / b.n * b.consequent_count / b.n)) > 1e-12
               OR NOT (m.conviction = (CASE WHEN b.count = b.antecedent_count THEN 'Infinity'::float8 END)
                       OR abs(m.conviction - (1 - b.consequent_count::float8 / b.n) / (1 - b.confidence)) < 1e-9)),
          0::bigint,
          format('data set %s (min_support %s, min_confidence %s): rules agree',
                 p.ds, p.min_support, p.min_confidence))
  FROM params p ORDER BY p.ds;

-- The documented order: support descending, then confidence descending,
-- then the arrays (byte order).
SELECT is((SELECT count(*) FROM (
              SELECT row_number() OVER () AS got,
                     row_number() OVER (ORDER BY support DESC, confidence DESC,
                                        antecedent COLLATE "C", consequent COLLATE "C") AS want
                FROM mekatek.apriori('SELECT tid, item FROM line WHERE ds <= 20', 0.01, 0) r) o
            WHERE got <> want),
          0::bigint, 'apriori rows come in the documented order');
SELECT is((SELECT count(*) FROM (
              SELECT row_number() OVER () AS got,
                     row_number() OVER (ORDER BY support DESC, items COLLATE "C") AS want
                FROM mekatek.frequent_itemsets('SELECT tid, item FROM line WHERE ds <= 20', 0.01) r) o
            WHERE got <> want),
          0::bigint, 'frequent_itemsets rows come in the documented order');

-- The counting aggregates against plain counts, with parallel workers.
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
CREATE TEMP TABLE basket AS SELECT ds, tid, array_agg(item) AS items FROM line GROUP BY ds, tid;
ANALYZE basket;
SELECT is((SELECT count(*) FROM (
              (SELECT p.ds, e->'items'->>0 AS item, (e->>'count')::bigint AS count
                 FROM params p,
                      LATERAL (SELECT mekatek.basket_counts(items, NULL) AS x FROM basket b WHERE b.ds = p.ds) s,
                      jsonb_array_elements(x->'itemsets') e
               EXCEPT ALL
               SELECT ds, item, count(DISTINCT tid) FROM line WHERE item IS NOT NULL GROUP BY ds, item)
              UNION ALL
              (SELECT ds, item, count(DISTINCT tid) FROM line WHERE item IS NOT NULL GROUP BY ds, item
               EXCEPT ALL
               SELECT p.ds, e->'items'->>0, (e->>'count')::bigint
                 FROM params p,
                      LATERAL (SELECT mekatek.basket_counts(items, NULL) AS x FROM basket b WHERE b.ds = p.ds) s,
                      jsonb_array_elements(x->'itemsets') e)) d),
          0::bigint, 'basket_counts of every item agrees with count(DISTINCT) on every data set');
SELECT is((SELECT count(*) FROM params p
            CROSS JOIN LATERAL (SELECT mekatek.basket_counts(items,
                              (SELECT jsonb_agg(to_jsonb(items)) FROM bf_itemset WHERE ds = p.ds)) AS x
                             FROM basket b WHERE b.ds = p.ds) s
            CROSS JOIN LATERAL jsonb_array_elements(x->'itemsets') e
             LEFT JOIN bf_itemset f ON f.ds = p.ds
                                    AND f.items = ARRAY(SELECT jsonb_array_elements_text(e->'items'))
            WHERE f.count IS DISTINCT FROM (e->>'count')::bigint
               OR (x->>'transactions')::bigint <> f.n),
          0::bigint, 'basket_counts of candidates counts every frequent itemset as the brute force does');

SELECT * FROM finish();
ROLLBACK;
