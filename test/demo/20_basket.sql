-- basket: the coffee shop of the Warkoppitulukur paper, mined once and read
-- back the way its web page would, then the paper's own rule checked.
\echo
\echo '== basket: menu combinations at a coffee shop (25 sales)'
CREATE TABLE public.coffee_sale (sale_no int PRIMARY KEY, menu text NOT NULL);
INSERT INTO public.coffee_sale VALUES
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
SELECT mekatek.basket_mine('coffee menu',
    $$SELECT sale_no, trim(item) FROM public.coffee_sale, unnest(string_to_array(menu, ',')) item$$,
    min_support => 0.08, min_confidence => 0.5) AS run_id \gset
SELECT transactions, itemsets, rules FROM mekatek.basket_run WHERE run_id = :run_id;
\echo 'the strongest rules (support >= 8%, confidence >= 50%):'
SELECT array_to_string(antecedent, ' + ') || '  =>  ' || consequent[1] AS rule,
       count AS sales, round(100 * confidence) || '%' AS confidence, round(lift::numeric, 2) AS lift
  FROM mekatek.basket_latest_rule WHERE name = 'coffee menu' ORDER BY rule_no LIMIT 6;
\echo 'the paper says {Kopi Tubruk, Ice Tea} => {Kentang Goreng} has confidence 1/2; the data says:'
SELECT count AS sales, round(100 * confidence) || '%' AS confidence
  FROM mekatek.apriori($$SELECT string_to_array(menu, ', ') FROM public.coffee_sale$$, 0.04)
 WHERE antecedent = '{"Ice Tea","Kopi Tubruk"}' AND consequent = '{"Kentang Goreng"}';
\echo 'the pharmacy: medicines bought together in today''s paid sales (the pos step above):'
SELECT array_to_string(antecedent, ' + ') || '  =>  ' || consequent[1] AS rule,
       count AS sales, round(100 * confidence) || '%' AS confidence
  FROM mekatek.sales_rules(current_date, current_date, 0.25, 0.5);
