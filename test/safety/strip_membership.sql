-- Makes every member of the extension an ordinary object, so that
-- pg_dump --schema-only writes it out (it writes an extension's members as
-- one CREATE EXTENSION line).  For comparing two databases' schemas only:
-- the database is useless for anything else afterwards.
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT CASE i.type WHEN 'composite type' THEN 'type' ELSE i.type END AS type, i.identity
          FROM pg_catalog.pg_depend d,
               LATERAL pg_catalog.pg_identify_object(d.classid, d.objid, d.objsubid) i
         WHERE d.refclassid = 'pg_catalog.pg_extension'::regclass
           AND d.refobjid = (SELECT oid FROM pg_catalog.pg_extension WHERE extname = 'mekatek')
           AND d.deptype = 'e'
    LOOP
        EXECUTE format('ALTER EXTENSION mekatek DROP %s %s', r.type, r.identity);
    END LOOP;
END
$$;
