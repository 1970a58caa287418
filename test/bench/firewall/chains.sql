-- A policy of :n rules over INPUT and 20 user chains (each jumped to once),
-- with conntrack and multiport matches: fw_anomalies and fw_trace on it.
SELECT mekatek.fw_import_iptables('chains' || :n, (
  SELECT string_agg(l, E'\n' ORDER BY o) FROM (
    SELECT 0 AS o, '*filter' AS l
    UNION ALL SELECT 1, ':INPUT DROP [0:0]'
    UNION ALL SELECT 2 + c, format(':C%s - [0:0]', c) FROM generate_series(1, 20) c
    UNION ALL SELECT 100 + g, format('-A %s -s 10.%s.%s.0/24 -p tcp -m tcp --dport %s %s -j %s',
                      CASE WHEN g <= :n / 2 THEN 'INPUT' ELSE 'C' || (1 + g % 20) END,
                      g % 7, g % 251, 1 + g % 1000,
                      CASE g % 3 WHEN 0 THEN '-m conntrack --ctstate NEW' WHEN 1 THEN '-m multiport --sports 1:1023,8080' ELSE '' END,
                      CASE WHEN g <= 20 THEN 'C' || g WHEN g % 2 = 0 THEN 'ACCEPT' ELSE 'DROP' END)
      FROM generate_series(1, :n) g
    UNION ALL SELECT 10000000, 'COMMIT') x));
