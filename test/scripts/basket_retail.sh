#!/usr/bin/env bash
# basket acceptance: ../shared/data/retail.dat (88,162 Belgian retail
# baskets) at min_support 0.001 and min_confidence 0.5 gives exactly the
# reference numbers of its README: 7,589 frequent itemsets (2117/3260/1794/
# 382/36 of size 1..5), 5,731 rules with a non-empty antecedent, 4,911 of
# them with 2..3 items.  Both input forms (one array per basket, and
# (transaction, item) rows) are checked.
set -euo pipefail
data=${MK_SHARED:-}/data/retail.dat
if [ -z "${MK_SHARED:-}" ] || [ ! -r "$data" ]; then
    echo "skip: ../shared/data/retail.dat is not available (MK_SHARED unset)"
    exit 77
fi

db=mekatek_basket_retail
psql -Xq -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
trap 'psql -Xq -d postgres -c "DROP DATABASE IF EXISTS $db"' EXIT
run() { psql -X -v ON_ERROR_STOP=1 -d "$db" "$@"; }

run -q -c "CREATE EXTENSION mekatek CASCADE"
# COPY reads whole lines (the file has no tabs or backslashes); one line has
# a double blank, whose empty field becomes NULL and is ignored by mining.
run -q <<SQL
CREATE TABLE retail_line_raw (line text);
\copy retail_line_raw FROM '$data'
CREATE TABLE retail_basket AS
    SELECT row_number() OVER () AS basket_id, string_to_array(line, ' ', '')::int[] AS items
      FROM retail_line_raw;
CREATE TABLE retail_item AS
    SELECT basket_id, item FROM retail_basket, unnest(items) AS item WHERE item IS NOT NULL;
VACUUM ANALYZE retail_basket, retail_item;
SQL

result=$(run -At <<'SQL'
\timing on
CREATE TEMP TABLE sets AS SELECT * FROM mekatek.frequent_itemsets('SELECT items FROM retail_basket', 0.001);
CREATE TEMP TABLE rules AS SELECT * FROM mekatek.apriori('SELECT items FROM retail_basket', 0.001, 0.5);
CREATE TEMP TABLE rules2 AS SELECT * FROM mekatek.apriori('SELECT basket_id, item FROM retail_item', 0.001, 0.5);
\timing off
SELECT 'baskets ' || count(*) FROM retail_basket;
SELECT 'itemsets ' || count(*) FROM sets;
SELECT 'by_size ' || string_agg(n::text, '/' ORDER BY k) FROM (SELECT cardinality(items) k, count(*) n FROM sets GROUP BY 1) s;
SELECT 'min_count ' || min(count) FROM sets;
SELECT 'rules ' || count(*) FROM rules;
SELECT 'rules_2_3 ' || count(*) FROM rules WHERE cardinality(antecedent) + 1 BETWEEN 2 AND 3;
SELECT 'forms_agree ' || ((SELECT count(*) FROM (TABLE rules EXCEPT ALL TABLE rules2) a)
                        + (SELECT count(*) FROM (TABLE rules2 EXCEPT ALL TABLE rules) b) = 0);
SELECT 'top ' || antecedent::text || ' => ' || consequent::text || ' ' || round(confidence::numeric, 3)
  FROM rules LIMIT 1;
SQL
)
echo "$result"
fail=0
expect() {
    if grep -qx "$1" <<<"$result"; then echo "ok: $1"; else echo "FAILED: expected $1"; fail=1; fi
}
expect "baskets 88162"
expect "itemsets 7589"
expect "by_size 2117/3260/1794/382/36"
expect "min_count 89"
expect "rules 5731"
expect "rules_2_3 4911"
expect "forms_agree true"

# The SON two-phase method (Savasere, Omiecinski and Navathe), as a
# distributed PostgreSQL would run it: phase 1 mines each of four partitions
# at the same min_support (each partition's locally frequent itemsets, a
# superset of the globally frequent ones by the pigeonhole argument); phase 2
# counts the union of the candidates over all baskets with the parallel
# aggregate, here with parallel workers.  The survivors are exactly the
# itemsets mined in one go, with the same counts.
son=$(run -At <<'SQL'
CREATE TEMP TABLE cand AS
    SELECT DISTINCT f.items
      FROM generate_series(0, 3) part,
           LATERAL mekatek.frequent_itemsets(
               format('SELECT items FROM retail_basket WHERE basket_id %% 4 = %s', part), 0.001) f;
SELECT 'candidates ' || count(*) FROM cand;
SELECT jsonb_agg(to_jsonb(items)) AS c FROM cand \gset
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT mekatek.basket_counts(items, :'c') FROM retail_basket;
CREATE TEMP TABLE counted AS
    SELECT ARRAY(SELECT jsonb_array_elements_text(e->'items')) AS items, (e->>'count')::bigint AS count
      FROM (SELECT mekatek.basket_counts(items, :'c') AS x FROM retail_basket) s,
           jsonb_array_elements(x->'itemsets') e
     WHERE (e->>'count')::bigint >= 0.001 * (x->>'transactions')::bigint;
RESET max_parallel_workers_per_gather;
CREATE TEMP TABLE mined AS SELECT items, count FROM mekatek.frequent_itemsets('SELECT items FROM retail_basket', 0.001);
SELECT 'son_itemsets ' || count(*) FROM counted;
SELECT 'son_agrees ' || ((SELECT count(*) FROM (TABLE counted EXCEPT ALL TABLE mined) a)
                       + (SELECT count(*) FROM (TABLE mined EXCEPT ALL TABLE counted) b) = 0);
SQL
)
result+=$'\n'"$son"
echo "$son"
expect "son_itemsets 7589"
expect "son_agrees true"
if grep -q 'Partial Aggregate' <<<"$son"; then echo "ok: counted by parallel workers"; else echo "FAILED: no parallel plan"; fail=1; fi
[ "$fail" = 0 ] || exit 1
echo "retail.dat: 7589 itemsets and 5731 rules, as the reference"
