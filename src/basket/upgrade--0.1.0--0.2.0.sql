-- Mekatek upgrade 0.1.0 -> 0.2.0, module basket.

-- sales_rules: one IF ... ELSIF for its period checks.
CREATE OR REPLACE FUNCTION mekatek.sales_rules(from_date date, to_date date,
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
    RETURN QUERY SELECT * FROM mekatek.apriori(format(
        $q$SELECT l.sale_id, p.sku
             FROM mekatek.sale s
             JOIN mekatek.sale_line l ON l.sale_id = s.sale_id
             JOIN mekatek.product p ON p.product_id = l.product_id
            WHERE s.status = 'paid' AND s.sold_at >= %L::date AND s.sold_at < %L::date + 1$q$,
        from_date, to_date), min_support, min_confidence);
END
$$;

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
