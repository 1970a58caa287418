-- survey: k-means (mekatek.kmeans, kmeans_assign, silhouette, the
-- kmeans_step aggregate) on small exact data, then a survey clustered into
-- two groups, then bad input.
SET extra_float_digits = 0;

-- Six points on a line, two obvious groups: centroids 2 and 11, each
-- cluster's variance (sum of squared distances) 2, objective 4.
CREATE TEMP TABLE line_pt (id int PRIMARY KEY, x float8, y numeric);
INSERT INTO line_pt VALUES (1, 1, 0), (2, 2, 0), (3, 3, 0), (4, 10, 0), (5, 11, 0), (6, 12, 0);
SELECT * FROM mekatek.kmeans('SELECT id, x FROM line_pt', 2, initial_centroids => '{{1},{3}}');
-- k-means++ from any seed finds the same clustering (clusters numbered by seeding).
SELECT seed, (r).objective_fn, (r).centroids
  FROM (SELECT seed, mekatek.kmeans('SELECT id, x FROM line_pt', 2, seed => seed) AS r
          FROM generate_series(0, 3) seed) s;
-- Several numeric columns or one array: the same points; random init too.
SELECT (mekatek.kmeans('SELECT id, x, y FROM line_pt', 2, 'random', seed => 7)).objective_fn AS columns,
       (mekatek.kmeans('SELECT id, ARRAY[x, y::float8] FROM line_pt', 2, 'random', seed => 7)).objective_fn AS arrays;
-- Each point's cluster, zero-based, and the distance to its centroid.
SELECT * FROM mekatek.kmeans_assign('SELECT id, x FROM line_pt', '{{2},{11}}') ORDER BY id;
SELECT round(mekatek.silhouette('SELECT a.cluster_id, p.x FROM line_pt p
                                   JOIN mekatek.kmeans_assign(''SELECT id, x FROM line_pt'', ''{{2},{11}}'') a
                                     ON a.id = p.id')::numeric, 6) AS silhouette;
-- Comparing k with the centroids kmeans returns: 2 fits best.
SELECT k, round(mekatek.silhouette('SELECT id, x FROM line_pt',
                                   (mekatek.kmeans('SELECT id, x FROM line_pt', k, n_init => 5)).centroids)::numeric, 6) AS silhouette
  FROM generate_series(2, 4) k;
SELECT mekatek.silhouette('SELECT id, x FROM line_pt', '{{1}}');
-- k = 1: the mean; standardize reports centroids in the original units.
SELECT (mekatek.kmeans('SELECT id, x FROM line_pt', 1)).centroids AS k1,
       (mekatek.kmeans('SELECT id, x, y FROM line_pt', 2, standardize => true)).centroids AS standardized;

-- An empty cluster takes the point farthest from its centroid: the second
-- centroid starts far from every point, so it receives point 6.
SELECT centroids, objective_fn, num_iterations
  FROM mekatek.kmeans('SELECT id, x FROM line_pt', 2, initial_centroids => '{{5},{100}}', tol => 0);

-- The step aggregate: one Lloyd step from {1},{3}, then iterated to the
-- same fixed point as mekatek.kmeans.
SELECT mekatek.kmeans_step(ARRAY[x], '{{1},{3}}') AS one_step,
       mekatek.kmeans_step_objective(ARRAY[x], '{{2},{11}}') AS objective
  FROM line_pt;
WITH RECURSIVE it(n, c) AS (
    SELECT 0, '{{1},{3}}'::float8[]
    UNION ALL
    SELECT n + 1, (SELECT mekatek.kmeans_step(ARRAY[x], it.c) FROM line_pt) FROM it WHERE n < 5)
SELECT n, c FROM it;

-- In parallel: partial states from the workers combined.
CREATE TABLE survey_par_pt AS
    SELECT i AS id, ARRAY[(i % 3) * 10 + (i % 7) * 0.1, (i % 5) * 0.5]::float8[] AS p
      FROM generate_series(1, 30000) i;
ANALYZE survey_par_pt;
SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT mekatek.kmeans_step(p, '{{0,0},{10,0},{20,0}}') FROM survey_par_pt;
CREATE TEMP TABLE par_step AS SELECT mekatek.kmeans_step(p, '{{0,0},{10,0},{20,0}}') AS c FROM survey_par_pt;
RESET max_parallel_workers_per_gather;
-- Equal up to the order of the additions.
SELECT bool_and(abs(a - b) < 1e-9) AS parallel_equals_serial,
       array_agg(round(a::numeric, 6)) AS centroids
  FROM unnest((SELECT c FROM par_step),
              (SELECT mekatek.kmeans_step(p, '{{0,0},{10,0},{20,0}}') FROM survey_par_pt)) u(a, b);
RESET parallel_setup_cost; RESET parallel_tuple_cost; RESET min_parallel_table_scan_size;
DROP TABLE survey_par_pt;

-- A survey clustered into two groups: the e-learning satisfaction survey
-- of ../shared/seeds/002 (25 students, ten agree/disagree items, two per
-- SERVQUAL dimension).  The paper gives only each student's number of
-- agreements (its Tabel 1); they are placed on items 1..n here.  Its
-- Tabel 2 (199, 201, 213, 178, 189 "high" points per dimension) cannot
-- come from these answers: 25 students and 10 items hold 250 answers, of
-- which Tabel 1 counts 181 agreements.
INSERT INTO mekatek.survey (name, scale_min, scale_max) VALUES ('e-learning', 0, 1);
INSERT INTO mekatek.survey_item (survey_id, item_no, dimension)
SELECT s.survey_id, i, (ARRAY['tangible', 'reliability', 'responsiveness', 'assurance', 'empathy'])[(i + 1) / 2]
  FROM mekatek.survey s, generate_series(1, 10) i WHERE s.name = 'e-learning';
CREATE TEMP TABLE elearning (res int, agree int);
INSERT INTO elearning VALUES (1, 9), (2, 4), (3, 6), (4, 5), (5, 7), (6, 8), (7, 3), (8, 5), (9, 9),
    (10, 7), (11, 8), (12, 6), (13, 9), (14, 9), (15, 9), (16, 8), (17, 10), (18, 8), (19, 9),
    (20, 7), (21, 6), (22, 8), (23, 9), (24, 5), (25, 7);
SELECT sum(agree) AS agreements FROM elearning;
INSERT INTO mekatek.survey_respondent (survey_id, label)
SELECT s.survey_id, format('Res. %s', lpad(e.res::text, 2, '0'))
  FROM mekatek.survey s, elearning e WHERE s.name = 'e-learning' ORDER BY e.res;
INSERT INTO mekatek.survey_answer (respondent_id, survey_id, item_no, value)
SELECT r.respondent_id, r.survey_id, i, (i <= e.agree)::int
  FROM mekatek.survey_respondent r
  JOIN elearning e ON format('Res. %s', lpad(e.res::text, 2, '0')) = r.label,
       generate_series(1, 10) i;
SELECT mekatek.survey_cluster('e-learning', 2) > 0 AS clustered;
SELECT survey, label, respondents, round(satisfaction::numeric, 4) AS satisfaction,
       (SELECT array_agg(round(v::numeric, 4)) FROM unnest(centroid) v) AS centroid, dimensions
  FROM mekatek.survey_latest_cluster ORDER BY satisfaction DESC;
SELECT g.label, string_agg(r.label, ', ' ORDER BY r.label) AS respondents
  FROM mekatek.survey_cluster_member m
  JOIN mekatek.survey_cluster_group g USING (run_id, cluster_id)
  JOIN mekatek.survey_respondent r USING (respondent_id)
 GROUP BY g.label ORDER BY g.label;
SELECT k, respondents, round(silhouette::numeric, 4) AS silhouette, run_by = current_user AS by_me
  FROM mekatek.survey_cluster_run;
-- Three groups: high, medium, low.
SELECT mekatek.survey_cluster('e-learning', 3) AS run \gset
SELECT label, respondents FROM mekatek.survey_cluster_group WHERE run_id = :run ORDER BY satisfaction DESC;

-- Roles: an analyst clusters and reads the runs but cannot change the
-- survey; a cashier may do neither.
CREATE ROLE regress_survey_ana IN ROLE mekatek_analyst;
CREATE ROLE regress_survey_kasir IN ROLE mekatek_cashier;
SET ROLE regress_survey_ana;
SELECT mekatek.survey_cluster('e-learning', 2) > 0 AS analyst_clustered;
SELECT count(*) AS runs, bool_and(silhouette IS NOT NULL) AS with_silhouette FROM mekatek.survey_cluster_run WHERE k = 2;
UPDATE mekatek.survey_answer SET value = 1;
SELECT round(mekatek.sus_score('{3,3,3,3,3,3,3,3,3,3}')) AS analyst_scores;
SET ROLE regress_survey_kasir;
SELECT mekatek.sus_score('{3,3,3,3,3,3,3,3,3,3}');
SELECT count(*) FROM mekatek.survey;
RESET ROLE;
DROP ROLE regress_survey_ana, regress_survey_kasir;

-- Bad input: each names the problem.
SELECT mekatek.kmeans('SELECT id, x FROM line_pt', 0);
SELECT mekatek.kmeans('SELECT id, x FROM line_pt', 7);
SELECT mekatek.kmeans('SELECT id, x FROM line_pt UNION ALL SELECT 7, 1 UNION ALL SELECT 8, 1', 7);
SELECT mekatek.kmeans('SELECT id, CASE WHEN id = 4 THEN NULL ELSE x END FROM line_pt', 2);
SELECT mekatek.kmeans('SELECT id, CASE WHEN id = 5 THEN ''NaN'' ELSE x END FROM line_pt', 2);
SELECT mekatek.kmeans('SELECT id, CASE WHEN id = 3 THEN ARRAY[x] ELSE ARRAY[x, x] END FROM line_pt ORDER BY id', 2);
SELECT mekatek.kmeans('SELECT id, ARRAY[x, NULL] FROM line_pt', 2);
SELECT mekatek.kmeans('SELECT id, x::text FROM line_pt', 2);
SELECT mekatek.kmeans('SELECT x, x FROM line_pt', 2);
SELECT mekatek.kmeans('SELECT id FROM line_pt', 2);
SELECT mekatek.kmeans('SELECT id, x FROM line_pt WHERE false', 2);
SELECT mekatek.kmeans('SELECT id, x FROM line_pt', 2, 'kmeans||');
SELECT mekatek.kmeans('SELECT id, x FROM line_pt', 2, 'given');
SELECT mekatek.kmeans('SELECT id, x FROM line_pt', 2, initial_centroids => '{{1,2},{3,4}}');
SELECT mekatek.kmeans('SELECT id, x FROM line_pt', 3, initial_centroids => '{{1},{3}}');
SELECT mekatek.kmeans('SELECT id, x FROM line_pt', 2, initial_centroids => '{1,3}');
SELECT mekatek.kmeans('SELECT id, x FROM line_pt', 2, max_iter => 0);
SELECT mekatek.kmeans('SELECT id, x FROM line_pt', 2, tol => -1);
SELECT mekatek.kmeans(NULL, 2);
-- The query only reads, with the caller's rights.
SELECT mekatek.kmeans('DELETE FROM line_pt RETURNING id, x', 2);
SELECT mekatek.kmeans('WITH d AS (DELETE FROM line_pt RETURNING id, x) SELECT * FROM d', 2);
SELECT mekatek.kmeans('SELECT id, x FROM line_pt FOR UPDATE', 2);
-- A volatile function inside the query cannot write either.
CREATE SEQUENCE survey_seq;
SELECT mekatek.kmeans('SELECT id, nextval(''survey_seq'')::float8 FROM line_pt', 2);
DROP SEQUENCE survey_seq;
SELECT count(*) AS still_six FROM line_pt;
SET mekatek.survey_work_mem = '1MB';
SELECT mekatek.kmeans('SELECT i, ARRAY[i, i, i, i, i, i, i, i]::float8[] FROM generate_series(1, 100000) i', 2);
RESET mekatek.survey_work_mem;
SELECT mekatek.kmeans_assign('SELECT id, x FROM line_pt', '{{1,2}}');
SELECT mekatek.silhouette('SELECT 0, x FROM line_pt');
SELECT mekatek.kmeans_step(ARRAY[x, x], '{{1},{3}}') FROM line_pt;
SELECT mekatek.survey_cluster('no such survey');
INSERT INTO mekatek.survey_answer (respondent_id, survey_id, item_no, value)
SELECT respondent_id, survey_id, 1, 1 FROM mekatek.survey_respondent WHERE label = 'Res. 01'
ON CONFLICT (respondent_id, item_no) DO UPDATE SET value = 3;
SELECT mekatek.survey_cluster('e-learning');
