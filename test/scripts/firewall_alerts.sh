#!/usr/bin/env bash
# firewall threat alerts: a generated log holds normal traffic and one port
# scan, one ssh brute force and one flood.  Loading it (in one piece, and
# again in two pieces, so detection is incremental across loads) must give
# exactly those three rows in mekatek.fw_alert, and a client LISTENing on
# mekatek_firewall must receive exactly their three JSON payloads.
set -euo pipefail
db=mekatek_fw_alerts
psql() { command psql -X -v ON_ERROR_STOP=1 -q "$@"; }
work=$(mktemp -d)
psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
trap 'psql -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true; rm -rf "$work"' EXIT
psql -d $db <<'SQL'
CREATE EXTENSION mekatek;
CREATE TABLE lines (t timestamptz, line text);
CREATE FUNCTION line(t timestamptz, src text, dst text, spt int, dpt int, flags text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT format('%s fw kernel: DROP IN=eth0 OUT= SRC=%s DST=%s LEN=60 TTL=64 ID=1 PROTO=TCP SPT=%s DPT=%s WINDOW=1024 RES=0x00 %s URGP=0',
                  to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'), src, dst, spt, dpt, flags) $$;
-- normal traffic: 50 clients, a web server, ten minutes
INSERT INTO lines
SELECT t, line(t, '10.0.0.' || (1 + g % 50), '192.0.2.10', 30000 + g, (ARRAY[80, 443])[1 + g % 2],
               (ARRAY['SYN', 'ACK', 'ACK PSH', 'ACK FIN'])[1 + g % 4])
  FROM generate_series(1, 600) g, LATERAL (SELECT '2024-03-14 12:00:00+00'::timestamptz + g * interval '1 s') x(t);
-- a port scan: ports 1..100 of one host in 20 seconds
INSERT INTO lines
SELECT t, line(t, '198.51.100.66', '192.0.2.20', 51000, g, 'SYN')
  FROM generate_series(1, 100) g, LATERAL (SELECT '2024-03-14 12:02:00+00'::timestamptz + g * interval '200 ms') x(t);
-- ssh brute force: 40 new connections in 50 seconds
INSERT INTO lines
SELECT t, line(t, '203.0.113.99', '192.0.2.30', 40000 + g, 22, 'SYN')
  FROM generate_series(1, 40) g, LATERAL (SELECT '2024-03-14 12:05:00+00'::timestamptz + g * interval '1250 ms') x(t);
-- a flood: 1,500 packets to one web server in 30 seconds, spoofed sources
INSERT INTO lines
SELECT t, line(t, '172.16.' || (g / 250) || '.' || (g % 250), '192.0.2.40', 1024 + g, 80, 'SYN')
  FROM generate_series(1, 1500) g, LATERAL (SELECT '2024-03-14 12:07:00+00'::timestamptz + g * interval '20 ms') x(t);
SQL

expected="brute_force 203.0.113.99 192.0.2.30 22 40
flood 192.0.2.40 1500
port_scan 198.51.100.66 192.0.2.20 100"
show="SELECT concat_ws(' ', kind, host(src), host(dst), dport, events) FROM mekatek.fw_alert ORDER BY kind"

# A listening client: LISTEN, then wait for the load to finish, then one
# more statement so that psql prints the notifications it received.
( echo "LISTEN mekatek_firewall;"
  while [ ! -e "$work/loaded" ]; do sleep 0.1; done
  echo "SELECT 1;" ) | psql -d $db -tA >"$work/listen.out" 2>&1 &
listener=$!
# psql's output goes to a file and is buffered: ask the server instead
until [ "$(psql -d $db -tA -c "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'")" = 1 ]; do
    sleep 0.1
done

psql -d $db -tA -c "SELECT 'loaded ' || loaded || ', rejected ' || rejected FROM mekatek.fw_load((SELECT string_agg(line, E'\n' ORDER BY t) FROM lines))"
touch "$work/loaded"
wait $listener
got=$(psql -d $db -tA -c "$show")
if [ "$got" != "$expected" ]; then echo "FAIL: one load gave"; echo "$got"; echo "want"; echo "$expected"; exit 1; fi
echo "ok: one load: exactly the three threats"
echo "$got" | sed 's/^/  /'
n=$(grep -c 'notification "mekatek_firewall"' "$work/listen.out" || true)
for kind in port_scan brute_force flood; do
    grep -q "\"kind\" *: *\"$kind\"" "$work/listen.out" || { echo "FAIL: no $kind payload"; cat "$work/listen.out"; exit 1; }
done
[ "$n" = 3 ] || { echo "FAIL: $n notifications, want 3"; cat "$work/listen.out"; exit 1; }
echo "ok: the listener received exactly 3 payloads, for example:"
grep 'notification' "$work/listen.out" | head -1 | sed 's/^/  /'

# Again in two loads, in time order as logs are loaded, split in the middle
# of the brute force: the second load sees the first's rows of the window
# before it and extends the alert instead of adding one.
psql -d $db -c "TRUNCATE mekatek.fw_log, mekatek.fw_alert"
psql -d $db -tA -c "SELECT 'first half: loaded ' || loaded FROM mekatek.fw_load((SELECT string_agg(line, E'\n' ORDER BY t) FROM lines WHERE t < '2024-03-14 12:05:25+00'))"
psql -d $db -tA -c "SELECT 'second half: loaded ' || loaded FROM mekatek.fw_load((SELECT string_agg(line, E'\n' ORDER BY t) FROM lines WHERE t >= '2024-03-14 12:05:25+00'))"
got=$(psql -d $db -tA -c "$show")
if [ "$got" != "$expected" ]; then echo "FAIL: two loads gave"; echo "$got"; echo "want"; echo "$expected"; exit 1; fi
echo "ok: two loads: the same three threats, extended, none twice"

# The bulk path (fw_load, fw_load_file) counts while it parses and looks
# only at the keys that come near a threshold; any other INSERT goes
# through the trigger, which groups the statement's rows.  Both must give
# the same alerts, row for row, and so must a load of the lines out of
# time order (late lines make their own keys candidates).
full="SELECT concat_ws(' ', kind, host(src), host(dst), dport, events, first_seen, last_seen) FROM mekatek.fw_alert ORDER BY kind, first_seen"
psql -d $db -c "TRUNCATE mekatek.fw_log, mekatek.fw_alert"
psql -d $db -tA -c "SELECT loaded FROM mekatek.fw_load((SELECT string_agg(line, E'\n' ORDER BY t) FROM lines))" >/dev/null
bulk=$(psql -d $db -tA -c "$full")
psql -d $db -c "TRUNCATE mekatek.fw_log, mekatek.fw_alert"
psql -d $db -c "INSERT INTO mekatek.fw_log (logged_at, host, prefix, in_iface, out_iface, direction, src, dst, proto, spt, dpt,
                                            len, ttl, packet_id, icmp_type, icmp_code, tcp_flags, action, extra)
                SELECT (mekatek.fw_parse(line)).* FROM lines ORDER BY t"
trig=$(psql -d $db -tA -c "$full")
psql -d $db -c "TRUNCATE mekatek.fw_log, mekatek.fw_alert"
psql -d $db -tA -c "SELECT loaded FROM mekatek.fw_load((SELECT string_agg(line, E'\n' ORDER BY md5(line)) FROM lines))" >/dev/null
shuffled=$(psql -d $db -tA -c "$full")
# lines up to 100 s late, as logs merged from several hosts are
psql -d $db -c "TRUNCATE mekatek.fw_log, mekatek.fw_alert"
psql -d $db -tA -c "SELECT loaded FROM mekatek.fw_load((SELECT string_agg(line, E'\n' ORDER BY t + (hashtext(line) % 100) * interval '1 s') FROM lines))" >/dev/null
jittered=$(psql -d $db -tA -c "$full")
if [ "$bulk" != "$trig" ] || [ "$bulk" != "$shuffled" ] || [ "$bulk" != "$jittered" ]; then
    echo "FAIL: the bulk path, the trigger and a shuffled load disagree"
    echo "bulk:"; echo "$bulk"; echo "trigger:"; echo "$trig"; echo "shuffled:"; echo "$shuffled"; echo "jittered:"; echo "$jittered"; exit 1
fi
echo "ok: bulk path, trigger, a shuffled and a jittered load give the same alerts, row for row"

# The bulk path detects exactly when the trigger would fire: not under
# session_replication_role = replica (a restore, a replica), not with the
# trigger disabled.
for how in "SET session_replication_role = replica" "ALTER TABLE mekatek.fw_log DISABLE TRIGGER fw_log_alert"; do
    psql -d $db -c "TRUNCATE mekatek.fw_log, mekatek.fw_alert"
    psql -d $db -tA -c "$how" -c "SELECT loaded FROM mekatek.fw_load((SELECT string_agg(line, E'\n' ORDER BY t) FROM lines))" >/dev/null
    got=$(psql -d $db -tA -c "SELECT count(*) FROM mekatek.fw_alert")
    [ "$got" = 0 ] || { echo "FAIL: $got alerts after: $how"; exit 1; }
done
psql -d $db -c "ALTER TABLE mekatek.fw_log ENABLE TRIGGER fw_log_alert"
echo "ok: no alert under session_replication_role = replica, none with the trigger disabled"

# Normal traffic alone: nothing.
psql -d $db -c "TRUNCATE mekatek.fw_log, mekatek.fw_alert"
psql -d $db -tA -c "SELECT 'normal only: loaded ' || loaded FROM mekatek.fw_load((SELECT string_agg(line, E'\n' ORDER BY t) FROM lines WHERE line LIKE '%SRC=10.0.0.%'))"
got=$(psql -d $db -tA -c "SELECT count(*) FROM mekatek.fw_alert")
[ "$got" = 0 ] || { echo "FAIL: $got alerts on normal traffic"; exit 1; }
echo "ok: normal traffic alone raises no alert"
