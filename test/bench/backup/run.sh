#!/usr/bin/env bash
# backup benchmark, side by side in one run against the same local S3 server
# (@20minutes/s3rver on 127.0.0.1, Signature V4 checked), interleaved:
#   - Mekatek: SELECT * FROM mekatek.s3_export('TABLE sales', ..., 'format
#     csv, compression gzip|zstd, ...'), multipart in 16 MB parts, COPY
#     formatted and compressed by 2 parallel workers (block ranges of the
#     table, s3_export_parallel.c), gzip -1, zstd -1, zstd -1 + AES-256-GCM;
#     and the backend alone (parallel_workers 0) with one zstd thread, the
#     path before parallel workers (each part uploaded on a thread while
#     COPY fills the next); more variants with MK_BENCH_BACKUP_VARIANTS
#     (mk_zstd_p3, mk_gzip_p0, mk_zstd0, mk_zstd_bin);
#   - peer: psql -c "\copy (query) to stdout csv" | gzip -1 |
#     curl --aws-sigv4 ... -T -   (one chunked PUT);
# over the same ~1 GB of CSV (MK_BENCH_BACKUP_MB, default 1024), then the
# restore of Mekatek's object timed two ways (s3_import streaming into an
# empty table; s3_restore: download, verify SHA-256, load), and the backend's
# memory (peak RssAnon and VmHWM from /proc) during each export, and the
# CPU time of each side from /proc: the backend with its threads, its
# parallel workers (the postmaster's reaped children), the peer's psql,
# gzip and curl, and the S3 server (much less sensitive to
# the machine's other load than the times).  MK_BENCH_BACKUP_VARIANTS
# picks variants, MK_BENCH_BACKUP_ROUNDS the rounds (default 2).
# MK_BENCH_BACKUP_BIG_GB=5 adds the memory measurement of a 5 GB export.
# Figures are noisy: the machine's 2 cores are shared.  Not part of make test.
source "$(dirname "$0")/../../backup_s3/lib.sh"   # also test/harness/common.sh
trap bk_stop EXIT

mb=${MK_BENCH_BACKUP_MB:-1024}
big_gb=${MK_BENCH_BACKUP_BIG_GB:-0}
KEY=BENCHKEY SECRET=bench-secret
store=$MK_BUILD/bench_backup_s3rver

bk_npm
if [ -z "${PGPORT:-}" ]; then
    port=${MK_BENCH_PORT:-$(mk_port bench_backup)}
    bindir=$(bash "$MK_ROOT/test/harness/stage.sh" | tail -n 1)
    bash "$MK_ROOT/test/harness/cluster.sh" fresh bench-backup "$port" "$bindir" >/dev/null
    trap 'bk_stop; bash "$MK_ROOT/test/harness/cluster.sh" stop bench-backup "$bindir"' EXIT
    export PGHOST=$MK_BUILD/bench-backup/run PGPORT=$port PGUSER=postgres PATH=$bindir:$PATH
fi
if [ -n "${MK_BENCH_S3_PORT:-}" ]; then S3=$MK_BENCH_S3_PORT; else bk_port S3; fi
MK_S3_KEY=$KEY MK_S3_SECRET=$SECRET bk_start_s3rver "$S3" "$store" mekatek-bench
S3PID=${BK_PIDS[-1]}
db=mekatek_bench_backup
psql -Xq -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
export PGDATABASE=$db
settings="SET mekatek.s3_endpoint = 'http://127.0.0.1:$S3'; SET mekatek.s3_uri_style = 'path';
SET mekatek.s3_access_key_id = '$KEY'; SET mekatek.s3_secret_access_key = '$SECRET';"

# About 58 bytes of CSV per row.
rows=$((mb * 1024 * 1024 / 58))
mk_log "loading $rows sales rows (~$mb MB of CSV)"
bk_psql <<SQL
CREATE EXTENSION mekatek;
CREATE TABLE sales (sale_id bigint, sku text, qty int, price numeric(12,2), sold_at timestamptz, note text);
INSERT INTO sales
SELECT g, 'SKU-' || (g % 5000), 1 + g % 7, round((g % 100000) / 7.0, 2),
       timestamptz '2026-01-01 00:00+07' + g * interval '37 seconds',
       CASE g % 3 WHEN 0 THEN NULL WHEN 1 THEN 'paracetamol 500mg' ELSE 'obat batuk' END
  FROM generate_series(1, $rows) g;
VACUUM ANALYZE sales;
CREATE TABLE sales_back (LIKE sales);
SQL
csv_bytes=$(psql -XtA -c "\\copy (SELECT * FROM sales LIMIT 100000) to stdout csv" | wc -c)
csv_bytes=$((csv_bytes * rows / 100000))

now() { date +%s.%N; }
# cpu_ticks PID [children]: utime + stime of a process (all its threads, live
# or ended), or cutime + cstime (its waited-for children), in clock ticks.
cpu_ticks() {
    local rest
    rest=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
    # shellcheck disable=SC2086
    set -- $rest "${2:-}"
    if [ "${!#}" = children ]; then echo $((${14} + ${15})); else echo $((${12} + ${13})); fi
}
tick=$(getconf CLK_TCK)
# mem_watch PID OUTFILE: peaks (kB) of a backend's private memory (RssAnon),
# shared memory it mapped (RssShmem), mapped files (RssFile) and VmHWM, and
# of its parallel workers' private memory (summed), sampled every 0.2 s
# until OUTFILE.run disappears.
mem_watch() {
    local pid=$1 out=$2 anon=0 shm=0 file=0 hwm=0 wk=0 a s f h w x pm c
    pm=$(awk '{print $4}' /proc/$pid/stat)
    while [ -r /proc/$pid/status ] && [ -e "$out.run" ]; do
        read -r a s f h < <(awk '/^RssAnon/ {a=$2} /^RssShmem/ {s=$2} /^RssFile/ {f=$2} /^VmHWM/ {h=$2}
                                 END {print a+0, s+0, f+0, h+0}' /proc/$pid/status 2>/dev/null || echo "0 0 0 0")
        w=0
        for c in $(pgrep -P "$pm" -f "parallel worker for PID $pid" 2>/dev/null || true); do
            # a worker may exit between pgrep and the read
            x=$(awk '/^RssAnon/ {print $2}' /proc/$c/status 2>/dev/null || true)
            w=$((w + ${x:-0}))
        done
        [ "$a" -gt "$anon" ] && anon=$a
        [ "$s" -gt "$shm" ] && shm=$s
        [ "$f" -gt "$file" ] && file=$f
        [ "$h" -gt "$hwm" ] && hwm=$h
        [ "$w" -gt "$wk" ] && wk=$w
        sleep 0.2
    done
    echo "$anon $shm $file $hwm $wk" >"$out"
}
# timed_export SQL: runs SQL in a session whose pid is watched; prints seconds.
timed_export() {
    local mark=$MK_BUILD/bench_backup_mem fifo t0 t1 pid
    rm -f "$mark" "$mark.run"; touch "$mark.run"
    fifo=$(mktemp -u); mkfifo "$fifo"
    psql -XqtA -v ON_ERROR_STOP=1 <"$fifo" >"$MK_BUILD/bench_backup_out" 2>&1 &
    local psql_pid=$!
    exec 9>"$fifo"
    echo "$settings SELECT pg_backend_pid();" >&9
    for _ in $(seq 1 50); do pid=$(head -n 1 "$MK_BUILD/bench_backup_out" 2>/dev/null); [ -n "$pid" ] && break; sleep 0.1; done
    mem_watch "$pid" "$mark" &
    local watch_pid=$! c0 c1 s0 s1 w0 w1 pm
    # Parallel workers are the postmaster's children: their CPU is in its
    # cutime + cstime once they have exited (before the export returns).
    pm=$(awk '{print $4}' /proc/$pid/stat)
    c0=$(cpu_ticks "$pid") s0=$(cpu_ticks "$S3PID") w0=$(cpu_ticks "$pm" children)
    t0=$(now)
    echo "$1" >&9
    echo "SELECT 'done';" >&9
    while ! grep -q '^done$' "$MK_BUILD/bench_backup_out"; do
        kill -0 "$psql_pid" 2>/dev/null || break
        sleep 0.05
    done
    t1=$(now)
    c1=$(cpu_ticks "$pid") s1=$(cpu_ticks "$S3PID") w1=$(cpu_ticks "$pm" children)
    rm -f "$mark.run"; wait "$watch_pid" || true
    exec 9>&-; wait "$psql_pid" || true; rm -f "$fifo"
    grep -q ERROR "$MK_BUILD/bench_backup_out" && { cat "$MK_BUILD/bench_backup_out" >&2; exit 1; }
    echo "$t0 $t1 $(cat "$mark") $((c1 - c0)) $((w1 - w0)) 0 $((s1 - s0))"
}
mbps() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.1f", b / 1048576 / s }'; }

# The variants, interleaved round by round (MK_BENCH_BACKUP_ROUNDS, default
# 2) so that the machine's other load falls on all of them alike; each
# figure is the best of its rounds.
keyfile=$MK_BUILD/bench_backup_keys
echo "bench $(openssl rand -hex 32)" >"$keyfile"; chmod 600 "$keyfile"
[ "$(id -u)" = 0 ] && chown postgres "$keyfile"
psql -Xq -d postgres -c "ALTER SYSTEM SET mekatek.backup_key_file = '$keyfile'" -c "SELECT pg_reload_conf()" >/dev/null
rounds=${MK_BENCH_BACKUP_ROUNDS:-2}
variants=${MK_BENCH_BACKUP_VARIANTS:-"peer_gzip mk_gzip mk_zstd mk_zstd_aes mk_zstd_p0"}
declare -A label opts
# variant NAME LABEL [S3_EXPORT_OPTIONS]
variant() { label[$1]=$2; opts[$1]=${3:-}; }
variant peer_gzip "peer psql \\copy | gzip -1 | curl --aws-sigv4 -T -"
variant mk_gzip "Mekatek s3_export gzip -1, 2 parallel workers" \
    "format csv, compression gzip, compression_level 1, parallel_workers 2"
variant mk_zstd "Mekatek s3_export zstd -1, 2 parallel workers" \
    "format csv, compression zstd, parallel_workers 2"
variant mk_zstd_aes "Mekatek s3_export zstd -1, 2 par. workers + AES-256-GCM" \
    "format csv, compression zstd, encryption_key_id bench, parallel_workers 2"
variant mk_zstd_p3 "Mekatek s3_export zstd -1, 3 parallel workers" \
    "format csv, compression zstd, parallel_workers 3"
variant mk_gzip_p0 "Mekatek s3_export gzip -1, the backend alone" \
    "format csv, compression gzip, compression_level 1, parallel_workers 0"
variant mk_zstd0 "Mekatek s3_export zstd -1, the backend alone" \
    "format csv, compression zstd, parallel_workers 0"
variant mk_zstd_p0 "Mekatek s3_export zstd -1, backend + 1 zstd thread" \
    "format csv, compression zstd, compression_workers 1, parallel_workers 0"
variant mk_zstd_bin "(format binary, not CSV) zstd -1, 1 zstd thread" \
    "format binary, compression zstd, compression_workers 1"
declare -A best mem wmem obj cpu_b cpu_w cpu_c cpu_s
# The peer's backend: psql reports its pid and CPU time around the \copy.
peer_sql=$MK_BUILD/bench_backup_peer.sql
cat >"$peer_sql" <<SQL
SELECT pg_backend_pid() AS bpid \\gset
\\setenv BPID :bpid
\\! sed 's/^.*) //' /proc/\$BPID/stat | awk '{print \$12 + \$13}' >$MK_BUILD/bench_backup_peer_b0
\\copy (TABLE sales) to stdout csv
\\! sed 's/^.*) //' /proc/\$BPID/stat | awk '{print \$12 + \$13}' >$MK_BUILD/bench_backup_peer_b1
SQL
for r in $(seq 1 "$rounds"); do
    for v in $variants; do
        mk_log "round $r: ${label[$v]}"
        if [ "$v" = peer_gzip ]; then
            s0=$(cpu_ticks "$S3PID")
            t0=$(now)
            # the subshell's children's CPU: psql, gzip and curl
            cc=$(psql -XqtA -f "$peer_sql" | gzip -1 \
                | curl -sS --fail --aws-sigv4 "aws:amz:us-east-1:s3" --user "$KEY:$SECRET" \
                    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -T - \
                    "http://127.0.0.1:$S3/mekatek-bench/peer/sales.csv.gz"; cpu_ticks $BASHPID children)
            t1=$(now)
            s1=$(cpu_ticks "$S3PID")
            cb=$(($(cat "$MK_BUILD/bench_backup_peer_b1") - $(cat "$MK_BUILD/bench_backup_peer_b0")))
            cs=$((s1 - s0)) cw=0
            anon=0 hwm=0 wk=0
            o=$(stat -c %s "$store/mekatek-bench/peer/sales.csv.gz._S3rver_object")
        else
            read -r t0 t1 anon shm file hwm wk cb cw cc cs < <(timed_export "SELECT * FROM mekatek.s3_export('TABLE sales', 'mekatek-bench', 'mekatek/$v.csv', '${opts[$v]}');")
            o=$(stat -c %s "$store/mekatek-bench/mekatek/$v.csv._S3rver_object")
        fi
        secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
        if [ -z "${best[$v]:-}" ] || awk -v a="$secs" -v b="${best[$v]}" 'BEGIN { exit !(a < b) }'; then
            best[$v]=$secs
        fi
        # CPU: the round with the least in total (less sensitive to load than time)
        if [ -z "${cpu_b[$v]:-}" ] || [ $((cb + cw + cc + cs)) -lt $((cpu_b[$v] + cpu_w[$v] + cpu_c[$v] + cpu_s[$v])) ]; then
            cpu_b[$v]=$cb cpu_w[$v]=$cw cpu_c[$v]=$cc cpu_s[$v]=$cs
        fi
        [ "${mem[$v]:-0}" -lt "$anon" ] && mem[$v]=$anon
        [ "${wmem[$v]:-0}" -lt "$wk" ] && wmem[$v]=$wk
        obj[$v]=$o
    done
done
# The restore reads mk_gzip's object, else the first Mekatek variant's.
rv=mk_gzip
[[ " $variants " == *" mk_gzip "* ]] || for rv in $variants; do [ "$rv" != peer_gzip ] && break; done
peer_secs=${best[peer_gzip]} mk_obj=${obj[$rv]}

mk_log "restore: s3_import (streaming) and s3_restore (download, verify, load)"
t0=$(now)
bk_psql -c "$settings" -c "SELECT mekatek.s3_import('sales_back', '', 'format csv', 'mekatek-bench', 'mekatek/$rv.csv')" >/dev/null
t1=$(now)
import_secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
sha=$(sha256sum "$store/mekatek-bench/mekatek/$rv.csv._S3rver_object" | cut -d' ' -f1)
t0=$(now)
bk_psql -c "$settings" -c "SELECT mekatek.s3_restore('mekatek-bench', 'mekatek/$rv.csv', '$sha', $mk_obj, 'sales_back', true, 'format csv')" >/dev/null
t1=$(now)
restore_secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
same=$(bk_psql -tA -c "SELECT (SELECT count(*) FROM (TABLE sales EXCEPT ALL TABLE sales_back) a) + (SELECT count(*) FROM (TABLE sales_back EXCEPT ALL TABLE sales) b)")

echo
echo "backup benchmark: $rows rows, ~$((csv_bytes / 1048576)) MB of CSV, s3rver on loopback, best of $rounds interleaved rounds"
for v in $variants; do
    printf '%-58s %8s s  %7s MB/s  %5sx the pipeline  object %6s MB  backend private peak %s MB (workers %s MB)\n' "${label[$v]}" "${best[$v]}" \
        "$(mbps "$csv_bytes" "${best[$v]}")" "$(awk -v m="${best[$v]}" -v p="$peer_secs" 'BEGIN { printf "%.2f", p / m }')" \
        "$((obj[$v] / 1048576))" "$(( ${mem[$v]:-0} / 1024 ))" "$(( ${wmem[$v]:-0} / 1024 ))"
done
echo "(throughput ratio = pipeline time / variant time; goal: zstd variants >= 1.5x, backend private memory < 64 MB)"
echo "CPU time (least of the rounds): backend (with its threads) + its parallel workers + client processes + S3 server"
sec() { awk -v t="$1" -v k="$tick" 'BEGIN { printf "%.2f", t / k }'; }
for v in $variants; do
    printf '%-58s backend %6s s  workers %6s s  client %6s s  s3rver %6s s  total %6s s  (backend + workers %s s/GB of CSV)\n' "${label[$v]}" \
        "$(sec "${cpu_b[$v]}")" "$(sec "${cpu_w[$v]}")" "$(sec "${cpu_c[$v]}")" "$(sec "${cpu_s[$v]}")" \
        "$(sec $((cpu_b[$v] + cpu_w[$v] + cpu_c[$v] + cpu_s[$v])))" \
        "$(awk -v t="$((cpu_b[$v] + cpu_w[$v]))" -v k="$tick" -v b="$csv_bytes" 'BEGIN { printf "%.2f", t / k / (b / 1073741824) }')"
done
echo "restore of $rv's object: s3_import ${import_secs} s, s3_restore (download + verify + truncate + load) ${restore_secs} s (goal < 120 s); rows differing: $same"

if [ "$big_gb" -gt 0 ]; then
    n=$((big_gb * 1024 * 1024 * 1024 / 210))
    mk_log "memory: a ${big_gb} GB export ($n rows of 210 bytes, compressible)"
    # jit off: the planner would JIT this 25M-row query and map libLLVM
    # (~50 MB of shared, file-backed code pages) into the backend.
    read -r t0 t1 anon shm file hwm _ _ < <(timed_export "SET jit = off; SELECT * FROM mekatek.s3_export('SELECT g, repeat(''x'', 200) FROM generate_series(1, $n) g', 'mekatek-bench', 'mekatek/big.csv.gz', 'format csv, compression gzip, compression_level 1');")
    echo "${big_gb} GB export: $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s, backend peak private (RssAnon) $((anon / 1024)) MB (goal < 64 MB); RssShmem $((shm / 1024)) MB, RssFile $((file / 1024)) MB, VmHWM $((hwm / 1024)) MB"
fi
psql -Xq -d postgres -c "DROP DATABASE $db" -c "ALTER SYSTEM RESET mekatek.backup_key_file" -c "SELECT pg_reload_conf()" >/dev/null
rm -f "$keyfile"
