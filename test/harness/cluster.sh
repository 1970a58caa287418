#!/usr/bin/env bash
# Private PostgreSQL clusters owned by the project.
#   cluster.sh start NAME PORT BINDIR   initdb when needed, start, print env
#   cluster.sh stop NAME BINDIR
#   cluster.sh fresh NAME PORT BINDIR   throw away and start anew
# MK_CLUSTER_CONF holds extra postgresql.conf lines for a new cluster.
# The socket lives in build/NAME/run and the server listens on 127.0.0.1
# only, so nothing clashes with a system cluster on 5432.
source "$(dirname "$0")/common.sh"

cmd=$1 name=$2
dir=$MK_BUILD/$name

start() {
    local port=$1 bindir=$2
    mkdir -p "$dir/run"
    if [ "$(id -u)" = 0 ]; then chown -R postgres: "$dir"; fi
    # Root runs the server as postgres, which must be able to reach the
    # checkout: a private parent folder (mktemp -d is 0700) stops initdb.
    if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$bindir/initdb"; then
        mk_die "the postgres account cannot reach $bindir (a parent folder is private: chmod a+x it)"
    fi
    if [ ! -s "$dir/data/PG_VERSION" ]; then
        mk_as_pg "$bindir/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
            || { cat "$dir/initdb.log" >&2; mk_die "initdb failed"; }
        cat >>"$dir/data/postgresql.conf" <<CONF
# --- Mekatek private cluster ---
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir/run'
shared_preload_libraries = 'pg_cron,mekatek'
cron.database_name = 'mekatek_cron'
max_connections = 120
shared_buffers = 256MB
max_prepared_transactions = 10
logging_collector = off
log_min_messages = warning
timezone = 'Asia/Jakarta'
CONF
        # Extra settings for this cluster (a benchmark sizing its server).
        if [ -n "${MK_CLUSTER_CONF:-}" ]; then
            printf '%s\n' "$MK_CLUSTER_CONF" >>"$dir/data/postgresql.conf"
        fi
        if [ "${MK_FAST:-0}" = 1 ]; then
            printf 'fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n' >>"$dir/data/postgresql.conf"
        fi
    fi
    # The server refuses a data directory others can read (an older harness
    # opened build/ up): keep it private before every start.
    chmod 700 "$dir/data"
    if ! mk_as_pg "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        mk_as_pg "$bindir/pg_ctl" -c -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null \
            || { tail -n 30 "$dir/server.log" >&2; mk_die "server did not start"; }
    fi
    "$bindir/psql" -h "$dir/run" -p "$port" -U postgres -d postgres -Xq \
        -c "SELECT 1 FROM pg_database WHERE datname = 'mekatek_cron'" -tA | grep -q 1 \
        || "$bindir/psql" -h "$dir/run" -p "$port" -U postgres -d postgres -Xq -c "CREATE DATABASE mekatek_cron"
}

stop() {
    local bindir=$1
    if [ -s "$dir/data/PG_VERSION" ]; then
        mk_as_pg "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
}

case "$cmd" in
    start) start "$3" "$4" ;;
    stop) stop "$3" ;;
    fresh) stop "$4"; rm -rf "$dir"; start "$3" "$4" ;;
    *) mk_die "usage: cluster.sh start|stop|fresh NAME ..." ;;
esac
