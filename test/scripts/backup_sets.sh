#!/usr/bin/env bash
# Issue 19 §2 against @20minutes/s3rver (SigV4 checked): a backup set of
# sale and sale_line exported while pgbench keeps selling (each sale's
# total is the sum of its lines, written in one transaction) restores into
# an empty copy of the schema with every foreign key satisfied and every
# total matching, and into the original tables in one transaction without
# firing their triggers again; a damaged object of a set stops the restore
# before anything is written; restoring the referenced table alone says
# what to do.
source "$(dirname "$0")/../backup_s3/lib.sh"

bk_port S3RVER
KEY=MEKATEKSETSKEY SECRET='s3ts-S3cret-value-never-shown'
DB=mekatek_backup_sets
STORE=$MK_BUILD/backup_sets_s3rver
bk_npm
MK_S3_KEY=$KEY MK_S3_SECRET=$SECRET bk_start_s3rver $S3RVER "$STORE" mekatek-test
obj() { echo "$STORE/mekatek-test/$1._S3rver_object"; }
command -v pgbench >/dev/null || bk_skip "pgbench is not installed"

bk_s3_settings $S3RVER $KEY "$SECRET"
PGBENCH_PID=
cleanup() {
    [ -n "$PGBENCH_PID" ] && kill "$PGBENCH_PID" 2>/dev/null
    bk_s3_settings_reset
    bk_stop
}
trap cleanup EXIT

psql -Xq -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" 2>/dev/null
export PGDATABASE=$DB
bk_psql <<'SQL'
CREATE EXTENSION mekatek;
CREATE TABLE sale (sale_id bigserial PRIMARY KEY, total numeric(14, 2) NOT NULL);
CREATE TABLE sale_line (sale_id bigint NOT NULL REFERENCES sale, line_no int NOT NULL,
                        amount numeric(14, 2) NOT NULL, PRIMARY KEY (sale_id, line_no));
-- A trigger that must not act again when a restore brings rows back.
CREATE TABLE stock_effect (n bigint NOT NULL);
INSERT INTO stock_effect VALUES (0);
CREATE FUNCTION line_effect() RETURNS trigger LANGUAGE plpgsql AS
  $$BEGIN UPDATE stock_effect SET n = n + 1; RETURN NULL; END$$;
CREATE TRIGGER line_effect AFTER INSERT ON sale_line FOR EACH STATEMENT EXECUTE FUNCTION line_effect();
INSERT INTO sale (total) SELECT 0 FROM generate_series(1, 200000);
INSERT INTO sale_line SELECT s, l, (s % 97) * 100 + l FROM generate_series(1, 200000) s, generate_series(1, 3) l;
UPDATE sale s SET total = x.t FROM (SELECT sale_id, sum(amount) t FROM sale_line GROUP BY 1) x WHERE x.sale_id = s.sale_id;
UPDATE mekatek.backup_config SET bucket = 'mekatek-test', prefix = 'sets';
-- sale first: without one snapshot, lines sold after sale's export would
-- have no sale in the set.
INSERT INTO mekatek.backup_target (name, table_name) VALUES ('sale', 'sale'), ('sale_line', 'sale_line');
SQL
cat >"$MK_BUILD/backup_sets_sell.sql" <<'EOF2'
\set n random(1, 5)
BEGIN;
INSERT INTO sale (total) VALUES (0) RETURNING sale_id \gset
INSERT INTO sale_line SELECT :sale_id, g, g * 1000 FROM generate_series(1, :n) g;
UPDATE sale SET total = (SELECT sum(amount) FROM sale_line WHERE sale_id = :sale_id) WHERE sale_id = :sale_id;
END;
EOF2
pgbench -n -c 2 -T 600 -f "$MK_BUILD/backup_sets_sell.sql" >"$MK_BUILD/backup_sets_pgbench.log" 2>&1 &
PGBENCH_PID=$!
sleep 2
before=$(bk_psql -tA -c "SELECT count(*) FROM sale")
bk_psql -c "CALL mekatek.backup_run()"
bk_psql -c "CALL mekatek.backup_run()"
after=$(bk_psql -tA -c "SELECT count(*) FROM sale")
kill "$PGBENCH_PID"; wait "$PGBENCH_PID" 2>/dev/null || true; PGBENCH_PID=
bk_check "pgbench sold while the sets were exported" t "$([ "$after" -gt "$before" ] && echo t || echo f)"
bk_check "two complete sets of two objects each" "1:complete:2 2:complete:2" \
    "$(bk_psql -tA -c "SELECT string_agg(s.set_id || ':' || s.status || ':' || (SELECT count(*) FROM mekatek.backup_object o WHERE o.set_id = s.set_id AND o.status = 'uploaded'), ' ' ORDER BY s.set_id) FROM mekatek.backup_set s")"
bk_check "a set's objects share its category and snapshot_at is the run's start" t \
    "$(bk_psql -tA -c "SELECT bool_and(o.category = s.category AND s.snapshot_at <= o.started_at) FROM mekatek.backup_set s JOIN mekatek.backup_object o USING (set_id)")"
# sale_line (about 30 MB of heap) is formatted by parallel workers in the
# run's snapshot: its object is a series of gzip members, one per range.
bk_check "sale_line was exported by parallel workers" t \
    "$(python3 -c 'import sys; d=open(sys.argv[1],"rb").read(); print("t" if d.count(b"\x1f\x8b\x08\x00\x00\x00\x00\x00") > 1 else "f")' \
        "$(obj "$(bk_psql -tA -c "SELECT key FROM mekatek.backup_object WHERE set_id = 1 AND key LIKE '%/sale_line/%'")")")"
bk_check "the set holds sales sold during the export, yet fewer than at the end" t \
    "$(bk_psql -tA -c "SELECT rows > $before - 1 AND rows < $after + 1 FROM mekatek.backup_object WHERE set_id = 1 AND key LIKE '%/sale/%'")"

# 1. Into an empty copy of the schema, with its foreign key.
bk_psql <<'SQL'
CREATE SCHEMA scratch;
CREATE TABLE scratch.sale (LIKE public.sale INCLUDING ALL);
CREATE TABLE scratch.sale_line (LIKE public.sale_line INCLUDING ALL,
                                FOREIGN KEY (sale_id) REFERENCES scratch.sale);
SQL
r=$(bk_psql -tA -c "SELECT string_agg(target_name || '=' || (rows_loaded = o.rows), ',' ORDER BY ord)
                      FROM mekatek.backup_restore_set(1, 'scratch') WITH ORDINALITY AS x(target_name, restored_into, rows_loaded, ord)
                      JOIN mekatek.backup_object o ON o.set_id = 1 AND o.key LIKE '%/' || x.target_name || '/%'")
bk_check "restore_set into the scratch schema: parents first, rows as catalogued" "sale=true,sale_line=true" "$r"
bk_check "every sale's total is the sum of its lines, every line has its sale" "0|0|t" \
    "$(bk_psql -tA -c "SELECT (SELECT count(*) FROM scratch.sale s WHERE s.total <> (SELECT coalesce(sum(l.amount), 0) FROM scratch.sale_line l WHERE l.sale_id = s.sale_id)),
                              (SELECT count(*) FROM scratch.sale_line l WHERE NOT EXISTS (SELECT FROM scratch.sale s WHERE s.sale_id = l.sale_id)),
                              (SELECT sum(total) FROM scratch.sale) = (SELECT sum(amount) FROM scratch.sale_line)")"

# 2. Restoring sale alone in place is refused with the way out.
out=$(bk_psql -c "SELECT mekatek.backup_restore(object_id) FROM mekatek.backup_object WHERE set_id = 1 AND key LIKE '%/sale/%'" 2>&1 || true)
bk_check "backup_restore(sale) alone names the set" 1 \
    "$(grep -c 'HINT:  Restore its backup set, which holds the tables exported with it: SELECT \* FROM mekatek.backup_restore_set(1)' <<<"$out")"

# 3. Into the original tables, in one transaction, triggers silent.
effect=$(bk_psql -tA -c "SELECT n FROM stock_effect")
r=$(bk_psql -tA <<'SQL'
BEGIN;
SELECT count(*) FROM mekatek.backup_restore_set(1);
SELECT current_setting('session_replication_role');
SELECT (SELECT count(*) FROM (TABLE sale EXCEPT TABLE scratch.sale) a) + (SELECT count(*) FROM (TABLE scratch.sale EXCEPT TABLE sale) b)
     + (SELECT count(*) FROM (TABLE sale_line EXCEPT TABLE scratch.sale_line) c) + (SELECT count(*) FROM (TABLE scratch.sale_line EXCEPT TABLE sale_line) d);
COMMIT;
SQL
)
bk_check "restore_set into the original tables in one transaction equals the scratch copy" "2|origin|0" "$(tr '\n' '|' <<<"$r" | sed 's/|$//')"
bk_check "the restore did not fire sale_line's trigger" "$effect" "$(bk_psql -tA -c "SELECT n FROM stock_effect")"

# 4. A damaged object of set 2: nothing is written.
key=$(bk_psql -tA -c "SELECT key FROM mekatek.backup_object WHERE set_id = 2 AND key LIKE '%/sale_line/%'")
bk_flip "$(obj "$key")" 100
counts=$(bk_psql -tA -c "SELECT (SELECT count(*) FROM sale), (SELECT count(*) FROM sale_line)")
out=$(bk_psql -c "\\set VERBOSITY verbose" -c "SELECT * FROM mekatek.backup_restore_set(2)" 2>&1 || true)
bk_check "a damaged object stops restore_set with XX001" 1 \
    "$(grep -c "ERROR:  XX001: S3 object \"mekatek-test/$key\" of backup set 2 does not match the catalogue" <<<"$out")"
bk_check "and nothing was written" "$counts" "$(bk_psql -tA -c "SELECT (SELECT count(*) FROM sale), (SELECT count(*) FROM sale_line)")"

# 5. Recovery drills: the latest set (2, damaged above) fails and says why;
# set 1 restores into a scratch schema, verified and counted, RTO and RPO
# measured against the paper's 60 minutes and one day.
r=$(bk_psql -tA -c "SET client_min_messages = error" -c "SELECT set_id, ok, error LIKE '%of backup set 2 does not match the catalogue%' FROM mekatek.backup_drill()")
bk_check "a drill of the damaged latest set is recorded as failed" "2|f|t" "$r"
r=$(bk_psql -tA -c "SELECT d.ok, d.tables, d.rows = (SELECT sum(o.rows) FROM mekatek.backup_object o WHERE o.set_id = 1),
                           d.rto > interval '0' AND d.rto < interval '10 minutes', d.rpo > interval '0', d.meets_rto, d.meets_rpo
                      FROM mekatek.backup_drill(1) d")
bk_check "a drill of set 1: every table and row, RTO and RPO measured and within target" "t|2|t|t|t|t|t" "$r"
bk_check "drills are recorded, and their scratch schemas dropped" "2|0" \
    "$(bk_psql -tA -c "SELECT (SELECT count(*) FROM mekatek.backup_drill), (SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'mekatek_drill_%')")"
bk_check "a drill can be repeated" t \
    "$(bk_psql -tA -c "SELECT ok FROM mekatek.backup_drill(1)")"

# 5. A restore needs the right to silence triggers.
bk_psql <<'SQL'
DROP ROLE IF EXISTS bk_sets_admin;
CREATE ROLE bk_sets_admin LOGIN IN ROLE mekatek_admin;
GRANT SELECT, INSERT, TRUNCATE ON sale, sale_line TO bk_sets_admin;
SQL
bk_check "an admin without SET on session_replication_role is told how (42501)" 1 \
    "$(psql -X -U bk_sets_admin -c "\\set VERBOSITY verbose" -c "SELECT * FROM mekatek.backup_restore_set(1)" 2>&1 | grep -c 'ERROR:  42501: restoring backup set 1 into the original tables needs session_replication_role = replica')"
bk_psql -c "GRANT SET ON PARAMETER session_replication_role TO bk_sets_admin"
bk_check "with GRANT SET ON PARAMETER the admin restores the set" 2 \
    "$(psql -X -U bk_sets_admin -tA -c "SELECT count(*) FROM mekatek.backup_restore_set(1)" 2>&1)"

psql -Xq -d postgres -c "DROP DATABASE $DB" -c "REVOKE SET ON PARAMETER session_replication_role FROM bk_sets_admin" -c "DROP ROLE bk_sets_admin"
[ "$bk_fails" = 0 ] || { echo "$bk_fails checks failed"; exit 1; }
echo "sets restore consistently, in place and into a copy, verified first"
