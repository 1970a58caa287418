#!/usr/bin/env bash
# Load test: 8 cashiers hammer a hot product whose 500 units run out during
# the run, while also selling from 200 other products.  Refused sales are
# caught and counted; afterwards exactly 500 units of the hot product have
# been sold (never more), no batch is negative and the ledger adds up.
# Then a mixed load at two branches (below).
set -euo pipefail
db=mekatek_pos_load
psql -Xq -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
export PGDATABASE=$db
psql -Xq -v ON_ERROR_STOP=1 <<'SQL'
CREATE EXTENSION mekatek;
INSERT INTO mekatek.branch (name) VALUES ('Load');
INSERT INTO mekatek.product (sku, name, price) VALUES ('HOT', 'Hot product', 5000);
INSERT INTO mekatek.product (sku, name, price)
SELECT 'P' || i, 'Product ' || i, 100 * i FROM generate_series(1, 200) i;
SELECT count(mekatek.receive_stock('HOT', 'H' || l, current_date + 10 * l, n))
  FROM (VALUES (1, 120), (2, 300), (3, 80)) v(l, n);
SELECT count(mekatek.receive_stock('P' || i, 'L1', current_date + 90, 100000)) FROM generate_series(1, 200) i;
CREATE TABLE refused (n int);
CREATE FUNCTION try_sell(lines jsonb) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    PERFORM mekatek.checkout(1, lines);
    RETURN true;
EXCEPTION WHEN SQLSTATE '23M01' THEN  -- insufficient stock (since 0.2.0; 23514 before)
    INSERT INTO refused VALUES (1);
    RETURN false;
END $$;
SQL
cat > "$MK_BUILD/pos_load.pgbench" <<'SCRIPT'
\set q random(1, 3)
\set a random(1, 200)
\set b random(1, 200)
SELECT try_sell(jsonb_build_array(jsonb_build_object('sku', 'P' || :a, 'qty', 1),
                                  jsonb_build_object('sku', 'HOT', 'qty', :q),
                                  jsonb_build_object('sku', 'P' || :b, 'qty', 2)));
SCRIPT
"$MK_BINDIR/pgbench" -n -f "$MK_BUILD/pos_load.pgbench" -c 8 -j 2 -t 150 --max-tries=50 2>&1 \
    | grep -E '^(number of (transactions|failed)|tps)' || true
psql -Xq -At -v ON_ERROR_STOP=1 <<'SQL'
SELECT 'hot units sold: ' || coalesce(sum(l.qty), 0) || ', left: ' ||
       (SELECT sum(qty_on_hand) FROM mekatek.batch b JOIN mekatek.product p USING (product_id) WHERE p.sku = 'HOT') ||
       ', refused sales: ' || (SELECT count(*) FROM refused)
  FROM mekatek.sale_line l JOIN mekatek.product p USING (product_id) JOIN mekatek.sale s USING (sale_id)
 WHERE p.sku = 'HOT' AND s.status = 'paid';
DO $$
DECLARE sold bigint; left_ bigint; bad int;
BEGIN
    SELECT coalesce(sum(l.qty), 0) INTO sold FROM mekatek.sale_line l
      JOIN mekatek.sale s USING (sale_id) WHERE s.status = 'paid' AND l.product_id = 1;
    SELECT sum(qty_on_hand) INTO left_ FROM mekatek.batch WHERE product_id = 1;
    IF sold + left_ <> 500 THEN RAISE EXCEPTION 'hot product: sold % + left % <> 500', sold, left_; END IF;
    IF left_ > 2 THEN RAISE EXCEPTION 'the run should have exhausted the hot product, % left', left_; END IF;
    SELECT count(*) INTO bad FROM mekatek.batch WHERE qty_on_hand < 0;
    IF bad > 0 THEN RAISE EXCEPTION '% negative batches', bad; END IF;
    SELECT count(*) INTO bad FROM (
        SELECT b.batch_id FROM mekatek.batch b LEFT JOIN mekatek.stock_movement m USING (batch_id)
         GROUP BY b.batch_id HAVING b.qty_on_hand <> coalesce(sum(m.qty_delta), 0)) x;
    IF bad > 0 THEN RAISE EXCEPTION 'ledger invariant broken on % batches', bad; END IF;
    SELECT count(*) INTO bad FROM mekatek.sale s
     WHERE s.status = 'paid' AND s.total <> (SELECT sum(amount) FROM mekatek.sale_line l WHERE l.sale_id = s.sale_id);
    IF bad > 0 THEN RAISE EXCEPTION '% sales with a wrong total', bad; END IF;
END $$;
SELECT 'ok: no oversell, no negative stock, ledger and totals add up';
SQL

# Two branches: 8 clients mix sales at both branches, transfers both ways,
# receipts and voids (returns) of one product.  Afterwards every batch
# equals its ledger, each branch's stock of the product equals the sum of
# its movements, nothing is negative, and the units add up: received -
# sold + voided = on hand at the two branches (transfers move units, never
# make or lose them).  Deadlocks between opposite transfers are retried.
psql -Xq -v ON_ERROR_STOP=1 <<'SQL'
INSERT INTO mekatek.branch (name, time_zone) VALUES ('Load Makassar', 'Asia/Makassar');
INSERT INTO mekatek.product (sku, name, price) VALUES ('MIX', 'Mixed product', 1000);
SELECT mekatek.receive_stock('MIX', 'M1-' || b, current_date + 50, 300, 500, b),
       mekatek.receive_stock('MIX', 'M2-' || b, current_date + 90, 300, 600, b)
  FROM (VALUES (1), (2)) v(b);
CREATE FUNCTION mixed_op(op int, branch int, n int) RETURNS text LANGUAGE plpgsql AS $$
DECLARE sid bigint;
BEGIN
    CASE op
    WHEN 0, 1, 2 THEN
        PERFORM mekatek.checkout(branch, jsonb_build_array(jsonb_build_object('sku', 'MIX', 'qty', n)));
    WHEN 3 THEN
        PERFORM mekatek.transfer_stock(branch, 3 - branch, 'MIX', n);
    WHEN 4 THEN
        PERFORM mekatek.receive_stock('MIX', 'M' || (1 + n % 2) || '-' || branch, current_date + 50 + 40 * (n % 2), n, NULL, branch);
    ELSE
        SELECT s.sale_id INTO sid FROM mekatek.sale s
         WHERE s.status = 'paid' AND s.branch_id = branch
           AND EXISTS (SELECT FROM mekatek.sale_line l JOIN mekatek.product p USING (product_id)
                        WHERE l.sale_id = s.sale_id AND p.sku = 'MIX')
         ORDER BY s.sale_id DESC LIMIT 1 FOR UPDATE SKIP LOCKED;
        IF sid IS NOT NULL THEN
            UPDATE mekatek.sale SET status = 'void' WHERE sale_id = sid;
        END IF;
    END CASE;
    RETURN 'ok';
EXCEPTION WHEN check_violation THEN
    RETURN 'refused';
END $$;
SQL
cat > "$MK_BUILD/pos_load_mixed.pgbench" <<'SCRIPT'
\set op random(0, 5)
\set branch random(1, 2)
\set n random(1, 4)
SELECT mixed_op(:op, :branch, :n);
SCRIPT
"$MK_BINDIR/pgbench" -n -f "$MK_BUILD/pos_load_mixed.pgbench" -c 8 -j 2 -t 150 --max-tries=50 2>&1 \
    | grep -E '^(number of (transactions|failed|transactions retried)|tps)' || true
psql -Xq -At -v ON_ERROR_STOP=1 <<'SQL'
DO $$
DECLARE bad int; received bigint; sold bigint; voided bigint; on_hand bigint; in_transit bigint;
BEGIN
    SELECT count(*) INTO bad FROM (
        SELECT b.batch_id FROM mekatek.batch b LEFT JOIN mekatek.stock_movement m USING (batch_id)
         GROUP BY b.batch_id HAVING b.qty_on_hand <> coalesce(sum(m.qty_delta), 0)) x;
    IF bad > 0 THEN RAISE EXCEPTION 'ledger invariant broken on % batches', bad; END IF;
    SELECT count(*) INTO bad FROM (
        SELECT b.branch_id, b.product_id FROM mekatek.batch b
         GROUP BY b.branch_id, b.product_id
        HAVING sum(b.qty_on_hand) <> (SELECT coalesce(sum(m.qty_delta), 0) FROM mekatek.stock_movement m
                                        JOIN mekatek.batch x USING (batch_id)
                                       WHERE x.branch_id = b.branch_id AND x.product_id = b.product_id)) x;
    IF bad > 0 THEN RAISE EXCEPTION 'per-branch ledger broken for % branch-products', bad; END IF;
    SELECT count(*) INTO bad FROM mekatek.batch WHERE qty_on_hand < 0;
    IF bad > 0 THEN RAISE EXCEPTION '% negative batches', bad; END IF;
    SELECT coalesce(sum(m.qty_delta) FILTER (WHERE m.reason = 'receipt'), 0),
           coalesce(-sum(m.qty_delta) FILTER (WHERE m.reason = 'sale'), 0),
           coalesce(sum(m.qty_delta) FILTER (WHERE m.reason = 'void'), 0),
           coalesce(sum(m.qty_delta) FILTER (WHERE m.reason IN ('transfer_out', 'transfer_in')), 0)
      INTO received, sold, voided, in_transit
      FROM mekatek.stock_movement m JOIN mekatek.batch b USING (batch_id) JOIN mekatek.product p USING (product_id)
     WHERE p.sku = 'MIX';
    SELECT sum(b.qty_on_hand) INTO on_hand FROM mekatek.batch b JOIN mekatek.product p USING (product_id) WHERE p.sku = 'MIX';
    IF in_transit <> 0 THEN RAISE EXCEPTION 'transfers made or lost % units', in_transit; END IF;
    IF received - sold + voided <> on_hand THEN
        RAISE EXCEPTION 'MIX: received % - sold % + voided % <> on hand %', received, sold, voided, on_hand;
    END IF;
    RAISE NOTICE 'MIX: received %, sold %, voided %, on hand % (branch 1: %, branch 2: %), % transfers',
        received, sold, voided, on_hand,
        (SELECT sum(qty_on_hand) FROM mekatek.batch b JOIN mekatek.product p USING (product_id) WHERE p.sku = 'MIX' AND b.branch_id = 1),
        (SELECT sum(qty_on_hand) FROM mekatek.batch b JOIN mekatek.product p USING (product_id) WHERE p.sku = 'MIX' AND b.branch_id = 2),
        (SELECT count(*) FROM mekatek.stock_transfer);
END $$;
SELECT 'ok: two branches under mixed load: every batch and branch equals its ledger, transfers conserve units';
SQL
psql -Xq -d postgres -c "DROP DATABASE $db"
