-- Mekatek upgrade 0.1.0 -> 0.2.0, module pos.

-- ---------------------------------------------------------------------
-- pg_dump: these tables hold what users wrote, so pg_dump must write
-- their rows (and the sequences' positions) although they belong to the
-- extension.  A restore loads them with session_replication_role =
-- replica so that no trigger acts on them a second time (README, DBA).
-- ---------------------------------------------------------------------
SELECT pg_catalog.pg_extension_config_dump('mekatek.branch', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.product', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.batch', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.sale', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.sale_line', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.stock_movement', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.staff', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.branch_branch_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.product_product_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.batch_batch_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.sale_sale_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.stock_movement_movement_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.audit_log_audit_id_seq', '');

-- ---------------------------------------------------------------------
-- The branch's own time zone: days, weeks, months and receipts are cut
-- in it.  Existing branches get Asia/Jakarta, the default of 0.1.0's
-- users; an admin changes it with UPDATE.
-- ---------------------------------------------------------------------
ALTER TABLE mekatek.branch
    ADD COLUMN time_zone text NOT NULL DEFAULT 'Asia/Jakarta'
        CONSTRAINT branch_time_zone_known CHECK (pg_catalog.timezone(time_zone, timestamptz '2000-01-01 00:00+00') IS NOT NULL);
COMMENT ON COLUMN mekatek.branch.time_zone IS 'pos: the branch''s time zone (IANA name); its receipts, days, weeks and months are in it whatever the session''s setting';

-- ---------------------------------------------------------------------
-- The till (issue 15): payments, discounts, PPN, receipt numbers,
-- receipts, returns.  Columns are added at the end of their tables, in
-- the order pos.sql declares them, so that an upgraded schema equals a
-- fresh one.  Sales and lines recorded by 0.1.0 carry no tax split: their
-- lines' tax columns stay NULL, and their gross is their total.
-- ---------------------------------------------------------------------
ALTER TABLE mekatek.branch
    ADD COLUMN prices_include_tax boolean NOT NULL DEFAULT true,
    ADD COLUMN payment_methods text[] NOT NULL DEFAULT '{cash,debit_card,credit_card,qris,bank_transfer,store_credit}'
                CONSTRAINT branch_payment_methods_known CHECK (
                    cardinality(payment_methods) > 0 AND array_position(payment_methods, NULL) IS NULL
                    AND payment_methods <@ '{cash,debit_card,credit_card,qris,bank_transfer,store_credit}'::text[]);
COMMENT ON COLUMN mekatek.branch.prices_include_tax IS 'pos: true when the branch''s product prices include PPN (DPP = price * 100 / (100 + rate)); false when PPN is added on top';
COMMENT ON COLUMN mekatek.branch.payment_methods IS 'pos: the payment methods the branch accepts (cash, debit_card, credit_card, qris, bank_transfer, store_credit)';

CREATE TABLE mekatek.tax_class (
    tax_class   text PRIMARY KEY CONSTRAINT tax_class_name_check CHECK (tax_class ~ '^[a-z][a-z0-9_]{0,31}$'),
    rate        numeric(5,2) NOT NULL CONSTRAINT tax_class_rate_check CHECK (rate >= 0 AND rate < 100),
    note        text
);
COMMENT ON TABLE mekatek.tax_class IS 'pos: a PPN rate (percent) for products of this tax class; products without one pay mekatek.ppn_rate';

ALTER TABLE mekatek.product
    ADD COLUMN tax_class text CONSTRAINT product_tax_class_fkey REFERENCES mekatek.tax_class;
COMMENT ON COLUMN mekatek.product.tax_class IS 'pos: the product''s PPN class (mekatek.tax_class); NULL: the standard rate mekatek.ppn_rate';

ALTER TABLE mekatek.sale
    ADD COLUMN receipt_no text CONSTRAINT sale_receipt_no_key UNIQUE,
    ADD COLUMN gross numeric(14,2) NOT NULL DEFAULT 0,
    ADD COLUMN discount numeric(14,2) NOT NULL DEFAULT 0,
    ADD COLUMN dpp numeric(14,2) NOT NULL DEFAULT 0,
    ADD COLUMN ppn numeric(14,2) NOT NULL DEFAULT 0,
    ADD COLUMN refunded numeric(14,2) NOT NULL DEFAULT 0,
    ADD COLUMN idempotency_key text CONSTRAINT sale_idempotency_key_check CHECK (length(idempotency_key) BETWEEN 1 AND 128),
    ADD CONSTRAINT sale_idempotency_key_key UNIQUE (branch_id, idempotency_key);
COMMENT ON COLUMN mekatek.sale.receipt_no IS 'pos: BB-YYYYMMDD-NNNNNN, branch, day in the branch''s time zone and number of the day; given when the sale is paid';
COMMENT ON COLUMN mekatek.sale.idempotency_key IS 'pos: the key a web app sent with checkout(); a retry with the same key at the same branch returns this sale';
-- As superuser: the guard lets an admin touch any sale, and no status changes.
UPDATE mekatek.sale SET gross = total WHERE gross = 0 AND total <> 0;

ALTER TABLE mekatek.sale_line
    ADD COLUMN discount numeric(14,2) NOT NULL DEFAULT 0 CONSTRAINT sale_line_discount_check CHECK (discount >= 0),
    ADD COLUMN sale_discount numeric(14,2) NOT NULL DEFAULT 0 CONSTRAINT sale_line_sale_discount_check CHECK (sale_discount >= 0),
    ADD COLUMN tax_rate numeric(5,2) CONSTRAINT sale_line_tax_rate_check CHECK (tax_rate >= 0 AND tax_rate < 100),
    ADD COLUMN tax_included boolean,
    ADD COLUMN dpp numeric(14,2),
    ADD COLUMN ppn numeric(14,2);
COMMENT ON COLUMN mekatek.sale_line.discount IS 'pos: the line''s own discount in rupiah (a percent is turned into rupiah by checkout)';
COMMENT ON COLUMN mekatek.sale_line.sale_discount IS 'pos: the line''s share of the sale''s discount, in proportion to what the line costs after its own discount';

CREATE TABLE mekatek.payment (
    payment_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sale_id     bigint NOT NULL REFERENCES mekatek.sale,
    method      text NOT NULL CONSTRAINT payment_method_check
                CHECK (method IN ('cash', 'debit_card', 'credit_card', 'qris', 'bank_transfer', 'store_credit')),
    amount      numeric(14,2) NOT NULL CONSTRAINT payment_amount_check CHECK (amount <> 0),
    tendered    numeric(14,2),
    change      numeric(14,2),
    reference   text CONSTRAINT payment_reference_check CHECK (length(reference) BETWEEN 1 AND 64),
    actor       name NOT NULL DEFAULT current_user,
    at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT payment_cash_check CHECK ((tendered IS NOT NULL) = (method = 'cash' AND amount > 0)
        AND (change IS NULL) = (tendered IS NULL)
        AND (tendered IS NULL OR (tendered >= amount AND change = tendered - amount))),
    CONSTRAINT payment_reference_needed CHECK (method = 'cash' OR amount < 0 OR reference IS NOT NULL)
);
COMMENT ON TABLE mekatek.payment IS 'pos: the payments of a sale (cash with tendered and change, or a non-cash method with its reference); a negative amount is a refund';
CREATE INDEX payment_sale_idx ON mekatek.payment (sale_id);
-- 0.1.0's paid sales were paid in full; record that as cash, exactly.
INSERT INTO mekatek.payment (sale_id, method, amount, tendered, change, actor, at)
SELECT sale_id, 'cash', total, total, 0, cashier, sold_at FROM mekatek.sale
 WHERE status = 'paid' AND total > 0;

CREATE TABLE mekatek.receipt_counter (
    branch_id   integer NOT NULL REFERENCES mekatek.branch,
    day         date NOT NULL,
    last_no     integer NOT NULL CONSTRAINT receipt_counter_last_no_check CHECK (last_no BETWEEN 1 AND 999999),
    PRIMARY KEY (branch_id, day)
);
COMMENT ON TABLE mekatek.receipt_counter IS 'pos: the last receipt number given per branch and business day; written only by the sale trigger';

CREATE TABLE mekatek.sale_return (
    return_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sale_id     bigint NOT NULL,
    line_no     integer NOT NULL,
    qty         integer NOT NULL CONSTRAINT sale_return_qty_check CHECK (qty > 0),
    resellable  boolean NOT NULL,
    reason      text NOT NULL CONSTRAINT sale_return_reason_check CHECK (btrim(reason) <> '' AND length(reason) <= 500),
    refund      numeric(14,2) NOT NULL CONSTRAINT sale_return_refund_check CHECK (refund >= 0),
    dpp         numeric(14,2) NOT NULL,
    ppn         numeric(14,2) NOT NULL,
    actor       name NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sale_return_line_fkey FOREIGN KEY (sale_id, line_no) REFERENCES mekatek.sale_line
);
COMMENT ON TABLE mekatek.sale_return IS 'pos: returned units of a sale line (who, when, why, resellable or quarantined) with the refund and its DPP and PPN; append-only, written by return_line()';
CREATE INDEX sale_return_line_idx ON mekatek.sale_return (sale_id, line_no);

-- ---------------------------------------------------------------------
-- stock_movement.reason: the till adds 'return' (a return's units back to
-- their lot), which, like sale and void, names its sale.  (The stock
-- room's issue adds its own reasons to the same list: merge the lists.)
-- ---------------------------------------------------------------------
ALTER TABLE mekatek.stock_movement
    DROP CONSTRAINT stock_movement_reason_check,
    ADD CONSTRAINT stock_movement_reason_check
        CHECK (reason IN ('receipt', 'sale', 'void', 'adjustment', 'expiry', 'return')),
    DROP CONSTRAINT stock_movement_check,
    ADD CONSTRAINT stock_movement_check CHECK ((reason IN ('sale', 'void', 'return')) = (sale_id IS NOT NULL));

-- ---------------------------------------------------------------------
-- The till's functions and triggers.
-- ---------------------------------------------------------------------
-- SECURITY DEFINER now: a sale becoming paid takes its receipt number.
ALTER FUNCTION mekatek.pos_sale_guard_trg() SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION mekatek.pos_sale_guard_trg() IS 'pos: BEFORE UPDATE on sale: allowed status changes (open to paid or void, paid to void by an admin); a paid sale''s payments cover its total and it gets its receipt number';
COMMENT ON FUNCTION mekatek.checkout(integer, jsonb) IS 'pos: records a paid sale from [{"sku": "PCT500", "qty": 2}, ...] in one call, paid in cash exactly (0.1.0''s call); returns sale_id';

CREATE FUNCTION mekatek.pos_sale_insert_trg() RETURNS trigger
AS 'MODULE_PATHNAME', 'pos_sale_insert_trg' LANGUAGE C
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION mekatek.pos_sale_insert_trg() IS 'pos: BEFORE INSERT on sale: a login without a staff row, or a cashier of another branch, gets this module''s error and hint (before row security''s)';

CREATE FUNCTION mekatek.pos_payment_trg() RETURNS trigger
AS 'MODULE_PATHNAME', 'pos_payment_trg' LANGUAGE C
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION mekatek.pos_payment_trg() IS 'pos: BEFORE INSERT on payment: the sale is visible and not void, the method accepted at its branch, no overpayment; fills a cash payment''s tendered and change';

CREATE FUNCTION mekatek.checkout(branch_id integer, lines jsonb, payments jsonb,
                                 discount jsonb DEFAULT NULL, idempotency_key text DEFAULT NULL)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'pos_checkout_pay' LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION mekatek.checkout(integer, jsonb, jsonb, jsonb, text) IS 'pos: records a paid sale with line discounts, a sale discount, PPN and its payments in one call (a retry with the same idempotency_key returns the first sale); returns its receipt as jsonb';

-- SECURITY DEFINER (the lots come from the ledger, which a cashier cannot
-- read); the C code checks first, as the acting role, that it may see
-- the sale.
CREATE FUNCTION mekatek.receipt(sale_id bigint) RETURNS jsonb
AS 'MODULE_PATHNAME', 'pos_receipt' LANGUAGE C STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION mekatek.receipt(bigint) IS 'pos: a sale''s receipt as jsonb: branch, cashier, time in the branch''s time zone, lines with lots and expiry, discounts, DPP, PPN, total, payments and change';

CREATE FUNCTION mekatek.receipt_text(sale_id bigint, width integer DEFAULT 32) RETURNS text
AS 'MODULE_PATHNAME', 'pos_receipt_text' LANGUAGE C STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION mekatek.receipt_text(bigint, integer) IS 'pos: a sale''s receipt as plain text for a thermal printer, width columns (32 for 58 mm paper, 48 for 80 mm), rupiah as Rp 49.000';

CREATE FUNCTION mekatek.return_line(sale_id bigint, line_no integer, qty integer, reason text,
                                    resellable boolean DEFAULT true, refund_method text DEFAULT 'cash')
RETURNS bigint
AS 'MODULE_PATHNAME', 'pos_return_line' LANGUAGE C VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION mekatek.return_line(bigint, integer, integer, text, boolean, text) IS 'pos: returns qty units of a line of a paid sale (a reason required): stock back to its lots unless not resellable, a refund payment, sale.refunded; a cashier within mekatek.return_days at its branch, an admin always; returns return_id';

CREATE FUNCTION mekatek.till_report(from_date date, to_date date)
RETURNS TABLE (day date, branch_id integer, sales bigint, gross numeric, discounts numeric,
               returns numeric, dpp numeric, ppn numeric, net numeric)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    -- a day of a branch in its own time zone lies within a day either
    -- side of the UTC dates: the index on sold_at narrows, the zone decides
    WITH sold AS (
        SELECT s.branch_id, (pg_catalog.timezone(b.time_zone, s.sold_at))::date AS day,
               count(*) AS sales, sum(s.gross) AS gross, sum(s.discount) AS discounts,
               sum(s.dpp) AS dpp, sum(s.ppn) AS ppn, sum(s.total) AS total
          FROM mekatek.sale s JOIN mekatek.branch b ON b.branch_id = s.branch_id
         WHERE s.status = 'paid'
           AND s.sold_at >= from_date::timestamp - interval '1 day'
           AND s.sold_at < to_date::timestamp + interval '2 days'
         GROUP BY 1, 2
    ), back AS (
        SELECT s.branch_id, (pg_catalog.timezone(b.time_zone, r.at))::date AS day,
               sum(r.refund) AS refund, sum(r.dpp) AS dpp, sum(r.ppn) AS ppn
          FROM mekatek.sale_return r
          JOIN mekatek.sale s ON s.sale_id = r.sale_id
          JOIN mekatek.branch b ON b.branch_id = s.branch_id
         WHERE r.at >= from_date::timestamp - interval '1 day'
           AND r.at < to_date::timestamp + interval '2 days'
         GROUP BY 1, 2
    )
    SELECT day, branch_id, coalesce(sold.sales, 0), coalesce(sold.gross, 0), coalesce(sold.discounts, 0),
           coalesce(back.refund, 0), coalesce(sold.dpp, 0) - coalesce(back.dpp, 0),
           coalesce(sold.ppn, 0) - coalesce(back.ppn, 0), coalesce(sold.total, 0) - coalesce(back.refund, 0)
      FROM sold FULL JOIN back USING (branch_id, day)
     WHERE day BETWEEN from_date AND to_date
     ORDER BY day, branch_id
$$;
COMMENT ON FUNCTION mekatek.till_report(date, date) IS 'pos: per business day (the branch''s time zone) and branch: paid sales, gross, discounts, returns (on the day they came back), DPP and PPN net of returns, and net takings';

CREATE TRIGGER pos_sale_staff BEFORE INSERT ON mekatek.sale
    FOR EACH ROW EXECUTE FUNCTION mekatek.pos_sale_insert_trg();
CREATE TRIGGER pos_payment_check BEFORE INSERT ON mekatek.payment
    FOR EACH ROW EXECUTE FUNCTION mekatek.pos_payment_trg();
CREATE TRIGGER pos_payment_append_only BEFORE UPDATE OR DELETE ON mekatek.payment
    FOR EACH ROW EXECUTE FUNCTION mekatek.pos_append_only_trg();
CREATE TRIGGER pos_payment_no_truncate BEFORE TRUNCATE ON mekatek.payment
    FOR EACH STATEMENT EXECUTE FUNCTION mekatek.pos_append_only_trg();

CREATE TRIGGER pos_return_append_only BEFORE UPDATE OR DELETE ON mekatek.sale_return
    FOR EACH ROW EXECUTE FUNCTION mekatek.pos_append_only_trg();
CREATE TRIGGER pos_return_no_truncate BEFORE TRUNCATE ON mekatek.sale_return
    FOR EACH STATEMENT EXECUTE FUNCTION mekatek.pos_append_only_trg();
CREATE TRIGGER pos_return_audit AFTER INSERT ON mekatek.sale_return
    FOR EACH ROW EXECUTE FUNCTION mekatek.pos_audit_trg();

-- Privileges and row-level security of the till.
GRANT SELECT ON mekatek.tax_class TO mekatek_cashier, mekatek_analyst;
GRANT UPDATE (prices_include_tax, payment_methods) ON mekatek.branch TO mekatek_admin;
GRANT INSERT (tax_class), UPDATE (tax_class) ON mekatek.product TO mekatek_admin;
GRANT INSERT, UPDATE, DELETE ON mekatek.tax_class TO mekatek_admin;
GRANT INSERT (idempotency_key) ON mekatek.sale TO mekatek_cashier;
GRANT INSERT (discount, sale_discount, tax_rate, tax_included) ON mekatek.sale_line TO mekatek_cashier;
GRANT SELECT, INSERT (sale_id, method, amount, tendered, change, reference) ON mekatek.payment TO mekatek_cashier;
GRANT SELECT ON mekatek.sale_return TO mekatek_cashier;
GRANT SELECT ON mekatek.payment, mekatek.sale_return TO mekatek_analyst;
GRANT EXECUTE ON FUNCTION mekatek.checkout(integer, jsonb, jsonb, jsonb, text),
    mekatek.receipt(bigint), mekatek.receipt_text(bigint, integer),
    mekatek.return_line(bigint, integer, integer, text, boolean, text) TO mekatek_cashier;
GRANT EXECUTE ON FUNCTION mekatek.receipt(bigint), mekatek.receipt_text(bigint, integer),
    mekatek.till_report(date, date) TO mekatek_cashier, mekatek_analyst;
ALTER TABLE mekatek.payment ENABLE ROW LEVEL SECURITY;
CREATE POLICY payment_cashier ON mekatek.payment TO mekatek_cashier
    USING (EXISTS (SELECT FROM mekatek.sale s WHERE s.sale_id = payment.sale_id))
    WITH CHECK (EXISTS (SELECT FROM mekatek.sale s WHERE s.sale_id = payment.sale_id));
CREATE POLICY payment_admin ON mekatek.payment TO mekatek_admin USING (true) WITH CHECK (true);
CREATE POLICY payment_analyst ON mekatek.payment FOR SELECT TO mekatek_analyst USING (true);

ALTER TABLE mekatek.sale_return ENABLE ROW LEVEL SECURITY;
CREATE POLICY sale_return_cashier ON mekatek.sale_return FOR SELECT TO mekatek_cashier
    USING (EXISTS (SELECT FROM mekatek.sale s WHERE s.sale_id = sale_return.sale_id));
CREATE POLICY sale_return_admin ON mekatek.sale_return FOR SELECT TO mekatek_admin USING (true);
CREATE POLICY sale_return_analyst ON mekatek.sale_return FOR SELECT TO mekatek_analyst USING (true);

SELECT pg_catalog.pg_extension_config_dump('mekatek.tax_class', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.payment', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.receipt_counter', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.sale_return', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.payment_payment_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.sale_return_return_id_seq', '');
