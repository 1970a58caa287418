#!/usr/bin/env bash
# chain: a day of a chain of three servers (issue 22's acceptance test).
# Headquarters and two branch servers, each a private cluster with
# wal_level = logical on loopback (ports chain_hq, chain_b1, chain_b2 in
# test/harness/common.sh), set up with the mekatek.chain_setup_* helpers.
# Both branches sell, return and send a transfer, also while headquarters
# is stopped; headquarters changes a price that reaches both branches.
# Afterwards:
#   - headquarters' sales and till reports per branch equal each branch's
#     own, and the chain total is their sum;
#   - no id collides (each node's ids carry its node id in the high bits);
#   - the stock invariant (qty_on_hand = sum of the ledger) holds at each
#     server, and headquarters' ledger is exactly the union of the
#     branches' ledgers;
#   - no trigger acted twice: headquarters' stock_movement, audit_log and
#     outbox rows are the branches' plus its own, nothing more;
#   - transfers: received, short and in transit, reconciled at
#     headquarters in chain_transfers_pending;
#   - writes in the wrong place are refused with 25M01.
source "$(dirname "$0")/../harness/common.sh"
bindir=${MK_BINDIR:?MK_BINDIR must point at the PostgreSQL binaries}
cluster=$MK_ROOT/test/harness/cluster.sh
nodes=(chain_hq chain_b1 chain_b2)
db=chain

declare -A port
for n in "${nodes[@]}"; do port[$n]=$(mk_port "$n"); done

stop_all() { for n in "${nodes[@]}"; do bash "$cluster" stop "$n" "$bindir"; done; }
trap stop_all EXIT

# Logical replication; a short retry so that a subscription reconnects
# soon after headquarters is back; WAL kept for a branch offline up to
# max_slot_wal_keep_size (README "Offline").
export MK_CLUSTER_CONF="wal_level = logical
max_wal_senders = 10
max_replication_slots = 10
max_logical_replication_workers = 6
wal_retrieve_retry_interval = '500ms'
max_slot_wal_keep_size = '256MB'"
export MK_FAST=1
start() { bash "$cluster" "$1" "$2" "${port[$2]}" "$bindir"; }
for n in "${nodes[@]}"; do start fresh "$n" & done
wait

q() { # q NODE SQL...: one value per line, errors stop the test
    local n=$1; shift
    "$bindir/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$MK_BUILD/$n/run" -p "${port[$n]}" -U postgres -d "$db" "$@"
}
expect_error() { # expect_error NODE SQLSTATE SQL
    local out
    out=$("$bindir/psql" -X -q -At -v VERBOSITY=verbose -h "$MK_BUILD/$1/run" -p "${port[$1]}" -U postgres -d "$db" \
          -c "$3" 2>&1) && { echo "FAIL: expected $2 at $1 from: $3"; exit 1; }
    grep -q "ERROR:  $2:" <<<"$out" || { echo "FAIL: expected $2 at $1, got: $out"; exit 1; }
    echo "refused at $1 ($2): $(grep -m1 "ERROR:" <<<"$out" | sed 's/^ERROR:  [0-9A-Z]*: //')"
}
conn() { echo "host=127.0.0.1 port=${port[$1]} dbname=$db user=postgres"; }

for n in "${nodes[@]}"; do
    "$bindir/psql" -X -q -h "$MK_BUILD/$n/run" -p "${port[$n]}" -U postgres -d postgres -c "CREATE DATABASE $db"
    q "$n" -c "CREATE EXTENSION mekatek CASCADE" &
done
wait

# --- Headquarters: master data, then the chain -------------------------------
q chain_hq <<'SQL'
INSERT INTO mekatek.branch (name, time_zone) VALUES ('Apotek Jakarta', 'Asia/Jakarta'), ('Apotek Makassar', 'Asia/Makassar');
INSERT INTO mekatek.tax_class (tax_class, rate, note) VALUES ('exempt', 0, 'PPN-exempt medicines');
INSERT INTO mekatek.product (sku, name, unit, price, min_stock, tax_class) VALUES
    ('PCT500', 'Paracetamol 500 mg', 'strip', 5000, 20, NULL),
    ('AMX500', 'Amoxicillin 500 mg', 'strip', 12000, 5, 'exempt'),
    ('ORS200', 'Oralit 200 ml', 'sachet', 2500, 10, NULL);
INSERT INTO mekatek.supplier (name) VALUES ('PBF Sehat');
SELECT mekatek.chain_setup_headquarters();
SELECT mekatek.chain_setup_member(1), mekatek.chain_setup_member(2);
SQL
for b in 1 2; do q chain_hq -c "SELECT mekatek.chain_setup_slot($b)" >/dev/null; done

# --- Each branch: its identity, its publications, its slot, its subscription -
for b in 1 2; do
    n=chain_b$b
    q "$n" -c "SELECT mekatek.chain_setup_branch($b)" >/dev/null
    q "$n" -c "SELECT mekatek.chain_setup_slot($b)" >/dev/null
    q "$n" -c "SELECT mekatek.chain_setup_subscribe('$(conn chain_hq)')" >/dev/null
    q chain_hq -c "SELECT mekatek.chain_setup_subscribe('$(conn "$n")', $b)" >/dev/null
done

wait_for() { # wait_for WHAT NODE SQL: until SQL returns t (60 s)
    local i
    for i in $(seq 1 240); do
        [ "$(q "$2" -c "$3" 2>/dev/null)" = t ] && return 0
        sleep 0.25
    done
    echo "FAIL: timed out waiting for $1 at $2"
    q "$2" -c "SELECT * FROM mekatek.chain_status" || true
    exit 1
}
for b in 1 2; do
    wait_for "the master data" "chain_b$b" "SELECT count(*) = 3 FROM mekatek.product"
done
echo "master data at both branches"

# The branch's rows, as one digest (same query at the branch and at
# headquarters): sales, lines, payments, returns, lots, the ledger,
# transfers sent and received, and the audit rows of its node.
digest() { # digest BRANCH
    cat <<SQL
SELECT md5(coalesce(string_agg(x, ',' ORDER BY x), '')) FROM (
  SELECT 'S' || sale_id || ':' || status || ':' || total || ':' || coalesce(receipt_no, '') AS x FROM mekatek.sale WHERE branch_id = $1
  UNION ALL SELECT 'L' || l.sale_id || ':' || l.line_no || ':' || l.qty || ':' || l.amount FROM mekatek.sale_line l JOIN mekatek.sale s USING (sale_id) WHERE s.branch_id = $1
  UNION ALL SELECT 'P' || payment_id || ':' || p.amount FROM mekatek.payment p JOIN mekatek.sale s USING (sale_id) WHERE s.branch_id = $1
  UNION ALL SELECT 'R' || return_id || ':' || r.refund FROM mekatek.sale_return r JOIN mekatek.sale s USING (sale_id) WHERE s.branch_id = $1
  UNION ALL SELECT 'B' || batch_id || ':' || qty_on_hand FROM mekatek.batch WHERE branch_id = $1
  UNION ALL SELECT 'M' || movement_id || ':' || m.qty_delta || ':' || m.reason FROM mekatek.stock_movement m JOIN mekatek.batch b USING (batch_id) WHERE b.branch_id = $1
  UNION ALL SELECT 'T' || transfer_id || ':' || qty FROM mekatek.stock_transfer WHERE from_branch_id = $1
  UNION ALL SELECT 'X' || transfer_id || ':' || from_batch_id || ':' || qty_received FROM mekatek.chain_transfer_arrival WHERE to_branch_id = $1
  UNION ALL SELECT 'A' || audit_id || ':' || table_name || ':' || op FROM mekatek.audit_log WHERE audit_id >> 48 = $1
) d
SQL
}
caught_up() { # caught_up: headquarters holds exactly what both branches wrote
    local b want
    for b in 1 2; do
        want=$(q "chain_b$b" -c "$(digest $b)")
        wait_for "branch $b's rows" chain_hq "SELECT ($(digest $b)) = '$want'"
    done
}

# --- Morning: stock arrives, both branches sell ------------------------------
for b in 1 2; do
    q "chain_b$b" <<SQL >/dev/null
SELECT mekatek.receive_stock('PCT500', 'P-$b-01', current_date + 400, 100, 3000, $b);
SELECT mekatek.receive_stock('AMX500', 'A-$b-01', current_date + 300, 40, 8000, $b);
SELECT mekatek.receive_stock('ORS200', 'O-$b-01', current_date + 500, 60, 1500, $b);
SELECT mekatek.checkout($b, '[{"sku": "PCT500", "qty": 2}, {"sku": "AMX500", "qty": 1}]') FROM generate_series(1, 5);
SELECT mekatek.checkout($b, '[{"sku": "ORS200", "qty": 3}]',
                        payments => '[{"method": "qris", "amount": 7500, "reference": "QRIS-$b"}]');
SQL
done
caught_up
echo "morning sales at headquarters"

# --- Headquarters goes down; the branches keep selling -----------------------
bash "$cluster" stop chain_hq "$bindir"
echo "headquarters stopped"
for b in 1 2; do
    q "chain_b$b" <<SQL >/dev/null
SELECT mekatek.checkout($b, '[{"sku": "PCT500", "qty": 1}, {"sku": "ORS200", "qty": 2}]') FROM generate_series(1, 8);
SELECT mekatek.return_line((SELECT min(sale_id) FROM mekatek.sale), 1, 1, 'bought one too many');
SQL
done
# transfers while headquarters is down: 1 -> 2 (to be received whole),
# 2 -> 1 (to arrive short), 1 -> 2 (left in transit)
t12=$(q chain_b1 -c "SELECT mekatek.transfer_stock(1, 2, 'PCT500', 10, in_transit => true, note => 'restock')")
t21=$(q chain_b2 -c "SELECT mekatek.transfer_stock(2, 1, 'AMX500', 6, in_transit => true)")
t12b=$(q chain_b1 -c "SELECT mekatek.transfer_stock(1, 2, 'ORS200', 4, in_transit => true)")
status=$(q chain_b1 -c "SELECT active || ' ' || wal_status || ' ' || (slot_bytes > 0) FROM mekatek.chain_status WHERE direction = 'sending'")
echo "branch 1's slot while headquarters is down (active, wal_status, WAL kept): $status"
[ "$status" = "false reserved true" ] || { echo "FAIL: expected the slot inactive, reserved, holding WAL"; exit 1; }

# --- Headquarters is back: it catches up, then changes a price ---------------
start start chain_hq
echo "headquarters started again"
caught_up
q chain_hq -c "UPDATE mekatek.product SET price = 5500 WHERE sku = 'PCT500'"
for b in 1 2; do
    wait_for "the new price" "chain_b$b" "SELECT price = 5500 FROM mekatek.product WHERE sku = 'PCT500'"
    wait_for "the transfers to branch $b" "chain_b$b" \
        "SELECT count(*) = $([ $b = 1 ] && echo 1 || echo 2) FROM mekatek.stock_transfer WHERE to_branch_id = $b"
done
echo "the price change reached both branches"
q chain_b2 -c "SELECT mekatek.chain_transfer_receive($t12)" >/dev/null
q chain_b1 -c "SELECT mekatek.chain_transfer_receive($t21, 4)" >/dev/null
for b in 1 2; do
    q "chain_b$b" -c "SELECT mekatek.checkout($b, '[{\"sku\": \"PCT500\", \"qty\": 2}]') FROM generate_series(1, 3)" >/dev/null
done
caught_up
echo "afternoon at headquarters"

# --- Branch 2 offline past max_slot_wal_keep_size: its slot is lost -------
# (1MB for this test; README "Offline" says how to size it), then the
# re-sync: a new slot at the branch, chain_setup_resync at headquarters.
bash "$cluster" stop chain_hq "$bindir"
q chain_b2 -c "ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'" -c "SELECT pg_reload_conf()" >/dev/null
q chain_b2 -c "SELECT mekatek.checkout(2, '[{\"sku\": \"ORS200\", \"qty\": 1}]') FROM generate_series(1, 4)" >/dev/null
for i in 1 2 3; do q chain_b2 -c "SELECT pg_switch_wal()" -c "CHECKPOINT" >/dev/null; done
wait_for "branch 2's slot to be lost" chain_b2 \
    "SELECT wal_status = 'lost' FROM mekatek.chain_status WHERE direction = 'sending'"
echo "branch 2's slot: $(q chain_b2 -c "SELECT wal_status FROM mekatek.chain_status WHERE direction = 'sending'")"
q chain_b2 -c "ALTER SYSTEM RESET max_slot_wal_keep_size" -c "SELECT pg_reload_conf()" >/dev/null
start start chain_hq
q chain_b2 -c "SELECT mekatek.chain_setup_slot(2)" >/dev/null
echo "re-sync of branch 2: $(q chain_hq -c "SELECT mekatek.chain_setup_resync(2, '$(conn chain_b2)')") rows deleted at headquarters, copied again"
caught_up
echo "branch 2 re-synced"

fail=0
check() { # check WHAT GOT WANT
    if [ "$2" = "$3" ]; then echo "ok: $1 ($2)"; else echo "FAIL: $1: got $2, want $3"; fail=1; fi
}

# --- Reports: per branch equal, the chain total their sum --------------------
range="current_date - 1, current_date + 1"
for b in 1 2; do
    check "sales_report of branch $b at headquarters = at the branch" \
        "$(q chain_hq -c "SELECT md5(string_agg(r::text, ';')) FROM mekatek.sales_report($range, 'day', $b) r")" \
        "$(q "chain_b$b" -c "SELECT md5(string_agg(r::text, ';')) FROM mekatek.sales_report($range, 'day', $b) r")"
    check "till_report of branch $b at headquarters = at the branch" \
        "$(q chain_hq -c "SELECT md5(string_agg(r::text, ';')) FROM mekatek.till_report($range) r WHERE branch_id = $b")" \
        "$(q "chain_b$b" -c "SELECT md5(string_agg(r::text, ';')) FROM mekatek.till_report($range) r WHERE branch_id = $b")"
done
total=$(q chain_hq -c "SELECT sum(revenue) FROM mekatek.sales_report($range)")
sum=0
for b in 1 2; do
    r=$(q "chain_b$b" -c "SELECT sum(revenue) FROM mekatek.sales_report($range, 'day', $b)")
    sum=$(q chain_hq -c "SELECT $sum + $r")
done
check "the chain's revenue = the sum of the branches'" "$total" "$sum"
check "the sale after the price change sold at the new price, at both branches" \
    "$(q chain_hq -c "SELECT count(DISTINCT s.branch_id) FROM mekatek.sale_line l JOIN mekatek.sale s USING (sale_id)
                      JOIN mekatek.product p USING (product_id) WHERE p.sku = 'PCT500' AND l.unit_price = 5500")" 2

# --- Ids: every node in its own range, nothing collides ----------------------
for b in 1 2; do
    check "every id written at branch $b carries node $b" \
        "$(q "chain_b$b" -c "SELECT bool_and(id >> 48 = $b) FROM (
              SELECT sale_id AS id FROM mekatek.sale UNION ALL SELECT payment_id FROM mekatek.payment
              UNION ALL SELECT batch_id FROM mekatek.batch UNION ALL SELECT movement_id FROM mekatek.stock_movement
              UNION ALL SELECT return_id FROM mekatek.sale_return UNION ALL SELECT audit_id FROM mekatek.audit_log
              UNION ALL SELECT transfer_id FROM mekatek.stock_transfer WHERE from_branch_id = $b) i")" t
done
for t in sale payment batch stock_movement sale_return audit_log; do
    id=$(q chain_hq -c "SELECT a.attname FROM pg_attribute a WHERE a.attrelid = 'mekatek.$t'::regclass AND a.attidentity <> ''")
    n1=$(q chain_b1 -c "SELECT count(*) FROM mekatek.$t")
    n2=$(q chain_b2 -c "SELECT count(*) FROM mekatek.$t")
    nh=$(q chain_hq -c "SELECT count(DISTINCT $id) FROM mekatek.$t WHERE $id >> 48 IN (1, 2)")
    check "$t: distinct ids at headquarters = branch 1's + branch 2's rows" "$nh" "$((n1 + n2))"
done

# --- Stock: the invariant everywhere; headquarters' ledger = the union -------
invariant="SELECT count(*) FROM mekatek.batch b WHERE b.qty_on_hand <> (SELECT coalesce(sum(m.qty_delta), 0) FROM mekatek.stock_movement m WHERE m.batch_id = b.batch_id)"
for n in "${nodes[@]}"; do check "batches off their ledger at $n" "$(q "$n" -c "$invariant")" 0; done
ledger="SELECT movement_id || ':' || batch_id || ':' || qty_delta || ':' || reason FROM mekatek.stock_movement"
check "headquarters' ledger = the union of the branches' ledgers" \
    "$(q chain_hq -c "$ledger" | sort | md5sum)" \
    "$( (q chain_b1 -c "$ledger"; q chain_b2 -c "$ledger") | sort | md5sum)"

# --- Nothing acted twice -----------------------------------------------------
# Headquarters' own audit rows are node 0's (the products it created and
# the price change); every other one came from a branch, once.  A branch
# has no audit row of headquarters' product changes, and no outbox row
# came by replication anywhere.
check "headquarters audited its price change" \
    "$(q chain_hq -c "SELECT count(*) FROM mekatek.audit_log WHERE audit_id >> 48 = 0 AND table_name = 'product' AND op = 'UPDATE'")" 1
check "audit rows at headquarters = its own + the branches'" \
    "$(q chain_hq -c "SELECT count(*) FROM mekatek.audit_log")" \
    "$(( $(q chain_hq -c "SELECT count(*) FROM mekatek.audit_log WHERE audit_id >> 48 = 0") + $(q chain_b1 -c "SELECT count(*) FROM mekatek.audit_log") + $(q chain_b2 -c "SELECT count(*) FROM mekatek.audit_log") ))"
for b in 1 2; do
    check "branch $b: no audit row of headquarters' product changes" \
        "$(q "chain_b$b" -c "SELECT count(*) FROM mekatek.audit_log WHERE table_name = 'product'")" 0
done
check "outbox rows at headquarters (none of the branches' messages is delivered twice)" \
    "$(q chain_hq -c "SELECT count(*) FROM mekatek.outbox")" 0
check "no trigger of ours is ENABLE ALWAYS or REPLICA on a replicated table" \
    "$(for n in "${nodes[@]}"; do q "$n" -c "SELECT count(*) FROM pg_publication_tables pt JOIN pg_trigger t
          ON t.tgrelid = format('%I.%I', pt.schemaname, pt.tablename)::regclass WHERE t.tgenabled IN ('A', 'R')"; done | sort -u)" 0

# --- Transfers reconciled at headquarters ------------------------------------
check "branch 2 holds the lot branch 1 sent" \
    "$(q chain_b2 -c "SELECT qty_on_hand FROM mekatek.batch WHERE lot = 'P-1-01'")" 10
check "transfers pending at headquarters (short, in transit)" \
    "$(q chain_hq -c "SELECT string_agg(transfer_id || ':' || state || ':' || qty_sent || ':' || qty_received, ' ' ORDER BY transfer_id)
                      FROM mekatek.chain_transfers_pending")" \
    "$t12b:in_transit:4:0 $t21:short:6:4"

# --- Writes in the wrong place -----------------------------------------------
expect_error chain_b1 25M01 "UPDATE mekatek.product SET price = 1 WHERE sku = 'PCT500'"
expect_error chain_b1 25M01 "SELECT mekatek.checkout(2, '[{\"sku\": \"PCT500\", \"qty\": 1}]')"
expect_error chain_hq 25M01 "SELECT mekatek.checkout(1, '[{\"sku\": \"PCT500\", \"qty\": 1}]')"
expect_error chain_hq 25M01 "UPDATE mekatek.sale SET status = 'void' WHERE sale_id = (SELECT max(sale_id) FROM mekatek.sale)"
expect_error chain_b2 25M01 "SELECT mekatek.chain_transfer_receive($t21)"

q chain_hq -c "SELECT direction, branch_id, name, active, wal_status FROM mekatek.chain_status ORDER BY 1, 2"
[ "$fail" = 0 ] || exit 1
echo "chain day: all equalities hold"
