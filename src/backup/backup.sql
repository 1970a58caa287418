-- Mekatek install script, module backup (S3 export, import, catalogue,
-- retention, verified restore).  The transfer code is C (src/s3_*.c,
-- src/catalog.c); this file is the interface, the catalogue and the
-- policy.  Credentials live in the superuser-only settings
-- mekatek.s3_access_key_id / mekatek.s3_secret_access_key, never in a table.

-- aws_s3.query_export_to_s3's shape.
CREATE FUNCTION mekatek.s3_export(query text, bucket text, key text, options text DEFAULT '')
RETURNS TABLE(rows_uploaded bigint, files_uploaded bigint, bytes_uploaded bigint)
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'mk_s3_export';
COMMENT ON FUNCTION mekatek.s3_export(text, text, text, text) IS
'Export a query to one S3 object through COPY TO: options are COPY options plus compression gzip|none, compression_level, part_size, server_side_encryption AES256; multipart, each part''s SHA-256 signed, retries, abort on failure';

-- aws_s3.table_import_from_s3's shape.
CREATE FUNCTION mekatek.s3_import(table_name text, column_list text, options text, bucket text, key text)
RETURNS text
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'mk_s3_import';
COMMENT ON FUNCTION mekatek.s3_import(text, text, text, text, text) IS
'Stream an S3 object into a table through COPY FROM (gzip recognised); returns "N rows imported into relation ... of B bytes"';

CREATE FUNCTION mekatek.s3_object_digest(bucket text, key text, OUT bytes bigint, OUT sha256 text)
RETURNS record
LANGUAGE c VOLATILE STRICT
AS 'MODULE_PATHNAME', 'mk_s3_object_digest';
COMMENT ON FUNCTION mekatek.s3_object_digest(text, text) IS
'Download an S3 object and return its size and SHA-256 (hex); nothing is kept';

CREATE FUNCTION mekatek.s3_delete_object(bucket text, key text)
RETURNS boolean
LANGUAGE c VOLATILE STRICT
AS 'MODULE_PATHNAME', 'mk_s3_delete_object';
COMMENT ON FUNCTION mekatek.s3_delete_object(text, text) IS
'Delete an S3 object; true when it is gone (deleted now or absent already)';

CREATE FUNCTION mekatek.s3_restore(bucket text, key text, sha256 text, bytes bigint,
                                   into_table regclass, replace boolean, options text DEFAULT '')
RETURNS bigint
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'mk_s3_restore';
COMMENT ON FUNCTION mekatek.s3_restore(text, text, text, bigint, regclass, boolean, text) IS
'Download an S3 object to a temporary file, check its size and SHA-256, then (only then) empty the table when replace and COPY the object into it; returns the rows loaded';

CREATE FUNCTION mekatek.backup_export_object(query text, bucket text, key text, options text,
                                             skip_if_sha256 text, owner name,
                                             OUT rows bigint, OUT bytes bigint, OUT sha256 text,
                                             OUT attempts integer, OUT uploaded boolean)
RETURNS record
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'mk_backup_export_object';
COMMENT ON FUNCTION mekatek.backup_export_object(text, text, text, text, text, name) IS
'The export behind backup_run: like s3_export, run as the role owner (the caller must have its privileges), read-only, and returns the object''s SHA-256; an export whose SHA-256 equals skip_if_sha256 is not stored (its multipart upload is aborted)';

-- The policy: one row.
CREATE TABLE mekatek.backup_config (
    singleton      boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    bucket         text CHECK (bucket ~ '^[a-z0-9.-]{3,63}$'),
    prefix         text NOT NULL DEFAULT 'mekatek' CHECK (prefix ~ '^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$'),
    part_size      text NOT NULL DEFAULT '16MB',
    server_side_encryption boolean NOT NULL DEFAULT false,
    weekly_isodow  integer NOT NULL DEFAULT 1 CHECK (weekly_isodow BETWEEN 1 AND 7),
    monthly_week   integer NOT NULL DEFAULT 4 CHECK (monthly_week BETWEEN 1 AND 5),
    category_lag   interval NOT NULL DEFAULT '1 day',
    keep_daily     integer NOT NULL DEFAULT 7 CHECK (keep_daily >= 1),
    keep_weekly    integer NOT NULL DEFAULT 4 CHECK (keep_weekly >= 1),
    keep_monthly   integer NOT NULL DEFAULT 12 CHECK (keep_monthly >= 1),
    time_zone      text CONSTRAINT backup_config_time_zone_known
                   CHECK (time_zone IS NULL OR pg_catalog.timezone(time_zone, timestamptz '2000-01-01 00:00+00') IS NOT NULL),
    keep_daily_days   integer NOT NULL DEFAULT 7 CHECK (keep_daily_days >= 0),
    keep_weekly_days  integer NOT NULL DEFAULT 28 CHECK (keep_weekly_days >= 0),
    keep_monthly_days integer NOT NULL DEFAULT 365 CHECK (keep_monthly_days >= 0),
    catalogue_keep_days integer NOT NULL DEFAULT 90 CHECK (catalogue_keep_days >= 1),
    client_side_encryption boolean NOT NULL DEFAULT false,
    compression_workers integer NOT NULL DEFAULT 1 CHECK (compression_workers BETWEEN 0 AND 16),
    rto_target     interval NOT NULL DEFAULT '60 minutes' CHECK (rto_target > interval '0'),
    rpo_target     interval NOT NULL DEFAULT '1 day' CHECK (rpo_target > interval '0')
);
INSERT INTO mekatek.backup_config DEFAULT VALUES;
COMMENT ON TABLE mekatek.backup_config IS
'Backup policy (one row): bucket and key prefix, part size, SSE, the category rule (weekly_isodow 1 = Monday; the Monday of the monthly_week-th week of the month is monthly; the day classified is the local date of the run minus category_lag, in time_zone) and retention per category';
COMMENT ON COLUMN mekatek.backup_config.time_zone IS
'The shop''s time zone (IANA name, e.g. Asia/Jakarta) for categories and retention days: NULL means the TimeZone sessions start with (the server''s configuration), never a session''s SET';
COMMENT ON COLUMN mekatek.backup_config.keep_daily_days IS
'Retention by age: backup_prune keeps a daily object for this many local days (the 001 paper''s seven), and the newest keep_daily whatever their age';
COMMENT ON COLUMN mekatek.backup_config.catalogue_keep_days IS
'backup_prune deletes catalogue rows of pruned and failed objects after this many local days (the 001 paper keeps its log 90 days); rows of stored objects stay';
COMMENT ON COLUMN mekatek.backup_config.client_side_encryption IS
'Encrypt every object with AES-256-GCM before it leaves the server, with the key named by backup_key_id() (from mekatek.backup_key_file or MEKATEK_BACKUP_KEY; never in SQL)';
COMMENT ON COLUMN mekatek.backup_config.compression_workers IS
'zstd worker threads per export (compression overlaps COPY''s formatting); 0 compresses in the backend itself';
COMMENT ON COLUMN mekatek.backup_config.rto_target IS
'Recovery time objective backup_drill compares its measured restore time with (the 001 paper: 60 minutes)';
COMMENT ON COLUMN mekatek.backup_config.rpo_target IS
'Recovery point objective backup_drill compares the age of the restored data with (the 001 paper: 1 day)';

CREATE TABLE mekatek.backup_target (
    target_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9_.-]{1,100}$'),
    query      text,
    table_name regclass,
    enabled    boolean NOT NULL DEFAULT true,
    owner      name NOT NULL DEFAULT current_user,
    CHECK ((query IS NULL) <> (table_name IS NULL)),
    compression text NOT NULL DEFAULT 'gzip' CHECK (compression IN ('gzip', 'zstd', 'none'))
);
COMMENT ON TABLE mekatek.backup_target IS
'What backup_run exports: a table (restorable in place) or a query (restorable into a named table), read with the rights of owner, the role that wrote the row';
COMMENT ON COLUMN mekatek.backup_target.compression IS
'How the target''s objects are compressed: gzip (zlib level 1), zstd (level 1, with backup_config.compression_workers threads) or none';
COMMENT ON COLUMN mekatek.backup_target.owner IS
'The role whose rights the export runs with: whoever last inserted or updated the row (a superuser may name another, as a restore from pg_dump does)';

-- Issue 14 §2: the query runs as the role that wrote it, so an admin can
-- never make a superuser's pg_cron job run SQL of its choosing.
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

-- One row per backup_run: its objects were exported in one transaction,
-- from one snapshot, so that a set restores as a consistent whole.
CREATE TABLE mekatek.backup_set (
    set_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    category    text NOT NULL CHECK (category IN ('daily', 'weekly', 'monthly')),
    started_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    snapshot_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    status      text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'complete', 'failed'))
);
COMMENT ON TABLE mekatek.backup_set IS
'Backup sets: the objects of one backup_run, exported from one snapshot (snapshot_at: the transaction start the data is as of); complete when every target was stored, failed when one was not';

CREATE TABLE mekatek.backup_object (
    object_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    target_id    bigint NOT NULL REFERENCES mekatek.backup_target,
    category     text NOT NULL CHECK (category IN ('daily', 'weekly', 'monthly')),
    bucket       text NOT NULL,
    key          text NOT NULL,
    rows         bigint,
    bytes        bigint,
    sha256       text CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    started_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at  timestamptz,
    attempts     integer NOT NULL DEFAULT 0,
    status       text NOT NULL DEFAULT 'running'
                 CHECK (status IN ('running', 'uploaded', 'duplicate', 'failed', 'pruned')),
    error        text,
    -- No foreign key: a table referencing itself is a dependency loop for
    -- pg_dump's ordering of extension tables' data (it warns on every
    -- dump); backup_run is the only writer and points at a row it read.
    duplicate_of bigint,
    verified_at  timestamptz,
    pruned_at    timestamptz,
    set_id       bigint REFERENCES mekatek.backup_set,
    copied_from  bigint,
    key_id       text
);
CREATE INDEX ON mekatek.backup_object (set_id);
COMMENT ON COLUMN mekatek.backup_object.set_id IS
'The backup_set (run) the object was exported in, from the set''s snapshot; NULL for a backup_run_target called alone';
COMMENT ON COLUMN mekatek.backup_object.copied_from IS
'An object equal to the last one of another category, stored by a server-side S3 CopyObject of that object (its id here) under its own category''s prefix';
COMMENT ON COLUMN mekatek.backup_object.key_id IS
'The id of the AES-256-GCM key the object is encrypted with (also in the object''s header); NULL when not encrypted';
CREATE INDEX ON mekatek.backup_object (target_id, category, started_at);
COMMENT ON TABLE mekatek.backup_object IS
'Backup catalogue: one row per export; status uploaded, duplicate (same SHA-256 as the target''s previous object, not stored again: key points at it), failed (error says why), pruned (deleted by retention)';

-- pg_dump writes the policy, the targets and the catalogue (and the
-- sequences' positions); see README, DBA.
SELECT pg_catalog.pg_extension_config_dump('mekatek.backup_config', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.backup_target', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.backup_object', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.backup_target_target_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.backup_object_object_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.backup_set', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.backup_set_set_id_seq', '');

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

-- The 001 paper's rule: week_of_month = (day - 1) / 7 + 1; a Monday in the
-- fourth week is monthly, another Monday weekly; other days are daily.
CREATE FUNCTION mekatek.backup_category(day date)
RETURNS text
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, mekatek, pg_temp
AS $$
    SELECT CASE
             WHEN extract(isodow FROM day) = c.weekly_isodow
                  AND (extract(day FROM day)::int - 1) / 7 + 1 = c.monthly_week THEN 'monthly'
             WHEN extract(isodow FROM day) = c.weekly_isodow THEN 'weekly'
             ELSE 'daily'
           END
      FROM mekatek.backup_config c
$$;
COMMENT ON FUNCTION mekatek.backup_category(date) IS
'Backup category of a day: monthly for the configured weekday (Monday) in the configured week of the month (the fourth), weekly for that weekday otherwise, else daily';

-- The shop's calendar: the configured zone, else the server's own
-- TimeZone (reset_val: what the configuration gives a session, not a SET
-- of this one), so that pg_cron's GMT sessions and a DBA's psql agree.
CREATE FUNCTION mekatek.backup_time_zone()
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, mekatek, pg_temp
AS $$
    SELECT coalesce((SELECT c.time_zone FROM mekatek.backup_config c),
                    (SELECT s.reset_val FROM pg_catalog.pg_settings s WHERE s.name = 'TimeZone'))
$$;
COMMENT ON FUNCTION mekatek.backup_time_zone() IS
'The time zone backup categories are decided in: backup_config.time_zone, else the server''s configured TimeZone';

-- A run started at `at` backs up the local day before (category_lag):
-- the Jakarta pharmacy's Tuesday 01:00 WIB run is Monday's backup, though
-- in UTC it is still Monday and the day before a Sunday.
CREATE FUNCTION mekatek.backup_category(at timestamptz)
RETURNS text
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, mekatek, pg_temp
AS $$
    SELECT mekatek.backup_category(((at AT TIME ZONE mekatek.backup_time_zone()) - c.category_lag)::date)
      FROM mekatek.backup_config c
$$;
COMMENT ON FUNCTION mekatek.backup_category(timestamptz) IS
'Backup category of a run started at `at`: the category of the local day (backup_time_zone()) of `at` minus category_lag, the day backed up';

-- The key's timestamp: the run's local time in backup_time_zone(), so that
-- keys read as the shop's clock, like categories, then the same instant in
-- UTC, so that the two 01:30 of a night that leaves daylight saving stay
-- apart.  No UTC offset: a "+" in a key is mishandled by some S3 servers
-- and tools (a raw one in CopyObject's x-amz-copy-source is a space).
CREATE FUNCTION mekatek.backup_key_time(at timestamptz)
RETURNS text
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, mekatek, pg_temp
AS $$
    SELECT to_char(at AT TIME ZONE mekatek.backup_time_zone(), 'YYYYMMDD"T"HH24MISS.MS')
           || '_' || to_char(at AT TIME ZONE 'UTC', 'YYYYMMDD"T"HH24MISS"Z"')
$$;
COMMENT ON FUNCTION mekatek.backup_key_time(timestamptz) IS
'The timestamp in a backup object''s key for a run at `at`: local time in backup_time_zone(), then the instant in UTC, e.g. 20261124T010000.000_20261123T180000Z';

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
CREATE FUNCTION mekatek.backup_run_target(target text, category text DEFAULT NULL, set_id bigint DEFAULT NULL)
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
    kid   text;
BEGIN
    SELECT * INTO cfg FROM mekatek.backup_config;
    IF cfg.bucket IS NULL THEN
        RAISE EXCEPTION 'backups have no bucket: mekatek.backup_config.bucket is null'
            USING ERRCODE = '55000', HINT = 'UPDATE mekatek.backup_config SET bucket = ''my-bucket'';';
    END IF;
    IF cat IS NULL THEN
        cat := mekatek.backup_category(now());
    ELSIF cat NOT IN ('daily', 'weekly', 'monthly') THEN
        RAISE EXCEPTION 'invalid backup category "%"', cat
            USING ERRCODE = '22023', HINT = 'Use daily, weekly or monthly, or NULL for the calendar rule.';
    END IF;
    SELECT * INTO t FROM mekatek.backup_target x WHERE x.name = backup_run_target.target;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'backup target "%" does not exist', left(backup_run_target.target, 100)
            USING ERRCODE = '22023', HINT = 'See SELECT name FROM mekatek.backup_target;';
    END IF;

    IF cfg.client_side_encryption THEN
        kid := mekatek.backup_key_id();
        IF kid IS NULL THEN
            RAISE EXCEPTION 'client-side encryption is on but no backup key is set up'
                USING ERRCODE = '55000',
                      HINT = 'Set mekatek.backup_key_file (a file of "<key id> <64 hex digits>" lines, mode 0600) in the server''s configuration, or MEKATEK_BACKUP_KEY in its environment.';
        END IF;
    END IF;
    k := format('%s/%s/%s/%s/%s.csv%s%s', cfg.prefix, current_database(), t.name, cat,
                mekatek.backup_key_time(clock_timestamp()),
                CASE t.compression WHEN 'gzip' THEN '.gz' WHEN 'zstd' THEN '.zst' ELSE '' END,
                CASE WHEN kid IS NOT NULL THEN '.mke' ELSE '' END);
    q := coalesce(t.query, format('TABLE %s', t.table_name));
    SELECT * INTO prev FROM mekatek.backup_object x
     WHERE x.target_id = t.target_id AND x.status IN ('uploaded', 'duplicate')
     ORDER BY x.object_id DESC LIMIT 1;
    INSERT INTO mekatek.backup_object (target_id, category, bucket, key, set_id, key_id)
    VALUES (t.target_id, cat, cfg.bucket, k, backup_run_target.set_id, kid)
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
            format('format csv, header true, compression %s, part_size %L, server_side_encryption %s%s%s',
                   t.compression, cfg.part_size, CASE WHEN cfg.server_side_encryption THEN 'AES256' ELSE 'none' END,
                   CASE WHEN t.compression = 'zstd' THEN format(', compression_workers %s', cfg.compression_workers) ELSE '' END,
                   CASE WHEN kid IS NOT NULL THEN format(', encryption_key_id %L', kid) ELSE '' END),
            skip,
            -- a table target's SQL is ours: the caller's rights suffice
            CASE WHEN t.query IS NULL THEN current_user ELSE t.owner END);
        IF r.uploaded THEN
            UPDATE mekatek.backup_object x
               SET status = 'uploaded', rows = r.rows, bytes = r.bytes, sha256 = r.sha256,
                   attempts = r.attempts, finished_at = clock_timestamp()
             WHERE x.object_id = oid_;
        ELSIF prev.category <> cat THEN
            -- Equal to the last object of another category (a monthly run
            -- after an unchanged weekly): a server-side copy under this
            -- category's own prefix, so that each category's retention
            -- deletes only its own files.
            PERFORM mekatek.s3_copy_object(prev.bucket, prev.key, cfg.bucket, k);
            UPDATE mekatek.backup_object x
               SET status = 'uploaded', rows = r.rows, bytes = r.bytes, sha256 = r.sha256,
                   attempts = r.attempts, finished_at = clock_timestamp(),
                   copied_from = coalesce(prev.copied_from, prev.duplicate_of, prev.object_id)
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
COMMENT ON FUNCTION mekatek.backup_run_target(text, text, bigint) IS
'Export one backup target to <prefix>/<database>/<target>/<category>/<local time>_<UTC time> (backup_key_time).csv.gz in the current transaction (and snapshot) and return its backup_object row, in set set_id when given: uploaded, duplicate (same SHA-256 as the previous object, which a HEAD request found in place with its size) or failed (WARNING; error says why)';

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
        cat := mekatek.backup_category(now());
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

-- A procedure, so that the run's transaction is its own: every target of
-- the run is exported in one REPEATABLE READ transaction, hence from one
-- snapshot (a set of sale and sale_line agrees with itself, as pg_dump's
-- tables do), and the set's rows are committed before the ERROR that ends
-- a run with a failed target (pg_cron then records the job as failed and
-- the catalogue keeps every row).  A target's failure is caught in
-- backup_run_target, so it does not undo the others.  No SET search_path
-- (a procedure with one may not COMMIT): every name is qualified, and the
-- work is done by the functions above, which pin it.  CALL it outside a
-- transaction block, as pg_cron does.
CREATE PROCEDURE mekatek.backup_run(category text DEFAULT NULL, target text DEFAULT NULL)
LANGUAGE plpgsql
AS $$
DECLARE
    p      record;
    o      mekatek.backup_object;
    failed text[] := '{}';
    n      integer := 0;
    sid    bigint;
BEGIN
    -- End the CALL's own transaction, whose snapshot is already taken, so
    -- that the next one can be REPEATABLE READ.
    COMMIT;
    SET TRANSACTION ISOLATION LEVEL REPEATABLE READ;
    FOR p IN SELECT * FROM mekatek.backup_run_plan(backup_run.category, backup_run.target) LOOP
        IF sid IS NULL THEN
            INSERT INTO mekatek.backup_set (category) VALUES (p.run_category) RETURNING set_id INTO sid;
        END IF;
        o := mekatek.backup_run_target(p.target_name, p.run_category, sid);
        n := n OPERATOR(pg_catalog.+) 1;
        IF o.status OPERATOR(pg_catalog.=) 'failed' THEN
            failed := pg_catalog.array_append(failed, pg_catalog.format('%s (%s)', p.target_name, o.error));
        END IF;
    END LOOP;
    UPDATE mekatek.backup_set s
       SET finished_at = pg_catalog.clock_timestamp(),
           status = CASE WHEN pg_catalog.cardinality(failed) OPERATOR(pg_catalog.=) 0 THEN 'complete' ELSE 'failed' END
     WHERE s.set_id OPERATOR(pg_catalog.=) sid;
    COMMIT;
    IF pg_catalog.cardinality(failed) OPERATOR(pg_catalog.>) 0 THEN
        RAISE EXCEPTION 'backup failed for % of % targets: %', pg_catalog.cardinality(failed), n,
                        pg_catalog.array_to_string(failed, '; ')
            USING ERRCODE = '58030',
                  HINT = 'Every target was tried and its row kept in mekatek.backup_object: status failed with the error, or uploaded or duplicate.';
    END IF;
END
$$;
COMMENT ON PROCEDURE mekatek.backup_run(text, text) IS
'CALL mekatek.backup_run(): export every enabled backup target (or target => name) in one REPEATABLE READ transaction, as one backup_set from one snapshot, and commit the rows; ends with an ERROR naming the failed targets after trying them all; WARNING when no target is enabled';

CREATE FUNCTION mekatek.backup_key_id()
RETURNS text
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'mk_backup_key_id_sql';
COMMENT ON FUNCTION mekatek.backup_key_id() IS
'The id (never the key) of the AES-256-GCM key new encrypted backups use: mekatek.backup_key_id, else the first key of mekatek.backup_key_file, else MEKATEK_BACKUP_KEY''s; NULL when none';

CREATE FUNCTION mekatek.s3_copy_object(source_bucket text, source_key text, bucket text, key text)
RETURNS boolean
LANGUAGE c VOLATILE STRICT
AS 'MODULE_PATHNAME', 'mk_s3_copy_object';
COMMENT ON FUNCTION mekatek.s3_copy_object(text, text, text, text) IS
'Server-side S3 CopyObject of source_bucket/source_key to bucket/key (nothing downloaded or uploaded); true, or an ERROR';

-- Retention, as documented in README (backup, "Catalogue, categories,
-- retention"): a live row (uploaded, duplicate) expires when it is older
-- than its category's days (local days in backup_time_zone()) and not
-- among the newest keep_<category> rows of its target and category.  A
-- file is deleted, and the rows on it marked pruned, only when every live
-- row on that file has expired: a kept duplicate keeps its original's
-- file and row.  Then the catalogue is trimmed of pruned and failed rows
-- older than catalogue_keep_days, and of sets left without rows.
CREATE FUNCTION mekatek.backup_prune(at timestamptz DEFAULT now())
RETURNS SETOF mekatek.backup_object
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, mekatek, pg_temp
AS $$
DECLARE
    f record;
    o mekatek.backup_object;
    err text;
    tz text := mekatek.backup_time_zone();
    today date;
    trimmed bigint;
BEGIN
    IF at IS NULL THEN
        RAISE EXCEPTION 'argument "at" must not be null' USING ERRCODE = '22004';
    END IF;
    today := (at AT TIME ZONE tz)::date;
    FOR f IN
        WITH live AS (
            SELECT x.object_id, x.bucket, x.key,
                   row_number() OVER (PARTITION BY x.target_id, x.category
                                      ORDER BY x.started_at DESC, x.object_id DESC) AS n,
                   today - (x.started_at AT TIME ZONE tz)::date AS age,
                   CASE x.category WHEN 'daily' THEN c.keep_daily WHEN 'weekly' THEN c.keep_weekly
                                   ELSE c.keep_monthly END AS keep_n,
                   CASE x.category WHEN 'daily' THEN c.keep_daily_days WHEN 'weekly' THEN c.keep_weekly_days
                                   ELSE c.keep_monthly_days END AS keep_days
              FROM mekatek.backup_object x, mekatek.backup_config c
             WHERE x.status IN ('uploaded', 'duplicate') AND x.started_at <= at)
        SELECT l.bucket, l.key, array_agg(l.object_id ORDER BY l.object_id) AS ids
          FROM live l
         GROUP BY l.bucket, l.key
        HAVING bool_and(l.n > l.keep_n AND l.age >= l.keep_days)
           -- a row started after `at` on the same file keeps it
           AND NOT EXISTS (SELECT FROM mekatek.backup_object y
                            WHERE y.bucket = l.bucket AND y.key = l.key
                              AND y.status IN ('uploaded', 'duplicate') AND y.started_at > at)
         ORDER BY min(l.object_id)
    LOOP
        BEGIN
            PERFORM mekatek.s3_delete_object(f.bucket, f.key);
            FOR o IN
                UPDATE mekatek.backup_object x SET status = 'pruned', pruned_at = clock_timestamp()
                 WHERE x.object_id = ANY (f.ids)
                RETURNING *
            LOOP
                RETURN NEXT o;
            END LOOP;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS err = MESSAGE_TEXT;
            RAISE WARNING 'backup object "%/%" (rows %) not pruned: %', f.bucket, f.key,
                          array_to_string(f.ids, ', '), err;
        END;
    END LOOP;

    -- The catalogue keeps its log catalogue_keep_days (never a row whose
    -- file is still stored: only pruned and failed rows go).
    DELETE FROM mekatek.backup_object x
     USING mekatek.backup_config c
     WHERE x.status IN ('pruned', 'failed')
       AND today - (coalesce(x.pruned_at, x.finished_at, x.started_at) AT TIME ZONE tz)::date >= c.catalogue_keep_days
       AND NOT EXISTS (SELECT FROM mekatek.backup_object y
                        WHERE y.bucket = x.bucket AND y.key = x.key AND y.status IN ('uploaded', 'duplicate'));
    GET DIAGNOSTICS trimmed = ROW_COUNT;
    DELETE FROM mekatek.backup_set s
     USING mekatek.backup_config c
     WHERE today - (s.started_at AT TIME ZONE tz)::date >= c.catalogue_keep_days
       AND NOT EXISTS (SELECT FROM mekatek.backup_object x WHERE x.set_id = s.set_id);
    IF trimmed > 0 THEN
        RAISE NOTICE 'backup catalogue: % rows of pruned or failed objects older than % days deleted',
                     trimmed, (SELECT c.catalogue_keep_days FROM mekatek.backup_config c);
    END IF;
END
$$;
COMMENT ON FUNCTION mekatek.backup_prune(timestamptz) IS
'Apply retention as of `at` (default now): a live object expires when older than keep_<category>_days local days and not among the newest keep_<category> of its target and category; a file is deleted from S3 (its rows marked pruned) only when every live row on it expired; then catalogue rows of pruned and failed objects older than catalogue_keep_days are deleted; returns the pruned rows';

CREATE FUNCTION mekatek.backup_verify(object_id bigint)
RETURNS boolean
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, mekatek, pg_temp
AS $$
DECLARE
    o mekatek.backup_object;
    d record;
BEGIN
    SELECT * INTO o FROM mekatek.backup_object x WHERE x.object_id = backup_verify.object_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'backup object % does not exist', object_id USING ERRCODE = '22023';
    END IF;
    IF o.status NOT IN ('uploaded', 'duplicate') THEN
        RAISE EXCEPTION 'backup object % is %: no stored object to verify', object_id, o.status
            USING ERRCODE = '55000';
    END IF;
    BEGIN
        SELECT * INTO d FROM mekatek.s3_object_digest(o.bucket, o.key);
    EXCEPTION WHEN undefined_file THEN
        RAISE WARNING 'backup object %: "%/%" is missing from the store', object_id, o.bucket, o.key;
        RETURN false;
    END;
    IF d.bytes = o.bytes AND d.sha256 = o.sha256 THEN
        UPDATE mekatek.backup_object x SET verified_at = clock_timestamp() WHERE x.object_id = o.object_id;
        RETURN true;
    END IF;
    RAISE WARNING 'backup object %: stored object has % bytes, sha256 %; the catalogue says % bytes, sha256 %',
        object_id, d.bytes, d.sha256, o.bytes, o.sha256;
    RETURN false;
END
$$;
COMMENT ON FUNCTION mekatek.backup_verify(bigint) IS
'Download a catalogued object and compare its size and SHA-256 with the catalogue; true (and verified_at set) when they match';

CREATE FUNCTION mekatek.backup_restore(object_id bigint, into_table regclass DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, mekatek, pg_temp
AS $$
DECLARE
    o mekatek.backup_object;
    dest regclass;
    referencing regclass;
BEGIN
    IF object_id IS NULL THEN
        RAISE EXCEPTION 'argument "object_id" must not be null' USING ERRCODE = '22004';
    END IF;
    SELECT * INTO o FROM mekatek.backup_object x WHERE x.object_id = backup_restore.object_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'backup object % does not exist', object_id USING ERRCODE = '22023';
    END IF;
    IF o.status NOT IN ('uploaded', 'duplicate') THEN
        RAISE EXCEPTION 'backup object % is %: nothing to restore', object_id, o.status
            USING ERRCODE = '55000';
    END IF;
    SELECT coalesce(into_table, t.table_name) INTO dest
      FROM mekatek.backup_target t WHERE t.target_id = o.target_id;
    IF dest IS NULL THEN
        RAISE EXCEPTION 'backup object % comes from a query, not a table', object_id
            USING ERRCODE = '22023', HINT = 'Name the table to restore into: backup_restore(object_id, ''my_table'').';
    END IF;
    -- TRUNCATE would refuse with "cannot truncate a table referenced in a
    -- foreign key constraint"; say what to do instead.
    SELECT c.conrelid::regclass INTO referencing FROM pg_catalog.pg_constraint c
     WHERE c.contype = 'f' AND c.confrelid = dest AND c.conrelid <> dest
     ORDER BY c.conrelid LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'backup object % cannot be restored into %: % references it by a foreign key',
                        object_id, dest, referencing
            USING ERRCODE = '0A000',
                  HINT = CASE WHEN o.set_id IS NULL
                              THEN 'Restore it into an empty copy: backup_restore(object_id, ''my_copy'').'
                              ELSE format('Restore its backup set, which holds the tables exported with it: SELECT * FROM mekatek.backup_restore_set(%s); or restore it into an empty copy: backup_restore(object_id, ''my_copy'').', o.set_id) END;
    END IF;
    RETURN mekatek.s3_restore(o.bucket, o.key, o.sha256, o.bytes, dest, true, 'format csv, header true');
END
$$;
COMMENT ON FUNCTION mekatek.backup_restore(bigint, regclass) IS
'Restore a catalogued object in the current transaction: download, verify size and SHA-256 before writing, then replace the rows of the target''s table (or of into_table) with the object''s; returns the rows loaded';

-- A set, restored as a whole: every object is downloaded and its size and
-- SHA-256 checked before anything is written; then, in the caller's one
-- transaction, the tables are emptied by one TRUNCATE and loaded parents
-- first, so that every foreign key holds at each row.  Into the original
-- tables the rows go in as a restore's do (session_replication_role =
-- replica): a trigger that acted when the row was first written (stock
-- movements, audit, an append-only guard's TRUNCATE veto) does not act again.
CREATE FUNCTION mekatek.backup_restore_set(set_id bigint, into_schema name DEFAULT NULL)
RETURNS TABLE (target_name text, restored_into regclass, rows_loaded bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, mekatek, pg_temp
AS $$
DECLARE
    st      mekatek.backup_set;
    objs    mekatek.backup_object[] := '{}';
    names   text[] := '{}';
    dests   regclass[] := '{}';
    done    boolean[] := '{}';
    r       record;
    d       record;
    n       integer;
    left_   integer;
    picked  boolean;
    loaded  bigint;
    old_role text;
BEGIN
    IF set_id IS NULL THEN
        RAISE EXCEPTION 'argument "set_id" must not be null' USING ERRCODE = '22004';
    END IF;
    SELECT * INTO st FROM mekatek.backup_set x WHERE x.set_id = backup_restore_set.set_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'backup set % does not exist', set_id
            USING ERRCODE = '22023', HINT = 'See SELECT set_id, category, snapshot_at, status FROM mekatek.backup_set;';
    END IF;
    IF st.status <> 'complete' THEN
        RAISE EXCEPTION 'backup set % is %: not every target of it was stored', set_id, st.status
            USING ERRCODE = '55000',
                  HINT = 'Restore another set, or its stored objects one by one with backup_restore(object_id).';
    END IF;
    IF into_schema IS NOT NULL AND NOT EXISTS (SELECT FROM pg_catalog.pg_namespace ns WHERE ns.nspname = into_schema) THEN
        RAISE EXCEPTION 'schema "%" does not exist', left(into_schema, 100)
            USING ERRCODE = '3F000', HINT = 'Create it and an empty copy of each table of the set in it.';
    END IF;
    FOR r IN
        SELECT o AS obj, t.name, t.table_name AS src, c.relname
          FROM mekatek.backup_object o
          JOIN mekatek.backup_target t ON t.target_id = o.target_id
          LEFT JOIN pg_catalog.pg_class c ON c.oid = t.table_name
         WHERE o.set_id = st.set_id AND o.status IN ('uploaded', 'duplicate')
         ORDER BY o.object_id
    LOOP
        IF r.src IS NULL THEN
            RAISE NOTICE 'target "%" of backup set % is a query: not restored', r.name, set_id
                USING HINT = 'Restore it into a table of your choice: backup_restore(object_id, ''my_table'').';
            CONTINUE;
        END IF;
        objs := objs || r.obj;
        names := names || r.name;
        IF into_schema IS NULL THEN
            dests := dests || r.src;
        ELSE
            dests := dests || to_regclass(format('%I.%I', into_schema, r.relname));
            IF dests[cardinality(dests)] IS NULL THEN
                RAISE EXCEPTION 'relation "%.%" does not exist', into_schema, r.relname
                    USING ERRCODE = '42P01',
                          HINT = format('CREATE TABLE %I.%I (LIKE %s INCLUDING ALL); for every table of the set, and their foreign keys.',
                                        into_schema, r.relname, r.src);
            END IF;
        END IF;
        done := done || false;
    END LOOP;
    n := cardinality(objs);
    IF n = 0 THEN
        RAISE EXCEPTION 'backup set % holds no table to restore', set_id USING ERRCODE = '55000';
    END IF;

    -- 1. A table outside the set that references one in it would be left
    -- pointing at rows of another moment (and TRUNCATE refuses).
    SELECT c.conrelid::regclass AS referencing, c.confrelid::regclass AS referenced INTO r
      FROM pg_catalog.pg_constraint c
     WHERE c.contype = 'f' AND c.confrelid = ANY (dests) AND NOT c.conrelid = ANY (dests)
     ORDER BY c.conrelid LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'backup set % cannot be restored into %: % references it by a foreign key and is not in the set',
                        set_id, r.referenced, r.referencing
            USING ERRCODE = '0A000',
                  HINT = format('Add a backup target for %s so that later sets hold it, or restore this set into an empty copy of the schema: backup_restore_set(%s, ''scratch'').',
                                r.referencing, set_id);
    END IF;

    -- 2. Every object checked before anything is written.
    FOR i IN 1 .. n LOOP
        SELECT * INTO d FROM mekatek.s3_object_digest(objs[i].bucket, objs[i].key);
        IF d.bytes IS DISTINCT FROM objs[i].bytes OR d.sha256 IS DISTINCT FROM objs[i].sha256 THEN
            RAISE EXCEPTION 'S3 object "%/%" of backup set % does not match the catalogue: % bytes with sha256 %, expected % bytes with sha256 %',
                            objs[i].bucket, objs[i].key, set_id, d.bytes, d.sha256, objs[i].bytes, objs[i].sha256
                USING ERRCODE = 'XX001', HINT = 'The stored object changed or was damaged; nothing was written. Restore another set.';
        END IF;
    END LOOP;

    IF into_schema IS NULL THEN
        old_role := current_setting('session_replication_role');
        BEGIN
            PERFORM set_config('session_replication_role', 'replica', true);
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE EXCEPTION 'restoring backup set % into the original tables needs session_replication_role = replica', set_id
                USING ERRCODE = '42501',
                      HINT = 'Run it as a superuser, or GRANT SET ON PARAMETER session_replication_role TO the role; or restore into an empty copy of the schema: backup_restore_set(set_id, ''scratch'').';
        END;
    END IF;
    EXECUTE 'TRUNCATE TABLE ' || array_to_string(dests::text[], ', ');

    -- 3. Parents first: a table is loaded once every table of the set that
    -- it references is (a cycle is loaded in catalogue order).
    left_ := n;
    WHILE left_ > 0 LOOP
        picked := false;
        FOR i IN 1 .. n LOOP
            CONTINUE WHEN done[i];
            CONTINUE WHEN EXISTS (
                SELECT FROM pg_catalog.pg_constraint c, generate_subscripts(dests, 1) j
                 WHERE c.contype = 'f' AND c.conrelid = dests[i] AND c.confrelid = dests[j]
                   AND j <> i AND NOT done[j] AND dests[j] <> dests[i]);
            loaded := mekatek.s3_restore(objs[i].bucket, objs[i].key, objs[i].sha256, objs[i].bytes,
                                         dests[i], false, 'format csv, header true');
            IF loaded IS DISTINCT FROM objs[i].rows THEN
                RAISE EXCEPTION 'backup object % loaded % rows into %, the catalogue says %',
                                objs[i].object_id, loaded, dests[i], objs[i].rows
                    USING ERRCODE = 'XX001';
            END IF;
            done[i] := true;
            left_ := left_ - 1;
            picked := true;
            target_name := names[i];
            restored_into := dests[i];
            rows_loaded := loaded;
            RETURN NEXT;
        END LOOP;
        IF NOT picked THEN
            FOR i IN 1 .. n LOOP
                IF NOT done[i] THEN
                    done[i] := true;
                    left_ := left_ - 1;
                    target_name := names[i];
                    restored_into := dests[i];
                    rows_loaded := mekatek.s3_restore(objs[i].bucket, objs[i].key, objs[i].sha256, objs[i].bytes,
                                                      dests[i], false, 'format csv, header true');
                    RETURN NEXT;
                END IF;
            END LOOP;
        END IF;
    END LOOP;
    IF into_schema IS NULL THEN
        PERFORM set_config('session_replication_role', old_role, true);
    END IF;
END
$$;
COMMENT ON FUNCTION mekatek.backup_restore_set(bigint, name) IS
'Restore a complete backup set in the current transaction: check every object''s size and SHA-256 first, then empty the original tables (or the same-named tables of into_schema) with one TRUNCATE and load them parents first; into the original tables with session_replication_role = replica, so triggers do not act twice; returns one row per table loaded';

-- Progress of exports, restores and imports, for a second session: the
-- COPY progress slot's spare parameters (src/backup/s3_copy.h), joined
-- with pg_stat_activity for the wait event (Extension while a request
-- waits on the network).  PostgreSQL shows a backend's progress to its
-- own role and to pg_read_all_stats.
CREATE FUNCTION mekatek.backup_progress()
RETURNS TABLE (pid integer, phase text, relid oid, rows_processed bigint, bytes_processed bigint,
               parts_done bigint, bytes_transferred bigint, retries bigint, wait_event text, query text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, mekatek, pg_temp
AS $$
    SELECT p.pid,
           CASE p.param12 WHEN 1 THEN 'exporting' WHEN 2 THEN 'uploading' WHEN 3 THEN 'downloading'
                          WHEN 4 THEN 'verifying' WHEN 5 THEN 'loading' END,
           p.relid, p.param3, p.param1, p.param13, p.param14, p.param15,
           a.wait_event_type || ':' || a.wait_event, a.query
      FROM pg_catalog.pg_stat_get_progress_info('COPY') p
      LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = p.pid
     WHERE p.param11 = 19787
$$;
COMMENT ON FUNCTION mekatek.backup_progress() IS
'Running exports, restores and imports: phase (exporting, uploading, downloading, verifying, loading), COPY''s rows and bytes, S3 parts uploaded, bytes stored or downloaded, retries so far, and the wait event (Extension:Extension while waiting on S3)';

-- Recovery drills: the 001 paper's restore test, measured.
CREATE TABLE mekatek.backup_drill (
    drill_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    set_id      bigint REFERENCES mekatek.backup_set,
    started_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    rto         interval,
    rpo         interval,
    tables      integer,
    rows        bigint,
    ok          boolean NOT NULL,
    meets_rto   boolean,
    meets_rpo   boolean,
    error       text
);
COMMENT ON TABLE mekatek.backup_drill IS
'Recovery drills (backup_drill): the set restored into a scratch schema, rto = the time the verified restore took, rpo = the age of the data restored (drill start - set snapshot), against backup_config''s targets; ok false with the error when the restore failed';
SELECT pg_catalog.pg_extension_config_dump('mekatek.backup_drill', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.backup_drill_drill_id_seq', '');

-- The drill restores into a schema of its own, dropped afterwards, so it
-- can run beside the tills (it reads S3 and writes only its scratch
-- tables).  It does not raise: the drill row says what happened, and a
-- WARNING when the restore failed or a target was missed.
CREATE FUNCTION mekatek.backup_drill(set_id bigint DEFAULT NULL)
RETURNS mekatek.backup_drill
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, mekatek, pg_temp
AS $$
DECLARE
    cfg     mekatek.backup_config;
    st      mekatek.backup_set;
    scratch text;
    t       record;
    t0      timestamptz;
    n       integer := 0;
    total   bigint := 0;
    d       mekatek.backup_drill;
    err     text;
BEGIN
    SELECT * INTO cfg FROM mekatek.backup_config;
    IF backup_drill.set_id IS NULL THEN
        SELECT * INTO st FROM mekatek.backup_set s WHERE s.status = 'complete'
         ORDER BY s.snapshot_at DESC, s.set_id DESC LIMIT 1;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'no complete backup set to drill'
                USING ERRCODE = '55000', HINT = 'CALL mekatek.backup_run(); first.';
        END IF;
    ELSE
        SELECT * INTO st FROM mekatek.backup_set s WHERE s.set_id = backup_drill.set_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'backup set % does not exist', backup_drill.set_id USING ERRCODE = '22023';
        END IF;
    END IF;
    scratch := format('mekatek_drill_%s_%s', st.set_id, pg_backend_pid());
    t0 := clock_timestamp();
    BEGIN
        EXECUTE format('CREATE SCHEMA %I', scratch);
        FOR t IN
            SELECT DISTINCT x.table_name, c.relname
              FROM mekatek.backup_object o
              JOIN mekatek.backup_target x ON x.target_id = o.target_id
              JOIN pg_catalog.pg_class c ON c.oid = x.table_name
             WHERE o.set_id = st.set_id AND o.status IN ('uploaded', 'duplicate')
        LOOP
            EXECUTE format('CREATE TABLE %I.%I (LIKE %s INCLUDING DEFAULTS INCLUDING GENERATED)',
                           scratch, t.relname, t.table_name);
        END LOOP;
        -- Verified (size, SHA-256, the tag of an encrypted object) and
        -- counted against the catalogue by backup_restore_set.
        SELECT count(*), coalesce(sum(r.rows_loaded), 0) INTO n, total
          FROM mekatek.backup_restore_set(st.set_id, scratch) r;
        EXECUTE format('DROP SCHEMA %I CASCADE', scratch);
        INSERT INTO mekatek.backup_drill (set_id, started_at, rto, rpo, tables, rows, ok, meets_rto, meets_rpo)
        VALUES (st.set_id, t0, clock_timestamp() - t0, t0 - st.snapshot_at, n, total, true,
                clock_timestamp() - t0 <= cfg.rto_target, t0 - st.snapshot_at <= cfg.rpo_target)
        RETURNING * INTO d;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS err = MESSAGE_TEXT;
        INSERT INTO mekatek.backup_drill (set_id, started_at, rto, rpo, ok, error)
        VALUES (st.set_id, t0, clock_timestamp() - t0, t0 - st.snapshot_at, false, err)
        RETURNING * INTO d;
    END;
    IF NOT d.ok THEN
        RAISE WARNING 'backup drill of set % failed: %', st.set_id, d.error;
    ELSIF NOT (d.meets_rto AND d.meets_rpo) THEN
        RAISE WARNING 'backup drill of set %: RTO % (target %), RPO % (target %)',
                      st.set_id, d.rto, cfg.rto_target, d.rpo, cfg.rpo_target;
    END IF;
    RETURN d;
END
$$;
COMMENT ON FUNCTION mekatek.backup_drill(bigint) IS
'Recovery drill: restore the latest complete set (or set_id) into a scratch schema with every object verified and counted, drop it, and record the RTO (restore time) and RPO (age of the data) against backup_config.rto_target and rpo_target in backup_drill; a WARNING when it failed or missed a target';

-- Health for monitoring: one row per metric, in the shape
-- prometheus-postgres-exporter's custom queries read (labels metric and
-- subject, one gauge value); the exporter's query file is
-- src/backup/postgres_exporter.yaml.  The other modules' tables are read
-- by name at run time (devices is installed after backup).  Each source
-- is one SELECT below, so that a column another module adds (a branch on
-- stock_alert) is a one-line change.  SECURITY DEFINER: the monitoring
-- role (pg_monitor) sees counts, never rows.
CREATE FUNCTION mekatek.health_metrics()
RETURNS TABLE (metric text, subject text, value double precision)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, mekatek, pg_temp
AS $$
BEGIN
    -- Age of each enabled target's last good object (-1: never).
    RETURN QUERY
    SELECT 'backup_last_good_age_seconds', t.name,
           coalesce(extract(epoch FROM now() - max(o.finished_at)), -1)::float8
      FROM mekatek.backup_target t
      LEFT JOIN mekatek.backup_object o ON o.target_id = t.target_id AND o.status IN ('uploaded', 'duplicate')
     WHERE t.enabled
     GROUP BY t.name;
    RETURN QUERY
    SELECT 'backup_failed_last_day', '', count(*)::float8
      FROM mekatek.backup_object o
     WHERE o.status = 'failed' AND o.started_at > now() - interval '1 day';
    RETURN QUERY
    SELECT m.metric, '', m.value
      FROM (SELECT d.* FROM mekatek.backup_drill d ORDER BY d.drill_id DESC LIMIT 1) d,
           LATERAL (VALUES ('backup_drill_ok', CASE WHEN d.ok THEN 1 ELSE 0 END::float8),
                           ('backup_drill_rto_seconds', extract(epoch FROM d.rto)::float8),
                           ('backup_drill_rpo_seconds', extract(epoch FROM d.rpo)::float8),
                           ('backup_drill_meets_targets', CASE WHEN d.meets_rto AND d.meets_rpo THEN 1 ELSE 0 END::float8)) m(metric, value);
    -- core: notifications not yet delivered, per channel.
    RETURN QUERY
    SELECT 'outbox_pending', x.channel, count(*)::float8
      FROM mekatek.outbox x WHERE x.delivered_at IS NULL GROUP BY x.channel;
    -- firewall: threats detected in the last day, per kind.
    RETURN QUERY
    SELECT 'firewall_threats_last_day', a.kind, count(*)::float8
      FROM mekatek.fw_alert a WHERE a.detected_at > now() - interval '1 day' GROUP BY a.kind;
    -- devices: devices silent now.
    RETURN QUERY
    SELECT 'devices_silent', '', count(*) FILTER (WHERE dv.silent)::float8 FROM mekatek.device dv;
    -- pos: stock alerts per branch and kind (subject "branch_id/kind").
    RETURN QUERY
    SELECT 'stock_alerts', a.branch_id || '/' || a.alert, count(*)::float8
      FROM mekatek.stock_alert a GROUP BY a.branch_id, a.alert;
END
$$;
COMMENT ON FUNCTION mekatek.health_metrics() IS
'The rows of mekatek.health (metric, subject, value), read as the extension''s owner so that a monitoring role sees counts only';

CREATE VIEW mekatek.health AS SELECT h.metric, h.subject, h.value FROM mekatek.health_metrics() h;
COMMENT ON VIEW mekatek.health IS
'Health for monitoring, one row per metric: backup_last_good_age_seconds per target (-1 never), backup_failed_last_day, backup_drill_ok/rto_seconds/rpo_seconds/meets_targets (last drill), outbox_pending per channel, firewall_threats_last_day per kind, devices_silent, stock_alerts per branch and alert kind (subject branch_id/kind); read by prometheus-postgres-exporter with src/backup/postgres_exporter.yaml';

-- Privileges: backups are the admin's business; the C functions check
-- mekatek_admin again, whoever is granted EXECUTE (99_privileges takes
-- EXECUTE away from PUBLIC).  Nobody else sees the
-- catalogue (bucket layout) or can move data in or out of the database.
REVOKE ALL ON mekatek.backup_config, mekatek.backup_target, mekatek.backup_object, mekatek.backup_set,
              mekatek.backup_drill, mekatek.health FROM PUBLIC;
GRANT SELECT, INSERT ON mekatek.backup_drill TO mekatek_admin;
-- Monitoring: PostgreSQL's own pg_monitor role (what exporters log in with)
-- and the admin read the health view, nothing else.
GRANT USAGE ON SCHEMA mekatek TO pg_monitor;
GRANT SELECT ON mekatek.health TO pg_monitor, mekatek_admin;
GRANT EXECUTE ON FUNCTION mekatek.health_metrics() TO pg_monitor, mekatek_admin;
GRANT SELECT, UPDATE ON mekatek.backup_config TO mekatek_admin;
GRANT SELECT, INSERT, UPDATE, DELETE ON mekatek.backup_target TO mekatek_admin;
GRANT SELECT, INSERT, UPDATE ON mekatek.backup_object TO mekatek_admin;
GRANT SELECT, INSERT, UPDATE ON mekatek.backup_set TO mekatek_admin;
GRANT EXECUTE ON PROCEDURE mekatek.backup_run(text, text) TO mekatek_admin;
GRANT EXECUTE ON FUNCTION
    mekatek.s3_export(text, text, text, text),
    mekatek.s3_import(text, text, text, text, text),
    mekatek.s3_object_digest(text, text),
    mekatek.s3_delete_object(text, text),
    mekatek.s3_restore(text, text, text, bigint, regclass, boolean, text),
    mekatek.backup_export_object(text, text, text, text, text, name),
    mekatek.backup_category(date),
    mekatek.backup_category(timestamptz),
    mekatek.backup_time_zone(),
    mekatek.backup_key_time(timestamptz),
    mekatek.backup_restore_set(bigint, name),
    mekatek.s3_object_size(text, text),
    mekatek.backup_run_target(text, text, bigint),
    mekatek.backup_run_plan(text, text),
    mekatek.backup_prune(timestamptz),
    mekatek.s3_copy_object(text, text, text, text),
    mekatek.backup_key_id(),
    mekatek.backup_drill(bigint),
    mekatek.backup_progress(),
    mekatek.backup_verify(bigint),
    mekatek.backup_restore(bigint, regclass)
TO mekatek_admin;
