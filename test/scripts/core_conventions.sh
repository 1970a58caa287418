#!/usr/bin/env bash
# Conventions a new module cannot slip past (the rest, COMMENTs and
# privileges, is test/pgtap/core_conventions.sql):
#   - every C file under src/ lives in src/core, src/edge or a folder named
#     in the Makefile's MODULES (so it is built, initialised and documented);
#   - every folder of MODULES has a README section (<!-- m:begin -->);
#   - every function of schema mekatek is named in README.md (the module's
#     reference, or the list of its triggers and support functions).
# Runs against the harness's cluster (PGHOST/PGPORT), in a database of its own.
source "$(dirname "$0")/../harness/common.sh"
cd "$MK_ROOT"
fails=0
check() { if [ -z "$2" ]; then echo "ok - $1"; else echo "not ok - $1:"; printf '#   %s\n' $2; fails=$((fails + 1)); fi; }

modules=$(make -s print-MODULES)
[ -n "$modules" ] || mk_die "make print-MODULES printed nothing"
allowed="core edge $modules"
stray=$(find src -name '*.c' -o -name '*.h' | sort | while read -r f; do
    d=${f#src/}; d=${d%%/*}
    [[ $f == src/*/* ]] && [[ " $allowed " == *" $d "* ]] || echo "$f"
done)
check "every C file lives in src/core, src/edge or a folder of MODULES ($modules)" "$stray"

nosection=$(for m in $modules; do grep -qF "<!-- $m:begin -->" README.md || echo "$m"; done)
check "every module of MODULES has a README section" "$nosection"

db=mekatek_conventions
psql -Xq -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
psql -Xq -d "$db" -c "CREATE EXTENSION mekatek"
funcs=$(psql -XtA -d "$db" -c "SELECT DISTINCT proname FROM pg_proc WHERE pronamespace = 'mekatek'::regnamespace ORDER BY 1")
psql -Xq -d postgres -c "DROP DATABASE $db"
[ "$(wc -w <<<"$funcs")" -gt 10 ] || mk_die "found only $(wc -w <<<"$funcs") functions in schema mekatek"
undocumented=$(for f in $funcs; do grep -qw -- "$f" README.md || echo "$f"; done)
check "every function of schema mekatek ($(wc -w <<<"$funcs") names) is named in README.md" "$undocumented"

[ "$fails" = 0 ] && echo "conventions hold" || exit 1
