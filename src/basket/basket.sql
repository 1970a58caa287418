-- Mekatek install script, module basket (frequent itemsets and
-- association rules).  The engine is C (src/basket/engine.c); these are
-- its SQL entry points, the run log and the counting aggregate.

CREATE FUNCTION mekatek.frequent_itemsets(transactions text, min_support float8,
                                          max_len int DEFAULT NULL, min_len int DEFAULT NULL,
                                          target text DEFAULT 'frequent', exclude text[] DEFAULT NULL,
                                          ordered boolean DEFAULT true, top bigint DEFAULT NULL)
RETURNS TABLE (items text[], count bigint, support float8)
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'mk_frequent_itemsets';
COMMENT ON FUNCTION mekatek.frequent_itemsets(text, float8, int, int, text, text[], boolean, bigint) IS
'Frequent itemsets (count >= min_support * N) of the baskets returned by a query: (transaction id, item) rows or one array per basket; NULL items are ignored.  target: frequent, closed (no superset has the same count) or maximal (no superset is frequent); exclude: items no returned set holds; ordered => false returns rows unsorted; top => n only the n most frequent';

CREATE FUNCTION mekatek.apriori(transactions text, min_support float8,
                                min_confidence float8 DEFAULT 0, max_len int DEFAULT NULL,
                                min_lift float8 DEFAULT NULL, min_len int DEFAULT NULL,
                                max_antecedent int DEFAULT NULL, max_consequent int DEFAULT 1,
                                lhs text[] DEFAULT NULL, rhs text[] DEFAULT NULL,
                                exclude text[] DEFAULT NULL, remove_redundant boolean DEFAULT false,
                                ordered boolean DEFAULT true, top bigint DEFAULT NULL,
                                top_by text DEFAULT 'support')
RETURNS TABLE (antecedent text[], consequent text[], support float8, confidence float8,
               lift float8, leverage float8, conviction float8, count bigint,
               chi_square float8, fisher_p float8)
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'mk_apriori';
COMMENT ON FUNCTION mekatek.apriori(text, float8, float8, int, float8, int, int, int, text[], text[], text[], boolean, boolean, bigint, text) IS
'Association rules antecedent => consequent (non-empty antecedent, 1 .. max_consequent items on the right) of the baskets returned by a query, with support, confidence, lift, leverage, conviction, chi-square and Fisher''s exact p-value; filters min_lift, min_len, max_antecedent, lhs/rhs (items allowed on each side), exclude, remove_redundant; ordered => false returns rows unsorted; top => n only the n best by top_by (support, confidence or lift)';

-- The run log: mine once, let web pages read the latest rules.
CREATE TABLE mekatek.basket_run (
    run_id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name           text NOT NULL,
    started_at     timestamptz NOT NULL,
    finished_at    timestamptz NOT NULL,
    transactions   bigint NOT NULL,
    itemsets       bigint NOT NULL,
    rules          bigint NOT NULL,
    min_support    float8 NOT NULL,
    min_confidence float8 NOT NULL,
    max_len        int,
    query          text NOT NULL,
    run_by         name NOT NULL DEFAULT current_user,
    parameters     jsonb,
    CHECK (finished_at >= started_at)
);
CREATE INDEX basket_run_name_idx ON mekatek.basket_run (name, run_id DESC);
COMMENT ON TABLE mekatek.basket_run IS
'One row per mekatek.basket_mine run: when, on which query, with which thresholds (parameters: every argument given, as jsonb), and how many transactions, itemsets and rules (finished_at: when mining ended)';

CREATE TABLE mekatek.basket_itemset (
    run_id  bigint NOT NULL REFERENCES mekatek.basket_run ON DELETE CASCADE,
    items   text[] NOT NULL,
    count   bigint NOT NULL,
    support float8 NOT NULL,
    PRIMARY KEY (run_id, items)
);
COMMENT ON TABLE mekatek.basket_itemset IS
'The frequent itemsets of a mekatek.basket_mine run';

CREATE TABLE mekatek.basket_rule (
    run_id     bigint NOT NULL REFERENCES mekatek.basket_run ON DELETE CASCADE,
    rule_no    int NOT NULL,
    antecedent text[] NOT NULL,
    consequent text[] NOT NULL,
    support    float8 NOT NULL,
    confidence float8 NOT NULL,
    lift       float8 NOT NULL,
    leverage   float8 NOT NULL,
    conviction float8 NOT NULL,
    count      bigint NOT NULL,
    chi_square float8,
    fisher_p   float8,
    PRIMARY KEY (run_id, rule_no)
);
COMMENT ON TABLE mekatek.basket_rule IS
'The rules of a mekatek.basket_run, numbered in mekatek.apriori''s order (support, then confidence descending)';

CREATE VIEW mekatek.basket_latest_rule AS
SELECT r.name, r.finished_at, x.*
  FROM (SELECT DISTINCT ON (name) * FROM mekatek.basket_run ORDER BY name, run_id DESC) r
  JOIN mekatek.basket_rule x USING (run_id);
COMMENT ON VIEW mekatek.basket_latest_rule IS
'The rules of the latest run of each name, for pages that show rules without mining again';

CREATE FUNCTION mekatek.basket_mine(name text, transactions text, min_support float8,
                                    min_confidence float8 DEFAULT 0, max_len int DEFAULT NULL,
                                    min_lift float8 DEFAULT NULL, min_len int DEFAULT NULL,
                                    max_antecedent int DEFAULT NULL, max_consequent int DEFAULT 1,
                                    lhs text[] DEFAULT NULL, rhs text[] DEFAULT NULL,
                                    exclude text[] DEFAULT NULL, remove_redundant boolean DEFAULT false)
RETURNS bigint
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'mk_basket_mine';
COMMENT ON FUNCTION mekatek.basket_mine(text, text, float8, float8, int, float8, int, int, int, text[], text[], text[], boolean) IS
'Mine the baskets of a query once (the filters of mekatek.apriori) and keep the run and its parameters in mekatek.basket_run, its itemsets in mekatek.basket_itemset and its rules in mekatek.basket_rule; returns the run_id';

-- The counting pass as a parallel aggregate: workers count their share of
-- the baskets, the leader adds the partial counts (serialised as bytea).
CREATE FUNCTION mekatek.basket_counts_trans(internal, anyarray, jsonb) RETURNS internal
LANGUAGE c CALLED ON NULL INPUT PARALLEL SAFE AS 'MODULE_PATHNAME', 'mk_basket_counts_trans';
COMMENT ON FUNCTION mekatek.basket_counts_trans(internal, anyarray, jsonb) IS
'Transition function of mekatek.basket_counts';
CREATE FUNCTION mekatek.basket_counts_combine(internal, internal) RETURNS internal
LANGUAGE c CALLED ON NULL INPUT PARALLEL SAFE AS 'MODULE_PATHNAME', 'mk_basket_counts_combine';
COMMENT ON FUNCTION mekatek.basket_counts_combine(internal, internal) IS
'Combine function of mekatek.basket_counts: adds partial counts';
CREATE FUNCTION mekatek.basket_counts_serialize(internal) RETURNS bytea
LANGUAGE c STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'mk_basket_counts_serialize';
COMMENT ON FUNCTION mekatek.basket_counts_serialize(internal) IS
'Serialise function of mekatek.basket_counts';
CREATE FUNCTION mekatek.basket_counts_deserialize(bytea, internal) RETURNS internal
LANGUAGE c STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'mk_basket_counts_deserialize';
COMMENT ON FUNCTION mekatek.basket_counts_deserialize(bytea, internal) IS
'Deserialise function of mekatek.basket_counts';
CREATE FUNCTION mekatek.basket_counts_final(internal) RETURNS jsonb
LANGUAGE c CALLED ON NULL INPUT PARALLEL SAFE AS 'MODULE_PATHNAME', 'mk_basket_counts_final';
COMMENT ON FUNCTION mekatek.basket_counts_final(internal) IS
'Final function of mekatek.basket_counts: {"transactions": N, "itemsets": [{"items": [...], "count": c}, ...]}';

CREATE AGGREGATE mekatek.basket_counts(basket anyarray, candidates jsonb) (
    SFUNC = mekatek.basket_counts_trans, STYPE = internal,
    COMBINEFUNC = mekatek.basket_counts_combine,
    SERIALFUNC = mekatek.basket_counts_serialize,
    DESERIALFUNC = mekatek.basket_counts_deserialize,
    FINALFUNC = mekatek.basket_counts_final,
    PARALLEL = SAFE);
COMMENT ON AGGREGATE mekatek.basket_counts(anyarray, jsonb) IS
'The counting pass as a parallel aggregate: the number of baskets and of baskets containing each candidate itemset ([["a","b"], ...]), or each item when candidates is NULL (Apriori''s first pass), as jsonb; NULL items ignored, duplicates counted once';

-- The same counting split across servers (issue 22, the path to Citus):
-- each branch server counts its baskets into the serialised state, which
-- headquarters adds up; the bytes are those Citus ships from a worker.
CREATE FUNCTION mekatek.basket_counts_partial_final(internal) RETURNS bytea
LANGUAGE c CALLED ON NULL INPUT PARALLEL SAFE AS 'MODULE_PATHNAME', 'mk_basket_counts_partial_final';
COMMENT ON FUNCTION mekatek.basket_counts_partial_final(internal) IS
'Final function of mekatek.basket_counts_partial: the counting state as bytes (format version, encoding, counts)';
CREATE AGGREGATE mekatek.basket_counts_partial(basket anyarray, candidates jsonb) (
    SFUNC = mekatek.basket_counts_trans, STYPE = internal,
    COMBINEFUNC = mekatek.basket_counts_combine,
    SERIALFUNC = mekatek.basket_counts_serialize,
    DESERIALFUNC = mekatek.basket_counts_deserialize,
    FINALFUNC = mekatek.basket_counts_partial_final,
    PARALLEL = SAFE);
COMMENT ON AGGREGATE mekatek.basket_counts_partial(anyarray, jsonb) IS
'mekatek.basket_counts up to its partial state, as bytea, for another server to add up with mekatek.basket_counts_merge (NULL over no rows)';
CREATE FUNCTION mekatek.basket_counts_merge_trans(internal, bytea) RETURNS internal
LANGUAGE c CALLED ON NULL INPUT PARALLEL SAFE AS 'MODULE_PATHNAME', 'mk_basket_counts_merge_trans';
COMMENT ON FUNCTION mekatek.basket_counts_merge_trans(internal, bytea) IS
'Transition function of mekatek.basket_counts_merge: reads and checks one partial state and adds its counts';
CREATE AGGREGATE mekatek.basket_counts_merge(state bytea) (
    SFUNC = mekatek.basket_counts_merge_trans, STYPE = internal,
    COMBINEFUNC = mekatek.basket_counts_combine,
    SERIALFUNC = mekatek.basket_counts_serialize,
    DESERIALFUNC = mekatek.basket_counts_deserialize,
    FINALFUNC = mekatek.basket_counts_final,
    PARALLEL = SAFE);
COMMENT ON AGGREGATE mekatek.basket_counts_merge(bytea) IS
'Adds up partial states of mekatek.basket_counts_partial (from any servers, counting the same candidates) into the result of mekatek.basket_counts over all their baskets; NULL states are skipped';

-- The pharmacy: which medicines are bought together.  Runs as the caller
-- (analysts may read the sales), over paid sales only.
CREATE FUNCTION mekatek.sales_rules(from_date date, to_date date,
                                    min_support float8 DEFAULT 0.01, min_confidence float8 DEFAULT 0.5)
RETURNS TABLE (antecedent text[], consequent text[], support float8, confidence float8,
               lift float8, leverage float8, conviction float8, count bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF from_date IS NULL OR to_date IS NULL THEN
        RAISE EXCEPTION 'sales_rules: from_date and to_date must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    ELSIF to_date < from_date THEN
        RAISE EXCEPTION 'sales_rules: to_date % is before from_date %', to_date, from_date
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY SELECT a.antecedent, a.consequent, a.support, a.confidence, a.lift,
                        a.leverage, a.conviction, a.count
      FROM mekatek.apriori(format(
        $q$SELECT l.sale_id, p.sku
             FROM mekatek.sale s
             JOIN mekatek.sale_line l ON l.sale_id = s.sale_id
             JOIN mekatek.product p ON p.product_id = l.product_id
            WHERE s.status = 'paid' AND s.sold_at >= %L::date AND s.sold_at < %L::date + 1$q$,
        from_date, to_date), min_support, min_confidence) a;
END
$$;
COMMENT ON FUNCTION mekatek.sales_rules(date, date, float8, float8) IS
'Association rules between medicines over the paid sales between two dates inclusive: one basket per sale, items are SKUs';

GRANT EXECUTE ON FUNCTION mekatek.sales_rules(date, date, float8, float8),
                          mekatek.frequent_itemsets(text, float8, int, int, text, text[], boolean, bigint),
                          mekatek.basket_counts(anyarray, jsonb),
                          mekatek.basket_counts_partial(anyarray, jsonb),
                          mekatek.basket_counts_merge(bytea),
                          mekatek.apriori(text, float8, float8, int, float8, int, int, int, text[], text[], text[], boolean, boolean, bigint, text),
                          mekatek.basket_mine(text, text, float8, float8, int, float8, int, int, int, text[], text[], text[], boolean)
   TO mekatek_analyst;
-- basket_mine runs the caller's query as the caller (never as its owner), so
-- the caller writes the log itself: analysts add runs, admins clean up.
GRANT SELECT, INSERT ON mekatek.basket_run, mekatek.basket_itemset, mekatek.basket_rule
   TO mekatek_analyst;
GRANT SELECT ON mekatek.basket_latest_rule TO mekatek_analyst;
GRANT DELETE ON mekatek.basket_run, mekatek.basket_itemset, mekatek.basket_rule
   TO mekatek_admin;

-- ---------------------------------------------------------------------
-- pg_dump: these tables hold what users wrote, so pg_dump must write
-- their rows (and the sequences' positions) although they belong to the
-- extension.  A restore loads them with session_replication_role =
-- replica so that no trigger acts on them a second time (README, DBA).
-- ---------------------------------------------------------------------
SELECT pg_catalog.pg_extension_config_dump('mekatek.basket_run', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.basket_itemset', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.basket_rule', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.basket_run_run_id_seq', '');
