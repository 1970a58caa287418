-- geo: nearest_agents is exact (the same rows as ranking every eligible
-- agent by haversine_km) and reads the index, not the table.
BEGIN;
SELECT plan(14);

DELETE FROM mekatek.agent_order;
DELETE FROM mekatek.agent;

SELECT setseed(0.5);
-- 3,000 agents: clusters around cities, Fiji on the antimeridian, the two
-- poles, a town where every agent is sold out, agents sharing a position
-- (ties broken by agent_id), and scattered ones; ~30% out of stock and 5%
-- inactive, as in the benchmark.
CREATE TEMP TABLE site (name text, lat float8, lon float8, spread float8, n int, sold_out bool);
INSERT INTO site VALUES
    ('Surabaya',   -7.2575, 112.7521, 0.15, 600, false),
    ('Yogyakarta', -7.7956, 110.3695, 0.10, 400, false),
    ('Fiji',      -17.7134, 179.9000, 0.60, 400, false),
    ('North',      89.7000,   0.0000, 0.30, 200, false),
    ('South',     -89.6000,  45.0000, 0.40, 200, false),
    ('Sold-out',   -8.6500, 115.2167, 0.05, 200, true),
    ('World',       0.0000,   0.0000, NULL, 900, false);
INSERT INTO mekatek.agent (name, address, lat, lon, stock, active)
SELECT site.name || ' ' || g, 'address ' || g,
       CASE WHEN spread IS NULL THEN degrees(asin(2 * random() - 1))
            ELSE greatest(-90, least(90, site.lat + spread * (2 * random() - 1))) END,
       CASE WHEN spread IS NULL THEN 360 * random() - 180
            ELSE mod((site.lon + spread * 4 * (2 * random() - 1) + 540)::numeric, 360)::float8 - 180 END,
       CASE WHEN sold_out OR random() < 0.3 THEN 0 ELSE 1 + floor(random() * 20)::int END,
       random() > 0.05
  FROM site, generate_series(1, site.n) g;
-- Ties: 20 agents at one spot in Surabaya, with stock.
INSERT INTO mekatek.agent (name, lat, lon, stock)
SELECT 'Pasar Turi ' || g, -7.2460, 112.7340, 5 FROM generate_series(1, 20) g;
-- The pole itself, at several longitudes.
INSERT INTO mekatek.agent (name, lat, lon, stock)
SELECT 'Pole ' || g, 90, g * 60 - 180, 3 FROM generate_series(1, 6) g;
ANALYZE mekatek.agent;

-- 200 queries: near the antimeridian, near both poles, in the sold-out
-- town, on the tie spot, near cities and anywhere; k from 1 to 10,000
-- (more than eligible), min_stock 1 to 18, max_km sometimes.
CREATE TEMP TABLE query AS
WITH q AS (
    SELECT i, random() AS a, random() AS b, random() AS c FROM generate_series(1, 200) i
)
SELECT i,
       CASE WHEN i <= 40 THEN -17.7 + 6 * (a - 0.5)
            WHEN i <= 60 THEN 89 + b
            WHEN i <= 80 THEN -89 - b
            WHEN i <= 100 THEN -8.65 + 0.02 * (a - 0.5)
            WHEN i <= 110 THEN -7.2460
            WHEN i <= 140 THEN -7.5 + (a - 0.5)
            ELSE degrees(asin(2 * a - 1)) END AS lat,
       CASE WHEN i <= 40 THEN CASE WHEN b < 0.5 THEN 180 - c ELSE -180 + c END
            WHEN i <= 80 THEN 360 * a - 180
            WHEN i <= 100 THEN 115.2167 + 0.02 * (b - 0.5)
            WHEN i <= 110 THEN 112.7340
            WHEN i <= 140 THEN 111.5 + 2 * (b - 0.5)
            ELSE 360 * b - 180 END AS lon,
       CASE WHEN i % 20 = 0 THEN 10000 WHEN i % 7 = 0 THEN 25 WHEN i % 3 = 0 THEN 1 ELSE 5 END AS k,
       CASE WHEN i % 20 = 0 THEN 18 WHEN i % 5 = 0 THEN 10 ELSE 1 END AS min_stock,
       CASE WHEN i % 11 = 0 THEN 50 + 2000 * c END AS max_km
  FROM q;

CREATE TEMP TABLE answer AS
SELECT q.i,
       (SELECT coalesce(array_agg(n.agent_id ORDER BY n.distance_km, n.agent_id), '{}')
          FROM mekatek.nearest_agents(q.lat, q.lon, q.k, q.min_stock, q.max_km) n) AS got_ids,
       (SELECT coalesce(array_agg(n.distance_km ORDER BY n.distance_km, n.agent_id), '{}')
          FROM mekatek.nearest_agents(q.lat, q.lon, q.k, q.min_stock, q.max_km) n) AS got_km,
       (SELECT array_agg(n.agent_id) FROM mekatek.nearest_agents(q.lat, q.lon, q.k, q.min_stock, q.max_km) n)
         AS got_order,
       (SELECT coalesce(array_agg(agent_id ORDER BY d, agent_id), '{}') FROM (
            SELECT agent_id, d FROM (
                SELECT a.agent_id, mekatek.haversine_km(q.lat, q.lon, a.lat, a.lon) AS d
                  FROM mekatek.agent a WHERE a.active AND a.stock >= q.min_stock) s
             WHERE q.max_km IS NULL OR d <= q.max_km
             ORDER BY d, agent_id LIMIT q.k) b) AS want_ids,
       (SELECT coalesce(array_agg(d ORDER BY d, agent_id), '{}') FROM (
            SELECT agent_id, d FROM (
                SELECT a.agent_id, mekatek.haversine_km(q.lat, q.lon, a.lat, a.lon) AS d
                  FROM mekatek.agent a WHERE a.active AND a.stock >= q.min_stock) s
             WHERE q.max_km IS NULL OR d <= q.max_km
             ORDER BY d, agent_id LIMIT q.k) b) AS want_km
  FROM query q;

SELECT is((SELECT count(*) FROM answer), 200::bigint, '200 queries');
SELECT is_empty($$ SELECT i, got_ids, want_ids FROM answer WHERE got_ids IS DISTINCT FROM want_ids $$,
    'nearest_agents returns the brute-force ranking (agents, order, ties by agent_id) for all 200 queries');
SELECT is_empty($$ SELECT i FROM answer WHERE got_km IS DISTINCT FROM want_km $$,
    'and the distances are haversine_km''s, bit for bit');
SELECT is_empty($$ SELECT i FROM answer WHERE coalesce(got_order, '{}') IS DISTINCT FROM got_ids $$,
    'rows come out nearest first without an ORDER BY');

-- The cases the brute force must have covered.
SELECT ok((SELECT count(*) FROM answer a JOIN query q USING (i)
            WHERE q.i <= 40 AND EXISTS (SELECT FROM mekatek.agent g WHERE g.agent_id = ANY (a.want_ids) AND sign(g.lon) <> sign(q.lon))) >= 10,
          'antimeridian: answers take agents from the other side of longitude 180');
SELECT ok((SELECT count(*) FROM answer a JOIN query q USING (i)
            WHERE q.i BETWEEN 41 AND 60 AND 'Pole 1' IN (SELECT name FROM mekatek.agent WHERE agent_id = ANY (a.want_ids))) >= 5,
          'north pole: answers include the agents at the pole');
SELECT ok((SELECT bool_and(cardinality(a.want_ids) < q.k) FROM answer a JOIN query q USING (i) WHERE q.k = 10000)
          AND (SELECT count(*) FROM query WHERE k = 10000) = 10,
          'k larger than the eligible agents: 10 queries, each answered with every eligible agent');
SELECT ok((SELECT bool_and(NOT EXISTS (SELECT FROM mekatek.agent g WHERE g.agent_id = ANY (a.want_ids) AND g.name LIKE 'Sold-out%')
                           AND cardinality(a.want_ids) > 0)
             FROM answer a WHERE a.i BETWEEN 81 AND 100),
          'sold-out town: every nearby agent is out of stock, answers come from farther away');
SELECT ok((SELECT bool_and(a.want_ids[1:q.k] <@ (SELECT array_agg(agent_id) FROM mekatek.agent WHERE name LIKE 'Pasar Turi%'))
             FROM answer a JOIN query q USING (i) WHERE q.i BETWEEN 101 AND 110 AND q.k <= 20 AND q.min_stock = 1),
          'ties: 20 agents at one spot, the answer takes the lowest agent_ids');

-- Not a scan of all agents: a top-5 query reads a handful of index entries
-- and touches no table page sequentially.
CREATE TEMP TABLE before AS
SELECT pg_stat_get_xact_tuples_returned('mekatek.agent_geo_idx'::regclass) AS idx_read,
       pg_stat_get_xact_numscans('mekatek.agent'::regclass) AS seq_scans;
SELECT is((SELECT count(*) FROM mekatek.nearest_agents(-7.7956, 110.3695)), 5::bigint, 'a top-5 query from Yogyakarta');
SELECT cmp_ok((SELECT pg_stat_get_xact_tuples_returned('mekatek.agent_geo_idx'::regclass) - idx_read FROM before),
              '<', 20::bigint, 'it reads fewer than 20 of the ~2,000 index entries');
SELECT is((SELECT pg_stat_get_xact_numscans('mekatek.agent'::regclass) - seq_scans FROM before), 0::bigint,
          'and no sequential scan of mekatek.agent');

-- Privileges and a missing index.
SET LOCAL ROLE mekatek_device;
SELECT throws_ok('SELECT * FROM mekatek.nearest_agents(0, 0)', '42501', NULL,
                 'devices may not search agents');
RESET ROLE;
DROP INDEX mekatek.agent_geo_idx;
SELECT throws_ok('SELECT * FROM mekatek.nearest_agents(0, 0)', '55000',
                 'index mekatek.agent_geo_idx is missing', 'without its index nearest_agents refuses instead of scanning');
SELECT * FROM finish();
ROLLBACK;
