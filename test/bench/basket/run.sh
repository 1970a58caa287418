#!/usr/bin/env bash
# basket benchmark on ../shared/data/retail.dat (88,162 baskets) at
# min_support 0.001 and min_confidence 0.5, side by side in one run:
#   - mekatek.apriori reading a table (one int[] per basket, and
#     (basket_id, item) rows), all rule lengths and max_len 3;
#   - the SQL peer (peer.sql): Apriori by self-joins, pairs and triples;
#   - the reference: Christian Borgelt's apriori, ~0.16 s wall on this kind
#     of machine reading its text file (the issue's figure: the binary is not
#     available here, no network).
# Prints times (best and median of several runs; the peer runs once or
# MK_BENCH_PEER_RUNS times), the ratio, rule counts and peak memory.
# Uses $PGHOST/$PGPORT when set, else starts a private cluster on
# MK_BENCH_PORT or MK_TEST_PORT+41 (test/harness/common.sh).  Not part of `make test`.
source "$(dirname "$0")/../../harness/common.sh"
shared=${MK_SHARED:-$MK_ROOT/../shared}
data=$shared/data/retail.dat
if [ ! -r "$data" ]; then
    echo "skip: $data is not available"
    exit 77
fi
runs=${MK_BENCH_RUNS:-7}
peer_runs=${MK_BENCH_PEER_RUNS:-1}

if [ -z "${PGPORT:-}" ]; then
    port=${MK_BENCH_PORT:-$(mk_port bench_basket)}
    bindir=$(bash "$MK_ROOT/test/harness/stage.sh" | tail -n 1)
    bash "$MK_ROOT/test/harness/cluster.sh" fresh bench-basket "$port" "$bindir" >/dev/null
    trap 'bash "$MK_ROOT/test/harness/cluster.sh" stop bench-basket "$bindir"' EXIT
    export PGHOST=$MK_BUILD/bench-basket/run PGPORT=$port PGUSER=postgres PATH=$bindir:$PATH
fi
db=mekatek_bench_basket
psql -Xq -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
q() { psql -X -v ON_ERROR_STOP=1 -d "$db" "$@"; }

mk_log "loading retail.dat"
q -q <<SQL
CREATE EXTENSION mekatek CASCADE;
CREATE TABLE retail_line_raw (line text);
\copy retail_line_raw FROM '$data'
CREATE TABLE retail_basket AS
    SELECT row_number() OVER () AS basket_id, string_to_array(line, ' ', '')::int[] AS items
      FROM retail_line_raw;
CREATE TABLE retail_item AS
    SELECT basket_id, item FROM retail_basket, unnest(items) AS item WHERE item IS NOT NULL;
VACUUM ANALYZE retail_basket, retail_item;
-- Wall time of a statement run n times in this backend (warm cache), ms.
-- This backend's CPU time (user + system), ms, from /proc (10 ms ticks).
CREATE FUNCTION bench_cpu_ms() RETURNS float8 LANGUAGE sql AS
\$\$ SELECT (f[14]::float8 + f[15]::float8) * 10
     FROM regexp_split_to_array(split_part(pg_read_file('/proc/self/stat'), ') ', 2), ' ') AS s(f0),
          LATERAL (SELECT ARRAY['', ''] || f0 AS f) x \$\$;
CREATE FUNCTION bench_ms(stmt text, n int)
RETURNS TABLE (best float8, median float8, result bigint, cpu float8)
LANGUAGE plpgsql AS \$\$
DECLARE
    t0 timestamptz;
    c0 float8 := bench_cpu_ms();
    ms float8[] := '{}';
    r bigint;
BEGIN
    FOR i IN 1 .. n LOOP
        t0 := clock_timestamp();
        EXECUTE stmt INTO r;
        ms := ms || extract(epoch FROM clock_timestamp() - t0)::float8 * 1000;
    END LOOP;
    RETURN QUERY SELECT min(m), percentile_cont(0.5) WITHIN GROUP (ORDER BY m), r,
                        (bench_cpu_ms() - c0) / n FROM unnest(ms) m;
END \$\$;
-- The backend's peak resident memory so far (VmHWM), kB.
CREATE FUNCTION bench_hwm_kb() RETURNS bigint LANGUAGE sql AS
\$\$ SELECT (regexp_match(pg_read_file('/proc/self/status'), 'VmHWM:\s+(\d+)'))[1]::bigint \$\$;
SQL

# One measurement in a fresh backend: prints "best median result hwm_delta_kB
# engine_peak_bytes" (engine peak from the engine's DEBUG1 line, "-" for the
# peer).
measure() { # stmt runs
    local out
    out=$(q -At 2>&1 <<SQL
SELECT bench_hwm_kb() AS hwm0 \gset
SET client_min_messages = debug1;
SELECT best, median, result, cpu FROM bench_ms(\$stmt\$$1\$stmt\$, $2);
RESET client_min_messages;
SELECT bench_hwm_kb() - :hwm0;
SQL
)
    local nums peak
    nums=$(grep -E '^[0-9.]+\|' <<<"$out" | tail -n 1 | tr '|' ' ')
    peak=$(grep -oE 'peak [0-9]+ bytes' <<<"$out" | tail -n 1 | grep -oE '[0-9]+' || echo -)
    echo "$nums $(grep -E '^-?[0-9]+$' <<<"$out" | tail -n 1) ${peak:--}"
}

ms=0.001; mc=0.5; minc=89
mk_log "mekatek.apriori ($runs runs each)"
read -r m_best m_med m_rules m_cpu m_hwm m_peak < <(measure \
    "SELECT count(*) FROM mekatek.apriori('SELECT items FROM retail_basket', $ms, $mc)" "$runs")
read -r c_best c_med c_rules c_cpu c_hwm c_peak < <(measure \
    "SELECT count(*) FROM mekatek.apriori('SELECT basket_id, item FROM retail_item', $ms, $mc)" "$runs")
read -r m3_best m3_med m3_rules m3_cpu m3_hwm m3_peak < <(measure \
    "SELECT count(*) FROM mekatek.apriori('SELECT items FROM retail_basket', $ms, $mc, 3)" "$runs")
read -r c3_best c3_med c3_rules c3_cpu c3_hwm c3_peak < <(measure \
    "SELECT count(*) FROM mekatek.apriori('SELECT basket_id, item FROM retail_item', $ms, $mc, 3)" "$runs")

mk_log "SQL peer ($peer_runs run(s)); takes a while"
# One peer run in a fresh backend: "wall_ms rules hwm_delta_kB cpu_ms"
# (cpu: this backend only, so with parallel workers it undercounts).
peer_run() { # psql SET commands
    q -q -At -v minc=$minc -v minconf=$mc 2>/dev/null <<SQL | grep '^peer ' | cut -d' ' -f2-
$1
SELECT bench_hwm_kb() AS hwm0 \gset
SELECT bench_cpu_ms() AS c0 \gset
SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
\i $(dirname "$0")/peer.sql
SELECT 'peer ' || (extract(epoch FROM clock_timestamp()) - :t0) * 1000 || ' '
       || (SELECT count(*) FROM peer_rule) || ' ' || bench_hwm_kb() - :hwm0 || ' '
       || bench_cpu_ms() - :c0;
SQL
}
p_times=()
for _ in $(seq "$peer_runs"); do
    read -r p_ms p_rules p_hwm p_cpu_par < <(peer_run "")
    p_times+=("$p_ms")
done
read -r p_best p_med < <(printf '%s\n' "${p_times[@]}" | sort -g | awk '{ a[NR] = $1 } END { print a[1], a[int((NR + 1) / 2)] }')
# the same in one process, for a CPU-time ratio that other load does not skew
mk_log "SQL peer without parallel workers"
read -r s_ms s_rules s_hwm s_cpu < <(peer_run "SET max_parallel_workers_per_gather = 0;")
temp_mb=$(q -At -c "SELECT round(temp_bytes / 1048576.0, 1) FROM pg_stat_database WHERE datname = current_database()")

mb() { [ "$1" = - ] && echo - || awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1048576 }'; }
kb() { awk -v k="$1" 'BEGIN { printf "+%.1f MB", k / 1024 }'; }
s() { awk -v m="$1" 'BEGIN { printf "%.3f s", m / 1000 }'; }

echo
echo "basket benchmark: retail.dat, 88,162 baskets, min_support $ms (count >= $minc), min_confidence $mc"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) (shared machine: figures are noisy)"
echo
printf '%-44s %6s %10s %10s %10s %12s %14s\n' "what" "rules" "best" "median" "cpu/run" "engine peak" "backend HWM"
printf '%-44s %6s %10s %10s %10s %12s %14s\n' "mekatek.apriori, int[] per basket" "$m_rules" "$(s "$m_best")" "$(s "$m_med")" "$(s "$m_cpu")" "$(mb "$m_peak")" "$(kb "$m_hwm")"
printf '%-44s %6s %10s %10s %10s %12s %14s\n' "mekatek.apriori, (basket_id, item) rows" "$c_rules" "$(s "$c_best")" "$(s "$c_med")" "$(s "$c_cpu")" "$(mb "$c_peak")" "$(kb "$c_hwm")"
printf '%-44s %6s %10s %10s %10s %12s %14s\n' "mekatek.apriori max_len 3, int[] per basket" "$m3_rules" "$(s "$m3_best")" "$(s "$m3_med")" "$(s "$m3_cpu")" "$(mb "$m3_peak")" "$(kb "$m3_hwm")"
printf '%-44s %6s %10s %10s %10s %12s %14s\n' "mekatek.apriori max_len 3, (basket_id, item)" "$c3_rules" "$(s "$c3_best")" "$(s "$c3_med")" "$(s "$c3_cpu")" "$(mb "$c3_peak")" "$(kb "$c3_hwm")"
printf '%-44s %6s %10s %10s %10s %12s %14s\n' "SQL self-join Apriori peer, pairs+triples" "$p_rules" "$(s "$p_best")" "$(s "$p_med")" "-" "-" "$(kb "$p_hwm")"
printf '%-44s %6s %10s %10s %10s %12s %14s\n' "  the same, no parallel workers" "$s_rules" "$(s "$s_ms")" "$(s "$s_ms")" "$(s "$s_cpu")" "-" "$(kb "$s_hwm")"
echo "  (peer: default parallel query settings; temp files written: ${temp_mb:-0} MB in total)"
echo "  (cpu/run: the backend's user+system time, 10 ms ticks, less sensitive to other load than wall time;"
echo "   backend HWM: growth of the backend's peak RSS, which includes the shared buffers it touched)"
echo
awk -v p="$p_best" -v a="$m3_best" -v c="$c3_best" -v pr="$p_rules" -v ar="$m3_rules" 'BEGIN {
    printf "what both compute (rules of 2..3 items, %d vs %d), wall: SQL peer / mekatek = %.0fx (int[] table), %.0fx ((basket_id, item) table, the peer\x27s own input)\n", pr, ar, p / a, p / c }'
awk -v p="$s_cpu" -v a="$m3_cpu" -v c="$c3_cpu" 'BEGIN {
    printf "  cpu, one process each: SQL peer / mekatek = %.0fx (int[] table), %.0fx ((basket_id, item) table)\n", p / a, p / c }'
awk -v a="$m_best" -v am="$m_med" -v ac="$m_cpu" 'BEGIN {
    printf "against the reference (Borgelt apriori, ~0.160 s, figure from the issue, not run here):\n";
    printf "  mekatek.apriori from an int[] table: best %.3f s = %.2fx, median %.3f s = %.2fx, cpu %.3f s = %.2fx (goal: at most 2x)\n", a / 1000, a / 160, am / 1000, am / 160, ac / 1000, ac / 160 }'
[ "$m_rules" = 5731 ] && [ "$c_rules" = 5731 ] && [ "$m3_rules" = "$p_rules" ] && [ "$s_rules" = "$p_rules" ] \
    || { echo "rule counts disagree"; exit 1; }

# Then the issue-23 matrix against Borgelt's programs (skipped without
# MK_BORGELT_SRC, saying so), on this same server.
echo
bash "$(dirname "$0")/borgelt.sh"
