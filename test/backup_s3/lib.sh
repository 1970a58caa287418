# Shared by test/scripts/backup_*.sh and test/bench/backup/run.sh; sourced.
# Installs the pinned S3 peers (npm ci), starts them on 127.0.0.1 in the
# background, records their pids and stops them on exit.
set -euo pipefail

BK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# MK_ROOT, MK_BUILD and mk_port (the port table).
source "$BK_DIR/../harness/common.sh"
BK_PIDS=()

bk_skip() { echo "$*"; exit 77; }

bk_stop() {
    local pid
    for pid in "${BK_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${BK_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    BK_PIDS=()
}
trap bk_stop EXIT

# npm ci once per lock file: node_modules/.package-lock.json is newer.
bk_npm() {
    command -v node >/dev/null || bk_skip "node is not installed (the S3 test servers need node >= 20)"
    command -v npm >/dev/null || bk_skip "npm is not installed (the S3 test servers come from the npm registry)"
    command -v curl >/dev/null || bk_skip "curl is not installed"
    if [ ! -e "$BK_DIR/node_modules/.package-lock.json" ] \
       || [ "$BK_DIR/package-lock.json" -nt "$BK_DIR/node_modules/.package-lock.json" ]; then
        (cd "$BK_DIR" && npm ci --no-audit --no-fund --loglevel=error >"$MK_BUILD/backup_npm.log" 2>&1) \
            || bk_skip "npm ci failed in test/backup_s3 (no registry access?): see $MK_BUILD/backup_npm.log"
    fi
}

# bk_port VAR...: set each VAR to a port of the S3 range (MK_TEST_PORT+10
# ..+19, see test/harness/common.sh) that nothing listens on and that this
# script has not taken yet.
BK_TAKEN=" "
bk_port() {
    local p var first last
    first=$(mk_port s3_first) last=$(mk_port s3_last)
    for var in "$@"; do
        for p in $(seq "$first" "$last") none; do
            [[ $BK_TAKEN == *" $p "* ]] && continue
            [ "$p" = none ] && break
            (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue
            BK_TAKEN="$BK_TAKEN$p "
            printf -v "$var" %s "$p"
            continue 2
        done
        echo "no free port in $first-$last" >&2
        return 1
    done
    return 0
}

# bk_wait_started PID LOG PORT: until our server says it listens (15 s).
bk_wait_started() {
    local i
    for i in $(seq 1 150); do
        grep -q "listening on 127.0.0.1:$3" "$2" 2>/dev/null && return 0
        kill -0 "$1" 2>/dev/null || { echo "server on port $3 did not start:" >&2; tail -n 5 "$2" >&2; return 1; }
        sleep 0.1
    done
    echo "server on port $3 did not start in 15 s" >&2
    return 1
}

# bk_start_s3rver PORT DIR BUCKET...  (checks SigV4; MK_S3_KEY/MK_S3_SECRET added)
bk_start_s3rver() {
    local port=$1 dir=$2; shift 2
    rm -rf "$dir"; mkdir -p "$dir"
    node --openssl-legacy-provider "$BK_DIR/server.mjs" s3rver "$port" "$dir" "$@" \
        >"$dir.log" 2>&1 &
    BK_PIDS+=($!)
    bk_wait_started $! "$dir.log" "$port"
}

# bk_start_fauxqs PORT BUCKET...  (faithful multipart life cycle, no auth)
bk_start_fauxqs() {
    local port=$1; shift
    node --openssl-legacy-provider "$BK_DIR/server.mjs" fauxqs "$port" - "$@" \
        >"$MK_BUILD/backup_fauxqs_$port.log" 2>&1 &
    BK_PIDS+=($!)
    bk_wait_started $! "$MK_BUILD/backup_fauxqs_$port.log" "$port"
}

# bk_start_proxy PORT UPSTREAM_PORT
bk_start_proxy() {
    command -v python3 >/dev/null || bk_skip "python3 is not installed (the fault proxy needs it)"
    python3 "$BK_DIR/fault_proxy.py" "$1" "$2" >"$MK_BUILD/backup_proxy_$1.log" 2>&1 &
    BK_PIDS+=($!)
    bk_wait_started $! "$MK_BUILD/backup_proxy_$1.log" "$1"
}

bk_psql() { psql -X -v ON_ERROR_STOP=1 -q "$@"; }
# bk_flip FILE OFFSET: invert the byte at OFFSET.  Writing a fixed byte
# instead changes nothing when the object already holds it there (1 in
# 256 for ciphertext or compressed data), and the damage test then passes
# an intact object.
bk_flip() {
    python3 -c 'import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(int(sys.argv[2])); b = f.read(1); f.seek(int(sys.argv[2])); f.write(bytes([b[0] ^ 0xff]))' "$1" "$2"
}

# bk_check NAME EXPECTED ACTUAL
bk_fails=0
bk_check() {
    if [ "$2" = "$3" ]; then
        echo "ok - $1"
    else
        echo "not ok - $1"
        echo "#   expected: $2"
        echo "#   got:      $3"
        bk_fails=$((bk_fails + 1))
    fi
}

# bk_s3_settings PORT KEY SECRET [NAME=VALUE...]: the server's settings for
# a local S3 peer, where a DBA puts them (ALTER SYSTEM), so that pg_cron's
# sessions have them too.  The secret is superuser-only once the library
# defines it, hence mekatek in shared_preload_libraries (the harness does
# that); a cluster without it gets session preloading here.
# bk_s3_settings_reset undoes it (and any NAME given).
BK_EXTRA_SETTINGS=()
bk_s3_settings() {
    local port=$1 key=$2 secret=$3 preload kv; shift 3
    preload=$(psql -XtA -d postgres -c "SHOW shared_preload_libraries")
    if [[ $preload != *mekatek* ]]; then
        psql -Xq -d postgres -c "ALTER SYSTEM SET session_preload_libraries = 'mekatek'"
        echo "# mekatek is not in shared_preload_libraries: using session_preload_libraries"
    fi
    # Remembered here, outside the pipeline's subshell, for the reset.
    for kv in "$@"; do BK_EXTRA_SETTINGS+=("${kv%%=*}"); done
    {
        echo "LOAD 'mekatek';"
        echo "ALTER SYSTEM SET mekatek.s3_endpoint = 'http://127.0.0.1:$port';"
        echo "ALTER SYSTEM SET mekatek.s3_uri_style = 'path';"
        echo "ALTER SYSTEM SET mekatek.s3_access_key_id = '$key';"
        echo "ALTER SYSTEM SET mekatek.s3_secret_access_key = '$secret';"
        for kv in "$@"; do
            echo "ALTER SYSTEM SET ${kv%%=*} = '${kv#*=}';"
        done
        echo "SELECT pg_reload_conf();"
    } | psql -Xq -d postgres >/dev/null
}
bk_s3_settings_reset() {
    local name args=()
    for name in mekatek.s3_endpoint mekatek.s3_uri_style mekatek.s3_access_key_id \
                mekatek.s3_secret_access_key session_preload_libraries "${BK_EXTRA_SETTINGS[@]}"; do
        args+=(-c "ALTER SYSTEM RESET $name")
    done
    psql -Xq -d postgres "${args[@]}" -c "SELECT pg_reload_conf()" >/dev/null 2>&1 || true
}

# bk_fauxqs_db DB PORT ACCESS_KEY: a fresh database with mekatek whose
# settings (for this database only) point at the S3 peer on PORT, with
# short timeouts and backoff for the fault tests; exports PGDATABASE.
bk_fauxqs_db() {
    psql -Xq -d postgres -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1"
    export PGDATABASE=$1
    bk_psql <<SQL
CREATE EXTENSION mekatek;
ALTER DATABASE $1 SET mekatek.s3_endpoint = 'http://127.0.0.1:$2';
ALTER DATABASE $1 SET mekatek.s3_uri_style = 'path';
ALTER DATABASE $1 SET mekatek.s3_access_key_id = '$3';
ALTER DATABASE $1 SET mekatek.s3_timeout = '2s';
ALTER DATABASE $1 SET mekatek.s3_retry_base = '50ms';
SQL
}
