#!/usr/bin/env bash
# Benchmark of issue 4: top-5 nearest agents with stock, and the per-row
# cost of the distance function, Mekatek and its peers side by side in one
# run on one private cluster.
#
#   bash test/bench/geo/run.sh            # 1,000,000 agents
#   MK_BENCH_AGENTS=100000 MK_BENCH_TX=500 bash test/bench/geo/run.sh   # quicker
#
# Data: agents clustered around 20 Indonesian cities (Gaussian, sigma about
# 9 km), ~30% out of stock, loaded once into database mekatek_bench_geo and
# reused while the count matches.  Queries: random points near the cities.
#
# Latency: pgbench, one client, prepared statements, each method on the
# same query points; p50 and p95 from pgbench's per-transaction log (so
# they include the client round trip over the Unix socket, the same for
# every method).
#   mekatek      mekatek.nearest_agents(lat, lon, 5)
#   postgis      ORDER BY geog <-> point LIMIT 5, GiST on geog WHERE stock >= 1
#   earthdist    ORDER BY ll_to_earth(lat, lon) <-> ll_to_earth(..) LIMIT 5,
#                GiST on ll_to_earth(lat, lon) WHERE stock >= 1
#   fullscan     ORDER BY the haversine written in SQL LIMIT 5 (every row)
# Per-row cost: sum() over all rows of haversine_km, of PostGIS
# ST_Distance(geography, geography, false) and of a trivial expression, in a
# single backend without parallel workers; the trivial scan is subtracted.
#
# The machine is shared: figures are noisy, compare ratios within one run.
source "$(dirname "$0")/../../harness/common.sh"

agents=${MK_BENCH_AGENTS:-1000000}
tx=${MK_BENCH_TX:-3000}
tx_full=${MK_BENCH_TX_FULL:-20}
port=${MK_BENCH_PORT:-$(mk_port bench_geo)}
db=mekatek_bench_geo

bindir=$(bash "$MK_ROOT/test/harness/stage.sh" | tail -n 1)
# stage.sh opens build/ to every reader; the server insists on a private
# data directory, which this benchmark keeps between runs.
if [ -d "$MK_BUILD/bench-geo/data" ]; then chmod 700 "$MK_BUILD/bench-geo/data"; fi
bash "$MK_ROOT/test/harness/cluster.sh" start bench-geo "$port" "$bindir" >/dev/null
export PGHOST=$MK_BUILD/bench-geo/run PGPORT=$port PGUSER=postgres
psql() { "$bindir/psql" -X -v ON_ERROR_STOP=1 "$@"; }
out=$MK_BUILD/bench-geo/out
rm -rf "$out"; mkdir -p "$out"; chmod a+rwx "$out"

have=$(psql -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'")
if [ "$have" = 1 ]; then
    count=$(psql -d $db -tAc "SELECT count(*) FROM mekatek.agent" 2>/dev/null || echo 0)
    # The library is reinstalled by stage.sh; the install script may have changed.
    psql -d $db -qc "ALTER EXTENSION mekatek UPDATE" >/dev/null 2>&1 || true
else
    count=0
fi
if [ "$count" != "$agents" ]; then
    mk_log "loading $agents agents (once)"
    psql -d postgres -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
    psql -d $db -q <<SQL
CREATE EXTENSION mekatek;
CREATE EXTENSION postgis;
CREATE EXTENSION cube;
CREATE EXTENSION earthdistance;
CREATE SCHEMA bench;
CREATE TABLE bench.city (city_id int PRIMARY KEY, name text, lat float8, lon float8, weight float8);
INSERT INTO bench.city VALUES
 (1,'Jakarta',-6.2088,106.8456,20),(2,'Surabaya',-7.2575,112.7521,10),(3,'Bandung',-6.9175,107.6191,8),
 (4,'Medan',3.5952,98.6722,8),(5,'Semarang',-6.9667,110.4167,6),(6,'Makassar',-5.1477,119.4327,5),
 (7,'Palembang',-2.9761,104.7754,5),(8,'Yogyakarta',-7.7956,110.3695,4),(9,'Denpasar',-8.6500,115.2167,4),
 (10,'Malang',-7.9666,112.6326,4),(11,'Pekanbaru',0.5071,101.4478,3),(12,'Balikpapan',-1.2379,116.8529,3),
 (13,'Pontianak',-0.0263,109.3425,3),(14,'Manado',1.4748,124.8421,3),(15,'Banjarmasin',-3.3186,114.5944,3),
 (16,'Padang',-0.9471,100.4172,3),(17,'Jayapura',-2.5337,140.7181,2),(18,'Kupang',-10.1772,123.6070,2),
 (19,'Ambon',-3.6954,128.1814,2),(20,'Mataram',-8.5833,116.1167,2);
SELECT setseed(0.4);
-- Pick a city by weight, then a Gaussian offset (Box-Muller), sigma 0.08 deg.
CREATE TABLE bench.src AS
WITH c AS (SELECT city_id, name, lat, lon,
                  sum(weight) OVER (ORDER BY city_id) / sum(weight) OVER () AS hi,
                  (sum(weight) OVER (ORDER BY city_id) - weight) / sum(weight) OVER () AS lo
             FROM bench.city),
     r AS (SELECT g, random() AS pick, random() AS u1, random() AS u2, random() AS s FROM generate_series(1, $agents) g)
SELECT g AS agent_id, 'Agen ' || g AS name, 'Jl. Raya ' || (g % 977) || ', ' || c.name AS address,
       greatest(-90, least(90, c.lat + 0.08 * sqrt(-2 * ln(1 - r.u1)) * cos(2 * pi() * r.u2))) AS lat,
       c.lon + 0.08 * sqrt(-2 * ln(1 - r.u1)) * sin(2 * pi() * r.u2) AS lon,
       CASE WHEN r.s < 0.3 THEN 0 ELSE 1 + (g % 50) END AS stock
  FROM r JOIN c ON r.pick >= c.lo AND r.pick < c.hi;
-- Load first, index after, as one would for a bulk load.
DROP INDEX mekatek.agent_geo_idx;
INSERT INTO mekatek.agent (agent_id, name, address, lat, lon, stock)
SELECT agent_id, name, address, lat, lon, stock FROM bench.src;
\\timing on
CREATE INDEX agent_geo_idx ON mekatek.agent USING gist (mekatek.geo_cell(lat, lon)) WHERE active AND stock >= 1;
CREATE TABLE bench.peer AS
SELECT agent_id, name, address, lat, lon, stock,
       ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geography AS geog
  FROM bench.src;
ALTER TABLE bench.peer ADD PRIMARY KEY (agent_id);
CREATE INDEX peer_geog_idx ON bench.peer USING gist (geog) WHERE stock >= 1;
CREATE INDEX peer_earth_idx ON bench.peer USING gist (ll_to_earth(lat, lon)) WHERE stock >= 1;
\\timing off
DROP TABLE bench.src;
-- Query points: near a random city (sigma 0.1 deg), the same for every method.
CREATE TABLE bench.qpt AS
SELECT g AS qid, c.lat + 0.1 * (random() + random() + random() - 1.5) * 2 AS lat,
       c.lon + 0.1 * (random() + random() + random() - 1.5) * 2 AS lon
  FROM generate_series(1, 10000) g
  JOIN bench.city c ON c.city_id = 1 + (g * 7919) % 20;
ALTER TABLE bench.qpt ADD PRIMARY KEY (qid);
ALTER TABLE bench.qpt ADD COLUMN geog geography;
UPDATE bench.qpt SET geog = ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geography;
VACUUM ANALYZE;
SQL
fi

psql -d $db -tA <<'SQL'
SELECT format('agents %s, with stock %s (%s%% out of stock); index sizes: mekatek %s, postgis %s, earthdistance %s',
       count(*), count(*) FILTER (WHERE stock >= 1), round(100.0 * count(*) FILTER (WHERE stock = 0) / count(*), 1),
       pg_size_pretty(pg_relation_size('mekatek.agent_geo_idx')),
       pg_size_pretty(pg_relation_size('bench.peer_geog_idx')),
       pg_size_pretty(pg_relation_size('bench.peer_earth_idx')))
  FROM mekatek.agent;
SQL

# The same answer from every exact method (PostGIS measures on the WGS 84
# spheroid by default and may order near-ties differently, so it is shown,
# not compared).
psql -d $db -tA <<'SQL'
SELECT 'check: mekatek = fullscan on 50 query points: ' || bool_and(m = f)
  FROM (SELECT (SELECT array_agg(agent_id) FROM mekatek.nearest_agents(q.lat, q.lon, 5)) AS m,
               (SELECT array_agg(agent_id) FROM (SELECT agent_id FROM mekatek.agent WHERE active AND stock >= 1
                                                  ORDER BY mekatek.haversine_km(q.lat, q.lon, lat, lon), agent_id LIMIT 5) s) AS f
          FROM bench.qpt q WHERE qid <= 50) t;
SQL

cat >"$out/mekatek.sql" <<'SQL'
\set q random(1, 10000)
SELECT n.* FROM bench.qpt q, LATERAL mekatek.nearest_agents(q.lat, q.lon, 5) n WHERE q.qid = :q;
SQL
cat >"$out/postgis.sql" <<'SQL'
\set q random(1, 10000)
SELECT a.* FROM bench.qpt q, LATERAL (
    SELECT p.agent_id, p.name, p.address, p.stock, ST_Distance(p.geog, q.geog, false) / 1000 AS distance_km
      FROM bench.peer p WHERE p.stock >= 1 ORDER BY p.geog <-> q.geog LIMIT 5) a
 WHERE q.qid = :q;
SQL
cat >"$out/earthdist.sql" <<'SQL'
\set q random(1, 10000)
SELECT a.* FROM bench.qpt q, LATERAL (
    SELECT p.agent_id, p.name, p.address, p.stock, earth_distance(ll_to_earth(p.lat, p.lon), ll_to_earth(q.lat, q.lon)) / 1000 AS distance_km
      FROM bench.peer p WHERE p.stock >= 1 ORDER BY ll_to_earth(p.lat, p.lon) <-> ll_to_earth(q.lat, q.lon) LIMIT 5) a
 WHERE q.qid = :q;
SQL
cat >"$out/fullscan.sql" <<'SQL'
\set q random(1, 10000)
SELECT a.* FROM bench.qpt q, LATERAL (
    SELECT p.agent_id, p.name, p.address, p.stock,
           2 * 6371 * asin(sqrt(sin(radians(p.lat - q.lat) / 2) ^ 2
                                + cos(radians(q.lat)) * cos(radians(p.lat)) * sin(radians(p.lon - q.lon) / 2) ^ 2)) AS distance_km
      FROM bench.peer p WHERE p.stock >= 1 ORDER BY distance_km LIMIT 5) a
 WHERE q.qid = :q;
SQL

# The plans, so that a reader sees each peer in its best (indexed) form.
for m in postgis earthdist; do
    psql -d $db -tA -c "PREPARE p(int) AS $(sed -n 2,99p "$out/$m.sql" | sed 's/:q/$1/')" \
         -c "EXPLAIN (COSTS OFF) EXECUTE p(1)" | grep -E 'Index Scan|Seq Scan' | sed "s/^ */plan $m: /"
done

declare -A p50 p95
for m in mekatek postgis earthdist fullscan; do
    n=$tx; [ $m = fullscan ] && n=$tx_full
    # warm the caches, then measure
    (cd "$out" && "$bindir/pgbench" -n -M prepared -c 1 -t $((n / 10 + 1)) -f "$m.sql" $db >/dev/null 2>&1)
    rm -f "$out"/pgbench_log.*
    (cd "$out" && "$bindir/pgbench" -n -M prepared -c 1 -t "$n" -l -f "$m.sql" $db >"$out/$m.txt" 2>&1) \
        || { cat "$out/$m.txt"; mk_die "pgbench $m failed"; }
    read -r p50[$m] p95[$m] < <(awk '{print $3}' "$out"/pgbench_log.* | sort -n |
        awk '{a[NR]=$1} END {i50=int(NR*0.50); if(i50<1)i50=1; i95=int(NR*0.95); if(i95<1)i95=1; printf "%.3f %.3f\n", a[i50]/1000, a[i95]/1000}')
    printf '%-10s %6d queries  p50 %9.3f ms  p95 %9.3f ms\n' "$m" "$n" "${p50[$m]}" "${p95[$m]}"
    mv "$out"/pgbench_log.* "$out/$m.log"
done
fast=$(awk -v a="${p50[postgis]}" -v b="${p50[earthdist]}" 'BEGIN {print (a < b) ? a : b}')
awk -v m="${p50[mekatek]}" -v f="$fast" -v e="${p50[earthdist]}" -v g="${p50[postgis]}" -v s="${p50[fullscan]}" 'BEGIN {
    printf "ratio p50 mekatek / faster peer = %.2fx (goal <= 1.0x); / earthdistance %.2fx; / postgis %.2fx; / fullscan %.4fx\n", m / f, m / e, m / g, m / s }'

# Index entries read per top-5 query (pg_stat counters of one transaction,
# 200 query points): the evidence that no method but the full scan reads
# every agent.
psql -d $db -tAq <<'SQL'
BEGIN;
CREATE TEMP TABLE r0 AS SELECT pg_stat_get_xact_tuples_returned('mekatek.agent_geo_idx'::regclass) AS m,
       pg_stat_get_xact_tuples_returned('bench.peer_geog_idx'::regclass) AS g,
       pg_stat_get_xact_tuples_returned('bench.peer_earth_idx'::regclass) AS e;
\o /dev/null
SELECT count(*) FROM bench.qpt q, LATERAL mekatek.nearest_agents(q.lat, q.lon, 5) n WHERE q.qid <= 200;
SELECT count(*) FROM bench.qpt q, LATERAL (SELECT agent_id FROM bench.peer p WHERE p.stock >= 1
        ORDER BY p.geog <-> q.geog LIMIT 5) a WHERE q.qid <= 200;
SELECT count(*) FROM bench.qpt q, LATERAL (SELECT agent_id FROM bench.peer p WHERE p.stock >= 1
        ORDER BY ll_to_earth(p.lat, p.lon) <-> ll_to_earth(q.lat, q.lon) LIMIT 5) a WHERE q.qid <= 200;
\o
SELECT format('index entries read per top-5 query (200 queries): mekatek %s, postgis %s, earthdistance %s',
       round((pg_stat_get_xact_tuples_returned('mekatek.agent_geo_idx'::regclass) - m) / 200.0, 1),
       round((pg_stat_get_xact_tuples_returned('bench.peer_geog_idx'::regclass) - g) / 200.0, 1),
       round((pg_stat_get_xact_tuples_returned('bench.peer_earth_idx'::regclass) - e) / 200.0, 1))
  FROM r0;
COMMIT;
SQL

# Per-row cost over every agent: median of 5 runs, no parallel workers.
psql -d $db -tAq <<'SQL'
SET max_parallel_workers_per_gather = 0;
SET jit = off;
CREATE TEMP TABLE t (what text, ms float8);
DO $$
DECLARE
    q text;
    t0 timestamptz;
    x float8;
BEGIN
    FOR i IN 1..5 LOOP
        FOREACH q IN ARRAY ARRAY[
            'baseline|SELECT sum(lat + lon) FROM bench.peer p',
            'haversine_km|SELECT sum(mekatek.haversine_km(lat, lon, -7.2575, 112.7521)) FROM bench.peer p',
            'ST_Distance|SELECT sum(ST_Distance(geog, ''SRID=4326;POINT(112.7521 -7.2575)''::geography, false)) FROM bench.peer p'] LOOP
            t0 := clock_timestamp();
            EXECUTE split_part(q, '|', 2) INTO x;
            INSERT INTO t VALUES (split_part(q, '|', 1), 1000 * extract(epoch FROM clock_timestamp() - t0));
        END LOOP;
    END LOOP;
END $$;
WITH m AS (SELECT what, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS ms FROM t GROUP BY what),
     n AS (SELECT count(*)::float8 AS rows FROM bench.peer),
     c AS (SELECT m.what, m.ms, (m.ms - b.ms) * 1e6 / n.rows AS ns
             FROM m, n, (SELECT ms FROM m WHERE what = 'baseline') b)
SELECT format('per row (%s rows, median of 5): %s', (SELECT rows FROM n),
              string_agg(format('%s %s ms total, %s ns/row net', what, round(ms::numeric, 1), round(ns::numeric, 1)), '; ' ORDER BY what))
  FROM c
UNION ALL
SELECT format('ratio haversine_km / ST_Distance per row = %sx (goal <= 0.5x)',
              round(((SELECT ns FROM c WHERE what = 'haversine_km') / (SELECT ns FROM c WHERE what = 'ST_Distance'))::numeric, 3));
SQL

bash "$MK_ROOT/test/harness/cluster.sh" stop bench-geo "$bindir"
