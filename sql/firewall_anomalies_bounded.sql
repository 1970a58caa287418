-- fw_anomalies with bounded memory (issue 14 §5: on a 200,000-rule policy
-- it grew past 2.4 GB holding every pair): pairs go through a tuplesort
-- that spills past work_mem, and mekatek.fw_anomalies_work bounds the work.
-- 600 rules that each make every later rule redundant or shadowed: 179,700
-- pairs, sorted and returned with work_mem at its minimum.
SELECT mekatek.fw_import_iptables('bounded',
    (SELECT string_agg(format('-A INPUT -p tcp --dport %s:65535 -j %s', g, CASE WHEN g % 2 = 0 THEN 'ACCEPT' ELSE 'DROP' END),
                       E'\n' ORDER BY g)
       FROM generate_series(1, 600) g));
SET work_mem = '64kB';
SELECT count(*) AS pairs, count(DISTINCT (rule_a, rule_b)) AS distinct_pairs,
       count(*) FILTER (WHERE anomaly = 'shadowing') AS shadowing,
       count(*) FILTER (WHERE anomaly = 'redundancy') AS redundancy,
       bool_and(rule_a < rule_b) AS ordered
  FROM mekatek.fw_anomalies('bounded');
-- in (a, b) order, as before
SELECT rule_a, rule_b, anomaly FROM mekatek.fw_anomalies('bounded') LIMIT 3;
RESET work_mem;
-- the work bound: an ERROR, never a partial answer
SET mekatek.fw_anomalies_work = 1000;
SELECT count(*) FROM mekatek.fw_anomalies('bounded');
RESET mekatek.fw_anomalies_work;
DELETE FROM mekatek.fw_rule WHERE policy = 'bounded';
DELETE FROM mekatek.fw_policy WHERE policy = 'bounded';
