#!/usr/bin/env bash
# Chain of branch servers (issue 22): replication lag at headquarters under
# the till's load at both branches, and the catch-up after headquarters was
# down while the branches kept selling.  Three private clusters (bench_chain_hq,
# bench_chain_b1, bench_chain_b2 in test/harness/common.sh), wal_level =
# logical, set up with mekatek.chain_setup_*; the till's sale of
# test/bench/checkout (a line discount, PPN, a cash payment, a receipt).
#   1. online   MK_BENCH_SECONDS (default 20) of sales at both branches
#               (MK_BENCH_CLIENTS per branch, default 4; MK_BENCH_RATE caps
#               each branch at that many sales/s, for the long outage) while headquarters
#               receives them; the lag sampled at headquarters every 0.25 s:
#                 age   now() at headquarters minus the sold_at of the
#                       newest sale of the branch it holds (a sale's age
#                       when it arrives, within one sampling period);
#                 replay  pg_stat_replication.replay_lag of headquarters'
#                       subscription at the branch (what the subscriber
#                       reported applied, as time).
#   2. offline  headquarters stopped, the branches sell on for
#               MK_BENCH_OFFLINE_SECONDS (default 20; the issue's hour is
#               MK_BENCH_OFFLINE_SECONDS=3600: about 6 kB of WAL per sale,
#               so ~2 GB kept per branch at 100 sales/s; the clusters here
#               keep it all (max_slot_wal_keep_size = -1, the default): see
#               README "chain", "Offline", on what happens past a limit).
#   3. catch-up headquarters starts again while the branches keep selling
#               (MK_BENCH_SECONDS more); catch-up = from its start until the
#               slot at each branch confirmed the WAL position the branch
#               had when headquarters came back; the backlog in bytes and
#               sales.
# Printed together: sales/s per branch online and offline (the cost of
# streaming to headquarters is their ratio), backend, walsender and apply
# worker CPU per sale (from /proc, far less disturbed by other load than
# sales/s), lag p50/p99, the catch-up.  Then the rows at headquarters equal
# the branches' and the stock invariant holds.
source "$(dirname "$0")/../../harness/common.sh"
secs=${MK_BENCH_SECONDS:-20}
offline=${MK_BENCH_OFFLINE_SECONDS:-20}
clients=${MK_BENCH_CLIENTS:-4}
rate=${MK_BENCH_RATE:-} # sales/s per branch (pgbench -R); unset: as fast as it goes
products=${MK_BENCH_PRODUCTS:-1000}
nodes=(bench_chain_hq bench_chain_b1 bench_chain_b2)
db=bench

make -s -C "$MK_ROOT" all >/dev/null
bindir=$(bash "$MK_ROOT/test/harness/stage.sh" | tail -n 1)
cluster=$MK_ROOT/test/harness/cluster.sh
declare -A port
for n in "${nodes[@]}"; do port[$n]=$(mk_port "$n"); done
export MK_CLUSTER_CONF="wal_level = logical
max_wal_senders = 10
max_replication_slots = 10
max_logical_replication_workers = 6
wal_retrieve_retry_interval = '500ms'
synchronous_commit = off"
for n in "${nodes[@]}"; do bash "$cluster" fresh "$n" "${port[$n]}" "$bindir" >/dev/null & done
wait
for n in "${nodes[@]}"; do
    "$bindir/pg_isready" -q -h "$MK_BUILD/$n/run" -p "${port[$n]}" || mk_die "cluster $n did not start"
done
stop_all() { for n in "${nodes[@]}"; do bash "$cluster" stop "$n" "$bindir"; done; }
[ "${MK_BENCH_KEEP:-0}" = 1 ] || trap 'kill $(jobs -p) 2>/dev/null || true; stop_all' EXIT

q() { # q NODE [psql args]
    local n=$1; shift
    "$bindir/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$MK_BUILD/$n/run" -p "${port[$n]}" -U postgres -d "$db" "$@"
}
conn() { echo "host=127.0.0.1 port=${port[$1]} dbname=$db user=postgres"; }
wait_for() { # wait_for WHAT NODE SQL [seconds]: until SQL returns t
    local i
    for i in $(seq 1 $((${4:-120} * 4))); do
        [ "$(q "$2" -c "$3" 2>/dev/null)" = t ] && return 0
        sleep 0.25
    done
    q "$2" -c "SELECT * FROM mekatek.chain_status" >&2 || true
    mk_die "timed out waiting for $1 at $2"
}
for n in "${nodes[@]}"; do
    "$bindir/psql" -Xq -h "$MK_BUILD/$n/run" -p "${port[$n]}" -U postgres -d postgres -c "CREATE DATABASE $db"
    q "$n" -c "CREATE EXTENSION mekatek CASCADE"
done

# Headquarters: the master data of test/bench/checkout/setup.sql, then the chain.
q bench_chain_hq >/dev/null <<SQL
INSERT INTO mekatek.branch (name) VALUES ('Bench 1'), ('Bench 2');
INSERT INTO mekatek.tax_class (tax_class, rate) VALUES ('exempt', 0);
INSERT INTO mekatek.product (sku, name, price, min_stock)
SELECT 'SKU' || i, 'Product ' || i, 1000 + i % 5000, 10 FROM generate_series(1, $products) i;
UPDATE mekatek.product SET tax_class = 'exempt' WHERE product_id % 3 = 0;
SELECT mekatek.chain_setup_headquarters();
SELECT mekatek.chain_setup_member(1), mekatek.chain_setup_member(2);
SQL
for b in 1 2; do q bench_chain_hq -c "SELECT mekatek.chain_setup_slot($b)" >/dev/null; done
for b in 1 2; do
    n=bench_chain_b$b
    q "$n" -c "SELECT mekatek.chain_setup_branch($b)" >/dev/null
    q "$n" -c "SELECT mekatek.chain_setup_slot($b)" >/dev/null
    q "$n" -c "SELECT mekatek.chain_setup_subscribe('$(conn bench_chain_hq)')" >/dev/null
    q bench_chain_hq -c "SELECT mekatek.chain_setup_subscribe('$(conn "$n")', $b)" >/dev/null
done
for b in 1 2; do
    wait_for "the master data" "bench_chain_b$b" "SELECT count(*) = $products FROM mekatek.product"
done
# Each branch receives its own lots (two per product), as in production.
for b in 1 2; do
    q "bench_chain_b$b" -c "SELECT count(mekatek.receive_stock('SKU' || i, 'L' || l, current_date + 30 * l, 100000, NULL, $b))
                              FROM generate_series(1, $products) i, generate_series(1, 2) l" >/dev/null &
done
wait
for b in 1 2; do
    wait_for "branch $b's lots" bench_chain_hq "SELECT count(*) = 2 * $products FROM mekatek.batch WHERE branch_id = $b"
    q "bench_chain_b$b" -c "VACUUM ANALYZE"
done
q bench_chain_hq -c "VACUUM ANALYZE"

work=$MK_BUILD/bench_chain_hq/scripts
mkdir -p "$work"
for b in 1 2; do
    cat >"$work/till-$b.pgbench" <<SCRIPT
\set a random(1, $products)
\set b random(1, $products)
\set c random(1, $products)
SELECT mekatek.checkout($b, jsonb_build_array(
    jsonb_build_object('sku', 'SKU' || :a, 'qty', 1, 'discount_percent', 5),
    jsonb_build_object('sku', 'SKU' || :b, 'qty', 2),
    jsonb_build_object('sku', 'SKU' || :c, 'qty', 1)),
    '[{"method": "cash", "amount": 100000}]');
SCRIPT
done

load() { # load BRANCH SECONDS OUT: pgbench at the branch, its tps line into OUT
    "$bindir/pgbench" -n -h "$MK_BUILD/bench_chain_b$1/run" -p "${port[bench_chain_b$1]}" -U postgres \
        -f "$work/till-$1.pgbench" -c "$clients" -j 2 -T "$2" --max-tries=20 ${rate:+-R "$rate"} "$db" >"$3" 2>&1
}
tps_of() { sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$1"; }
cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; } # clock ticks
pid_of() { # pid_of NODE SQL
    q "$1" -c "$2" | head -n 1
}
walsender() { pid_of "bench_chain_b$1" "SELECT pid FROM pg_stat_replication WHERE application_name = 'mekatek_chain_branch_$1'"; }
applier() { pid_of bench_chain_hq "SELECT pid FROM pg_stat_subscription WHERE subname = 'mekatek_chain_branch_$1' AND relid IS NULL"; }
sales_at() { q "$1" -c "SELECT count(*) FROM mekatek.sale WHERE branch_id = $2"; }
percentile() { # percentile P < numbers
    sort -g | awk -v p="$1" '{a[NR] = $1} END { if (NR == 0) { print "n/a"; exit } i = int(p * NR + 0.999999); if (i < 1) i = 1; printf "%.3f", a[i] }'
}

# --- 1. online ----------------------------------------------------------------
declare -A ws0 ap0 s0
for b in 1 2; do
    ws0[$b]=$(cpu_of "$(walsender $b)"); ap0[$b]=$(cpu_of "$(applier $b)"); s0[$b]=$(sales_at bench_chain_b$b $b)
done
for b in 1 2; do load $b "$secs" "$work/online-$b.log" & done
: >"$work/lag.txt"
# one session per server, the query repeated every 0.25 s (\watch), ended
# with the load
sample() { # sample NODE KIND SQL
    printf '%s \\watch 0.25\n' "$3" | timeout "$secs" "$bindir/psql" -X -q -At -h "$MK_BUILD/$1/run" -p "${port[$1]}" \
        -U postgres -d "$db" 2>/dev/null | sed -n "s/^\([0-9]\)|/$2 \1|/p" >"$work/lag-$1-$2.txt" || true
}
sample bench_chain_hq age "SELECT b, extract(epoch FROM clock_timestamp() - (SELECT max(sold_at) FROM mekatek.sale s WHERE s.branch_id = b)) FROM (VALUES (1), (2)) v(b)" &
for b in 1 2; do
    sample "bench_chain_b$b" replay "SELECT $b, extract(epoch FROM replay_lag) FROM pg_stat_replication WHERE application_name = 'mekatek_chain_branch_$b' AND replay_lag IS NOT NULL" &
done
wait
cat "$work"/lag-*.txt >"$work/lag.txt"
declare -A online_tps cpu_ws cpu_ap
tick=$(getconf CLK_TCK)
for b in 1 2; do
    online_tps[$b]=$(tps_of "$work/online-$b.log")
    # the last sales arrive after the load ends: the apply CPU counts them
    wait_for "branch $b's online sales" bench_chain_hq \
        "SELECT count(*) = $(sales_at bench_chain_b$b $b) FROM mekatek.sale WHERE branch_id = $b" 300
    n=$(( $(sales_at bench_chain_b$b $b) - s0[$b] ))
    cpu_ws[$b]=$(( ($(cpu_of "$(walsender $b)") - ws0[$b]) * 1000000 / tick / (n > 0 ? n : 1) ))
    cpu_ap[$b]=$(( ($(cpu_of "$(applier $b)") - ap0[$b]) * 1000000 / tick / (n > 0 ? n : 1) ))
done

# Backend CPU per sale at a branch, one client, a fixed count (the checkout
# bench's method).
cpu_per_sale() { # branch -> microseconds
    local b=$1 n=1000 pid t0 t=0 bench i
    "$bindir/pgbench" -n -h "$MK_BUILD/bench_chain_b$b/run" -p "${port[bench_chain_b$b]}" -U postgres \
        -f "$work/till-$b.pgbench" -c 1 -t "$n" "$db" >/dev/null 2>&1 &
    bench=$!
    for i in $(seq 100); do
        pid=$(q "bench_chain_b$b" -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'pgbench' LIMIT 1")
        [ -n "$pid" ] && break
        sleep 0.05
    done
    t0=$(cpu_of "$pid")
    while [ -e "/proc/$pid/stat" ] && t1=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null); do t=$t1; sleep 0.02; done
    wait "$bench"
    echo $(( (t - t0) * 1000000 / tick / n ))
}
cpu_sale=$(cpu_per_sale 1)

# --- 2. offline ---------------------------------------------------------------
bash "$cluster" stop bench_chain_hq "$bindir"
declare -A before_off
for b in 1 2; do before_off[$b]=$(sales_at bench_chain_b$b $b); done
for b in 1 2; do load $b "$offline" "$work/offline-$b.log" & done
wait
declare -A offline_tps backlog_bytes backlog_sales target
for b in 1 2; do
    offline_tps[$b]=$(tps_of "$work/offline-$b.log")
    backlog_sales[$b]=$(( $(sales_at bench_chain_b$b $b) - before_off[$b] ))
done

# --- 3. catch-up --------------------------------------------------------------
for b in 1 2; do
    target[$b]=$(q "bench_chain_b$b" -c "SELECT pg_current_wal_lsn()")
    backlog_bytes[$b]=$(q "bench_chain_b$b" -c "SELECT pg_current_wal_lsn() - confirmed_flush_lsn FROM pg_replication_slots
                                                  WHERE slot_name = 'mekatek_chain_branch_$b'")
done
t_start=$(date +%s.%N)
bash "$cluster" start bench_chain_hq "${port[bench_chain_hq]}" "$bindir" >/dev/null
for b in 1 2; do load $b "$secs" "$work/catchup-$b.log" & done
declare -A caught
left=2
deadline=$(( $(date +%s) + 600 + offline ))
while [ "$left" -gt 0 ] && [ "$(date +%s)" -lt "$deadline" ]; do
    for b in 1 2; do
        [ -n "${caught[$b]:-}" ] && continue
        if [ "$(q "bench_chain_b$b" -c "SELECT confirmed_flush_lsn >= '${target[$b]}' FROM pg_replication_slots
                                         WHERE slot_name = 'mekatek_chain_branch_$b'")" = t ]; then
            caught[$b]=$(echo "$(date +%s.%N) - $t_start" | bc -l)
            left=$((left - 1))
        fi
    done
    sleep 0.1
done
wait
for b in 1 2; do
    wait_for "branch $b's sales" bench_chain_hq \
        "SELECT count(*) = $(sales_at bench_chain_b$b $b) FROM mekatek.sale WHERE branch_id = $b" 600
done

# --- figures ------------------------------------------------------------------
echo "chain bench: HQ + 2 branches, $clients clients per branch, $products products, online ${secs}s, HQ down ${offline}s"
printf '%-7s %14s %14s %8s %12s %14s %12s\n' branch "online sales/s" "offline sales/s" ratio "backend us" "walsender us" "apply us"
for b in 1 2; do
    printf '%-7s %14.0f %14.0f %7.2fx %12s %14s %12s\n' "$b" "${online_tps[$b]}" "${offline_tps[$b]}" \
        "$(echo "${online_tps[$b]} / ${offline_tps[$b]}" | bc -l)" "$([ "$b" = 1 ] && echo "$cpu_sale" || echo -)" \
        "${cpu_ws[$b]}" "${cpu_ap[$b]}"
done
echo "  (ratio: online / offline sales/s, the cost of streaming to HQ; CPU per sale: the till backend"
echo "   at branch 1 alone, the branch's walsender decoding for HQ, HQ's apply worker)"
printf '%-7s %-8s %10s %10s %8s\n' branch lag "p50 s" "p99 s" samples
for b in 1 2; do
    for kind in age replay; do
        vals=$(awk -v k="$kind" -v b="$b" -F'|' '$1 == k " " b && $2 != "" {print $2}' "$work/lag.txt")
        printf '%-7s %-8s %10s %10s %8s\n' "$b" "$kind" "$(percentile 0.5 <<<"$vals")" "$(percentile 0.99 <<<"$vals")" \
            "$(grep -c . <<<"$vals" || true)"
    done
done
printf '%-7s %14s %14s %16s\n' branch "backlog sales" "backlog MB" "catch-up s"
for b in 1 2; do
    printf '%-7s %14s %14.1f %16s\n' "$b" "${backlog_sales[$b]}" "$(echo "${backlog_bytes[$b]} / 1048576" | bc -l)" \
        "$(printf '%.1f' "${caught[$b]:-nan}")"
done
[ "$left" = 0 ] || echo "catch-up did not finish within the deadline"

# --- checks ---------------------------------------------------------------------
fail=0
for b in 1 2; do
    hq=$(q bench_chain_hq -c "SELECT count(*) || '/' || coalesce(sum(total), 0) FROM mekatek.sale WHERE branch_id = $b")
    br=$(q "bench_chain_b$b" -c "SELECT count(*) || '/' || coalesce(sum(total), 0) FROM mekatek.sale WHERE branch_id = $b")
    echo "branch $b sales/total: at the branch $br, at HQ $hq"
    [ "$hq" = "$br" ] || fail=1
    bad=$(q "bench_chain_b$b" -c "SELECT count(*) FROM (SELECT b.batch_id FROM mekatek.batch b LEFT JOIN mekatek.stock_movement m USING (batch_id)
                                   GROUP BY b.batch_id HAVING b.qty_on_hand <> coalesce(sum(m.qty_delta), 0)) x")
    echo "branch $b ledger invariant broken on $bad batches (want 0)"
    [ "$bad" = 0 ] || fail=1
done
[ "$fail" = 0 ] || mk_die "headquarters does not hold what the branches sold"
