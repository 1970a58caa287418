-- Mekatek install script, module geo (Haversine distance, nearest agents
-- with stock, orders from resellers to agents).

CREATE FUNCTION mekatek.haversine_km(lat1 float8, lon1 float8, lat2 float8, lon2 float8,
                                     radius_km float8 DEFAULT 6371)
RETURNS float8
AS 'MODULE_PATHNAME', 'mk_geo_haversine_km'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION mekatek.haversine_km(float8, float8, float8, float8, float8) IS
'Great-circle distance in km between two points in degrees on a sphere of radius_km (default 6371); accurate to a few ulps from millimetres to antipodes; NULL in, NULL out';

-- geo_cell: the GiST key behind nearest_agents, a box in 3-D around unit
-- vectors (a point is a box of zero size).  Chord order is great-circle
-- order, so the index needs no special case for poles or the antimeridian.
CREATE TYPE mekatek.geo_cell;
CREATE FUNCTION mekatek.geo_cell_in(cstring) RETURNS mekatek.geo_cell
AS 'MODULE_PATHNAME', 'mk_geo_cell_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION mekatek.geo_cell_out(mekatek.geo_cell) RETURNS cstring
AS 'MODULE_PATHNAME', 'mk_geo_cell_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE TYPE mekatek.geo_cell (
    INTERNALLENGTH = 48, ALIGNMENT = double,
    INPUT = mekatek.geo_cell_in, OUTPUT = mekatek.geo_cell_out);
COMMENT ON TYPE mekatek.geo_cell IS 'Box in 3-D space around unit vectors of the sphere; the GiST key of mekatek.agent_geo_idx';
COMMENT ON FUNCTION mekatek.geo_cell_in(cstring) IS 'Text input of geo_cell: "(x,y,z)" or "(x1,y1,z1),(x2,y2,z2)"';
COMMENT ON FUNCTION mekatek.geo_cell_out(mekatek.geo_cell) IS 'Text output of geo_cell';

CREATE FUNCTION mekatek.geo_cell(lat float8, lon float8) RETURNS mekatek.geo_cell
AS 'MODULE_PATHNAME', 'mk_geo_cell_make' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION mekatek.geo_cell(float8, float8) IS 'The unit vector of a point given in degrees, as a geo_cell';

CREATE FUNCTION mekatek.geo_cell_distance(mekatek.geo_cell, mekatek.geo_cell) RETURNS float8
AS 'MODULE_PATHNAME', 'mk_geo_cell_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION mekatek.geo_cell_distance(mekatek.geo_cell, mekatek.geo_cell) IS
'Great-circle km (radius 6371) between two points; between boxes, a lower bound for any sphere points they hold';
CREATE FUNCTION mekatek.geo_cell_overlaps(mekatek.geo_cell, mekatek.geo_cell) RETURNS boolean
AS 'MODULE_PATHNAME', 'mk_geo_cell_overlaps' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION mekatek.geo_cell_overlaps(mekatek.geo_cell, mekatek.geo_cell) IS 'True when two geo_cell boxes intersect';

CREATE OPERATOR mekatek.<-> (LEFTARG = mekatek.geo_cell, RIGHTARG = mekatek.geo_cell,
    FUNCTION = mekatek.geo_cell_distance, COMMUTATOR = OPERATOR(mekatek.<->));
CREATE OPERATOR mekatek.&& (LEFTARG = mekatek.geo_cell, RIGHTARG = mekatek.geo_cell,
    FUNCTION = mekatek.geo_cell_overlaps, COMMUTATOR = OPERATOR(mekatek.&&),
    RESTRICT = areasel, JOIN = areajoinsel);

CREATE FUNCTION mekatek.geo_gist_consistent(internal, mekatek.geo_cell, smallint, oid, internal) RETURNS boolean
AS 'MODULE_PATHNAME', 'mk_geo_gist_consistent' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION mekatek.geo_gist_union(internal, internal) RETURNS mekatek.geo_cell
AS 'MODULE_PATHNAME', 'mk_geo_gist_union' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION mekatek.geo_gist_penalty(internal, internal, internal) RETURNS internal
AS 'MODULE_PATHNAME', 'mk_geo_gist_penalty' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION mekatek.geo_gist_picksplit(internal, internal) RETURNS internal
AS 'MODULE_PATHNAME', 'mk_geo_gist_picksplit' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION mekatek.geo_gist_same(mekatek.geo_cell, mekatek.geo_cell, internal) RETURNS internal
AS 'MODULE_PATHNAME', 'mk_geo_gist_same' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION mekatek.geo_gist_distance(internal, mekatek.geo_cell, smallint, oid, internal) RETURNS float8
AS 'MODULE_PATHNAME', 'mk_geo_gist_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION mekatek.geo_gist_consistent(internal, mekatek.geo_cell, smallint, oid, internal) IS 'GiST support for geo_cell: consistent';
COMMENT ON FUNCTION mekatek.geo_gist_union(internal, internal) IS 'GiST support for geo_cell: union';
COMMENT ON FUNCTION mekatek.geo_gist_penalty(internal, internal, internal) IS 'GiST support for geo_cell: penalty (growth of the box edges)';
COMMENT ON FUNCTION mekatek.geo_gist_picksplit(internal, internal) IS 'GiST support for geo_cell: median split on the widest axis';
COMMENT ON FUNCTION mekatek.geo_gist_same(mekatek.geo_cell, mekatek.geo_cell, internal) IS 'GiST support for geo_cell: same';
COMMENT ON FUNCTION mekatek.geo_gist_distance(internal, mekatek.geo_cell, smallint, oid, internal) IS 'GiST support for geo_cell: distance lower bound for ordered scans';

CREATE OPERATOR CLASS mekatek.geo_cell_ops DEFAULT FOR TYPE mekatek.geo_cell USING gist AS
    OPERATOR 3 mekatek.&& (mekatek.geo_cell, mekatek.geo_cell),
    OPERATOR 15 mekatek.<-> (mekatek.geo_cell, mekatek.geo_cell) FOR ORDER BY pg_catalog.float_ops,
    FUNCTION 1 mekatek.geo_gist_consistent(internal, mekatek.geo_cell, smallint, oid, internal),
    FUNCTION 2 mekatek.geo_gist_union(internal, internal),
    FUNCTION 5 mekatek.geo_gist_penalty(internal, internal, internal),
    FUNCTION 6 mekatek.geo_gist_picksplit(internal, internal),
    FUNCTION 7 mekatek.geo_gist_same(mekatek.geo_cell, mekatek.geo_cell, internal),
    FUNCTION 8 mekatek.geo_gist_distance(internal, mekatek.geo_cell, smallint, oid, internal);

-- The reseller network of the paper.
CREATE TABLE mekatek.agent (
    agent_id bigserial PRIMARY KEY,
    name     text NOT NULL CHECK (name <> ''),
    address  text NOT NULL DEFAULT '',
    lat      float8 NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lon      float8 NOT NULL CHECK (lon BETWEEN -180 AND 180),
    stock    integer NOT NULL DEFAULT 0 CHECK (stock >= 0),
    active   boolean NOT NULL DEFAULT true
);
COMMENT ON TABLE mekatek.agent IS 'Agents that sell to resellers: position in degrees (WGS 84 latitude, longitude) and units in stock';
-- Only agents that can sell are indexed: out-of-stock agents cost the
-- search nothing.  mekatek.nearest_agents walks this index by name.
CREATE INDEX agent_geo_idx ON mekatek.agent USING gist (mekatek.geo_cell(lat, lon))
    WHERE active AND stock >= 1;

CREATE TABLE mekatek.reseller (
    reseller_id bigserial PRIMARY KEY,
    name        text NOT NULL CHECK (name <> ''),
    lat         float8 NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lon         float8 NOT NULL CHECK (lon BETWEEN -180 AND 180)
);
COMMENT ON TABLE mekatek.reseller IS 'Resellers who order from agents; position in degrees';
-- The paper's agents supervise the resellers of their region; a reseller
-- with its own login orders for itself only (geo_order_trg).
ALTER TABLE mekatek.reseller
    ADD COLUMN agent_id bigint REFERENCES mekatek.agent,
    ADD COLUMN login_role name CONSTRAINT reseller_login_role_key UNIQUE;
COMMENT ON COLUMN mekatek.reseller.agent_id IS 'The agent whose network (region) the reseller belongs to';
COMMENT ON COLUMN mekatek.reseller.login_role IS 'The reseller''s own login, which may order and cancel for this reseller only';

CREATE TABLE mekatek.agent_order (
    order_id    bigserial PRIMARY KEY,
    reseller_id bigint NOT NULL REFERENCES mekatek.reseller,
    agent_id    bigint NOT NULL REFERENCES mekatek.agent,
    qty         integer NOT NULL CHECK (qty > 0),
    status      text NOT NULL DEFAULT 'placed' CHECK (status IN ('placed', 'confirmed', 'delivered', 'cancelled')),
    ordered_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE mekatek.agent_order IS 'Orders of resellers to agents; placing one takes the units from the agent''s stock (mekatek.agent_place_order)';
CREATE INDEX agent_order_agent_idx ON mekatek.agent_order (agent_id);
CREATE INDEX agent_order_reseller_idx ON mekatek.agent_order (reseller_id);

CREATE FUNCTION mekatek.nearest_agents(lat float8, lon float8, k integer DEFAULT 5,
                                       min_stock integer DEFAULT 1, max_km float8 DEFAULT NULL)
RETURNS TABLE (agent_id bigint, name text, address text, stock integer, distance_km float8,
               agent_lat float8, agent_lon float8)
AS 'MODULE_PATHNAME', 'mk_geo_nearest_agents'
LANGUAGE C STABLE PARALLEL SAFE ROWS 5;
COMMENT ON FUNCTION mekatek.nearest_agents(float8, float8, integer, integer, float8) IS
'The k active agents nearest to (lat, lon) with stock >= min_stock (and within max_km unless NULL), by haversine_km then agent_id, with their position (agent_lat, agent_lon) for a map; exact, through the GiST index agent_geo_idx. NULL lat, lon, k or min_stock is an error';

-- Placing an order takes the units in the same statement that checks them:
-- the UPDATE's WHERE stock >= qty is re-evaluated on the newest row version
-- after a concurrent order commits, so two orders can never both take the
-- last units (the same guarantee as pos).
CREATE FUNCTION mekatek.agent_place_order(reseller_id bigint, agent_id bigint, qty integer)
RETURNS mekatek.agent_order
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, mekatek, pg_temp
AS $$
DECLARE
    left_stock integer;
    a mekatek.agent;
    o mekatek.agent_order;
BEGIN
    IF reseller_id IS NULL OR agent_id IS NULL OR qty IS NULL THEN
        RAISE EXCEPTION 'argument "%" must not be null',
            CASE WHEN reseller_id IS NULL THEN 'reseller_id' WHEN agent_id IS NULL THEN 'agent_id' ELSE 'qty' END
            USING ERRCODE = '22004';
    END IF;
    IF qty <= 0 THEN
        RAISE EXCEPTION 'argument "qty" must be positive, not %', qty USING ERRCODE = '22023';
    END IF;
    IF NOT EXISTS (SELECT FROM mekatek.reseller r WHERE r.reseller_id = agent_place_order.reseller_id) THEN
        RAISE EXCEPTION 'reseller % does not exist', reseller_id USING ERRCODE = '23503';
    END IF;

    UPDATE mekatek.agent g SET stock = g.stock - qty
     WHERE g.agent_id = agent_place_order.agent_id AND g.active AND g.stock >= qty
    RETURNING g.stock INTO left_stock;
    IF NOT FOUND THEN
        SELECT * INTO a FROM mekatek.agent g WHERE g.agent_id = agent_place_order.agent_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'agent % does not exist', agent_id USING ERRCODE = '23503';
        ELSIF NOT a.active THEN
            RAISE EXCEPTION 'agent % is not active', agent_id USING ERRCODE = '55000',
                HINT = 'Pick another agent with mekatek.nearest_agents.';
        ELSE
            RAISE EXCEPTION 'agent % has % in stock, the order asks for %', agent_id, a.stock, qty
                USING ERRCODE = '23514', HINT = 'Order fewer units or pick another agent with mekatek.nearest_agents.';
        END IF;
    END IF;

    INSERT INTO mekatek.agent_order (reseller_id, agent_id, qty)
    VALUES (agent_place_order.reseller_id, agent_place_order.agent_id, qty)
    RETURNING * INTO o;
    RETURN o;
END
$$;
COMMENT ON FUNCTION mekatek.agent_place_order(bigint, bigint, integer) IS
'Place an order of qty units from an agent: takes them from its stock atomically, refuses (23514) when the stock is short';

-- The order's life (src/geo/orders.c): placed -> confirmed -> delivered,
-- or cancelled before delivery, which gives the units back to the agent.
CREATE FUNCTION mekatek.geo_order_trg() RETURNS trigger
AS 'MODULE_PATHNAME', 'geo_order_trg' LANGUAGE C
SET search_path = pg_catalog, mekatek, pg_temp;
COMMENT ON FUNCTION mekatek.geo_order_trg() IS 'geo: BEFORE INSERT or UPDATE on agent_order: a reseller''s login orders for itself; allowed status changes; a cancellation returns the units to the agent';
CREATE TRIGGER geo_order_life BEFORE INSERT OR UPDATE ON mekatek.agent_order
    FOR EACH ROW EXECUTE FUNCTION mekatek.geo_order_trg();

CREATE FUNCTION mekatek.agent_order_set_status(order_id bigint, status text)
RETURNS mekatek.agent_order
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, mekatek, pg_temp
AS $$
DECLARE
    o mekatek.agent_order;
BEGIN
    IF order_id IS NULL OR status IS NULL THEN
        RAISE EXCEPTION 'argument "%" must not be null', CASE WHEN order_id IS NULL THEN 'order_id' ELSE 'status' END
            USING ERRCODE = '22004';
    END IF;
    UPDATE mekatek.agent_order g SET status = agent_order_set_status.status
     WHERE g.order_id = agent_order_set_status.order_id
    RETURNING * INTO o;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'agent order % does not exist', order_id USING ERRCODE = '23503';
    END IF;
    RETURN o;
END
$$;
COMMENT ON FUNCTION mekatek.agent_order_set_status(bigint, text) IS
'Move an agent order on: confirmed or delivered (admin), cancelled (admin or the reseller''s own login; the units go back to the agent atomically); other changes are refused (23514)';

-- The tables hold user data: pg_dump must dump their rows (and the
-- sequences' positions) although the tables belong to the extension.
SELECT pg_catalog.pg_extension_config_dump('mekatek.agent', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.reseller', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.agent_order', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.agent_agent_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.reseller_reseller_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.agent_order_order_id_seq', '');

-- Privileges.  Resellers' apps connect as members of mekatek_cashier.
-- Index maintenance evaluates mekatek.geo_cell as the role that writes the
-- agent row, so whoever may write agents may execute it.
GRANT SELECT ON mekatek.agent, mekatek.reseller TO mekatek_cashier, mekatek_analyst;
GRANT SELECT ON mekatek.agent_order TO mekatek_analyst;
GRANT SELECT, INSERT, UPDATE, DELETE ON mekatek.agent, mekatek.reseller, mekatek.agent_order TO mekatek_admin;
GRANT USAGE ON SEQUENCE mekatek.agent_agent_id_seq, mekatek.reseller_reseller_id_seq,
    mekatek.agent_order_order_id_seq TO mekatek_admin;
GRANT EXECUTE ON FUNCTION
    mekatek.haversine_km(float8, float8, float8, float8, float8),
    mekatek.geo_cell(float8, float8),
    mekatek.geo_cell_distance(mekatek.geo_cell, mekatek.geo_cell),
    mekatek.geo_cell_overlaps(mekatek.geo_cell, mekatek.geo_cell),
    mekatek.nearest_agents(float8, float8, integer, integer, float8)
TO mekatek_cashier, mekatek_analyst, mekatek_admin;
GRANT EXECUTE ON FUNCTION mekatek.agent_place_order(bigint, bigint, integer),
    mekatek.agent_order_set_status(bigint, text) TO mekatek_cashier, mekatek_admin;
