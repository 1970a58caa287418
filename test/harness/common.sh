# Shared settings for the harness scripts; sourced, never run.
# Every path lives under the project's build/ directory so that several
# checkouts (or CI and a developer) never share a cluster or an install.
set -euo pipefail

MK_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MK_BUILD=$MK_ROOT/build
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}

mk_log() { printf '== %s\n' "$*" >&2; }
mk_die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

# PostgreSQL refuses to run as root, so root (CI, docker) runs the server
# as the postgres account that the postgresql-15 package creates.
mk_as_pg() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

mk_sudo() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}
