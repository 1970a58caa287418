#!/usr/bin/env bash
# The regression and pgTAP suites against a server run under valgrind's
# memcheck (issue 14 §1).  Slow (tens of minutes on two cores), so `make
# test` skips it unless MK_VALGRIND=1; `make valgrind` sets it.
#
# The postmaster runs under `valgrind --trace-children=yes` with
# PostgreSQL's src/tools/valgrind.supp (MK_VALGRIND_SUPP: a copy from the
# PostgreSQL source of the server's major version; not shipped here).  Every
# backend writes its own log, build/valgrind/vg/<pid>.log.  The test passes
# when no error report has a frame in mekatek.so; reports elsewhere
# (PostgreSQL, libc, pg_cron) are counted and printed, not failed on.
# Debian's server is built without USE_VALGRIND, so memcheck sees malloc'd
# blocks, not palloc chunks: reads of a reset context's freed blocks and
# uninitialised values are caught, overruns inside a live block are not.
source "$(dirname "$0")/../harness/common.sh"

if [ "${MK_VALGRIND:-0}" != 1 ]; then
    echo "skipped: set MK_VALGRIND=1 (or run make valgrind) to run the suites under valgrind"
    exit 77
fi
command -v valgrind >/dev/null || { echo "skipped: valgrind is not installed"; exit 77; }
supp=${MK_VALGRIND_SUPP:-}
[ -r "$supp" ] || { echo "skipped: MK_VALGRIND_SUPP must name PostgreSQL's src/tools/valgrind.supp"; exit 77; }
bindir=${MK_BINDIR:-$(bash "$MK_ROOT/test/harness/stage.sh" | tail -n 1)}
pgxs=$(cd "$(dirname "$($PG_CONFIG --pgxs)")/../.." && pwd)
port=$(mk_port valgrind)
dir=$MK_BUILD/valgrind
sock=$dir/run

# An ordinary cluster first (initdb is not worth checking), then the
# postmaster again under valgrind.
MK_CLUSTER_CONF=${MK_CLUSTER_CONF:-} MK_FAST=1 bash "$MK_ROOT/test/harness/cluster.sh" fresh valgrind "$port" "$bindir"
bash "$MK_ROOT/test/harness/cluster.sh" stop valgrind "$bindir"
mkdir -p "$dir/vg"
[ "$(id -u)" = 0 ] && chown -R postgres: "$dir"
mk_as_pg valgrind --quiet --trace-children=yes --track-origins=no --leak-check=no \
    --read-var-info=no --num-callers=30 --suppressions="$supp" \
    --error-markers=VALGRINDERROR-BEGIN,VALGRINDERROR-END \
    --log-file="$dir/vg/%p.log" \
    "$bindir/postgres" -D "$dir/data" >"$dir/server.log" 2>&1 &
vgpid=$!
stop() {
    mk_as_pg "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 300 stop >/dev/null 2>&1 || kill "$vgpid" 2>/dev/null || true
    wait "$vgpid" 2>/dev/null || true
}
trap stop EXIT
for _ in $(seq 1 300); do
    "$bindir/pg_isready" -q -h "$sock" -p "$port" && break
    sleep 1
done
"$bindir/pg_isready" -q -h "$sock" -p "$port" || mk_die "the server did not start under valgrind"
export PGHOST=$sock PGPORT=$port PGUSER=postgres
psql() { "$bindir/psql" -X "$@"; }
psql -q -d postgres -c "CREATE DATABASE mekatek_cron" 2>/dev/null || true

filter=${MK_FILTER:-.}
mapfile -t tests < <(for f in "$MK_ROOT"/sql/*.sql; do b=$(basename "$f" .sql); [[ $b =~ $filter ]] && echo "$b"; done)
mk_log "pg_regress under valgrind: ${#tests[@]} tests"
"$pgxs/src/test/regress/pg_regress" --bindir="$bindir" --host="$sock" --port="$port" \
    --user=postgres --inputdir="$MK_ROOT" --outputdir="$dir/regress" \
    --dbname=mekatek_regress --load-extension=mekatek "${tests[@]}" || true

mk_log "pgTAP under valgrind"
psql -q -d postgres -c "CREATE DATABASE mekatek_tap"
psql -q -d mekatek_tap -c "CREATE EXTENSION mekatek CASCADE; CREATE EXTENSION pgtap;"
for f in "$MK_ROOT"/test/pgtap/*.sql; do
    b=$(basename "$f" .sql); [[ $b =~ $filter ]] || continue
    pg_prove -h "$sock" -p "$port" -U postgres -d mekatek_tap "$f" 2>&1 | tail -n 1 | sed "s/^/pgtap $b: /"
done
stop
trap - EXIT

# One report per VALGRINDERROR block; ours when a frame is in mekatek.so.
python3 - "$dir/vg" <<'PY'
import glob, re, sys
total = ours = 0
shown = []
for path in sorted(glob.glob(sys.argv[1] + "/*.log")):
    text = open(path, errors="replace").read()
    for block in re.findall(r"VALGRINDERROR-BEGIN\n(.*?)VALGRINDERROR-END", text, re.S):
        total += 1
        if "mekatek.so" in block:
            ours += 1
            if len(shown) < 10:
                shown.append(path + ":\n" + block)
for s in shown:
    print(s)
print("valgrind memcheck: %d reports, %d with a frame in mekatek.so" % (total, ours))
sys.exit(1 if ours else 0)
PY
