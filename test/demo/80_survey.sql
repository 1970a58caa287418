-- survey: the seed papers' questionnaires scored and clustered in the database.
\echo
\echo '== survey: SUS of the legal-aid app (15 respondents, 004 Tabel 1) =='
\echo 'The paper prints item contributions; raw answers are rebuilt, scored, and R15 is wrong (75, not 70):'
CREATE TABLE public.sus_paper (r int PRIMARY KEY, contrib int[], paper_score numeric);
INSERT INTO public.sus_paper VALUES
    (1, '{4,4,4,3,3,3,4,4,4,1}', 85), (2, '{3,4,4,3,4,3,3,4,4,1}', 82.5),
    (3, '{4,3,4,3,3,4,2,3,4,2}', 80), (4, '{4,2,3,2,4,2,4,2,3,3}', 72.5),
    (5, '{4,3,4,2,4,3,4,3,4,2}', 82.5), (6, '{4,2,4,3,4,4,4,3,4,3}', 87.5),
    (7, '{3,3,3,3,4,3,3,3,4,3}', 80), (8, '{3,2,3,3,3,3,3,3,3,4}', 75),
    (9, '{3,2,4,1,4,3,4,3,3,3}', 75), (10, '{3,4,4,3,3,3,4,3,3,4}', 85),
    (11, '{3,2,3,1,3,4,2,3,4,4}', 72.5), (12, '{2,4,4,3,4,4,4,3,4,2}', 85),
    (13, '{3,3,3,4,3,4,3,3,4,3}', 82.5), (14, '{2,4,4,3,4,3,3,3,3,3}', 80),
    (15, '{3,3,4,3,3,3,3,3,3,2}', 70);
CREATE VIEW public.sus_answer AS
SELECT r, ARRAY(SELECT (CASE WHEN i % 2 = 1 THEN c + 1 ELSE 5 - c END)::smallint
                  FROM unnest(contrib) WITH ORDINALITY u(c, i) ORDER BY i) AS answers, paper_score
  FROM public.sus_paper;
SELECT r, answers, mekatek.sus_score(answers) AS score, paper_score
  FROM public.sus_answer WHERE mekatek.sus_score(answers) <> paper_score;
SELECT n, mean, round(ci_low::numeric, 1) AS ci_low, round(ci_high::numeric, 1) AS ci_high,
       adjective, acceptability, grade, round(percentile::numeric) AS percentile
  FROM (SELECT (mekatek.sus_summary(answers)).* FROM public.sus_answer) s;

\echo
\echo '== survey: Likert index of the WhatsApp bot (004 Tabel 2): 514 of 600 =='
SELECT responses, weighted_total, max_total, round(percent::numeric, 2) AS percent, verdict
  FROM mekatek.likert_index('{{0,0,0,0,15},{0,0,3,4,8},{0,0,3,8,4},{0,2,3,9,1},
                              {0,0,0,6,9},{1,1,4,6,3},{0,0,0,7,8},{0,0,0,7,8}}');
\echo 'Item 1 ("has the display changed?") scored the way it is worded:'
SELECT weighted_total, round(percent::numeric, 2) AS percent, verdict
  FROM mekatek.likert_index('{{0,0,0,0,15},{0,0,3,4,8},{0,0,3,8,4},{0,2,3,9,1},
                              {0,0,0,6,9},{1,1,4,6,3},{0,0,0,7,8},{0,0,0,7,8}}', reverse_items => '{1}');

\echo
\echo '== survey: 2,000 customers clustered on five SERVQUAL dimensions =='
INSERT INTO mekatek.survey (name) VALUES ('demo e-learning');
INSERT INTO mekatek.survey_item (survey_id, item_no, dimension)
SELECT survey_id, i, (ARRAY['tangible', 'reliability', 'responsiveness', 'assurance', 'empathy'])[(i + 1) / 2]
  FROM mekatek.survey, generate_series(1, 10) i WHERE name = 'demo e-learning';
INSERT INTO mekatek.survey_respondent (survey_id, label)
SELECT survey_id, 'S' || s FROM mekatek.survey, generate_series(1, 2000) s WHERE name = 'demo e-learning';
SELECT setseed(0.5);
INSERT INTO mekatek.survey_answer (respondent_id, survey_id, item_no, value)
SELECT r.respondent_id, r.survey_id, i,
       least(5, greatest(1, round(CASE WHEN r.respondent_id % 4 = 0 THEN 2 ELSE 4 END + random() * 2 - 1)))
  FROM mekatek.survey_respondent r JOIN mekatek.survey s USING (survey_id), generate_series(1, 10) i
 WHERE s.name = 'demo e-learning';
SELECT mekatek.survey_cluster('demo e-learning', 2) AS run_id;
SELECT label, respondents, round(satisfaction::numeric, 2) AS satisfaction,
       (SELECT array_agg(round(v::numeric, 2)) FROM unnest(centroid) v) AS centroid, dimensions
  FROM mekatek.survey_latest_cluster WHERE survey = 'demo e-learning' ORDER BY satisfaction DESC;

\echo
\echo '== survey: SMARTER with rank order centroid weights =='
SELECT mekatek.roc_weights(3) AS roc_3;
\echo 'Choosing a coffee supplier: price (cost) matters most, then quality, then delivery days (cost):'
INSERT INTO mekatek.smarter_criterion VALUES
    ('supplier', 'price', 1, 'cost'), ('supplier', 'quality', 2, 'benefit'), ('supplier', 'days', 3, 'cost');
INSERT INTO mekatek.smarter_value VALUES
    ('supplier', 'A', 'price', 100), ('supplier', 'A', 'quality', 7), ('supplier', 'A', 'days', 2),
    ('supplier', 'B', 'price', 80),  ('supplier', 'B', 'quality', 5), ('supplier', 'B', 'days', 4),
    ('supplier', 'C', 'price', 120), ('supplier', 'C', 'quality', 9), ('supplier', 'C', 'days', 1);
SELECT * FROM mekatek.smarter_rank('supplier');
