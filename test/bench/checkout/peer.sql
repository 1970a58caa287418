-- The peer: the same sale written the plain way, in PL/pgSQL, on its own
-- copy of the tables (schema peer).  Same FEFO rule, same ledger, same
-- checks, no C.  Stock is per branch, as Mekatek's: a sale takes its
-- branch's lots, unexpired in the branch's date.
CREATE SCHEMA peer;
CREATE TABLE peer.product (LIKE mekatek.product INCLUDING ALL);
CREATE TABLE peer.batch (LIKE mekatek.batch INCLUDING ALL);
CREATE TABLE peer.sale (LIKE mekatek.sale INCLUDING ALL);
CREATE TABLE peer.sale_line (LIKE mekatek.sale_line INCLUDING ALL);
CREATE TABLE peer.stock_movement (LIKE mekatek.stock_movement INCLUDING ALL);
CREATE INDEX ON peer.batch (product_id, branch_id, expires_on, batch_id) WHERE qty_on_hand > 0;
-- LIKE copies no foreign keys: give the peer the same ones Mekatek checks.
ALTER TABLE peer.batch ADD FOREIGN KEY (product_id) REFERENCES peer.product,
                       ADD FOREIGN KEY (branch_id) REFERENCES mekatek.branch;
ALTER TABLE peer.sale ADD FOREIGN KEY (branch_id) REFERENCES mekatek.branch;
ALTER TABLE peer.sale_line ADD FOREIGN KEY (sale_id) REFERENCES peer.sale,
                           ADD FOREIGN KEY (product_id) REFERENCES peer.product;
ALTER TABLE peer.stock_movement ADD FOREIGN KEY (batch_id) REFERENCES peer.batch,
                                ADD FOREIGN KEY (sale_id) REFERENCES peer.sale;

CREATE FUNCTION peer.checkout(p_branch integer, p_lines jsonb) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_sale bigint;
    v_line jsonb;
    v_no int := 0;
    v_product peer.product;
    v_need int;
    v_take int;
    v_batch record;
    v_total numeric := 0;
    v_left bigint;
    v_today date;
BEGIN
    IF jsonb_typeof(p_lines) <> 'array' OR jsonb_array_length(p_lines) = 0 THEN
        RAISE EXCEPTION 'lines must be a non-empty JSON array' USING ERRCODE = '22023';
    END IF;
    INSERT INTO peer.sale (branch_id) VALUES (p_branch) RETURNING sale_id INTO v_sale;
    SELECT (now() AT TIME ZONE b.time_zone)::date INTO v_today FROM mekatek.branch b WHERE b.branch_id = p_branch;
    FOR v_line IN SELECT value FROM jsonb_array_elements(p_lines) LOOP
        v_no := v_no + 1;
        SELECT * INTO v_product FROM peer.product WHERE sku = v_line->>'sku';
        IF NOT FOUND THEN
            RAISE EXCEPTION 'unknown SKU "%"', v_line->>'sku' USING ERRCODE = '23503';
        END IF;
        v_need := (v_line->>'qty')::int;
        IF v_need IS NULL OR v_need <= 0 THEN
            RAISE EXCEPTION 'qty must be positive' USING ERRCODE = '22003';
        END IF;
        FOR v_batch IN
            SELECT batch_id, qty_on_hand FROM peer.batch
             WHERE product_id = v_product.product_id AND branch_id = p_branch AND qty_on_hand > 0
               AND expires_on > v_today
             ORDER BY expires_on, batch_id FOR UPDATE
        LOOP
            v_take := least(v_need, v_batch.qty_on_hand);
            UPDATE peer.batch SET qty_on_hand = qty_on_hand - v_take WHERE batch_id = v_batch.batch_id;
            INSERT INTO peer.stock_movement (batch_id, qty_delta, reason, sale_id, line_no, actor)
            VALUES (v_batch.batch_id, -v_take, 'sale', v_sale, v_no, current_user);
            v_need := v_need - v_take;
            EXIT WHEN v_need = 0;
        END LOOP;
        IF v_need > 0 THEN
            RAISE EXCEPTION 'insufficient stock for SKU "%"', v_product.sku USING ERRCODE = '23514';
        END IF;
        -- the same low-stock notification as Mekatek's
        SELECT coalesce(sum(qty_on_hand), 0) INTO v_left FROM peer.batch
         WHERE product_id = v_product.product_id AND branch_id = p_branch AND qty_on_hand > 0
           AND expires_on > v_today;
        IF v_left < v_product.min_stock AND v_left + (v_line->>'qty')::int >= v_product.min_stock THEN
            PERFORM pg_notify('peer_stock', json_build_object('sku', v_product.sku, 'on_hand', v_left,
                                                             'min_stock', v_product.min_stock)::text);
        END IF;
        INSERT INTO peer.sale_line (sale_id, line_no, product_id, qty, unit_price, amount)
        VALUES (v_sale, v_no, v_product.product_id, (v_line->>'qty')::int, v_product.price,
                v_product.price * (v_line->>'qty')::int);
        v_total := v_total + v_product.price * (v_line->>'qty')::int;
    END LOOP;
    UPDATE peer.sale SET total = v_total, status = 'paid' WHERE sale_id = v_sale;
    RETURN v_sale;
END
$$;
