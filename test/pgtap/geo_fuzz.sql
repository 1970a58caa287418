-- geo: fuzz the geo_cell text parser and the distance functions' argument
-- checks.  Every input either works or raises the documented SQLSTATE; a
-- crash would end the session and fail the file.
BEGIN;
SELECT plan(4);
SELECT setseed(0.77);

CREATE TEMP TABLE fuzz_result (input text, outcome text);
DO $$
DECLARE
    seeds text[] := ARRAY['(1,0,0)', '(0.5,-0.5,0.7071067811865476),(1,1,1)', '( 1 , 2 , 3 )',
                          '(1e308,-1e308,0)', '(0,0,0),(0,0,0)'];
    alphabet text := '(),.-+e0123456789 NaInfity x' || chr(9) || chr(10);
    s text;
    pos int;
    c mekatek.geo_cell;
BEGIN
    FOR i IN 1..5000 LOOP
        s := seeds[1 + floor(random() * array_length(seeds, 1))::int];
        -- 1 to 4 mutations: replace, insert or delete a character.
        FOR m IN 1..1 + floor(random() * 4)::int LOOP
            pos := 1 + floor(random() * (length(s) + 1))::int;
            CASE floor(random() * 3)::int
                WHEN 0 THEN s := overlay(s PLACING substr(alphabet, 1 + floor(random() * length(alphabet))::int, 1) FROM pos FOR 1);
                WHEN 1 THEN s := substr(s, 1, pos - 1) || substr(alphabet, 1 + floor(random() * length(alphabet))::int, 1) || substr(s, pos);
                ELSE s := substr(s, 1, pos - 1) || substr(s, pos + 1);
            END CASE;
        END LOOP;
        BEGIN
            c := s::mekatek.geo_cell;
            -- What parses must print and parse back to the same box.
            IF c::text::mekatek.geo_cell::text <> c::text THEN
                INSERT INTO fuzz_result VALUES (s, 'no round trip: ' || c::text);
            ELSE
                INSERT INTO fuzz_result VALUES (s, 'ok');
            END IF;
        EXCEPTION WHEN invalid_text_representation OR numeric_value_out_of_range THEN
            INSERT INTO fuzz_result VALUES (s, 'error ' || SQLSTATE);
        END;
    END LOOP;
END $$;
SELECT is_empty($$ SELECT * FROM fuzz_result WHERE outcome NOT IN ('ok', 'error 22P02', 'error 22003') $$,
                '5,000 mutated geo_cell inputs: each parses and round-trips, or raises 22P02/22003');
SELECT ok((SELECT count(*) FILTER (WHERE outcome = 'ok') > 100 AND count(*) FILTER (WHERE outcome <> 'ok') > 100 FROM fuzz_result),
          'the fuzz reached both outcomes');

-- Extreme doubles into haversine_km: a distance in [0, pi R] or 22003.
CREATE TEMP TABLE extreme (v float8);
INSERT INTO extreme VALUES ('NaN'), ('Infinity'), ('-Infinity'), (0), ('-0'), (1e-320), (-1e-320), (2.2250738585072014e-308),
    (90), (-90), (180), (-180), (90.00000000000001), (-180.00000000000003), (1e308), (-1e308), (45), (-45), (179.99999999999997);
CREATE TEMP TABLE extreme_result (a float8, b float8, c float8, d float8, outcome text);
DO $$
DECLARE
    r record;
    x float8;
BEGIN
    FOR r IN SELECT e1.v a, e2.v b, e3.v c, e4.v d FROM extreme e1, extreme e2, extreme e3, extreme e4
              WHERE random() < 0.05 LOOP
        BEGIN
            x := mekatek.haversine_km(r.a, r.b, r.c, r.d);
            INSERT INTO extreme_result VALUES (r.a, r.b, r.c, r.d,
                CASE WHEN x >= 0 AND x <= 6371 * pi() THEN 'ok' ELSE 'bad value ' || x END);
        EXCEPTION WHEN numeric_value_out_of_range THEN
            INSERT INTO extreme_result VALUES (r.a, r.b, r.c, r.d, 'error 22003');
        END;
    END LOOP;
END $$;
SELECT is_empty($$ SELECT * FROM extreme_result WHERE outcome NOT IN ('ok', 'error 22003') $$,
                'extreme doubles: a distance in [0, pi R] or 22003, never NaN or a crash');
SELECT ok((SELECT count(*) FILTER (WHERE outcome = 'ok') > 50 FROM extreme_result), 'and many valid extremes measured');

SELECT * FROM finish();
ROLLBACK;
