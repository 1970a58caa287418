-- firewall: properties checked against plain SQL on random policies.
--  1. fw_anomalies agrees with a SQL classification built on the cidr
--     (<<, >>) and range (<@, @>, &&) operators, redundancy's "no rule in
--     between" included.
--  2. fw_rule_usage agrees with a SQL first match (LATERAL ... LIMIT 1).
--  3. fw_suggest_order never changes a packet's decision.
BEGIN;
SELECT plan(4);

CREATE FUNCTION pg_temp.rel_t(a text, b text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN a IS NOT DISTINCT FROM b THEN 'eq' WHEN a IS NULL THEN 'sup'
                WHEN b IS NULL THEN 'sub' ELSE 'dis' END $$;
CREATE FUNCTION pg_temp.rel_c(a cidr, b cidr) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN a IS NULL AND b IS NULL THEN 'eq' WHEN a IS NULL THEN 'sup' WHEN b IS NULL THEN 'sub'
                WHEN a = b THEN 'eq' WHEN a << b THEN 'sub' WHEN a >> b THEN 'sup' ELSE 'dis' END $$;
CREATE FUNCTION pg_temp.rel_r(a int4range, b int4range) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN NOT (x && y) THEN 'dis' WHEN x = y THEN 'eq' WHEN x <@ y THEN 'sub'
                WHEN x @> y THEN 'sup' ELSE 'ovl' END
      FROM (SELECT coalesce(a, '[0,65535]'), coalesce(b, '[0,65535]')) r(x, y) $$;
CREATE FUNCTION pg_temp.rel(a mekatek.fw_rule, b mekatek.fw_rule) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN 'dis' = ANY (f) THEN 'dis' WHEN 'ovl' = ANY (f) THEN 'ovl'
                WHEN f <@ ARRAY['eq'] THEN 'eq' WHEN NOT 'sup' = ANY (f) THEN 'sub'
                WHEN NOT 'sub' = ANY (f) THEN 'sup' ELSE 'ovl' END
      FROM (SELECT ARRAY[pg_temp.rel_t(a.direction, b.direction), pg_temp.rel_t(a.proto, b.proto),
                         pg_temp.rel_c(a.src, b.src), pg_temp.rel_c(a.dst, b.dst),
                         pg_temp.rel_r(a.sport, b.sport), pg_temp.rel_r(a.dport, b.dport)] AS f) x $$;
CREATE FUNCTION pg_temp.blocks(action text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT action <> 'accept' $$;

SELECT setseed(0.17);
CREATE TEMP TABLE pick (k text, v text[]);
INSERT INTO mekatek.fw_rule (policy, position, direction, proto, src, sport, dst, dport, action)
SELECT 'prop', g,
       (ARRAY['INPUT', 'OUTPUT', NULL])[1 + floor(random() * 3)::int],
       (ARRAY['tcp', 'udp', NULL])[1 + floor(random() * 3)::int],
       (ARRAY['10.0.0.0/8', '10.1.0.0/16', '10.1.2.0/24', '10.1.2.3/32', '10.2.0.0/16', NULL, NULL])[1 + floor(random() * 7)::int]::cidr,
       (ARRAY['[1024,65535]', NULL, NULL])[1 + floor(random() * 3)::int]::int4range,
       (ARRAY['192.168.0.0/16', '192.168.1.0/24', '192.168.1.1/32', NULL, NULL])[1 + floor(random() * 5)::int]::cidr,
       (ARRAY['[80,80]', '[1,1024]', '[443,443]', '[0,100]', '[50,500]', NULL])[1 + floor(random() * 6)::int]::int4range,
       (ARRAY['accept', 'drop', 'reject'])[1 + floor(random() * 3)::int]
  FROM generate_series(1, 60) g;

-- 1. anomalies
CREATE TEMP TABLE expect AS
SELECT a.position AS rule_a, b.position AS rule_b,
       CASE WHEN pg_temp.blocks(a.action) <> pg_temp.blocks(b.action) THEN
                CASE pg_temp.rel(a, b) WHEN 'eq' THEN 'shadowing' WHEN 'sup' THEN 'shadowing'
                                       WHEN 'sub' THEN 'generalization' ELSE 'correlation' END
            WHEN pg_temp.rel(a, b) IN ('eq', 'sup') THEN 'redundancy'
            WHEN pg_temp.rel(a, b) = 'sub' AND NOT EXISTS (
                     SELECT FROM mekatek.fw_rule c
                      WHERE c.policy = 'prop' AND c.position > a.position AND c.position < b.position
                        AND pg_temp.blocks(c.action) <> pg_temp.blocks(a.action)
                        AND pg_temp.rel(a, c) <> 'dis') THEN 'redundancy'
       END AS anomaly
  FROM mekatek.fw_rule a JOIN mekatek.fw_rule b ON b.policy = a.policy AND b.position > a.position
 WHERE a.policy = 'prop' AND pg_temp.rel(a, b) <> 'dis';
DELETE FROM expect WHERE anomaly IS NULL;
SELECT ok((SELECT count(*) FROM expect) > 100, 'the random policy has many anomalous pairs');
SELECT set_eq('SELECT * FROM mekatek.fw_anomalies(''prop'')', 'SELECT * FROM expect',
              'fw_anomalies agrees with the SQL classification on 60 random rules');

-- 2. usage against a SQL first match, on random packets
DELETE FROM mekatek.fw_log;
INSERT INTO mekatek.fw_log (direction, proto, src, spt, dst, dpt, logged_at)
SELECT (ARRAY['INPUT', 'OUTPUT'])[1 + floor(random() * 2)::int],
       (ARRAY['TCP', 'UDP', 'ICMP'])[1 + floor(random() * 3)::int],
       (ARRAY['10.1.2.3', '10.1.2.9', '10.1.5.5', '10.2.3.4', '11.0.0.1'])[1 + floor(random() * 5)::int]::inet,
       (ARRAY[53, 1500, 40000])[1 + floor(random() * 3)::int],
       (ARRAY['192.168.1.1', '192.168.1.7', '192.168.9.9', '172.16.0.1'])[1 + floor(random() * 4)::int]::inet,
       (ARRAY[22, 53, 80, 443, 600, 8080])[1 + floor(random() * 6)::int],
       timestamptz '2024-01-01' + g * interval '1 minute'
  FROM generate_series(1, 3000) g;
UPDATE mekatek.fw_log SET spt = NULL, dpt = NULL WHERE proto = 'ICMP';
CREATE FUNCTION pg_temp.first_match(pol text) RETURNS TABLE (id bigint, "position" int, action text) LANGUAGE sql AS $$
    SELECT p.id, r.position, r.action
      FROM mekatek.fw_log p
      LEFT JOIN LATERAL (
          SELECT r.position, r.action FROM mekatek.fw_rule r
           WHERE r.policy = pol
             AND (r.direction IS NULL OR r.direction = p.direction)
             AND (r.proto IS NULL OR r.proto = lower(p.proto))
             AND (r.src IS NULL OR p.src <<= r.src) AND (r.dst IS NULL OR p.dst <<= r.dst)
             AND (r.sport IS NULL OR r.sport @> p.spt) AND (r.dport IS NULL OR r.dport @> p.dpt)
           ORDER BY r.position LIMIT 1) r ON true $$;
SELECT set_eq('SELECT position, hits FROM mekatek.fw_rule_usage(''prop'', NULL, NULL) WHERE hits > 0',
              'SELECT position, count(*) FROM pg_temp.first_match(''prop'') GROUP BY 1',
              'fw_rule_usage agrees with a SQL first match on 3,000 random packets');

-- 3. the suggested order decides every packet as the policy does
INSERT INTO mekatek.fw_rule (policy, position, direction, proto, src, sport, dst, dport, action)
SELECT 'prop_reordered', s.new_position, r.direction, r.proto, r.src, r.sport, r.dst, r.dport, r.action
  FROM mekatek.fw_suggest_order('prop') s JOIN mekatek.fw_rule r ON r.policy = 'prop' AND r.position = s.position;
SELECT is_empty($$
    SELECT a.id FROM pg_temp.first_match('prop') a JOIN pg_temp.first_match('prop_reordered') b USING (id)
     WHERE pg_temp.blocks(a.action) IS DISTINCT FROM pg_temp.blocks(b.action) $$,
    'the suggested order decides each of 3,000 random packets as the original order');

SELECT * FROM finish();
ROLLBACK;
