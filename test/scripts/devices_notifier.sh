#!/usr/bin/env bash
# devices: notifications reach the chat exactly once, in order, even when
# the notifier was down when they fired and the chat API fails for a while.
# A stand-in Telegram Bot API on loopback (test/devices/telegram_standin.py)
# answers the first requests with 500, then 429 (retry_after 1), then takes
# everything.  Door refusals (chat 200), capacity alerts (chat 100) and
# lab digests (chat 300: a scanner's batch of 5 tubes, one message each;
# one batch of 35, two messages, part 1 and 2 of 2) are made before the
# notifier starts, while it runs, and while it is stopped;
# at the end the stand-in holds each exactly once, per chat in the order
# they were made, and the outbox has nothing pending.
# Its own cluster ("notify", MK_TEST_PORT+5) and API port (+6).
source "$(dirname "$0")/../harness/common.sh"
root=$MK_ROOT
bindir=${MK_BINDIR:?MK_BINDIR must point at the PostgreSQL binaries}
port=$(mk_port notify)
api_port=$(mk_port telegram)
notify=$root/src/edge/mekatek-notify
cluster=$root/test/harness/cluster.sh
work=$root/build/notifier
sock=$root/build/notify/run

[ -x "$notify" ] || make -s -C "$root" src/edge/mekatek-notify
rm -rf "$work"; mkdir -p "$work"
MK_FAST=1 bash "$cluster" fresh notify "$port" "$bindir" >/dev/null
python3 "$root/test/devices/telegram_standin.py" "$api_port" "$work/chat.log" 3 2 &
api_pid=$!
trap 'kill $api_pid ${notify_pid:-} 2>/dev/null; bash "$cluster" stop notify "$bindir"' EXIT

psql() { "$bindir/psql" -X -q -h "$sock" -p "$port" -U postgres -v ON_ERROR_STOP=1 "$@"; }
psql -d postgres -c "CREATE DATABASE notify"
psql -d notify -c "CREATE EXTENSION mekatek CASCADE" \
     -c "DO \$\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'notifier') THEN CREATE ROLE notifier LOGIN IN ROLE mekatek_outbox; END IF; END \$\$" \
     -c "INSERT INTO mekatek.room VALUES ('resto', 'Restoran', 2)" \
     -c "SELECT count(mekatek.lab_register('04CC00' || lpad(g::text, 2, '0'), 'S' || g, 'PT Uji', 'sample', 'uji'))
           FROM generate_series(1, 50) g"

# n door refusals and one full/below pair per call, dated by the counter.
events() { # FIRST LAST
    psql -d notify -c "SELECT count(mekatek.door_access('front', '04AAAA' || lpad(g::text, 2, '0'))) FROM generate_series($1, $2) g" \
         -c "INSERT INTO mekatek.visitor_event(camera, room_id, direction, n, seen_at)
             SELECT 'cam', 'resto', d, 2, now() + (g * 2 + k) * interval '1 s'
               FROM generate_series($1, $2) g, (VALUES (0, 'in'), (1, 'out')) AS v(k, d) ORDER BY g, k" \
         -c "INSERT INTO mekatek.rfid_scan(scanner, uid, lab)
             SELECT 'sc', '04CC00' || lpad(g::text, 2, '0'), 'LAB-1' FROM generate_series($1, $2) g ORDER BY g"
}
notifier=("$notify" -d "host=$sock port=$port dbname=notify user=notifier" -u "http://127.0.0.1:$api_port/botTEST"
          -c capacity=100 -c door=200 -c lab=300 -b 100 -m 400)
# A stand-in that never listens (its port taken) would leave the notifier
# retrying for ever: fail at once instead.
for i in $(seq 50); do (echo >/dev/tcp/127.0.0.1/$api_port) 2>/dev/null && break; sleep 0.1; done
kill -0 $api_pid 2>/dev/null && (echo >/dev/tcp/127.0.0.1/$api_port) 2>/dev/null ||
    { echo "FAIL: the stand-in Telegram API did not listen on port $api_port"; exit 1; }

events 1 5                      # before any notifier runs
psql -d notify -c "INSERT INTO mekatek.rfid_scan(scanner, uid, lab)
                   SELECT 'sc', '04CC00' || lpad(g::text, 2, '0'), 'LAB-1' FROM generate_series(16, 50) g ORDER BY g"
"${notifier[@]}" 2>>"$work/notify.log" & notify_pid=$!
sleep 1
events 6 10                     # while it runs (and the API fails)
sleep 4
kill -TERM $notify_pid; wait $notify_pid || { echo "FAIL: the notifier did not stop cleanly"; exit 1; }; notify_pid=
events 11 15                    # while it is stopped
"${notifier[@]}" -1 2>>"$work/notify.log"   # deliver what is pending, then exit

tail -n 3 "$work/notify.log"
grep -q "answered 500" "$work/notify.log" || { echo "FAIL: the API's 500s were not seen"; exit 1; }
grep -q "rate limited" "$work/notify.log" || { echo "FAIL: the API's 429s were not seen"; exit 1; }
pending=$(psql -d notify -At -c "SELECT count(*) FROM mekatek.outbox WHERE delivered_at IS NULL")
door=$(grep -c '"chat_id": "200"' "$work/chat.log")
cap=$(grep -c '"chat_id": "100"' "$work/chat.log")
lab=$(grep -c '"chat_id": "300"' "$work/chat.log")
echo "delivered: door chat $door (expected 15), capacity chat $cap (expected 30), lab chat $lab (expected 5), pending $pending"
[ "$door" = 15 ] && [ "$cap" = 30 ] && [ "$lab" = 5 ] && [ "$pending" = 0 ] || { cat "$work/chat.log"; exit 1; }
# Exactly once and in order per chat: the door chat reads cards 01..15, the
# capacity chat full/below 15 times.
python3 - "$work/chat.log" <<'PY'
import json, sys
msgs = [json.loads(l) for l in open(sys.argv[1])]
door = [m["text"] for m in msgs if m["chat_id"] == "200"]
cards = [t.split("...")[1][:4] for t in door]
assert cards == [f"AA{g:02d}" for g in range(1, 16)], cards
cap = [m["text"].split(": ")[1].split(" ")[0] for m in msgs if m["chat_id"] == "100"]
assert cap == ["full", "below"] * 15, cap
# The lab chat: one digest per scanner batch, its samples in scan order.
lab = [m["text"].split("\n") for m in msgs if m["chat_id"] == "300"]
heads = [t[0] for t in lab]
assert heads == ["Lab LAB-1: 5 state changes"] + ["Lab LAB-1: 30 state changes (part 1 of 2)",
                 "Lab LAB-1: 5 state changes (part 2 of 2)"] + ["Lab LAB-1: 5 state changes"] * 2, heads
samples = [l.split(":")[0] for t in lab for l in t[1:]]
want = [f"S{g}" for g in list(range(1, 6)) + list(range(16, 51)) + list(range(6, 16))]
assert samples == want, samples
assert all(" registered -> queued at " in l for t in lab for l in t[1:]), lab
assert all(len(m["text"]) <= 4096 for m in msgs)
assert all(m["method"] == "sendMessage" for m in msgs)
print("ok: exactly once, in order per chat;", door[0])
PY
