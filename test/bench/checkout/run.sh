#!/usr/bin/env bash
# Checkout throughput: mekatek.checkout (C triggers) against peer.checkout
# (the same sale in PL/pgSQL), pgbench with 8 and 16 clients, 3-line sales
# over 10,000 products, uniform and hot-product mixes, in one run on one
# private cluster.  Then the ledger invariant and no negative stock.
#   MK_BENCH_SECONDS (default 10) per measurement, MK_BENCH_ROUNDS (3):
#   the two sides alternate, round after round, and the median counts, so
#   a burst of other load on the machine hits both.  synchronous_commit is
#   off: with it on, both sides wait on the same WAL flush and the figure
#   measures the disk, not the sale.
source "$(dirname "$0")/../../harness/common.sh"
here=$(cd "$(dirname "$0")" && pwd)
port=${MK_BENCH_PORT:-$(mk_port bench_checkout)}
secs=${MK_BENCH_SECONDS:-10}
rounds=${MK_BENCH_ROUNDS:-3}

make -s -C "$MK_ROOT" all >/dev/null
bindir=$(bash "$MK_ROOT/test/harness/stage.sh" | tail -n 1)
bash "$MK_ROOT/test/harness/cluster.sh" fresh bench-checkout "$port" "$bindir"
[ "${MK_BENCH_KEEP:-0}" = 1 ] || trap 'bash "$MK_ROOT/test/harness/cluster.sh" stop bench-checkout "$bindir"' EXIT
export PGHOST=$MK_BUILD/bench-checkout/run PGPORT=$port PGUSER=postgres PGDATABASE=bench
psql -Xq -d postgres -c "CREATE DATABASE bench" -c "ALTER SYSTEM SET synchronous_commit = off" -c "SELECT pg_reload_conf()"
(cd "$here" && psql -Xq -v ON_ERROR_STOP=1 -f setup.sql >/dev/null)

work=$MK_BUILD/bench-checkout/scripts
mkdir -p "$work"
for side in mekatek peer; do
    for mix in uniform hot; do
        first='random(1, 10000)'
        [ "$mix" = hot ] && first='1'
        cat >"$work/$side-$mix.pgbench" <<SCRIPT
\set a $first
\set b random(1, 10000)
\set c random(1, 10000)
SELECT $side.checkout(1, jsonb_build_array(
    jsonb_build_object('sku', 'SKU' || :a, 'qty', 1),
    jsonb_build_object('sku', 'SKU' || :b, 'qty', 2),
    jsonb_build_object('sku', 'SKU' || :c, 'qty', 1)));
SCRIPT
    done
done

tps() { # script clients -> tps
    "$bindir/pgbench" -n -f "$1" -c "$2" -j 2 -T "$secs" --max-tries=20 2>&1 \
        | sed -n 's/^tps = \([0-9.]*\) .*/\1/p'
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

printf '%-8s %-8s %16s %16s %8s\n' mix clients "mekatek sales/s" "peer sales/s" ratio
for mix in uniform hot; do
    for clients in 8 16; do
        ms=() ps=()
        for ((r = 0; r < rounds; r++)); do
            ms+=("$(tps "$work/mekatek-$mix.pgbench" "$clients")")
            ps+=("$(tps "$work/peer-$mix.pgbench" "$clients")")
        done
        m=$(printf '%s\n' "${ms[@]}" | median)
        p=$(printf '%s\n' "${ps[@]}" | median)
        printf '%-8s %-8s %16.0f %16.0f %7.2fx   (rounds: mekatek %s; peer %s)\n' "$mix" "$clients" "$m" "$p" \
            "$(echo "$m / $p" | bc -l)" "${ms[*]%.*}" "${ps[*]%.*}"
    done
done

# CPU per sale, one client, fixed count: the backend's own CPU time from
# /proc, which other load on the machine disturbs far less than sales/s.
cpu_per_sale() { # script -> microseconds of backend CPU per sale
    local n=5000 pid t0 t=0
    "$bindir/pgbench" -n -f "$1" -c 1 -t "$n" >/dev/null 2>&1 &
    local bench=$!
    for _ in $(seq 100); do
        pid=$(psql -XAtc "SELECT pid FROM pg_stat_activity WHERE application_name = 'pgbench' LIMIT 1")
        [ -n "$pid" ] && break
        sleep 0.05
    done
    t0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    while t1=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null); do t=$t1; sleep 0.02; done
    wait "$bench"
    echo $(( (t - t0) * 1000000 / $(getconf CLK_TCK) / n ))
}
echo
printf '%-8s %24s %24s %8s\n' mix "mekatek CPU/sale (us)" "peer CPU/sale (us)" ratio
for mix in uniform hot; do
    m=$(cpu_per_sale "$work/mekatek-$mix.pgbench")
    p=$(cpu_per_sale "$work/peer-$mix.pgbench")
    printf '%-8s %24s %24s %7.2fx   (peer CPU / mekatek CPU)\n' "$mix" "$m" "$p" "$(echo "$p / $m" | bc -l)"
done

echo
psql -Xq -At <<'SQL'
SELECT 'mekatek sales: ' || count(*) FROM mekatek.sale WHERE status = 'paid';
SELECT 'peer sales:    ' || count(*) FROM peer.sale WHERE status = 'paid';
SELECT 'ledger invariant broken on ' || count(*) || ' batches (want 0)' FROM (
    SELECT b.batch_id FROM mekatek.batch b LEFT JOIN mekatek.stock_movement m USING (batch_id)
     GROUP BY b.batch_id HAVING b.qty_on_hand <> coalesce(sum(m.qty_delta), 0)) x;
SELECT 'negative batches: ' || count(*) || ' (want 0)' FROM mekatek.batch WHERE qty_on_hand < 0;
SELECT 'units sold = units out of stock: ' ||
       ((SELECT sum(qty) FROM mekatek.sale_line) = -(SELECT sum(qty_delta) FROM mekatek.stock_movement WHERE reason = 'sale'));
SQL
