-- geo: resellers in Surabaya find the nearest agents with stock and order.
\echo
\echo '== geo: nearest agents with stock (Surabaya) =='
\echo 'The paper''s worked example, Cebongan Kidul (Sleman) to BPBD Yogyakarta: the paper says 9.74 km, an arithmetic slip:'
SELECT round(mekatek.haversine_km(-7.696338, 110.394686, -7.8010158, 110.3918219)::numeric, 2) AS km;

INSERT INTO mekatek.agent (name, address, lat, lon, stock) VALUES
    ('Agen Legen Keputih',   'Jl. Keputih Tegal, Sukolilo',      -7.2935, 112.8010, 40),
    ('Agen Legen Mulyorejo', 'Jl. Mulyorejo Utara, Mulyorejo',   -7.2660, 112.7860, 12),
    ('Agen Legen Kenjeran',  'Jl. Kenjeran 300, Tambaksari',     -7.2450, 112.7780,  0),
    ('Agen Legen Gubeng',    'Jl. Gubeng Kertajaya, Gubeng',     -7.2800, 112.7580,  6),
    ('Agen Legen Rungkut',   'Jl. Rungkut Madya, Rungkut',       -7.3250, 112.7750, 25),
    ('Agen Legen Wonokromo', 'Jl. Wonokromo 12, Wonokromo',      -7.3010, 112.7380,  3),
    ('Agen Legen Tegalsari', 'Jl. Kedungdoro, Tegalsari',        -7.2640, 112.7360, 18),
    ('Agen Legen Sidoarjo',  'Jl. Pahlawan, Sidoarjo',           -7.4470, 112.7180, 60);
INSERT INTO mekatek.reseller (name, lat, lon) VALUES
    ('Toko Bu Sri, Keputih',      -7.2880, 112.7950),
    ('Warung Pak Budi, Gubeng',   -7.2750, 112.7500);

\echo 'Toko Bu Sri (Keputih) opens the app: the five nearest agents that have stock (Kenjeran is sold out):'
SELECT n.name, n.address, n.stock, round(n.distance_km::numeric, 2) AS km
  FROM mekatek.reseller r, mekatek.nearest_agents(r.lat, r.lon) n
 WHERE r.name LIKE 'Toko Bu Sri%';

\echo 'She orders 10 units from the nearest; the agent''s stock goes down in the same statement:'
SELECT o.order_id, o.agent_id, o.qty, o.status
  FROM mekatek.reseller r,
       LATERAL (SELECT agent_id FROM mekatek.nearest_agents(r.lat, r.lon, 1)) n,
       LATERAL mekatek.agent_place_order(r.reseller_id, n.agent_id, 10) o
 WHERE r.name LIKE 'Toko Bu Sri%';
SELECT a.name AS agent, a.stock AS stock_left
  FROM mekatek.agent_order o JOIN mekatek.agent a USING (agent_id)
 ORDER BY o.order_id DESC LIMIT 1;

\echo 'Pak Budi (Gubeng) wants 8 units within 3 km; an agent with 6 is refused rather than oversold:'
SELECT n.name, n.stock, round(n.distance_km::numeric, 2) AS km
  FROM mekatek.reseller r, mekatek.nearest_agents(r.lat, r.lon, 5, min_stock => 8, max_km => 3) n
 WHERE r.name LIKE 'Warung Pak Budi%';
DO $$
BEGIN
    PERFORM mekatek.agent_place_order(
        (SELECT reseller_id FROM mekatek.reseller WHERE name LIKE 'Warung Pak Budi%'),
        (SELECT agent_id FROM mekatek.agent WHERE name = 'Agen Legen Gubeng'), 8);
EXCEPTION WHEN check_violation THEN
    RAISE NOTICE 'refused (SQLSTATE %): %', SQLSTATE, SQLERRM;
END $$;
