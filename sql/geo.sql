-- geo: Haversine distance, nearest agents with stock, orders.
SET search_path = mekatek, public;
SET extra_float_digits = 0;

-- The paper's worked example: a user in Cebongan Kidul, Tlogoadi, Mlati,
-- Sleman to BPBD on Jl. Ipda Tut Harsono No. 8, Yogyakarta, R = 6371 km.
-- The paper prints 9.74 km; that is an arithmetic slip.  Its own
-- intermediate values (dlat = -0.00183 rad, a = 0.00000083722,
-- c = 0.00000000034792) give 2 * 6371 * asin(sqrt(a + c)) = 11.66 km (a
-- was rounded, and pi taken as 3.14); no step leads to 9.74, and a
-- "-0.00329" in one line is a typo.  The right great-circle distance is
-- 11.64 km (11.6439 km; PostGIS on the same sphere agrees to 1e-11).
SELECT round(haversine_km(-7.696338, 110.394686, -7.8010158, 110.3918219)::numeric, 4) AS cebongan_to_bpbd_km;

-- The other radius, and the argument order does not matter.
SELECT round(haversine_km(-7.696338, 110.394686, -7.8010158, 110.3918219, 6371.0087714)::numeric, 4) AS on_postgis_sphere,
       haversine_km(-7.696338, 110.394686, -7.8010158, 110.3918219)
     = haversine_km(-7.8010158, 110.3918219, -7.696338, 110.394686) AS symmetric;

-- Extremes: the same point, a pole at two longitudes, exact antipodes,
-- both sides of the antimeridian, a millimetre.
SELECT haversine_km(-7.25, 112.75, -7.25, 112.75) AS same_point,
       haversine_km(90, 0, 90, 123) AS north_pole_twice,
       haversine_km(0, 0, 0, 180) = 6371 * pi() AS antipodes_half_circumference,
       haversine_km(90, 10, -90, -170) = 6371 * pi() AS pole_to_pole,
       round(haversine_km(0, 179.9999, 0, -179.9999)::numeric, 9) AS across_antimeridian,
       haversine_km(0, 180, 0, -180) AS lon_180_is_lon_minus_180,
       round((haversine_km(10, 20, 10 + 1e-6 / 111.19492664455873, 20) * 1e9)::numeric, 3) AS one_millimetre_in_micrometres;

-- STRICT: a NULL argument gives NULL.
SELECT haversine_km(NULL, 0, 0, 0) IS NULL AS null_gives_null;

-- Bad input: the error names the argument and the value.
\set VERBOSITY default
SELECT haversine_km(91, 0, 0, 0);
SELECT haversine_km(0, 0, -90.5, 0);
SELECT haversine_km(0, -180.000001, 0, 0);
SELECT haversine_km(0, 0, 0, 'NaN');
SELECT haversine_km('Infinity', 0, 0, 0);
SELECT haversine_km(0, 0, 0, 0, 0);
SELECT haversine_km(0, 0, 0, 0, '-Infinity');

-- geo_cell: unit vectors, the index key.
SELECT geo_cell(0, 0) AS equator_greenwich, geo_cell(90, 45) AS north_pole,
       geo_cell(0, 0) OPERATOR(mekatek.<->) geo_cell(0, 90) = 6371 * pi() / 2 AS quarter_circle;
SELECT '(1,0,0)'::geo_cell, '(0,0,1),(1, 1, 0)'::geo_cell;
SELECT '(1,0)'::geo_cell;
SELECT '(1,0,NaN)'::geo_cell;
SELECT '(1,0,0) x'::geo_cell;
SELECT geo_cell(0, 200);

-- Agents around Yogyakarta and Surabaya.
INSERT INTO agent (name, address, lat, lon, stock, active) VALUES
    ('Agen Mlati',      'Tlogoadi, Mlati, Sleman',          -7.7000, 110.3900, 12, true),
    ('Agen Umbulharjo', 'Muja Muju, Umbulharjo, Yogyakarta', -7.8010, 110.3918,  0, true),
    ('Agen Depok',      'Caturtunggal, Depok, Sleman',      -7.7700, 110.3900,  3, true),
    ('Agen Gamping',    'Ambarketawang, Gamping, Sleman',   -7.7900, 110.3200, 40, false),
    ('Agen Bantul',     'Bantul',                           -7.8880, 110.3290, 25, true),
    ('Agen Kenjeran',   'Kenjeran, Surabaya',               -7.2400, 112.7900, 50, true),
    ('Agen Sukolilo',   'Keputih, Sukolilo, Surabaya',      -7.2900, 112.8000,  8, true),
    ('Agen Rungkut',    'Rungkut, Surabaya',                -7.3300, 112.7800,  1, true);
INSERT INTO reseller (name, lat, lon) VALUES
    ('Toko Cebongan', -7.696338, 110.394686),
    ('Toko Keputih',  -7.2880, 112.7950);

-- The five nearest with stock from Cebongan Kidul: Umbulharjo (no stock)
-- and Gamping (inactive) are left out.
SELECT agent_id, name, stock, round(distance_km::numeric, 3) AS km
  FROM nearest_agents(-7.696338, 110.394686);
-- k, min_stock and max_km.
SELECT agent_id, name, stock, round(distance_km::numeric, 3) AS km
  FROM nearest_agents(-7.696338, 110.394686, k => 2, min_stock => 10);
SELECT agent_id, name, round(distance_km::numeric, 3) AS km
  FROM nearest_agents(-7.696338, 110.394686, 5, 1, max_km => 10);
-- k larger than the eligible agents: all of them, nearest first.
SELECT count(*) FROM nearest_agents(-7.696338, 110.394686, 100);
-- Nothing within reach: an empty answer, not an error.
SELECT count(*) FROM nearest_agents(-7.696338, 110.394686, 5, 1000);
SELECT count(*) FROM nearest_agents(0, 0, 5, 1, 0);
-- Distances are haversine_km's, to the last bit.
SELECT bool_and(n.distance_km = haversine_km(-7.2880, 112.7950, a.lat, a.lon)) AS same_as_haversine
  FROM nearest_agents(-7.2880, 112.7950, 10) n JOIN agent a USING (agent_id);

-- NULL behaviour: a NULL position, k or min_stock is a client bug and an
-- error (22004); max_km NULL means no limit.
SELECT nearest_agents(NULL, 110.39);
SELECT nearest_agents(-7.7, NULL);
SELECT nearest_agents(-7.7, 110.39, NULL);
SELECT nearest_agents(-7.7, 110.39, 5, NULL);
SELECT count(*) FROM nearest_agents(-7.7, 110.39, 5, 1, NULL);
-- Bad values.
SELECT nearest_agents(-7.7, 110.39, 0);
SELECT nearest_agents(-7.7, 110.39, -3);
SELECT nearest_agents(-7.7, 110.39, 10001);
SELECT nearest_agents(-7.7, 110.39, 5, 0);
SELECT nearest_agents(-7.7, 110.39, 5, 1, -1);
SELECT nearest_agents(-7.7, 110.39, 5, 1, 'NaN');
SELECT nearest_agents(-97.7, 110.39);
SELECT nearest_agents(-7.7, 'Infinity');

-- The search reads the index, not the table: the plan of the brute-force
-- equivalent would be a sequential scan; nearest_agents walks
-- agent_geo_idx and reads a handful of entries.
SELECT pg_stat_get_xact_numscans('mekatek.agent_geo_idx'::regclass) > 0 AS index_used;

-- Orders: stock goes down, shortage and bad input are refused.
SELECT order_id, reseller_id, agent_id, qty, status
  FROM agent_place_order(2, 7, 5);
SELECT stock FROM agent WHERE agent_id = 7;
SELECT agent_place_order(2, 7, 4);
SELECT agent_place_order(2, 2, 1);
SELECT agent_place_order(2, 4, 1);
SELECT agent_place_order(2, 999, 1);
SELECT agent_place_order(999, 7, 1);
SELECT agent_place_order(2, 7, 0);
SELECT agent_place_order(2, 7, NULL);
-- The last units: the agent drops out of the search.
SELECT order_id, qty FROM agent_place_order(2, 7, 3);
SELECT agent_id FROM nearest_agents(-7.2880, 112.7950, 3);
SELECT agent_id, qty, status FROM agent_order ORDER BY order_id;

-- The agent table refuses bad positions and negative stock.
INSERT INTO agent (name, lat, lon, stock) VALUES ('bad', 95, 0, 1);
INSERT INTO agent (name, lat, lon, stock) VALUES ('bad', 0, 'NaN', 1);
UPDATE agent SET stock = -1 WHERE agent_id = 1;

-- An order's life: placed -> confirmed -> delivered, or cancelled before
-- delivery; cancelling gives the units back to the agent at once.
\set SHOW_CONTEXT never
SELECT order_id AS order_a FROM agent_place_order(1, 5, 2) \gset
SELECT stock FROM agent WHERE agent_id = 5;
SELECT order_id, status FROM agent_order_set_status(:order_a, 'cancelled');
SELECT stock FROM agent WHERE agent_id = 5;
SELECT status FROM agent_order_set_status(:order_a, 'cancelled');
SELECT status FROM agent_order_set_status(:order_a, 'placed');
SELECT order_id, status FROM agent_order_set_status(1, 'confirmed');
SELECT order_id, status FROM agent_order_set_status(1, 'delivered');
SELECT agent_order_set_status(1, 'cancelled');
SELECT agent_order_set_status(1, 'lost');
SELECT agent_order_set_status(999, 'confirmed');
UPDATE agent_order SET qty = 1 WHERE order_id = 1;
UPDATE agent_order SET status = 'delivered' WHERE order_id = 1;
-- A reseller in an agent's network with its own login orders for itself
-- only, and may cancel its own order but not confirm it.
CREATE ROLE regress_geo_toko LOGIN IN ROLE mekatek_cashier;
UPDATE reseller SET agent_id = 5, login_role = 'regress_geo_toko' WHERE reseller_id = 2;
SET ROLE regress_geo_toko;
SELECT order_id AS order_b FROM agent_place_order(2, 5, 1) \gset
SELECT agent_place_order(1, 5, 1);
SELECT agent_order_set_status(:order_b, 'confirmed');
SELECT status FROM agent_order_set_status(:order_b, 'cancelled');
RESET ROLE;
SELECT stock FROM agent WHERE agent_id = 5;
UPDATE reseller SET agent_id = NULL, login_role = NULL WHERE reseller_id = 2;
DROP ROLE regress_geo_toko;
\set SHOW_CONTEXT errors
-- nearest_agents gives each agent's position for a map.
SELECT agent_id, agent_lat, agent_lon FROM nearest_agents(-7.2880, 112.7950, 2);
