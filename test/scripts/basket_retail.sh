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
[ "$fail" = 0 ] || exit 1
echo "retail.dat: 7589 itemsets and 5731 rules, as the reference"
