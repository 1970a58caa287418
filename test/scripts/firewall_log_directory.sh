#!/usr/bin/env bash
# fw_load_file reads only inside mekatek.fw_log_directory, with symbolic
# links resolved (issue 14 §4): a symlink inside the directory that points
# outside it (to the server's postgresql.auto.conf, where the S3 secret
# may be), a symlinked subdirectory pointing outside, and a symlink to the
# directory's own file (allowed: its target is inside) are tried as an
# admin with pg_read_server_files.
set -euo pipefail
source "$(dirname "$0")/../harness/common.sh"
db=mekatek_fw_logdir
psql() { command psql -X -v ON_ERROR_STOP=1 -q -At "$@"; }
work=$MK_BUILD/fw_logdir
rm -rf "$work"
mkdir -p "$work/logs/sub" "$work/outside"
printf 'IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2 PROTO=UDP SPT=1 DPT=2\nnot a log line\n' >"$work/logs/kern.log"
printf 'secret=hunter2\n' >"$work/outside/secret.conf"
ln -s "$work/outside/secret.conf" "$work/logs/innocent.log"
ln -s "$work/outside" "$work/logs/elsewhere"
ln -s kern.log "$work/logs/alias.log"
chmod -R a+rX "$work"
chown -R postgres "$work" 2>/dev/null || true

psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
trap 'psql -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null || true; rm -rf "$work"' EXIT
psql -d $db <<SQL
CREATE EXTENSION mekatek;
CREATE ROLE fw_logdir_admin IN ROLE mekatek_admin, pg_read_server_files;
ALTER DATABASE $db SET mekatek.fw_log_directory = '$work/logs';
SQL

try() {
    psql -d $db -c "SET client_min_messages = error" -c "SET ROLE fw_logdir_admin" -c "SELECT loaded || ' ' || rejected FROM mekatek.fw_load_file('$1')" 2>&1 \
        | grep -v '^HINT' | sed -e "s|$work|WORK|g" -e 's/^psql:[^E]*ERROR: */ERROR: /'
}
got=$(for f in kern.log alias.log "$work/logs/kern.log" innocent.log elsewhere/secret.conf "$work/logs/elsewhere/secret.conf" sub; do
    printf '%s: %s\n' "$f" "$(try "$f" | tr '\n' ' ' | sed 's/ $//')"
done | sed -e "s|$work|WORK|g")
expected='kern.log: 1 1
alias.log: 1 1
WORK/logs/kern.log: 1 1
innocent.log: ERROR:  fw_load_file: "innocent.log" is outside mekatek.fw_log_directory
elsewhere/secret.conf: ERROR:  fw_load_file: "elsewhere/secret.conf" is outside mekatek.fw_log_directory
WORK/logs/elsewhere/secret.conf: ERROR:  fw_load_file: "WORK/logs/elsewhere/secret.conf" is outside mekatek.fw_log_directory
sub: ERROR:  "sub" is a directory'
if [ "$got" != "$expected" ]; then
    diff <(echo "$expected") <(echo "$got") || true
    mk_die "fw_load_file and mekatek.fw_log_directory"
fi
# nothing of the secret reached fw_reject
leaked=$(psql -d $db -c "SELECT count(*) FROM mekatek.fw_reject WHERE line LIKE '%hunter2%'")
[ "$leaked" = 0 ] || mk_die "the secret reached fw_reject"
echo "fw_load_file: 3 loads inside the directory, 3 symlinks out of it refused, no secret in fw_reject"
