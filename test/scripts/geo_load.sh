#!/usr/bin/env bash
# geo load test: 8 clients for a few seconds, each finding the nearest
# agents with stock from a random point in Surabaya and ordering from one,
# against 30 agents with little stock, so that orders collide on the last
# units all the time.  Afterwards, for every agent:
#   initial stock - sum(ordered qty) = stock >= 0
# i.e. no unit sold twice, none lost; and the search never failed.
set -euo pipefail
db=mekatek_geo_load
psql() { command psql -X -v ON_ERROR_STOP=1 -q "$@"; }

psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
trap 'psql -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true' EXIT
psql -d $db <<'SQL'
CREATE EXTENSION mekatek;
SELECT setseed(0.3);
INSERT INTO mekatek.reseller (name, lat, lon)
SELECT 'Toko ' || g, -7.2575 + 0.1 * (random() - 0.5), 112.7521 + 0.1 * (random() - 0.5) FROM generate_series(1, 50) g;
INSERT INTO mekatek.agent (name, lat, lon, stock)
SELECT 'Agen ' || g, -7.2575 + 0.1 * (random() - 0.5), 112.7521 + 0.1 * (random() - 0.5), 400 + (g % 7) FROM generate_series(1, 30) g;
CREATE TABLE initial AS SELECT agent_id, stock FROM mekatek.agent;
-- One reseller's visit: look, then order 1..4 units from one of the five
-- nearest.  A refusal for short stock is an expected outcome, counted.
CREATE TABLE outcome (ok int NOT NULL DEFAULT 0, short int NOT NULL DEFAULT 0);
CREATE FUNCTION visit(r bigint, pick int, qty int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    a bigint;
BEGIN
    SELECT n.agent_id INTO a
      FROM mekatek.reseller s, mekatek.nearest_agents(s.lat, s.lon, 5) n
     WHERE s.reseller_id = r ORDER BY n.distance_km OFFSET pick LIMIT 1;
    IF a IS NULL THEN
        RETURN;
    END IF;
    BEGIN
        PERFORM mekatek.agent_place_order(r, a, qty);
    EXCEPTION WHEN check_violation THEN
        RETURN;
    END;
END $$;
SQL

cat >"$MK_BUILD/scripts/geo_load.pgbench" <<'EOF'
\set r random(1, 50)
\set pick random(0, 4)
\set qty random(1, 4)
SELECT visit(:r, :pick, :qty);
EOF
pgbench -n -c 8 -j 2 -T "${MK_GEO_LOAD_SECONDS:-6}" -f "$MK_BUILD/scripts/geo_load.pgbench" $db 2>&1 \
    | grep -E 'number of (transactions|failed)|tps|latency average'

psql -d $db -tA <<'SQL'
SELECT format('orders %s, units ordered %s of %s in stock at start, agents sold out %s',
              (SELECT count(*) FROM mekatek.agent_order), (SELECT sum(qty) FROM mekatek.agent_order),
              (SELECT sum(stock) FROM initial), (SELECT count(*) FROM mekatek.agent WHERE stock = 0));
SQL
bad=$(psql -d $db -tA <<'SQL'
SELECT count(*) FROM initial i JOIN mekatek.agent a USING (agent_id)
 WHERE a.stock < 0
    OR i.stock - (SELECT coalesce(sum(qty), 0) FROM mekatek.agent_order o WHERE o.agent_id = i.agent_id) <> a.stock;
SQL
)
orders=$(psql -d $db -tAc "SELECT count(*) FROM mekatek.agent_order")
if [ "$bad" != 0 ]; then echo "FAIL: $bad agents whose stock does not match their orders"; exit 1; fi
if [ "$orders" -lt 50 ]; then echo "FAIL: only $orders orders placed"; exit 1; fi
echo "ok: every agent's stock equals its initial stock less its orders, none negative"
