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
-- The stock room (issue 16): per-branch stock, transfers, purchasing,
-- stock counts, drug classes and prescriptions, reports in the branch's
-- time zone.
-- ---------------------------------------------------------------------
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'mekatek_pharmacist') THEN
        CREATE ROLE mekatek_pharmacist NOLOGIN;
    END IF;
END
$roles$;


ALTER TABLE mekatek.product
    ADD COLUMN drug_class  text NOT NULL DEFAULT 'bebas'
                CONSTRAINT product_drug_class_known
                CHECK (drug_class IN ('bebas', 'bebas terbatas', 'keras', 'psikotropika', 'narkotika'));
COMMENT ON COLUMN mekatek.product.drug_class IS 'pos: bebas, bebas terbatas, keras (prescription), psikotropika or narkotika (controlled: prescription and a pharmacist); distinct from a tax class';

-- Every lot belongs to a branch.  0.1.0 sold every branch from the same
-- lots, so the lots go to the first branch (lowest branch_id), the one a
-- single-branch pharmacy has; with several branches an admin then moves
-- what sits elsewhere with mekatek.transfer_stock (README, "Upgrading").
-- A database with lots and no branch at all gets one named 'Main branch'.
DO $upgrade$
BEGIN
    IF EXISTS (SELECT FROM mekatek.batch) AND NOT EXISTS (SELECT FROM mekatek.branch) THEN
        INSERT INTO mekatek.branch (name) VALUES ('Main branch');
    END IF;
    IF (SELECT count(*) FROM mekatek.branch) > 1 AND EXISTS (SELECT FROM mekatek.batch) THEN
        RAISE NOTICE 'mekatek: % lots assigned to branch % (the first of % branches); move the others with mekatek.transfer_stock',
            (SELECT count(*) FROM mekatek.batch), (SELECT min(branch_id) FROM mekatek.branch),
            (SELECT count(*) FROM mekatek.branch);
    END IF;
END
$upgrade$;
ALTER TABLE mekatek.batch ADD COLUMN branch_id integer REFERENCES mekatek.branch;
UPDATE mekatek.batch SET branch_id = (SELECT min(branch_id) FROM mekatek.branch);
ALTER TABLE mekatek.batch ALTER COLUMN branch_id SET NOT NULL,
    DROP CONSTRAINT batch_product_id_lot_key,
    ADD CONSTRAINT batch_branch_product_lot_key UNIQUE (branch_id, product_id, lot);
COMMENT ON TABLE mekatek.batch IS 'pos: a lot of a product at one branch with its expiry date; qty_on_hand changes only through the stock_movement ledger';
COMMENT ON COLUMN mekatek.batch.branch_id IS 'pos: the branch that holds the lot; a transfer puts the same lot (code, expiry, cost) into a batch of the destination';
DROP INDEX mekatek.batch_fefo_idx;
CREATE INDEX batch_fefo_idx ON mekatek.batch (product_id, branch_id, expires_on, batch_id) WHERE qty_on_hand > 0;
-- NaN passed the old CHECK (NaN >= 0 is true for numeric): such a cost is
-- unknown, NULL, from now on.
UPDATE mekatek.batch SET unit_cost = NULL WHERE unit_cost = 'NaN';
ALTER TABLE mekatek.batch DROP CONSTRAINT batch_unit_cost_check,
    ADD CONSTRAINT batch_unit_cost_check CHECK (unit_cost >= 0 AND unit_cost <> 'NaN');

ALTER TABLE mekatek.sale_line
    ADD COLUMN prescriber        text CONSTRAINT sale_line_prescriber_check CHECK (length(prescriber) BETWEEN 1 AND 200),
    ADD COLUMN prescription_no   text CONSTRAINT sale_line_prescription_no_check CHECK (length(prescription_no) BETWEEN 1 AND 64),
    ADD COLUMN prescription_date date CONSTRAINT sale_line_prescription_date_check CHECK (prescription_date > '2000-01-01' AND prescription_date < 'infinity'),
    ADD CONSTRAINT sale_line_prescription_whole
        CHECK ((prescriber IS NULL) = (prescription_no IS NULL) AND (prescriber IS NULL) = (prescription_date IS NULL));
COMMENT ON COLUMN mekatek.sale_line.prescription_no IS 'pos: the prescription''s number; with prescriber and prescription_date, required for keras, psikotropika and narkotika products';

-- stock_movement.reason: the stock room's reasons (transfer_out,
-- transfer_in, count); the till's block below adds 'return'.
ALTER TABLE mekatek.stock_movement DROP CONSTRAINT stock_movement_reason_check,
    ADD CONSTRAINT stock_movement_reason_check CHECK (reason IN ('receipt', 'sale', 'void', 'adjustment', 'expiry',
                                        'transfer_out', 'transfer_in', 'count'));

CREATE TABLE mekatek.stock_transfer (
    transfer_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    from_branch_id integer NOT NULL REFERENCES mekatek.branch,
    to_branch_id   integer NOT NULL REFERENCES mekatek.branch,
    product_id     bigint NOT NULL REFERENCES mekatek.product,
    qty            integer NOT NULL CHECK (qty > 0),
    status         text NOT NULL DEFAULT 'in_transit' CHECK (status IN ('in_transit', 'received')),
    sent_at        timestamptz NOT NULL DEFAULT now(),
    sent_by        name NOT NULL,
    received_at    timestamptz,
    received_by    name,
    note           text CHECK (length(note) <= 1000),
    CHECK (from_branch_id <> to_branch_id),
    CHECK ((status = 'received') = (received_at IS NOT NULL))
);
COMMENT ON TABLE mekatek.stock_transfer IS 'pos: stock sent from one branch to another (mekatek.transfer_stock); in transit until the destination receives it';
CREATE INDEX stock_transfer_open_idx ON mekatek.stock_transfer (to_branch_id) WHERE status = 'in_transit';

CREATE TABLE mekatek.stock_transfer_lot (
    transfer_id   bigint NOT NULL REFERENCES mekatek.stock_transfer,
    from_batch_id bigint NOT NULL REFERENCES mekatek.batch,
    to_batch_id   bigint REFERENCES mekatek.batch,
    qty           integer NOT NULL CHECK (qty > 0),
    PRIMARY KEY (transfer_id, from_batch_id)
);
COMMENT ON TABLE mekatek.stock_transfer_lot IS 'pos: the lots a transfer took (FEFO) from the source and, once received, the destination batch of each';

CREATE TABLE mekatek.supplier (
    supplier_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (btrim(name) <> '' AND length(name) <= 200),
    contact     text CHECK (length(contact) <= 200)
);
COMMENT ON TABLE mekatek.supplier IS 'pos: a supplier (distributor, PBF) that purchase orders go to';

CREATE TABLE mekatek.purchase_order (
    po_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    supplier_id bigint NOT NULL REFERENCES mekatek.supplier,
    branch_id   integer NOT NULL REFERENCES mekatek.branch,
    status      text NOT NULL DEFAULT 'draft'
                CHECK (status IN ('draft', 'ordered', 'partly_received', 'received', 'cancelled')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    ordered_at  timestamptz,
    note        text CHECK (length(note) <= 1000)
);
COMMENT ON TABLE mekatek.purchase_order IS 'pos: a purchase order of a branch to a supplier: draft, ordered, partly_received, received or cancelled';

CREATE TABLE mekatek.purchase_order_line (
    po_id        bigint NOT NULL REFERENCES mekatek.purchase_order,
    line_no      integer NOT NULL CHECK (line_no > 0),
    product_id   bigint NOT NULL REFERENCES mekatek.product,
    qty_ordered  integer NOT NULL CHECK (qty_ordered > 0),
    unit_cost    numeric(12,2) CHECK (unit_cost >= 0 AND unit_cost <> 'NaN'),
    qty_received bigint NOT NULL DEFAULT 0 CHECK (qty_received >= 0),
    PRIMARY KEY (po_id, line_no)
);
COMMENT ON TABLE mekatek.purchase_order_line IS 'pos: a line of a purchase order; qty_received is kept by mekatek.receive_purchase and may end above or below qty_ordered';

CREATE TABLE mekatek.purchase_receipt (
    receipt_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    po_id       bigint NOT NULL,
    line_no     integer NOT NULL,
    batch_id    bigint NOT NULL REFERENCES mekatek.batch,
    movement_id bigint NOT NULL REFERENCES mekatek.stock_movement,
    qty         integer NOT NULL CHECK (qty > 0),
    unit_cost   numeric(12,2) CHECK (unit_cost >= 0 AND unit_cost <> 'NaN'),
    received_at timestamptz NOT NULL DEFAULT now(),
    received_by name NOT NULL,
    FOREIGN KEY (po_id, line_no) REFERENCES mekatek.purchase_order_line
);
COMMENT ON TABLE mekatek.purchase_receipt IS 'pos: one delivery against a purchase order line: the lot''s batch, its receipt movement, quantity and cost';
CREATE INDEX purchase_receipt_line_idx ON mekatek.purchase_receipt (po_id, line_no);

CREATE TABLE mekatek.stock_count (
    count_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    branch_id  integer NOT NULL REFERENCES mekatek.branch,
    status     text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    opened_at  timestamptz NOT NULL DEFAULT now(),
    opened_by  name NOT NULL,
    closed_at  timestamptz,
    closed_by  name,
    note       text CHECK (length(note) <= 1000)
);
COMMENT ON TABLE mekatek.stock_count IS 'pos: a stock count (stock opname) of a branch, open while counters count, closed when its differences are posted';

CREATE TABLE mekatek.stock_count_line (
    count_id    bigint NOT NULL REFERENCES mekatek.stock_count,
    batch_id    bigint NOT NULL REFERENCES mekatek.batch,
    book_qty    integer CHECK (book_qty >= 0),
    counted_qty integer CHECK (counted_qty >= 0),
    counted_at  timestamptz,
    counted_by  name,
    CHECK ((counted_qty IS NULL) = (book_qty IS NULL)),
    PRIMARY KEY (count_id, batch_id)
);
COMMENT ON TABLE mekatek.stock_count_line IS 'pos: a lot to count; book_qty is the ledger''s quantity at the moment the lot was counted, which closing the count compares with counted_qty';

ALTER TABLE mekatek.stock_movement
    ADD COLUMN transfer_id bigint REFERENCES mekatek.stock_transfer,
    ADD COLUMN count_id bigint REFERENCES mekatek.stock_count,
    ADD CONSTRAINT stock_movement_transfer_check CHECK ((reason IN ('transfer_out', 'transfer_in')) = (transfer_id IS NOT NULL)),
    ADD CONSTRAINT stock_movement_count_check CHECK ((reason = 'count') = (count_id IS NOT NULL));
CREATE INDEX stock_movement_at_idx ON mekatek.stock_movement (at);

DROP FUNCTION mekatek.receive_stock(text, text, date, integer, numeric);
CREATE FUNCTION mekatek.receive_stock(sku text, lot text, expires_on date, qty integer, unit_cost numeric DEFAULT NULL,
                                      branch_id integer DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'pos_receive_stock' LANGUAGE C VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, mekatek, pg_temp;
COMMENT ON FUNCTION mekatek.receive_stock(text, text, date, integer, numeric, integer) IS 'pos: receives qty units of a lot at a branch (default: the login''s branch, else the first branch); a new batch, or more of the branch''s known lot with the same expiry; returns batch_id';

CREATE FUNCTION mekatek.transfer_stock(from_branch integer, to_branch integer, sku text, qty integer,
                                       lot text DEFAULT NULL, in_transit boolean DEFAULT false, note text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'pos_transfer_stock' LANGUAGE C VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, mekatek, pg_temp;
COMMENT ON FUNCTION mekatek.transfer_stock(integer, integer, text, integer, text, boolean, text) IS 'pos: moves qty units of a product (FEFO, or from one lot) from one branch to another, keeping lot, expiry and cost; in transit until transfer_receive when in_transit; admin only; returns transfer_id';

CREATE FUNCTION mekatek.transfer_receive(transfer_id bigint)
RETURNS bigint
AS 'MODULE_PATHNAME', 'pos_transfer_receive' LANGUAGE C VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, mekatek, pg_temp;
COMMENT ON FUNCTION mekatek.transfer_receive(bigint) IS 'pos: the destination confirms an in-transit transfer: its lots enter the destination''s batches; admin only';

CREATE FUNCTION mekatek.receive_purchase(po_id bigint, line_no integer, lot text, expires_on date, qty integer,
                                         unit_cost numeric DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'pos_receive_purchase' LANGUAGE C VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, mekatek, pg_temp;
COMMENT ON FUNCTION mekatek.receive_purchase(bigint, integer, text, date, integer, numeric) IS 'pos: a delivery against a purchase order line (lot, expiry, quantity more or less than ordered, cost: the line''s when NULL) into the order''s branch; keeps the order''s status; admin only; returns batch_id';

CREATE FUNCTION mekatek.pos_purchase_guard_trg() RETURNS trigger
AS 'MODULE_PATHNAME', 'pos_purchase_guard_trg' LANGUAGE C
SET search_path = pg_catalog, mekatek, pg_temp;
COMMENT ON FUNCTION mekatek.pos_purchase_guard_trg() IS 'pos: BEFORE UPDATE on purchase_order and BEFORE INSERT, UPDATE or DELETE on purchase_order_line: the allowed status changes, lines only while draft';

CREATE FUNCTION mekatek.count_open(branch_id integer, skus text[] DEFAULT NULL, note text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'pos_count_open' LANGUAGE C VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, mekatek, pg_temp;
COMMENT ON FUNCTION mekatek.count_open(integer, text[], text) IS 'pos: opens a stock count (stock opname) of a branch for all products or the listed SKUs: one line per lot with stock; admin only; returns count_id';

CREATE FUNCTION mekatek.count_enter(count_id bigint, batch_id bigint, counted_qty integer)
RETURNS integer
AS 'MODULE_PATHNAME', 'pos_count_enter' LANGUAGE C VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, mekatek, pg_temp;
COMMENT ON FUNCTION mekatek.count_enter(bigint, bigint, integer) IS 'pos: a counter enters the counted quantity of a lot of an open count; the ledger''s quantity at that moment is kept with it; admin or a cashier of the count''s branch; returns the variance';

CREATE FUNCTION mekatek.count_close(count_id bigint)
RETURNS TABLE (batch_id bigint, sku text, lot text, book_qty integer, counted_qty integer,
               variance integer, variance_value numeric)
AS 'MODULE_PATHNAME', 'pos_count_close' LANGUAGE C VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, mekatek, pg_temp;
COMMENT ON FUNCTION mekatek.count_close(bigint) IS 'pos: closes a count: posts each counted lot''s difference (counted minus the ledger''s quantity when it was counted) as a count movement and returns the variance in units and at cost; admin only';

-- Runs as the caller: the reports it writes read with the caller's rights.
CREATE FUNCTION mekatek.report_xlsx(report text, from_date date, to_date date, branch integer DEFAULT NULL)
RETURNS bytea
AS 'MODULE_PATHNAME', 'pos_report_xlsx' LANGUAGE C STABLE
SET search_path = pg_catalog, mekatek, pg_temp;
COMMENT ON FUNCTION mekatek.report_xlsx(text, date, date, integer) IS 'pos: the sales, margin, stock or controlled-drug report (or all: one sheet each) of a range and branch (NULL: all) as an .xlsx file: a header row, numbers as numbers, dates as dates, rupiah formatted, a Total row';

CREATE TRIGGER pos_purchase_guard BEFORE UPDATE ON mekatek.purchase_order
    FOR EACH ROW EXECUTE FUNCTION mekatek.pos_purchase_guard_trg();
CREATE TRIGGER pos_purchase_line_guard BEFORE INSERT OR UPDATE OR DELETE ON mekatek.purchase_order_line
    FOR EACH ROW EXECUTE FUNCTION mekatek.pos_purchase_guard_trg();

DROP VIEW mekatek.stock_alert;
DROP FUNCTION mekatek.sales_report(date, date, text);
DROP FUNCTION mekatek.top_products(date, date, integer);
-- Every report cuts days, weeks and months in each branch's time zone
-- (branch.time_zone), never the session's: the same data gives the same
-- report under any timezone setting.  A sale's day is its sold_at in its
-- branch's zone; weeks (ISO, from Monday) and months are cut inside the
-- asked range, so a partial first period is labelled with from_date.
CREATE FUNCTION mekatek.pos_report_range(from_date date, to_date date, what text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF from_date IS NULL OR to_date IS NULL THEN
        RAISE EXCEPTION '%: from_date and to_date must not be null', what
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT isfinite(from_date) OR NOT isfinite(to_date) THEN
        RAISE EXCEPTION '%: from_date and to_date must be finite dates, not % and %', what, from_date, to_date
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Give the first and last day of the report, such as ''2026-11-01'' and ''2026-11-30''.';
    END IF;
    IF to_date < from_date THEN
        RAISE EXCEPTION '%: to_date % is before from_date %', what, to_date, from_date
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF to_date - from_date > 36600 THEN
        RAISE EXCEPTION '%: the range from % to % covers % days, more than 36600 (100 years)',
            what, from_date, to_date, to_date - from_date + 1
            USING ERRCODE = 'program_limit_exceeded', HINT = 'Ask for a shorter range.';
    END IF;
END
$$;
COMMENT ON FUNCTION mekatek.pos_report_range(date, date, text) IS 'pos: checks a report''s range (not null, finite, in order, at most 100 years), raising the error of the report named what';

-- The paid sales of a range, each with its branch-local day (thin glue
-- under every sales report).  The sold_at bounds around the range (a day
-- either side covers every zone's offset) let the index narrow the scan;
-- the local day decides.
CREATE FUNCTION mekatek.pos_paid_sales(from_date date, to_date date, branch integer)
RETURNS TABLE (sale_id bigint, branch_id integer, cashier name, local_day date, total numeric)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT s.sale_id, s.branch_id, s.cashier, (s.sold_at AT TIME ZONE b.time_zone)::date, s.total
      FROM mekatek.sale s JOIN mekatek.branch b ON b.branch_id = s.branch_id
     WHERE s.status = 'paid'
       AND s.sold_at >= (from_date - 1)::timestamp AT TIME ZONE 'UTC'
       AND s.sold_at < (to_date + 2)::timestamp AT TIME ZONE 'UTC'
       AND (s.sold_at AT TIME ZONE b.time_zone)::date BETWEEN from_date AND to_date
       AND (pos_paid_sales.branch IS NULL OR s.branch_id = pos_paid_sales.branch)
$$;
COMMENT ON FUNCTION mekatek.pos_paid_sales(date, date, integer) IS 'pos: the paid sales whose day in their branch''s time zone is between two dates, of one branch or all (NULL); what the reports read';

-- A batch is sellable while the branch's date is before expires_on: on its
-- expiry day it is no longer sold.
CREATE VIEW mekatek.stock_alert AS
WITH branch_today AS (
    SELECT br.branch_id, br.name AS branch, (now() AT TIME ZONE br.time_zone)::date AS today
      FROM mekatek.branch br
), stock AS (
    SELECT t.branch_id, t.branch, p.product_id, p.sku, p.name, p.min_stock,
           coalesce(sum(b.qty_on_hand) FILTER (WHERE b.expires_on > t.today), 0)::bigint AS sellable
      FROM branch_today t CROSS JOIN mekatek.product p
      LEFT JOIN mekatek.batch b ON b.product_id = p.product_id AND b.branch_id = t.branch_id
     WHERE p.active
     GROUP BY t.branch_id, t.branch, p.product_id
)
SELECT 'out_of_stock'::text AS alert, s.product_id, s.sku, s.name, NULL::bigint AS batch_id,
       s.sellable AS qty, s.min_stock, NULL::date AS expires_on, s.branch_id, s.branch
  FROM stock s WHERE s.sellable = 0
UNION ALL
SELECT 'below_min', s.product_id, s.sku, s.name, NULL, s.sellable, s.min_stock, NULL, s.branch_id, s.branch
  FROM stock s WHERE s.sellable > 0 AND s.sellable < s.min_stock
UNION ALL
SELECT CASE WHEN b.expires_on <= t.today THEN 'expired' ELSE 'expiring' END,
       p.product_id, p.sku, p.name, b.batch_id, b.qty_on_hand::bigint, p.min_stock, b.expires_on,
       t.branch_id, t.branch
  FROM mekatek.batch b JOIN mekatek.product p USING (product_id)
  JOIN branch_today t ON t.branch_id = b.branch_id
 WHERE b.qty_on_hand > 0
   AND b.expires_on <= t.today
       + coalesce(nullif(current_setting('mekatek.expiry_warning_days', true), '')::integer, 90);
COMMENT ON VIEW mekatek.stock_alert IS 'pos: per branch, products out of stock or below min_stock, batches expiring within mekatek.expiry_warning_days (default 90) and expired batches with stock left; quantities in bigint';

CREATE FUNCTION mekatek.sales_report(from_date date, to_date date, bucket text DEFAULT 'day',
                                     branch integer DEFAULT NULL)
RETURNS TABLE (period_start date, sales bigint, items bigint, revenue numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM mekatek.pos_report_range(from_date, to_date, 'sales_report');
    IF bucket IS NULL THEN
        RAISE EXCEPTION 'sales_report: bucket must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF bucket NOT IN ('day', 'week', 'month') THEN
        RAISE EXCEPTION 'sales_report: bucket must be day, week or month, not "%"', left(bucket, 64)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY
    WITH periods AS (
        SELECT greatest(g::date, from_date) AS p
          FROM generate_series(date_trunc(bucket, from_date::timestamp),
                               date_trunc(bucket, to_date::timestamp),
                               ('1 ' || bucket)::interval) g
    ), paid AS (
        SELECT greatest(date_trunc(bucket, s.local_day::timestamp)::date, from_date) AS p, s.sale_id, s.total
          FROM mekatek.pos_paid_sales(from_date, to_date, sales_report.branch) s
    ), per_period AS (
        SELECT paid.p, count(*) AS sales, sum(paid.total) AS revenue,
               sum((SELECT sum(l.qty) FROM mekatek.sale_line l WHERE l.sale_id = paid.sale_id))::bigint AS items
          FROM paid GROUP BY paid.p
    )
    SELECT periods.p, coalesce(pp.sales, 0), coalesce(pp.items, 0), coalesce(pp.revenue, 0)::numeric(14,2)
      FROM periods LEFT JOIN per_period pp USING (p)
     ORDER BY periods.p;
END
$$;
COMMENT ON FUNCTION mekatek.sales_report(date, date, text, integer) IS 'pos: paid sales per day, week (ISO, from Monday) or month between two dates inclusive, in each branch''s time zone, of one branch or all (NULL): number of sales, items sold and revenue; empty periods included, periods cut at the range''s ends';

CREATE FUNCTION mekatek.top_products(from_date date, to_date date, n integer DEFAULT 10,
                                     branch integer DEFAULT NULL)
RETURNS TABLE (sku text, name text, qty bigint, revenue numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM mekatek.pos_report_range(from_date, to_date, 'top_products');
    RETURN QUERY
    SELECT p.sku, p.name, sum(l.qty)::bigint, sum(l.amount)
      FROM mekatek.pos_paid_sales(from_date, to_date, top_products.branch) s
      JOIN mekatek.sale_line l ON l.sale_id = s.sale_id
      JOIN mekatek.product p ON p.product_id = l.product_id
     GROUP BY p.product_id
     ORDER BY sum(l.amount) DESC, p.sku
     LIMIT greatest(coalesce(n, 10), 0);
END
$$;
COMMENT ON FUNCTION mekatek.top_products(date, date, integer, integer) IS 'pos: the n best-selling products by revenue between two dates inclusive (branch-local days), of one branch or all (NULL)';

-- Cost of goods sold comes from the lots a sale actually took: its sale
-- (and void) movements times each batch's unit_cost.  Units from lots of
-- unknown cost are counted in qty_uncosted and left out of cost.
CREATE FUNCTION mekatek.margin_report(from_date date, to_date date, bucket text DEFAULT 'month',
                                      branch integer DEFAULT NULL)
RETURNS TABLE (period_start date, sku text, name text, qty bigint, revenue numeric, cost numeric,
               margin numeric, qty_uncosted bigint)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM mekatek.pos_report_range(from_date, to_date, 'margin_report');
    IF bucket IS NULL OR bucket NOT IN ('day', 'week', 'month') THEN
        RAISE EXCEPTION 'margin_report: bucket must be day, week or month, not "%"', left(coalesce(bucket, 'NULL'), 64)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY
    WITH paid AS (
        SELECT greatest(date_trunc(bucket, s.local_day::timestamp)::date, from_date) AS p, s.sale_id
          FROM mekatek.pos_paid_sales(from_date, to_date, margin_report.branch) s
    ), rev AS (
        SELECT paid.p, l.product_id, sum(l.qty)::bigint AS qty, sum(l.amount) AS revenue
          FROM paid JOIN mekatek.sale_line l ON l.sale_id = paid.sale_id
         GROUP BY paid.p, l.product_id
    ), cogs AS (
        SELECT paid.p, b.product_id,
               sum(-m.qty_delta * b.unit_cost) AS cost,
               coalesce(sum(-m.qty_delta) FILTER (WHERE b.unit_cost IS NULL), 0)::bigint AS uncosted
          FROM paid JOIN mekatek.stock_movement m ON m.sale_id = paid.sale_id
          JOIN mekatek.batch b ON b.batch_id = m.batch_id
         GROUP BY paid.p, b.product_id
    )
    SELECT rev.p, pr.sku, pr.name, rev.qty, rev.revenue, coalesce(cogs.cost, 0)::numeric(14,2),
           (rev.revenue - coalesce(cogs.cost, 0))::numeric(14,2), coalesce(cogs.uncosted, 0)
      FROM rev JOIN mekatek.product pr ON pr.product_id = rev.product_id
      LEFT JOIN cogs ON cogs.p = rev.p AND cogs.product_id = rev.product_id
     ORDER BY rev.p, pr.sku;
END
$$;
COMMENT ON FUNCTION mekatek.margin_report(date, date, text, integer) IS 'pos: per period (branch-local day, week or month, cut at the range''s ends) and product: units sold, revenue, cost of the lots the sales took, margin, and units from lots of unknown cost';

CREATE FUNCTION mekatek.stock_value(branch integer DEFAULT NULL, expiring_days integer DEFAULT 90)
RETURNS TABLE (branch_id integer, branch_name text, sku text, name text, qty bigint, value numeric,
               expiring_qty bigint, expiring_value numeric, expired_qty bigint, expired_value numeric)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH t AS (
        SELECT br.branch_id, br.name, (now() AT TIME ZONE br.time_zone)::date AS today
          FROM mekatek.branch br
         WHERE stock_value.branch IS NULL OR br.branch_id = stock_value.branch
    )
    SELECT t.branch_id, t.name, p.sku, p.name,
           sum(b.qty_on_hand) FILTER (WHERE b.expires_on > t.today),
           coalesce(sum(b.qty_on_hand * b.unit_cost) FILTER (WHERE b.expires_on > t.today), 0)::numeric(16,2),
           coalesce(sum(b.qty_on_hand) FILTER (WHERE b.expires_on > t.today
                    AND b.expires_on <= t.today + coalesce(expiring_days, 90)), 0),
           coalesce(sum(b.qty_on_hand * b.unit_cost) FILTER (WHERE b.expires_on > t.today
                    AND b.expires_on <= t.today + coalesce(expiring_days, 90)), 0)::numeric(16,2),
           coalesce(sum(b.qty_on_hand) FILTER (WHERE b.expires_on <= t.today), 0),
           coalesce(sum(b.qty_on_hand * b.unit_cost) FILTER (WHERE b.expires_on <= t.today), 0)::numeric(16,2)
      FROM t JOIN mekatek.batch b ON b.branch_id = t.branch_id
      JOIN mekatek.product p ON p.product_id = b.product_id
     WHERE b.qty_on_hand > 0
     GROUP BY t.branch_id, t.name, p.product_id
     ORDER BY t.branch_id, p.sku
$$;
COMMENT ON FUNCTION mekatek.stock_value(integer, integer) IS 'pos: per branch and product, the sellable quantity and its value at cost, what of it expires within expiring_days, and expired stock left, all in the branch''s date';

CREATE FUNCTION mekatek.slow_movers(days integer DEFAULT 90, branch integer DEFAULT NULL, n integer DEFAULT 20)
RETURNS TABLE (branch_id integer, sku text, name text, on_hand bigint, sold bigint, value numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF days IS NULL OR days < 1 OR days > 36600 THEN
        RAISE EXCEPTION 'slow_movers: days must be between 1 and 36600, not %', coalesce(days::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY
    WITH stock AS (
        SELECT b.branch_id, b.product_id, sum(b.qty_on_hand) AS on_hand,
               coalesce(sum(b.qty_on_hand * b.unit_cost), 0)::numeric(16,2) AS value
          FROM mekatek.batch b
         WHERE b.qty_on_hand > 0 AND (slow_movers.branch IS NULL OR b.branch_id = slow_movers.branch)
         GROUP BY b.branch_id, b.product_id
    ), sold AS (
        SELECT s.branch_id, l.product_id, sum(l.qty)::bigint AS qty
          FROM mekatek.branch br
          CROSS JOIN LATERAL mekatek.pos_paid_sales((now() AT TIME ZONE br.time_zone)::date - days + 1,
                                                    (now() AT TIME ZONE br.time_zone)::date, br.branch_id) s
          JOIN mekatek.sale_line l ON l.sale_id = s.sale_id
         WHERE slow_movers.branch IS NULL OR br.branch_id = slow_movers.branch
         GROUP BY s.branch_id, l.product_id
    )
    SELECT st.branch_id, p.sku, p.name, st.on_hand, coalesce(so.qty, 0), st.value
      FROM stock st JOIN mekatek.product p ON p.product_id = st.product_id
      LEFT JOIN sold so ON so.branch_id = st.branch_id AND so.product_id = st.product_id
     ORDER BY coalesce(so.qty, 0), st.value DESC, st.branch_id, p.sku
     LIMIT greatest(coalesce(n, 20), 0);
END
$$;
COMMENT ON FUNCTION mekatek.slow_movers(integer, integer, integer) IS 'pos: the n products with stock that sold least in the last days (branch-local days), per branch, with their stock and its value at cost';

-- The controlled-drug register of Indonesian pharmacies: per branch and
-- psikotropika or narkotika product, the month's opening balance, what came
-- in and went out by kind, and the closing balance.  Straight from the
-- ledger, so closing = the sum of the branch's movements before the next
-- month, and opening + received + transferred - sold + returned + adjusted
-- = closing by construction.  Months are the branch's.
CREATE FUNCTION mekatek.controlled_register(month date, branch integer DEFAULT NULL,
                                            all_classes boolean DEFAULT false)
RETURNS TABLE (branch_id integer, month_start date, sku text, name text, drug_class text,
               opening bigint, received bigint, transferred bigint, sold bigint, returned bigint,
               adjusted bigint, closing bigint)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m date := date_trunc('month', controlled_register.month)::date;
BEGIN
    PERFORM mekatek.pos_report_range(controlled_register.month, controlled_register.month, 'controlled_register');
    RETURN QUERY
    WITH mv AS (
        SELECT b.branch_id, b.product_id, mv.reason, mv.qty_delta::bigint AS d,
               (mv.at AT TIME ZONE br.time_zone)::date AS day
          FROM mekatek.stock_movement mv
          JOIN mekatek.batch b ON b.batch_id = mv.batch_id
          JOIN mekatek.branch br ON br.branch_id = b.branch_id
          JOIN mekatek.product p ON p.product_id = b.product_id
         WHERE (controlled_register.branch IS NULL OR b.branch_id = controlled_register.branch)
           AND (all_classes OR p.drug_class IN ('psikotropika', 'narkotika'))
           AND mv.at < ((m + interval '1 month')::date + 1)::timestamp AT TIME ZONE 'UTC'
    )
    SELECT mv.branch_id, m, p.sku, p.name, p.drug_class,
           coalesce(sum(mv.d) FILTER (WHERE mv.day < m), 0)::bigint,
           coalesce(sum(mv.d) FILTER (WHERE mv.day >= m AND mv.reason = 'receipt'), 0)::bigint,
           coalesce(sum(mv.d) FILTER (WHERE mv.day >= m AND mv.reason IN ('transfer_in', 'transfer_out')), 0)::bigint,
           coalesce(-sum(mv.d) FILTER (WHERE mv.day >= m AND mv.reason IN ('sale', 'void')), 0)::bigint,
           coalesce(sum(mv.d) FILTER (WHERE mv.day >= m AND mv.reason = 'return'), 0)::bigint,
           coalesce(sum(mv.d) FILTER (WHERE mv.day >= m AND mv.reason NOT IN
                    ('receipt', 'transfer_in', 'transfer_out', 'sale', 'void', 'return')), 0)::bigint,
           coalesce(sum(mv.d), 0)::bigint
      FROM mv JOIN mekatek.product p ON p.product_id = mv.product_id
     WHERE mv.day < (m + interval '1 month')::date
     GROUP BY mv.branch_id, p.product_id
     ORDER BY mv.branch_id, p.sku;
END
$$;
COMMENT ON FUNCTION mekatek.controlled_register(date, integer, boolean) IS 'pos: the monthly register of psikotropika and narkotika (all classes when all_classes) per branch: opening, received, transferred, sold, returned, adjusted and closing balance, from the ledger in the branch''s month';

-- What the paper's dashboard shows, in one call for web apps.
CREATE FUNCTION mekatek.dashboard(branch integer, day date DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d date;
    result jsonb;
BEGIN
    IF branch IS NULL THEN
        RAISE EXCEPTION 'dashboard: branch must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT coalesce(dashboard.day, (now() AT TIME ZONE b.time_zone)::date) INTO d
      FROM mekatek.branch b WHERE b.branch_id = dashboard.branch;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'dashboard: branch % does not exist', branch USING ERRCODE = 'foreign_key_violation';
    END IF;
    PERFORM mekatek.pos_report_range(d, d, 'dashboard');
    WITH s AS (SELECT * FROM mekatek.pos_paid_sales(d, d, dashboard.branch))
    SELECT jsonb_build_object(
        'branch_id', dashboard.branch,
        'day', d,
        'sales', (SELECT count(*) FROM s),
        'items', (SELECT coalesce(sum(l.qty), 0) FROM s JOIN mekatek.sale_line l ON l.sale_id = s.sale_id),
        'revenue', (SELECT coalesce(sum(s.total), 0) FROM s),
        'top_products', coalesce((SELECT jsonb_agg(jsonb_build_object('sku', t.sku, 'name', t.name, 'qty', t.qty, 'revenue', t.revenue))
                                    FROM mekatek.top_products(d, d, 5, dashboard.branch) t), '[]'),
        'low_stock', (SELECT count(*) FROM mekatek.stock_alert a
                       WHERE a.branch_id = dashboard.branch AND a.alert IN ('out_of_stock', 'below_min')),
        'expiring', (SELECT count(*) FROM mekatek.stock_alert a
                      WHERE a.branch_id = dashboard.branch AND a.alert IN ('expiring', 'expired')),
        'per_cashier', coalesce((SELECT jsonb_agg(jsonb_build_object('cashier', c.cashier, 'sales', c.n, 'revenue', c.revenue) ORDER BY c.cashier)
                                   FROM (SELECT s.cashier, count(*) AS n, sum(s.total) AS revenue FROM s GROUP BY s.cashier) c), '[]'))
      INTO result;
    RETURN result;
END
$$;
COMMENT ON FUNCTION mekatek.dashboard(integer, date) IS 'pos: one branch''s day (default: today in the branch''s zone) as jsonb: sales, items, revenue, top products, low-stock and expiring counts, sales per cashier';

CREATE VIEW mekatek.supplier_price_history AS
SELECT s.supplier_id, s.name AS supplier, p.sku, p.name, r.received_at, r.unit_cost, r.qty, r.po_id, r.line_no
  FROM mekatek.purchase_receipt r
  JOIN mekatek.purchase_order o ON o.po_id = r.po_id
  JOIN mekatek.supplier s ON s.supplier_id = o.supplier_id
  JOIN mekatek.batch b ON b.batch_id = r.batch_id
  JOIN mekatek.product p ON p.product_id = b.product_id;
COMMENT ON VIEW mekatek.supplier_price_history IS 'pos: every price a supplier delivered a product at (the deliveries against purchase orders), newest last';

GRANT INSERT (drug_class), UPDATE (drug_class) ON mekatek.product TO mekatek_admin;
GRANT INSERT (prescriber, prescription_no, prescription_date) ON mekatek.sale_line TO mekatek_cashier;
GRANT SELECT ON mekatek.stock_alert TO mekatek_cashier, mekatek_analyst;
GRANT EXECUTE ON FUNCTION mekatek.sales_report(date, date, text, integer),
    mekatek.top_products(date, date, integer, integer),
    mekatek.dashboard(integer, date), mekatek.pos_report_range(date, date, text),
    mekatek.pos_paid_sales(date, date, integer)
    TO mekatek_cashier, mekatek_analyst;
GRANT EXECUTE ON FUNCTION mekatek.receive_stock(text, text, date, integer, numeric, integer) TO mekatek_admin;
-- The stock room: admins move stock, order, count; analysts read; the
-- counters of a branch (its cashiers) enter counted quantities.
GRANT EXECUTE ON FUNCTION mekatek.report_xlsx(text, date, date, integer),
    mekatek.margin_report(date, date, text, integer),
    mekatek.stock_value(integer, integer), mekatek.slow_movers(integer, integer, integer),
    mekatek.controlled_register(date, integer, boolean)
    TO mekatek_admin, mekatek_analyst;
GRANT EXECUTE ON FUNCTION mekatek.transfer_stock(integer, integer, text, integer, text, boolean, text),
    mekatek.transfer_receive(bigint),
    mekatek.receive_purchase(bigint, integer, text, date, integer, numeric),
    mekatek.count_open(integer, text[], text), mekatek.count_close(bigint)
    TO mekatek_admin;
GRANT EXECUTE ON FUNCTION mekatek.count_enter(bigint, bigint, integer) TO mekatek_admin, mekatek_cashier;
GRANT SELECT ON mekatek.stock_transfer, mekatek.stock_transfer_lot, mekatek.supplier, mekatek.purchase_order,
    mekatek.purchase_order_line, mekatek.purchase_receipt, mekatek.stock_count, mekatek.stock_count_line,
    mekatek.supplier_price_history
    TO mekatek_admin, mekatek_analyst;
GRANT SELECT ON mekatek.stock_count, mekatek.stock_count_line TO mekatek_cashier;
GRANT INSERT (name, contact), UPDATE (name, contact) ON mekatek.supplier TO mekatek_admin;
GRANT INSERT (supplier_id, branch_id, note), UPDATE (status, note) ON mekatek.purchase_order TO mekatek_admin;
GRANT INSERT (po_id, line_no, product_id, qty_ordered, unit_cost),
      UPDATE (qty_ordered, unit_cost), DELETE ON mekatek.purchase_order_line TO mekatek_admin;

-- the stock room
SELECT pg_catalog.pg_extension_config_dump('mekatek.stock_transfer', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.stock_transfer_lot', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.supplier', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.purchase_order', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.purchase_order_line', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.purchase_receipt', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.stock_count', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.stock_count_line', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.stock_transfer_transfer_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.supplier_supplier_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.purchase_order_po_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.purchase_receipt_receipt_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.stock_count_count_id_seq', '');
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
-- their lot), which, like sale and void, names its sale; the list keeps
-- the stock room's reasons added above.
-- ---------------------------------------------------------------------
ALTER TABLE mekatek.stock_movement
    DROP CONSTRAINT stock_movement_reason_check,
    ADD CONSTRAINT stock_movement_reason_check
        CHECK (reason IN ('receipt', 'sale', 'void', 'adjustment', 'expiry',
                          'transfer_out', 'transfer_in', 'count', 'return')),
    DROP CONSTRAINT stock_movement_check,
    ADD CONSTRAINT stock_movement_check CHECK ((reason IN ('sale', 'void', 'return')) = (sale_id IS NOT NULL));

-- ---------------------------------------------------------------------
-- The till's functions and triggers.
-- ---------------------------------------------------------------------
-- SECURITY DEFINER now: a sale becoming paid takes its receipt number.
ALTER FUNCTION mekatek.pos_sale_guard_trg() SECURITY DEFINER SET search_path = pg_catalog, mekatek, pg_temp;
COMMENT ON FUNCTION mekatek.pos_sale_guard_trg() IS 'pos: BEFORE UPDATE on sale: allowed status changes (open to paid or void, paid to void by an admin); a paid sale''s payments cover its total and it gets its receipt number';
COMMENT ON FUNCTION mekatek.checkout(integer, jsonb) IS 'pos: records a paid sale from [{"sku": "PCT500", "qty": 2}, ...] in one call, paid in cash exactly (0.1.0''s call); returns sale_id';

CREATE FUNCTION mekatek.pos_sale_insert_trg() RETURNS trigger
AS 'MODULE_PATHNAME', 'pos_sale_insert_trg' LANGUAGE C
SET search_path = pg_catalog, mekatek, pg_temp;
COMMENT ON FUNCTION mekatek.pos_sale_insert_trg() IS 'pos: BEFORE INSERT on sale: a login without a staff row, or a cashier of another branch, gets this module''s error and hint (before row security''s)';

CREATE FUNCTION mekatek.pos_payment_trg() RETURNS trigger
AS 'MODULE_PATHNAME', 'pos_payment_trg' LANGUAGE C
SET search_path = pg_catalog, mekatek, pg_temp;
COMMENT ON FUNCTION mekatek.pos_payment_trg() IS 'pos: BEFORE INSERT on payment: the sale is visible and not void, the method accepted at its branch, no overpayment; fills a cash payment''s tendered and change';

CREATE FUNCTION mekatek.checkout(branch_id integer, lines jsonb, payments jsonb,
                                 discount jsonb DEFAULT NULL, idempotency_key text DEFAULT NULL)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'pos_checkout_pay' LANGUAGE C VOLATILE
SET search_path = pg_catalog, mekatek, pg_temp;
COMMENT ON FUNCTION mekatek.checkout(integer, jsonb, jsonb, jsonb, text) IS 'pos: records a paid sale with line discounts, a sale discount, PPN and its payments in one call (a retry with the same idempotency_key returns the first sale); returns its receipt as jsonb';

-- SECURITY DEFINER (the lots come from the ledger, which a cashier cannot
-- read); the C code checks first, as the acting role, that it may see
-- the sale.
CREATE FUNCTION mekatek.receipt(sale_id bigint) RETURNS jsonb
AS 'MODULE_PATHNAME', 'pos_receipt' LANGUAGE C STABLE
SECURITY DEFINER SET search_path = pg_catalog, mekatek, pg_temp;
COMMENT ON FUNCTION mekatek.receipt(bigint) IS 'pos: a sale''s receipt as jsonb: branch, cashier, time in the branch''s time zone, lines with lots and expiry, discounts, DPP, PPN, total, payments and change';

CREATE FUNCTION mekatek.receipt_text(sale_id bigint, width integer DEFAULT 32) RETURNS text
AS 'MODULE_PATHNAME', 'pos_receipt_text' LANGUAGE C STABLE
SECURITY DEFINER SET search_path = pg_catalog, mekatek, pg_temp;
COMMENT ON FUNCTION mekatek.receipt_text(bigint, integer) IS 'pos: a sale''s receipt as plain text for a thermal printer, width columns (32 for 58 mm paper, 48 for 80 mm), rupiah as Rp 49.000';

CREATE FUNCTION mekatek.return_line(sale_id bigint, line_no integer, qty integer, reason text,
                                    resellable boolean DEFAULT true, refund_method text DEFAULT 'cash')
RETURNS bigint
AS 'MODULE_PATHNAME', 'pos_return_line' LANGUAGE C VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, mekatek, pg_temp;
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

-- Issue 14: pos's C functions pin exactly the path the core SPI helpers
-- pin (MK_SEARCH_PATH in src/core/mekatek.h), so that fmgr sets it once
-- per call and no statement inside flips it again.  The functions above
-- have it already; these came from 0.1.0 unchanged.
ALTER FUNCTION mekatek.pos_line_stock_trg() SET search_path = pg_catalog, mekatek, pg_temp;
ALTER FUNCTION mekatek.pos_sale_void_trg() SET search_path = pg_catalog, mekatek, pg_temp;
ALTER FUNCTION mekatek.pos_audit_trg() SET search_path = pg_catalog, mekatek, pg_temp;
ALTER FUNCTION mekatek.adjust_stock(bigint, integer, text, text) SET search_path = pg_catalog, mekatek, pg_temp;
ALTER FUNCTION mekatek.checkout(integer, jsonb) SET search_path = pg_catalog, mekatek, pg_temp;
