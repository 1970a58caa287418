-- Mekatek upgrade 0.1.0 -> 0.2.0, module geo: the agent order's life
-- (issue 16).

ALTER TABLE mekatek.agent_order DROP CONSTRAINT agent_order_status_check,
    ADD CONSTRAINT agent_order_status_check CHECK (status IN ('placed', 'confirmed', 'delivered', 'cancelled'));

-- The paper's agents supervise the resellers of their region; a reseller
-- with its own login orders for itself only (geo_order_trg).
ALTER TABLE mekatek.reseller
    ADD COLUMN agent_id bigint REFERENCES mekatek.agent,
    ADD COLUMN login_role name CONSTRAINT reseller_login_role_key UNIQUE;
COMMENT ON COLUMN mekatek.reseller.agent_id IS 'The agent whose network (region) the reseller belongs to';
COMMENT ON COLUMN mekatek.reseller.login_role IS 'The reseller''s own login, which may order and cancel for this reseller only';

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

DROP FUNCTION mekatek.nearest_agents(float8, float8, integer, integer, float8);
CREATE FUNCTION mekatek.nearest_agents(lat float8, lon float8, k integer DEFAULT 5,
                                       min_stock integer DEFAULT 1, max_km float8 DEFAULT NULL)
RETURNS TABLE (agent_id bigint, name text, address text, stock integer, distance_km float8,
               agent_lat float8, agent_lon float8)
AS 'MODULE_PATHNAME', 'mk_geo_nearest_agents'
LANGUAGE C STABLE PARALLEL SAFE ROWS 5;
COMMENT ON FUNCTION mekatek.nearest_agents(float8, float8, integer, integer, float8) IS
'The k active agents nearest to (lat, lon) with stock >= min_stock (and within max_km unless NULL), by haversine_km then agent_id, with their position (agent_lat, agent_lon) for a map; exact, through the GiST index agent_geo_idx. NULL lat, lon, k or min_stock is an error';
GRANT EXECUTE ON FUNCTION mekatek.nearest_agents(float8, float8, integer, integer, float8)
TO mekatek_cashier, mekatek_analyst, mekatek_admin;
GRANT EXECUTE ON FUNCTION mekatek.agent_order_set_status(bigint, text) TO mekatek_cashier, mekatek_admin;
