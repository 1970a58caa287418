-- Every table of schemas mekatek and public with its row count and an
-- ordered checksum of its rows, then every sequence of schema mekatek with
-- its position: two databases holding the same data print the same lines.
-- With -v cols='{"mekatek.t": ["a", "b"], ...}' only those columns of
-- those tables are compared (the upgrade test: the columns 0.1.0 had; the
-- ones an upgrade adds are compared with a fresh install's schema instead).
\if :{?cols}
\else
\set cols '{}'
\endif
SELECT c.oid::regclass::text AS relation,
       (xpath('/row/n/text()', x))[1]::text AS rows,
       (xpath('/row/h/text()', x))[1]::text AS md5
  FROM pg_class c,
       LATERAL query_to_xml(format(
           'SELECT count(*) AS n, md5(coalesce(string_agg(r::text, E''\n'' ORDER BY r::text COLLATE "C"), '''')) AS h FROM (SELECT %s FROM %s) r',
           coalesce((SELECT string_agg(quote_ident(a), ', ')
                       FROM json_array_elements_text(:'cols'::json -> c.oid::regclass::text) a), '*'),
           c.oid::regclass), false, true, '') x
 WHERE c.relnamespace IN ('mekatek'::regnamespace, 'public'::regnamespace)
   AND c.relkind IN ('r', 'p')
 ORDER BY 1;
SELECT s.schemaname || '.' || s.sequencename AS sequence, s.last_value
  FROM pg_sequences s
 WHERE s.schemaname = 'mekatek'
 ORDER BY 1;
