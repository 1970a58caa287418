#!/usr/bin/env bash
# Ledger ingestion: 8 clients (pgbench -c 8) send "done <qty> x <price>"
# messages, in the amount formats sellers use, for 100 groups through
# mekatek.chat_ingest (C) and through peer.chat_ingest (PL/pgSQL, peer.sql:
# the same tables, idempotency rule, lookups, entry, outbox row and stored
# answer), each in its own fresh database on one server, side by side:
# messages per second, p99 latency, CPU per message, and the ratios.  The
# peer runs twice:
# "pl" signals each reply with the core's outbox_enqueue (a NOTIFY per
# reply, as a PL/pgSQL author would write it), "plb" with the same
# one-NOTIFY-per-burst rule and fence as chat_ingest, so the second ratio
# shows what the C implementation alone gains.
# Default: MK_BENCH_SECONDS (30) per side and round.  The issue's full run,
# 1,000,000 messages per side (125,000 per client):
#   MK_BENCH_MESSAGES=1000000 bash test/bench/ledger/run.sh
# MK_BENCH_ROUNDS (default 1) repeats the three, rotating which side goes
# first, and prints the medians.  MK_BENCH_SIDES (default "c pl plb")
# runs only some of them (the others print as 0; their ratios are then
# meaningless), e.g. to re-run the C side alone after a change in C.  synchronous_commit is off (as in the
# other benchmarks) so that the figures show the ingestion, not fsync.
# Columns: msg/s, p99 latency and backend CPU per message (us/msg) per
# side; C/pl and C/plb the throughput ratios, cpu the CPU ratio plb/C.
# Goal (issue 21): C >= 2x the peer's throughput.  The machine is shared:
# figures are noisy.
source "$(dirname "$0")/../../harness/common.sh"
here=$(cd "$(dirname "$0")" && pwd)
port=${MK_BENCH_PORT:-$(mk_port bench_ledger)}
secs=${MK_BENCH_SECONDS:-30}
rounds=${MK_BENCH_ROUNDS:-1}
messages=${MK_BENCH_MESSAGES:-}
sides=${MK_BENCH_SIDES:-c pl plb}
name=bench-ledger

make -s -C "$MK_ROOT" all >/dev/null
bindir=$(bash "$MK_ROOT/test/harness/stage.sh" | tail -n 1)
bash "$MK_ROOT/test/harness/cluster.sh" fresh "$name" "$port" "$bindir"
[ "${MK_BENCH_KEEP:-0}" = 1 ] || trap 'bash "$MK_ROOT/test/harness/cluster.sh" stop '"$name"' "$bindir"' EXIT
export PGHOST=$MK_BUILD/$name/run PGPORT=$port PGUSER=postgres
psql() { "$bindir/psql" -Xq -v ON_ERROR_STOP=1 "$@"; }
work=$MK_BUILD/$name/scripts
mkdir -p "$work"

fresh_db() { # name peer_notify
    psql -d postgres -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" 2>/dev/null
    psql -d "$1" -v peer_notify="$2" -c "ALTER DATABASE $1 SET synchronous_commit = off" \
         -c "CREATE EXTENSION mekatek CASCADE" -f "$here/peer.sql" \
         -c "SELECT mekatek.ledger_setup('6281100000000', 'owner')" \
         -c "INSERT INTO mekatek.ledger_user (phone, name) VALUES ('6281100000002', 'seller')" \
         -c "INSERT INTO mekatek.ledger_user_role SELECT user_id, 'seller' FROM mekatek.ledger_user WHERE phone = '6281100000002'" \
         -c "INSERT INTO mekatek.ledger_group (group_id, name, buyer_phone)
             SELECT 'g' || i || '@g.us', 'Group ' || i, (6281200000000 + i)::text FROM generate_series(1, 100) i" \
         -c "ANALYZE mekatek.ledger_group, mekatek.ledger_user, mekatek.ledger_user_role, mekatek.ledger_role_permission" >/dev/null
}
# Only the seeded tables are analysed: an ANALYZE of the empty message and
# entry tables records "0 rows", and a plan made then scans them whole
# until autovacuum analyses them again (on either side).

# One message: a random group, a unique id per client and transaction.
for side in c pl plb; do
    fn=mekatek.chat_ingest; [ $side != c ] && fn=peer.chat_ingest
    cat >"$work/$side.pgbench" <<SQL
\set g random(1, 100)
\set q random(1, 5)
\set p random(1, 200)
\set f random(0, 3)
SELECT outcome FROM $fn('wa', :client_id || '-' || :n, 'g' || :g || '@g.us', '6281100000002@c.us', now(),
    'done ' || :q || ' x ' || (ARRAY[(:p * 1000)::text, :p || '.000', :p || ',000', :p || 'rb'])[:f + 1] || ' diamonds');
\set n :n + 1
SQL
done

# CPU per message: the backends' user + system time (sampled from /proc
# while pgbench runs, the last sample before each exits), over the entries
# booked.  Less sensitive than msg/s to what else the machine runs.
tick_us=$((1000000 / $(getconf CLK_TCK)))
run() { # side db -> "msgs/s p99ms entries cpu_us_per_msg"
    local args=(-n -M prepared -f "$work/$1.pgbench" -D n=0 -c 8 -j 2 -l --log-prefix="$work/log-$1")
    rm -f "$work/log-$1".*
    if [ -n "$messages" ]; then args+=(-t $((messages / 8))); else args+=(-T "$secs"); fi
    "$bindir/pgbench" "${args[@]}" "$2" >"$work/pgbench-$1.out" 2>&1 &
    local bench=$! pid t postmaster
    local -A cpu=()
    # this cluster's backends only (another checkout's bench may use the same names)
    postmaster=$(head -n 1 "$MK_BUILD/$name/data/postmaster.pid")
    while kill -0 "$bench" 2>/dev/null; do
        for pid in $(pgrep -P "$postmaster" -f "postgres: postgres $2 " || true); do
            t=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null) && cpu[$pid]=$t
        done
        sleep 0.2
    done
    wait "$bench" || { cat "$work/pgbench-$1.out" >&2; return 1; }
    local tps
    tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$work/pgbench-$1.out")
    # per-transaction log: field 3 is the latency in microseconds
    local p99
    p99=$(cat "$work/log-$1".* | awk '{print $3}' | sort -n | awk '{a[NR]=$1} END {i=int(NR*0.99); if (i<1) i=1; printf "%.2f", a[i]/1000}')
    local n ticks=0
    n=$(psql -d "$2" -Atc "SELECT count(*) FROM mekatek.ledger_entry")
    for t in "${cpu[@]}"; do ticks=$((ticks + t)); done
    echo "$tps $p99 $n $((ticks * tick_us / n))"
}
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

printf '%-6s %10s %7s %6s %10s %7s %6s %10s %7s %6s %7s %7s %7s\n' round "C msg/s" "p99 ms" "us/msg" \
    "pl msg/s" "p99 ms" "us/msg" "plb msg/s" "p99 ms" "us/msg" "C/pl" "C/plb" "cpu"
ratio() { if [ "$2" = 0 ] || [ "$1" = 0 ]; then echo 0; else echo "$1 / $2" | bc -l; fi; }
row() { # label c_tps c_p99 c_cpu pl_tps pl_p99 pl_cpu plb_tps plb_p99 plb_cpu C/pl C/plb cpu-plb/C
    printf '%-6s %10.0f %7s %6s %10.0f %7s %6s %10.0f %7s %6s %6.2fx %6.2fx %6.2fx\n' "$@"
}
declare -A tps p99 cpu
ratios1="" ratios2="" ratios3=""
for r in $(seq 1 "$rounds"); do
    order=(c pl plb); case $((r % 3)) in 2) order=(pl plb c) ;; 0) order=(plb c pl) ;; esac
    declare -A t9=([c]=0 [pl]=0 [plb]=0) p9=([c]=0 [pl]=0 [plb]=0) u9=([c]=0 [pl]=0 [plb]=0)
    for side in "${order[@]}"; do
        case " $sides " in *" $side "*) ;; *) continue ;; esac
        notify=each; [ $side = plb ] && notify=burst
        fresh_db "bench_$side" $notify
        read -r t p n u < <(run "$side" "bench_$side")
        t9[$side]=$t; p9[$side]=$p; u9[$side]=$u
        tps[$side]="${tps[$side]:-} $t"; p99[$side]="${p99[$side]:-} $p"; cpu[$side]="${cpu[$side]:-} $u"
    done
    r1=$(ratio "${t9[c]}" "${t9[pl]}"); r2=$(ratio "${t9[c]}" "${t9[plb]}"); r3=$(ratio "${u9[plb]}" "${u9[c]}")
    ratios1="$ratios1 $r1" ratios2="$ratios2 $r2" ratios3="$ratios3 $r3"
    row "$r" "${t9[c]}" "${p9[c]}" "${u9[c]}" "${t9[pl]}" "${p9[pl]}" "${u9[pl]}" "${t9[plb]}" "${p9[plb]}" "${u9[plb]}" "$r1" "$r2" "$r3"
done
# The median row: medians of each column, and of the rounds' ratios (the
# sides of one round ran minutes apart, under the same load).
if [ "$rounds" != 1 ]; then
    args=(median)
    for side in c pl plb; do
        args+=("$(echo ${tps[$side]:-0} | median)" "$(echo ${p99[$side]:-0} | median)" "$(echo ${cpu[$side]:-0} | median)")
    done
    row "${args[@]}" "$(echo $ratios1 | median)" "$(echo $ratios2 | median)" "$(echo $ratios3 | median)"
fi
