#!/usr/bin/env bash
# A bounded sqlsmith run (`make fuzz-sqlsmith`): random queries over a
# database holding the demo's data, against a private cluster on the
# "sqlsmith" port (test/harness/common.sh).  Passes when the server never
# restarted (no backend crashed) and no query raised XX000.
#   MK_SQLSMITH_QUERIES  queries to run (default 2000)
#   MK_SQLSMITH_SEED     sqlsmith's random seed (default 1)
# Not part of `make test`: a run takes minutes and its queries are random.
source "$(dirname "$0")/../../harness/common.sh"

queries=${MK_SQLSMITH_QUERIES:-2000}
seed=${MK_SQLSMITH_SEED:-1}
if ! command -v sqlsmith >/dev/null; then
    mk_log "installing Debian's sqlsmith"
    mk_sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends sqlsmith >/dev/null
fi

port=$(mk_port sqlsmith)
bindir=$(bash "$MK_ROOT/test/harness/stage.sh" | tail -n 1)
bash "$MK_ROOT/test/harness/cluster.sh" fresh sqlsmith "$port" "$bindir"
trap 'bash "$MK_ROOT/test/harness/cluster.sh" stop sqlsmith "$bindir"' EXIT
sock=$MK_BUILD/sqlsmith/run
export PGHOST=$sock PGPORT=$port PGUSER=postgres
psql() { "$bindir/psql" -X "$@"; }

psql -q -d postgres -c "CREATE DATABASE mekatek_sqlsmith"
for f in "$MK_ROOT"/test/demo/[0-9]*.sql; do
    psql -q -d mekatek_sqlsmith -f "$f" >/dev/null 2>&1 || true
done
started=$(psql -At -d postgres -c "SELECT pg_postmaster_start_time()")

out=$MK_BUILD/sqlsmith
sqlsmith --target="host=$sock port=$port user=postgres dbname=mekatek_sqlsmith" \
    --seed="$seed" --max-queries="$queries" --exclude-catalog --verbose \
    >"$out/sqlsmith.log" 2>&1 || true
tail -n 5 "$out/sqlsmith.log"

now=$(psql -At -d postgres -c "SELECT pg_postmaster_start_time()" 2>/dev/null || echo down)
crashes=$(grep -c 'terminated by signal' "$MK_BUILD/sqlsmith/server.log" || true)
internal=$(grep -c 'ERROR:  XX000\|internal error' "$out/sqlsmith.log" || true)
echo "sqlsmith: $queries queries, seed $seed, crashes $crashes, XX000 $internal"
[ "$now" = "$started" ] && [ "$crashes" = 0 ] || mk_die "the server restarted: see $MK_BUILD/sqlsmith/server.log"
