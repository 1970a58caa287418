-- geo: haversine_km against PostGIS, the reference for distances.
--
-- PostGIS's ST_Distance(geography, geography, false) measures on a sphere of
-- radius 6371008.7714 m; scaled to 6371 km it must agree with haversine_km
-- to 1e-9 relative over 1,000 random pairs: uniform on the sphere, tiny,
-- near-antipodal, near the poles and across the antimeridian.
--
-- "Tiny" here is 10 m to 10 km.  Below about 10 m PostGIS itself is not good
-- to 1e-9: its formula takes cos(lat1) sin(lat2) - sin(lat1) cos(lat2) cos(dlon),
-- a difference of nearly equal products, and at 1 mm it is off by up to 1e-5
-- relative (checked with 50-digit mpmath, which agrees with haversine_km to
-- 3e-16).  Pairs from 1 mm to 10 m are therefore checked against the same
-- Vincenty formula written without that cancellation.
BEGIN;
CREATE EXTENSION IF NOT EXISTS postgis;
SELECT plan(12);

SELECT setseed(0.20240604);
CREATE TEMP TABLE pair AS
WITH base AS (
    SELECT i, degrees(asin(2 * random() - 1)) AS lat1, 360 * random() - 180 AS lon1,
           2 * pi() * random() AS az, random() AS r, random() AS u, random() AS w
      FROM generate_series(1, 1000) i
), raw AS (
    SELECT CASE WHEN i <= 400 THEN 'uniform' WHEN i <= 600 THEN 'tiny'
                WHEN i <= 800 THEN 'antipodal' WHEN i <= 900 THEN 'polar'
                ELSE 'antimeridian' END AS kind, *
      FROM base
), moved AS (
    SELECT i, kind,
           CASE kind WHEN 'polar' THEN sign(lat1) * (89 + u) WHEN 'antimeridian' THEN lat1 / 2 ELSE lat1 END AS lat1,
           CASE kind WHEN 'antimeridian' THEN 180 - u * 0.5 ELSE lon1 END AS lon1,
           az, r, w
      FROM raw
), second AS (
    -- step: the offset from the first point (or from its antipode) in degrees
    SELECT i, kind, lat1, lon1,
           CASE kind WHEN 'uniform' THEN NULL
                     WHEN 'tiny' THEN 10 * 10 ^ (3 * r) / 111194.9266  -- 10 m .. 10 km
                     WHEN 'antipodal' THEN 10 ^ (-7 * r)               -- 0.01 m .. 111 km short
                     WHEN 'polar' THEN 2 * r
                     ELSE 0.5 + r END AS step,
           az, w
      FROM moved
)
SELECT i, kind, lat1, lon1,
       CASE WHEN kind = 'uniform' THEN degrees(asin(2 * w - 1))
            WHEN kind = 'antipodal' THEN greatest(-90, least(90, -lat1 + step * cos(az)))
            ELSE greatest(-90, least(90, lat1 + step * cos(az))) END AS lat2,
       CASE WHEN kind = 'uniform' THEN 360 * w - 180
            WHEN kind = 'antipodal' THEN mod((lon1 + 180 + step * sin(az) + 540)::numeric, 360)::float8 - 180
            ELSE mod((lon1 + step * sin(az) + 540)::numeric, 360)::float8 - 180 END AS lon2
  FROM second;

CREATE TEMP TABLE measured AS
SELECT *, mekatek.haversine_km(lat1, lon1, lat2, lon2) AS mk,
       ST_Distance(ST_SetSRID(ST_MakePoint(lon1, lat1), 4326)::geography,
                   ST_SetSRID(ST_MakePoint(lon2, lat2), 4326)::geography, false)
         / 6371008.7714 * 6371 AS pg
  FROM pair;

SELECT is((SELECT count(*) FROM measured WHERE lat2 BETWEEN -90 AND 90 AND lon2 BETWEEN -180 AND 180
                                          AND mk IS NOT NULL AND pg IS NOT NULL),
          1000::bigint, '1,000 valid pairs, each measured by both');
SELECT is_empty($$
    SELECT kind, lat1, lon1, lat2, lon2, mk, pg FROM measured
     WHERE NOT abs(mk - pg) <= 1e-9 * pg $$,
    'haversine_km is within 1e-9 relative of PostGIS ST_Distance(geography, geography, false) on every pair');
SELECT ok((SELECT bool_and(n >= 100) FROM (SELECT count(*) n FROM measured GROUP BY kind) c)
          AND (SELECT min(pg) FROM measured WHERE kind = 'tiny') < 0.02
          AND (SELECT max(pg) FROM measured WHERE kind = 'antipodal') > 6371 * pi() - 0.001,
          'the pairs include tiny (< 20 m) and near-antipodal (within 1 m) ones');

-- 1 mm to 10 m, against Vincenty without cancellation; differences are
-- taken in degrees, as haversine_km does, so that the reference does not
-- lose the digits it is checking.
CREATE TEMP TABLE micro AS
WITH b AS (
    SELECT degrees(asin(1.98 * random() - 0.99)) AS lat1, 358 * random() - 179 AS lon1,
           2 * pi() * random() AS az, 10 ^ (4 * random() - 6) AS km
      FROM generate_series(1, 300)
), p AS (
    SELECT lat1, lon1, lat1 + km / 111.1949266 * cos(az) AS lat2,
           lon1 + km / 111.1949266 * sin(az) / cos(radians(lat1)) AS lon2
      FROM b
), v AS (
    SELECT *, radians(lat1) AS p1, radians(lat2) AS p2, radians(lat2 - lat1) AS dp,
           radians(lon2 - lon1) AS dl
      FROM p
)
SELECT lat1, lon1, lat2, lon2, mekatek.haversine_km(lat1, lon1, lat2, lon2) AS mk,
       6371 * atan2(sqrt((cos(p2) * sin(dl)) ^ 2
                         + (sin(dp) + 2 * sin(p1) * cos(p2) * sin(dl / 2) ^ 2) ^ 2),
                    sin(p1) * sin(p2) + cos(p1) * cos(p2) * cos(dl)) AS ref
  FROM v;
SELECT is_empty($$ SELECT * FROM micro WHERE NOT abs(mk - ref) <= 1e-12 * ref $$,
    'from 1 mm to 10 m haversine_km agrees with cancellation-free Vincenty to 1e-12 relative');

-- Exact values.
SELECT is(mekatek.haversine_km(0, 0, 0, 180), 6371 * pi(), 'exact antipodes are half a circumference');
SELECT is(mekatek.haversine_km(-90, 0, 90, 0, 1), pi(), 'pole to pole on the unit sphere is pi');
SELECT is(mekatek.haversine_km(-90, 17, -90, -163), 0::float8, 'a pole is one point whatever its longitude');

-- Bad input and its SQLSTATE.
SELECT throws_ok('SELECT mekatek.haversine_km(90.0000001, 0, 0, 0)', '22003',
                 'lat1 90.0000001 is out of range [-90, 90]', 'latitude out of range: 22003 naming the value');
SELECT throws_ok('SELECT mekatek.haversine_km(0, 0, 0, 180.5)', '22003',
                 'lon2 180.5 is out of range [-180, 180]', 'longitude out of range: 22003 naming the value');
SELECT throws_ok($$SELECT mekatek.haversine_km(0, 'NaN', 0, 0)$$, '22003',
                 'lon1 NaN is out of range [-180, 180]', 'NaN: 22003');
SELECT throws_ok('SELECT mekatek.haversine_km(0, 0, 0, 0, -1)', '22023',
                 'radius_km -1 must be positive and finite', 'a negative radius: 22023');
SELECT is(mekatek.haversine_km(0, NULL, 0, 0), NULL, 'STRICT: NULL in, NULL out');

SELECT * FROM finish();
ROLLBACK;
