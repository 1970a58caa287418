-- firewall: parsing netfilter LOG lines (mekatek.fw_parse) and the bulk path.
-- The lines follow the kernel's net/netfilter/nf_log_syslog.c.
SET timezone = 'Asia/Jakarta';
SET mekatek.fw_log_year = 2024;
\pset null '(null)'
\x on

-- A classic syslog header (no year: mekatek.fw_log_year), the kernel's
-- uptime stamp, a prefix with a blank, UDP with its own second LEN.
SELECT * FROM mekatek.fw_parse('Nov 23 07:08:09 gw kernel: [12345.678901] IPTABLES_INPUT: IN=eth0 OUT= MAC=00:11:22:33:44:55:66:77:88:99:aa:bb:08:00 SRC=202.110.90.80 DST=202.110.90.255 LEN=78 TOS=0x00 PREC=0x00 TTL=128 ID=2150 PROTO=UDP SPT=61550 DPT=177 LEN=58');

-- An ISO-8601 header (rsyslog high precision) with its own offset; TCP flags
-- and TCP options; UID/GID of the local socket.
SELECT * FROM mekatek.fw_parse('2024-03-05T10:11:12.123456+07:00 gw kernel: DROP IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=54321 DF PROTO=TCP SPT=51234 DPT=22 WINDOW=64240 RES=0x00 ACK PSH URGP=0 OPT (020405B40402080A) UID=0 GID=0');

-- No header: logged_at and host are NULL.  An ICMP error embeds the
-- offending packet's header in brackets: it stays in extra->'inner' and
-- does not overwrite SRC, DST or the ports.
SELECT * FROM mekatek.fw_parse('REJ IN=eth0 OUT= SRC=192.0.2.1 DST=192.0.2.9 LEN=88 TOS=0x00 PREC=0xC0 TTL=64 ID=1 PROTO=ICMP TYPE=3 CODE=3 [SRC=192.0.2.9 DST=192.0.2.1 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=7 PROTO=UDP SPT=53 DPT=40000 LEN=40 ] MTU=1500');

-- ip6tables: HOPLIMIT is the ttl, FLOWLBL and TC go to extra; ICMPv6's echo
-- ID is not the packet id.  A space-padded day in the classic header.
SELECT * FROM mekatek.fw_parse('Nov  5 01:02:03 gw kernel: [   12.500000] v6 drop IN=eth0 OUT= MAC=33:33:00:00:00:01:00:11:22:33:44:55:86:dd SRC=2001:db8::1 DST=2001:db8::2 LEN=104 TC=0 HOPLIMIT=64 FLOWLBL=12345 PROTO=ICMPv6 TYPE=128 CODE=0 ID=1 SEQ=2');

-- The kernel prints the prefix right before IN=: prefix "DROP_LOG" gives
-- "DROP_LOGIN=...".  Both interfaces set: FORWARD.  Truncated packet.
SELECT prefix, in_iface, out_iface, direction, extra
  FROM mekatek.fw_parse('DROP_LOGIN=eth1 OUT=eth0 SRC=1.2.3.4 DST=5.6.7.8 LEN=40 TOS=0x00 PREC=0x00 TTL=63 ID=0 PROTO=TCP SPT=1 DPT=2 WINDOW=0 RES=0x00 RST URGP=0 INCOMPLETE [65535 bytes] ');

-- OUTPUT, an ISO header in UTC ("Z"), an unnamed protocol by number.
SELECT logged_at, direction, proto, spt, dpt, tcp_flags
  FROM mekatek.fw_parse('2024-02-29T23:59:59Z gw kernel: OUT IN= OUT=eth0 SRC=10.0.0.2 DST=10.0.0.9 LEN=52 TOS=0x00 PREC=0x00 TTL=64 ID=9 PROTO=47');
\x off

-- The action comes from mekatek.fw_prefix_action (prefix as printed, trailing
-- blanks trimmed, action lower-cased); unmapped prefixes give NULL.
INSERT INTO mekatek.fw_prefix_action VALUES ('IPTABLES_INPUT: ', 'DROP'), ('REJ', 'reject');
SELECT prefix, action FROM mekatek.fw_prefix_action ORDER BY prefix;
SELECT (mekatek.fw_parse('IPTABLES_INPUT: IN=eth0 OUT= SRC=1.1.1.1 DST=2.2.2.2 LEN=1 TTL=1 ID=1 PROTO=UDP SPT=1 DPT=2 LEN=9')).action AS mapped,
       (mekatek.fw_parse('OTHER IN=eth0 OUT= SRC=1.1.1.1 DST=2.2.2.2 LEN=1 TTL=1 ID=1 PROTO=UDP SPT=1 DPT=2 LEN=9')).action AS unmapped;

-- Bad input: ERROR 22P02 naming a fragment of the line, or NULL with
-- mekatek.fw_parse_strict = off.
SELECT mekatek.fw_parse('hello world');
\set VERBOSITY terse
SELECT mekatek.fw_parse('Nov 23 07:08:09 gw kernel: IPTABLES_INPUT: IN=eth0 OUT= SRC=202.110.90.80 DST=202.1');   -- truncated address
SELECT mekatek.fw_parse('Nov 23 07:08:09 gw kernel: IPTABLES_INPUT: IN=eth0 OUT= SRC=202.110.90.80 LEN=78');      -- truncated: no DST
SELECT mekatek.fw_parse('X IN=eth0 OUT= SRC=1.2.3.4 DST=5.6.7.8 LEN=4x TTL=1 PROTO=TCP SPT=1 DPT=2');               -- LEN is not a number
SELECT mekatek.fw_parse('X IN=eth0 OUT= SRC=1.2.3.4 DST=5.6.7.8 PROTO=TCP SPT=99999999999 DPT=2');                   -- out of int range
SELECT mekatek.fw_parse('X IN=eth0 OUT= SRC=1.2.3.4 DST=2001:db8::1 PROTO=TCP');                                       -- mixed families
SELECT mekatek.fw_parse('X IN=eth0 OUT= SRC=1.2.3.4 DST=5.6.7.8 PROTO=ICMP TYPE=3 CODE=3 [SRC=5.6.7.8 DST=1.2.3.4'); -- unterminated bracket
SELECT mekatek.fw_parse('2024-02-30T10:00:00Z gw kernel: X IN=eth0 OUT= SRC=1.2.3.4 DST=5.6.7.8');                   -- no 30 February
SELECT mekatek.fw_parse(E'\x01\x02\x7f binary IN=\x03 OUT= SRC=\x04');                                              -- control bytes
SELECT mekatek.fw_parse('X IN=eth0 OUT= SRC=1.2.3.4 DST=5.6.7.8 ' || repeat('K=V ', 3000));                          -- oversized
SELECT mekatek.fw_parse('X IN=eth0 OUT= SRC=1.2.3.4 DST=5.6.7.8 ' || repeat('K=V ', 100));                           -- too many fields
SELECT mekatek.fw_parse('');
\set VERBOSITY default
SET mekatek.fw_parse_strict = off;
SELECT mekatek.fw_parse('hello world') IS NULL AS is_null;
RESET mekatek.fw_parse_strict;
SELECT mekatek.fw_parse_error('hello world'), mekatek.fw_parse_error('X IN=a OUT= SRC=1.2.3.4 DST=5.6.7.8');
-- Classic headers carry no year: 29 February exists only in leap years.
SET mekatek.fw_log_year = 2023;
SELECT mekatek.fw_parse('Feb 29 10:00:00 gw kernel: X IN=eth0 OUT= SRC=1.2.3.4 DST=5.6.7.8');
SET mekatek.fw_log_year = 2024;
SELECT (mekatek.fw_parse('Feb 29 10:00:00 gw kernel: X IN=eth0 OUT= SRC=1.2.3.4 DST=5.6.7.8')).logged_at;

-- Garbage that is never a LOG line (NUL-free; binary bytes through bytea)
-- never crashes and is always 22P02 or NULL; here counted with strict off.
SET mekatek.fw_parse_strict = off;
SELECT count(*) AS lines, count(e.src) AS parsed
  FROM generate_series(1, 2000) g,
       LATERAL (SELECT convert_from(
                    decode(string_agg(lpad(to_hex(32 + ((g * 7919 + i * 104729) % 95)), 2, '0'), ''), 'hex'),
                    'UTF8') AS line
                  FROM generate_series(1, 1 + g % 300) i) x,
       LATERAL mekatek.fw_parse(x.line) e;
-- truncations of a good line at every length: only long enough prefixes parse
SELECT count(*) AS prefixes, count(e.src) AS parsed, min(length(l)) FILTER (WHERE e.src IS NOT NULL) AS shortest_parsed
  FROM (SELECT left('Nov 23 07:08:09 gw kernel: [1.5] P IN=eth0 OUT= SRC=10.1.2.3 DST=10.4.5.6 LEN=60 TTL=64 ID=1 DF PROTO=TCP SPT=1000 DPT=22 SYN URGP=0', n) AS l
          FROM generate_series(0, 123) n) t,
       LATERAL mekatek.fw_parse(t.l) e;
RESET mekatek.fw_parse_strict;

-- The bulk path: lines are staged (COPY mekatek.fw_log_raw(line) FROM ... or
-- fw_load), parsed in one set-based pass, rejects kept with their reason.
SELECT * FROM mekatek.fw_load(
       E'Nov 23 07:08:09 gw kernel: IPTABLES_INPUT: IN=eth0 OUT= SRC=1.1.1.1 DST=2.2.2.2 LEN=1 TTL=1 ID=1 PROTO=UDP SPT=1 DPT=2 LEN=9\n'
    || E'not a log line\n'
    || E'\n'
    || E'Nov 23 07:08:10 gw kernel: IPTABLES_INPUT: IN=eth0 OUT= SRC=1.1.1.2 DST=2.2.2.2 LEN=1 TTL=1 ID=2 PROTO=UDP SPT=1 DPT=2 LEN=9\r\n'
    || E'Nov 23 07:08:11 gw kernel: IPTABLES_INPUT: IN=eth0 OUT= SRC=1.1.1.3\n');
-- COPY into the staging table, then one pass
COPY mekatek.fw_log_raw (line) FROM stdin;
Nov 23 07:09:00 gw kernel: IPTABLES_INPUT: IN=eth0 OUT= SRC=1.1.1.4 DST=2.2.2.2 LEN=1 TTL=1 ID=3 PROTO=UDP SPT=1 DPT=2 LEN=9
garbage
\.
SELECT * FROM mekatek.fw_load_raw();
SELECT logged_at, src, action FROM mekatek.fw_log ORDER BY id;
SELECT line, reason FROM mekatek.fw_reject ORDER BY id;
SELECT count(*) AS still_staged FROM mekatek.fw_log_raw;
