-- Mekatek upgrade 0.1.0 -> 0.2.0, module backup.

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

CREATE OR REPLACE FUNCTION mekatek.backup_run(category text DEFAULT NULL)
RETURNS SETOF mekatek.backup_object
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
    oid_  bigint;
    err   text;
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

    FOR t IN SELECT * FROM mekatek.backup_target WHERE enabled ORDER BY target_id LOOP
        k := format('%s/%s/%s/%s/%s.csv.gz', cfg.prefix, current_database(), t.name, cat,
                    to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYYMMDD"T"HH24MISS.MS"Z"'));
        q := coalesce(t.query, format('TABLE %s', t.table_name));
        SELECT * INTO prev FROM mekatek.backup_object o
         WHERE o.target_id = t.target_id AND o.status IN ('uploaded', 'duplicate')
         ORDER BY o.object_id DESC LIMIT 1;
        INSERT INTO mekatek.backup_object (target_id, category, bucket, key)
        VALUES (t.target_id, cat, cfg.bucket, k)
        RETURNING object_id INTO oid_;
        BEGIN
            SELECT * INTO r FROM mekatek.backup_export_object(
                q, cfg.bucket, k,
                format('format csv, header true, compression gzip, part_size %L, server_side_encryption %s',
                       cfg.part_size, CASE WHEN cfg.server_side_encryption THEN 'AES256' ELSE 'none' END),
                prev.sha256,
                -- a table target's SQL is ours: the caller's rights suffice
                CASE WHEN t.query IS NULL THEN current_user ELSE t.owner END);
            IF r.uploaded THEN
                UPDATE mekatek.backup_object o
                   SET status = 'uploaded', rows = r.rows, bytes = r.bytes, sha256 = r.sha256,
                       attempts = r.attempts, finished_at = clock_timestamp()
                 WHERE o.object_id = oid_;
            ELSE
                UPDATE mekatek.backup_object o
                   SET status = 'duplicate', key = prev.key,
                       duplicate_of = coalesce(prev.duplicate_of, prev.object_id),
                       rows = r.rows, bytes = r.bytes, sha256 = r.sha256,
                       attempts = r.attempts, finished_at = clock_timestamp()
                 WHERE o.object_id = oid_;
            END IF;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS err = MESSAGE_TEXT;
            UPDATE mekatek.backup_object o
               SET status = 'failed', error = err, finished_at = clock_timestamp(),
                   attempts = coalesce((regexp_match(err, 'after (\d+) attempt'))[1]::int, 1)
             WHERE o.object_id = oid_;
            RAISE WARNING 'backup of target "%" failed: %', t.name, err;
        END;
        RETURN QUERY SELECT * FROM mekatek.backup_object o WHERE o.object_id = oid_;
    END LOOP;
END
$$;
COMMENT ON FUNCTION mekatek.backup_run(text) IS
'Export every enabled backup target to <prefix>/<database>/<target>/<category>/<UTC timestamp>.csv.gz and record it in backup_object; a failed target is recorded as failed (WARNING) and the others go on; an export identical to the target''s last object is recorded as duplicate, not stored again';
