-- Mekatek install script, module chain: every branch on its own server,
-- headquarters sees all, through PostgreSQL's logical replication.
--
-- Mekatek has no replication code of its own.  This module only says who
-- this server is (chain_node), keeps every write in its one right place
-- (chain_place_trg), gives every node its own range of ids (the
-- sequences, set by chain_setup_branch), and creates the publications
-- and subscriptions.  Rows that arrive by replication are applied with
-- session_replication_role = replica, so none of the business triggers
-- (stock, ledger, audit, outbox) fires for them again: every trigger of
-- Mekatek on a replicated table is ENABLE ORIGIN (the default).
--
-- Master data (branch, tax_class, product, supplier, staff) flows from
-- headquarters to every branch; a branch's own rows flow to headquarters;
-- transfers between branches go source -> headquarters -> destination.
-- See README "Chain of branch servers" for the table-flow table.

-- This server's place in the chain.  No row: a standalone install, which
-- behaves exactly as before the module existed.
CREATE TABLE mekatek.chain_node (
    singleton  boolean PRIMARY KEY DEFAULT true CONSTRAINT chain_node_singleton CHECK (singleton),
    node_id    integer NOT NULL CONSTRAINT chain_node_node_id_check CHECK (node_id BETWEEN 0 AND 32766),
    role       text NOT NULL CONSTRAINT chain_node_role_check CHECK (role IN ('headquarters', 'branch')),
    -- No foreign key: a branch server learns its branch row from
    -- headquarters only once its subscription has copied the master data.
    branch_id  integer,
    set_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT chain_node_branch_check CHECK ((role = 'branch') = (branch_id IS NOT NULL))
);
COMMENT ON TABLE mekatek.chain_node IS 'chain: this server''s place in the chain (headquarters, or the server of one branch) and its node id, the high bits of the ids it creates; no row: a standalone install';

-- At headquarters: the branches that have a server of their own.  Their
-- rows are written there, never here.
CREATE TABLE mekatek.chain_member (
    branch_id  integer PRIMARY KEY REFERENCES mekatek.branch,
    -- the high bits of the ids its server creates (chain_setup_branch)
    node_id    integer NOT NULL CONSTRAINT chain_member_node_id_check CHECK (node_id BETWEEN 1 AND 32766)
               CONSTRAINT chain_member_node_id_key UNIQUE,
    added_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE mekatek.chain_member IS 'chain: at headquarters, the branches that run on a server of their own (their sales, stock and transfers are written there and arrive here by replication)';

-- The lots of a transfer as the source sent them (lot code, expiry,
-- cost), written at the source when a transfer leaves (stock_transfer_lot
-- insert), so that the destination, which never sees the source's
-- batches, can receive them.  Source -> headquarters -> destination.
CREATE TABLE mekatek.chain_transfer_lot (
    transfer_id    bigint NOT NULL,
    from_batch_id  bigint NOT NULL,
    from_branch_id integer NOT NULL,
    to_branch_id   integer NOT NULL,
    product_id     bigint NOT NULL,
    sku            text NOT NULL,
    lot            text NOT NULL,
    expires_on     date NOT NULL,
    unit_cost      numeric(12,2),
    qty            integer NOT NULL CONSTRAINT chain_transfer_lot_qty_check CHECK (qty > 0),
    PRIMARY KEY (transfer_id, from_batch_id)
);
COMMENT ON TABLE mekatek.chain_transfer_lot IS 'chain: a lot of a transfer between branch servers as it left the source (lot, expiry, cost, qty); replicated to headquarters and on to the destination';

-- What the destination received, one row per sent lot (qty_received 0: none
-- of it arrived).  Destination -> headquarters.
CREATE TABLE mekatek.chain_transfer_arrival (
    transfer_id    bigint NOT NULL,
    from_batch_id  bigint NOT NULL,
    to_branch_id   integer NOT NULL,
    to_batch_id    bigint,
    qty_sent       integer NOT NULL CONSTRAINT chain_transfer_arrival_sent_check CHECK (qty_sent > 0),
    qty_received   integer NOT NULL CONSTRAINT chain_transfer_arrival_received_check CHECK (qty_received BETWEEN 0 AND qty_sent),
    received_at    timestamptz NOT NULL DEFAULT now(),
    received_by    name NOT NULL,
    PRIMARY KEY (transfer_id, from_batch_id),
    CONSTRAINT chain_transfer_arrival_batch_check CHECK ((qty_received > 0) = (to_batch_id IS NOT NULL))
);
COMMENT ON TABLE mekatek.chain_transfer_arrival IS 'chain: what the destination server received of each lot of a transfer (mekatek.chain_transfer_receive); replicated to headquarters, where chain_transfers_pending reconciles it';

SELECT pg_catalog.pg_extension_config_dump('mekatek.chain_node', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.chain_member', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.chain_transfer_lot', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.chain_transfer_arrival', '');

-- ---------------------------------------------------------------------
-- Every write in its one place
-- ---------------------------------------------------------------------

-- Not SECURITY DEFINER, to cost no search_path switch per row: the C code
-- reads this server's place and a row's parent as this function's owner
-- (place.c), and its SPI pins the search_path.
CREATE FUNCTION mekatek.chain_place_trg() RETURNS trigger
AS 'MODULE_PATHNAME', 'chain_place_trg' LANGUAGE C;
COMMENT ON FUNCTION mekatek.chain_place_trg() IS 'chain: BEFORE row trigger refusing a write in the wrong place (25M01): master data at a branch server, a branch''s rows at headquarters or at another branch''s server; arguments: master | branch COLUMN [insert] | via COLUMN TABLE KEY BRANCH_COLUMN';

-- One trigger per table, named chain_place, with the table's rule:
--   master                          headquarters writes it, never a branch;
--   branch COLUMN [insert]          a branch's own rows (COLUMN is the branch);
--                                   transfers are published insert-only with a
--                                   row filter (PostgreSQL 15 allows a filter on
--                                   a column outside the replica identity only
--                                   there), so in a chain they never change;
--   via FK TABLE KEY BRANCH_COLUMN  rows without a branch column belong to
--                                   their parent's branch.  At a branch server
--                                   every parent is its own (or a transfer
--                                   forwarded to it, read-only there), so these
--                                   are looked up at headquarters only.
DO $place$
DECLARE
    r text[];
BEGIN
    FOREACH r SLICE 1 IN ARRAY ARRAY[
        ['branch', 'master', '', '', '', ''],
        ['tax_class', 'master', '', '', '', ''],
        ['product', 'master', '', '', '', ''],
        ['supplier', 'master', '', '', '', ''],
        ['staff', 'master', '', '', '', ''],
        ['sale', 'branch', 'branch_id', '', '', ''],
        ['batch', 'branch', 'branch_id', '', '', ''],
        ['stock_count', 'branch', 'branch_id', '', '', ''],
        ['purchase_order', 'branch', 'branch_id', '', '', ''],
        ['stock_transfer', 'branch', 'from_branch_id', 'insert', '', ''],
        ['chain_transfer_lot', 'branch', 'from_branch_id', 'insert', '', ''],
        ['chain_transfer_arrival', 'branch', 'to_branch_id', 'insert', '', ''],
        ['sale_line', 'via', 'sale_id', 'sale', 'sale_id', 'branch_id'],
        ['payment', 'via', 'sale_id', 'sale', 'sale_id', 'branch_id'],
        ['sale_return', 'via', 'sale_id', 'sale', 'sale_id', 'branch_id'],
        ['stock_movement', 'via', 'batch_id', 'batch', 'batch_id', 'branch_id'],
        ['stock_transfer_lot', 'via', 'transfer_id', 'stock_transfer', 'transfer_id', 'from_branch_id'],
        ['stock_count_line', 'via', 'count_id', 'stock_count', 'count_id', 'branch_id'],
        ['purchase_order_line', 'via', 'po_id', 'purchase_order', 'po_id', 'branch_id'],
        ['purchase_receipt', 'via', 'po_id', 'purchase_order', 'po_id', 'branch_id']]
    LOOP
        EXECUTE format('CREATE TRIGGER chain_place BEFORE INSERT OR UPDATE OR DELETE ON mekatek.%I'
                       ' FOR EACH ROW EXECUTE FUNCTION mekatek.chain_place_trg(%s)', r[1],
                       (SELECT string_agg(quote_literal(a), ', ') FROM unnest(r[2:6]) a WHERE a <> ''));
    END LOOP;
END
$place$;

-- ---------------------------------------------------------------------
-- Transfers between branch servers
-- ---------------------------------------------------------------------

CREATE FUNCTION mekatek.chain_transfer_manifest_trg() RETURNS trigger
AS 'MODULE_PATHNAME', 'chain_transfer_manifest_trg' LANGUAGE C
SECURITY DEFINER SET search_path = pg_catalog, mekatek, pg_temp;
COMMENT ON FUNCTION mekatek.chain_transfer_manifest_trg() IS 'chain: AFTER INSERT on stock_transfer_lot at a branch server: records the lot as it leaves (lot, expiry, cost) in chain_transfer_lot for the destination server';
CREATE TRIGGER chain_transfer_manifest AFTER INSERT ON mekatek.stock_transfer_lot
    FOR EACH ROW EXECUTE FUNCTION mekatek.chain_transfer_manifest_trg();

CREATE FUNCTION mekatek.chain_transfer_receive(transfer_id bigint, qty integer DEFAULT NULL)
RETURNS integer
AS 'MODULE_PATHNAME', 'chain_transfer_receive' LANGUAGE C VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, mekatek, pg_temp;
COMMENT ON FUNCTION mekatek.chain_transfer_receive(bigint, integer) IS 'chain: at the destination branch server, receives a transfer sent from another server: its lots (all, or the first qty units, FEFO) enter this branch''s batches through the stock ledger; admin only; returns the units received';

-- At headquarters: every transfer between branches that is not wholly
-- received: in transit (no arrival yet) or short (fewer units arrived
-- than left).
CREATE VIEW mekatek.chain_transfers_pending AS
SELECT t.transfer_id, t.from_branch_id, t.to_branch_id, p.sku, t.qty AS qty_sent,
       coalesce(a.received, 0)::integer AS qty_received,
       CASE WHEN a.transfer_id IS NULL THEN 'in_transit' ELSE 'short' END AS state,
       t.sent_at, a.received_at, pg_catalog.now() - t.sent_at AS age
  FROM mekatek.stock_transfer t
  JOIN mekatek.product p ON p.product_id = t.product_id
  LEFT JOIN (SELECT transfer_id, sum(qty_received) AS received, max(received_at) AS received_at
               FROM mekatek.chain_transfer_arrival GROUP BY transfer_id) a
    ON a.transfer_id = t.transfer_id
 WHERE t.status = 'in_transit' AND coalesce(a.received, 0) < t.qty;
COMMENT ON VIEW mekatek.chain_transfers_pending IS 'chain: transfers not wholly received: in_transit (the destination has not confirmed) or short (fewer units arrived than left); at headquarters, across all branch servers';

-- ---------------------------------------------------------------------
-- Setup: identity, publications, slots, subscriptions
-- ---------------------------------------------------------------------

-- The tables of each flow, in one place for the helpers and the README.
CREATE FUNCTION mekatek.chain_setup_tables(flow text)
RETURNS text[]
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE flow
        WHEN 'master' THEN '{branch,tax_class,product,supplier,staff}'::text[]
        WHEN 'branch' THEN '{sale,sale_line,payment,sale_return,batch,stock_movement,stock_transfer_lot,stock_count,stock_count_line,purchase_order,purchase_order_line,purchase_receipt,audit_log,chain_transfer_arrival}'::text[]
        WHEN 'transfer' THEN '{stock_transfer,chain_transfer_lot}'::text[]
    END
$$;
COMMENT ON FUNCTION mekatek.chain_setup_tables(text) IS 'chain: the tables of a flow: master (headquarters to every branch), branch (a branch server to headquarters), transfer (insert-only, source to headquarters to destination)';

-- The names the helpers give; one branch's publication, slot and
-- subscription are named after its branch id on both sides.
CREATE FUNCTION mekatek.chain_setup_name(kind text, branch_id integer)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE kind
        WHEN 'master' THEN 'mekatek_chain_master'
        WHEN 'to_branch' THEN 'mekatek_chain_to_' || branch_id
        WHEN 'branch' THEN 'mekatek_chain_branch_' || branch_id
        WHEN 'branch_transfer' THEN 'mekatek_chain_branch_' || branch_id || '_transfer'
        WHEN 'hq_slot' THEN 'mekatek_chain_hq_to_' || branch_id
        WHEN 'branch_slot' THEN 'mekatek_chain_branch_' || branch_id
    END
$$;
COMMENT ON FUNCTION mekatek.chain_setup_name(text, integer) IS 'chain: the name of a publication, slot or subscription the setup helpers create (master, to_branch, branch, branch_transfer, hq_slot, branch_slot)';

-- A publication, unless it exists: tables is the FOR TABLE list (with
-- any row filters), publish what it sends (never truncate: a TRUNCATE at
-- one server must not empty another's tables).
CREATE FUNCTION mekatek.chain_setup_publication(pub text, tables text, publish text)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, mekatek, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_publication p WHERE p.pubname = pub) THEN
        EXECUTE format('CREATE PUBLICATION %I FOR TABLE %s WITH (publish = %L)', pub, tables, publish);
    END IF;
    RETURN pub;
END
$$;
COMMENT ON FUNCTION mekatek.chain_setup_publication(text, text, text) IS 'chain: creates a publication of the given tables unless it exists; returns its name';

-- The FOR TABLE list of a flow's tables.
CREATE FUNCTION mekatek.chain_setup_table_list(flow text)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT string_agg('mekatek.' || quote_ident(t), ', ') FROM unnest(mekatek.chain_setup_tables(flow)) t
$$;
COMMENT ON FUNCTION mekatek.chain_setup_table_list(text) IS 'chain: the tables of a flow as a FOR TABLE list';

CREATE FUNCTION mekatek.chain_setup_check(what text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        RAISE EXCEPTION 'permission denied for %', what USING ERRCODE = 'insufficient_privilege',
            HINT = 'Publications, slots and subscriptions are created by a superuser.';
    END IF;
    IF pg_catalog.current_setting('wal_level') <> 'logical' THEN
        RAISE EXCEPTION '%: wal_level is %, not logical', what, pg_catalog.current_setting('wal_level')
            USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Set wal_level = logical in postgresql.conf and restart the server.';
    END IF;
END
$$;
COMMENT ON FUNCTION mekatek.chain_setup_check(text) IS 'chain: raises unless the caller is a superuser and wal_level is logical';

CREATE FUNCTION mekatek.chain_setup_headquarters(node_id integer DEFAULT 0)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, mekatek, pg_temp
AS $$
DECLARE
    pub text := mekatek.chain_setup_name('master', NULL);
BEGIN
    IF node_id IS NULL OR node_id NOT BETWEEN 0 AND 32766 THEN
        RAISE EXCEPTION 'chain_setup_headquarters: node_id must be between 0 and 32766, not %', coalesce(node_id::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM mekatek.chain_setup_check('chain_setup_headquarters');
    IF EXISTS (SELECT FROM mekatek.chain_node n WHERE n.role <> 'headquarters') THEN
        RAISE EXCEPTION 'chain_setup_headquarters: this server is already the server of branch %',
            (SELECT n.branch_id FROM mekatek.chain_node n)
            USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'A server is headquarters or one branch''s server, never both.';
    END IF;
    INSERT INTO mekatek.chain_node (node_id, role) VALUES (chain_setup_headquarters.node_id, 'headquarters')
        ON CONFLICT (singleton) DO UPDATE SET node_id = EXCLUDED.node_id, set_at = now();
    PERFORM mekatek.chain_setup_sequences(chain_setup_headquarters.node_id);
    RETURN mekatek.chain_setup_publication(pub, mekatek.chain_setup_table_list('master'), 'insert, update, delete');
END
$$;
COMMENT ON FUNCTION mekatek.chain_setup_headquarters(integer) IS 'chain: makes this server headquarters (node id, default 0: ids as before) and creates the publication of the master data (mekatek_chain_master); returns its name';

CREATE FUNCTION mekatek.chain_setup_member(branch_id integer, node_id integer DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, mekatek, pg_temp
AS $$
DECLARE
    pub text := mekatek.chain_setup_name('to_branch', branch_id);
BEGIN
    PERFORM mekatek.chain_setup_check('chain_setup_member');
    IF NOT EXISTS (SELECT FROM mekatek.chain_node n WHERE n.role = 'headquarters') THEN
        RAISE EXCEPTION 'chain_setup_member: this server is not headquarters'
            USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Run mekatek.chain_setup_headquarters() first.';
    END IF;
    IF NOT EXISTS (SELECT FROM mekatek.branch b WHERE b.branch_id = chain_setup_member.branch_id) THEN
        RAISE EXCEPTION 'chain_setup_member: branch % does not exist', branch_id
            USING ERRCODE = 'foreign_key_violation', HINT = 'Create the branch at headquarters first.';
    END IF;
    INSERT INTO mekatek.chain_member (branch_id, node_id)
    VALUES (chain_setup_member.branch_id, coalesce(chain_setup_member.node_id, chain_setup_member.branch_id))
        ON CONFLICT ON CONSTRAINT chain_member_pkey DO NOTHING;
    RETURN mekatek.chain_setup_publication(pub,
        format('mekatek.stock_transfer WHERE (to_branch_id = %s), mekatek.chain_transfer_lot WHERE (to_branch_id = %s)',
               branch_id, branch_id), 'insert');
END
$$;
COMMENT ON FUNCTION mekatek.chain_setup_member(integer, integer) IS 'chain: at headquarters, registers a branch that runs on its own server (node id, default the branch id; its rows are no longer written here) and creates the publication of the transfers to it (mekatek_chain_to_N); returns its name';

CREATE FUNCTION mekatek.chain_setup_branch(branch_id integer, node_id integer DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, mekatek, pg_temp
AS $$
DECLARE
    node integer := coalesce(node_id, branch_id);
    pub text := mekatek.chain_setup_name('branch', branch_id);
    tpub text := mekatek.chain_setup_name('branch_transfer', branch_id);
BEGIN
    IF branch_id IS NULL OR branch_id < 1 THEN
        RAISE EXCEPTION 'chain_setup_branch: branch_id must be a branch id of headquarters, not %', coalesce(branch_id::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF node NOT BETWEEN 1 AND 32766 THEN
        RAISE EXCEPTION 'chain_setup_branch: node_id must be between 1 and 32766, not %', node
            USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Node 0 is headquarters'' (and a standalone install''s) range; give each branch server its own node id.';
    END IF;
    PERFORM mekatek.chain_setup_check('chain_setup_branch');
    IF EXISTS (SELECT FROM mekatek.chain_node n WHERE n.role <> 'branch' OR n.branch_id <> chain_setup_branch.branch_id) THEN
        RAISE EXCEPTION 'chain_setup_branch: this server is already %',
            (SELECT CASE n.role WHEN 'branch' THEN 'the server of branch ' || n.branch_id ELSE n.role END FROM mekatek.chain_node n)
            USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'A server is headquarters or one branch''s server, never both.';
    END IF;
    INSERT INTO mekatek.chain_node (node_id, role, branch_id) VALUES (node, 'branch', chain_setup_branch.branch_id)
        ON CONFLICT (singleton) DO UPDATE SET node_id = EXCLUDED.node_id, set_at = now();
    PERFORM mekatek.chain_setup_sequences(node);
    -- No row filter: everything in these tables at a branch server was
    -- written there (chain_place_trg), and PostgreSQL 15 allows a filter
    -- on updated tables only on replica identity columns.
    PERFORM mekatek.chain_setup_publication(pub, mekatek.chain_setup_table_list('branch'), 'insert, update, delete');
    -- transfers that arrived from other branches are not sent back
    PERFORM mekatek.chain_setup_publication(tpub,
        format('mekatek.stock_transfer WHERE (from_branch_id = %s), mekatek.chain_transfer_lot WHERE (from_branch_id = %s)',
               branch_id, branch_id), 'insert');
    RETURN pub;
END
$$;
COMMENT ON FUNCTION mekatek.chain_setup_branch(integer, integer) IS 'chain: makes this server the server of one branch (node id, default the branch id, in the high bits of every id it creates) and creates its publications to headquarters (mekatek_chain_branch_N and _transfer); returns the first name';

-- Ids: node n creates ids in [n * 2^48 + 1, (n + 1) * 2^48 - 1], so
-- servers never collide without talking to each other.  Node 0 keeps its
-- sequences as they are: existing ids never change.
CREATE FUNCTION mekatek.chain_setup_sequences(node_id integer)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, mekatek, pg_temp
AS $$
DECLARE
    s record;
    lo bigint := node_id::bigint << 48;
    hi bigint := ((node_id::bigint + 1) << 48) - 1;
    n integer := 0;
    top bigint;
BEGIN
    IF node_id = 0 THEN
        RETURN 0;
    END IF;
    FOR s IN
        SELECT c.relname AS tbl, a.attname AS col, pg_catalog.pg_get_serial_sequence(quote_ident(ns.nspname) || '.' || quote_ident(c.relname), a.attname) AS seq
          FROM pg_catalog.pg_class c
          JOIN pg_catalog.pg_namespace ns ON ns.oid = c.relnamespace
          JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
         WHERE ns.nspname = 'mekatek' AND c.relkind = 'r'
           AND pg_catalog.pg_get_serial_sequence(quote_ident(ns.nspname) || '.' || quote_ident(c.relname), a.attname) IS NOT NULL
           AND a.atttypid = 'pg_catalog.int8'::pg_catalog.regtype
         ORDER BY 1, 2
    LOOP
        EXECUTE format('SELECT max(%I) FROM mekatek.%I WHERE %I BETWEEN %s AND %s', s.col, s.tbl, s.col, lo, hi) INTO top;
        EXECUTE format('ALTER SEQUENCE %s MINVALUE %s MAXVALUE %s START %s RESTART %s', s.seq, lo + 1, hi, lo + 1,
                       coalesce(top, lo) + 1);
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION mekatek.chain_setup_sequences(integer) IS 'chain: puts every bigint id sequence of the mekatek tables into the node''s range (node_id * 2^48 + 1 ..); node 0 is left as it is; returns the sequences set';

-- A logical replication slot is created in a transaction of its own, as its
-- first statement (PostgreSQL refuses one in a transaction that wrote),
-- and after the publication it serves was committed.  CREATE
-- SUBSCRIPTION may then run inside a function, with create_slot = false.
CREATE FUNCTION mekatek.chain_setup_slot(branch_id integer)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, mekatek, pg_temp
AS $$
DECLARE
    node_role text := (SELECT n.role FROM mekatek.chain_node n);
    slot text;
BEGIN
    IF node_role IS NULL THEN
        RAISE EXCEPTION 'chain_setup_slot: this server is not in a chain'
            USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Run mekatek.chain_setup_headquarters() or mekatek.chain_setup_branch() first.';
    END IF;
    slot := mekatek.chain_setup_name(CASE node_role WHEN 'headquarters' THEN 'hq_slot' ELSE 'branch_slot' END, branch_id);
    -- a slot invalidated past max_slot_wal_keep_size is made anew (the
    -- other side then re-syncs: chain_setup_resync at headquarters)
    IF EXISTS (SELECT FROM pg_catalog.pg_replication_slots r WHERE r.slot_name = slot AND r.wal_status = 'lost' AND NOT r.active) THEN
        PERFORM pg_catalog.pg_drop_replication_slot(slot);
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_replication_slots r WHERE r.slot_name = slot) THEN
        PERFORM pg_catalog.pg_create_logical_replication_slot(slot, 'pgoutput');
    END IF;
    RETURN slot;
END
$$;
COMMENT ON FUNCTION mekatek.chain_setup_slot(integer) IS 'chain: creates the replication slot a subscriber will use (at headquarters for branch N''s subscription, at a branch for headquarters'' one), anew when it was lost; call it alone in its own transaction, after the publications; returns the slot name';

CREATE FUNCTION mekatek.chain_setup_subscribe(conninfo text, branch_id integer DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, mekatek, pg_temp
AS $$
DECLARE
    node mekatek.chain_node;
    b integer;
    sub text;
    pubs text;
    slot text;
BEGIN
    PERFORM mekatek.chain_setup_check('chain_setup_subscribe');
    SELECT * INTO node FROM mekatek.chain_node;
    IF node.role IS NULL THEN
        RAISE EXCEPTION 'chain_setup_subscribe: this server is not in a chain'
            USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Run mekatek.chain_setup_headquarters() or mekatek.chain_setup_branch() first.';
    END IF;
    IF conninfo IS NULL THEN
        RAISE EXCEPTION 'chain_setup_subscribe: conninfo must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF node.role = 'headquarters' THEN
        b := branch_id;
        IF NOT EXISTS (SELECT FROM mekatek.chain_member m WHERE m.branch_id = b) THEN
            RAISE EXCEPTION 'chain_setup_subscribe: branch % is not a member of the chain', coalesce(b::text, 'NULL')
                USING ERRCODE = 'object_not_in_prerequisite_state',
                HINT = 'Give the branch id, after mekatek.chain_setup_member(branch_id).';
        END IF;
        sub := mekatek.chain_setup_name('branch', b);
        slot := mekatek.chain_setup_name('branch_slot', b);
        pubs := format('%I, %I', sub, mekatek.chain_setup_name('branch_transfer', b));
    ELSE
        b := node.branch_id;
        IF branch_id IS NOT NULL AND branch_id <> b THEN
            RAISE EXCEPTION 'chain_setup_subscribe: this is the server of branch %, not of branch %', b, branch_id
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        sub := 'mekatek_chain_hq_' || b;
        slot := mekatek.chain_setup_name('hq_slot', b);
        pubs := format('%I, %I', mekatek.chain_setup_name('master', NULL), mekatek.chain_setup_name('to_branch', b));
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_subscription WHERE subname = sub) THEN
        -- the connection string is kept in pg_subscription, which only
        -- superusers may read (never in a table of ours)
        EXECUTE format('CREATE SUBSCRIPTION %I CONNECTION %L PUBLICATION %s'
                       ' WITH (create_slot = false, slot_name = %L, copy_data = true)',
                       sub, conninfo, pubs, slot);
    END IF;
    RETURN sub;
END
$$;
COMMENT ON FUNCTION mekatek.chain_setup_subscribe(text, integer) IS 'chain: subscribes this server to the other side (a branch: to headquarters'' master data and its transfers; headquarters: to branch N) through the slot chain_setup_slot created there; returns the subscription''s name';

-- Re-sync, at headquarters, of a branch whose slot was lost (offline past
-- max_slot_wal_keep_size, wal_status = 'lost'): after chain_setup_slot(N)
-- at the branch made its slot anew, drop the subscription, delete the
-- branch's rows here (as the apply worker would: session_replication_role
-- = replica, so no trigger acts) and subscribe again with copy_data.
-- Every row a branch server wrote carries its node id in its key.
CREATE FUNCTION mekatek.chain_setup_resync(branch_id integer, conninfo text)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, mekatek, pg_temp
AS $$
DECLARE
    node integer;
    sub text := mekatek.chain_setup_name('branch', branch_id);
    t record;
    n bigint;
    deleted bigint := 0;
    role_was text := pg_catalog.current_setting('session_replication_role');
BEGIN
    PERFORM mekatek.chain_setup_check('chain_setup_resync');
    SELECT m.node_id INTO node FROM mekatek.chain_member m
      JOIN mekatek.chain_node h ON h.role = 'headquarters'
     WHERE m.branch_id = chain_setup_resync.branch_id;
    IF node IS NULL THEN
        RAISE EXCEPTION 'chain_setup_resync: branch % is not a member of this headquarters'' chain', coalesce(branch_id::text, 'NULL')
            USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Run it at headquarters, for a branch registered with mekatek.chain_setup_member().';
    END IF;
    IF EXISTS (SELECT FROM pg_catalog.pg_subscription s WHERE s.subname = sub) THEN
        EXECUTE format('ALTER SUBSCRIPTION %I DISABLE', sub);
        EXECUTE format('ALTER SUBSCRIPTION %I SET (slot_name = NONE)', sub);
        EXECUTE format('DROP SUBSCRIPTION %I', sub);
    END IF;
    PERFORM pg_catalog.set_config('session_replication_role', 'replica', true);
    FOR t IN
        SELECT x.tbl, x.cond FROM (VALUES
            ('chain_transfer_arrival', format('to_branch_id = %s', branch_id)),
            ('chain_transfer_lot', format('from_branch_id = %s', branch_id)),
            ('stock_transfer', format('from_branch_id = %s', branch_id))) x(tbl, cond)
        UNION ALL
        -- the others: the first column of the primary key, node-ranged
        SELECT f.t, format('%I >> 48 = %s', a.attname, node)
          FROM unnest(mekatek.chain_setup_tables('branch')) f(t)
          JOIN pg_catalog.pg_constraint c ON c.conrelid = ('mekatek.' || quote_ident(f.t))::regclass AND c.contype = 'p'
          JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
         WHERE f.t <> 'chain_transfer_arrival'
    LOOP
        EXECUTE format('DELETE FROM mekatek.%I WHERE %s', t.tbl, t.cond);
        GET DIAGNOSTICS n = ROW_COUNT;
        deleted := deleted + n;
    END LOOP;
    PERFORM pg_catalog.set_config('session_replication_role', role_was, true);
    PERFORM mekatek.chain_setup_subscribe(conninfo, branch_id);
    RETURN deleted;
END
$$;
COMMENT ON FUNCTION mekatek.chain_setup_resync(integer, text) IS 'chain: at headquarters, re-syncs a branch whose slot was lost: drops its subscription, deletes its rows here (no trigger acts) and subscribes again with copy_data (after chain_setup_slot at the branch); returns the rows deleted';

-- ---------------------------------------------------------------------
-- Health: replication per branch
-- ---------------------------------------------------------------------

CREATE VIEW mekatek.chain_status AS
SELECT 'receiving'::text AS direction,
       k.branch_id,
       s.subname::text AS name,
       st.pid IS NOT NULL AS active,
       st.received_lsn,
       st.last_msg_receipt_time AS last_received_at,
       extract(epoch FROM st.last_msg_receipt_time - st.last_msg_send_time)::float8 AS lag_seconds,
       CASE WHEN k.from_branch THEN (SELECT max(sa.sold_at) FROM mekatek.sale sa WHERE sa.branch_id = k.branch_id) END
           AS last_sale_at,
       NULL::text AS wal_status,
       NULL::bigint AS slot_bytes
  FROM pg_catalog.pg_subscription s
  CROSS JOIN LATERAL (SELECT (regexp_match(s.subname, '[0-9]+$'))[1]::integer AS branch_id,
                             s.subname LIKE 'mekatek\_chain\_branch\_%' AS from_branch) k
  LEFT JOIN pg_catalog.pg_stat_subscription st ON st.subid = s.oid AND st.relid IS NULL
 WHERE s.subdbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
   AND s.subname ~ '^mekatek_chain_(branch|hq)_[0-9]+$'
UNION ALL
SELECT 'sending',
       (regexp_match(r.slot_name, '[0-9]+$'))[1]::integer,
       r.slot_name::text,
       r.active,
       r.confirmed_flush_lsn,
       NULL::timestamptz,
       extract(epoch FROM pg_catalog.now() - rs.reply_time)::float8,
       NULL::timestamptz,
       r.wal_status,
       pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), r.restart_lsn)::bigint
  FROM pg_catalog.pg_replication_slots r
  LEFT JOIN pg_catalog.pg_stat_replication rs ON rs.pid = r.active_pid
 WHERE r.database = pg_catalog.current_database()
   AND r.slot_name ~ '^mekatek_chain_(hq_to|branch)_[0-9]+$';
COMMENT ON VIEW mekatek.chain_status IS 'chain: replication per branch: subscriptions of this server (receiving: active, received LSN, last message, network lag, at headquarters the branch''s last sale received) and its slots (sending: active, confirmed LSN, seconds since the subscriber''s last reply, wal_status, WAL kept in bytes)';

GRANT SELECT ON mekatek.chain_node, mekatek.chain_member, mekatek.chain_transfer_lot, mekatek.chain_transfer_arrival,
               mekatek.chain_transfers_pending TO mekatek_admin, mekatek_analyst;
GRANT SELECT ON mekatek.chain_status TO mekatek_admin;
GRANT EXECUTE ON FUNCTION mekatek.chain_transfer_receive(bigint, integer) TO mekatek_admin;
GRANT EXECUTE ON FUNCTION mekatek.chain_setup_tables(text), mekatek.chain_setup_name(text, integer)
    TO mekatek_admin, mekatek_analyst;
