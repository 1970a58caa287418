-- firewall: every bad input is an ERROR that says what and where
-- (issue 17 section 6, issue 14 section 5).
SET timezone = 'UTC';
\pset null '(null)'

-- An unknown policy is an error everywhere.  Before, fw_export_iptables
-- returned "*filter" and "COMMIT", which iptables-restore accepts and which
-- flushes every filter rule.
SELECT mekatek.fw_export_iptables('nosuchpolicy');
SELECT * FROM mekatek.fw_anomalies('nosuchpolicy');
SELECT * FROM mekatek.fw_rule_usage('nosuchpolicy', NULL, NULL);
SELECT * FROM mekatek.fw_suggest_order('nosuchpolicy');
SELECT * FROM mekatek.fw_rule_trend('nosuchpolicy', '2024-01-01', '2024-02-01');
SELECT mekatek.fw_policy_family('nosuchpolicy');
-- An imported policy exists even when it holds no rule.
SELECT mekatek.fw_import_iptables('empty', E'*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n');
SELECT mekatek.fw_export_iptables('empty');
SELECT policy, family FROM mekatek.fw_policy WHERE policy = 'empty';

-- Every import problem names its line.
SELECT mekatek.fw_import_iptables('bad', E'*filter\n-A INPUT -s 10.0.0.0/33 -j DROP\nCOMMIT');
SELECT mekatek.fw_import_iptables('bad', E'# comment\n-A INPUT -d 2001:db8::/129 -j DROP');
-- a policy name is indexed: a long one is refused by name (issue 14: it was 54000 "index row requires ...")
SELECT mekatek.fw_import_iptables(repeat('p', 300), E'*filter\nCOMMIT\n');
SELECT mekatek.fw_import_iptables('bad', 'iptables -A INPUT -p tcp --dport 99999 -j ACCEPT');
SELECT mekatek.fw_import_iptables('bad', 'iptables -A INPUT -p tcp --sport 80:70000 -j ACCEPT');
SELECT mekatek.fw_import_iptables('bad', 'iptables -A INPUT -p tcp --dport 90:80 -j ACCEPT');
-- Options given twice: iptables refuses them, so does the importer (the
-- second -s used to land in matches and the rule silently changed meaning).
SELECT mekatek.fw_import_iptables('bad', 'iptables -A INPUT -s 10.0.0.1 -s 10.0.0.2 -j DROP');
SELECT mekatek.fw_import_iptables('bad', 'iptables -A INPUT -p tcp -p udp -j DROP');
SELECT mekatek.fw_import_iptables('bad', 'iptables -A INPUT -p tcp --dport 22 --dport 23 -j DROP');
SELECT mekatek.fw_import_iptables('bad', 'iptables -A INPUT -j ACCEPT -j DROP');
SELECT mekatek.fw_import_iptables('bad', E'*filter\n:INPUT DROP [0:0]\n:INPUT ACCEPT [0:0]\nCOMMIT');
SELECT mekatek.fw_import_iptables('bad', E'iptables -P INPUT DROP\niptables -P INPUT ACCEPT');
SELECT mekatek.fw_import_iptables('bad', E'*filter\n-A INPUT -j DROP\nCOMMIT\nCOMMIT');
SELECT mekatek.fw_import_iptables('bad', E'*filter\n-A INPUT -j DROP\n');
SELECT mekatek.fw_import_iptables('bad', E'*filter\nCOMMIT\n*filter\nCOMMIT');
SELECT mekatek.fw_import_iptables('bad', E'*filter\n[1:x] -A INPUT -j DROP\nCOMMIT');
-- One policy is one address family.
SELECT mekatek.fw_import_iptables('bad', E'-A INPUT -s 10.0.0.0/8 -j DROP\n-A INPUT -s 2001:db8::/32 -j DROP');
SELECT mekatek.fw_import_iptables('bad', E'ip6tables -A INPUT -p ipv6-icmp -j ACCEPT\niptables -A INPUT -j DROP');
SELECT mekatek.fw_import_iptables('bad', E'-A INPUT -p ipv6-icmp -j ACCEPT\n-A INPUT -s 192.0.2.1 -j DROP');
-- A long bad line is quoted by its first 64 bytes only.
SELECT mekatek.fw_import_iptables('bad', 'iptables -A INPUT -s ' || repeat('x', 100000) || ' -j DROP');
SELECT count(*) AS nothing_imported FROM mekatek.fw_rule WHERE policy = 'bad';

-- Rules inserted by hand that mix the families are refused by every analysis.
INSERT INTO mekatek.fw_rule (policy, position, direction, src, action) VALUES
 ('mixed', 1, 'INPUT', '10.0.0.0/8', 'drop'),
 ('mixed', 2, 'INPUT', '2001:db8::/32', 'drop');
SELECT mekatek.fw_export_iptables('mixed');
SELECT * FROM mekatek.fw_anomalies('mixed');

-- An empty port range matches no port: it is never written as "any port".
SELECT mekatek.fw_port_text('empty');
SELECT mekatek.fw_port_text('[22,22]'), mekatek.fw_port_text('[1024,)'), mekatek.fw_port_text('(,1023]');
INSERT INTO mekatek.fw_rule (policy, position, direction, proto, dport, action) VALUES
 ('emptyport', 1, 'INPUT', 'tcp', 'empty', 'drop');
SELECT mekatek.fw_export_iptables('emptyport');

-- A window whose since comes after its until is an error, not an empty result.
INSERT INTO mekatek.fw_rule (policy, position, direction, action) VALUES ('w', 1, 'INPUT', 'accept');
SELECT * FROM mekatek.fw_rule_usage('w', '2024-02-01', '2024-01-01');
SELECT * FROM mekatek.fw_mine('2024-02-01', '2024-01-01', 0.1, 0.5);
-- fw_mine's errors show the caller's call, not the query fw_mine builds.
SELECT * FROM mekatek.fw_mine('2024-01-01', '2024-02-01', 2, 0.5);
SELECT count(*) FROM mekatek.fw_rule_usage('w', '2024-01-01', '2024-01-01');

-- LOG lines: ports above 65535 and the two reasons a line is too odd to read.
SELECT mekatek.fw_parse_error('Mar 14 12:00:00 fw kernel: IN=eth0 OUT= SRC=192.0.2.1 DST=192.0.2.2 PROTO=TCP SPT=99999 DPT=22');
SELECT mekatek.fw_parse_error('Mar 14 12:00:00 fw kernel: IN=eth0 OUT= SRC=192.0.2.1 DST=192.0.2.2 PROTO=TCP SPT=1 DPT=65536');
SELECT mekatek.fw_parse_error('IN=eth0 OUT= SRC=192.0.2.1 DST=192.0.2.2 PROTO=TCP ' || repeat('K=V ', 3000));

-- Classic syslog headers print no year.  With mekatek.fw_log_year unset, a
-- line dated more than a day after today was written last year (a December
-- line read in January); a line of today is this year's.
SET mekatek.fw_log_year = 0;
SELECT extract(year FROM (mekatek.fw_parse(to_char(now() + interval '2 days', 'Mon DD')
         || ' 00:00:00 fw kernel: IN=eth0 OUT= SRC=192.0.2.1 DST=192.0.2.2 PROTO=TCP SPT=1 DPT=22')).logged_at)
       = extract(year FROM now() + interval '2 days') - 1 AS last_year;
SELECT extract(year FROM (mekatek.fw_parse(to_char(now(), 'Mon DD')
         || ' 00:00:00 fw kernel: IN=eth0 OUT= SRC=192.0.2.1 DST=192.0.2.2 PROTO=TCP SPT=1 DPT=22')).logged_at)
       = extract(year FROM now()) AS this_year;
-- A year set by hand is taken as it is.
SET mekatek.fw_log_year = 2023;
SELECT (mekatek.fw_parse('Dec 31 23:00:00 fw kernel: IN=eth0 OUT= SRC=192.0.2.1 DST=192.0.2.2 PROTO=TCP SPT=1 DPT=22')).logged_at;
RESET mekatek.fw_log_year;

-- Common prefixes map to an action out of the box (ufw, firewalld, ...);
-- a row of fw_prefix_action overrides a default.
SELECT prefix, action, origin FROM mekatek.fw_prefix_action_default ORDER BY origin, prefix;
SELECT (mekatek.fw_parse('Mar 14 12:00:00 fw kernel: [UFW BLOCK] IN=eth0 OUT= SRC=192.0.2.1 DST=192.0.2.2 PROTO=TCP SPT=1 DPT=22')).action;
BEGIN;
INSERT INTO mekatek.fw_prefix_action VALUES ('[UFW BLOCK]', 'reject');
SELECT (mekatek.fw_parse('Mar 14 12:00:00 fw kernel: [UFW BLOCK] IN=eth0 OUT= SRC=192.0.2.1 DST=192.0.2.2 PROTO=TCP SPT=1 DPT=22')).action;
ROLLBACK;
-- A load with prefixes no table maps warns once, with the count.
BEGIN;
SELECT * FROM mekatek.fw_load(E'Mar 14 12:00:00 fw kernel: MYSTERY IN=eth0 OUT= SRC=192.0.2.1 DST=192.0.2.2 PROTO=TCP SPT=1 DPT=22\n'
                              'Mar 14 12:00:01 fw kernel: MYSTERY IN=eth0 OUT= SRC=192.0.2.1 DST=192.0.2.2 PROTO=TCP SPT=1 DPT=23\n'
                              'Mar 14 12:00:02 fw kernel: [UFW BLOCK] IN=eth0 OUT= SRC=192.0.2.1 DST=192.0.2.2 PROTO=TCP SPT=1 DPT=24\n');
ROLLBACK;
