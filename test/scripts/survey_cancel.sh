#!/usr/bin/env bash
# survey cancellation: mekatek.kmeans on 10,000,000 generated points stops
# with SQLSTATE 57014 (query_canceled) soon after statement_timeout, in
# each phase of a run: while the points stream in, while k-means++ seeds
# (n x k distances) and while Lloyd iterates.  The bound (timeout + 1 s)
# is the acceptance bound, not a performance measurement; the elapsed
# times are printed.
set -euo pipefail
db=mekatek_survey_cancel
psql() { command psql -X -v ON_ERROR_STOP=1 -q "$@"; }

psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
trap 'psql -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true' EXIT
psql -d $db -c "CREATE EXTENSION mekatek CASCADE"

points="SELECT i, ARRAY[(i % 1000) * 0.001 + sin(i), cos(i)] FROM generate_series(1, 10000000) i"
fail=0
# timeout_ms  description  statement
run() {
    local timeout=$1 what=$2 sql=$3 t0 t1 out state ms
    t0=$(date +%s%N)
    out=$(command psql -X -d $db -v VERBOSITY=verbose 2>&1 <<SQL || true
SET mekatek.survey_work_mem = '3GB';
SET statement_timeout = $timeout;
\set VERBOSITY verbose
$sql;
SQL
)
    t1=$(date +%s%N)
    ms=$(( (t1 - t0) / 1000000 ))
    state=$(printf '%s\n' "$out" | sed -n 's/^ERROR: *\([0-9A-Z]\{5\}\):.*/\1/p' | head -n 1)
    echo "$what: SQLSTATE ${state:-none} after $ms ms (statement_timeout $timeout ms)"
    if [ "$state" != 57014 ] || [ "$ms" -gt $((timeout + 1000)) ]; then
        printf '%s\n' "$out" | head -n 5
        fail=1
    fi
}
run 1000 "reading 10,000,000 points" \
    "SELECT mekatek.kmeans('$points', 8)"
# Seeding and iterating: a fixed set in a table, read in well under the timeout.
psql -d $db -c "SET mekatek.survey_work_mem = '3GB'" \
    -c "CREATE UNLOGGED TABLE pt AS $points" >/dev/null
t0=$(date +%s%N)
psql -d $db -c "SET mekatek.survey_work_mem = '3GB'" \
    -c "SELECT num_iterations FROM mekatek.kmeans('SELECT * FROM pt', 1, max_iter => 1)" >/dev/null
read_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "one pass over the table: $read_ms ms"
run $((read_ms + 1500)) "k-means++ seeding k = 1000" \
    "SELECT mekatek.kmeans('SELECT * FROM pt', 1000)"
run $((read_ms + 1500)) "Lloyd iterations" \
    "SELECT mekatek.kmeans('SELECT * FROM pt', 200, 'random', max_iter => 1000000, tol => 0)"
[ $fail = 0 ] && echo "cancelled within a second in every phase"
exit $fail
