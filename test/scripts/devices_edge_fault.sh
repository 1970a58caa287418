#!/usr/bin/env bash
# devices: the edge client loses nothing and duplicates nothing when the
# database goes away.  mekatek-edge streams 10,000 camera events; after ~4 s
# the server stops for 10 s and starts again.  At the end every event is in
# mekatek.visitor_event exactly once and room_occupancy counted each once.
# Runs its own private cluster ("edge", port MK_EDGE_PORT or MK_TEST_PORT+1,
# see test/harness/common.sh) so that stopping it disturbs no other test.
source "$(dirname "$0")/../harness/common.sh"
source "$MK_ROOT/test/devices/lib.sh"
root=$MK_ROOT
bindir=${MK_BINDIR:?MK_BINDIR must point at the PostgreSQL binaries}
port=${MK_EDGE_PORT:-$(mk_port edge)}
edge=$root/src/edge/mekatek-edge
cluster=$root/test/harness/cluster.sh
work=$root/build/edge-fault
sock=$root/build/edge/run
N=10000

start_cluster() { dv_cluster "$1" edge "$port" "$work"; }

[ -x "$edge" ] || make -s -C "$root" src/edge/mekatek-edge
rm -rf "$work"; mkdir -p "$work"
start_cluster fresh
trap 'bash "$cluster" stop edge "$bindir"; kill $(jobs -p) 2>/dev/null || true' EXIT

psql() { "$bindir/psql" -X -q -h "$sock" -p "$port" -U postgres -v ON_ERROR_STOP=1 "$@"; }
psql -d postgres -c "CREATE DATABASE edge"
psql -d edge -c "CREATE EXTENSION mekatek CASCADE" \
     -c "DO \$\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'edge_cam') THEN CREATE ROLE edge_cam LOGIN IN ROLE mekatek_device; END IF; END \$\$" \
     -c "INSERT INTO mekatek.room VALUES ('resto', 'Restoran', NULL)"

# The camera: 10,000 events at ~500/s, each line stamped by the edge.
gen() {
    python3 -u - "$N" <<'PY'
import sys, time
n = int(sys.argv[1])
for i in range(n):
    print(f"visitor cam-1 resto in 1")
    if i % 50 == 49:
        time.sleep(0.1)
PY
}

conninfo="host=$sock port=$port dbname=edge user=edge_cam"
gen | timeout 180 "$edge" -d "$conninfo" -s "$work/spool" -r "$work/rejects" -e fault -b 100 -w 90 \
    2>"$work/edge.log" &
edge_pid=$!

sleep 4
echo "stopping the server for 10 s"
bash "$cluster" stop edge "$bindir"
sleep 10
echo "starting the server again"
start_cluster start

rc=0
wait "$edge_pid" || rc=$?
tail -n 5 "$work/edge.log"
[ "$rc" = 0 ] || { echo "mekatek-edge exited with $rc"; exit 1; }
grep -q "spooling" "$work/edge.log" || { echo "the outage was not seen (nothing spooled)"; exit 1; }
grep -q "spool replayed" "$work/edge.log" || { echo "the spool was not replayed"; exit 1; }
[ ! -s "$work/spool" ] || { echo "spool not empty"; exit 1; }
[ ! -s "$work/rejects" ] || { echo "rejected lines:"; head "$work/rejects"; exit 1; }

read -r total distinct entered inside <<<"$(psql -d edge -At -F ' ' -c \
    "SELECT (SELECT count(*) FROM mekatek.visitor_event),
            (SELECT count(DISTINCT event_id) FROM mekatek.visitor_event),
            entered, inside FROM mekatek.room_occupancy WHERE room_id = 'resto'")"
echo "events $total, distinct ids $distinct, occupancy entered $entered inside $inside"
[ "$total" = "$N" ] && [ "$distinct" = "$N" ] && [ "$entered" = "$N" ] && [ "$inside" = "$N" ] \
    || { echo "FAIL: expected $N of each"; exit 1; }

# The same edge for a scanner, with a bad line: the good ones arrive, the
# bad one goes to the reject file with the reason, and a replay of the same
# ids (a second run over the same input) inserts nothing twice.
cat >"$work/scans.txt" <<'LINES'
# scanner at LAB-1, its own event ids
@lab1:1 rfid lab-1 04D693CAA36580 LAB-1 2022-06-01T09:00:00+07
@lab1:2 rfid lab-1 04ce93caa36580 LAB-1 2022-06-01T09:00:10+07
@lab1:3 rfid lab-1 04CE93CAA36580 LAB-1 not-a-time
@lab1:4 visitor cam-2 resto sideways
LINES
for run in 1 2; do
    timeout 60 "$edge" -d "$conninfo" -s "$work/spool2" -r "$work/rejects2" -w 30 -i "$work/scans.txt" 2>>"$work/edge2.log"
done
scans=$(psql -d edge -At -c "SELECT count(*) FROM mekatek.rfid_scan")
rejects=$(grep -c '^# rejected: ' "$work/rejects2")
echo "scans $scans (expected 2), rejected lines $rejects (expected 4: 2 per run)"
[ "$scans" = 2 ] && [ "$rejects" = 4 ] || { cat "$work/rejects2"; exit 1; }
# Lines without an event id, read twice from a file: their ids come from
# the file, the line number and the line, so the second run inserts
# nothing.  The summary accounts for every line; the reject file holds
# each refused line, as a "# rejected: REASON" comment and the line, and
# fed back in it is refused again the same way: one format, readable back.
cat >"$work/noid.txt" <<'LINES'
# a camera and a scanner without event ids
visitor cam-5 lobby in 2 2024-05-01T10:00:00+07
visitor cam-5 lobby in 2024-05-01T10:00:01+07
visitor cam-5 lobby in 2024-05-01T10:00:01+07
visitor cam-5 lobby out 1 2024-05-01T10:00:09+07
rfid lab-5 04D693CAA36580 LAB-5 2024-05-01T10:00:02+07

visitor cam-5 lobby sideways
visitor cam-5
toaster on
visitor cam-5 lobby in 1 2024-05-01T10:00:03+07 extra
rfid lab-5 04D693CAA36580 LAB-5 2024-13-45T99:00:00
visitor cam-5 lobby in 1 not-a-time
LINES
want="lines 13: events 7, rejected 4, blank or comment 2; events: inserted 5, duplicates 0, refused by the server 2, spooled 0"
again="lines 13: events 7, rejected 4, blank or comment 2; events: inserted 0, duplicates 5, refused by the server 2, spooled 0"
back="lines 12: events 2, rejected 4, blank or comment 6; events: inserted 0, duplicates 0, refused by the server 2, spooled 0"
for run in 1 2 3; do
    in=$work/noid.txt; [ "$run" = 3 ] && in=$work/noid.rej1
    timeout 60 "$edge" -d "$conninfo" -s "$work/spool5" -r "$work/noid.rej$run" -w 30 -i "$in" 2>"$work/edge5.$run.log"
    got=$(sed -n 's/.*mekatek-edge [0-9:]*: \(lines .*\)/\1/p' "$work/edge5.$run.log")
    exp=$want; [ "$run" = 2 ] && exp=$again; [ "$run" = 3 ] && exp=$back
    echo "run $run: $got"
    [ "$got" = "$exp" ] || { echo "FAIL: expected: $exp"; exit 1; }
done
cmp "$work/noid.rej1" "$work/noid.rej3" || { echo "FAIL: the reject file read back is refused differently"; diff "$work/noid.rej1" "$work/noid.rej3"; exit 1; }
read -r lobby entered exited <<<"$(psql -d edge -At -F ' ' -c \
    "SELECT (SELECT count(*) FROM mekatek.visitor_event WHERE room_id = 'lobby'), entered, exited
       FROM mekatek.room_occupancy WHERE room_id = 'lobby'")"
echo "lobby: events $lobby (expected 4), entered $entered (4), exited $exited (1)"
[ "$lobby" = 4 ] && [ "$entered" = 4 ] && [ "$exited" = 1 ] || exit 1
# The same lines on a stream: a line with its TIME gets an id from its
# content (the second identical line is the second visitor); replayed, it
# inserts nothing.
for run in 1 2; do
    grep -v '^rfid' "$work/noid.txt" | sed 's/lobby/hall/' \
        | timeout 60 "$edge" -d "$conninfo" -s "$work/spool6" -w 30 2>"$work/edge6.$run.log"
done
hall=$(psql -d edge -At -c "SELECT entered || ' ' || exited FROM mekatek.room_occupancy WHERE room_id = 'hall'")
echo "hall from a stream read twice: entered exited $hall (expected 4 1)"
[ "$hall" = "4 1" ] || exit 1

# An edge that gives up while the server is away (--wait 2) keeps its
# spool; the next run replays it before anything else.
bash "$cluster" stop edge "$bindir"
rc=0
for i in $(seq 1 100); do echo "@restart:$i visitor cam-3 resto out"; done \
    | timeout 60 "$edge" -d "$conninfo" -s "$work/spool4" -w 2 2>"$work/edge4.log" || rc=$?
[ "$rc" = 2 ] && [ -s "$work/spool4" ] || { echo "FAIL: expected exit 2 and a spool, got $rc"; cat "$work/edge4.log"; exit 1; }
start_cluster start
timeout 60 "$edge" -d "$conninfo" -s "$work/spool4" -w 30 </dev/null 2>>"$work/edge4.log"
[ ! -s "$work/spool4" ] || { echo "FAIL: spool of the previous run not replayed"; exit 1; }
outs=$(psql -d edge -At -c "SELECT count(*) FROM mekatek.visitor_event WHERE event_id LIKE 'restart:%'")
echo "events spooled by a run that gave up, delivered by the next: $outs (expected 100)"
[ "$outs" = 100 ] || exit 1

# Fuzz the line parser: random bytes, blanks, NULs, over-long lines and
# near-miss events.  The edge must neither crash nor stall: exit 0, spool
# empty, and every line it took for an event either inserted or rejected.
python3 - "$work/garbage.txt" <<'PY'
import random, sys
random.seed(7)
words = [b"visitor", b"rfid", b"in", b"out", b"resto", b"cam-9", b"04D693CAA36580", b"LAB-1",
         b"@x", b"@", b"2024-05-01T10:00:00+07", b"-1", b"0", b"99999", b"1", b"\xff\xfe", b"\x00", b"#",
         b"mqtt", b"mekatek/visitor/cam-9", b"mekatek/rfid/sc-9", b'{"room": "resto", "dir": "in", "id": "z"}',
         b'{"uid": "04D693CAA36580", "lab": "LAB-1", "time": 1764583200}', b"{", b"}", b'"n":', b"[", b'"\\u0000"']
with open(sys.argv[1], "wb") as f:
    for i in range(3000):
        r = random.random()
        if r < 0.5:
            line = b" ".join(random.choice(words) for _ in range(random.randint(0, 9)))
        elif r < 0.9:
            line = bytes(random.randrange(1, 256) for _ in range(random.randint(0, 80))).replace(b"\n", b"")
        else:
            line = b"visitor cam-9 resto in " + b"9" * random.randint(1, 3000)
        f.write(line + b"\n")
PY
rc=0
timeout 120 "$edge" -d "$conninfo" -s "$work/spool3" -r "$work/rejects3" -w 30 -i "$work/garbage.txt" 2>"$work/edge3.log" || rc=$?
tail -n 1 "$work/edge3.log"
[ "$rc" = 0 ] && [ ! -s "$work/spool3" ] || { echo "FAIL: the edge stopped with $rc on garbage input"; exit 1; }
grep -q "rejected [1-9]" "$work/edge3.log" || { echo "FAIL: garbage was not rejected"; exit 1; }
echo "ok: $N events exactly once across a 10 s outage; garbage input rejected line by line"
