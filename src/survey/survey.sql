-- Mekatek install script, module survey: k-means clustering of survey
-- answers (and of any points a query returns), the simplified silhouette,
-- SUS scores, Likert indexes and SMARTER ranking.  The engines are C
-- (src/survey/*.c); the survey tables, the survey clustering run and the
-- SMARTER ranking are SQL around them.

-- ---------------------------------------------------------------------
-- k-means

CREATE TYPE mekatek.kmeans_result AS (
    centroids        float8[],
    cluster_variance float8[],
    objective_fn     float8,
    frac_reassigned  float8,
    num_iterations   int
);
COMMENT ON TYPE mekatek.kmeans_result IS
'The result of mekatek.kmeans, named as MADlib''s kmeans names it: centroids (k x d, cluster 0 first), cluster_variance (sum of squared distances per cluster), objective_fn (their total), frac_reassigned (points that moved in the last iteration), num_iterations';

CREATE FUNCTION mekatek.kmeans(points text, k int, init text DEFAULT 'kmeans++',
                               max_iter int DEFAULT 300, tol float8 DEFAULT 1e-4,
                               n_init int DEFAULT 1, seed bigint DEFAULT 0,
                               initial_centroids float8[] DEFAULT NULL,
                               standardize bool DEFAULT false)
RETURNS mekatek.kmeans_result
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'mk_kmeans';
COMMENT ON FUNCTION mekatek.kmeans(text, int, text, int, float8, int, bigint, float8[], bool) IS
'k-means (Lloyd with Hamerly''s bounds) of the points a read-only query returns: an integer id, then one float8[] or several numeric columns. init ''kmeans++'', ''random'' or ''given'' (initial_centroids, k x d); deterministic for a seed; n_init restarts keep the lowest objective; stops when no point moves, after max_iter, or when the squared centroid shift is at most tol times the mean column variance; an empty cluster takes the point farthest from its centroid. standardize clusters z-scores and reports centroids in the original units';

CREATE FUNCTION mekatek.kmeans_assign(points text, centroids float8[], standardize bool DEFAULT false)
RETURNS TABLE (id bigint, cluster_id int, distance float8)
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'mk_kmeans_assign';
COMMENT ON FUNCTION mekatek.kmeans_assign(text, float8[], bool) IS
'Each point of the query (id, coordinates) with its nearest centroid, zero-based as in MADlib (ties to the lower cluster), and the distance to it; standardize as given to mekatek.kmeans';

CREATE FUNCTION mekatek.silhouette(points text)
RETURNS float8
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'mk_silhouette';
COMMENT ON FUNCTION mekatek.silhouette(text) IS
'Simplified silhouette (-1..1, higher is better) of an assignment: the query returns the zero-based cluster of each point, then its coordinates; a(i) and b(i) are distances to the own and the nearest other cluster mean';

CREATE FUNCTION mekatek.silhouette(points text, centroids float8[])
RETURNS float8
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'mk_silhouette_centroids';
COMMENT ON FUNCTION mekatek.silhouette(text, float8[]) IS
'Simplified silhouette (-1..1) of the nearest-centroid assignment of the query''s points (id, coordinates) to the given k x d centroids (k >= 2), as mekatek.kmeans returns them: compare k';

-- One k-means step as an aggregate: transition, combine, serialize and
-- deserialize, so parallel workers (or the partial aggregates of a
-- distributed PostgreSQL) share the pass over a very large table.
CREATE FUNCTION mekatek.kmeans_step_trans(internal, float8[], float8[])
RETURNS internal LANGUAGE c PARALLEL SAFE
AS 'MODULE_PATHNAME', 'mk_kmeans_step_trans';
COMMENT ON FUNCTION mekatek.kmeans_step_trans(internal, float8[], float8[]) IS
'Transition function of mekatek.kmeans_step: adds a point to the sums of its nearest centroid';
CREATE FUNCTION mekatek.kmeans_step_combine(internal, internal)
RETURNS internal LANGUAGE c PARALLEL SAFE
AS 'MODULE_PATHNAME', 'mk_kmeans_step_combine';
COMMENT ON FUNCTION mekatek.kmeans_step_combine(internal, internal) IS
'Combine function of mekatek.kmeans_step: adds two partial states';
CREATE FUNCTION mekatek.kmeans_step_serialize(internal)
RETURNS bytea LANGUAGE c STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'mk_kmeans_step_serialize';
COMMENT ON FUNCTION mekatek.kmeans_step_serialize(internal) IS
'Serialize function of mekatek.kmeans_step';
CREATE FUNCTION mekatek.kmeans_step_deserialize(bytea, internal)
RETURNS internal LANGUAGE c STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'mk_kmeans_step_deserialize';
COMMENT ON FUNCTION mekatek.kmeans_step_deserialize(bytea, internal) IS
'Deserialize function of mekatek.kmeans_step';
CREATE FUNCTION mekatek.kmeans_step_final(internal)
RETURNS float8[] LANGUAGE c PARALLEL SAFE
AS 'MODULE_PATHNAME', 'mk_kmeans_step_final';
COMMENT ON FUNCTION mekatek.kmeans_step_final(internal) IS
'Final function of mekatek.kmeans_step: the cluster means (an empty cluster keeps its centroid)';
CREATE FUNCTION mekatek.kmeans_step_objective_final(internal)
RETURNS float8 LANGUAGE c PARALLEL SAFE
AS 'MODULE_PATHNAME', 'mk_kmeans_step_objective_final';
COMMENT ON FUNCTION mekatek.kmeans_step_objective_final(internal) IS
'Final function of mekatek.kmeans_step_objective: the sum of squared distances to the nearest centroid';

CREATE AGGREGATE mekatek.kmeans_step(point float8[], centroids float8[]) (
    SFUNC = mekatek.kmeans_step_trans, STYPE = internal,
    COMBINEFUNC = mekatek.kmeans_step_combine,
    SERIALFUNC = mekatek.kmeans_step_serialize, DESERIALFUNC = mekatek.kmeans_step_deserialize,
    FINALFUNC = mekatek.kmeans_step_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE mekatek.kmeans_step(float8[], float8[]) IS
'One Lloyd step: the means of the points grouped by their nearest of the given centroids (the same k x d array on every row); iterate it from SQL for tables larger than memory';

CREATE AGGREGATE mekatek.kmeans_step_objective(point float8[], centroids float8[]) (
    SFUNC = mekatek.kmeans_step_trans, STYPE = internal,
    COMBINEFUNC = mekatek.kmeans_step_combine,
    SERIALFUNC = mekatek.kmeans_step_serialize, DESERIALFUNC = mekatek.kmeans_step_deserialize,
    FINALFUNC = mekatek.kmeans_step_objective_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE mekatek.kmeans_step_objective(float8[], float8[]) IS
'The k-means objective (sum of squared distances to the nearest of the given centroids) of the points';

-- ---------------------------------------------------------------------
-- SUS

CREATE FUNCTION mekatek.sus_score(answers smallint[], all_positive bool DEFAULT false)
RETURNS float8
LANGUAGE c IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'mk_sus_score';
COMMENT ON FUNCTION mekatek.sus_score(smallint[], bool) IS
'System Usability Scale score 0..100 of ten answers 1..5 (Brooke: odd items x-1, even items 5-x, sum times 2.5); all_positive scores the all-positive version (every item x-1)';

CREATE TYPE mekatek.sus_summary_result AS (
    n             bigint,
    mean          float8,
    sd            float8,
    ci_low        float8,
    ci_high       float8,
    median        float8,
    adjective     text,
    acceptability text,
    grade         text,
    percentile    float8
);
COMMENT ON TYPE mekatek.sus_summary_result IS
'SUS summary: n, mean, sample standard deviation, 95% t confidence interval of the mean, median; the mean''s adjective (nearest of Bangor, Kortum and Miller 2009''s adjective means), acceptability (Bangor et al. 2008), grade and percentile (Sauro and Lewis''s curved grading scale, 2016)';

CREATE FUNCTION mekatek.sus_interpret(score float8,
                                      OUT adjective text, OUT acceptability text,
                                      OUT grade text, OUT percentile float8)
LANGUAGE c IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'mk_sus_interpret';
COMMENT ON FUNCTION mekatek.sus_interpret(float8) IS
'Interpretations of a SUS score (0..100): Bangor, Kortum and Miller''s adjective (nearest adjective mean, 2009) and acceptability range (2008), Sauro and Lewis''s curved grade and percentile (2016)';

CREATE FUNCTION mekatek.sus_summary_trans(internal, smallint[])
RETURNS internal LANGUAGE c PARALLEL SAFE
AS 'MODULE_PATHNAME', 'mk_sus_summary_trans';
COMMENT ON FUNCTION mekatek.sus_summary_trans(internal, smallint[]) IS
'Transition function of mekatek.sus_summary';
CREATE FUNCTION mekatek.sus_summary_trans(internal, smallint[], bool)
RETURNS internal LANGUAGE c PARALLEL SAFE
AS 'MODULE_PATHNAME', 'mk_sus_summary_trans';
COMMENT ON FUNCTION mekatek.sus_summary_trans(internal, smallint[], bool) IS
'Transition function of mekatek.sus_summary with the all-positive option';
CREATE FUNCTION mekatek.sus_summary_combine(internal, internal)
RETURNS internal LANGUAGE c PARALLEL SAFE
AS 'MODULE_PATHNAME', 'mk_sus_summary_combine';
COMMENT ON FUNCTION mekatek.sus_summary_combine(internal, internal) IS
'Combine function of mekatek.sus_summary';
CREATE FUNCTION mekatek.sus_summary_serialize(internal)
RETURNS bytea LANGUAGE c STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'mk_sus_summary_serialize';
COMMENT ON FUNCTION mekatek.sus_summary_serialize(internal) IS
'Serialize function of mekatek.sus_summary';
CREATE FUNCTION mekatek.sus_summary_deserialize(bytea, internal)
RETURNS internal LANGUAGE c STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'mk_sus_summary_deserialize';
COMMENT ON FUNCTION mekatek.sus_summary_deserialize(bytea, internal) IS
'Deserialize function of mekatek.sus_summary';
CREATE FUNCTION mekatek.sus_summary_final(internal)
RETURNS mekatek.sus_summary_result LANGUAGE c PARALLEL SAFE
AS 'MODULE_PATHNAME', 'mk_sus_summary_final';
COMMENT ON FUNCTION mekatek.sus_summary_final(internal) IS
'Final function of mekatek.sus_summary';

CREATE AGGREGATE mekatek.sus_summary(answers smallint[]) (
    SFUNC = mekatek.sus_summary_trans, STYPE = internal,
    COMBINEFUNC = mekatek.sus_summary_combine,
    SERIALFUNC = mekatek.sus_summary_serialize, DESERIALFUNC = mekatek.sus_summary_deserialize,
    FINALFUNC = mekatek.sus_summary_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE mekatek.sus_summary(smallint[]) IS
'Summary of SUS responses (ten answers 1..5 each; NULL responses are skipped): n, mean, sd, 95% CI, median and interpretations of the mean';

CREATE AGGREGATE mekatek.sus_summary(answers smallint[], all_positive bool) (
    SFUNC = mekatek.sus_summary_trans, STYPE = internal,
    COMBINEFUNC = mekatek.sus_summary_combine,
    SERIALFUNC = mekatek.sus_summary_serialize, DESERIALFUNC = mekatek.sus_summary_deserialize,
    FINALFUNC = mekatek.sus_summary_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE mekatek.sus_summary(smallint[], bool) IS
'Summary of SUS responses, scored as the all-positive version when all_positive is true';

-- ---------------------------------------------------------------------
-- Likert index

CREATE TYPE mekatek.likert_index_result AS (
    responses      bigint,
    weighted_total bigint,
    max_total      bigint,
    percent        float8,
    verdict        text
);
COMMENT ON TYPE mekatek.likert_index_result IS
'A Likert percentage index: answers counted, weighted total, the total had every answer been the highest option, the percentage and its 20% band';

CREATE FUNCTION mekatek.likert_index(counts int[], weights int[] DEFAULT NULL,
                                     reverse_items int[] DEFAULT NULL)
RETURNS mekatek.likert_index_result
LANGUAGE c IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'mk_likert_index';
COMMENT ON FUNCTION mekatek.likert_index(int[], int[], int[]) IS
'Likert percentage index of answer counts per option (lowest option first), one item or one row per item: weighted total / (answers x highest weight) x 100, in bands of 20% (strongly disagree, disagree, neutral, agree, strongly agree); weights default to 1..m; reverse_items (1-based) are scored in the opposite direction';

-- ---------------------------------------------------------------------
-- SMARTER

CREATE FUNCTION mekatek.roc_weights(k int)
RETURNS float8[]
LANGUAGE c IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'mk_roc_weights';
COMMENT ON FUNCTION mekatek.roc_weights(int) IS
'Rank order centroid weights of k ranked criteria (Edwards and Barron 1994): w_i = (1/k) sum_{j=i..k} 1/j, most important first';

CREATE FUNCTION mekatek.rank_weights(ranks int[], method text DEFAULT 'roc')
RETURNS float8[]
LANGUAGE c IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'mk_rank_weights';
COMMENT ON FUNCTION mekatek.rank_weights(int[], text) IS
'Weights of criteria given their importance ranks (1 = most important), in the order given: method ''roc'' (rank order centroid), ''rank_sum'' or ''rank_reciprocal''; tied criteria share the mean weight of the positions they occupy';

CREATE FUNCTION mekatek.smarter_rank(model jsonb, method text DEFAULT 'roc')
RETURNS TABLE (rank bigint, alternative text, score float8)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH c AS (
        SELECT e.ordinality::int AS pos, e.value->>'name' AS criterion,
               (e.value->>'rank')::int AS crank,
               coalesce(e.value->>'direction', 'benefit') AS direction
          FROM jsonb_array_elements(model->'criteria') WITH ORDINALITY e),
    w AS (
        SELECT c.*, (mekatek.rank_weights(array_agg(crank) OVER (), method))[pos] AS weight
          FROM c),
    v AS (
        SELECT a.key AS alternative, w.criterion, w.direction, w.weight,
               mekatek.smarter_value_of(a.value, w.criterion, a.key, w.direction) AS value
          FROM jsonb_each(model->'alternatives') a CROSS JOIN w),
    n AS (
        SELECT v.*, min(value) OVER (PARTITION BY criterion) AS lo,
                    max(value) OVER (PARTITION BY criterion) AS hi
          FROM v),
    s AS (
        SELECT alternative,
               sum(weight * CASE WHEN hi = lo THEN 1
                                 WHEN direction = 'cost' THEN (hi - value) / (hi - lo)
                                 ELSE (value - lo) / (hi - lo) END) AS score
          FROM n GROUP BY alternative)
    SELECT rank() OVER (ORDER BY score DESC), alternative, score
      FROM s ORDER BY score DESC, alternative COLLATE "C"
$$;
COMMENT ON FUNCTION mekatek.smarter_rank(jsonb, text) IS
'SMARTER ranking of alternatives: {"criteria": [{"name", "rank" (1 = most important), "direction": "benefit"|"cost"}], "alternatives": {"name": {"criterion": value}}}; values normalised to 0..1 per criterion (cost reversed; a criterion on which all alternatives agree gives 1), weighted by rank weights (ROC by default), summed';

-- The checked read of one value of the model above.
CREATE FUNCTION mekatek.smarter_value_of(vals jsonb, criterion text, alternative text, direction text)
RETURNS float8
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF criterion IS NULL THEN
        RAISE EXCEPTION 'a SMARTER criterion has no "name"' USING ERRCODE = '22023';
    END IF;
    IF direction NOT IN ('benefit', 'cost') THEN
        RAISE EXCEPTION 'criterion "%" has direction "%", not "benefit" or "cost"', criterion, left(direction, 20)
            USING ERRCODE = '22023';
    END IF;
    IF jsonb_typeof(vals->criterion) IS DISTINCT FROM 'number' THEN
        RAISE EXCEPTION 'alternative "%" has no number for criterion "%"', left(alternative, 40), criterion
            USING ERRCODE = '22023', HINT = 'Give every alternative a numeric value for every criterion.';
    END IF;
    RETURN (vals->>criterion)::float8;
END
$$;
COMMENT ON FUNCTION mekatek.smarter_value_of(jsonb, text, text, text) IS
'A numeric value of a SMARTER alternative, or an error naming the alternative and criterion (used by mekatek.smarter_rank)';

-- The table form: criteria and values kept per model.
CREATE TABLE mekatek.smarter_criterion (
    model     text NOT NULL,
    criterion text NOT NULL,
    rank      int NOT NULL CHECK (rank >= 1),
    direction text NOT NULL DEFAULT 'benefit' CHECK (direction IN ('benefit', 'cost')),
    PRIMARY KEY (model, criterion)
);
COMMENT ON TABLE mekatek.smarter_criterion IS
'Criteria of SMARTER models: importance rank (1 = most important) and direction (benefit: more is better, cost: less is better)';

CREATE TABLE mekatek.smarter_value (
    model       text NOT NULL,
    alternative text NOT NULL,
    criterion   text NOT NULL,
    value       float8 NOT NULL CHECK (value = value AND value NOT IN ('Infinity', '-Infinity')),
    PRIMARY KEY (model, alternative, criterion),
    FOREIGN KEY (model, criterion) REFERENCES mekatek.smarter_criterion ON DELETE CASCADE
);
COMMENT ON TABLE mekatek.smarter_value IS
'The value of each alternative of a SMARTER model on each criterion';

CREATE FUNCTION mekatek.smarter_rank(model text, method text DEFAULT 'roc')
RETURNS TABLE (rank bigint, alternative text, score float8)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m jsonb;
BEGIN
    SELECT jsonb_build_object(
             'criteria', (SELECT jsonb_agg(jsonb_build_object('name', c.criterion, 'rank', c.rank,
                                                              'direction', c.direction) ORDER BY c.criterion)
                            FROM mekatek.smarter_criterion c WHERE c.model = smarter_rank.model),
             'alternatives', (SELECT jsonb_object_agg(a.alternative, a.vals)
                                FROM (SELECT v.alternative, jsonb_object_agg(v.criterion, v.value) AS vals
                                        FROM mekatek.smarter_value v WHERE v.model = smarter_rank.model
                                       GROUP BY v.alternative) a))
      INTO m;
    IF m->'criteria' = 'null'::jsonb THEN
        RAISE EXCEPTION 'SMARTER model "%" has no criteria', left(model, 40) USING ERRCODE = '22023',
            HINT = 'Insert its criteria into mekatek.smarter_criterion.';
    END IF;
    IF m->'alternatives' = 'null'::jsonb THEN
        RETURN;
    END IF;
    RETURN QUERY SELECT * FROM mekatek.smarter_rank(m, method);
END
$$;
COMMENT ON FUNCTION mekatek.smarter_rank(text, text) IS
'SMARTER ranking of a model kept in mekatek.smarter_criterion and mekatek.smarter_value (see mekatek.smarter_rank(jsonb, text))';

-- ---------------------------------------------------------------------
-- Surveys: items by dimension, respondents, answers, clustering runs.

CREATE TABLE mekatek.survey (
    survey_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL UNIQUE,
    scale_min  smallint NOT NULL DEFAULT 1,
    scale_max  smallint NOT NULL DEFAULT 5,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (scale_min < scale_max)
);
COMMENT ON TABLE mekatek.survey IS
'A questionnaire answered on one scale (scale_min = strongly disagree .. scale_max = strongly agree)';

CREATE TABLE mekatek.survey_item (
    survey_id bigint NOT NULL REFERENCES mekatek.survey ON DELETE CASCADE,
    item_no   int NOT NULL CHECK (item_no >= 1),
    dimension text NOT NULL,
    question  text,
    reverse   bool NOT NULL DEFAULT false,
    PRIMARY KEY (survey_id, item_no)
);
COMMENT ON TABLE mekatek.survey_item IS
'The items of a survey, each in a dimension (such as tangible or reliability); a reverse-worded item is scored scale_min + scale_max - answer';

CREATE TABLE mekatek.survey_respondent (
    respondent_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    survey_id     bigint NOT NULL REFERENCES mekatek.survey ON DELETE CASCADE,
    label         text NOT NULL,
    UNIQUE (survey_id, label),
    UNIQUE (respondent_id, survey_id)
);
COMMENT ON TABLE mekatek.survey_respondent IS
'The respondents of a survey (label: the questionnaire''s own name or number for them)';

CREATE TABLE mekatek.survey_answer (
    respondent_id bigint NOT NULL,
    survey_id     bigint NOT NULL,
    item_no       int NOT NULL,
    value         smallint NOT NULL,
    PRIMARY KEY (respondent_id, item_no),
    FOREIGN KEY (respondent_id, survey_id) REFERENCES mekatek.survey_respondent (respondent_id, survey_id) ON DELETE CASCADE,
    FOREIGN KEY (survey_id, item_no) REFERENCES mekatek.survey_item ON DELETE CASCADE
);
COMMENT ON TABLE mekatek.survey_answer IS
'One answer of a respondent to an item, on the survey''s scale (checked when the survey is clustered)';

CREATE TABLE mekatek.survey_cluster_run (
    run_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    survey_id   bigint NOT NULL REFERENCES mekatek.survey ON DELETE CASCADE,
    k           int NOT NULL,
    seed        bigint NOT NULL,
    n_init      int NOT NULL,
    standardize bool NOT NULL,
    dimensions  text[] NOT NULL,
    centroids   float8[] NOT NULL,
    objective   float8 NOT NULL,
    iterations  int NOT NULL,
    silhouette  float8,
    respondents bigint NOT NULL,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    run_by      name NOT NULL DEFAULT current_user,
    CHECK (finished_at >= started_at)
);
COMMENT ON TABLE mekatek.survey_cluster_run IS
'One row per mekatek.survey_cluster run: the survey, k, seed, the dimensions (in centroid column order), centroids in answer units, objective, iterations and simplified silhouette (NULL for k = 1)';

CREATE TABLE mekatek.survey_cluster_group (
    run_id      bigint NOT NULL REFERENCES mekatek.survey_cluster_run ON DELETE CASCADE,
    cluster_id  int NOT NULL,
    label       text NOT NULL,
    respondents bigint NOT NULL,
    satisfaction float8 NOT NULL,
    centroid    float8[] NOT NULL,
    PRIMARY KEY (run_id, cluster_id)
);
COMMENT ON TABLE mekatek.survey_cluster_group IS
'The clusters of a survey clustering run, labelled by mean satisfaction (the mean of the centroid''s dimension means): high .. low';

CREATE TABLE mekatek.survey_cluster_member (
    run_id        bigint NOT NULL REFERENCES mekatek.survey_cluster_run ON DELETE CASCADE,
    respondent_id bigint NOT NULL REFERENCES mekatek.survey_respondent ON DELETE CASCADE,
    cluster_id    int NOT NULL,
    PRIMARY KEY (run_id, respondent_id),
    FOREIGN KEY (run_id, cluster_id) REFERENCES mekatek.survey_cluster_group
);
COMMENT ON TABLE mekatek.survey_cluster_member IS
'The cluster of each respondent in a survey clustering run';

-- The points of a survey: per respondent, the mean (reverse items
-- turned) of each dimension, dimensions in byte order.
CREATE FUNCTION mekatek.survey_points_query(survey_id bigint)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format($q$
        SELECT a.respondent_id,
               array_agg(a.m ORDER BY a.dimension COLLATE "C") AS point
          FROM (SELECT r.respondent_id, i.dimension,
                       avg(CASE WHEN i.reverse THEN s.scale_min + s.scale_max - x.value
                                ELSE x.value END)::float8 AS m
                  FROM mekatek.survey_respondent r
                  JOIN mekatek.survey s ON s.survey_id = r.survey_id
                  JOIN mekatek.survey_answer x ON x.respondent_id = r.respondent_id
                  JOIN mekatek.survey_item i ON i.survey_id = x.survey_id AND i.item_no = x.item_no
                 WHERE r.survey_id = %s
                 GROUP BY r.respondent_id, i.dimension) a
         GROUP BY a.respondent_id
         ORDER BY a.respondent_id $q$, survey_id)
$$;
COMMENT ON FUNCTION mekatek.survey_points_query(bigint) IS
'The query mekatek.survey_cluster clusters: each respondent''s mean answer per dimension (reverse items turned), dimensions in byte order';

CREATE FUNCTION mekatek.survey_cluster(survey text, k int DEFAULT 2, seed bigint DEFAULT 0,
                                       n_init int DEFAULT 10, standardize bool DEFAULT false)
RETURNS bigint
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    sid bigint;
    bad record;
    dims text[];
    q text;
    res mekatek.kmeans_result;
    run bigint;
    t0 timestamptz := clock_timestamp();
    ids bigint[];
    clusters int[];
    sil float8;
BEGIN
    SELECT s.survey_id INTO sid FROM mekatek.survey s WHERE s.name = survey;
    IF sid IS NULL THEN
        RAISE EXCEPTION 'survey "%" does not exist', left(survey, 40) USING ERRCODE = '22023',
            HINT = 'Surveys are rows of mekatek.survey.';
    END IF;
    SELECT x.respondent_id, x.item_no, x.value, s.scale_min, s.scale_max INTO bad
      FROM mekatek.survey_answer x JOIN mekatek.survey s ON s.survey_id = x.survey_id
     WHERE x.survey_id = sid AND x.value NOT BETWEEN s.scale_min AND s.scale_max
     ORDER BY x.respondent_id, x.item_no LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'respondent % answered % to item %, outside the survey''s scale %..%',
            bad.respondent_id, bad.value, bad.item_no, bad.scale_min, bad.scale_max
            USING ERRCODE = '22003';
    END IF;
    SELECT array_agg(d.dimension ORDER BY d.dimension COLLATE "C") INTO dims
      FROM (SELECT DISTINCT i.dimension FROM mekatek.survey_item i WHERE i.survey_id = sid) d;
    q := mekatek.survey_points_query(sid);
    res := mekatek.kmeans(q, k, n_init => n_init, seed => seed, standardize => standardize);

    SELECT array_agg(a.id ORDER BY a.id), array_agg(a.cluster_id ORDER BY a.id) INTO ids, clusters
      FROM mekatek.kmeans_assign(q, res.centroids, standardize) a;
    -- The assignment travels into the silhouette's query as literals: the
    -- run log is insert-only for analysts.
    IF k > 1 THEN
        sil := mekatek.silhouette(format(
            'SELECT a.c, p.point FROM (%s) p
               JOIN unnest(%L::bigint[], %L::int[]) a(id, c) ON a.id = p.respondent_id',
            q, ids, clusters));
    END IF;

    INSERT INTO mekatek.survey_cluster_run (survey_id, k, seed, n_init, standardize, dimensions,
                                            centroids, objective, iterations, silhouette,
                                            respondents, started_at, finished_at)
    VALUES (sid, k, seed, n_init, standardize, dims, res.centroids, res.objective_fn,
            res.num_iterations, sil, cardinality(ids), t0, clock_timestamp())
    RETURNING run_id INTO run;

    -- Labels by mean satisfaction: the highest cluster is "high", the
    -- lowest "low", for three "medium", otherwise "level N" between.
    INSERT INTO mekatek.survey_cluster_group (run_id, cluster_id, label, respondents, satisfaction, centroid)
    SELECT run, g.cluster_id,
           CASE WHEN k = 1 THEN 'all'
                WHEN g.pos = 1 THEN 'high'
                WHEN g.pos = k THEN 'low'
                WHEN k = 3 THEN 'medium'
                ELSE 'level ' || g.pos END,
           (SELECT count(*) FROM unnest(clusters) c WHERE c = g.cluster_id),
           g.satisfaction, g.centroid
      FROM (SELECT c.cluster_id, c.satisfaction, c.centroid,
                   row_number() OVER (ORDER BY c.satisfaction DESC, c.cluster_id) AS pos
              FROM (SELECT j - 1 AS cluster_id,
                           (SELECT avg(v) FROM unnest(res.centroids[j:j][:]) v) AS satisfaction,
                           ARRAY(SELECT unnest(res.centroids[j:j][:])) AS centroid
                      FROM generate_series(1, k) j) c) g;

    INSERT INTO mekatek.survey_cluster_member (run_id, respondent_id, cluster_id)
    SELECT run, u.id, u.c FROM unnest(ids, clusters) u(id, c);

    RETURN run;
END
$$;
COMMENT ON FUNCTION mekatek.survey_cluster(text, int, bigint, int, bool) IS
'Clusters the respondents of a survey on their per-dimension means with mekatek.kmeans (k-means++, n_init restarts, seed), labels the clusters by mean satisfaction (high .. low) and stores the run in mekatek.survey_cluster_run, _group and _member; returns the run id';

CREATE VIEW mekatek.survey_latest_cluster AS
SELECT s.name AS survey, r.run_id, r.finished_at, g.cluster_id, g.label, g.respondents,
       g.satisfaction, g.centroid, r.dimensions
  FROM (SELECT DISTINCT ON (survey_id) * FROM mekatek.survey_cluster_run
         ORDER BY survey_id, run_id DESC) r
  JOIN mekatek.survey s ON s.survey_id = r.survey_id
  JOIN mekatek.survey_cluster_group g ON g.run_id = r.run_id;
COMMENT ON VIEW mekatek.survey_latest_cluster IS
'The clusters of the latest clustering run of each survey';

SELECT pg_catalog.pg_extension_config_dump('mekatek.survey', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.survey_item', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.survey_respondent', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.survey_answer', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.survey_cluster_run', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.survey_cluster_group', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.survey_cluster_member', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.smarter_criterion', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.smarter_value', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.survey_survey_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.survey_respondent_respondent_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.survey_cluster_run_run_id_seq', '');

-- Analysts and admins run every function; admins own the data, analysts
-- read it and record their clustering runs (as basket's run log).
GRANT EXECUTE ON FUNCTION
    mekatek.kmeans(text, int, text, int, float8, int, bigint, float8[], bool),
    mekatek.kmeans_assign(text, float8[], bool),
    mekatek.silhouette(text),
    mekatek.silhouette(text, float8[]),
    mekatek.kmeans_step_trans(internal, float8[], float8[]),
    mekatek.kmeans_step_combine(internal, internal),
    mekatek.kmeans_step_serialize(internal),
    mekatek.kmeans_step_deserialize(bytea, internal),
    mekatek.kmeans_step_final(internal),
    mekatek.kmeans_step_objective_final(internal),
    mekatek.kmeans_step(float8[], float8[]),
    mekatek.kmeans_step_objective(float8[], float8[]),
    mekatek.sus_score(smallint[], bool),
    mekatek.sus_interpret(float8),
    mekatek.sus_summary_trans(internal, smallint[]),
    mekatek.sus_summary_trans(internal, smallint[], bool),
    mekatek.sus_summary_combine(internal, internal),
    mekatek.sus_summary_serialize(internal),
    mekatek.sus_summary_deserialize(bytea, internal),
    mekatek.sus_summary_final(internal),
    mekatek.sus_summary(smallint[]),
    mekatek.sus_summary(smallint[], bool),
    mekatek.likert_index(int[], int[], int[]),
    mekatek.roc_weights(int),
    mekatek.rank_weights(int[], text),
    mekatek.smarter_value_of(jsonb, text, text, text),
    mekatek.smarter_rank(jsonb, text),
    mekatek.smarter_rank(text, text),
    mekatek.survey_points_query(bigint),
    mekatek.survey_cluster(text, int, bigint, int, bool)
  TO mekatek_analyst, mekatek_admin;
GRANT SELECT, INSERT, UPDATE, DELETE ON mekatek.survey, mekatek.survey_item,
    mekatek.survey_respondent, mekatek.survey_answer, mekatek.survey_cluster_run,
    mekatek.survey_cluster_group, mekatek.survey_cluster_member,
    mekatek.smarter_criterion, mekatek.smarter_value TO mekatek_admin;
GRANT SELECT ON mekatek.survey, mekatek.survey_item, mekatek.survey_respondent,
    mekatek.survey_answer, mekatek.survey_cluster_run, mekatek.survey_cluster_group,
    mekatek.survey_cluster_member, mekatek.smarter_criterion, mekatek.smarter_value,
    mekatek.survey_latest_cluster TO mekatek_analyst;
GRANT SELECT ON mekatek.survey_latest_cluster TO mekatek_admin;
GRANT INSERT ON mekatek.survey_cluster_run, mekatek.survey_cluster_group,
    mekatek.survey_cluster_member TO mekatek_analyst;
