#!/usr/bin/env bash
# basket acceptance on the dense and synthetic FIMI sets: the rule counts of
# ../shared/data/README.txt (Borgelt's apriori, fpgrowth and eclat, rule
# support = body and head, one consequent, min_confidence 0.5, no empty
# antecedent), exactly:
#   mushroom.dat   min_support 0.2 -> 377,677 rules; 0.1 -> 4,472,529;
#   T10I4D100K.dat min_support 0.002 -> 36,071;      0.0005 -> 135,727.
# mushroom at 0.1 also runs ordered => false (the same count) and within the
# default mekatek.basket_work_mem; a cancel during it stops it (the time to
# stop is printed, not asserted: this machine is shared).
set -euo pipefail
dir=${MK_SHARED:-}/data
if [ -z "${MK_SHARED:-}" ] || [ ! -r "$dir/mushroom.dat" ] || [ ! -r "$dir/T10I4D100K.dat" ]; then
    echo "skip: ../shared/data/mushroom.dat or T10I4D100K.dat is not available (MK_SHARED unset)"
    exit 77
fi

db=mekatek_basket_fimi
psql -Xq -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
trap 'psql -Xq -d postgres -c "DROP DATABASE IF EXISTS $db"' EXIT
run() { psql -X -v ON_ERROR_STOP=1 -d "$db" "$@"; }

# mushroom.dat ends every line with a blank: btrim, then one int per item
run -q <<SQL
CREATE EXTENSION mekatek CASCADE;
CREATE TABLE raw (ds text, line text);
\copy raw (line) FROM '$dir/mushroom.dat'
UPDATE raw SET ds = 'mushroom';
\copy raw (line) FROM '$dir/T10I4D100K.dat'
UPDATE raw SET ds = 't10' WHERE ds IS NULL;
CREATE TABLE basket AS SELECT ds, string_to_array(btrim(line), ' ', '')::int[] AS items FROM raw;
VACUUM ANALYZE basket;
SQL

result=$(run -At <<'SQL'
SELECT 'mushroom_baskets ' || count(*) FROM basket WHERE ds = 'mushroom';
SELECT 't10_baskets ' || count(*) FROM basket WHERE ds = 't10';
SELECT 'mushroom_0.2 ' || count(*) FROM mekatek.apriori('SELECT items FROM basket WHERE ds = ''mushroom''', 0.2, 0.5);
SELECT 'mushroom_0.1 ' || count(*) FROM mekatek.apriori('SELECT items FROM basket WHERE ds = ''mushroom''', 0.1, 0.5);
SELECT 'mushroom_0.1_unordered ' || count(*)
  FROM mekatek.apriori('SELECT items FROM basket WHERE ds = ''mushroom''', 0.1, 0.5, ordered => false);
SELECT 't10_0.002 ' || count(*) FROM mekatek.apriori('SELECT items FROM basket WHERE ds = ''t10''', 0.002, 0.5);
SELECT 't10_0.0005 ' || count(*) FROM mekatek.apriori('SELECT items FROM basket WHERE ds = ''t10''', 0.0005, 0.5);
SQL
)
echo "$result"
fail=0
expect() {
    if grep -qx "$1" <<<"$result"; then echo "ok: $1"; else echo "FAILED: expected $1"; fail=1; fi
}
expect "mushroom_baskets 8124"
expect "t10_baskets 100000"
expect "mushroom_0.2 377677"
expect "mushroom_0.1 4472529"
expect "mushroom_0.1_unordered 4472529"
expect "t10_0.002 36071"
expect "t10_0.0005 135727"

# Cancellation: statement_timeout stands in for a cancel; the run stops with
# 57014 before it would finish.
cancel=$(run -At 2>&1 <<'SQL' || true
SET statement_timeout = '300ms';
SELECT clock_timestamp() AS t0 \gset
\set ON_ERROR_STOP 0
SELECT count(*) FROM mekatek.apriori('SELECT items FROM basket WHERE ds = ''mushroom''', 0.1, 0.5);
\set ON_ERROR_STOP 1
RESET statement_timeout;
SELECT 'stopped_after ' || round(extract(epoch FROM clock_timestamp() - :'t0')::numeric - 0.3, 3) || ' s past the cancel';
SQL
)
echo "$cancel"
if grep -q 'canceling statement due to statement timeout' <<<"$cancel"; then echo "ok: cancelled"; else echo "FAILED: not cancelled"; fail=1; fi
[ "$fail" = 0 ] || exit 1
echo "mushroom.dat and T10I4D100K.dat: the reference rule counts"
