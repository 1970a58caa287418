#!/usr/bin/env bash
# make demo: install, start the private demo cluster, load sample data and
# show what the extension does.  Safe to run again: the demo database is
# rebuilt each time.  `make demo-stop` stops the cluster.
source "$(dirname "$0")/../harness/common.sh"

port=${1:-54329}
bindir=$($PG_CONFIG --bindir)

mk_log "make install"
mk_sudo make -s -C "$MK_ROOT" install PG_CONFIG="$PG_CONFIG" >/dev/null
bash "$MK_ROOT/test/harness/cluster.sh" start demo "$port" "$bindir"
export PGHOST=$MK_BUILD/demo/run PGPORT=$port PGUSER=postgres
if [ -d "$MK_ROOT/../shared" ]; then export MK_SHARED=$(cd "$MK_ROOT/../shared" && pwd); fi

"$bindir/psql" -Xq -d postgres -c "DROP DATABASE IF EXISTS mekatek_demo WITH (FORCE)" -c "CREATE DATABASE mekatek_demo"
"$bindir/psql" -Xq -d mekatek_demo -c "CREATE EXTENSION mekatek CASCADE"
# Each module adds one numbered step: test/demo/NN_module.sql
for step in "$MK_ROOT"/test/demo/[0-9]*.sql; do
    [ -e "$step" ] || continue
    "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -P pager=off -d mekatek_demo -f "$step"
done
cat <<MSG

The demo cluster keeps running:  psql -h $PGHOST -p $port -U postgres mekatek_demo
Stop it with:                    make demo-stop
MSG
