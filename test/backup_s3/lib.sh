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
