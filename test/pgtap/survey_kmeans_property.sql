-- survey property test: on 100 random data sets (10 to 5,000 points, 1 to
-- 20 dimensions, k 1 to 10), mekatek.kmeans started from the same given
-- centroids converges to the same assignment and objective (within 1e-9
-- relative) as a Lloyd reference in plain SQL and PL/pgSQL: assign each
-- point to the nearest centroid (lowest cluster on ties), give an empty
-- cluster the point farthest from its centroid, move the centroids to the
-- means, until no point moves.  Then, on 20 small sets, kmeans++ with
-- n_init 10 is never worse than the best of ten reference runs from random
-- points.  Sizes are skewed small to keep the reference fast.
BEGIN;
SELECT plan(120);
SET LOCAL mekatek.survey_work_mem = '256MB';

CREATE TEMP TABLE ds (ds int PRIMARY KEY, n int, d int, k int);
CREATE TEMP TABLE pt (ds int, id int, x float8[], PRIMARY KEY (ds, id));
SELECT setseed(0.2020);
INSERT INTO ds
SELECT i, 10 + floor(4990 * random() ^ 5)::int, 1 + floor(20 * random())::int, 1 + floor(10 * random())::int
  FROM generate_series(1, 100) i;
-- Blobs: k centres in [0, 10)^d, points around them with noise of unit scale.
CREATE TEMP TABLE centre AS
SELECT ds.ds, b, ARRAY(SELECT 10 * random() FROM generate_series(1, ds.d) WHERE b >= 0) AS c
  FROM ds, generate_series(0, ds.k - 1) b;
INSERT INTO pt
SELECT p.ds, p.id,
       ARRAY(SELECT ce.c[j] + (random() + random() + random() - 1.5) * 2
               FROM generate_series(1, ds.d) j)
  FROM (SELECT ds.ds, id, floor(random() * ds.k)::int AS b FROM ds, generate_series(1, ds.n) id) p
  JOIN ds USING (ds) JOIN centre ce ON ce.ds = p.ds AND ce.b = p.b;

CREATE FUNCTION pg_temp.d2(a float8[], b float8[]) RETURNS float8
LANGUAGE sql IMMUTABLE AS $$ SELECT sum((u.a - u.b) ^ 2) FROM unnest(a, b) u(a, b) $$;

CREATE TEMP TABLE ref_c (cid int, x float8[]);
CREATE TEMP TABLE ref_a (id int PRIMARY KEY, cid int, x float8[]);
-- The reference: Lloyd from the given centroids (rows of a k x d array).
CREATE FUNCTION pg_temp.lloyd(set int, init float8[], OUT objective float8, OUT assign int[])
LANGUAGE plpgsql AS $$
DECLARE
    k int := array_length(init, 1);
    prev int[];
    j int;
    far int;
BEGIN
    TRUNCATE ref_c;
    INSERT INTO ref_c SELECT i - 1, ARRAY(SELECT unnest(init[i:i][:])) FROM generate_series(1, k) i;
    FOR it IN 1 .. 300 LOOP
        TRUNCATE ref_a;
        INSERT INTO ref_a
        SELECT DISTINCT ON (p.id) p.id, c.cid, p.x
          FROM pt p CROSS JOIN ref_c c
         WHERE p.ds = set
         ORDER BY p.id, (SELECT sum((u.a - u.b) ^ 2) FROM unnest(p.x, c.x) u(a, b)), c.cid;
        SELECT array_agg(cid ORDER BY id) INTO assign FROM ref_a;
        EXIT WHEN assign = prev;
        prev := assign;
        -- Empty clusters, lowest first: the farthest point of a cluster
        -- that keeps one.
        FOR j IN SELECT i FROM generate_series(0, k - 1) i
                  WHERE NOT EXISTS (SELECT FROM ref_a WHERE cid = i) ORDER BY i LOOP
            SELECT a.id INTO far FROM ref_a a JOIN ref_c c ON c.cid = a.cid
             WHERE (SELECT count(*) FROM ref_a b WHERE b.cid = a.cid) > 1
             ORDER BY pg_temp.d2(a.x, c.x) DESC, a.id LIMIT 1;
            UPDATE ref_a SET cid = j WHERE id = far;
        END LOOP;
        SELECT array_agg(cid ORDER BY id) INTO prev FROM ref_a;
        TRUNCATE ref_c;
        INSERT INTO ref_c
        SELECT cid, array_agg(m ORDER BY t)
          FROM (SELECT a.cid, u.t, avg(u.v) AS m
                  FROM ref_a a, unnest(a.x) WITH ORDINALITY u(v, t) GROUP BY a.cid, u.t) s
         GROUP BY cid;
    END LOOP;
    SELECT sum(pg_temp.d2(a.x, c.x)) INTO objective FROM ref_a a JOIN ref_c c USING (cid);
END
$$;

-- The first k points (each from a random blob) are the initial centroids.
CREATE TEMP TABLE init AS
SELECT ds, (SELECT array_agg(x ORDER BY id) FROM pt WHERE pt.ds = ds.ds AND id <= ds.k) AS c FROM ds;

CREATE TEMP TABLE result AS
SELECT ds.ds, ds.n, ds.d, ds.k, r.objective AS ref_objective, r.assign AS ref_assign,
       m.objective_fn AS objective,
       (SELECT array_agg(a.cluster_id ORDER BY a.id)
          FROM mekatek.kmeans_assign(format('SELECT id, x FROM pt WHERE ds = %s', ds.ds), m.centroids) a) AS assign
  FROM ds JOIN init USING (ds),
       LATERAL pg_temp.lloyd(ds.ds, init.c) r,
       LATERAL mekatek.kmeans(format('SELECT id, x FROM pt WHERE ds = %s ORDER BY id', ds.ds), ds.k,
                              initial_centroids => init.c, tol => 0) m;

SELECT ok(assign = ref_assign AND abs(objective - ref_objective) <= 1e-9 * greatest(abs(ref_objective), 1e-300),
          format('data set %s (n %s, d %s, k %s): same assignment, objective %s vs reference %s',
                 ds, n, d, k, objective, ref_objective))
  FROM result ORDER BY ds;

-- kmeans++ with ten restarts against the best of ten reference runs from
-- k distinct random points, on small sets (10 to 60 points).
CREATE TEMP TABLE small AS
SELECT ds, n, d, k FROM ds WHERE n <= 60 AND k > 1 ORDER BY ds LIMIT 20;
SELECT cmp_ok((SELECT count(*) FROM small), '>=', 20::bigint, 'at least 20 small data sets')
 WHERE (SELECT count(*) FROM small) < 20;
CREATE TEMP TABLE small_ref AS
SELECT s.ds, min((pg_temp.lloyd(s.ds, (SELECT array_agg(q.x ORDER BY q.r)
                                          FROM (SELECT x, random() AS r FROM pt WHERE pt.ds = s.ds
                                                 ORDER BY 2 LIMIT s.k) q))).objective) AS best
  FROM small s, generate_series(1, 10) run
 GROUP BY s.ds;
SELECT cmp_ok(m.objective_fn, '<=', r.best * (1 + 1e-9),
              format('data set %s (n %s, d %s, k %s): kmeans++ n_init 10 no worse than the reference''s best',
                     s.ds, s.n, s.d, s.k))
  FROM small s JOIN small_ref r USING (ds),
       LATERAL mekatek.kmeans(format('SELECT id, x FROM pt WHERE ds = %s', s.ds), s.k, n_init => 10, seed => s.ds) m
 ORDER BY s.ds;

SELECT * FROM finish();
ROLLBACK;
