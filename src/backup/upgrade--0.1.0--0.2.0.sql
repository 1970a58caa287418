-- Mekatek upgrade 0.1.0 -> 0.2.0, module backup.

-- The self-reference made every pg_dump warn about a dependency loop.
ALTER TABLE mekatek.backup_object DROP CONSTRAINT backup_object_duplicate_of_fkey;

-- pg_dump writes the policy, the targets and the catalogue (and the
-- sequences' positions); see README, DBA.
SELECT pg_catalog.pg_extension_config_dump('mekatek.backup_config', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.backup_target', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.backup_object', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.backup_target_target_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.backup_object_object_id_seq', '');

-- A restore loads the dumped policy row into a table to which CREATE
-- EXTENSION has just given its default row: the loaded row replaces the
-- default instead of failing on the primary key (and the values a DBA set
-- survive).  ENABLE ALWAYS, because the restore procedure and logical
-- replication apply rows with session_replication_role = replica, where
-- ordinary triggers are silent.
CREATE FUNCTION mekatek.backup_config_replace() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    DELETE FROM mekatek.backup_config c WHERE c.singleton = NEW.singleton;
    RETURN NEW;
END $$;
COMMENT ON FUNCTION mekatek.backup_config_replace() IS
'Trigger: an inserted backup_config row (a restore) replaces the one row instead of colliding with it';
CREATE TRIGGER backup_config_replace BEFORE INSERT ON mekatek.backup_config
    FOR EACH ROW EXECUTE FUNCTION mekatek.backup_config_replace();
ALTER TABLE mekatek.backup_config ENABLE ALWAYS TRIGGER backup_config_replace;

-- backup_run becomes a procedure that commits each target's row and ends
-- with an ERROR when a target failed; one target is backup_run_target; a
-- duplicate is recorded only after a HEAD request (s3_object_size).
DROP FUNCTION mekatek.backup_run(text);
CREATE FUNCTION mekatek.s3_object_size(bucket text, key text)
RETURNS bigint
LANGUAGE c VOLATILE STRICT
AS 'MODULE_PATHNAME', 'mk_s3_object_size';
COMMENT ON FUNCTION mekatek.s3_object_size(text, text) IS
'Size of a stored S3 object from a HEAD request; NULL when it is absent; an ERROR when S3 cannot be asked';

-- One target, in the caller's transaction.  A failure of the export is
-- not an ERROR here: the row says failed and why (and a WARNING), so that
-- the caller decides; backup_run commits each target's row and raises once
-- every target has been tried.
CREATE FUNCTION mekatek.backup_run_target(target text, category text DEFAULT NULL)
RETURNS mekatek.backup_object
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, mekatek, pg_temp
AS $$
DECLARE
    cfg   mekatek.backup_config;
    t     mekatek.backup_target;
    prev  mekatek.backup_object;
    cat   text := category;
    k     text;
    q     text;
    r     record;
    skip  text;
    size  bigint;
    oid_  bigint;
    err   text;
    o     mekatek.backup_object;
BEGIN
    SELECT * INTO cfg FROM mekatek.backup_config;
    IF cfg.bucket IS NULL THEN
        RAISE EXCEPTION 'backups have no bucket: mekatek.backup_config.bucket is null'
            USING ERRCODE = '55000', HINT = 'UPDATE mekatek.backup_config SET bucket = ''my-bucket'';';
    END IF;
    IF cat IS NULL THEN
        cat := mekatek.backup_category(((now() AT TIME ZONE 'UTC') - cfg.category_lag)::date);
    ELSIF cat NOT IN ('daily', 'weekly', 'monthly') THEN
        RAISE EXCEPTION 'invalid backup category "%"', cat
            USING ERRCODE = '22023', HINT = 'Use daily, weekly or monthly, or NULL for the calendar rule.';
    END IF;
    SELECT * INTO t FROM mekatek.backup_target x WHERE x.name = backup_run_target.target;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'backup target "%" does not exist', left(backup_run_target.target, 100)
            USING ERRCODE = '22023', HINT = 'See SELECT name FROM mekatek.backup_target;';
    END IF;

    k := format('%s/%s/%s/%s/%s.csv.gz', cfg.prefix, current_database(), t.name, cat,
                to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYYMMDD"T"HH24MISS.MS"Z"'));
    q := coalesce(t.query, format('TABLE %s', t.table_name));
    SELECT * INTO prev FROM mekatek.backup_object x
     WHERE x.target_id = t.target_id AND x.status IN ('uploaded', 'duplicate')
     ORDER BY x.object_id DESC LIMIT 1;
    INSERT INTO mekatek.backup_object (target_id, category, bucket, key)
    VALUES (t.target_id, cat, cfg.bucket, k)
    RETURNING object_id INTO oid_;
    BEGIN
        -- An export equal to the previous object is recorded as its
        -- duplicate only when the store confirms that object is there
        -- with its size; absent or of another size, the export is stored
        -- anew.  S3 unreachable: the HEAD fails, and so does the target.
        IF prev.object_id IS NOT NULL THEN
            size := mekatek.s3_object_size(prev.bucket, prev.key);
            IF size IS NOT DISTINCT FROM prev.bytes THEN
                skip := prev.sha256;
            END IF;
        END IF;
        SELECT * INTO r FROM mekatek.backup_export_object(
            q, cfg.bucket, k,
            format('format csv, header true, compression gzip, part_size %L, server_side_encryption %s',
                   cfg.part_size, CASE WHEN cfg.server_side_encryption THEN 'AES256' ELSE 'none' END),
            skip,
            -- a table target's SQL is ours: the caller's rights suffice
            CASE WHEN t.query IS NULL THEN current_user ELSE t.owner END);
        IF r.uploaded THEN
            UPDATE mekatek.backup_object x
               SET status = 'uploaded', rows = r.rows, bytes = r.bytes, sha256 = r.sha256,
                   attempts = r.attempts, finished_at = clock_timestamp()
             WHERE x.object_id = oid_;
        ELSE
            UPDATE mekatek.backup_object x
               SET status = 'duplicate', key = prev.key, bucket = prev.bucket,
                   duplicate_of = coalesce(prev.duplicate_of, prev.object_id),
                   rows = r.rows, bytes = r.bytes, sha256 = r.sha256,
                   attempts = r.attempts, finished_at = clock_timestamp()
             WHERE x.object_id = oid_;
        END IF;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS err = MESSAGE_TEXT;
        UPDATE mekatek.backup_object x
           SET status = 'failed', error = err, finished_at = clock_timestamp(),
               attempts = coalesce((regexp_match(err, 'after (\d+) attempt'))[1]::int, 1)
         WHERE x.object_id = oid_;
        RAISE WARNING 'backup of target "%" failed: %', t.name, err;
    END;
    SELECT * INTO o FROM mekatek.backup_object x WHERE x.object_id = oid_;
    RETURN o;
END
$$;
COMMENT ON FUNCTION mekatek.backup_run_target(text, text) IS
'Export one backup target to <prefix>/<database>/<target>/<category>/<UTC timestamp>.csv.gz in the current transaction and return its backup_object row: uploaded, duplicate (same SHA-256 as the previous object, which a HEAD request found in place with its size) or failed (WARNING; error says why)';

-- The targets of a run, and its category (computed once for the run).
CREATE FUNCTION mekatek.backup_run_plan(category text, target text)
RETURNS TABLE (target_name text, run_category text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, mekatek, pg_temp
AS $$
DECLARE
    cfg mekatek.backup_config;
    cat text := backup_run_plan.category;
BEGIN
    SELECT * INTO cfg FROM mekatek.backup_config;
    IF cfg.bucket IS NULL THEN
        RAISE EXCEPTION 'backups have no bucket: mekatek.backup_config.bucket is null'
            USING ERRCODE = '55000', HINT = 'UPDATE mekatek.backup_config SET bucket = ''my-bucket'';';
    END IF;
    IF cat IS NULL THEN
        cat := mekatek.backup_category(((now() AT TIME ZONE 'UTC') - cfg.category_lag)::date);
    ELSIF cat NOT IN ('daily', 'weekly', 'monthly') THEN
        RAISE EXCEPTION 'invalid backup category "%"', cat
            USING ERRCODE = '22023', HINT = 'Use daily, weekly or monthly, or NULL for the calendar rule.';
    END IF;
    IF backup_run_plan.target IS NOT NULL THEN
        IF NOT EXISTS (SELECT FROM mekatek.backup_target t WHERE t.name = backup_run_plan.target) THEN
            RAISE EXCEPTION 'backup target "%" does not exist', left(backup_run_plan.target, 100)
                USING ERRCODE = '22023', HINT = 'See SELECT name FROM mekatek.backup_target;';
        END IF;
        RETURN QUERY SELECT backup_run_plan.target, cat;
        RETURN;
    END IF;
    RETURN QUERY SELECT t.name, cat FROM mekatek.backup_target t WHERE t.enabled ORDER BY t.target_id;
    IF NOT FOUND THEN
        RAISE WARNING 'no backup target is enabled: nothing was exported'
            USING HINT = 'INSERT INTO mekatek.backup_target (name, table_name) VALUES (''sales'', ''mekatek.sale'');';
    END IF;
END
$$;
COMMENT ON FUNCTION mekatek.backup_run_plan(text, text) IS
'The targets backup_run exports (every enabled one, or the one named) with the run''s category; WARNING when no target is enabled';

-- A procedure, so that each target's catalogue row is committed before
-- the next target starts: the ERROR that ends a run with a failed target
-- (and makes pg_cron record the job as failed) then erases none of them,
-- and an object uploaded before the failure stays catalogued.  Hence also
-- no SET search_path (a procedure with one may not COMMIT): every name is
-- qualified, and the work is done by the functions above, which pin it.
-- CALL it outside a transaction block, as pg_cron does.
CREATE PROCEDURE mekatek.backup_run(category text DEFAULT NULL, target text DEFAULT NULL)
LANGUAGE plpgsql
AS $$
DECLARE
    p      record;
    o      mekatek.backup_object;
    failed text[] := '{}';
    n      integer := 0;
BEGIN
    FOR p IN SELECT * FROM mekatek.backup_run_plan(backup_run.category, backup_run.target) LOOP
        o := mekatek.backup_run_target(p.target_name, p.run_category);
        n := n OPERATOR(pg_catalog.+) 1;
        IF o.status OPERATOR(pg_catalog.=) 'failed' THEN
            failed := pg_catalog.array_append(failed, pg_catalog.format('%s (%s)', p.target_name, o.error));
        END IF;
        COMMIT;
    END LOOP;
    IF pg_catalog.cardinality(failed) OPERATOR(pg_catalog.>) 0 THEN
        RAISE EXCEPTION 'backup failed for % of % targets: %', pg_catalog.cardinality(failed), n,
                        pg_catalog.array_to_string(failed, '; ')
            USING ERRCODE = '58030',
                  HINT = 'Every target was tried and its row kept in mekatek.backup_object: status failed with the error, or uploaded or duplicate.';
    END IF;
END
$$;
COMMENT ON PROCEDURE mekatek.backup_run(text, text) IS
'CALL mekatek.backup_run(): export every enabled backup target (or target => name) and commit each target''s backup_object row; ends with an ERROR naming the failed targets after trying them all; WARNING when no target is enabled';

GRANT EXECUTE ON PROCEDURE mekatek.backup_run(text, text) TO mekatek_admin;
GRANT EXECUTE ON FUNCTION
    mekatek.s3_object_size(text, text),
    mekatek.backup_run_target(text, text),
    mekatek.backup_run_plan(text, text)
TO mekatek_admin;

-- Issue 14 §2: a target's query runs with the rights of the role that
-- wrote it.  Who wrote the existing rows is not recorded: they run with
-- mekatek_admin's rights, never a superuser's.
ALTER TABLE mekatek.backup_target ADD COLUMN owner name;
UPDATE mekatek.backup_target SET owner = 'mekatek_admin';
ALTER TABLE mekatek.backup_target ALTER COLUMN owner SET NOT NULL,
                                  ALTER COLUMN owner SET DEFAULT current_user;
COMMENT ON TABLE mekatek.backup_target IS
'What backup_run exports: a table (restorable in place) or a query (restorable into a named table), read with the rights of owner, the role that wrote the row';
COMMENT ON COLUMN mekatek.backup_target.owner IS
'The role whose rights the export runs with: whoever last inserted or updated the row (a superuser may name another, as a restore from pg_dump does)';
CREATE FUNCTION mekatek.backup_target_owner() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.owner IS NULL OR NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user) THEN
        NEW.owner := current_user;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION mekatek.backup_target_owner() IS
'Trigger: sets backup_target.owner to the role writing the row, unless a superuser names one';
CREATE TRIGGER backup_target_owner BEFORE INSERT OR UPDATE ON mekatek.backup_target
    FOR EACH ROW EXECUTE FUNCTION mekatek.backup_target_owner();

DROP FUNCTION mekatek.backup_export_object(text, text, text, text, text);
CREATE FUNCTION mekatek.backup_export_object(query text, bucket text, key text, options text,
                                             skip_if_sha256 text, owner name,
                                             OUT rows bigint, OUT bytes bigint, OUT sha256 text,
                                             OUT attempts integer, OUT uploaded boolean)
RETURNS record
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'mk_backup_export_object';
COMMENT ON FUNCTION mekatek.backup_export_object(text, text, text, text, text, name) IS
'The export behind backup_run: like s3_export, run as the role owner (the caller must have its privileges), read-only, and returns the object''s SHA-256; an export whose SHA-256 equals skip_if_sha256 is not stored (its multipart upload is aborted)';
REVOKE ALL ON FUNCTION mekatek.backup_export_object(text, text, text, text, text, name) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION mekatek.backup_export_object(text, text, text, text, text, name) TO mekatek_admin;
