-- basket inputs: items of many types are the same items as their text
-- output; random candidate documents for basket_counts either count or fail
-- with 22023, never anything else; random query shapes fail with 22023.
BEGIN;
SELECT plan(7);

SELECT setseed(0.7);
CREATE TEMP TABLE v AS
SELECT tid, floor(random() * 6)::int AS k, random() < 0.05 AS missing
  FROM generate_series(1, 300) tid, generate_series(1, 4) draw;

-- The same data as int, bigint, numeric, float8, date, bool, uuid, jsonb,
-- inet and point items: the mined itemsets equal those of their text output
-- (format('%s'), the output function: a bool is t, not true).
CREATE FUNCTION pg_temp.as_type(t text) RETURNS text LANGUAGE sql AS $$
    SELECT format($q$SELECT tid, CASE WHEN missing THEN NULL ELSE %s END FROM v$q$,
                  CASE t WHEN 'date' THEN $e$'2024-01-01'::date + k$e$
                         WHEN 'bool' THEN 'k % 2 = 0'
                         WHEN 'uuid' THEN $e$('00000000-0000-0000-0000-00000000000' || k)::uuid$e$
                         WHEN 'jsonb' THEN $e$jsonb_build_object('k', k)$e$
                         WHEN 'inet' THEN $e$('10.0.0.' || k)::inet$e$
                         WHEN 'point' THEN $e$point(k, -k)$e$
                         ELSE format('k::%s', t) END) $$;
SELECT is((SELECT count(*) FROM unnest(ARRAY['int2', 'int4', 'int8', 'numeric', 'float8', 'date',
                                             'bool', 'uuid', 'jsonb', 'inet', 'point']) t
            WHERE (SELECT array_agg(f ORDER BY f::text) FROM mekatek.frequent_itemsets(pg_temp.as_type(t), 0.05) f)
                  IS DISTINCT FROM
                  (SELECT array_agg(f ORDER BY f::text) FROM mekatek.frequent_itemsets(
                       format('SELECT tid, CASE WHEN item IS NOT NULL THEN format(''%%s'', item) END FROM (%s) q(tid, item)', pg_temp.as_type(t)), 0.05) f)),
          0::bigint, 'items of eleven types mine as their text output');

-- The same through arrays of those types.
SELECT is((SELECT count(*) FROM unnest(ARRAY['int4', 'int8', 'numeric', 'date', 'bool', 'inet']) t
            WHERE (SELECT array_agg(f ORDER BY f::text) FROM mekatek.apriori(
                       format('SELECT array_agg(item) FROM (%s) q(tid, item) GROUP BY tid', pg_temp.as_type(t)), 0.05) f)
                  IS DISTINCT FROM
                  (SELECT array_agg(f ORDER BY f::text) FROM mekatek.apriori(
                       format('SELECT tid, CASE WHEN item IS NOT NULL THEN format(''%%s'', item) END FROM (%s) q(tid, item)', pg_temp.as_type(t)), 0.05) f)),
          0::bigint, 'array input of six types gives the rules of the text form');

-- Row order does not matter: integer transaction ids (looked up in an
-- array), large and text ones (hashed), shuffled or grouped.
SELECT is((SELECT count(*) FROM unnest(ARRAY['tid', 'tid + 5000000000', $$'t' || tid$$]) id
            WHERE (SELECT array_agg(f ORDER BY f::text) FROM mekatek.apriori(
                       format('SELECT %s, k FROM v WHERE NOT missing ORDER BY random()', id), 0.05) f)
                  IS DISTINCT FROM
                  (SELECT array_agg(f ORDER BY f::text) FROM mekatek.apriori(
                       'SELECT tid, k FROM v WHERE NOT missing ORDER BY tid', 0.05) f)),
          0::bigint, 'shuffled rows and any transaction ids give the rules of grouped rows');

-- Random JSON documents as candidates: counted, or 22023.
CREATE FUNCTION pg_temp.rand_json(depth int) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    r float8 := random();
BEGIN
    IF depth > 3 OR r < 0.25 THEN
        RETURN (ARRAY['"a"', '"b"', '1', '2.50', 'null', 'true', '{}', '"ü"'::text,
                      '"' || repeat('x', 300) || '"'])[1 + floor(random() * 9)::int]::jsonb;
    ELSIF r < 0.9 THEN
        RETURN (SELECT coalesce(jsonb_agg(pg_temp.rand_json(depth + 1)), '[]')
                  FROM generate_series(1, floor(random() * 4)::int));
    ELSE
        RETURN jsonb_build_object('k', pg_temp.rand_json(depth + 1));
    END IF;
END $$;
CREATE TEMP TABLE outcome (doc jsonb, state text);
DO $$
DECLARE
    d jsonb;
BEGIN
    FOR i IN 1 .. 400 LOOP
        d := pg_temp.rand_json(0);
        BEGIN
            PERFORM mekatek.basket_counts(ARRAY['a', 'b', '1'], d);
            INSERT INTO outcome VALUES (d, 'ok');
        EXCEPTION WHEN OTHERS THEN
            INSERT INTO outcome VALUES (d, SQLSTATE);
        END;
    END LOOP;
END $$;
SELECT is((SELECT count(*) FROM outcome WHERE state NOT IN ('ok', '22023')), 0::bigint,
          'random candidate documents: counted or rejected with 22023');
SELECT cmp_ok((SELECT count(DISTINCT state) FROM outcome), '>=', 2::bigint,
              'the random documents reach both outcomes');

-- Random query shapes: 22023 unless one array column or two columns.
CREATE TEMP TABLE shape (q text, expect text, state text);
DO $$
DECLARE
    e text[] := ARRAY['1', quote_literal('a'), 'ARRAY[1]', 'NULL::int[]', 'now()', 'ROW(1, 2)',
                      quote_literal('{}') || '::jsonb'];
    pick int[];
    q text;
    want text;
BEGIN
    FOR i IN 1 .. 60 LOOP
        pick := ARRAY(SELECT 1 + floor(random() * 7)::int FROM generate_series(1, 1 + floor(random() * 3)::int));
        q := 'SELECT ' || (SELECT string_agg(e[p], ', ') FROM unnest(pick) p);
        want := CASE WHEN cardinality(pick) = 2 OR pick IN (ARRAY[3], ARRAY[4]) THEN 'ok' ELSE '22023' END;
        BEGIN
            PERFORM count(*) FROM mekatek.apriori(q, 0.5);
            INSERT INTO shape VALUES (q, want, 'ok');
        EXCEPTION WHEN OTHERS THEN
            INSERT INTO shape VALUES (q, want, SQLSTATE);
        END;
    END LOOP;
END $$;
SELECT is((SELECT count(*) FROM shape WHERE state <> expect), 0::bigint,
          'random query shapes: mined, or 22023 naming the shape');
SELECT ok(EXISTS (SELECT FROM shape WHERE state = 'ok') AND EXISTS (SELECT FROM shape WHERE state = '22023'),
          'the random shapes reach both outcomes');

SELECT * FROM finish();
ROLLBACK;
