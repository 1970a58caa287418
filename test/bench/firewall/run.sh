#!/usr/bin/env bash
# Firewall benchmarks, Mekatek and a SQL peer side by side on one private
# cluster:
#   1. load-and-parse N synthetic LOG lines (default 2,000,000), end to end
#      from the same file: mekatek.fw_load_file(file) (one call: the C parser
#      feeding COPY's multi-insert, nothing staged) against COPY into a
#      staging table plus INSERT ... SELECT with one regexp_match per field;
#   2. mekatek.fw_rule_usage over the loaded packets and a 200-rule policy
#      (packets/s), checked against a SQL first-match peer (LATERAL ...
#      ORDER BY position LIMIT 1) on a time window of 50,000 packets;
#   3. mekatek.fw_anomalies on 1,000 random rules.
#   MK_BENCH_LINES (default 2000000), MK_BENCH_PORT (default MK_TEST_PORT+43).
source "$(dirname "$0")/../../harness/common.sh"
here=$(cd "$(dirname "$0")" && pwd)
port=${MK_BENCH_PORT:-$(mk_port bench_firewall)}
lines=${MK_BENCH_LINES:-2000000}

make -s -C "$MK_ROOT" all >/dev/null
bindir=$(bash "$MK_ROOT/test/harness/stage.sh" | tail -n 1)
bash "$MK_ROOT/test/harness/cluster.sh" fresh bench-firewall "$port" "$bindir"
[ "${MK_BENCH_KEEP:-0}" = 1 ] || trap 'bash "$MK_ROOT/test/harness/cluster.sh" stop bench-firewall "$bindir"' EXIT
export PGHOST=$MK_BUILD/bench-firewall/run PGPORT=$port PGUSER=postgres PGDATABASE=bench
export PATH=$bindir:$PATH
psql -Xq -d postgres -c "CREATE DATABASE bench"
# fw_load_file reads only inside mekatek.fw_log_directory: the work folder
psql -Xq -d postgres -c "ALTER DATABASE bench SET mekatek.fw_log_directory = '$MK_BUILD/bench-firewall/work'"
psql -Xq -v ON_ERROR_STOP=1 -v lines="$lines" -f "$here/setup.sql" >/dev/null

work=$MK_BUILD/bench-firewall/work
mkdir -p "$work"
chmod 755 "$work"
file=$work/lines.log
psql -Xq -At -c "\\copy (SELECT line FROM bench.synthetic_lines($lines)) TO '$file'"
echo "synthetic LOG lines: $(wc -l <"$file") ($(du -h "$file" | cut -f1))"

now() { date +%s.%N; }
el() { echo "$2 - $1" | bc -l; }

# 1. load and parse, both from the file (read by the server: postgres must
# be able to read it)
mk_as_pg test -r "$file" || mk_die "the postgres account cannot read $file"
t0=$(now)
psql -Xq -At -c "SELECT 'mekatek loaded ' || loaded || ', rejected ' || rejected FROM mekatek.fw_load_file('$file')"
t1=$(now)
psql -Xq -c "COPY bench.peer_raw(line) FROM '$file'"
t2=$(now)
psql -Xq -At -f "$here/peer_parse.sql"
t3=$(now)
m_load=$(el "$t0" "$t1"); p_copy=$(el "$t1" "$t2"); p_parse=$(el "$t2" "$t3")
p_load=$(el 0 "$p_copy + $p_parse")
printf '\n%-34s %12s %12s %8s\n' "load and parse $lines lines" mekatek "regexp peer" ratio
printf '%-34s %12s %11.1fs\n' "  COPY into staging" "-" "$p_copy"
printf '%-34s %12s %11.1fs\n' "  parse into the log table" "-" "$p_parse"
printf '%-34s %11.1fs %11.1fs %7.1fx\n' "file -> log table, end to end" "$m_load" "$p_load" "$(el 0 "$p_load / $m_load")"
printf '%-34s %12.0f %12.0f\n' "lines/s" "$(el 0 "$lines / $m_load")" "$(el 0 "$lines / $p_load")"
psql -Xq -At -c "SELECT 'rows: mekatek ' || (SELECT count(*) FROM mekatek.fw_log) || ', peer ' || (SELECT count(*) FROM bench.peer_log)
                 || '; fields differing on a 10,000-row sample: ' || (SELECT count(*) FROM bench.compare_sample(10000))"
psql -Xq -c "VACUUM ANALYZE mekatek.fw_log"

# 2. rule usage
t0=$(now)
psql -Xq -At -c "SELECT 'usage rows ' || count(*) || ', packets ' || sum(hits) FROM mekatek.fw_rule_usage('bench', NULL, NULL)"
t1=$(now)
psql -Xq -At -c "SELECT 'sample window packets: ' || count(*) FROM mekatek.fw_log WHERE logged_at >= bench.t0() AND logged_at < bench.t0() + interval '15000 s'"
t2=$(now)
psql -Xq -At -c "SELECT count(*) FROM bench.peer_usage_window()" >/dev/null
t3=$(now)
t4=$(now)
psql -Xq -At -c "SELECT count(*) FROM mekatek.fw_rule_usage('bench', bench.t0(), bench.t0() + interval '15000 s')" >/dev/null
t5=$(now)
u=$(el "$t0" "$t1"); pu=$(el "$t2" "$t3"); mu=$(el "$t4" "$t5")
printf '\n%-34s %12s %12s %8s\n' "fw_rule_usage, 200 rules" mekatek "SQL peer" ratio
printf '%-34s %11.2fs\n' "all $lines packets" "$u"
printf '%-34s %12.0f\n' "packets/s (one backend = one core)" "$(el 0 "$lines / $u")"
printf '%-34s %11.3fs %11.3fs %7.1fx\n' "50,000-packet window" "$mu" "$pu" "$(el 0 "$pu / $mu")"
psql -Xq -At -c "SELECT 'first-match differences against the peer on the window: ' || count(*) || ' (want 0)' FROM bench.usage_diff()"

# 3. anomalies
psql -Xq -At -c "SELECT 'anomalous pairs among 1,000 random rules: ' || count(*) FROM mekatek.fw_anomalies('random1000')"
ms=$(psql -Xq -At -c "SELECT round(bench.time_ms('SELECT count(*) FROM mekatek.fw_anomalies(''random1000'')')::numeric, 1)")
printf '\n%-34s %10s ms (in the server, second run)\n' "fw_anomalies, 1,000 rules" "$ms"

# 4. threat detection on the load path: the same file loaded again with
# mekatek.fw_alerts off and on (the trigger fw_log_alert)
for mode in off on; do
    psql -Xq -c "TRUNCATE mekatek.fw_log, mekatek.fw_alert"
    t0=$(now)
    psql -Xq -At -c "SET mekatek.fw_alerts = $mode" -c "SELECT loaded FROM mekatek.fw_load_file('$file')" >/dev/null 2>&1
    t1=$(now)
    eval "load_$mode=\$(el \$t0 \$t1)"
done
printf '\n%-34s %12s %12s %8s\n' "load $lines lines, detection" on off ratio
printf '%-34s %11.1fs %11.1fs %7.2fx\n' "fw_load_file" "$load_on" "$load_off" "$(el 0 "$load_on / $load_off")"
psql -Xq -At -c "SELECT 'alerts on the synthetic log: ' || count(*) FROM mekatek.fw_alert"

# 5. anomalies with chains, and fw_trace latency
for n in 1000 10000; do
    psql -Xq -v n=$n -f "$here/chains.sql" >/dev/null
    ms=$(psql -Xq -At -c "SELECT round(bench.time_ms('SELECT count(*) FROM mekatek.fw_anomalies(''chains$n'')')::numeric, 1)" 2>/dev/null)
    printf '%-34s %10s ms\n' "fw_anomalies, $n rules, 20 chains" "$ms"
done
one=$(psql -Xq -At -c "SELECT round(bench.time_ms('SELECT count(*) FROM mekatek.fw_trace(''chains1000'', src => ''10.1.1.9'', dst => ''192.0.2.1'', sport => 40000, dport => 42)')::numeric, 2)")
many=$(psql -Xq -At -c "SELECT round(bench.time_ms('SELECT count(*) FROM generate_series(1, 10000) g, LATERAL mekatek.fw_trace(''chains1000'', src => (''10.'' || g % 7 || ''.'' || g % 251 || ''.9'')::inet, dst => ''192.0.2.1'', sport => 40000, dport => 1 + g % 1000) t')::numeric, 1)")
printf '%-34s %10s ms (policy read included)\n' "fw_trace, one packet, 1,000 rules" "$one"
printf '%-34s %10s ms\n' "fw_trace, 10,000 packets (LATERAL)" "$many"
