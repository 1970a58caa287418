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

-- ---------------------------------------------------------------------
-- The till's sale (issue 15) the plain way: a line discount in percent,
-- PPN per line (the tax class's rate, whole rupiah, half up, prices
-- including PPN), one cash payment with its change, the receipt number
-- from a per-branch day counter, and the receipt returned as jsonb, on
-- the peer's copies of the same tables.
-- ---------------------------------------------------------------------
CREATE TABLE peer.payment (LIKE mekatek.payment INCLUDING ALL);
ALTER TABLE peer.payment ADD FOREIGN KEY (sale_id) REFERENCES peer.sale;
CREATE TABLE peer.receipt_counter (LIKE mekatek.receipt_counter INCLUDING ALL);
ALTER TABLE peer.receipt_counter ADD FOREIGN KEY (branch_id) REFERENCES mekatek.branch;
CREATE TABLE peer.sale_return (LIKE mekatek.sale_return INCLUDING ALL);

CREATE FUNCTION peer.receipt(p_sale bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
SELECT jsonb_build_object(
  'sale_id', s.sale_id, 'receipt_no', s.receipt_no, 'status', s.status,
  'branch', jsonb_build_object('branch_id', b.branch_id, 'name', b.name),
  'cashier', jsonb_build_object('login', s.cashier, 'name', st.full_name),
  'time', to_char(timezone(b.time_zone, s.sold_at), 'YYYY-MM-DD"T"HH24:MI:SS'),
  'time_zone', b.time_zone, 'prices_include_tax', b.prices_include_tax,
  'lines', (SELECT jsonb_agg(jsonb_build_object(
        'line_no', l.line_no, 'sku', p.sku, 'name', p.name, 'qty', l.qty, 'unit_price', l.unit_price,
        'discount', l.discount, 'sale_discount', l.sale_discount, 'tax_rate', l.tax_rate,
        'dpp', l.dpp, 'ppn', l.ppn, 'amount', l.amount,
        'returned', (SELECT coalesce(sum(r.qty), 0) FROM peer.sale_return r
                      WHERE r.sale_id = l.sale_id AND r.line_no = l.line_no),
        'lots', (SELECT jsonb_agg(jsonb_build_object('lot', bt.lot, 'expires_on', bt.expires_on, 'qty', -m.qty_delta)
                         ORDER BY bt.expires_on, bt.batch_id)
                   FROM peer.stock_movement m JOIN peer.batch bt ON bt.batch_id = m.batch_id
                  WHERE m.sale_id = l.sale_id AND m.line_no = l.line_no AND m.reason = 'sale')
      ) ORDER BY l.line_no)
      FROM peer.sale_line l JOIN peer.product p ON p.product_id = l.product_id
     WHERE l.sale_id = s.sale_id),
  'gross', s.gross, 'discount', s.discount, 'dpp', s.dpp, 'ppn', s.ppn, 'total', s.total,
  'payments', (SELECT coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
        'method', y.method, 'amount', y.amount, 'tendered', y.tendered, 'change', y.change,
        'reference', y.reference)) ORDER BY y.payment_id), '[]')
      FROM peer.payment y WHERE y.sale_id = s.sale_id AND y.amount > 0),
  'change', (SELECT coalesce(sum(y.change), 0) FROM peer.payment y WHERE y.sale_id = s.sale_id),
  'refunded', s.refunded)
  FROM peer.sale s JOIN mekatek.branch b ON b.branch_id = s.branch_id
  LEFT JOIN mekatek.staff st ON st.role_name = s.cashier
 WHERE s.sale_id = p_sale
$$;

CREATE FUNCTION peer.checkout_till(p_branch integer, p_lines jsonb, p_payments jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_sale bigint;
    v_line jsonb;
    v_no int := 0;
    v_product peer.product;
    v_qty int;
    v_need int;
    v_take int;
    v_batch record;
    v_rate numeric;
    v_incl boolean;
    v_tz text;
    v_gross numeric; v_disc numeric; v_net numeric; v_dpp numeric; v_ppn numeric;
    s_gross numeric := 0; s_disc numeric := 0; s_dpp numeric := 0; s_ppn numeric := 0; v_total numeric := 0;
    v_left bigint;
    v_tendered numeric;
    v_day date;
    v_last int;
BEGIN
    IF jsonb_typeof(p_lines) <> 'array' OR jsonb_array_length(p_lines) = 0 THEN
        RAISE EXCEPTION 'lines must be a non-empty JSON array' USING ERRCODE = '22023';
    END IF;
    SELECT b.prices_include_tax, b.time_zone INTO v_incl, v_tz FROM mekatek.branch b WHERE b.branch_id = p_branch;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'branch % does not exist', p_branch USING ERRCODE = '23503';
    END IF;
    INSERT INTO peer.sale (branch_id) VALUES (p_branch) RETURNING sale_id INTO v_sale;
    FOR v_line IN SELECT value FROM jsonb_array_elements(p_lines) LOOP
        v_no := v_no + 1;
        SELECT * INTO v_product FROM peer.product WHERE sku = v_line->>'sku';
        IF NOT FOUND THEN
            RAISE EXCEPTION 'unknown SKU "%"', v_line->>'sku' USING ERRCODE = '23503';
        END IF;
        v_qty := (v_line->>'qty')::int;
        IF v_qty IS NULL OR v_qty <= 0 THEN
            RAISE EXCEPTION 'qty must be positive' USING ERRCODE = '22003';
        END IF;
        v_need := v_qty;
        FOR v_batch IN
            SELECT batch_id, qty_on_hand FROM peer.batch
             WHERE product_id = v_product.product_id AND branch_id = p_branch AND qty_on_hand > 0
               AND expires_on > (now() AT TIME ZONE v_tz)::date
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
            RAISE EXCEPTION 'insufficient stock for SKU "%"', v_product.sku USING ERRCODE = '23M01';
        END IF;
        SELECT coalesce(sum(qty_on_hand), 0) INTO v_left FROM peer.batch
         WHERE product_id = v_product.product_id AND branch_id = p_branch AND qty_on_hand > 0
           AND expires_on > (now() AT TIME ZONE v_tz)::date;
        IF v_left < v_product.min_stock AND v_left + v_qty >= v_product.min_stock THEN
            PERFORM pg_notify('peer_stock', json_build_object('sku', v_product.sku, 'on_hand', v_left,
                                                             'min_stock', v_product.min_stock)::text);
        END IF;
        -- the money: the same rules as src/pos/tax.c
        v_rate := coalesce((SELECT tc.rate FROM mekatek.tax_class tc WHERE tc.tax_class = v_product.tax_class), 11);
        v_gross := v_product.price * v_qty;
        v_disc := coalesce(round(v_gross * (v_line->>'discount_percent')::numeric / 100), 0);
        IF v_disc * 100 > v_gross * 10 AND NOT mekatek.is_admin() THEN
            RAISE EXCEPTION 'discount above the cashier''s limit' USING ERRCODE = '42501';
        END IF;
        v_net := v_gross - v_disc;
        IF v_incl THEN
            v_dpp := least(round(v_net * 100 / (100 + v_rate)), v_net);
            v_ppn := v_net - v_dpp;
        ELSE
            v_dpp := v_net;
            v_ppn := round(v_net * v_rate / 100);
        END IF;
        INSERT INTO peer.sale_line (sale_id, line_no, product_id, qty, unit_price, amount,
                                    discount, sale_discount, tax_rate, tax_included, dpp, ppn)
        VALUES (v_sale, v_no, v_product.product_id, v_qty, v_product.price, v_dpp + v_ppn,
                v_disc, 0, v_rate, v_incl, v_dpp, v_ppn);
        s_gross := s_gross + v_gross; s_disc := s_disc + v_disc;
        s_dpp := s_dpp + v_dpp; s_ppn := s_ppn + v_ppn; v_total := v_total + v_dpp + v_ppn;
    END LOOP;
    -- one cash payment
    v_tendered := (p_payments->0->>'amount')::numeric;
    IF p_payments->0->>'method' IS DISTINCT FROM 'cash' OR v_tendered IS NULL OR v_tendered < v_total THEN
        RAISE EXCEPTION 'the payments do not cover the total %', v_total USING ERRCODE = '23M02';
    END IF;
    INSERT INTO peer.payment (sale_id, method, amount, tendered, change, actor)
    VALUES (v_sale, 'cash', v_total, v_tendered, v_tendered - v_total, current_user);
    -- the receipt number of the branch's day, as late as possible
    INSERT INTO peer.receipt_counter AS c (branch_id, day, last_no)
    VALUES (p_branch, timezone(v_tz, now())::date, 1)
    ON CONFLICT (branch_id, day) DO UPDATE SET last_no = c.last_no + 1
    RETURNING c.day, c.last_no INTO v_day, v_last;
    UPDATE peer.sale SET total = v_total, lines = v_no, gross = s_gross, discount = s_disc,
                         dpp = s_dpp, ppn = s_ppn, status = 'paid',
                         receipt_no = lpad(p_branch::text, 2, '0') || '-' || to_char(v_day, 'YYYYMMDD')
                                      || '-' || lpad(v_last::text, 6, '0')
     WHERE sale_id = v_sale;
    RETURN peer.receipt(v_sale);
END
$$;
