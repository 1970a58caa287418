#!/usr/bin/env bash
# core: the catalog-driven fuzz test (issue 14, section 6).  Every function
# and procedure of schema mekatek, found in pg_proc, is called with edge
# values per argument type, as a superuser and as the least privileged role
# that may execute it, each call in its own transaction with a
# statement_timeout (test/scripts/core_fuzz.py).  Fails on a backend crash,
# SQLSTATE XX000, a call that cannot be cancelled, or a backend above
# MK_FUZZ_MEM_MB of private memory.  Prints the count of functions and calls.
# A private cluster ("fuzz", MK_TEST_PORT+8) over a busy day's data
# (test/safety/busy_day.sql), so a crash disturbs no other test.
#   MK_FUZZ_LONG=1     every edge value of every argument, more random
#                      combinations, a longer timeout (~21,000 calls,
#                      under 2 minutes while other work ran)
#   MK_FUZZ_SEED=N     another sample (default 14)
#   MK_FUZZ_FILTER=s   only functions whose name contains s
source "$(dirname "$0")/../harness/common.sh"
mk_private fuzz
command -v python3 >/dev/null || { echo "python3 is not installed"; exit 77; }

# Small shared memory so that a backend's own memory is what is measured;
# every S3 request goes to a closed port, at once and without retries.
MK_FAST=1 MK_CLUSTER_CONF="shared_buffers = 32MB
max_connections = 40" bash "$cluster" fresh fuzz "$port" "$bindir" >/dev/null
trap 'bash "$cluster" stop fuzz "$bindir"' EXIT
psql() { "$bindir/psql" -X -q -h "$sock" -p "$port" -U postgres -v ON_ERROR_STOP=1 "$@"; }
psql -d postgres -c "CREATE DATABASE fuzz"
psql -d fuzz -c "CREATE EXTENSION mekatek CASCADE" >/dev/null
(cd "$MK_ROOT/test/safety" && psql -d fuzz -v ON_ERROR_STOP=0 -f busy_day.sql >"$dir/busy_day.log" 2>&1) \
    || { tail -n 20 "$dir/busy_day.log"; exit 1; }
psql -d fuzz <<SQL
CREATE ROLE fuzz_nobody NOLOGIN;
ALTER DATABASE fuzz SET mekatek.s3_endpoint = 'http://127.0.0.1:$(mk_port s3_last)';
ALTER DATABASE fuzz SET mekatek.s3_uri_style = 'path';
ALTER DATABASE fuzz SET mekatek.s3_max_retries = 0;
ALTER DATABASE fuzz SET mekatek.s3_timeout = '1s';
-- Only in this throw-away database: a key to sign with, so that S3 calls
-- get past the credential lookup to the (closed) endpoint.
ALTER DATABASE fuzz SET mekatek.s3_access_key_id = 'FUZZKEY';
ALTER DATABASE fuzz SET mekatek.s3_secret_access_key = 'fuzz-secret-not-a-secret';
SQL
t0=$(date +%s)
rc=0
MK_FUZZ_DSN="host=$sock port=$port user=postgres dbname=fuzz" python3 "$MK_ROOT/test/scripts/core_fuzz.py" || rc=$?
echo "# $(( $(date +%s) - t0 )) s"
if grep -E "terminated by signal|was terminated by|server process .* exited with exit code [^0]" "$dir/server.log"; then
    echo "the server log shows a backend that died"
    rc=1
fi
[ "$rc" = 0 ] && echo "no crash, no XX000, every call cancellable, memory bounded"
exit "$rc"
