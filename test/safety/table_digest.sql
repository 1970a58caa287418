-- Every table of schemas mekatek and public with its row count and an
-- ordered checksum of its rows, then every sequence of schema mekatek with
-- its position: two databases holding the same data print the same lines.
-- With -v digest_columns=1 only the columns listed in
-- public.mk_digest_columns(rel, attname) are summed: the columns a table
-- had before an upgrade, which may add columns of its own (and tables and
-- sequences, left out: mk_digest_columns lists a sequence with attname '').
\if :{?digest_columns}
\set colfilter 'AND (a.attrelid::regclass::text, a.attname::text) IN (SELECT rel, attname FROM public.mk_digest_columns)'
\set relfilter 'AND k.cols IS NOT NULL'
\set seqfilter 'AND s.schemaname || ''.'' || s.sequencename IN (SELECT rel FROM public.mk_digest_columns)'
\else
\set colfilter ''
\set relfilter ''
\set seqfilter ''
\endif
SELECT c.oid::regclass::text AS relation,
       (xpath('/row/n/text()', x))[1]::text AS rows,
       (xpath('/row/h/text()', x))[1]::text AS md5
  FROM pg_class c,
       LATERAL (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) AS cols
                  FROM pg_attribute a
                 WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped :colfilter) k,
       LATERAL query_to_xml(format(
           'SELECT count(*) AS n, md5(coalesce(string_agg(ROW(%s)::text, E''\n'' ORDER BY ROW(%s)::text COLLATE "C"), '''')) AS h FROM %s r',
           k.cols, k.cols, c.oid::regclass), false, true, '') x
 WHERE c.relnamespace IN ('mekatek'::regnamespace, 'public'::regnamespace)
   AND c.relkind IN ('r', 'p') :relfilter
 ORDER BY 1;
SELECT s.schemaname || '.' || s.sequencename AS sequence, s.last_value
  FROM pg_sequences s
 WHERE s.schemaname = 'mekatek' :seqfilter
 ORDER BY 1;
