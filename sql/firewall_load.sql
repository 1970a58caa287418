-- The streaming bulk path: mekatek.fw_load_file(path) and fw_load(text)
-- parse in C and feed COPY's multi-insert.  Files are written server-side
-- with lo_export (exact bytes: no trailing newline, NULs, bad UTF-8) into
-- the test cluster's data directory, so relative paths name them:
-- mekatek.fw_log_directory (superuser only) names it for these tests.
SELECT set_config('mekatek.fw_log_directory', current_setting('data_directory'), false) IS NOT NULL AS dir_set;
SET timezone = 'UTC';
SET mekatek.fw_log_year = 2024;
TRUNCATE mekatek.fw_log, mekatek.fw_reject;
INSERT INTO mekatek.fw_prefix_action VALUES ('FWL_DROP:', 'drop') ON CONFLICT DO NOTHING;

CREATE FUNCTION pg_temp.write_file(path text, content bytea) RETURNS void LANGUAGE plpgsql AS $$
DECLARE o oid := lo_from_bytea(0, content);
BEGIN
    PERFORM lo_export(o, path);
    PERFORM lo_unlink(o);
END $$;

-- Every kind of line fw_parse knows gives the same row through fw_load:
-- headers, uptime stamp, prefixes with blanks, quotes and backslashes,
-- ICMP errors with an embedded header, ip6tables, FORWARD, flags.
CREATE TEMP TABLE sample (n int PRIMARY KEY, line text);
INSERT INTO sample VALUES
 (1, 'Nov 23 07:08:09 gw kernel: [ 1234.567890] FWL_DROP: IN=eth0 OUT= MAC=00:16:3e:aa:bb:cc:00:16:3e:dd:ee:ff:08:00 SRC=10.0.0.1 DST=10.0.0.2 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=54321 DF PROTO=TCP SPT=40000 DPT=22 WINDOW=64240 RES=0x00 SYN URGP=0'),
 (2, '2024-03-05T10:11:12.123456+07:00 fw kernel: my "quoted" \prefix IN= OUT=eth1 SRC=2001:db8::1 DST=2001:db8::2 LEN=80 TC=0 HOPLIMIT=64 FLOWLBL=0 PROTO=UDP SPT=5353 DPT=53 LEN=40'),
 (3, 'IN=eth0 OUT=eth1 SRC=192.168.1.9 DST=10.1.1.1 LEN=84 TOS=0x00 PREC=0x00 TTL=63 ID=1 PROTO=ICMP TYPE=3 CODE=3 [SRC=10.1.1.1 DST=192.168.1.9 LEN=56 TOS=0x00 PREC=0x00 TTL=64 ID=2 PROTO=UDP SPT=53 DPT=33434 LEN=36 ]'),
 (4, 'not a log line at all'),
 (5, E'Nov 23 07:08:10 gw kernel: tab\there IN=eth0 OUT= SRC=10.0.0.3 DST=10.0.0.4 LEN=40 TTL=1 ID=3 PROTO=TCP SPT=1 DPT=2 ACK FIN OPT (020405B4)'),
 (6, 'Nov 23 07:08:11 gw kernel: préfixe→ IN=eth0 OUT= SRC=10.0.0.5 DST=10.0.0.6 LEN=40 TTL=1 ID=4 PROTO=47 INCOMPLETE [65535 bytes] UID=1000 GID=1000 MARK=0x1'),
 (7, 'Feb 30 00:00:00 gw kernel: IN=eth0 OUT= SRC=10.0.0.7 DST=10.0.0.8 PROTO=UDP'),
 (8, E'IN=eth0 OUT= SRC=10.0.0.9 DST=10.0.0.8 PROTO=UDP NOTE="a\\b\tc\x01" WHO=zoë "odd\\key"=1'),
 (9, '9999-12-31T23:59:59.5-05:00 fw kernel: IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2 PROTO=UDP'),
 (10, '0001-01-01T00:00:00+01:00 fw kernel: IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2 PROTO=UDP');
SELECT * FROM mekatek.fw_load((SELECT string_agg(line, E'\n' ORDER BY n) FROM sample));
WITH good AS (
    SELECT row_number() OVER (ORDER BY n) AS k, s.n, mekatek.fw_try_parse(s.line) AS e
      FROM sample s WHERE (mekatek.fw_try_parse(s.line)).src IS NOT NULL
), loaded AS (
    SELECT row_number() OVER (ORDER BY id) AS k,
           ROW(logged_at, host, prefix, in_iface, out_iface, direction, src, dst, proto, spt, dpt,
               len, ttl, packet_id, icmp_type, icmp_code, tcp_flags, action, extra)::mekatek.fw_event AS e
      FROM mekatek.fw_log
)
SELECT g.n, l.e IS NOT DISTINCT FROM g.e AS same_as_fw_parse
  FROM good g FULL JOIN loaded l USING (k) ORDER BY g.n;
SELECT line_no, source, reason FROM mekatek.fw_reject ORDER BY id;
SELECT logged_at, prefix, extra FROM mekatek.fw_log ORDER BY id;
TRUNCATE mekatek.fw_log, mekatek.fw_reject;

-- A file: CRLF, an empty line, a reject, no trailing newline.
SELECT pg_temp.write_file('fwload_small.log', convert_to(
    E'2024-03-01T00:00:01+00:00 fw kernel: FWL_DROP: IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.9 PROTO=UDP SPT=1 DPT=53\r\n'
 || E'\n'
 || E'garbage\n'
 || E'2024-03-01T00:00:02+00:00 fw kernel: FWL_DROP: IN=eth0 OUT= SRC=10.0.0.2 DST=10.0.0.9 PROTO=UDP SPT=1 DPT=53\n'
 || E'2024-03-01T00:00:03+00:00 fw kernel: FWL_DROP: IN=eth0 OUT= SRC=10.0.0.3 DST=10.0.0.9 PROTO=UDP SPT=1 DPT=53', 'UTF8'));
SELECT * FROM mekatek.fw_load_file('fwload_small.log');
SELECT logged_at, src, action FROM mekatek.fw_log ORDER BY id;
SELECT line_no, source, line, reason FROM mekatek.fw_reject ORDER BY id;

-- An empty file, and a file of nothing but empty lines
SELECT pg_temp.write_file('fwload_empty.log', '');
SELECT * FROM mekatek.fw_load_file('fwload_empty.log');
SELECT pg_temp.write_file('fwload_blank.log', E'\n\r\n\n');
SELECT * FROM mekatek.fw_load_file('fwload_blank.log');
SELECT * FROM mekatek.fw_load('');

-- 3,000 lines across many 64 KiB chunks: every one loaded, in line order,
-- field for field as fw_parse gives them; every 7th line is garbage.
TRUNCATE mekatek.fw_log, mekatek.fw_reject;
CREATE TEMP TABLE many AS
SELECT i AS n, CASE WHEN i % 7 = 0 THEN 'noise ' || repeat('x', i % 300)
       ELSE format('2024-03-01T%s+00:00 fw kernel: FWL_DROP: IN=eth0 OUT= MAC=00:16:3e:aa:bb:cc:00:16:3e:dd:ee:ff:08:00 SRC=10.%s.%s.%s DST=202.110.90.%s LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=%s DF PROTO=TCP SPT=%s DPT=%s WINDOW=64240 RES=0x00 SYN URGP=0',
                   to_char(timestamp '2024-03-01' + i * interval '1 s', 'HH24:MI:SS'),
                   i % 64, i / 64, i % 251, i % 200, i, 1024 + i, i % 1000) END AS line
  FROM generate_series(1, 3000) i;
SELECT pg_temp.write_file('fwload_many.log', convert_to(string_agg(line, E'\n' ORDER BY n) || E'\n', 'UTF8')) FROM many;
SELECT * FROM mekatek.fw_load_file('fwload_many.log');
WITH good AS (
    SELECT row_number() OVER (ORDER BY n) AS k, mekatek.fw_try_parse(line) AS e FROM many WHERE n % 7 <> 0
), loaded AS (
    SELECT row_number() OVER (ORDER BY id) AS k,
           ROW(logged_at, host, prefix, in_iface, out_iface, direction, src, dst, proto, spt, dpt,
               len, ttl, packet_id, icmp_type, icmp_code, tcp_flags, action, extra)::mekatek.fw_event AS e
      FROM mekatek.fw_log
)
SELECT count(*) AS rows, count(*) FILTER (WHERE l.e IS DISTINCT FROM g.e) AS differing
  FROM good g FULL JOIN loaded l USING (k);
SELECT count(*) AS rejects,
       bool_and(r.line = m.line) AS text_kept,
       bool_and(m.n % 7 = 0) AS right_lines,
       (SELECT array_agg(line_no ORDER BY id) = array_agg(line_no ORDER BY line_no) FROM mekatek.fw_reject) AS in_order
  FROM mekatek.fw_reject r JOIN many m ON m.n = r.line_no;

-- Bad input.  Binary garbage: every non-empty line rejected, none lost.
TRUNCATE mekatek.fw_log, mekatek.fw_reject;
SELECT pg_temp.write_file('fwload_binary.log',
    (SELECT string_agg(decode(md5(i::text) || md5((i * 7)::text), 'hex'), '' ORDER BY i) FROM generate_series(1, 2000) i));
SELECT (SELECT count(*) FROM regexp_split_to_table(encode(
          (SELECT string_agg(decode(md5(i::text) || md5((i * 7)::text), 'hex'), '' ORDER BY i) FROM generate_series(1, 2000) i),
          'hex'), '0a')) AS physical_lines_at_most;
CREATE TEMP TABLE bin AS SELECT * FROM mekatek.fw_load_file('fwload_binary.log');
SELECT loaded, rejected > 100 AS many_rejected,
       rejected = (SELECT count(*) FROM mekatek.fw_reject) AS all_kept
  FROM bin;
SELECT count(*) FILTER (WHERE reason LIKE 'a NUL byte or invalid byte sequence%') > 0 AS some_invalid_utf8,
       bool_and(line_no > 0) AS numbered
  FROM mekatek.fw_reject;

-- A NUL byte and invalid UTF-8 are kept as \xNN; a long line across
-- chunks (100,000 bytes) is kept whole.
TRUNCATE mekatek.fw_reject;
SELECT pg_temp.write_file('fwload_bad.log',
    '\x494e3d65746830204f55543d00'::bytea || E'\n'::bytea
 || convert_to('IN=eth0 OUT= SRC=1.2.3.4 DST=5.6.7.8 PREFIX=', 'UTF8') || '\xc328'::bytea || E'\n'::bytea
 || convert_to(repeat('A', 100000), 'UTF8') || E'\n'::bytea
 || convert_to('IN=eth0 OUT= SRC=1.2.3.4 DST=5.6.7.8 PROTO=UDP', 'UTF8'));
SELECT * FROM mekatek.fw_load_file('fwload_bad.log');
SELECT line_no, left(line, 60) AS line, length(line), reason FROM mekatek.fw_reject ORDER BY id;

-- A line over 1 MiB: not a log file; the error names the file and line.
SELECT pg_temp.write_file('fwload_huge.log', E'x\n'::bytea || convert_to(repeat('B', 1100000), 'UTF8'));
SELECT * FROM mekatek.fw_load_file('fwload_huge.log');

-- Missing file, directory, empty path, NULL
SELECT * FROM mekatek.fw_load_file('no_such_fwload.log');
SELECT * FROM mekatek.fw_load_file('base');
SELECT * FROM mekatek.fw_load_file('');
SELECT * FROM mekatek.fw_load_file(NULL);
SELECT * FROM mekatek.fw_load(NULL);

-- An error while COPY inserts names the file's line, not COPY's row (the
-- garbage on line 2 shifts them apart).
BEGIN;
TRUNCATE mekatek.fw_log RESTART IDENTITY;
ALTER TABLE mekatek.fw_log ADD CONSTRAINT fwload_test CHECK (dpt <> 666);
SELECT pg_temp.write_file('fwload_check.log', convert_to(
    E'IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2 PROTO=UDP SPT=1 DPT=1\n'
 || E'garbage\n'
 || E'IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2 PROTO=UDP SPT=1 DPT=2\n'
 || E'IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2 PROTO=UDP SPT=1 DPT=666\n', 'UTF8'));
SELECT * FROM mekatek.fw_load_file('fwload_check.log');
ROLLBACK;

-- In a read-only transaction: refused as COPY FROM is
BEGIN READ ONLY;
SELECT * FROM mekatek.fw_load('IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2');
ROLLBACK;

-- Only files inside mekatek.fw_log_directory (issue 14: an analyst with
-- pg_read_server_files read postgresql.auto.conf through fw_reject).
-- Empty: every file refused, with a hint naming the setting.
SET mekatek.fw_log_directory = '';
SELECT * FROM mekatek.fw_load_file('fwload_small.log');
SELECT set_config('mekatek.fw_log_directory', current_setting('data_directory') || '/base', false) IS NOT NULL AS dir_set;
-- a ".." component, even one that would resolve inside
SELECT * FROM mekatek.fw_load_file('../fwload_small.log');
SELECT * FROM mekatek.fw_load_file('1/../../postgresql.auto.conf');
-- absolute paths outside, the directory itself; a file whose name merely
-- starts like the directory is outside it (errors with $PGDATA for the
-- data directory, which differs from run to run)
CREATE FUNCTION pg_temp.try_load(path text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE st text; msg text;
BEGIN
    PERFORM mekatek.fw_load_file(path);
    RETURN 'loaded';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
    RETURN st || ' ' || replace(msg, current_setting('data_directory'), '$PGDATA');
END $$;
SELECT pg_temp.write_file('base_fwload.log', convert_to(E'IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2\n', 'UTF8'));
SELECT p, pg_temp.try_load(replace(p, '$PGDATA', current_setting('data_directory')))
  FROM unnest(ARRAY['/etc/passwd', '$PGDATA/postgresql.auto.conf', '$PGDATA/base', '$PGDATA/base/',
                    '$PGDATA/base_fwload.log', '$PGDATA//base/../base_fwload.log']) p;
-- a relative directory setting is refused; inside: loaded (absolute path too)
SET mekatek.fw_log_directory = 'base';
SELECT * FROM mekatek.fw_load_file('fwload_small.log');
SELECT set_config('mekatek.fw_log_directory', current_setting('data_directory'), false) IS NOT NULL AS dir_set;
SELECT pg_temp.try_load(current_setting('data_directory') || '/fwload_small.log');
-- only a superuser sets it
CREATE ROLE fwload_dir_admin IN ROLE mekatek_admin, pg_read_server_files;
SET ROLE fwload_dir_admin;
SET mekatek.fw_log_directory = '/';
RESET ROLE;
DROP ROLE fwload_dir_admin;

TRUNCATE mekatek.fw_log, mekatek.fw_reject;
DELETE FROM mekatek.fw_prefix_action WHERE prefix = 'FWL_DROP:';
