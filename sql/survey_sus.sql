-- survey: System Usability Scale scores and their summary.
--
-- The legal-aid app paper (../shared/seeds/004, "Tabel 1 Hasil Skor SUS",
-- 15 respondents) prints each item's contribution (0..4), not the raw
-- answers: odd items contribute answer - 1, even items 5 - answer.  The
-- raw answers are reconstructed from them, then scored by
-- mekatek.sus_score.  The paper's row R15 is wrong: its contributions sum
-- to 30, which is 75 points, but the paper prints 70 (and its mean of 80
-- rounds 79.67 of its own column; the correct mean is 80).
SET extra_float_digits = 0;

CREATE TEMP TABLE sus_paper (r int PRIMARY KEY, contrib int[], paper_score numeric);
INSERT INTO sus_paper VALUES
    (1,  '{4,4,4,3,3,3,4,4,4,1}', 85),
    (2,  '{3,4,4,3,4,3,3,4,4,1}', 82.5),
    (3,  '{4,3,4,3,3,4,2,3,4,2}', 80),
    (4,  '{4,2,3,2,4,2,4,2,3,3}', 72.5),
    (5,  '{4,3,4,2,4,3,4,3,4,2}', 82.5),
    (6,  '{4,2,4,3,4,4,4,3,4,3}', 87.5),
    (7,  '{3,3,3,3,4,3,3,3,4,3}', 80),
    (8,  '{3,2,3,3,3,3,3,3,3,4}', 75),
    (9,  '{3,2,4,1,4,3,4,3,3,3}', 75),
    (10, '{3,4,4,3,3,3,4,3,3,4}', 85),
    (11, '{3,2,3,1,3,4,2,3,4,4}', 72.5),
    (12, '{2,4,4,3,4,4,4,3,4,2}', 85),
    (13, '{3,3,3,4,3,4,3,3,4,3}', 82.5),
    (14, '{2,4,4,3,4,3,3,3,3,3}', 80),
    (15, '{3,3,4,3,3,3,3,3,3,2}', 70);

-- Raw answers: odd items contribution + 1, even items 5 - contribution.
CREATE TEMP VIEW sus_answer AS
SELECT r, ARRAY(SELECT (CASE WHEN i % 2 = 1 THEN c + 1 ELSE 5 - c END)::smallint
                  FROM unnest(contrib) WITH ORDINALITY u(c, i) ORDER BY i) AS answers,
       paper_score
  FROM sus_paper;

SELECT r, answers, mekatek.sus_score(answers) AS score, paper_score,
       CASE WHEN mekatek.sus_score(answers) <> paper_score THEN 'paper is wrong' END AS note
  FROM sus_answer ORDER BY r;

-- The summary of the 15: mean 80 ("acceptable", adjective "excellent"
-- as the paper says; Sauro and Lewis grade A-), t interval with 14 df.
SELECT n, mean, round(sd::numeric, 4) AS sd, round(ci_low::numeric, 4) AS ci_low,
       round(ci_high::numeric, 4) AS ci_high, median, adjective, acceptability, grade,
       round(percentile::numeric, 2) AS percentile
  FROM (SELECT (mekatek.sus_summary(answers)).* FROM sus_answer) s;

-- The paper's own column averages 79.67: the R15 error moves the mean.
SELECT round(avg(paper_score), 2) AS paper_column_mean FROM sus_paper;

-- Scoring: extremes, the all-positive variant, and interpretation bands.
SELECT mekatek.sus_score('{5,1,5,1,5,1,5,1,5,1}') AS best,
       mekatek.sus_score('{1,5,1,5,1,5,1,5,1,5}') AS worst,
       mekatek.sus_score('{3,3,3,3,3,3,3,3,3,3}') AS neutral,
       mekatek.sus_score('{5,5,5,5,5,5,5,5,5,5}', all_positive => true) AS all_positive_best;
SELECT s AS score, i.adjective, i.acceptability, i.grade, round(i.percentile::numeric, 2) AS percentile
  FROM unnest('{0,16.4,28,43.3,50,55,62.5,65,68,72.5,74,77.2,78.9,80,80.75,84.1,88.2,90,100}'::float8[]) s,
       mekatek.sus_interpret(s) i;
-- One response: no standard deviation or interval; NULL responses skipped.
SELECT n, mean, sd, ci_low, median FROM (SELECT (mekatek.sus_summary(a)).*
  FROM (VALUES ('{4,2,4,2,4,2,4,2,4,2}'::smallint[]), (NULL)) v(a)) s;
-- No response at all: NULL.
SELECT mekatek.sus_summary(a) IS NULL AS empty FROM (SELECT NULL::smallint[] AS a WHERE false) v;
-- The all-positive summary.
SELECT n, mean FROM (SELECT (mekatek.sus_summary(a, true)).*
  FROM (VALUES ('{4,4,4,4,4,4,4,4,4,4}'::smallint[]), ('{5,5,5,5,5,5,5,5,5,5}')) v(a)) s;

-- Bad input: a clear error with the item named.
SELECT mekatek.sus_score('{4,2,4,2,4,2,4,2,4}');
SELECT mekatek.sus_score('{4,2,4,2,4,2,4,2,4,6}');
SELECT mekatek.sus_score('{4,2,4,NULL,4,2,4,2,4,2}');
SELECT mekatek.sus_score('{0,2,4,2,4,2,4,2,4,2}');
SELECT mekatek.sus_interpret(101);
SELECT mekatek.sus_interpret('NaN');
