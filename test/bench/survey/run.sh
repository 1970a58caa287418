#!/usr/bin/env bash
# survey benchmark (issue 20): mekatek.kmeans reading a table against
# scikit-learn's KMeans (peer.py) reading a NumPy array already in memory,
# side by side in one run, on the same points, from the same initial
# centroids, with n_init 1, tol 0 and the same max_iter, so both stop at
# the same iteration (strict convergence: no point moves).
#
#   bash test/bench/survey/run.sh                     # 1,000,000 x 16, k = 8
#   MK_BENCH_SCALING="100000 1000000 10000000" bash test/bench/survey/run.sh
#
# Points: 8 Gaussian-like blobs in 16 dimensions whose spread makes them
# overlap (so Lloyd needs a few dozen iterations), generated once per size
# into database mekatek_bench_survey with setseed.  Initial centroids: the
# first 8 points.  Mekatek: one statement in a fresh session, time measured
# by the server around the call (table read included), peak memory the
# backend's VmHWM (it includes shared buffers the scan touched).
# scikit-learn 1.2 (Debian): algorithm 'lloyd' and 'elkan', with 1 thread
# and with all cores (2 here); the fit only is timed; peak memory is the
# Python process's maximum RSS (the array included).  Five rounds,
# alternating, medians of wall and CPU time (CPU: the backend's, and the
# Python process's over all its threads); the objective of both must agree within 1e-6 relative.
#
# The machine is shared: figures are noisy, compare ratios within one run.
source "$(dirname "$0")/../../harness/common.sh"
set -euo pipefail

d=16
k=8
max_iter=${MK_BENCH_MAX_ITER:-300}
rounds=${MK_BENCH_ROUNDS:-5}
sizes=${MK_BENCH_SCALING:-1000000}
py=/usr/bin/python3
if ! $py -c 'import sklearn, numpy, threadpoolctl' 2>/dev/null; then
    echo "skip: scikit-learn is not installed (python3-sklearn, python3-numpy)"
    exit 77
fi
port=${MK_BENCH_PORT:-$(mk_port bench_survey)}
db=mekatek_bench_survey
bindir=$(bash "$MK_ROOT/test/harness/stage.sh" | tail -n 1)
if [ -d "$MK_BUILD/bench-survey/data" ]; then chmod 700 "$MK_BUILD/bench-survey/data"; fi
bash "$MK_ROOT/test/harness/cluster.sh" start bench-survey "$port" "$bindir" >/dev/null
trap 'bash "$MK_ROOT/test/harness/cluster.sh" stop bench-survey "$bindir" >/dev/null' EXIT
export PGHOST=$MK_BUILD/bench-survey/run PGPORT=$port PGUSER=postgres
psql() { "$bindir/psql" -X -v ON_ERROR_STOP=1 "$@"; }
out=$MK_BUILD/bench-survey/out
mkdir -p "$out"; chmod a+rwx "$out"

psql -d postgres -qtAc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1 \
    || psql -d postgres -qc "CREATE DATABASE $db"
psql -d $db -qc "CREATE EXTENSION IF NOT EXISTS mekatek CASCADE" -c "ALTER EXTENSION mekatek UPDATE" 2>/dev/null

median() { sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

printf '%-10s %-22s %9s %9s %6s %10s %22s\n' points method seconds cpu_s iters peak_MiB objective
for n in $sizes; do
    t=pt_$n
    if [ "$(psql -d $db -tAc "SELECT count(*) FROM pg_class WHERE relname = '$t'")" = 0 ]; then
        mk_log "generating $n points ($d dimensions, $k blobs)"
        psql -d $db -q <<SQL
SELECT setseed(0.2026);
CREATE TABLE blob_$n AS
    SELECT b, array_agg(random() * 20 - 10 ORDER BY j) AS c
      FROM generate_series(0, $k - 1) b, generate_series(1, $d) j GROUP BY b;
CREATE TABLE $t (id bigint PRIMARY KEY, p float8[] NOT NULL);
INSERT INTO $t
SELECT i, ARRAY(SELECT bl.c[j] + (random() + random() + random() - 1.5) * 12
                  FROM generate_series(1, $d) j)
  FROM (SELECT i, floor(random() * $k)::int AS b FROM generate_series(1, $n) i) x
  JOIN blob_$n bl ON bl.b = x.b;
VACUUM ANALYZE $t;
SQL
    fi
    psql -d $db -qAtc "\\copy (SELECT array_to_string(p, ',') FROM $t ORDER BY id) TO '$out/points.csv'"
    psql -d $db -qAtc "\\copy (SELECT array_to_string(p, ',') FROM $t WHERE id <= $k ORDER BY id) TO '$out/init.csv'"
    init="(SELECT array_agg(p ORDER BY id) FROM $t WHERE id <= $k)"
    : > "$out/mk_$n"; : > "$out/sk_$n"
    for r in $(seq 1 "$rounds"); do
        # Mekatek: server-side time of the call; VmHWM of this backend.
        psql -d $db -qAt -F ' ' <<SQL >> "$out/mk_$n"
SET mekatek.survey_work_mem = '8GB';
CREATE FUNCTION pg_temp.cpu_s() RETURNS float8 LANGUAGE sql AS
\$\$ SELECT (f[12]::float8 + f[13]::float8) / 100
     FROM regexp_split_to_array(split_part(pg_read_file('/proc/self/stat'), ') ', 2), ' ') AS f \$\$;
SELECT pg_backend_pid() AS pid \gset
SELECT pg_temp.cpu_s() AS c0 \gset
SELECT clock_timestamp() AS t0 \gset
SELECT num_iterations, objective_fn FROM mekatek.kmeans('SELECT id, p FROM $t', $k, 'given', $max_iter, 0, 1, 0, $init) \gset
SELECT extract(epoch FROM clock_timestamp() - :'t0'), :num_iterations, :objective_fn,
       (SELECT (regexp_match(pg_read_file('/proc/' || :pid || '/status'), 'VmHWM:\s+(\d+)'))[1]::bigint / 1024),
       pg_temp.cpu_s() - :c0;
SQL
        $py "$MK_ROOT/test/bench/survey/peer.py" "$out/points.csv" "$out/init.csv" $d $max_iter 0 \
            lloyd,elkan 1,2 2>/dev/null >> "$out/sk_$n"
    done
    mk_time=$(awk '{print $1}' "$out/mk_$n" | median)
    mk_cpu=$(awk '{print $5}' "$out/mk_$n" | median)
    mk_line=$(head -n 1 "$out/mk_$n")
    mk_obj=$(echo "$mk_line" | awk '{print $3}')
    printf '%-10s %-22s %9.3f %9.3f %6s %10s %22s\n' $n "mekatek.kmeans (table)" "$mk_time" "$mk_cpu" \
        "$(echo "$mk_line" | awk '{print $2}')" "$(awk '{print $4}' "$out/mk_$n" | sort -n | tail -n 1)" "$mk_obj"
    for algo in lloyd elkan; do
        for th in 1 2; do
            sk_time=$(awk -v a=$algo -v t=$th '$1 == a && $2 == t {print $3}' "$out/sk_$n" | median)
            sk_cpu=$(awk -v a=$algo -v t=$th '$1 == a && $2 == t {print $7}' "$out/sk_$n" | median)
            line=$(awk -v a=$algo -v t=$th '$1 == a && $2 == t' "$out/sk_$n" | head -n 1)
            sk_obj=$(echo "$line" | awk '{print $5}')
            printf '%-10s %-22s %9.3f %9.3f %6s %10s %22s   ratio %.2fx (cpu %.2fx)  objective rel. diff %.1e\n' $n \
                "sklearn $algo ${th}thr" "$sk_time" "$sk_cpu" "$(echo "$line" | awk '{print $4}')" \
                "$(echo "$line" | awk '{print $6}')" "$sk_obj" \
                "$(echo "$mk_time / $sk_time" | bc -l)" "$(echo "$mk_cpu / $sk_cpu" | bc -l)" \
                "$($py -c "print(abs($mk_obj - $sk_obj) / abs($sk_obj))")"
        done
    done
    rm -f "$out/points.csv"
done
