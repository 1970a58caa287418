#!/usr/bin/env bash
# ledger: the chat bridge end to end.  mekatek-chat reads message events as
# JSON lines (as a whatsapp-web.js bot would write them), logged in as a
# role that is only a member of mekatek_bot; it writes one answer line per
# message, skips a malformed line with its line number, answers a
# redelivery as a duplicate.  Then the deliverer (-O, a mekatek_outbox
# member) prints every queued reply once: a second drain prints nothing.
set -euo pipefail
root=${MK_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
chat=$root/src/edge/mekatek-chat
work=$root/build/ledger-bridge
[ -n "${PGHOST:-}" ] || { echo "needs the test cluster (run through make test)"; exit 77; }
[ -x "$chat" ] || make -s -C "$root" src/edge/mekatek-chat
rm -rf "$work"; mkdir -p "$work"

psql() { command psql -X -q -v ON_ERROR_STOP=1 "$@"; }
psql -d postgres -c "DROP DATABASE IF EXISTS ledger_bridge" -c "CREATE DATABASE ledger_bridge"
psql -d ledger_bridge -c "CREATE EXTENSION mekatek CASCADE" \
     -c "DO \$\$ BEGIN
           IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'chat_bot') THEN CREATE ROLE chat_bot LOGIN IN ROLE mekatek_bot; END IF;
           IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'chat_deliver') THEN CREATE ROLE chat_deliver LOGIN IN ROLE mekatek_outbox; END IF;
         END \$\$" \
     -c "SELECT mekatek.ledger_setup('6281100000000', 'Budi')" >/dev/null

cat > "$work/in.jsonl" <<'JSON'
{"source": "wa", "message_id": "m1", "group_id": "120363@g.us", "sender": "6281100000000@c.us", "sent_at": "2026-12-01T07:00:00+07:00", "body": "groupadd 081200000001 Andi"}
{"source": "wa", "message_id": "m2", "group_id": "120363@g.us", "sender": "6281100000000@c.us", "sent_at": "2026-12-01T09:00:00+07:00", "body": "done 2 x 50rb \"ML\" diamonds"}
this is not json
{"source": "wa", "message_id": "m3", "group_id": "120363@g.us", "sender": "6281100000000@c.us", "sent_at": "2026-12-01T09:01:00+07:00", "body": "done 1 x 1.5"}
{"source": "wa", "message_id": "m2", "group_id": "120363@g.us", "sender": "6281100000000@c.us", "sent_at": "2026-12-01T09:00:00+07:00", "body": "done 2 x 50rb \"ML\" diamonds"}
{"source": "wa", "message_id": "m4", "group_id": "120363@g.us", "sender": "6281100000000@c.us", "sent_at": "2026-12-01T09:02:00+07:00", "body": "done 1 x 25.000"}
{"source": "wa", "message_id": "m4", "group_id": "120363@g.us", "sender": "6281100000000@c.us", "sent_at": "2026-12-01T09:03:00+07:00", "body": "", "revoked": true}
{"source": "wa", "message_id": "m5", "group_id": "120363@g.us", "sender": "6281100000000@c.us", "body": "total"}
{"source": "wa", "message_id": "m6", "group_id": "120363@g.us", "sender": "6281100000000@c.us", "sent_at": "2026-12-01T09:05:00+07:00", "body": "total"}
JSON

rc=0
"$chat" -d "dbname=ledger_bridge user=chat_bot" -f "$work/in.jsonl" >"$work/out.jsonl" 2>"$work/err.log" || rc=$?
cat "$work/out.jsonl" "$work/err.log"
[ "$rc" = 1 ] || { echo "expected exit 1 (two bad lines), got $rc"; exit 1; }

python3 - "$work/out.jsonl" "$work/err.log" <<'PY'
import json, sys
out = [json.loads(l) for l in open(sys.argv[1])]
err = open(sys.argv[2]).read()
want = [("m1", "recorded", None), ("m2", "recorded", 100000), ("m3", "rejected", None),
        ("m2", "duplicate", 100000), ("m4", "recorded", 125000), ("m4", "recorded", 100000),
        ("m6", "answered", 100000)]
got = [(o["message_id"], o["outcome"], o["unpaid"]) for o in out]
assert got == want, got
assert out[1]["reply"] == "Recorded: 2 x Rp50.000 = Rp100.000. Unpaid: Rp100.000", out[1]
assert "line 3: not a JSON object" in err and 'line 8: "sent_at" is missing' in err, err
print("bridge: 7 answers, 2 bad lines reported")
PY

# The deliverer: every reply once, then nothing.
"$chat" -d "dbname=ledger_bridge user=chat_deliver" -O -1 >"$work/replies1.jsonl"
"$chat" -d "dbname=ledger_bridge user=chat_deliver" -O -1 >"$work/replies2.jsonl"
python3 - "$work/replies1.jsonl" "$work/replies2.jsonl" <<'PY'
import json, sys
r1 = [json.loads(l) for l in open(sys.argv[1])]
r2 = open(sys.argv[2]).read()
assert [r["message_id"] for r in r1] == ["m1", "m2", "m3", "m4", "m4", "m6"], r1
assert all(r["group_id"] == "120363@g.us" for r in r1)
assert r2 == "", r2
print("outbox: 6 replies delivered once")
PY
left=$(psql -d ledger_bridge -Atc "SELECT count(*) FROM mekatek.outbox WHERE delivered_at IS NULL")
[ "$left" = 0 ] || { echo "$left replies not marked delivered"; exit 1; }

# A live deliverer under concurrent ingestion: replies notify once per
# burst, so every one must still go out, once, without waiting for the
# deliverer's 30-second poll (a reply stranded by a missed wake-up would
# wait for it).  4 clients, 2,000 sales, then at most 10 s to drain.
"$chat" -d "dbname=ledger_bridge user=chat_deliver" -O >"$work/live.jsonl" 2>"$work/live.err" &
deliverer=$!
trap 'kill $deliverer 2>/dev/null || true' EXIT
cat > "$work/sales.pgbench" <<'SQL'
\set q random(1, 5)
SELECT outcome FROM mekatek.chat_ingest('wa', 's-' || :client_id || '-' || :n, '120363@g.us', '6281100000000@c.us',
    now(), 'done ' || :q || ' x 10rb');
\set n :n + 1
SQL
pgbench -n -c 4 -j 2 -t 500 -D n=0 -f "$work/sales.pgbench" -U chat_bot ledger_bridge >"$work/pgbench.log" 2>&1 \
    || { cat "$work/pgbench.log"; exit 1; }
for _ in $(seq 1 20); do
    left=$(psql -d ledger_bridge -Atc "SELECT count(*) FROM mekatek.outbox WHERE delivered_at IS NULL")
    [ "$left" = 0 ] && break
    sleep 0.5
done
kill $deliverer; wait $deliverer 2>/dev/null || true
trap - EXIT
[ "$left" = 0 ] || { echo "$left replies still undelivered 10 s after the last sale (a missed wake-up)"; cat "$work/live.err"; exit 1; }
python3 - "$work/live.jsonl" <<'PY'
import json, sys
ids = [json.loads(l)["message_id"] for l in open(sys.argv[1])]
sales = [i for i in ids if i.startswith("s-")]
assert len(sales) == 2000 and len(set(sales)) == 2000, (len(sales), len(set(sales)))
print("live deliverer: 2000 concurrent replies, each delivered once, none left waiting")
PY
entries=$(psql -d ledger_bridge -Atc "SELECT count(*) FROM mekatek.ledger_entry WHERE message_id LIKE 's-%'")
[ "$entries" = 2000 ] || { echo "expected 2000 entries, got $entries"; exit 1; }

psql -d postgres -c "DROP DATABASE ledger_bridge"
echo "ledger bridge: ingest and delivery through mekatek-chat as mekatek_bot / mekatek_outbox members"
