-- firewall: what traffic reaches us, which rules carry it, which rules are
-- shadowed, and a better order.
\echo
\echo '== firewall: iptables LOG lines, rules, anomalies, usage'
SET mekatek.fw_log_year = 2024;
INSERT INTO mekatek.fw_prefix_action VALUES ('IPTABLES_INPUT:', 'drop'), ('SSH_OK', 'accept');
SELECT * FROM mekatek.fw_load((
    SELECT string_agg(format('Mar %s %s gw kernel: [%s.5] %s IN=eth0 OUT= SRC=%s DST=202.110.90.45 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=%s DF PROTO=%s SPT=%s DPT=%s',
                             4 + g % 7, to_char(time '08:00' + g * interval '7 s', 'HH24:MI:SS'), g,
                             CASE WHEN g % 5 = 0 THEN 'SSH_OK' ELSE 'IPTABLES_INPUT:' END,
                             CASE WHEN g % 5 = 0 THEN '198.51.100.7' ELSE '202.110.90.' || (80 + g % 3) END,
                             g, CASE WHEN g % 5 = 0 THEN 'TCP' ELSE 'UDP' END, 1024 + g,
                             CASE WHEN g % 5 = 0 THEN 22 ELSE 177 END), E'\n')
      FROM generate_series(1, 500) g) || E'\nthis line is not a LOG line');
\echo 'one parsed line:'
SELECT logged_at, prefix, direction, src, dst, proto, spt, dpt, action FROM mekatek.fw_log ORDER BY id LIMIT 1;
\echo 'the log generalised to rules (three hosts merge into their /24):'
SELECT direction, proto, src, sport, dst, dport, action, hits FROM mekatek.fw_generalize('2024-03-01', '2024-04-01', 10);
SELECT mekatek.fw_import_iptables('gw', $$
-P INPUT DROP
-A INPUT -p tcp --dport 22 -j ACCEPT
-A INPUT -p tcp -s 198.51.100.0/24 --dport 22 -j DROP
-A INPUT -p udp -s 202.110.90.0/24 -j DROP
-A INPUT -p udp -s 202.110.90.80 --dport 177 -j DROP
$$) AS rules_imported;
\echo 'anomalies (Al-Shaer and Hamed):'
SELECT * FROM mekatek.fw_anomalies('gw');
\echo 'first-match usage, P = f/N:'
SELECT position, hits, round(probability::numeric, 3) AS p FROM mekatek.fw_rule_usage('gw', NULL, NULL);
\echo 'a better order (never changes a decision):'
SELECT * FROM mekatek.fw_suggest_order('gw');
