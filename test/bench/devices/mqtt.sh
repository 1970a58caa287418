# Sourced by run.sh (workload "mqtt"): camera events through mekatek-edge,
# from MQTT (Debian's mosquitto on loopback, QoS 1) against its line input
# (stdin), with the triggers on, same edge settings (-b 200 -f 20).
#   throughput: MK_BENCH_MQTT_EVENTS (default 100000) events published as
#               fast as the publisher (test/devices/feed.c) can, timed
#               from the first publish to the last commit;
#   latency:    MK_BENCH_MQTT_RATE events/s (default 2000) for
#               MK_BENCH_MQTT_SECONDS (default 10): publish (or write to
#               the edge's stdin) to COMMIT, p50/p99 from the edge's
#               --trace (same clock: one machine).
# Each event's id carries its publish time ({now}, microseconds).
mq_events=${MK_BENCH_MQTT_EVENTS:-100000}
mq_rate=${MK_BENCH_MQTT_RATE:-2000}
mq_secs=${MK_BENCH_MQTT_SECONDS:-10}
mq_port=$(mk_port bench_mqtt_broker)
mq_work=$work/mqtt
edge=$MK_ROOT/src/edge/mekatek-edge
rm -rf "$mq_work"; mkdir -p "$mq_work"
cc -O2 -o "$mq_work/feed" "$MK_ROOT/test/devices/feed.c" -lmosquitto
mk_mosquitto "$mq_work" "$mq_port"
trap 'kill $(cat "$mq_work/mosquitto.pid") 2>/dev/null; [ "${MK_BENCH_KEEP:-0}" = 1 ] || bash "$MK_ROOT/test/harness/cluster.sh" stop '"$name"' "$bindir"' EXIT
psql -c "DO \$\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bench_edge') THEN CREATE ROLE bench_edge LOGIN IN ROLE mekatek_device; END IF; END \$\$"
mq_conn="host=$PGHOST port=$port dbname=bench user=bench_edge"

mq_messages() { # COUNT CAMERA mqtt|line -> stdout
    python3 - "$@" <<'PY'
import sys
n, cam, form = int(sys.argv[1]), sys.argv[2], sys.argv[3]
for k in range(n):
    room = f'room-{k % 8 + 1}'
    d = 'in' if k % 20 < 11 else 'out'
    if form == 'mqtt':
        print(f'mekatek/visitor/{cam} {{"id": "{{now}}-{k}", "room": "{room}", "dir": "{d}"}}')
    else:
        print(f'@{{now}}-{k} visitor {cam} {room} {d}')
PY
}

# One run: FORM COUNT RATE CAMERA -> "events/s p50_ms p99_ms"
mq_run() {
    local form=$1 count=$2 rate=$3 cam=$4 trace=$mq_work/$4.trace epid i
    mq_messages "$count" "$cam" "$form" >"$mq_work/$cam.in"
    if [ "$form" = mqtt ]; then
        "$edge" -q -m "127.0.0.1:$mq_port" -d "$mq_conn" -s "$mq_work/$cam.spool" -e "$cam" \
            --mqtt-client-id "bench-$cam" -b 200 -f 20 --trace "$trace" &
        epid=$!
        sleep 1
        "$mq_work/feed" -m "127.0.0.1:$mq_port" -r "$rate" <"$mq_work/$cam.in" 2>/dev/null
        for i in $(seq 1 600); do
            [ "$(psql -At -c "SELECT count(*) FROM mekatek.visitor_event WHERE camera = '$cam'")" -ge "$count" ] && break
            sleep 0.2
        done
        kill -TERM "$epid"; wait "$epid" || true
    else
        "$mq_work/feed" -r "$rate" <"$mq_work/$cam.in" \
            | "$edge" -q -d "$mq_conn" -s "$mq_work/$cam.spool" -e "$cam" -b 200 -f 20 -w 60 --trace "$trace"
    fi
    python3 - "$trace" "$count" <<'PY'
import sys
sent, done = [], []
for line in open(sys.argv[1]):
    eid, at = line.split('\t')
    sent.append(int(eid.rsplit('/', 1)[-1].split('-')[0]))
    done.append(int(at))
if len(done) != int(sys.argv[2]):
    print(f"FAIL: {len(done)} of {sys.argv[2]} events committed"); sys.exit(1)
lat = sorted((d - s) / 1000 for s, d in zip(sent, done))
span = (max(done) - min(sent)) / 1e6
print(f"{len(done) / span:.0f} {lat[len(lat) // 2]:.1f} {lat[int(len(lat) * 0.99)]:.1f}")
PY
}

echo
echo "MQTT against the edge's line input, camera events with the triggers on (-b 200 -f 20):"
printf '%-6s %14s %22s\n' input "events/s" "latency p50/p99 ms at $mq_rate/s"
for form in line mqtt; do
    read -r tput _ _ <<<"$(mq_run "$form" "$mq_events" 0 "$form-t")"
    read -r _ p50 p99 <<<"$(mq_run "$form" $((mq_rate * mq_secs)) "$mq_rate" "$form-l")"
    printf '%-6s %14s %22s\n' "$form" "$tput" "$p50 / $p99"
    eval "tput_$form=$tput"
done
printf 'mqtt/line throughput: %.2fx\n' "$(echo "$tput_mqtt / $tput_line" | bc -l)"
