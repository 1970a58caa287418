-- devices: fuzz the RFID UID parser against a reference written as a
-- regular expression.  Random strings over an alphabet of hex digits,
-- separators and near-misses, plus well-formed UIDs with random
-- separators; every one must be normalised exactly as the reference says
-- or refused with 22P02 (any other error fails the test).
BEGIN;
SELECT plan(4);
SELECT setseed(0.7);

CREATE FUNCTION pg_temp.try_uid(raw text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    RETURN mekatek.rfid_uid(raw);
EXCEPTION WHEN invalid_text_representation THEN
    RETURN NULL;
END $$;

CREATE TEMP TABLE sample AS
SELECT string_agg(substr('0123456789abcdefABCDEF :-xZ' || E'\t', (random() * 28)::int + 1, 1), '') AS raw
  FROM generate_series(1, 20000) i, LATERAL generate_series(0, (random() * 24)::int + (i * 0)) j
 GROUP BY i
UNION ALL
SELECT string_agg(substr('0123456789ABCDEFabcdef', (random() * 21)::int + 1, 1)
                  || CASE WHEN j < len - 1 AND random() < 0.3 THEN substr(' :-', (random() * 2)::int + 1, 1) ELSE '' END, '')
  FROM generate_series(1, 3000) i,
       LATERAL (SELECT (ARRAY[8, 14, 20, 7, 9, 13, 21])[1 + (i % 7)] AS len) l,
       LATERAL generate_series(0, l.len - 1) j
 GROUP BY i
UNION ALL
SELECT '';

CREATE TEMP TABLE judged AS
SELECT raw,
       pg_temp.try_uid(raw) AS got,
       CASE WHEN raw ~ '^[0-9A-Fa-f]+([ :-][0-9A-Fa-f]+)*$'
             AND length(regexp_replace(raw, '[ :-]', '', 'g')) IN (8, 14, 20)
            THEN upper(regexp_replace(raw, '[ :-]', '', 'g')) END AS want
  FROM sample;

SELECT cmp_ok((SELECT count(*) FROM judged)::int, '>', 20000, 'more than 20,000 strings tried');
SELECT cmp_ok((SELECT count(*) FROM judged WHERE want IS NOT NULL)::int, '>', 1000, 'over a thousand of them valid UIDs');
SELECT is_empty($$ SELECT raw, got, want FROM judged WHERE got IS DISTINCT FROM want LIMIT 10 $$,
                'rfid_uid agrees with the reference on every string');
SELECT is_empty($$ SELECT got FROM judged WHERE got IS NOT NULL AND got !~ '^([0-9A-F]{8}|[0-9A-F]{14}|[0-9A-F]{20})$' $$,
                'every accepted UID is stored as 8, 14 or 20 upper-case hex digits');

SELECT * FROM finish();
ROLLBACK;
