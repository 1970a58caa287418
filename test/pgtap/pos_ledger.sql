-- The ledger invariant under a random day of receipts, sales (some
-- refused), voids and adjustments: for every batch, qty_on_hand equals the
-- sum of its movements and is never negative; expired batches never sell.
BEGIN;
SELECT plan(5);

SELECT setseed(0.42);
INSERT INTO mekatek.branch (name) VALUES ('Ledger');
INSERT INTO mekatek.product (sku, name, price, min_stock)
SELECT 'LG' || i, 'Ledger product ' || i, 1000 + i, i % 4 FROM generate_series(1, 12) i;
SELECT mekatek.receive_stock('LG' || (1 + i % 12), 'L' || i, current_date + 1 + (i * 7) % 200, 1 + i % 9)
  FROM generate_series(1, 40) i;
-- an expired lot with stock: must never be sold
INSERT INTO mekatek.batch (product_id, lot, expires_on, branch_id)
SELECT product_id, 'EXPIRED', current_date - 3, (SELECT branch_id FROM mekatek.branch WHERE name = 'Ledger')
  FROM mekatek.product WHERE sku = 'LG1';
SELECT mekatek.adjust_stock(batch_id, 50, 'expired lot found') FROM mekatek.batch WHERE lot = 'EXPIRED';

CREATE TEMP TABLE outcome (ok int DEFAULT 0, refused int DEFAULT 0, voided int DEFAULT 0);
INSERT INTO outcome DEFAULT VALUES;
DO $$
DECLARE
    branch int := (SELECT branch_id FROM mekatek.branch WHERE name = 'Ledger');
    lines jsonb;
    sid bigint;
BEGIN
    FOR i IN 1..300 LOOP
        SELECT jsonb_agg(jsonb_build_object('sku', 'LG' || (1 + floor(random() * 12))::int,
                                            'qty', 1 + floor(random() * 4)::int))
          INTO lines FROM generate_series(1, 1 + floor(random() * 3)::int);
        BEGIN
            sid := mekatek.checkout(branch, lines);
            UPDATE outcome SET ok = ok + 1;
            IF random() < 0.2 THEN
                UPDATE mekatek.sale SET status = 'void' WHERE sale_id = sid;
                UPDATE outcome SET voided = voided + 1;
            END IF;
        EXCEPTION WHEN SQLSTATE '23M01' THEN  -- insufficient stock (since 0.2.0; 23514 before)
            UPDATE outcome SET refused = refused + 1;
        END;
        IF i % 50 = 0 THEN
            PERFORM mekatek.receive_stock('LG' || (1 + i % 12), 'R' || i, current_date + 90, 20);
        END IF;
    END LOOP;
END
$$;

SELECT ok((SELECT ok > 50 AND refused > 10 AND voided > 5 FROM outcome),
          'the day had sales, refusals and voids');
SELECT is_empty($$
    SELECT b.batch_id FROM mekatek.batch b
      LEFT JOIN mekatek.stock_movement m USING (batch_id)
     GROUP BY b.batch_id HAVING b.qty_on_hand <> coalesce(sum(m.qty_delta), 0) $$,
    'every batch''s qty_on_hand equals the sum of its ledger');
SELECT is_empty($$ SELECT batch_id FROM mekatek.batch WHERE qty_on_hand < 0 $$, 'no batch is negative');
SELECT is((SELECT qty_on_hand FROM mekatek.batch WHERE lot = 'EXPIRED'), 50, 'the expired lot sold nothing');
SELECT is_empty($$
    SELECT s.sale_id FROM mekatek.sale s
     WHERE s.total <> coalesce((SELECT sum(amount) FROM mekatek.sale_line l WHERE l.sale_id = s.sale_id), 0) $$,
    'every sale total equals the sum of its lines');

SELECT * FROM finish();
ROLLBACK;
