-- basket: frequent itemsets and association rules.
--
-- The worked example of the coffee-shop paper (Warkoppitulukur, fourth paper
-- of ../shared/seeds/004_24a22ae15ff42aec.txt): its 25 transactions
-- ("Gambar 3 Data Uji"), one sale per row, as the shop keeps them.
CREATE TABLE coffee_sale (sale_no int PRIMARY KEY, menu text NOT NULL);
INSERT INTO coffee_sale VALUES
    (1, 'Kentang Goreng, Sosis Jumbo, Rujak Cireng, Pentol Bakar, Kopi Tubruk'),
    (2, 'Arabica Lintang Premium, Robusta Vietnam Drip'),
    (3, 'Kopi Tubruk, Kentang Goreng, Ice Tea'),
    (4, 'Robusta Vietnam Drip, Sosis Jumbo, Pentol Bakar'),
    (5, 'Robusta Lampung, Arabica Aceh Gayo, Kopi Tubruk, Ice Tea'),
    (6, 'Kopi Tubruk, Kentang Goreng'),
    (7, 'Ice Tea, Pentol Bakar, Mie Goreng'),
    (8, 'Arabica Jawa Ijen, Arabica Flores, Arabica Bali, Arabica Papua, Arabica Mandeling, Ice Susu Coklat, Ice Kopi Tiam, Kentang Goreng'),
    (9, 'Ice Kopi Tiam, Rujak Cireng'),
    (10, 'Kopi Susu, Pentol Bakar, Sosis Jumbo'),
    (11, 'Robusta Unggaran, Robusta Vietnam Drip, Kentang Goreng'),
    (12, 'Ice Susu Coklat, Mie Goreng, Robusta Lampung'),
    (13, 'Kopi Tubruk, Kopi Susu, Ice Tea'),
    (14, 'Arabica Lintang Premium, Robusta Vietnam Drip, Ice Kopi Tiam, Rujak Cireng, Kentang Goreng'),
    (15, 'Kopi Susu, Kentang Goreng, Rujak Cireng, Arabica Toraja'),
    (16, 'Ice Tea, Kopi Tubruk'),
    (17, 'Kopi Tubruk, Kopi Susu, Ice Tea, Robusta Lampung, Kentang Goreng'),
    (18, 'Arabica Aceh Gayo, Robusta Unggaran, Mie Goreng, Sosis Jumbo, Air Mineral'),
    (19, 'Ice Susu Coklat, Rujak Cireng, Air Mineral'),
    (20, 'Ice Tea, Kentang Goreng, Sosis Jumbo, Pentol Bakar'),
    (21, 'Ice Kopi Tiam, Kentang Goreng'),
    (22, 'Kopi Tubruk, Arabica Papua, Kopi Susu, Pentol Bakar, Sosis Jumbo'),
    (23, 'Ice Tea, Ice Susu Coklat, Ice Kopi Tiam'),
    (24, 'Arabica Lintang Premium, Arabica Toraja, Arabica Jawa Ijen, Rujak Cireng'),
    (25, 'Robusta Vietnam Drip, Sosis Jumbo, Pentol Bakar, Rujak Cireng, Kentang Goreng, Air Mineral');
-- One (transaction, item) row per menu item: the two-column form.
CREATE VIEW coffee_line AS
SELECT sale_no, trim(item) AS item
  FROM coffee_sale, unnest(string_to_array(menu, ',')) AS item;
SELECT count(*) AS lines, count(DISTINCT sale_no) AS sales, count(DISTINCT item) AS menu_items
  FROM coffee_line;

-- The paper's candidate tables, with its counts ("Jumlah") and supports:
-- Gambar 4 (2-itemsets) and Gambar 5 (3-itemsets).  paper_support is the
-- percentage printed in the paper.
CREATE TABLE coffee_paper (combination text, paper_count int, paper_support text);
INSERT INTO coffee_paper VALUES
    ('Kopi Tubruk, Ice Tea', 5, '20%'),
    ('Kopi Tubruk, Kopi Susu', 3, '12%'),
    ('Kopi Tubruk, Robusta Vietnam Drip', 0, '0%'),
    ('Kopi Tubruk, Robusta Lampung', 2, '8%'),
    ('Kopi Tubruk, Ice Susu Coklat', 0, '0%'),
    ('Kopi Tubruk, Ice Kopi Tiam', 0, '0%'),
    ('Kopi Tubruk, Kentang Goreng', 4, '16%'),
    ('Kopi Tubruk, Sosis Jumbo', 2, '8%'),
    ('Kopi Tubruk, Pentol Bakar', 2, '8%'),
    ('Kopi Tubruk, Rujak Cireng', 1, '4%'),
    ('Ice Tea, Kopi Susu', 2, '8%'),
    ('Ice Tea, Robusta Vietnam Drip', 0, '0%'),
    ('Ice Tea, Robusta Lampung', 1, '4%'),
    ('Ice Tea, Ice Susu Coklat', 1, '4%'),
    ('Ice Tea, Ice Kopi Tiam', 1, '4%'),
    ('Ice Tea, Kentang Goreng', 3, '12%'),
    ('Ice Tea, Sosis Jumbo', 1, '4%'),
    ('Ice Tea, Pentol Bakar', 2, '8%'),
    ('Ice Tea, Rujak Cireng', 0, '0%'),
    ('Ice Tea, Mie Goreng', 1, '4%'),
    ('Kopi Tubruk, Ice Tea, Kentang Goreng', 2, '10%'),
    ('Kopi Tubruk, Ice Tea, Pentol Bakar', 0, ''),
    ('Kopi Tubruk, Ice Tea, Robusta Lampung', 1, '5%'),
    ('Kopi Tubruk, Ice Tea, Kopi Susu', 1, '5%'),
    ('Kopi Tubruk, Ice Tea, Rujak Cireng', 0, ''),
    ('Kopi Tubruk, Ice Tea, Mie Goreng', 0, ''),
    ('Kopi Tubruk, Ice Tea, Sosis Jumbo', 0, ''),
    ('Kopi Tubruk, Kentang Goreng, Pentol Bakar', 0, ''),
    ('Kopi Tubruk, Kentang Goreng, Sosis Jumbo', 0, ''),
    ('Kopi Tubruk, Kentang Goreng, Mie Goreng', 0, ''),
    ('Kopi Tubruk, Kentang Goreng, Rujak Cireng', 0, ''),
    ('Kopi Tubruk, Kentang Goreng, Kopi Susu', 0, ''),
    ('Ice Tea, Kentang Goreng, Sosis Jumbo', 1, '5%'),
    ('Ice Tea, Kentang Goreng, Mie Goreng', 0, ''),
    ('Ice Tea, Kentang Goreng, Rujak Cireng', 0, ''),
    ('Ice Tea, Kentang Goreng, Pentol Bakar', 1, '5%');

-- Every itemset of the data (min_support 1/25, so every combination that
-- occurs at least once) against the paper.  Where the paper is wrong:
--   * {Ice Tea, Robusta Lampung} occurs in sales 5 and 17, not once;
--   * {Kopi Tubruk, Ice Tea, Kopi Susu} occurs in sales 13 and 17, and
--     {Kopi Tubruk, Ice Tea, Robusta Lampung} in sales 5 and 17, not once;
--   * {Kopi Tubruk, Kentang Goreng} + Pentol Bakar, Sosis Jumbo or Rujak
--     Cireng all occur in sale 1, and + Kopi Susu in sale 17, not never;
--   * every 3-itemset percentage divides by 20, not by the 25 transactions
--     (2 is 8%, not 10%; 1 is 4%, not 5%).
SELECT p.combination, p.paper_count, coalesce(f.count, 0) AS count,
       p.paper_support, round(100 * coalesce(f.support, 0)) || '%' AS support,
       CASE WHEN p.paper_count <> coalesce(f.count, 0)
                 OR p.paper_support NOT IN ('', round(100 * coalesce(f.support, 0)) || '%')
            THEN 'paper is wrong' ELSE '' END AS check
  FROM coffee_paper p
  LEFT JOIN mekatek.frequent_itemsets('SELECT sale_no, item FROM coffee_line', 0.04, 3) f
         ON f.items = (SELECT array_agg(trim(i) ORDER BY trim(i) COLLATE "C")
                         FROM unnest(string_to_array(p.combination, ',')) i)
 ORDER BY cardinality(string_to_array(p.combination, ',')), p.combination COLLATE "C";

-- Gambar 6: confidence of {Kopi Tubruk, Ice Tea} => {Kentang Goreng}.  The
-- paper prints 1/2 = 50%; the sales containing Kopi Tubruk and Ice Tea are 3,
-- 5, 13, 16 and 17, of which 3 and 17 contain Kentang Goreng: 2/5 = 40%.
SELECT antecedent, consequent, count, round(confidence::numeric, 4) AS confidence,
       round(lift::numeric, 4) AS lift
  FROM mekatek.apriori('SELECT sale_no, item FROM coffee_line', 0.04, 0)
 WHERE antecedent = '{"Ice Tea","Kopi Tubruk"}' AND consequent = '{"Kentang Goreng"}';

-- The paper's thresholds for its rules: support 8% (2 sales), confidence
-- 10%; the strongest rules, in mekatek.apriori's order (support, then
-- confidence, descending).  The same data as arrays, one row per sale.
SELECT antecedent, consequent, count, round(support::numeric, 2) AS support,
       round(confidence::numeric, 3) AS confidence, round(lift::numeric, 3) AS lift,
       round(leverage::numeric, 4) AS leverage, round(conviction::numeric, 3) AS conviction
  FROM mekatek.apriori($$SELECT string_to_array(menu, ', ') FROM coffee_sale$$, 0.08, 0.1)
 LIMIT 12;
SELECT count(*) AS rules,
       count(*) FILTER (WHERE conviction = 'Infinity') AS always_hold
  FROM mekatek.apriori($$SELECT string_to_array(menu, ', ') FROM coffee_sale$$, 0.08, 0.1);

-- Both input forms give the same itemsets.
SELECT (SELECT array_agg(f ORDER BY f::text) FROM mekatek.frequent_itemsets(
            'SELECT sale_no, item FROM coffee_line', 0.08) f)
     = (SELECT array_agg(f ORDER BY f::text) FROM mekatek.frequent_itemsets(
            $$SELECT string_to_array(menu, ', ') FROM coffee_sale$$, 0.08) f) AS same;

-- max_len bounds the itemsets (and, for rules, antecedent + consequent).
SELECT max(cardinality(items)) AS longest,
       (SELECT max(cardinality(antecedent)) + 1 FROM mekatek.apriori(
            'SELECT sale_no, item FROM coffee_line', 0.08, 0, 2)) AS longest_rule
  FROM mekatek.frequent_itemsets('SELECT sale_no, item FROM coffee_line', 0.08, 2);
SELECT count(*) AS rules_without_antecedent
  FROM mekatek.apriori('SELECT sale_no, item FROM coffee_line', 0.04, 0, 1);

-- NULL handling: NULL items are ignored; a transaction whose items are all
-- NULL still counts in N; a row with a NULL transaction id, or a NULL array,
-- is no transaction.  Duplicate items in a basket count once.
SELECT items, count, support FROM mekatek.frequent_itemsets($$
    VALUES (1, 'a'), (1, 'a'), (1, NULL), (2, 'a'), (2, 'b'), (3, NULL), (NULL, 'b')
$$, 0.5);
SELECT items, count, support FROM mekatek.frequent_itemsets($$
    VALUES (ARRAY['a', 'a', NULL]), (ARRAY['a', 'b']), (ARRAY[NULL]::text[]), (NULL), ('{}')
$$, 0.5);

-- Items and transaction ids of any type with a text output; items are sorted
-- in byte order (COLLATE "C"), so 10 sorts before 9.
SELECT items, count FROM mekatek.frequent_itemsets($$
    VALUES ('2024-01-01'::date, 9), ('2024-01-01', 10), ('2024-01-02', 9), ('2024-01-02', 10)
$$, 1);
SELECT items, count FROM mekatek.frequent_itemsets($$
    VALUES (1.50, '(1,2)'::point), (1.5, '(1,2)'), (2.0, '(1,2)'), (2.0, '(3,4)')
$$, 0.5);
SELECT items FROM mekatek.frequent_itemsets($$VALUES (ARRAY[ARRAY[1, 2], ARRAY[3, 4]])$$, 1, 4)
 WHERE cardinality(items) = 4;

-- Borderline support: 7 of 100 baskets at min_support 0.07 (0.07 * 100 is
-- 7.000000000000001 in floating point) is frequent.
SELECT items, count, support FROM mekatek.frequent_itemsets($$
    SELECT CASE WHEN g <= 7 THEN ARRAY['x'] ELSE ARRAY['y'] END FROM generate_series(1, 100) g
$$, 0.07) WHERE items = '{x}';

-- No transactions: no rows.
SELECT count(*) FROM mekatek.apriori('SELECT 1, 2 WHERE false', 0.5);

-- Bad arguments name the problem.
\set VERBOSITY default
SELECT * FROM mekatek.apriori('SELECT sale_no, item FROM coffee_line', 0);
SELECT * FROM mekatek.apriori('SELECT sale_no, item FROM coffee_line', 1.5);
SELECT * FROM mekatek.apriori('SELECT sale_no, item FROM coffee_line', 'NaN');
SELECT * FROM mekatek.apriori('SELECT sale_no, item FROM coffee_line', NULL);
SELECT * FROM mekatek.apriori('SELECT sale_no, item FROM coffee_line', 0.1, 1.01);
SELECT * FROM mekatek.apriori('SELECT sale_no, item FROM coffee_line', 0.1, -0.5);
SELECT * FROM mekatek.apriori('SELECT sale_no, item FROM coffee_line', 0.1, 0.5, 0);
SELECT * FROM mekatek.frequent_itemsets('SELECT sale_no, item FROM coffee_line', 0.1, -1);
SELECT * FROM mekatek.frequent_itemsets(NULL, 0.1);
SELECT * FROM mekatek.frequent_itemsets('', 0.1);
SELECT * FROM mekatek.frequent_itemsets('SELECT sale_no, item, 1 FROM coffee_line', 0.1);
SELECT * FROM mekatek.frequent_itemsets('SELECT item FROM coffee_line', 0.1);
SELECT * FROM mekatek.frequent_itemsets('CREATE TABLE nope (a int)', 0.1);
SELECT * FROM mekatek.frequent_itemsets('SELECT sale_no, item FROM no_such_table', 0.1);
SELECT * FROM mekatek.frequent_itemsets(
    'WITH d AS (DELETE FROM coffee_sale RETURNING sale_no, menu) SELECT * FROM d', 0.1);
SELECT count(*) AS sales_still_there FROM coffee_sale;

-- Memory is bounded by mekatek.basket_work_mem: past it, ERROR 53200 with
-- the bytes needed (the exact figure depends on the build; show its shape).
SET mekatek.basket_work_mem = '1MB';
DO $$
BEGIN
    PERFORM count(*) FROM mekatek.frequent_itemsets(
        'SELECT g % 1000, g FROM generate_series(1, 300000) g', 0.5);
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'SQLSTATE %: %', SQLSTATE,
        regexp_replace(SQLERRM, '\d+ bytes', 'N bytes');
END $$;
-- ... also while mining: 200 identical baskets of 18 items have 2^18 - 1
-- frequent itemsets, far more than 2MB can hold.
SET mekatek.basket_work_mem = '2MB';
DO $$
BEGIN
    PERFORM count(*) FROM mekatek.frequent_itemsets(
        'SELECT b, i FROM generate_series(1, 200) b, generate_series(1, 18) i', 0.5);
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'SQLSTATE %: %', SQLSTATE,
        regexp_replace(SQLERRM, '\d+ bytes', 'N bytes');
END $$;
RESET mekatek.basket_work_mem;

-- Mining checks for interrupts: a run that would take minutes (2000
-- identical baskets of 24 items) stops at the statement timeout.
SET mekatek.basket_work_mem = '4GB';
SET statement_timeout = '300ms';
SELECT count(*) FROM mekatek.frequent_itemsets(
    'SELECT ARRAY(SELECT generate_series(1, 24)) FROM generate_series(1, 2000)', 0.5);
RESET statement_timeout;
RESET mekatek.basket_work_mem;

-- The run log: mine once, read many times.
SELECT mekatek.basket_mine('coffee', 'SELECT sale_no, item FROM coffee_line', 0.08, 0.5) AS run_id \gset
SELECT name, transactions, itemsets, rules, min_support, min_confidence, max_len,
       finished_at >= started_at AS ordered, run_by
  FROM mekatek.basket_run WHERE run_id = :run_id;
SELECT items, count, support FROM mekatek.basket_itemset
 WHERE run_id = :run_id AND cardinality(items) = 3 ORDER BY items;
SELECT rule_no, antecedent, consequent, count, round(confidence::numeric, 3) AS confidence
  FROM mekatek.basket_latest_rule WHERE name = 'coffee' ORDER BY rule_no LIMIT 5;
-- the stored rules are mekatek.apriori's, in its order
SELECT (SELECT array_agg((antecedent, consequent, support, confidence, lift, leverage, conviction, count,
                          chi_square, fisher_p) ORDER BY rule_no)
          FROM mekatek.basket_rule WHERE run_id = :run_id)
     = (SELECT array_agg(a) FROM mekatek.apriori('SELECT sale_no, item FROM coffee_line', 0.08, 0.5) a)
       AS same_rules;

-- The counting pass as a parallel aggregate: any pass (given candidates)
-- or Apriori's first (every item, candidates NULL), as jsonb.
SELECT jsonb_pretty(mekatek.basket_counts(string_to_array(menu, ', '),
           '[["Kopi Tubruk", "Ice Tea"], ["Ice Tea", "Kopi Tubruk", "Kentang Goreng"], ["Es Campur"]]'))
  FROM coffee_sale;
SELECT e->'items' AS items, (e->>'count')::int AS count
  FROM (SELECT mekatek.basket_counts(string_to_array(menu, ', '), NULL) AS x FROM coffee_sale) s,
       jsonb_array_elements(x->'itemsets') e
 LIMIT 4;
-- Workers count their share, the leader adds them up: the same counts.
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF)
SELECT mekatek.basket_counts(string_to_array(menu, ', '), NULL) FROM coffee_sale;
SELECT mekatek.basket_counts(string_to_array(menu, ', '), NULL) AS counted_in_parallel
  FROM coffee_sale \gset
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
SET max_parallel_workers_per_gather = 0;
SELECT mekatek.basket_counts(string_to_array(menu, ', '), NULL) = :'counted_in_parallel'
       AS same_in_parallel
  FROM coffee_sale;
RESET max_parallel_workers_per_gather;
SELECT mekatek.basket_counts(ARRAY['a'], '{"a": 1}');
SELECT mekatek.basket_counts(ARRAY['a'], '[["a"], []]');
SELECT mekatek.basket_counts(ARRAY['a'], '[["a", [1]]]');
-- One candidates value per aggregate: another one on a later row (or NULL
-- on some rows only) is an error, not silently the first row's.
SELECT mekatek.basket_counts(b, c::jsonb)
  FROM (VALUES (ARRAY['a', 'b'], '[["a"]]'), (ARRAY['b'], '[["b"]]')) v(b, c);
SELECT mekatek.basket_counts(b, c::jsonb)
  FROM (VALUES (ARRAY['a', 'b'], '[["a"]]'), (ARRAY['b'], NULL)) v(b, c);
SELECT mekatek.basket_counts(b, c::jsonb)
  FROM (VALUES (ARRAY['a', 'b'], NULL), (ARRAY['b'], '[["b"]]')) v(b, c);
-- The same value on every row, from a column, counts.
SELECT mekatek.basket_counts(b, c::jsonb)
  FROM (VALUES (ARRAY['a', 'b'], '[["a"]]'), (ARRAY['b'], '[["a"]]')) v(b, c);

-- Filters analysts know from arules and MADlib.  Two-item consequents,
-- at most one item on the left, lift above 1, only coffee on the right:
SELECT antecedent, consequent, count, round(confidence::numeric, 3) AS confidence,
       round(lift::numeric, 3) AS lift, round(chi_square::numeric, 3) AS chi_square,
       round(fisher_p::numeric, 4) AS fisher_p
  FROM mekatek.apriori('SELECT sale_no, item FROM coffee_line', 0.08, 0.3,
                       min_lift => 1, max_antecedent => 1, max_consequent => 2,
                       rhs => ARRAY['Kopi Tubruk', 'Ice Tea', 'Kentang Goreng']);
-- the three best rules by lift, holding only three rules in memory
SELECT antecedent, consequent, round(lift::numeric, 3) AS lift
  FROM mekatek.apriori('SELECT sale_no, item FROM coffee_line', 0.08, 0.5, top => 3, top_by => 'lift');
-- redundant rules dropped: a smaller antecedent predicts as well
SELECT count(*) AS all_rules,
       (SELECT count(*) FROM mekatek.apriori('SELECT sale_no, item FROM coffee_line', 0.08, 0.5,
                                             remove_redundant => true)) AS not_redundant
  FROM mekatek.apriori('SELECT sale_no, item FROM coffee_line', 0.08, 0.5);
-- closed and maximal itemsets
SELECT items, count FROM mekatek.frequent_itemsets('SELECT sale_no, item FROM coffee_line', 0.08,
                                                   target => 'maximal');
SELECT count(*) FILTER (WHERE t = 'frequent') AS frequent, count(*) FILTER (WHERE t = 'closed') AS closed
  FROM unnest(ARRAY['frequent', 'closed']) t,
       LATERAL mekatek.frequent_itemsets('SELECT sale_no, item FROM coffee_line', 0.08, target => t);
-- the run log keeps the parameters given
SELECT mekatek.basket_mine('coffee-lift', 'SELECT sale_no, item FROM coffee_line', 0.08, 0.3,
                           min_lift => 1, max_consequent => 2, exclude => ARRAY['Es Campur']) AS run_id \gset
SELECT rules, parameters FROM mekatek.basket_run WHERE run_id = :run_id;
SELECT count(*) = (SELECT rules FROM mekatek.basket_run WHERE run_id = :run_id) AS counted
  FROM mekatek.basket_rule WHERE run_id = :run_id;
-- bad options name the value
SELECT * FROM mekatek.frequent_itemsets('SELECT sale_no, item FROM coffee_line', 0.1, target => 'closest');
SELECT * FROM mekatek.apriori('SELECT sale_no, item FROM coffee_line', 0.1, top => 0);
SELECT * FROM mekatek.apriori('SELECT sale_no, item FROM coffee_line', 0.1, top_by => 'lifts');
SELECT * FROM mekatek.apriori('SELECT sale_no, item FROM coffee_line', 0.1, max_consequent => 0);
SELECT * FROM mekatek.apriori('SELECT sale_no, item FROM coffee_line', 0.1, min_lift => -1);
