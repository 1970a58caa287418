-- The peer: the same fields as mekatek.fw_parse, one regexp_match each.
INSERT INTO bench.peer_log (logged_at, host, prefix, in_iface, out_iface, direction, src, dst, proto,
                            spt, dpt, len, ttl, packet_id, icmp_type, icmp_code, tcp_flags, action)
SELECT x.logged_at, x.host, x.prefix, x.in_iface, x.out_iface,
       CASE WHEN x.in_iface IS NOT NULL AND x.out_iface IS NOT NULL THEN 'FORWARD'
            WHEN x.in_iface IS NOT NULL THEN 'INPUT' WHEN x.out_iface IS NOT NULL THEN 'OUTPUT' END,
       x.src, x.dst, x.proto, x.spt, x.dpt, x.len, x.ttl, x.packet_id, x.icmp_type, x.icmp_code,
       CASE WHEN x.proto = 'TCP' THEN coalesce(x.flags, '{}') END,
       a.action
  FROM (SELECT r.id,
               (regexp_match(r.line, '^(\d{4}-\d\d-\d\dT\S+) '))[1]::timestamptz AS logged_at,
               (regexp_match(r.line, '^\S+ (\S+) '))[1] AS host,
               nullif(rtrim((regexp_match(r.line, '^\S+ \S+ \S+: (.*?)IN=\S* OUT='))[1]), '') AS prefix,
               nullif((regexp_match(r.line, 'IN=(\S*) OUT='))[1], '') AS in_iface,
               nullif((regexp_match(r.line, ' OUT=(\S*)'))[1], '') AS out_iface,
               (regexp_match(r.line, ' SRC=(\S+)'))[1]::inet AS src,
               (regexp_match(r.line, ' DST=(\S+)'))[1]::inet AS dst,
               (regexp_match(r.line, ' PROTO=(\S+)'))[1] AS proto,
               (regexp_match(r.line, ' SPT=(\d+)'))[1]::int AS spt,
               (regexp_match(r.line, ' DPT=(\d+)'))[1]::int AS dpt,
               (regexp_match(r.line, ' LEN=(\d+)'))[1]::int AS len,
               (regexp_match(r.line, ' (?:TTL|HOPLIMIT)=(\d+)'))[1]::int AS ttl,
               (regexp_match(r.line, ' ID=(\d+)'))[1]::int AS packet_id,
               (regexp_match(r.line, ' PROTO=ICMP\S* TYPE=(\d+)'))[1]::int AS icmp_type,
               (regexp_match(r.line, ' PROTO=ICMP\S* TYPE=\d+ CODE=(\d+)'))[1]::int AS icmp_code,
               (SELECT array_agg(m[1]) FROM regexp_matches(r.line, ' (CWR|ECE|URG|ACK|PSH|RST|SYN|FIN)(?= |$)', 'g') m) AS flags
          FROM bench.peer_raw r) x
  LEFT JOIN mekatek.fw_prefix_action a ON a.prefix = x.prefix
 ORDER BY x.id;
