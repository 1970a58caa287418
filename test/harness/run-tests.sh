#!/usr/bin/env bash
# make test: install, then every suite against a fresh private cluster.
#   pg_regress  sql/*.sql against expected/*.out
#   isolation   test/isolation/specs/*.spec against test/isolation/expected/*.out
#   pgTAP       test/pgtap/*.sql through pg_prove
#   scripts     test/scripts/*.sh (fault, fuzz and end-to-end tests);
#               exit 0 = pass, 77 = skip (say why on stdout), else fail
# Ends with one line "N passed, N failed, N skipped"; exits non-zero on any
# failure.  MK_ONLY=regress|isolation|pgtap|scripts runs one suite and
# MK_FILTER=regex narrows the tests by name (for development).
source "$(dirname "$0")/common.sh"

port=$(mk_port test)
only=${MK_ONLY:-}
filter=${MK_FILTER:-.}
pgxs=$(cd "$(dirname "$($PG_CONFIG --pgxs)")/../.." && pwd)
passed=0 failed=0 skipped=0
failures=()

pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); failures+=("$1"); }

# A base inside the ephemeral range works, but a test may now and then fail
# to bind (common.sh); say so once instead of leaving a puzzle.
if read -r eph_lo eph_hi < /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null &&
   [ "$MK_TEST_PORT" -le "$eph_hi" ] && [ $((MK_TEST_PORT + 99)) -ge "$eph_lo" ]; then
    mk_log "note: MK_TEST_PORT=$MK_TEST_PORT..$((MK_TEST_PORT + 99)) overlaps the ephemeral ports $eph_lo-$eph_hi; a listener may find its port taken"
fi

# The same install step as `make demo`: the system installation, for users
# of their own server...
if [ "${MK_SKIP_SYSTEM_INSTALL:-0}" != 1 ]; then
    mk_log "make install"
    mk_sudo make -s -C "$MK_ROOT" install PG_CONFIG="$PG_CONFIG" >/dev/null
fi
# ...and a staged copy that the tests run against, so a test never sees
# another checkout's build.
bindir=$(bash "$MK_ROOT/test/harness/stage.sh" | tail -n 1)
MK_FAST=1 bash "$MK_ROOT/test/harness/cluster.sh" fresh test "$port" "$bindir"
sock=$MK_BUILD/test/run
trap 'bash "$MK_ROOT/test/harness/cluster.sh" stop test "$bindir"' EXIT

export PGHOST=$sock PGPORT=$port PGUSER=postgres MK_BINDIR=$bindir MK_ROOT MK_BUILD MK_TEST_PORT
export PATH=$bindir:$PATH
if [ -d "$MK_ROOT/../shared" ]; then export MK_SHARED=$(cd "$MK_ROOT/../shared" && pwd); fi

names() { # dir ext -> basenames matching the filter
    local f
    for f in "$1"/*."$2"; do
        [ -e "$f" ] || continue
        f=$(basename "$f" ."$2")
        [[ $f =~ $filter ]] && echo "$f"
    done
    return 0
}

# pg_regress prints "test NAME ... ok" or "... FAILED" per test.
count_regress() { # logfile label expected-count
    local line seen=0
    while read -r line; do
        if [[ $line =~ ^(test\ )?([A-Za-z0-9_]+)\ +\.\.\.\ +(ok|FAILED|failed) ]]; then
            seen=$((seen + 1))
            if [ "${BASH_REMATCH[3]}" = ok ]; then pass; else fail "$2 ${BASH_REMATCH[2]}"; fi
        fi
    done < "$1"
    while [ "$seen" -lt "$3" ]; do fail "$2: a test did not report (see $1)"; seen=$((seen + 1)); done
}

if [ -z "$only" ] || [ "$only" = regress ]; then
    mapfile -t tests < <(names "$MK_ROOT/sql" sql)
    if [ ${#tests[@]} -gt 0 ]; then
        mk_log "pg_regress: ${#tests[@]} tests"
        rm -rf "$MK_BUILD/regress"; mkdir -p "$MK_BUILD/regress"
        "$pgxs/src/test/regress/pg_regress" --bindir="$bindir" --host="$sock" --port="$port" \
            --user=postgres --inputdir="$MK_ROOT" --outputdir="$MK_BUILD/regress" \
            --dbname=mekatek_regress --load-extension=mekatek "${tests[@]}" \
            >"$MK_BUILD/regress/run.log" 2>&1 || true
        cat "$MK_BUILD/regress/run.log"
        count_regress "$MK_BUILD/regress/run.log" regress ${#tests[@]}
        [ -s "$MK_BUILD/regress/regression.diffs" ] && head -n 300 "$MK_BUILD/regress/regression.diffs"
    fi
fi

if [ -z "$only" ] || [ "$only" = isolation ]; then
    mapfile -t tests < <(names "$MK_ROOT/test/isolation/specs" spec)
    if [ ${#tests[@]} -gt 0 ]; then
        mk_log "isolation: ${#tests[@]} specs"
        rm -rf "$MK_BUILD/isolation"; mkdir -p "$MK_BUILD/isolation"
        "$pgxs/src/test/isolation/pg_isolation_regress" --bindir="$bindir" --host="$sock" --port="$port" \
            --user=postgres --inputdir="$MK_ROOT/test/isolation" --outputdir="$MK_BUILD/isolation" \
            --dbname=mekatek_isolation --load-extension=mekatek "${tests[@]}" \
            >"$MK_BUILD/isolation/run.log" 2>&1 || true
        cat "$MK_BUILD/isolation/run.log"
        count_regress "$MK_BUILD/isolation/run.log" isolation ${#tests[@]}
        [ -s "$MK_BUILD/isolation/regression.diffs" ] && head -n 300 "$MK_BUILD/isolation/regression.diffs"
    fi
fi

if [ -z "$only" ] || [ "$only" = pgtap ]; then
    mapfile -t tests < <(names "$MK_ROOT/test/pgtap" sql)
    if [ ${#tests[@]} -gt 0 ]; then
        mk_log "pgTAP: ${#tests[@]} files"
        psql -Xq -d postgres -c "CREATE DATABASE mekatek_tap"
        psql -Xq -d mekatek_tap -c "CREATE EXTENSION mekatek CASCADE; CREATE EXTENSION pgtap;"
        mkdir -p "$MK_BUILD/pgtap"
        for t in "${tests[@]}"; do
            if pg_prove -h "$sock" -p "$port" -U postgres -d mekatek_tap "$MK_ROOT/test/pgtap/$t.sql" \
                >"$MK_BUILD/pgtap/$t.log" 2>&1; then
                pass
                grep -E '^(Files|Result)' "$MK_BUILD/pgtap/$t.log" | tr '\n' ' ' | sed "s/^/pgtap $t: /"; echo
            else
                fail "pgtap $t"
                pg_prove -v -h "$sock" -p "$port" -U postgres -d mekatek_tap "$MK_ROOT/test/pgtap/$t.sql" 2>&1 \
                    | grep -v '^ok ' | head -n 120 || true
            fi
        done
    fi
fi

if [ -z "$only" ] || [ "$only" = scripts ]; then
    mapfile -t tests < <(names "$MK_ROOT/test/scripts" sh)
    mkdir -p "$MK_BUILD/scripts"
    for t in "${tests[@]}"; do
        mk_log "script: $t"
        rc=0
        bash "$MK_ROOT/test/scripts/$t.sh" >"$MK_BUILD/scripts/$t.log" 2>&1 || rc=$?
        case $rc in
            0) pass; tail -n 3 "$MK_BUILD/scripts/$t.log" ;;
            77) skipped=$((skipped + 1)); echo "skipped $t: $(tail -n 1 "$MK_BUILD/scripts/$t.log")" ;;
            *) fail "script $t"; tail -n 60 "$MK_BUILD/scripts/$t.log" ;;
        esac
    done
fi

for f in "${failures[@]}"; do echo "FAILED: $f"; done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ] && [ $((passed + skipped)) -gt 0 ]
