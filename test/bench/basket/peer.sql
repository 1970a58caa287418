-- The SQL peer: Apriori in plain SQL with self-joins, level by level, the way
-- the coffee-shop paper's PHP application fills its itemset1, itemset2 and
-- itemset3 tables, but with the Apriori pruning done properly (infrequent
-- items are dropped from the baskets before the pair join, and only frequent
-- pairs are extended to triples).  Input: retail_item(basket_id, item).
-- Output: the rules of two and three items with confidence >= :minconf.
\set ON_ERROR_STOP 1
DROP TABLE IF EXISTS peer_f1, peer_t1, peer_f2, peer_f3, peer_rule;
CREATE TEMP TABLE peer_f1 AS
    SELECT item, count(*) AS c FROM retail_item GROUP BY item HAVING count(*) >= :minc;
CREATE TEMP TABLE peer_t1 AS
    SELECT basket_id, item FROM retail_item JOIN peer_f1 USING (item);
CREATE INDEX ON peer_t1 (basket_id, item);
ANALYZE peer_t1, peer_f1;
CREATE TEMP TABLE peer_f2 AS
    SELECT a.item AS i1, b.item AS i2, count(*) AS c
      FROM peer_t1 a JOIN peer_t1 b ON b.basket_id = a.basket_id AND b.item > a.item
     GROUP BY 1, 2 HAVING count(*) >= :minc;
CREATE INDEX ON peer_f2 (i1, i2);
ANALYZE peer_f2;
CREATE TEMP TABLE peer_f3 AS
    SELECT a.item AS i1, b.item AS i2, c.item AS i3, count(*) AS c
      FROM peer_t1 a
      JOIN peer_t1 b ON b.basket_id = a.basket_id AND b.item > a.item
      JOIN peer_f2 p ON p.i1 = a.item AND p.i2 = b.item
      JOIN peer_t1 c ON c.basket_id = a.basket_id AND c.item > b.item
     GROUP BY 1, 2, 3 HAVING count(*) >= :minc;
CREATE TEMP TABLE peer_rule AS
    SELECT ARRAY[p.i1] AS antecedent, p.i2 AS consequent, p.c::float8 / a.c AS confidence
      FROM peer_f2 p JOIN peer_f1 a ON a.item = p.i1
    UNION ALL
    SELECT ARRAY[p.i2], p.i1, p.c::float8 / a.c
      FROM peer_f2 p JOIN peer_f1 a ON a.item = p.i2
    UNION ALL
    SELECT ARRAY[t.i1, t.i2], t.i3, t.c::float8 / p.c
      FROM peer_f3 t JOIN peer_f2 p ON (p.i1, p.i2) = (t.i1, t.i2)
    UNION ALL
    SELECT ARRAY[t.i1, t.i3], t.i2, t.c::float8 / p.c
      FROM peer_f3 t JOIN peer_f2 p ON (p.i1, p.i2) = (t.i1, t.i3)
    UNION ALL
    SELECT ARRAY[t.i2, t.i3], t.i1, t.c::float8 / p.c
      FROM peer_f3 t JOIN peer_f2 p ON (p.i1, p.i2) = (t.i2, t.i3);
DELETE FROM peer_rule WHERE confidence < :minconf;
