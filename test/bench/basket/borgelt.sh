#!/usr/bin/env bash
# basket benchmark against Christian Borgelt's apriori, fpgrowth and eclat
# (the programs arules and pyfim wrap), side by side and interleaved: each
# round runs mekatek.apriori reading a table, then the three programs
# reading the same baskets as a text file, on every row of the matrix:
#   retail.dat at min_support 0.01 / 0.001 / 0.0005 / 0.0002,
#   T10I4D100K at 0.002 / 0.0005, mushroom at 0.2 / 0.1,
#   a generated dense set (5,000 baskets, 40 items each present with
#   probability 0.5) at 0.05,
#   retail.dat copied to 1,000,000 baskets (and 5,000,000 with
#   MK_BENCH_5M=1) at 0.001;
# min_confidence 0.5, rules of two or more items, rule support = body and
# head (Borgelt's -o), the settings of ../shared/data/README.txt.
# mekatek runs in both call forms: in FROM (`SELECT count(*) FROM
# mekatek.apriori(...)`, which PostgreSQL always materialises in a
# tuplestore) and in a select list (`SELECT count(*) FROM (SELECT
# mekatek.apriori(...)) s`, where the rules stream, one per call).
# Prints, per row, the best wall time, the best CPU time (the backend's
# utime+stime from /proc; the peers' user+sys: much less sensitive to the
# machine's load than wall time) and the peak memory of each, every ratio
# (mekatek / the fastest peer), and checks that the rule counts agree.
#
# The peers are built from source when MK_BORGELT_SRC names a tree holding
# Borgelt's apriori/src, fpgrowth/src, eclat/src, tract/src, math/src and
# util/src (public, e.g. the pyfim repositories on GitHub; nothing of it is
# kept here); without it the peers are skipped, saying so, and only
# mekatek's figures are printed.
#
# MK_BENCH_RUNS rounds (default 3), MK_BENCH_ROWS a regex on the row names
# to run only some.  Uses $PGHOST/$PGPORT when set, else a private cluster
# on MK_BENCH_PORT or MK_TEST_PORT+41.  Not part of `make test`.
source "$(dirname "$0")/../../harness/common.sh"
shared=${MK_SHARED:-$MK_ROOT/../shared}
for f in retail.dat mushroom.dat T10I4D100K.dat; do
    [ -r "$shared/data/$f" ] || { echo "skip: $shared/data/$f is not available"; exit 77; }
done
runs=${MK_BENCH_RUNS:-3}
rows_re=${MK_BENCH_ROWS:-.}
# not $MK_BUILD/bench-borgelt: that is the private cluster, wiped when it starts
work=$MK_BUILD/bench-borgelt-data
mkdir -p "$work"

peers=()
if [ -n "${MK_BORGELT_SRC:-}" ]; then
    for p in apriori fpgrowth eclat; do
        make -s -C "$MK_BORGELT_SRC/$p/src" "$p" >"$work/build-$p.log" 2>&1 \
            || mk_die "building $p in $MK_BORGELT_SRC failed: $work/build-$p.log"
        peers+=("$p")
    done
else
    echo "peers skipped: MK_BORGELT_SRC is unset (give a directory with Borgelt's apriori, fpgrowth and eclat sources)"
fi

# the data as text files (the peers' input) and as int[] tables (mekatek's)
awk 'BEGIN { srand(23); for (t = 0; t < 5000; t++) { l = ""; for (i = 0; i < 40; i++) if (rand() < 0.5) l = l (l == "" ? "" : " ") i; print l } }' \
    >"$work/dense.dat"
awk -v n=1000000 '{ a[NR] = $0 } END { for (i = 0; i < n; i++) print a[i % NR + 1] }' "$shared/data/retail.dat" >"$work/retail1m.dat"
sets=(retail:"$shared/data/retail.dat" t10:"$shared/data/T10I4D100K.dat" mushroom:"$shared/data/mushroom.dat"
      dense:"$work/dense.dat" retail1m:"$work/retail1m.dat")
if [ "${MK_BENCH_5M:-0}" = 1 ]; then
    awk -v n=5000000 '{ a[NR] = $0 } END { for (i = 0; i < n; i++) print a[i % NR + 1] }' "$shared/data/retail.dat" >"$work/retail5m.dat"
    sets+=(retail5m:"$work/retail5m.dat")
fi
matrix=(retail:0.01 retail:0.001 retail:0.0005 retail:0.0002 t10:0.002 t10:0.0005
        mushroom:0.2 mushroom:0.1 dense:0.05 retail1m:0.001)
[ "${MK_BENCH_5M:-0}" = 1 ] && matrix+=(retail5m:0.001)

if [ -z "${PGPORT:-}" ]; then
    port=${MK_BENCH_PORT:-$(mk_port bench_basket)}
    bindir=$(bash "$MK_ROOT/test/harness/stage.sh" | tail -n 1)
    bash "$MK_ROOT/test/harness/cluster.sh" fresh bench-borgelt "$port" "$bindir" >/dev/null
    trap 'bash "$MK_ROOT/test/harness/cluster.sh" stop bench-borgelt "$bindir"' EXIT
    export PGHOST=$MK_BUILD/bench-borgelt/run PGPORT=$port PGUSER=postgres PATH=$bindir:$PATH
fi
db=mekatek_bench_borgelt
psql -Xq -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
q() { psql -X -v ON_ERROR_STOP=1 -d "$db" "$@"; }
q -q <<'SQL'
CREATE EXTENSION mekatek CASCADE;
CREATE FUNCTION bench_hwm_kb() RETURNS bigint LANGUAGE sql AS
$$ SELECT (regexp_match(pg_read_file('/proc/self/status'), 'VmHWM:\s+(\d+)'))[1]::bigint $$;
-- the backend's CPU time (utime + stime, fields 14 and 15 of /proc/self/stat) in ms
CREATE FUNCTION bench_cpu_ms() RETURNS float8 LANGUAGE sql AS
$$ SELECT (split_part(s, ' ', 12)::bigint + split_part(s, ' ', 13)::bigint) * 1000.0 / 100
     FROM (SELECT split_part(pg_read_file('/proc/self/stat'), ') ', 2) AS s) x $$;
SQL
for s in "${sets[@]}"; do
    name=${s%%:*} file=${s#*:}
    printf '%s\n' "${matrix[@]}" | grep -E "$rows_re" | grep -q "^$name:" || continue
    mk_log "loading $name"
    q -q <<SQL
CREATE TABLE raw_$name (line text);
\copy raw_$name FROM '$file'
CREATE TABLE b_$name AS SELECT string_to_array(btrim(line), ' ', '')::int[] AS items FROM raw_$name;
DROP TABLE raw_$name;
VACUUM ANALYZE b_$name;
SQL
done

# mekatek in a fresh backend: "wall_ms rules engine_peak_bytes hwm_delta_kB cpu_ms"
# (the engine's peak from its last DEBUG1 line, after the rules)
mekatek() { # form set support
    local out peak call="mekatek.apriori('SELECT items FROM b_$2', $3, 0.5)" sel
    if [ "$1" = from ]; then sel="SELECT count(*) AS n FROM $call"
    else sel="SELECT count(*) AS n FROM (SELECT $call) s"; fi
    out=$(q -At 2>&1 <<SQL
SELECT bench_hwm_kb() AS hwm0 \gset
SET client_min_messages = debug1;
SELECT clock_timestamp() AS t0, bench_cpu_ms() AS c0 \gset
$sel \gset
SELECT bench_cpu_ms() - :c0 AS cpu \gset
RESET client_min_messages;
SELECT 'run ' || extract(epoch FROM clock_timestamp() - :'t0') * 1000 || ' ' || :n || ' ' || bench_hwm_kb() - :hwm0 || ' ' || :cpu;
SQL
)
    peak=$(grep -oE 'peak [0-9]+ bytes' <<<"$out" | tail -n 1 | grep -oE '[0-9]+')
    grep '^run ' <<<"$out" | awk -v p="${peak:-0}" '{ print $2, $3, p, $4, $5 }'
}
# a peer: "wall_ms rules maxrss_kB cpu_ms"
peer() { # program set support
    local file out
    file=$(printf '%s\n' "${sets[@]}" | sed -n "s/^$2://p")
    out=$( { /usr/bin/time -f "time %e %M %U %S" "$MK_BORGELT_SRC/$1/src/$1" -tr -m2 -o \
             -s"$(awk -v s="$3" 'BEGIN { print s * 100 }')" -c50 "$file" /dev/null; } 2>&1)
    awk '/rule\(s\)/ { match($0, /\[[0-9]+ rule/); r = substr($0, RSTART + 1, RLENGTH - 6) }
         /^time / { print $2 * 1000, r, $3, ($4 + $5) * 1000 }' <<<"$out"
}
# keep the smaller of a new figure and the best so far
keep_min() { # array-name key value
    local -n arr=$1
    [ -n "${arr[$2]:-}" ] && ! awk -v a="$3" -v b="${arr[$2]}" 'BEGIN { exit !(a < b) }' || arr[$2]=$3
}

declare -A best cpu rules mem
forms=(from stream)
progs=(mekatek-from mekatek-stream "${peers[@]}")
for round in $(seq "$runs"); do
    mk_log "round $round of $runs"
    for row in "${matrix[@]}"; do
        grep -qE "$rows_re" <<<"$row" || continue
        set=${row%%:*} sup=${row#*:}
        for f in "${forms[@]}"; do
            read -r ms n peak hwm c < <(mekatek "$f" "$set" "$sup")
            k="$row mekatek-$f"
            keep_min best "$k" "$ms"
            keep_min cpu "$k" "$c"
            rules[$k]=$n mem[$k]=$(( ${peak:-0} / 1024 ))
        done
        for p in "${peers[@]}"; do
            read -r ms n rss c < <(peer "$p" "$set" "$sup")
            k="$row $p"
            keep_min best "$k" "$ms"
            keep_min cpu "$k" "$c"
            rules[$k]=$n mem[$k]=$rss
        done
    done
done

echo
echo "basket vs Borgelt: best of $runs interleaved rounds, min_confidence 0.5; machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "mekatek-from: SELECT count(*) FROM mekatek.apriori(...) (materialised by PostgreSQL);"
echo "mekatek-stream: SELECT count(*) FROM (SELECT mekatek.apriori(...)) s (streamed, one rule per call)"
echo "memory: mekatek = the engine's tracked peak; peers = peak RSS (kB -> MB)"
fail=0
secs() { awk -v m="$1" 'BEGIN { printf "%.3fs", m / 1000 }'; }
for what in wall cpu; do
    echo
    echo "$what time (best of $runs):"
    printf '%-18s %9s' row rules
    for p in "${progs[@]}"; do printf ' %14s' "$p"; done
    printf ' %11s %13s\n' "from ratio" "stream ratio"
    for row in "${matrix[@]}"; do
        grep -qE "$rows_re" <<<"$row" || continue
        line=$(printf '%-18s %9s' "$row" "${rules[$row mekatek-from]}")
        fastest=
        for p in "${progs[@]}"; do
            if [ "$what" = wall ]; then v=${best[$row $p]:-}; else v=${cpu[$row $p]:-}; fi
            if [ -z "$v" ]; then line+=$(printf ' %14s' -); continue; fi
            line+=$(printf ' %14s' "$(secs "$v")")
            case $p in mekatek-*) continue ;; esac
            if [ -z "$fastest" ] || awk -v a="$v" -v b="$fastest" 'BEGIN { exit !(a < b) }'; then fastest=$v; fi
        done
        if [ -n "$fastest" ]; then
            if [ "$what" = wall ]; then a=${best[$row mekatek-from]} b=${best[$row mekatek-stream]}
            else a=${cpu[$row mekatek-from]} b=${cpu[$row mekatek-stream]}; fi
            line+=$(awk -v a="$a" -v b="$b" -v f="$fastest" 'BEGIN { printf " %10.2fx %12.2fx", a / f, b / f }')
        fi
        echo "$line"
    done
done
echo
echo "memory (MB):"
printf '%-18s %9s %9s' row mekatek "(stream)"
for p in "${peers[@]}"; do printf ' %9s' "$p"; done
printf ' %8s\n' "m ratio"
for row in "${matrix[@]}"; do
    grep -qE "$rows_re" <<<"$row" || continue
    line=$(printf '%-18s %9.1f %9.1f' "$row" "$(awk -v k="${mem[$row mekatek-from]}" 'BEGIN { print k / 1024 }')" \
           "$(awk -v k="${mem[$row mekatek-stream]}" 'BEGIN { print k / 1024 }')")
    fastest= fmem=
    for p in "${peers[@]}"; do
        line+=$(printf ' %9.1f' "$(awk -v k="${mem[$row $p]}" 'BEGIN { print k / 1024 }')")
        if [ -z "$fastest" ] || awk -v a="${best[$row $p]}" -v b="$fastest" 'BEGIN { exit !(a < b) }'; then
            fastest=${best[$row $p]} fmem=${mem[$row $p]}
        fi
        [ "${rules[$row $p]}" = "${rules[$row mekatek-from]}" ] || { echo "rule counts disagree on $row: $p ${rules[$row $p]}"; fail=1; }
    done
    [ "${rules[$row mekatek-stream]}" = "${rules[$row mekatek-from]}" ] || { echo "rule counts disagree on $row: the two call forms"; fail=1; }
    [ -n "$fmem" ] && line+=$(awk -v m="${mem[$row mekatek-stream]}" -v f="$fmem" 'BEGIN { printf " %7.2fx", m / f }')
    echo "$line"
done
echo "ratios: mekatek's figure / the fastest peer's (by wall time; the CPU table takes the least CPU of the three); goals <= 1.0x"
echo "m ratio: mekatek's engine peak (stream) / the memory of the peer fastest by wall time"
if [ -n "${best[retail:0.001 mekatek-from]:-}" ] && [ -n "${best[retail1m:0.001 mekatek-from]:-}" ]; then
    awk -v a="${best[retail:0.001 mekatek-from]}" -v b="${best[retail1m:0.001 mekatek-from]}" -v c="${best[retail5m:0.001 mekatek-from]:-}" 'BEGIN {
        pa = a * 1000 / 88162; pb = b * 1000 / 1000000;
        printf "time per basket (us): 88,162: %.2f, 1,000,000: %.2f (%.2fx)", pa, pb, pb / pa;
        if (c != "") printf ", 5,000,000: %.2f (%.2fx)", c * 1000 / 5000000, c * 1000 / 5000000 / pa;
        printf " (goal: within 1.2x)\n" }'
fi
exit $fail
