#!/usr/bin/env bash
# Upgrade from the release v0.1.0: its install script is rebuilt from the
# tag's files (src/sql/*.sql concatenated in file-name order, as its
# Makefile did) into the staged installation, served by today's library.
#   1. 0.1.0 is created, a busy day loaded, ALTER EXTENSION mekatek UPDATE:
#      every row of every table and every sequence position is kept.
#   2. An empty 0.1.0 updated to 0.2.0 has the schema of a fresh 0.2.0
#      install: pg_dump --schema-only of both (the extension's members
#      made ordinary objects first, so that pg_dump writes them),
#      normalised; and the same tables and sequences registered for dump.
#   3. The regression suite and the pgTAP files pass on an updated
#      database.
# On a clone without the tag, the release's commit 54dd4c4 stands for it;
# without either (a shallow clone) the test is skipped.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "$here/.." && pwd)
out=${MK_BUILD:-/tmp}/upgrade
rm -rf "$out"; mkdir -p "$out"
psql() { command psql -X -v ON_ERROR_STOP=1 -q "$@"; }

release=
for ref in v0.1.0 54dd4c4; do
    if git -C "$root" rev-parse -q --verify "$ref^{commit}" >/dev/null 2>&1; then release=$ref; break; fi
done
if [ -z "$release" ]; then
    echo "skipped: neither the tag v0.1.0 nor the commit 54dd4c4 is in this clone (shallow?)"
    exit 77
fi
echo "-- release 0.1.0 from $release ($(git -C "$root" rev-parse --short "$release^{commit}"))"

sharedir=$(pg_config --sharedir)/extension
case "$sharedir" in
    "${MK_BUILD:-/nonexistent}"/*) ;;
    *) echo "FAIL: pg_config --sharedir is $sharedir, not a staged installation under build/"; exit 1 ;;
esac
git -C "$root" ls-tree --name-only "$release" src/sql/ | grep -E '^src/sql/[0-9][^/]*\.sql$' | sort \
    | while read -r f; do git -C "$root" show "$release:$f"; done >"$out/mekatek--0.1.0.sql"
cp "$out/mekatek--0.1.0.sql" "$sharedir/mekatek--0.1.0.sql"

# Today's library must still have every C symbol the 0.1.0 script names.
libdir=$(pg_config --pkglibdir)
tr '\n' ' ' <"$out/mekatek--0.1.0.sql" \
    | grep -oE "MODULE_PATHNAME'[[:space:]]*,[[:space:]]*'[A-Za-z0-9_]+'" | sed -E "s/.*'([A-Za-z0-9_]+)'$/\1/" \
    | sort -u >"$out/symbols.0.1.0"
nm -D --defined-only "$libdir/mekatek.so" | awk '{ print $3 }' | sort -u >"$out/symbols.lib"
missing=$(comm -23 "$out/symbols.0.1.0" "$out/symbols.lib")
if [ -n "$missing" ]; then
    echo "FAIL: the 0.1.0 script names C functions today's library lacks:"; echo "$missing"; exit 1
fi
echo "$(wc -l <"$out/symbols.0.1.0") C functions of 0.1.0 all found in today's library"

dbs="mekatek_upgrade_data mekatek_upgrade_empty mekatek_upgrade_schema mekatek_fresh_schema mekatek_upgrade_tap"
drop_all() {
    for d in $dbs; do psql -d postgres -c "DROP DATABASE IF EXISTS $d WITH (FORCE)" 2>/dev/null; done
}
drop_all
trap 'drop_all || true' EXIT

# 1. Data survives the update.
psql -d postgres -c "CREATE DATABASE mekatek_upgrade_data"
psql -d mekatek_upgrade_data -c "CREATE EXTENSION mekatek VERSION '0.1.0'"
psql -d mekatek_upgrade_data -f "$here/safety/busy_day.sql" >/dev/null 2>"$out/busy_day.log" \
    || { cat "$out/busy_day.log"; exit 1; }
# The columns 0.1.0 had: an upgrade may add columns, never change the old ones.
cols=$(psql -d mekatek_upgrade_data -At -c "
    SELECT json_object_agg(t, c) FROM (
        SELECT a.attrelid::regclass::text AS t, json_agg(a.attname ORDER BY a.attnum) AS c
          FROM pg_attribute a JOIN pg_class r ON r.oid = a.attrelid
         WHERE r.relnamespace IN ('mekatek'::regnamespace, 'public'::regnamespace)
           AND r.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
         GROUP BY a.attrelid) s")
psql -d mekatek_upgrade_data -At -v cols="$cols" -f "$here/safety/table_digest.sql" >"$out/before.digest"
psql -d mekatek_upgrade_data -c "ALTER EXTENSION mekatek UPDATE"
psql -d mekatek_upgrade_data -At -v cols="$cols" -f "$here/safety/table_digest.sql" >"$out/after.digest"
version=$(psql -d mekatek_upgrade_data -At -c "SELECT extversion FROM pg_extension WHERE extname = 'mekatek'")
[ "$version" = "$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$root/mekatek.control")" ] \
    || { echo "FAIL: updated to $version, not the default version"; exit 1; }
# Relations new in 0.2.0 are compared with the fresh install below; here
# every relation 0.1.0 had must keep exactly its rows.
awk -F'|' 'NR == FNR { had[$1] = 1; next } had[$1]' "$out/before.digest" "$out/after.digest" >"$out/after.old.digest"
if ! diff -u "$out/before.digest" "$out/after.old.digest"; then echo "FAIL: the update changed rows (above)"; exit 1; fi
echo "updated 0.1.0 -> $version with a busy day: $(grep -c '|' "$out/after.digest") tables and sequences unchanged"

# 2. Same schema as a fresh install.
psql -d postgres -c "CREATE DATABASE mekatek_upgrade_empty"
psql -d mekatek_upgrade_empty -c "CREATE EXTENSION mekatek VERSION '0.1.0'" -c "ALTER EXTENSION mekatek UPDATE"
psql -d postgres -c "CREATE DATABASE mekatek_upgrade_schema TEMPLATE mekatek_upgrade_empty" \
    -c "CREATE DATABASE mekatek_fresh_schema"
psql -d mekatek_fresh_schema -c "CREATE EXTENSION mekatek"
registered="SELECT c.oid::regclass::text, e.extcondition[array_position(e.extconfig, c.oid)]
              FROM pg_extension e, unnest(e.extconfig) x JOIN pg_class c ON c.oid = x
             WHERE e.extname = 'mekatek' ORDER BY 1"
for d in mekatek_upgrade_schema mekatek_fresh_schema; do
    psql -d $d -At -c "$registered" >"$out/$d.registered"
    psql -d $d -f "$here/safety/strip_membership.sql"
    pg_dump --schema-only -d $d | awk -f "$here/safety/normalise_schema.awk" >"$out/$d.schema"
done
if ! diff -u "$out/mekatek_fresh_schema.registered" "$out/mekatek_upgrade_schema.registered"; then
    echo "FAIL: the updated database registers other tables for pg_dump than a fresh install (above)"; exit 1
fi
if ! diff -u "$out/mekatek_fresh_schema.schema" "$out/mekatek_upgrade_schema.schema"; then
    echo "FAIL: the updated schema differs from a fresh install (- fresh, + updated)"; exit 1
fi
echo "updated schema equals a fresh install: $(wc -l <"$out/mekatek_fresh_schema.schema") lines of pg_dump --schema-only, $(wc -l <"$out/mekatek_fresh_schema.registered") relations registered"

# 3. The suites on updated databases: pgTAP, then pg_regress, whose
# expected output names its database (mekatek_regress, which the regress
# suite of `make test` has finished with by now).
psql -d postgres -c "CREATE DATABASE mekatek_upgrade_tap TEMPLATE mekatek_upgrade_empty"
psql -d mekatek_upgrade_tap -c "CREATE EXTENSION pgtap"
pg_prove -d mekatek_upgrade_tap "$root"/test/pgtap/*.sql >"$out/pgtap.log" 2>&1 \
    || { cat "$out/pgtap.log"; echo "FAIL: pgTAP on the updated database"; exit 1; }
grep -E '^(Files|Result)' "$out/pgtap.log"
psql -d postgres -c "DROP DATABASE IF EXISTS mekatek_regress WITH (FORCE)" \
    -c "CREATE DATABASE mekatek_regress TEMPLATE mekatek_upgrade_empty"
pgxs=$(cd "$(dirname "$(pg_config --pgxs)")/../.." && pwd)
mapfile -t tests < <(cd "$root/sql" && ls *.sql | sed 's/\.sql$//')
if ! "$pgxs/src/test/regress/pg_regress" --use-existing --bindir="$(pg_config --bindir)" \
        --inputdir="$root" --outputdir="$out" --dbname=mekatek_regress "${tests[@]}" >"$out/regress.log" 2>&1; then
    cat "$out/regress.log"; head -n 100 "$out/regression.diffs" 2>/dev/null || true
    echo "FAIL: the regression suite on the updated database"; exit 1
fi
grep -E 'tests passed|All [0-9]+ tests' "$out/regress.log" || tail -n 3 "$out/regress.log"
psql -d postgres -c "DROP DATABASE IF EXISTS mekatek_regress WITH (FORCE)"
echo "ok: 0.1.0 -> $version keeps every row, gives a fresh install's schema, and the suites pass on it"
