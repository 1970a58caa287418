#!/usr/bin/env bash
# Checkout throughput: mekatek.checkout (C triggers) against its PL/pgSQL
# peer on copies of the same tables, 3-line sales over 10,000 products,
# uniform and hot-product mixes, in one run on one private cluster:
#   till  the till's sale (issue 15): a line discount, PPN per line, a
#         cash payment with change, a receipt number and the receipt jsonb
#         back; mekatek.checkout(b, lines, payments) against
#         peer.checkout_till; 1, 8 and 32 clients over 4 branches;
#   core  0.1.0's call, checkout(b, lines) against peer.checkout (which
#         records no payment and no receipt number); 8 and 16 clients.
# Then backend CPU per sale, the ledger invariant and no negative stock.
#   MK_BENCH_SALES (default "till core") picks the sales to measure.
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
        cat >"$work/core-$side-$mix.pgbench" <<SCRIPT
\set a $first
\set b random(1, 10000)
\set c random(1, 10000)
SELECT $side.checkout(1, jsonb_build_array(
    jsonb_build_object('sku', 'SKU' || :a, 'qty', 1),
    jsonb_build_object('sku', 'SKU' || :b, 'qty', 2),
    jsonb_build_object('sku', 'SKU' || :c, 'qty', 1)));
SCRIPT
        fn=mekatek.checkout
        [ "$side" = peer ] && fn=peer.checkout_till
        cat >"$work/till-$side-$mix.pgbench" <<SCRIPT
\set a $first
\set b random(1, 10000)
\set c random(1, 10000)
\set branch random(1, 4)
SELECT $fn(:branch, jsonb_build_array(
    jsonb_build_object('sku', 'SKU' || :a, 'qty', 1, 'discount_percent', 5),
    jsonb_build_object('sku', 'SKU' || :b, 'qty', 2),
    jsonb_build_object('sku', 'SKU' || :c, 'qty', 1)),
    '[{"method": "cash", "amount": 100000}]');
SCRIPT
    done
done
sales=${MK_BENCH_SALES:-till core}

tps() { # script clients -> tps
    "$bindir/pgbench" -n -f "$1" -c "$2" -j 2 -T "$secs" --max-tries=20 2>&1 \
        | sed -n 's/^tps = \([0-9.]*\) .*/\1/p'
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

printf '%-5s %-8s %-8s %16s %16s %8s\n' sale mix clients "mekatek sales/s" "peer sales/s" ratio
for sale in $sales; do
    clist="8 16"
    [ "$sale" = till ] && clist="1 8 32"
    for mix in uniform hot; do
        for clients in $clist; do
            ms=() ps=()
            for ((r = 0; r < rounds; r++)); do
                ms+=("$(tps "$work/$sale-mekatek-$mix.pgbench" "$clients")")
                ps+=("$(tps "$work/$sale-peer-$mix.pgbench" "$clients")")
            done
            m=$(printf '%s\n' "${ms[@]}" | median)
            p=$(printf '%s\n' "${ps[@]}" | median)
            printf '%-5s %-8s %-8s %16.0f %16.0f %7.2fx   (rounds: mekatek %s; peer %s)\n' "$sale" "$mix" "$clients" \
                "$m" "$p" "$(echo "$m / $p" | bc -l)" "${ms[*]%.*}" "${ps[*]%.*}"
        done
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
printf '%-5s %-8s %24s %24s %8s\n' sale mix "mekatek CPU/sale (us)" "peer CPU/sale (us)" ratio
for sale in $sales; do
    for mix in uniform hot; do
        m=$(cpu_per_sale "$work/$sale-mekatek-$mix.pgbench")
        p=$(cpu_per_sale "$work/$sale-peer-$mix.pgbench")
        printf '%-5s %-8s %24s %24s %7.2fx   (peer CPU / mekatek CPU)\n' "$sale" "$mix" "$m" "$p" "$(echo "$p / $m" | bc -l)"
    done
done

echo
psql -Xq -At <<'SQL'
SELECT 'mekatek sales: ' || count(*) FROM mekatek.sale WHERE status = 'paid';
SELECT 'peer sales:    ' || count(*) FROM peer.sale WHERE status = 'paid';
SELECT 'ledger invariant broken on ' || count(*) || ' batches (want 0)' FROM (
    SELECT b.batch_id FROM mekatek.batch b LEFT JOIN mekatek.stock_movement m USING (batch_id)
     GROUP BY b.batch_id HAVING b.qty_on_hand <> coalesce(sum(m.qty_delta), 0)) x;
SELECT 'negative batches: ' || count(*) || ' (want 0)' FROM mekatek.batch WHERE qty_on_hand < 0;
SELECT 'mekatek receipt numbers unique: ' || (count(DISTINCT receipt_no) = count(receipt_no)) FROM mekatek.sale;
SELECT 'paid sales covered by payments: ' || bool_and(s.total = (SELECT sum(amount) FROM mekatek.payment p WHERE p.sale_id = s.sale_id))
  FROM mekatek.sale s WHERE s.status = 'paid';
SELECT 'units sold = units out of stock: ' ||
       ((SELECT sum(qty) FROM mekatek.sale_line) = -(SELECT sum(qty_delta) FROM mekatek.stock_movement WHERE reason = 'sale'));
SQL
