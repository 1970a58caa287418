#!/usr/bin/env bash
# The README's quick starts run as written.  For every module of the
# Makefile's MODULES, the fenced sql blocks under "### Quick start" of its
# README section (<!-- MODULE:begin --> .. <!-- MODULE:end -->) run in
# order, each block through its own psql with ON_ERROR_STOP, against a
# fresh database where only `CREATE EXTENSION mekatek` was run.  The
# fence's info string says what a block must do:
#   ```sql                the block must succeed (no ERROR)
#   ```sql error          the block must raise an ERROR (the example shows one)
#   ```sql error=23514    ... with that SQLSTATE
#   ```sql skip           not run (say why in the text; keep these rare)
# A module without a quick start fails.  The blocks run on a private
# cluster ("readme", MK_TEST_PORT+2) whose postgresql.conf holds what the
# README tells a DBA to put there: pg_cron with cron.database_name set to
# the backup module's database, and the S3 settings pointing at a local
# s3rver (test/backup_s3) with the bucket my-bucket.  Without node the
# backup module's blocks are skipped and the rest still runs.
source "$(dirname "$0")/../backup_s3/lib.sh"   # also test/harness/common.sh
bindir=${MK_BINDIR:?MK_BINDIR must point at the PostgreSQL binaries}
work=$MK_BUILD/readme
rm -rf "$work"; mkdir -p "$work"
modules=$(make -s -C "$MK_ROOT" print-MODULES)

# Blocks: work/MODULE/NN.sql with work/MODULE/NN.mode holding the info string.
python3 - "$MK_ROOT/README.md" "$work" $modules <<'PY' || exit 1
import os, re, sys
readme, work, modules = sys.argv[1], sys.argv[2], sys.argv[3:]
text = open(readme).read()
bad = 0
for m in modules:
    sec = re.search(r"<!-- %s:begin -->(.*?)<!-- %s:end -->" % (m, m), text, re.S)
    qs = sec and re.search(r"^### Quick start\n(.*?)(?=^##)", sec.group(1) + "\n##", re.S | re.M)
    blocks = qs and re.findall(r"^```(sql[^\n]*)\n(.*?)^```$", qs.group(1), re.S | re.M)
    if not blocks:
        print("not ok - %s: no '### Quick start' with sql blocks in its README section" % m)
        bad += 1
        continue
    os.makedirs(os.path.join(work, m))
    for i, (info, body) in enumerate(blocks, 1):
        open(os.path.join(work, m, "%02d.sql" % i), "w").write(body)
        open(os.path.join(work, m, "%02d.mode" % i), "w").write(info.strip())
sys.exit(1 if bad else 0)
PY

s3=0
if (bk_npm) >/dev/null 2>&1; then
    s3=1
    bk_port S3
    MK_S3_KEY=READMEKEY MK_S3_SECRET=readme-secret bk_start_s3rver "$S3" "$work/s3" my-bucket
fi
port=$(mk_port readme)
sock=$MK_BUILD/readme-cluster/run
conf="cron.database_name = 'mekatek_readme_backup'"
if [ "$s3" = 1 ]; then
    conf+=$'\n'"mekatek.s3_endpoint = 'http://127.0.0.1:$S3'"$'\n'"mekatek.s3_uri_style = 'path'"
    conf+=$'\n'"mekatek.s3_access_key_id = 'READMEKEY'"$'\n'"mekatek.s3_secret_access_key = 'readme-secret'"
fi
MK_FAST=1 MK_CLUSTER_CONF=$conf bash "$MK_ROOT/test/harness/cluster.sh" fresh readme-cluster "$port" "$bindir" >/dev/null
trap 'bash "$MK_ROOT/test/harness/cluster.sh" stop readme-cluster "$bindir"; bk_stop' EXIT
q() { "$bindir/psql" -X -h "$sock" -p "$port" -U postgres "$@"; }

fails=0 ran=0 skipped=0
for m in $modules; do
    if [ "$m" = backup ] && [ "$s3" = 0 ]; then
        echo "# skipping backup's quick start: no S3 test server (node/npm missing)"; continue
    fi
    db=mekatek_readme_$m
    q -q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
    q -q -d "$db" -c "CREATE EXTENSION mekatek"
    for f in "$work/$m"/*.sql; do
        n=$(basename "$f" .sql) mode=$(cat "${f%.sql}.mode")
        log=${f%.sql}.log
        case $mode in
            "sql skip"*) skipped=$((skipped + 1)); echo "ok - $m block $n # skip"; continue ;;
        esac
        rc=0
        q -d "$db" -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -f "$f" >"$log" 2>&1 || rc=$?
        ran=$((ran + 1))
        case $mode in
            sql) want=ok ;;
            "sql error") want=error ;;
            "sql error="*) want=error state=${mode#sql error=} ;;
            *) echo "not ok - $m block $n: unknown fence info '$mode'"; fails=$((fails + 1)); continue ;;
        esac
        if [ "$want" = ok ] && [ "$rc" = 0 ] && ! grep -q '^psql:.*ERROR:' "$log"; then
            echo "ok - $m block $n"
        elif [ "$want" = error ] && [ "$rc" != 0 ] && grep -q 'ERROR:' "$log" \
             && { [ -z "${state:-}" ] || grep -q "ERROR:  $state:" "$log"; }; then
            echo "ok - $m block $n raises $(grep -o 'ERROR:  [0-9A-Z]*' "$log" | head -n 1 | cut -c9-) as the README says"
        else
            echo "not ok - $m block $n (expected: $want${state:+ $state}; psql exit $rc)"
            sed 's/^/#   /' "$f" | head -n 20; echo "#   --- output:"; sed 's/^/#   /' "$log" | tail -n 20
            fails=$((fails + 1))
        fi
        unset state
    done
done
echo "README quick starts: $ran blocks run, $skipped skipped, $fails failed"
[ "$fails" = 0 ]
