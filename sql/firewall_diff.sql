-- firewall: fw_diff (rules added, removed, moved; decisions that differ,
-- each with a packet that shows it) and fw_apply_order.
\pset null '(null)'

SELECT mekatek.fw_import_iptables('diff_a', $$
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:SSH - [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -p tcp -m tcp --dport 22 -j SSH
-A INPUT -p tcp -m multiport --dports 80,443 -j ACCEPT
-A INPUT -p icmp -m icmp --icmp-type 8 -j ACCEPT
-A INPUT -s 203.0.113.0/24 -j DROP
-A SSH -s 10.0.0.0/8 -j ACCEPT
-A SSH -j DROP
COMMIT
$$);
-- B: rule 6 moved to the top (now it drops blacklisted web traffic too),
-- ping removed, smtp added, the SSH chain lets 192.168/16 in as well, and
-- FORWARD accepts.
SELECT mekatek.fw_import_iptables('diff_b', $$
*filter
:INPUT DROP [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:SSH - [0:0]
-A INPUT -s 203.0.113.0/24 -j DROP
-A INPUT -i lo -j ACCEPT
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -p tcp -m tcp --dport 22 -j SSH
-A INPUT -p tcp -m multiport --dports 80,443 -j ACCEPT
-A INPUT -p tcp -m tcp --dport 25 -j ACCEPT
-A SSH -s 10.0.0.0/8 -j ACCEPT
-A SSH -s 192.168.0.0/16 -j ACCEPT
-A SSH -j DROP
COMMIT
$$);
SELECT change, position_a, position_b, rule, chain, verdict_a, verdict_b FROM mekatek.fw_diff('diff_a', 'diff_b')
 WHERE change <> 'decision';
SELECT chain, position_a, position_b, verdict_a, verdict_b, proto, src, dst, sport, dport, icmp_type, icmp_code,
       tcp_flags, state, in_iface, certain
  FROM mekatek.fw_diff('diff_a', 'diff_b') WHERE change = 'decision' ORDER BY chain, position_a, position_b;

-- Every sample packet is decided as the row says, by fw_trace, in both
-- policies (fw_trace's verdicts are ACCEPT/DROP, the chain policy's too).
SELECT count(*) AS samples,
       count(*) FILTER (WHERE lower(ta.verdict) = d.verdict_a AND lower(tb.verdict) = d.verdict_b) AS confirmed
  FROM mekatek.fw_diff('diff_a', 'diff_b') d,
       LATERAL (SELECT t.verdict FROM mekatek.fw_trace('diff_a', d.chain, d.proto, d.src, d.dst, d.sport, d.dport,
                       d.in_iface, d.out_iface, d.state, d.icmp_type, d.icmp_code, d.tcp_flags) t
                 ORDER BY t.step DESC LIMIT 1) ta,
       LATERAL (SELECT t.verdict FROM mekatek.fw_trace('diff_b', d.chain, d.proto, d.src, d.dst, d.sport, d.dport,
                       d.in_iface, d.out_iface, d.state, d.icmp_type, d.icmp_code, d.tcp_flags) t
                 ORDER BY t.step DESC LIMIT 1) tb
 WHERE d.change = 'decision';

-- A policy against itself: no difference.
SELECT count(*) AS differences FROM mekatek.fw_diff('diff_a', 'diff_a');

-- fw_apply_order writes fw_suggest_order's order as a new policy: the most
-- used rules first, never across an overlapping rule with another
-- decision; fw_diff then shows moves and no decision that differs.
SELECT mekatek.fw_import_iptables('diff_o', $$
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
[3:180] -A INPUT -p udp -m udp --dport 53 -j ACCEPT
[30:1800] -A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
[70:4200] -A INPUT -p tcp -m tcp --dport 443 -j ACCEPT
-A INPUT -s 203.0.113.0/24 -j DROP
-A INPUT -s 203.0.113.0/24 -p tcp -m tcp --dport 443 -j ACCEPT
COMMIT
$$);
INSERT INTO mekatek.fw_log (logged_at, direction, src, dst, proto, spt, dpt, in_iface, tcp_flags, action)
SELECT '2024-03-01'::timestamptz + g * interval '1 s', 'INPUT', ('192.0.2.' || (g % 200))::inet, '198.51.100.1', 'TCP',
       40000 + g, CASE WHEN g % 10 < 7 THEN 443 ELSE 22 END, 'eth0', '{SYN}', 'accept'
  FROM generate_series(1, 100) g;
SELECT * FROM mekatek.fw_suggest_order('diff_o') ORDER BY new_position;
SELECT mekatek.fw_apply_order('diff_o', 'diff_o_ordered');
SELECT mekatek.fw_export_iptables('diff_o_ordered');
SELECT change, position_a, position_b, rule, chain FROM mekatek.fw_diff('diff_o', 'diff_o_ordered');
DELETE FROM mekatek.fw_log;

-- A rule moved far is one row, not every rule it passed.
SELECT mekatek.fw_import_iptables('diff_c', '-A INPUT -p tcp --dport 1 -j ACCEPT
-A INPUT -p tcp --dport 2 -j ACCEPT
-A INPUT -p tcp --dport 3 -j ACCEPT
-A INPUT -p tcp --dport 4 -j ACCEPT
-A INPUT -p tcp --dport 5 -j DROP');
SELECT mekatek.fw_import_iptables('diff_d', '-A INPUT -p tcp --dport 5 -j DROP
-A INPUT -p tcp --dport 1 -j ACCEPT
-A INPUT -p tcp --dport 2 -j ACCEPT
-A INPUT -p tcp --dport 3 -j ACCEPT
-A INPUT -p tcp --dport 4 -j ACCEPT');
SELECT change, position_a, position_b, rule FROM mekatek.fw_diff('diff_c', 'diff_d');

-- Interfaces: a prefix pattern against an exact name.
SELECT mekatek.fw_import_iptables('diff_if_a', '-A INPUT -i eth+ -j DROP');
SELECT mekatek.fw_import_iptables('diff_if_b', '-A INPUT -i eth0 -j ACCEPT
-A INPUT -i eth+ -j DROP');
SELECT chain, position_a, position_b, verdict_a, verdict_b, in_iface FROM mekatek.fw_diff('diff_if_a', 'diff_if_b')
 WHERE change = 'decision' ORDER BY position_a, position_b;

-- fw_suggest_insert: Al-Shaer's advisor places a new rule after every
-- rule of its chain it generalises with another decision and before every
-- rule that would shadow it, as early as that allows.
SELECT mekatek.fw_import_iptables('adv', $$
-A INPUT -s 10.0.0.0/8 -p tcp --dport 22 -j ACCEPT
-A INPUT -p tcp --dport 22 -j DROP
-A INPUT -p tcp --dport 80 -j ACCEPT
-A INPUT -s 198.51.100.7 -p tcp --dport 80 -j ACCEPT
-A INPUT -s 198.51.100.0/24 -j DROP
-A OUTPUT -j ACCEPT
$$);
-- a subset of rule 1 with another decision: before it
SELECT * FROM mekatek.fw_suggest_insert('adv', '-A INPUT -s 10.1.0.0/16 -p tcp --dport 22 -j DROP');
-- generalises rule 4 (accept 198.51.100.7:80) with another decision:
-- after it, and as early as that allows
SELECT * FROM mekatek.fw_suggest_insert('adv', '-A INPUT -s 198.51.100.0/24 -p tcp -j DROP');
-- a subset of rule 3 (accept :80) that generalises rule 4 (which rule 3
-- already shadows), both with another decision: it must precede 3 and
-- follow 4, and no position avoids an anomaly
SELECT * FROM mekatek.fw_suggest_insert('adv', '-A INPUT -s 198.51.100.0/24 -p tcp --dport 80 -j DROP');
-- no relation: the top of its chain; another chain's rules do not count
SELECT * FROM mekatek.fw_suggest_insert('adv', '-A INPUT -p udp --dport 53 -j ACCEPT');
SELECT * FROM mekatek.fw_suggest_insert('adv', '-A FORWARD -j DROP');
-- nothing of the copies is left
SELECT count(*) FROM mekatek.fw_rule WHERE policy LIKE 'mekatek %';

-- fw_merge: the rules one by one at the advisor's positions, into a new policy
SELECT * FROM mekatek.fw_merge('adv', $$
-A INPUT -s 10.1.0.0/16 -p tcp --dport 22 -j DROP
-A INPUT -p udp --dport 53 -j ACCEPT

-A INPUT -s 198.51.100.0/24 -p tcp -j DROP
$$, 'adv_merged');
SELECT position, mekatek.fw_rule_text(r) FROM mekatek.fw_rule r WHERE policy = 'adv_merged' ORDER BY position;
SELECT change, position_a, position_b, rule FROM mekatek.fw_diff('adv', 'adv_merged') WHERE change <> 'decision';
SELECT count(*) FROM mekatek.fw_rule WHERE policy LIKE 'mekatek %';
SELECT * FROM mekatek.fw_merge('adv', '-A INPUT -j ACCEPT', 'adv_merged');
SELECT * FROM mekatek.fw_merge('adv', '-A INPUT -s 10.0.0.0/33 -j ACCEPT', 'adv_merged2');
SELECT * FROM mekatek.fw_suggest_insert('adv', 'INPUT -j ACCEPT');
SELECT * FROM mekatek.fw_suggest_insert('nosuchpolicy', '-A INPUT -j ACCEPT');

-- Errors: unknown policy, families mixed, NULL, an existing new policy,
-- the work bound
SELECT * FROM mekatek.fw_diff('diff_a', 'nosuchpolicy');
SELECT * FROM mekatek.fw_diff(NULL, 'diff_a');
SELECT mekatek.fw_import_iptables('diff_v6', '-A INPUT -s 2001:db8::/32 -j DROP');
SELECT * FROM mekatek.fw_diff('diff_a', 'diff_v6');
SELECT mekatek.fw_apply_order('diff_o', 'diff_o_ordered');
SELECT mekatek.fw_apply_order('diff_a', 'diff_a');
SELECT mekatek.fw_apply_order('diff_a', NULL);
SELECT mekatek.fw_apply_order('nosuchpolicy', 'x');
SET mekatek.fw_diff_work = 10;
SELECT count(*) FROM mekatek.fw_diff('diff_a', 'diff_b');
RESET mekatek.fw_diff_work;

DELETE FROM mekatek.fw_rule WHERE policy LIKE 'diff%';
DELETE FROM mekatek.fw_chain_policy WHERE policy LIKE 'diff%';
DELETE FROM mekatek.fw_policy WHERE policy LIKE 'diff%';
