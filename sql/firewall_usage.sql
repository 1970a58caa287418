-- firewall: generalising log records to rules, rule usage, trend and order.
-- (The log starts empty whatever ran before in this database.)
TRUNCATE mekatek.fw_log, mekatek.fw_reject;
SET timezone = 'UTC';
SET mekatek.fw_log_year = 2024;
\pset null '(null)'

-- The sample records of the paper's Gambar 4 (count, protocol, direction,
-- source, source port, destination, destination port, action), turned back
-- into LOG lines, one per packet, and loaded through the bulk path.
INSERT INTO mekatek.fw_prefix_action VALUES ('DENY', 'deny');
CREATE TEMP TABLE gambar4 (n int, proto text, dir text, src text, spt int, dst text, dpt int, action text);
INSERT INTO gambar4 VALUES
 (7071,'UDP','INPUT','202.110.90.100',1058,'202.110.90.255',1212,'DENY'),
 (3,'UDP','INPUT','202.110.90.91',61502,'202.110.90.255',177,'DENY'),
 (3,'UDP','INPUT','202.110.90.80',61505,'202.110.90.255',177,'DENY'),
 (179,'UDP','OUTPUT','202.110.90.90',123,'202.110.100.10',123,'DENY'),
 (340,'UDP','INPUT','202.110.90.80',61501,'202.110.90.255',126,'DENY'),
 (3,'UDP','INPUT','202.110.90.80',61545,'202.110.90.255',177,'DENY'),
 (1324,'UDP','INPUT','202.110.90.80',61550,'202.110.90.255',177,'DENY'),
 (3,'UDP','INPUT','202.110.90.80',61455,'202.110.90.255',177,'DENY'),
 (3,'UDP','INPUT','202.110.90.80',61534,'202.110.90.255',177,'DENY'),
 (3,'UDP','INPUT','202.110.90.80',61544,'202.110.90.255',177,'DENY'),
 (3,'UDP','INPUT','202.110.90.80',61234,'202.110.90.255',177,'DENY'),
 (3,'UDP','INPUT','202.110.90.80',61231,'202.110.90.255',177,'DENY'),
 (3,'UDP','INPUT','202.110.90.80',61765,'202.110.90.255',177,'DENY'),
 (3,'UDP','INPUT','202.110.90.80',61501,'202.110.90.255',177,'DENY'),
 (3,'UDP','INPUT','202.110.90.80',61985,'202.110.90.255',177,'DENY'),
 (3,'UDP','INPUT','202.110.90.80',61544,'202.110.90.255',177,'DENY'),
 (3,'UDP','INPUT','202.110.90.80',61862,'202.110.90.255',177,'DENY'),
 (3,'UDP','INPUT','202.110.90.80',61534,'202.110.90.255',177,'DENY'),
 (3,'UDP','INPUT','202.110.90.80',61231,'202.110.90.255',177,'DENY'),
 (3,'UDP','INPUT','202.110.90.80',61500,'202.110.90.255',177,'DENY'),
 (3,'UDP','INPUT','202.110.90.80',61571,'202.110.90.255',177,'DENY'),
 (3,'UDP','INPUT','202.110.90.80',61522,'202.110.90.255',177,'DENY'),
 (3,'UDP','INPUT','202.110.90.80',61532,'202.110.90.255',177,'DENY'),
 (3,'UDP','INPUT','202.110.90.80',61231,'202.110.90.255',177,'DENY'),
 (3,'UDP','INPUT','202.110.90.80',61834,'202.110.90.255',177,'DENY'),
 (3,'UDP','INPUT','202.110.90.80',61444,'202.110.90.255',177,'DENY'),
 (3,'UDP','INPUT','202.110.90.80',61571,'202.110.90.255',177,'DENY'),
 (3,'UDP','INPUT','202.110.90.80',61582,'202.110.90.255',177,'DENY'),
 (3,'UDP','INPUT','202.110.90.80',61245,'202.110.90.255',177,'DENY'),
 (3,'UDP','INPUT','202.110.90.80',61508,'202.110.90.255',177,'DENY'),
 (3,'UDP','INPUT','202.110.90.80',61509,'202.110.90.255',177,'DENY'),
 (153,'UDP','OUTPUT','202.110.90.70',65,'202.110.100.12',66,'DENY'),
 (3,'UDP','INPUT','202.110.90.80',61515,'202.110.90.255',177,'DENY'),
 (3,'UDP','INPUT','202.110.90.80',61842,'202.110.90.255',177,'DENY');
SELECT * FROM mekatek.fw_load((
    SELECT string_agg(format('Mar %s %s fw kernel: [%s.000000] %sIN=%s OUT=%s SRC=%s DST=%s LEN=78 TOS=0x00 PREC=0x00 TTL=64 ID=%s PROTO=%s SPT=%s DPT=%s LEN=58',
                             4 + i % 7, to_char(time '00:00' + i * interval '1 second', 'HH24:MI:SS'), i,
                             g.action || ' ', CASE g.dir WHEN 'INPUT' THEN 'eth0' ELSE '' END,
                             CASE g.dir WHEN 'OUTPUT' THEN 'eth0' ELSE '' END,
                             g.src, g.dst, i, g.proto, g.spt, g.dpt), E'\n' ORDER BY i)
      FROM (SELECT g.*, row_number() OVER () AS i FROM gambar4 g, generate_series(1, g.n)) g));

-- Generalised like Gambar 5: the ephemeral source ports become 1024-65535,
-- and the two hosts .80 and .91 that send the same traffic (to the subnet
-- broadcast on port 177) merge into 202.110.90.0/24; the rest stay hosts.
-- (Gambar 5 itself shows hosts such as 202.110.90.45 that Gambar 4 does not
-- contain, and "202.110.10,*" for a network: it is not derived from Gambar 4.)
SELECT direction, proto, src, sport, dst, dport, action, hits, round(support::numeric, 4) AS support
  FROM mekatek.fw_generalize('2024-03-01', '2024-04-01', 100);
-- With fewer hosts per network (a /32 prefix) nothing merges; with a low
-- port threshold the many destination ports of 202.110.90.80 become "any".
SELECT count(*) AS rules, max(src::text) FILTER (WHERE src::text LIKE '%/24') AS merged
  FROM mekatek.fw_generalize('2024-03-01', '2024-04-01', 1, 32);
SELECT src, sport, dst, dport, hits FROM mekatek.fw_generalize('2024-03-01', '2024-04-01', 1, 24, 2)
 WHERE dport IS NULL;
SELECT * FROM mekatek.fw_generalize('2024-03-01', '2024-04-01', 0);

-- Rule usage: each packet matched first-match against the ordered policy,
-- P = f/N; the last row (position NULL) is traffic no rule matched.
INSERT INTO mekatek.fw_rule (policy, position, direction, proto, src, sport, dst, dport, action) VALUES
 ('site', 1, 'INPUT',  'tcp', NULL,              NULL,                 NULL, '[22,22]',   'accept'),
 ('site', 2, 'INPUT',  'udp', '202.110.90.80',   NULL,                 NULL, '[126,126]', 'drop'),
 ('site', 3, 'INPUT',  'udp', '202.110.90.0/24', '[1024,65535]',       NULL, NULL,        'drop'),
 ('site', 4, 'OUTPUT', 'udp', NULL,              '[123,123]',          NULL, '[123,123]', 'drop'),
 ('site', 5, 'INPUT',  'udp', '202.110.90.100',  NULL,                 NULL, '[1212,1212]', 'drop');
SELECT position, hits, round(probability::numeric, 4) AS p, round(cumulative::numeric, 4) AS cumulative
  FROM mekatek.fw_rule_usage('site', '2024-03-01', '2024-04-01');
SELECT sum(hits) AS packets FROM mekatek.fw_rule_usage('site', NULL, NULL);

-- Trend over windows of two days.  Add ssh traffic that dies out (40, 20,
-- 8, then 2 packets): rule 1 decays (its share falls in each of the last two
-- windows, to at most half of its peak); rule 5 never matches (rule 3 takes
-- its packets first): decaying too.  Rule 3 alone carries over 70% of the
-- traffic: the dominant rule.
SELECT * FROM mekatek.fw_load((
    SELECT string_agg(format('Mar %s 12:00:00 fw kernel: SSH IN=eth0 OUT= SRC=198.51.100.7 DST=202.110.90.45 LEN=60 TTL=50 ID=1 DF PROTO=TCP SPT=40000 DPT=22 SYN URGP=0', d), E'\n')
      FROM (VALUES (4, 40), (6, 20), (8, 8), (10, 2)) v(d, n), generate_series(1, v.n)));
SELECT position, hits, round(probability::numeric, 4) AS p, dominant, decaying,
       (SELECT array_agg(round(x::numeric, 4)) FROM unnest(window_probabilities) x) AS per_window
  FROM mekatek.fw_rule_trend('site', '2024-03-04', '2024-03-11', '2 days');
SELECT * FROM mekatek.fw_rule_trend('site', '2024-03-11', '2024-03-04');

-- A better order: the most used rules move up.  All the drops overlap only
-- each other (same decision) and the accept (tcp) overlaps none of them, so
-- every move is free here.
SELECT * FROM mekatek.fw_suggest_order('site');
-- Moving a rule across an overlapping rule with the other decision is never
-- suggested: here the popular accept stays below the drop it overlaps.
INSERT INTO mekatek.fw_rule (policy, position, direction, proto, src, dport, action) VALUES
 ('guard', 1, 'INPUT', 'udp', '202.110.90.91', NULL, 'drop'),
 ('guard', 2, 'INPUT', 'udp', NULL, '[1212,1212]', 'drop'),
 ('guard', 3, 'INPUT', 'udp', '202.110.90.0/24', '[177,177]', 'accept');
SELECT * FROM mekatek.fw_suggest_order('guard');
SELECT position, hits, round(probability::numeric, 4) AS p, round(cumulative::numeric, 4) AS cumulative
  FROM mekatek.fw_rule_usage('guard', NULL, NULL);

-- Association rules with the action on the right-hand side (Golnabi et
-- al.), mined by the basket module's Apriori over the same log.  The SSH
-- lines have no mapped action: their action item is NULL and ignored.
SELECT antecedent, action, round(support::numeric, 4) AS support, confidence, round(lift::numeric, 3) AS lift, count
  FROM mekatek.fw_mine('2024-03-01', '2024-04-01', 0.1, 1.0)
 WHERE cardinality(antecedent) <= 2;
SELECT count(*) AS rules, min(confidence) AS min_confidence, bool_and(action = 'deny') AS all_deny
  FROM mekatek.fw_mine('2024-03-01', '2024-04-01', 0.01, 0.9);

-- A protocol the parser never reports by that name matches no packet (it
-- is not "any"); protocol numbers and names are the same protocol.
INSERT INTO mekatek.fw_rule (policy, position, proto, action) VALUES
 ('odd', 1, 'no-such-proto', 'drop'), ('odd', 2, '17', 'reject'), ('odd', 3, NULL, 'accept');
SELECT position, hits FROM mekatek.fw_rule_usage('odd', NULL, NULL);
SELECT * FROM mekatek.fw_anomalies('odd');
