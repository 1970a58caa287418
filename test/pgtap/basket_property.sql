-- basket property test: on 50 random sparse data sets, every itemset of up to three
-- items and every rule of mekatek.frequent_itemsets / mekatek.apriori agree
-- with a brute-force count in plain SQL (self-joins, as the coffee-shop
-- paper's PHP application counts).  Data sets alternate between the two
-- input forms and contain duplicate and NULL items.  Then 20 dense data sets
-- check every itemset length, closed and maximal sets, multi-item
-- consequents, chi-square and Fisher's p, and every filter and option, and
-- (sparse baskets three times) the reduction of identical baskets to weighted ones,
-- and (distinct sparse baskets) the occurrence delivery below pairs.
-- apriori called in a select list streams its rows (value per call): the
-- same rows in the same order as in FROM, for every ordering and option.
BEGIN;
SELECT plan(166);

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

-- Dense data and every option.  20 data sets of 12..40 transactions over a
-- pool of 5..8 items, each present with probability 0.45..0.8, so that most
-- subsets of the pool are frequent and rules have up to seven items.  The
-- brute force enumerates every subset of the pool by bitmask (all lengths)
-- and counts the baskets that contain it.  Empty baskets count in N (as
-- (tid, NULL) rows in the row form).
CREATE TEMP TABLE dparams (ds int PRIMARY KEY, pool int, p float8, min_support float8,
                           min_confidence float8, min_lift float8);
INSERT INTO dparams
SELECT ds, 5 + ds % 4, 0.45 + (ds % 5) * 0.0875,
       (ARRAY[0.1, 0.2, 0.3, 0.4])[1 + (ds / 4) % 4], (ARRAY[0, 0.5, 0.7, 0.9])[1 + (ds / 2) % 4],
       (ARRAY[0.9, 1, 1.05])[1 + ds % 3]
  FROM generate_series(1, 20) ds;
CREATE TEMP TABLE dbasket AS
SELECT ds, tid, ARRAY(SELECT chr(97 + i) FROM generate_series(0, d.pool - 1) i
                       WHERE random() < d.p ORDER BY 1) AS items
  FROM dparams d, generate_series(1, 12 + (d.ds * 5) % 29) tid;
CREATE TEMP TABLE dn AS SELECT ds, count(*) AS n FROM dbasket GROUP BY ds;

CREATE TEMP TABLE dset AS
SELECT d.ds, m.items, c.count, c.count::float8 / n.n AS support
  FROM dparams d JOIN dn n USING (ds),
       LATERAL (SELECT ARRAY(SELECT chr(97 + i) FROM generate_series(0, d.pool - 1) i
                              WHERE mask & (1 << i) <> 0 ORDER BY 1) AS items
                  FROM generate_series(1, (1 << d.pool) - 1) mask) m,
       LATERAL (SELECT count(*) AS count FROM dbasket b WHERE b.ds = d.ds AND b.items @> m.items) c
 WHERE c.count >= d.min_support::numeric * n.n;

-- every rule A => C with C a non-empty proper subset of a frequent X
CREATE TEMP TABLE drule AS
SELECT x.ds, a.items AS antecedent, c.items AS consequent, x.count, a.count AS ca, c.count AS cc,
       n.n, x.count::float8 / a.count AS confidence,
       x.count::float8 / a.count / (c.count::float8 / n.n) AS lift
  FROM dset x JOIN dn n USING (ds)
  JOIN dset c ON c.ds = x.ds AND x.items @> c.items AND c.items <> x.items
  JOIN dset a ON a.ds = x.ds AND a.items = ARRAY(SELECT unnest(x.items) EXCEPT SELECT unnest(c.items) ORDER BY 1)
  JOIN dparams p ON p.ds = x.ds
 WHERE x.count >= p.min_confidence::numeric * a.count;

CREATE FUNCTION pg_temp.dq(d int) RETURNS text LANGUAGE sql AS $$
    SELECT CASE WHEN d % 2 = 0
        THEN format('SELECT items FROM dbasket WHERE ds = %s', d)
        ELSE format('SELECT tid, i FROM dbasket LEFT JOIN LATERAL unnest(items) i ON true WHERE ds = %s', d) END $$;
-- rows of a query that the other lacks, both ways
CREATE FUNCTION pg_temp.differ(a text, b text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    EXECUTE format('SELECT count(*) FROM ((%s EXCEPT ALL %s) UNION ALL (%s EXCEPT ALL %s)) d', a, b, b, a) INTO n;
    RETURN n;
END $$;
-- exact Fisher p-value from factorials: P(K >= nxy), K hypergeometric
CREATE FUNCTION pg_temp.fisher(n bigint, nx bigint, ny bigint, nxy bigint) RETURNS float8 LANGUAGE sql AS $$
    SELECT (sum(factorial(ny) / (factorial(k) * factorial(ny - k))
              * factorial(n - ny) / (factorial(nx - k) * factorial(n - ny - nx + k)))
            / (factorial(n) / (factorial(nx) * factorial(n - nx))))::float8
      FROM generate_series(nxy, least(nx, ny)) k
     WHERE n - ny - nx + k >= 0 $$;

SELECT cmp_ok((SELECT max(cardinality(items)) FROM dset), '>=', 7, 'dense data sets have itemsets of seven items');

-- The documented order on dense data, where many rules share a count and a
-- confidence: one-item consequents (4-byte rule keys) and up to three items
-- (8-byte keys), in the order the function returns them (ordinality).
SELECT is((SELECT sum(bad) FROM dparams d, LATERAL (
              SELECT count(*) AS bad FROM (
                  SELECT r.ordinality AS got,
                         row_number() OVER (ORDER BY support DESC, confidence DESC,
                                            antecedent COLLATE "C", consequent COLLATE "C") AS want
                    FROM mekatek.apriori(pg_temp.dq(d.ds), d.min_support, d.min_confidence,
                                         max_consequent => m) WITH ORDINALITY r) o
               WHERE got <> want) x),
          0::numeric, format('dense data: apriori rows come in the documented order (max_consequent %s)', m))
  FROM unnest(ARRAY[1, 3]) m;

-- The rules of one-item consequents themselves, in the documented order (where
-- those of confidence 1 are kept as bits of their antecedent, not as keys):
-- the same as the brute force's on every dense data set, and the data has
-- counts shared by rules of confidence 1 and below.
SELECT is((SELECT sum(pg_temp.differ(
              format('SELECT antecedent, consequent, count, confidence = 1 FROM mekatek.apriori(%L, %s, %s)',
                     pg_temp.dq(d.ds), d.min_support, d.min_confidence),
              format('SELECT antecedent, consequent, count, confidence = 1 FROM drule WHERE ds = %s AND cardinality(consequent) = 1', d.ds)))
             FROM dparams d),
          0::numeric, 'dense data: one-item consequent rules (of confidence 1 or below) agree on every dense data set');
SELECT cmp_ok((SELECT count(*) FROM (SELECT ds, count FROM drule WHERE cardinality(consequent) = 1
                                      GROUP BY ds, count HAVING bool_or(confidence = 1) AND bool_or(confidence < 1)) g),
              '>=', 5::bigint, 'dense data: counts shared by rules of confidence 1 and below');

SELECT is(pg_temp.differ(format('SELECT items, count, support FROM mekatek.frequent_itemsets(%L, %s)', pg_temp.dq(d.ds), d.min_support),
                         format('SELECT items, count, support FROM dset WHERE ds = %s', d.ds)),
          0::bigint, format('dense data set %s: all itemsets agree', d.ds))
  FROM dparams d WHERE d.ds <= 10 ORDER BY d.ds;

-- closed: no superset of one more item has the same count; maximal: none is frequent
SELECT is((SELECT sum(pg_temp.differ(
              format('SELECT items, count FROM mekatek.frequent_itemsets(%L, %s, target => %L)', pg_temp.dq(d.ds), d.min_support, t),
              format($q$SELECT items, count FROM dset x WHERE ds = %s AND NOT EXISTS (
                           SELECT FROM dset y WHERE y.ds = x.ds AND cardinality(y.items) = cardinality(x.items) + 1
                              AND y.items @> x.items AND (%L = 'maximal' OR y.count = x.count))$q$, d.ds, t)))
             FROM dparams d),
          0::numeric, format('%s itemsets agree with their definition on every dense data set', t))
  FROM unnest(ARRAY['closed', 'maximal']) t;

-- rules with up to three consequent items, every measure (to 1e-9; chi-square
-- is NaN, as in arules, when an item is in every basket; Fisher's p from
-- lgamma is within 1e-9 of the exact sum of factorials)
SELECT is((SELECT count(*) FROM mekatek.apriori(pg_temp.dq(d.ds), d.min_support, d.min_confidence, max_consequent => 3) m
             FULL JOIN (SELECT *, coalesce((n * (count * (n - ca - cc + count) - (ca - count) * (cc - count))::numeric ^ 2
                                            / nullif(ca * (n - ca) * cc * (n - cc), 0))::float8, 'NaN') AS chi,
                               pg_temp.fisher(n, ca, cc, count) AS fisher
                          FROM drule WHERE ds = d.ds AND cardinality(consequent) <= 3) b USING (antecedent, consequent)
            WHERE b.ds IS NULL OR m.count IS NULL OR m.count <> b.count
               OR abs(m.confidence - b.confidence) > 1e-12 OR abs(m.lift - b.lift) > 1e-9
               OR NOT (m.chi_square = b.chi OR abs(m.chi_square - b.chi) <= 1e-9 * greatest(1, b.chi))
               OR abs(m.fisher_p - b.fisher) > 1e-9),
          0::bigint, format('dense data set %s: rules with 1..3 consequent items and their measures agree', d.ds))
  FROM dparams d ORDER BY d.ds;

-- filters: min_lift, min_len, max_antecedent, appearance constraints
SELECT is((SELECT sum(pg_temp.differ(
              format($q$SELECT antecedent, consequent, count FROM mekatek.apriori(%L, %s, %s,
                            min_lift => %s, min_len => 3, max_antecedent => 2, max_consequent => 2,
                            lhs => '{a,b,c,d}', rhs => '{c,d,e,f,g}', exclude => '{b}')$q$,
                     pg_temp.dq(d.ds), d.min_support, d.min_confidence, d.min_lift),
              format($q$SELECT antecedent, consequent, count FROM drule
                         WHERE ds = %s AND lift >= %s * (1 - 1e-12)
                           AND cardinality(antecedent) + cardinality(consequent) >= 3
                           AND cardinality(antecedent) <= 2 AND cardinality(consequent) <= 2
                           AND antecedent <@ '{a,b,c,d}' AND consequent <@ '{c,d,e,f,g}'
                           AND NOT (antecedent || consequent) @> '{b}'$q$, d.ds, d.min_lift)))
             FROM dparams d),
          0::numeric, 'min_lift, min_len, max_antecedent, lhs, rhs and exclude filter as their definitions say');

-- remove_redundant: no rule A' => C, A' a proper subset of A, has at least the confidence
SELECT is((SELECT sum(pg_temp.differ(
              format($q$SELECT antecedent, consequent FROM mekatek.apriori(%L, %s, %s, max_consequent => 2,
                            remove_redundant => true)$q$, pg_temp.dq(d.ds), d.min_support, d.min_confidence),
              format($q$SELECT antecedent, consequent FROM drule r WHERE ds = %s AND cardinality(consequent) <= 2
                           AND NOT EXISTS (SELECT FROM drule g WHERE g.ds = r.ds AND g.consequent = r.consequent
                                              AND r.antecedent @> g.antecedent AND g.antecedent <> r.antecedent
                                              AND g.count * r.ca >= r.count * g.ca)$q$, d.ds)))
             FROM dparams d),
          0::numeric, 'remove_redundant drops exactly the rules arules'' is.redundant names');

-- ordered => false: the same rows; top => n: the first n of the order asked
SELECT is(pg_temp.differ('SELECT * FROM mekatek.apriori(''SELECT items FROM dbasket WHERE ds = 7'', 0.1, 0.5, max_consequent => 2)',
                         'SELECT * FROM mekatek.apriori(''SELECT items FROM dbasket WHERE ds = 7'', 0.1, 0.5, max_consequent => 2, ordered => false)'),
          0::bigint, 'ordered => false returns the same rules');
SELECT is(pg_temp.differ('SELECT items, count FROM mekatek.frequent_itemsets(''SELECT items FROM dbasket WHERE ds = 7'', 0.1, ordered => false)',
                         'SELECT items, count FROM mekatek.frequent_itemsets(''SELECT items FROM dbasket WHERE ds = 7'', 0.1)'),
          0::bigint, 'ordered => false returns the same itemsets');
SELECT is((SELECT array_agg(a::text) FROM mekatek.apriori('SELECT items FROM dbasket WHERE ds = 7', 0.1, 0.5, top => 9) a),
          (SELECT array_agg(a::text) FROM (SELECT * FROM mekatek.apriori('SELECT items FROM dbasket WHERE ds = 7', 0.1, 0.5) LIMIT 9) a),
          'top => 9 is the first nine rules of the documented order');
SELECT is((SELECT array_agg((antecedent, consequent)::text) FROM mekatek.apriori('SELECT items FROM dbasket WHERE ds = 7', 0.1, 0.5, top => 9, top_by => b)),
          (SELECT array_agg((antecedent, consequent)::text) FROM (
               SELECT * FROM mekatek.apriori('SELECT items FROM dbasket WHERE ds = 7', 0.1, 0.5)
                ORDER BY CASE b WHEN 'lift' THEN lift ELSE confidence END DESC, support DESC,
                         antecedent COLLATE "C", consequent COLLATE "C" LIMIT 9) a),
          format('top => 9, top_by => %s is the nine best by %s, then support, then the arrays', b, b))
  FROM unnest(ARRAY['confidence', 'lift']) b;
SELECT is((SELECT array_agg(f::text) FROM mekatek.frequent_itemsets('SELECT items FROM dbasket WHERE ds = 7', 0.1, top => 5) f),
          (SELECT array_agg(f::text) FROM (SELECT * FROM mekatek.frequent_itemsets('SELECT items FROM dbasket WHERE ds = 7', 0.1) LIMIT 5) f),
          'frequent_itemsets top => 5 is the first five itemsets of the documented order');

-- in a select list apriori streams (one rule per call, nothing
-- materialised): exactly the rows of the FROM form, in the same order
CREATE FUNCTION pg_temp.streamed_differs(args text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    EXECUTE format('SELECT count(*) FROM dparams d
                     WHERE (SELECT array_agg(r::text) FROM mekatek.apriori(pg_temp.dq(d.ds), d.min_support, d.min_confidence%1$s) r)
                           IS DISTINCT FROM
                           (SELECT array_agg(s.r::text) FROM (SELECT mekatek.apriori(pg_temp.dq(d.ds), d.min_support, d.min_confidence%1$s) r) s)',
                   args) INTO n;
    RETURN n;
END $$;
SELECT is(pg_temp.streamed_differs(a), 0::bigint, format('streamed rows equal the FROM form''s, in order (%s)', a))
  FROM unnest(ARRAY['', ', max_consequent => 3', ', top => 7', ', top_by => ''lift''', ', max_consequent => 2, remove_redundant => true']) a;
SELECT is((SELECT count(*) FROM dparams d
            WHERE (SELECT array_agg(r::text ORDER BY r::text) FROM mekatek.apriori(pg_temp.dq(d.ds), d.min_support, d.min_confidence, max_consequent => 2, ordered => false) r)
                  IS DISTINCT FROM
                  (SELECT array_agg(s.r::text ORDER BY s.r::text) FROM (SELECT mekatek.apriori(pg_temp.dq(d.ds), d.min_support, d.min_confidence, max_consequent => 2, ordered => false) r) s)),
          0::bigint, 'streamed rows equal the FROM form''s with ordered => false');
SELECT is((SELECT count(*) FROM dparams d
            WHERE (SELECT array_agg(f::text) FROM mekatek.frequent_itemsets(pg_temp.dq(d.ds), d.min_support, min_len => 2, target => t) f)
                  IS DISTINCT FROM
                  (SELECT array_agg(s.f::text) FROM (SELECT mekatek.frequent_itemsets(pg_temp.dq(d.ds), d.min_support, min_len => 2, target => t) f) s)),
          0::bigint, format('streamed itemsets equal the FROM form''s, in order (target %s)', t))
  FROM unnest(ARRAY['frequent', 'closed', 'maximal']) t;
-- a PL/pgSQL loop runs queries between the streamed rows (the first call
-- holds no SPI connection past itself), and a LIMIT stops the stream early
CREATE FUNCTION pg_temp.stream_loop() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE r record; n bigint := 0;
BEGIN
    FOR r IN SELECT (x).* FROM (SELECT mekatek.apriori('SELECT items FROM dbasket WHERE ds = 7', 0.1, 0.5) AS x OFFSET 0) s LOOP
        n := n + (SELECT count(*) FROM dbasket WHERE ds = 7 AND r.support > 0);
    END LOOP;
    RETURN n;
END $$;
SELECT is(pg_temp.stream_loop(),
          (SELECT count(*) FROM mekatek.apriori('SELECT items FROM dbasket WHERE ds = 7', 0.1, 0.5))
          * (SELECT count(*) FROM dbasket WHERE ds = 7),
          'a PL/pgSQL FOR loop over streamed rules runs queries between them');
SELECT is((SELECT array_agg(s.r::text) FROM (SELECT mekatek.apriori('SELECT items FROM dbasket WHERE ds = 7', 0.1, 0.5) r LIMIT 4) s),
          (SELECT array_agg(r::text) FROM (SELECT * FROM mekatek.apriori('SELECT items FROM dbasket WHERE ds = 7', 0.1, 0.5) LIMIT 4) r),
          'LIMIT stops the stream after the first rows of the documented order');

-- sparse baskets, each three times: the engine merges identical baskets
-- into one of weight 3 (on sparse data, when that at least halves them) and
-- mines the weights on tid lists; counts are three times the brute force's
-- (itemsets of up to three items, as above), confidences the same
CREATE TEMP TABLE sline AS
SELECT DISTINCT tid, 'x' || lpad(floor(120 * random() ^ 4)::int::text, 3, '0') AS item
  FROM generate_series(1, 300) tid, generate_series(1, 2 + (tid * 7) % 5) k;
CREATE TEMP TABLE sset AS
WITH c AS (
    SELECT ARRAY[item] AS items, count(*) AS count FROM sline GROUP BY item
    UNION ALL
    SELECT ARRAY[a.item, b.item], count(*) FROM sline a JOIN sline b ON b.tid = a.tid AND b.item > a.item
     GROUP BY a.item, b.item
    UNION ALL
    SELECT ARRAY[a.item, b.item, c.item], count(*)
      FROM sline a JOIN sline b ON b.tid = a.tid AND b.item > a.item
                   JOIN sline c ON c.tid = a.tid AND c.item > b.item
     GROUP BY a.item, b.item, c.item)
SELECT items, count * 3 AS count FROM c WHERE count * 3 >= 0.005 * 900;
CREATE TEMP TABLE srule AS
SELECT a.items AS antecedent, ARRAY[c] AS consequent, x.count, x.count::float8 / a.count AS confidence
  FROM sset x CROSS JOIN LATERAL unnest(x.items) c
  JOIN sset a ON a.items = (SELECT array_agg(i ORDER BY i) FROM unnest(x.items) i WHERE i <> c)
 WHERE cardinality(x.items) >= 2 AND x.count >= 0.3 * a.count;
SELECT cmp_ok((SELECT count(*) FROM sset WHERE cardinality(items) = 3), '>', 0::bigint,
              'the repeated sparse baskets have itemsets of three items');
SELECT is(pg_temp.differ(
              'SELECT items, count FROM mekatek.frequent_itemsets(''SELECT array_agg(item) FROM sline, generate_series(1, 3) k GROUP BY tid, k'', 0.005, 3)',
              'SELECT items, count FROM sset'),
          0::bigint, 'sparse baskets repeated three times (reduced to weighted ones): every itemset, three times the count');
SELECT is(pg_temp.differ(
              'SELECT antecedent, consequent, count, confidence FROM mekatek.apriori(''SELECT tid * 3 + k, item FROM sline, generate_series(0, 2) k'', 0.005, 0.3, 3)',
              'SELECT antecedent, consequent, count, confidence FROM srule'),
          0::bigint, 'sparse baskets repeated three times: every rule, three times the count, the same confidence');

-- distinct sparse baskets (T10I4D100K's kind: many items, few in each, no
-- duplicates to merge): below most items the engine mines by occurrence
-- delivery (walking the baskets after each set's last item) rather than by
-- merging tid lists; every itemset of up to four items against the brute force
CREATE TEMP TABLE oline AS
SELECT DISTINCT tid, 'y' || lpad(floor(300 * random() ^ 1.5)::int::text, 3, '0') AS item
  FROM generate_series(1, 4000) tid, generate_series(1, 7 + tid % 7) k;
CREATE TEMP TABLE oset AS
WITH RECURSIVE c(tid, items, last) AS (
    SELECT tid, ARRAY[item], item FROM oline
    UNION ALL
    SELECT c.tid, c.items || o.item, o.item
      FROM c JOIN oline o ON o.tid = c.tid AND o.item > c.last
     WHERE cardinality(c.items) < 4)
SELECT items, count(*) AS count FROM c GROUP BY items HAVING count(*) >= 0.001 * 4000;
-- (over 500 of them of three items, so the walk below a pair is exercised)
SELECT ok((SELECT count(*) FROM oset WHERE cardinality(items) = 3) > 500
          AND pg_temp.differ('SELECT items, count FROM mekatek.frequent_itemsets(''SELECT array_agg(item) FROM oline GROUP BY tid'', 0.001, 4)',
                             'SELECT items, count FROM oset') = 0,
          'distinct sparse baskets (occurrence delivery): every itemset of up to four items');
SELECT is(pg_temp.differ(
              'SELECT antecedent, consequent, count FROM mekatek.apriori(''SELECT tid, item FROM oline'', 0.001, 0.2, 4)',
              $$SELECT a.items, ARRAY[c], x.count FROM oset x CROSS JOIN LATERAL unnest(x.items) c
                  JOIN oset a ON a.items = (SELECT array_agg(i ORDER BY i) FROM unnest(x.items) i WHERE i <> c)
                 WHERE cardinality(x.items) >= 2 AND x.count >= 0.2 * a.count$$),
          0::bigint, 'distinct sparse baskets (occurrence delivery): every rule of up to four items');

SELECT * FROM finish();
ROLLBACK;
