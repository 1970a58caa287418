#!/usr/bin/env bash
# backup: S3 keys found the way the AWS tools find them, and no secret in
# the server log.  A private cluster ("creds", MK_TEST_PORT+7) is started
# with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY in its environment and an
# AWS shared credentials file, and exports to @20minutes/s3rver (which checks
# every Signature V4, see backup_s3.sh): the environment, a profile named by
# mekatek.s3_profile, a profile named by the server's AWS_PROFILE, the
# errors when there is none.  Then, with log_statement = all, the secret set
# through the settings and sent again as a bound parameter of
# set_config($1, $2), in a name built from pieces, in a literal and in an
# error, never reaches the server log.
source "$(dirname "$0")/../backup_s3/lib.sh"
mk_private creds
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE AWS_SHARED_CREDENTIALS_FILE

bk_port S3RVER
KEY=MEKATEKCREDSKEY SECRET='Cr3ds-secret-from-the-environment-0123'
UNKNOWN='not-yet-known-secret-sent-bound-4567'
bk_npm
STORE=$MK_BUILD/creds_s3rver
MK_S3_KEY=$KEY MK_S3_SECRET=$SECRET bk_start_s3rver "$S3RVER" "$STORE" mekatek-test

# The credentials file of the AWS tools: [default] has a wrong secret, so a
# success through it proves the profile that was asked for was read.
files=$MK_BUILD/creds-files
rm -rf "$files"; mkdir -p "$files"
cat >"$files/credentials" <<INI
# written by backup_credentials.sh
[default]
aws_access_key_id = $KEY
aws_secret_access_key = wrong-secret-of-the-default-profile

[mekatek]
aws_access_key_id=$KEY
aws_secret_access_key   =   $SECRET
    ; an indented line is a continuation, ignored
INI
chmod -R a+rX "$files"

# server ENV...: (re)start the creds cluster with exactly these AWS_* variables.
server() {
    bash "$cluster" stop creds "$bindir"
    env "$@" MK_CLUSTER_CONF='log_statement = all' \
        bash "$cluster" start creds "$port" "$bindir" >/dev/null
}
rm -rf "$dir"
trap 'bash "$cluster" stop creds "$bindir"; bk_stop' EXIT
server AWS_ACCESS_KEY_ID=$KEY AWS_SECRET_ACCESS_KEY=$SECRET AWS_SHARED_CREDENTIALS_FILE=$files/credentials

q() { "$bindir/psql" -X -q -h "$sock" -p "$port" -U postgres -d creds -v VERBOSITY=verbose -tA "$@" 2>&1; }
"$bindir/psql" -X -q -h "$sock" -p "$port" -U postgres -d postgres -c "CREATE DATABASE creds"
q -c "CREATE EXTENSION mekatek" -c "ALTER DATABASE creds SET mekatek.s3_endpoint = 'http://127.0.0.1:$S3RVER'" \
  -c "ALTER DATABASE creds SET mekatek.s3_uri_style = 'path'" >/dev/null
export_to() { # key [SQL before] -> files_uploaded or the error
    q -c "${2:-SELECT}" -c "SELECT files_uploaded FROM mekatek.s3_export('SELECT 1 AS one', 'mekatek-test', '$1')" | grep .
}

bk_check "the server's environment: an export with the settings empty" 1 "$(export_to env/one.csv)"
bk_check "and the object is stored" yes "$([ -e "$STORE/mekatek-test/env/one.csv._S3rver_object" ] && echo yes || echo no)"
bk_check "mekatek.s3_profile names a profile of the file, read before the environment (its wrong secret: 28000)" 1 \
    "$(export_to p/default.csv "SET mekatek.s3_profile = 'default'" | grep -c '^ERROR:  28000: S3 .*SignatureDoesNotMatch')"
bk_check "mekatek.s3_profile = 'mekatek' exports" 1 "$(export_to p/mekatek.csv "SET mekatek.s3_profile = 'mekatek'")"
bk_check "a profile the file does not have: 55000 naming it and the file" 1 \
    "$(export_to p/none.csv "SET mekatek.s3_profile = 'nope'" | grep -c "^ERROR:  55000: S3 credentials: no profile \"nope\" in \"$files/credentials\"")"
bk_check "a cashier cannot choose the profile" 1 \
    "$(q -c "CREATE ROLE creds_cashier LOGIN IN ROLE mekatek_cashier" -c "SET ROLE creds_cashier" -c "SET mekatek.s3_profile = 'x'" | grep -c 'permission denied to set parameter "mekatek.s3_profile"')"
q -c "SELECT 'literal ' || '$SECRET'" -c "SELECT '$SECRET'::int" >/dev/null || true

server AWS_PROFILE=mekatek AWS_SHARED_CREDENTIALS_FILE=$files/credentials
bk_check "no environment keys: the file's profile named by the server's AWS_PROFILE" 1 "$(export_to file/aws_profile.csv)"
server AWS_SHARED_CREDENTIALS_FILE=$files/credentials
bk_check "no AWS_PROFILE: the file's [default] (its wrong secret: 28000)" 1 \
    "$(export_to file/default.csv | grep -c '^ERROR:  28000:')"
server AWS_SHARED_CREDENTIALS_FILE=$files/missing
bk_check "no keys anywhere: 55000 saying where it looked" 1 \
    "$(export_to none.csv | grep -A1 '^ERROR:  55000: no S3 credentials' | grep -c "^DETAIL:  Looked for profile \"default\" of $files/missing.")"
server AWS_ACCESS_KEY_ID=$KEY
bk_check "half the keys in the environment: 55000 naming the missing one" 1 \
    "$(export_to half.csv | grep -c '^ERROR:  55000: S3 credentials: the server.s environment has AWS_ACCESS_KEY_ID but not AWS_SECRET_ACCESS_KEY')"

# The settings: set through the configuration (ALTER SYSTEM), then sent
# again from a client that binds its parameters, as drivers do.
q -c "ALTER SYSTEM SET mekatek.s3_access_key_id = '$KEY'" -c "ALTER SYSTEM SET mekatek.s3_secret_access_key = '$SECRET'" \
  -c "SELECT pg_reload_conf()" >/dev/null
sleep 1
bk_check "the settings win over the environment" 1 "$(export_to settings/one.csv)"
bound=$(PYTHONPATH=$MK_ROOT/test/harness python3 -c '
import sys, pq
sock, port, secret, unknown = sys.argv[1:]
c = pq.Connection("host=%s port=%s user=postgres dbname=creds" % (sock, port))
for value in (secret, unknown):
    c.execute("SELECT set_config($1, $2, false)", ["mekatek.s3_secret_access_key", value])
c.execute("SELECT set_config($1, $2, false)", ["mekatek.s3_" + "session_token", unknown])
try:
    c.execute("SELECT $1::int", [secret])
except pq.Error as e:
    print(e.sqlstate)
' "$sock" "$port" "$SECRET" "$UNKNOWN")
bk_check "the bound client ran (its cast error: 22P02)" 22P02 "$bound"
q -c "SELECT set_config('mekatek.s3_' || 'secret_access_key', '$SECRET', false)" \
  -c "SELECT 'literal ' || '$SECRET'" -c "DO \$\$ BEGIN RAISE NOTICE 'x %', '$SECRET'; END \$\$" >/dev/null
log=$dir/server.log
bk_check "log_statement = all logged the bound statements" 1 \
    "$(grep -c 'execute <unnamed>: SELECT set_config(\$1, \$2, false)' "$log" | sed 's/^[1-9][0-9]*$/1/')"
bk_check "their parameters are hidden" 1 \
    "$(grep -c 'DETAIL:  parameters: <hidden: one names a Mekatek S3 credential>' "$log" | sed 's/^[1-9][0-9]*$/1/')"
bk_check "the known secret is redacted where it appeared (literal, error, notice, pieces)" 1 \
    "$(grep -c '<redacted>' "$log" | sed 's/^[4-9]$/1/; s/^[1-9][0-9]\+$/1/')"
bk_check "the secret is not in the server log" 0 "$(grep -c -- "$SECRET" "$log" || true)"
bk_check "the bound, not yet known secret is not in the server log" 0 "$(grep -c -- "$UNKNOWN" "$log" || true)"
[ "$bk_fails" = 0 ] || { echo "$bk_fails checks failed"; exit 1; }
echo "credentials from the environment, the file and its profiles; no secret in the log"
