#!/usr/bin/env bash
# chain (issue 22, item 7): the counting aggregates as partial aggregates
# across servers, as Citus would run them.  Three private clusters:
# headquarters and two branches (branch 2 an older server whose database is
# LATIN1), each with its own baskets.  The SON two-phase method of the
# basket README, run between servers:
#   phase 1  each branch mines its own baskets (frequent_itemsets at the
#            chain's min_support); headquarters takes the union: candidates;
#   phase 2  each branch counts the candidates into basket_counts_partial's
#            state (bytea, the bytes a Citus worker would ship), headquarters
#            adds the states up with basket_counts_merge.
# The survivors, their counts and the rules built from them equal
# frequent_itemsets / apriori / basket_counts over the union of all baskets
# in one database; so do the plain-rows form (one basket_counts jsonb per
# branch, summed) and the item pass (candidates NULL).  Damaged, foreign
# and mismatched states are refused with their SQLSTATE, never a crash.
source "$(dirname "$0")/../harness/common.sh"
bindir=${MK_BINDIR:?MK_BINDIR must point at the PostgreSQL binaries}
cluster=$MK_ROOT/test/harness/cluster.sh
names=(chain_pa_hq chain_pa_b1 chain_pa_b2)
minsup=0.03

pids=()
for n in "${names[@]}"; do
    MK_FAST=1 bash "$cluster" fresh "$n" "$(mk_port "$n")" "$bindir" >/dev/null &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || mk_die "a cluster did not start"; done
stop_all() { for n in "${names[@]}"; do bash "$cluster" stop "$n" "$bindir"; done; }
trap stop_all EXIT

# q NODE [psql args]: psql on node NODE's database "shop".  The client
# speaks UTF-8 whatever the locale, so that LATIN1 branch converts.
export PGCLIENTENCODING=UTF8
q() {
    local n=$1; shift
    "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$MK_BUILD/$n/run" -p "$(mk_port "$n")" -U postgres -d shop "$@"
}
for n in chain_pa_hq chain_pa_b1; do
    "$bindir/psql" -Xq -h "$MK_BUILD/$n/run" -p "$(mk_port "$n")" -U postgres -d postgres -c "CREATE DATABASE shop"
done
"$bindir/psql" -Xq -h "$MK_BUILD/chain_pa_b2/run" -p "$(mk_port chain_pa_b2)" -U postgres -d postgres \
    -c "CREATE DATABASE shop ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
for n in "${names[@]}"; do q "$n" -c "CREATE EXTENSION mekatek CASCADE"; done

# The baskets: the same 30 products at both branches, popular in opposite
# orders, a bundle bought together at each branch, and one at both.  Names
# with quotes, commas and non-ASCII letters that LATIN1 holds.
gen() { # branch_id seed baskets
    cat <<SQL
SELECT setseed($2) AS seed \gset
CREATE TABLE public.product_name (k int PRIMARY KEY, name text NOT NULL);
INSERT INTO public.product_name
SELECT k, CASE k WHEN 1 THEN 'Paracétamol 500' WHEN 2 THEN 'Sirup «anak»' WHEN 3 THEN 'Salep "kulit"'
                 WHEN 4 THEN 'Madu, 250 ml' WHEN 5 THEN 'Vitamin C' ELSE 'SKU-' || lpad(k::text, 3, '0') END
  FROM generate_series(1, 30) k;
CREATE TABLE public.sale_basket (branch_id int NOT NULL, sale_id bigint NOT NULL, items text[] NOT NULL,
                                 PRIMARY KEY (branch_id, sale_id));
INSERT INTO public.sale_basket
SELECT $1, g, ARRAY(SELECT p.name FROM public.product_name p
                     WHERE random() < 0.45 / power(CASE $1 WHEN 1 THEN p.k ELSE 31 - p.k END, 0.8) + 0 * g
                        OR (p.k IN (1, 2, 3) AND b.bundle < CASE $1 WHEN 1 THEN 0.12 ELSE 0 END)
                        OR (p.k IN (27, 28) AND b.bundle < CASE $1 WHEN 2 THEN 0.15 ELSE 0 END)
                        OR (p.k IN (10, 20) AND b.both < 0.04)
                     ORDER BY p.k)
  FROM generate_series(1, $3) g, LATERAL (SELECT random() + 0 * g AS bundle, random() + 0 * g AS both) b;
SQL
}
gen 1 0.11 1200 | q chain_pa_b1
gen 2 0.22 800 | q chain_pa_b2

# One database with every basket: the reference the distributed run must equal.
q chain_pa_hq -c "CREATE TABLE public.all_basket (branch_id int NOT NULL, sale_id bigint NOT NULL, items text[] NOT NULL, PRIMARY KEY (branch_id, sale_id))"
for b in chain_pa_b1 chain_pa_b2; do
    q "$b" -c "COPY public.sale_basket TO STDOUT" | q chain_pa_hq -c "COPY public.all_basket FROM STDIN"
done

# Phase 1: each branch's locally frequent itemsets, to headquarters.
q chain_pa_hq -c "CREATE TABLE public.branch_itemset (branch_id int, items text[], count bigint)"
for b in 1 2; do
    q chain_pa_b$b -c "COPY (SELECT $b, items, count FROM mekatek.frequent_itemsets('SELECT items FROM public.sale_basket', $minsup)) TO STDOUT" \
        | q chain_pa_hq -c "COPY public.branch_itemset FROM STDIN"
done
cand=$(q chain_pa_hq -At -c "SELECT jsonb_agg(to_jsonb(items) ORDER BY items) FROM (SELECT DISTINCT items FROM public.branch_itemset) d")

# Phase 2: every branch counts the same candidates; its state travels as
# bytea (COPY's text form) to headquarters.  NULL candidates: the item pass.
q chain_pa_hq -c "CREATE TABLE public.branch_state (branch_id int, pass text, state bytea)" \
              -c "CREATE TABLE public.branch_counts (branch_id int, pass text, counts jsonb)"
for b in 1 2; do
    q chain_pa_b$b -v c="$cand" <<SQL | q chain_pa_hq -c "COPY public.branch_state FROM STDIN"
COPY (SELECT $b, 'candidates', mekatek.basket_counts_partial(items, :'c') FROM public.sale_basket
      UNION ALL
      SELECT $b, 'items', mekatek.basket_counts_partial(items, NULL) FROM public.sale_basket) TO STDOUT
SQL
    # the plain-rows form: each branch's finished counts, summed at headquarters
    q chain_pa_b$b -v c="$cand" <<SQL | q chain_pa_hq -c "COPY public.branch_counts FROM STDIN"
COPY (SELECT $b, 'candidates', mekatek.basket_counts(items, :'c') FROM public.sale_basket) TO STDOUT
SQL
done

# A branch counts in parallel (Partial Aggregate, workers' states combined)
# and ships the same bytes as counting alone.
par=$(q chain_pa_b1 -At -v c="$cand" <<'SQL'
SELECT encode(sha256(mekatek.basket_counts_partial(items, :'c')), 'hex') AS serial FROM public.sale_basket \gset
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT mekatek.basket_counts_partial(items, :'c') FROM public.sale_basket;
SELECT 'parallel_same_bytes ' || (encode(sha256(mekatek.basket_counts_partial(items, :'c')), 'hex') = :'serial')
  FROM public.sale_basket;
-- the survey's aggregate too: SUS answers combined from the workers
CREATE TABLE public.sus_row AS
SELECT g AS respondent, ARRAY(SELECT (1 + floor(random() * 5) + 0 * g)::smallint FROM generate_series(1, 10)) AS answers
  FROM generate_series(1, 3000) g;
ANALYZE public.sus_row;
EXPLAIN (COSTS OFF) SELECT mekatek.sus_summary(answers) FROM public.sus_row;
CREATE TEMP TABLE sus_par AS SELECT (x).* FROM (SELECT mekatek.sus_summary(answers) AS x FROM public.sus_row) t;
SET max_parallel_workers_per_gather = 0;
CREATE TEMP TABLE sus_one AS SELECT (x).* FROM (SELECT mekatek.sus_summary(answers) AS x FROM public.sus_row) t;
SELECT 'sus_parallel_equals_serial ' || (p.n = o.n AND p.n = 3000 AND abs(p.mean - o.mean) < 1e-9
                                         AND abs(p.sd - o.sd) < 1e-9 AND p.median = o.median)
  FROM sus_par p, sus_one o;
SQL
)

result=$(q chain_pa_hq -At -v c="$cand" -v minsup="$minsup" <<'SQL'
SELECT 'baskets ' || string_agg(n::text, '+' ORDER BY branch_id) || '=' || sum(n)
  FROM (SELECT branch_id, count(*) n FROM public.all_basket GROUP BY 1) s;
SELECT 'states ' || count(*) || ' ' || sum(length(state)) || ' bytes' FROM public.branch_state;
-- headquarters adds the branches' states up
CREATE TEMP TABLE merged AS SELECT mekatek.basket_counts_merge(state) AS x
  FROM public.branch_state WHERE pass = 'candidates';
CREATE TEMP TABLE counted AS
    SELECT ARRAY(SELECT jsonb_array_elements_text(e->'items')) AS items, (e->>'count')::bigint AS count
      FROM merged, jsonb_array_elements(x->'itemsets') e
     WHERE (e->>'count')::bigint >= :minsup * (x->>'transactions')::bigint;
CREATE TEMP TABLE mined AS
    SELECT items, count FROM mekatek.frequent_itemsets('SELECT items FROM public.all_basket', :minsup);
SELECT 'local_itemsets ' || string_agg(n::text, '+' ORDER BY branch_id)
  FROM (SELECT branch_id, count(*) n FROM public.branch_itemset GROUP BY 1) s;
SELECT 'candidates ' || jsonb_array_length(:'c'::jsonb);
SELECT 'false_positives ' || (jsonb_array_length(:'c'::jsonb) > (SELECT count(*) FROM mined));
SELECT 'itemsets ' || count(*) FROM counted;
SELECT 'son_agrees ' || ((SELECT count(*) FROM (TABLE counted EXCEPT ALL TABLE mined) a)
                       + (SELECT count(*) FROM (TABLE mined EXCEPT ALL TABLE counted) b) = 0
                       AND (SELECT count(*) FROM mined) > 0);
SELECT 'merge_equals_one_database ' || (x = mekatek.basket_counts(items, :'c'))
  FROM merged, public.all_basket GROUP BY x;
-- Citus before internal states were shipped: GROUP BY the distribution
-- column runs whole on each shard; the coordinator sums the rows.
SELECT 'plain_rows_agree ' || (
    (SELECT count(*) FROM (SELECT e->'items' i, sum((e->>'count')::bigint) c
                             FROM public.branch_counts, jsonb_array_elements(counts->'itemsets') e GROUP BY 1
                           EXCEPT ALL
                           SELECT e->'items', (e->>'count')::bigint FROM merged, jsonb_array_elements(x->'itemsets') e) d) = 0
    AND (SELECT sum((counts->>'transactions')::bigint) FROM public.branch_counts)
        = (SELECT (x->>'transactions')::bigint FROM merged));
SELECT 'items_pass_agrees ' || ((SELECT mekatek.basket_counts_merge(state) FROM public.branch_state WHERE pass = 'items')
                              = (SELECT mekatek.basket_counts(items, NULL) FROM public.all_basket));
-- the LATIN1 branch's names arrive as UTF-8
SELECT 'names_converted ' || (SELECT count(*) FROM counted WHERE items && ARRAY['Paracétamol 500', 'Sirup «anak»']) ;
-- Rules from the combined counts (phase 2 counted every subset of a
-- frequent itemset) equal apriori over all baskets.
CREATE TEMP TABLE rules_son AS
SELECT ARRAY(SELECT i FROM unnest(f.items) i WHERE i <> c ORDER BY i) AS antecedent, ARRAY[c] AS consequent,
       f.count, f.count::float8 / n AS support, f.count::float8 / a.count AS confidence,
       (f.count::float8 / a.count) / (s.count::float8 / n) AS lift
  FROM counted f, unnest(f.items) c,
       (SELECT (x->>'transactions')::bigint AS n FROM merged) t,
       counted a, counted s
 WHERE cardinality(f.items) >= 2
   AND a.items = ARRAY(SELECT i FROM unnest(f.items) i WHERE i <> c ORDER BY i)
   AND s.items = ARRAY[c]
   AND f.count::float8 / a.count >= 0.5;
CREATE TEMP TABLE rules_one AS
SELECT ARRAY(SELECT i FROM unnest(antecedent) i ORDER BY i) AS antecedent, consequent, count, support, confidence, lift
  FROM mekatek.apriori('SELECT items FROM public.all_basket', :minsup, 0.5);
SELECT 'rules ' || count(*) FROM rules_one;
SELECT 'rules_agree ' || ((SELECT count(*) FROM rules_one) > 0 AND NOT EXISTS (
    SELECT 1 FROM rules_one o FULL JOIN rules_son s USING (antecedent, consequent)
     WHERE o.count IS DISTINCT FROM s.count OR abs(o.support - s.support) > 1e-12
        OR abs(o.confidence - s.confidence) > 1e-12 OR abs(o.lift - s.lift) > 1e-9));
SQL
)

# The refusals: states that disagree, and bytes that are not a state.
errors=$(q chain_pa_hq -At -v c="$cand" <<'SQL' 2>&1
\set ON_ERROR_STOP 0
\set VERBOSITY sqlstate
SELECT mekatek.basket_counts_merge(state) FROM public.branch_state;
SELECT mekatek.basket_counts_merge(s) FROM (SELECT state FROM public.branch_state WHERE branch_id = 1 AND pass = 'candidates'
  UNION ALL SELECT mekatek.basket_counts_partial(items, '[["Vitamin C"]]') FROM public.all_basket) t(s);
SELECT mekatek.basket_counts_merge(substr(state, 1, length(state) - 3)) FROM public.branch_state;
SELECT mekatek.basket_counts_merge(state || '\x00'::bytea) FROM public.branch_state WHERE pass = 'items';
SELECT mekatek.basket_counts_merge(set_byte(state, 0, 9)) FROM public.branch_state;
SELECT mekatek.basket_counts_merge('\x'::bytea);
SELECT mekatek.basket_counts_merge('not a state'::bytea);
SQL
)
# one error message in full: what the user sees
message=$(q chain_pa_hq -At -c "SELECT mekatek.basket_counts_merge(set_byte(state, 0, 9)) FROM public.branch_state" 2>&1 || true)

# Random damage: every flipped byte or cut is either a state (counts
# change) or a clean error; the server stays up.
fuzz=$(q chain_pa_hq -At <<'SQL'
SELECT setseed(0.5) AS seed \gset
CREATE TEMP TABLE outcome (sqlstate text);
DO $$
DECLARE
    s bytea;
    d bytea;
    pos int;
BEGIN
    FOR i IN 1..400 LOOP
        SELECT state INTO s FROM public.branch_state ORDER BY branch_id, pass OFFSET i % 4 LIMIT 1;
        pos := floor(random() * length(s))::int;
        d := CASE WHEN i % 5 = 0 THEN substr(s, 1, pos)
                  ELSE set_byte(s, pos, floor(random() * 256)::int) END;
        BEGIN
            PERFORM mekatek.basket_counts_merge(x) FROM (VALUES (s), (d)) v(x);
            INSERT INTO outcome VALUES ('ok');
        EXCEPTION WHEN OTHERS THEN
            INSERT INTO outcome VALUES (SQLSTATE);
        END;
    END LOOP;
END $$;
SELECT 'fuzz ' || string_agg(sqlstate || ':' || n, ' ' ORDER BY sqlstate)
  FROM (SELECT sqlstate, count(*) n FROM outcome GROUP BY 1) o;
SELECT 'fuzz_unexpected ' || count(*) FROM outcome WHERE sqlstate NOT IN ('ok', '22P03', '22023', '22021', '22P05');
SELECT 'alive ' || 1;
SQL
)

echo "$par"; echo "$result"; echo "$errors"; echo "$message"; echo "$fuzz"
all="$par"$'\n'"$result"$'\n'"$errors"$'\n'"$fuzz"
fail=0
expect() {
    if grep -qx -- "$1" <<<"$all"; then echo "ok: $1"; else echo "FAILED: expected $1"; fail=1; fi
}
expect_re() {
    if grep -qE -- "$1" <<<"$all"; then echo "ok: $2"; else echo "FAILED: $2"; fail=1; fi
}
expect "baskets 1200+800=2000"
expect_re "^states 4 " "four partial states shipped"
expect "false_positives true"
expect "son_agrees true"
expect "merge_equals_one_database true"
expect "plain_rows_agree true"
expect "items_pass_agrees true"
expect "rules_agree true"
expect "parallel_same_bytes true"
expect "sus_parallel_equals_serial true"
expect "fuzz_unexpected 0"
expect "alive 1"
expect_re '^names_converted [1-9]' "LATIN1 names arrive converted"
if [ "$(grep -c 'Partial Aggregate' <<<"$par")" = 2 ]; then echo "ok: a branch counts and summarises with parallel workers"; else echo "FAILED: no parallel plans"; fail=1; fi
# the refusals, in order: item and candidate states mixed; other
# candidates; cut short; bytes after the end; another format; empty; junk
want=$'ERROR:  22023\nERROR:  22023\nERROR:  22P03\nERROR:  22P03\nERROR:  22P03\nERROR:  22P03\nERROR:  22P03'
if [ "$(grep '^ERROR' <<<"$errors")" = "$want" ]; then echo "ok: refusals with their SQLSTATEs"; else echo "FAILED: refusals"; fail=1; fi
if grep -q 'format 9, this server reads format 1' <<<"$message" && grep -q '^HINT' <<<"$message"; then
    echo "ok: the format error names both versions, with a hint"
else
    echo "FAILED: format error message"; fail=1
fi
[ "$fail" = 0 ] || exit 1
echo "SON across 3 servers: $(grep '^itemsets' <<<"$result"), $(grep '^rules ' <<<"$result"), as in one database"
