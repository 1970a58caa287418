-- Firewall benchmark setup: synthetic LOG lines, the regexp peer's tables,
-- a 200-rule policy and 1,000 random rules.
CREATE EXTENSION mekatek CASCADE;
CREATE SCHEMA bench;

INSERT INTO mekatek.fw_prefix_action VALUES ('IPTABLES_INPUT:', 'drop'), ('DROP', 'drop'), ('ACCEPT', 'accept');

CREATE FUNCTION bench.t0() RETURNS timestamptz LANGUAGE sql IMMUTABLE
AS $$ SELECT timestamptz '2024-03-01 00:00:00+00' $$;

-- 60% TCP, 35% UDP, 5% ICMP; 10% OUTPUT; ISO-8601 headers 0.3 s apart.
CREATE FUNCTION bench.synthetic_lines(n int) RETURNS TABLE (line text) LANGUAGE sql AS $$
SELECT format('%s fw kernel: %s', to_char((bench.t0() + i * interval '0.3 s') AT TIME ZONE 'UTC',
                                          'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'), body)
  FROM generate_series(1, n) i,
       LATERAL (SELECT (ARRAY['IPTABLES_INPUT: ', 'DROP ', 'ACCEPT '])[1 + i % 3] AS prefix,
                       CASE WHEN i % 10 = 9 THEN 'IN= OUT=eth0' ELSE 'IN=eth0 OUT=' END AS io,
                       format('SRC=10.%s.%s.%s DST=202.110.90.%s', i % 64, (i / 64) % 256, i % 251, i % 200) AS addrs,
                       CASE WHEN i % 4 = 0 THEN (ARRAY[22, 53, 80, 443, 123])[1 + i % 5]
                            ELSE 1000 + (i * 7) % 1000 END AS dpt,
                       1024 + (i * 13) % 60000 AS spt) v,
       LATERAL (SELECT CASE
           WHEN i % 20 < 12 THEN format('%s%s MAC=00:16:3e:aa:bb:cc:00:16:3e:dd:ee:ff:08:00 %s LEN=60 TOS=0x00 PREC=0x00 TTL=%s ID=%s DF PROTO=TCP SPT=%s DPT=%s WINDOW=64240 RES=0x00 SYN URGP=0',
                                        v.prefix, v.io, v.addrs, 32 + i % 64, i % 65536, v.spt, v.dpt)
           WHEN i % 20 < 19 THEN format('%s%s MAC=00:16:3e:aa:bb:cc:00:16:3e:dd:ee:ff:08:00 %s LEN=78 TOS=0x00 PREC=0x00 TTL=%s ID=%s PROTO=UDP SPT=%s DPT=%s LEN=58',
                                        v.prefix, v.io, v.addrs, 32 + i % 64, i % 65536, v.spt, v.dpt)
           ELSE format('%s%s %s LEN=84 TOS=0x00 PREC=0x00 TTL=64 ID=%s DF PROTO=ICMP TYPE=8 CODE=0 ID=%s SEQ=%s',
                       v.prefix, v.io, v.addrs, i % 65536, i % 4096, i % 100)
           END AS body) b
$$;

-- The peer's tables: the same columns as mekatek.fw_log, without extra.
CREATE TABLE bench.peer_raw (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, line text NOT NULL);
CREATE TABLE bench.peer_log (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    logged_at timestamptz, host text, prefix text, in_iface text, out_iface text, direction text,
    src inet, dst inet, proto text, spt int, dpt int, len int, ttl int, packet_id int,
    icmp_type int, icmp_code int, tcp_flags text[], action text);

CREATE FUNCTION bench.compare_sample(n int) RETURNS TABLE (id bigint) LANGUAGE sql AS $$
SELECT m.id FROM mekatek.fw_log m JOIN bench.peer_log p USING (id)
 WHERE m.id <= n
   AND (m.logged_at, m.host, m.prefix, m.in_iface, m.out_iface, m.direction, m.src, m.dst, m.proto,
        m.spt, m.dpt, m.len, m.ttl, m.packet_id, m.icmp_type, m.icmp_code, m.tcp_flags, m.action)
       IS DISTINCT FROM
       (p.logged_at, p.host, p.prefix, p.in_iface, p.out_iface, p.direction, p.src, p.dst, p.proto,
        p.spt, p.dpt, p.len, p.ttl, p.packet_id, p.icmp_type, p.icmp_code, p.tcp_flags, p.action)
$$;

-- 199 specific rules (per protocol and /16, a port range each) and a
-- catch-all: most packets go through every rule of their list.
INSERT INTO mekatek.fw_rule (policy, position, direction, proto, src, dport, action)
SELECT 'bench', k, CASE WHEN k % 10 = 0 THEN 'OUTPUT' ELSE 'INPUT' END,
       CASE WHEN k % 2 = 0 THEN 'tcp' ELSE 'udp' END,
       ('10.' || k % 64 || '.0.0/16')::cidr, int4range(1000 + k * 5, 1000 + k * 5 + 4, '[]'),
       CASE WHEN k % 3 = 0 THEN 'accept' ELSE 'drop' END
  FROM generate_series(1, 199) k;
INSERT INTO mekatek.fw_rule (policy, position, action) VALUES ('bench', 200, 'drop');

-- The peer of first-match usage: for each packet the first rule that
-- matches, found by the planner.
CREATE FUNCTION bench.peer_usage_window() RETURNS TABLE ("position" int, hits bigint) LANGUAGE sql AS $$
SELECT r.position, count(*)
  FROM mekatek.fw_log p
  LEFT JOIN LATERAL (
      SELECT r.position FROM mekatek.fw_rule r
       WHERE r.policy = 'bench'
         AND (r.direction IS NULL OR r.direction = p.direction)
         AND (r.proto IS NULL OR r.proto = lower(p.proto))
         AND (r.src IS NULL OR p.src <<= r.src) AND (r.dst IS NULL OR p.dst <<= r.dst)
         AND (r.sport IS NULL OR r.sport @> p.spt) AND (r.dport IS NULL OR r.dport @> p.dpt)
       ORDER BY r.position LIMIT 1) r ON true
 WHERE p.logged_at >= bench.t0() AND p.logged_at < bench.t0() + interval '15000 s'
 GROUP BY 1
$$;
CREATE FUNCTION bench.usage_diff() RETURNS TABLE ("position" int, mekatek bigint, peer bigint) LANGUAGE sql AS $$
SELECT coalesce(m.position, p.position), m.hits, p.hits
  FROM (SELECT * FROM mekatek.fw_rule_usage('bench', bench.t0(), bench.t0() + interval '15000 s') WHERE hits > 0) m
  FULL JOIN bench.peer_usage_window() p ON coalesce(m.position, -1) = coalesce(p.position, -1)
 WHERE m.hits IS DISTINCT FROM p.hits
$$;

-- 1,000 random rules for the anomaly pass.
SELECT setseed(0.42);
INSERT INTO mekatek.fw_rule (policy, position, direction, proto, src, sport, dst, dport, action)
SELECT 'random1000', g,
       (ARRAY['INPUT', 'OUTPUT', NULL])[1 + floor(random() * 3)::int],
       (ARRAY['tcp', 'udp', NULL])[1 + floor(random() * 3)::int],
       CASE WHEN random() < 0.3 THEN NULL
            ELSE network(set_masklen(format('10.%s.%s.%s', floor(random() * 4), floor(random() * 256), floor(random() * 256))::inet,
                                     (ARRAY[8, 16, 24, 32])[1 + floor(random() * 4)::int])) END,
       CASE WHEN random() < 0.8 THEN NULL ELSE int4range(1024, 65535, '[]') END,
       CASE WHEN random() < 0.5 THEN NULL
            ELSE network(set_masklen(format('202.110.%s.%s', floor(random() * 4), floor(random() * 256))::inet,
                                     (ARRAY[16, 24, 32])[1 + floor(random() * 3)::int])) END,
       CASE WHEN random() < 0.3 THEN NULL
            ELSE (SELECT int4range(p, p + (CASE WHEN random() < 0.7 THEN 0 ELSE floor(random() * 100)::int END), '[]')
                    FROM (SELECT (ARRAY[22, 25, 53, 80, 110, 123, 443, 1000, 3306, 8080])[1 + floor(random() * 10)::int] AS p) x) END,
       (ARRAY['accept', 'drop', 'reject'])[1 + floor(random() * 3)::int]
  FROM generate_series(1, 1000) g;

CREATE FUNCTION bench.time_ms(q text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE t timestamptz := clock_timestamp();
BEGIN
    EXECUTE q;
    RETURN extract(epoch FROM clock_timestamp() - t) * 1000;
END $$;
