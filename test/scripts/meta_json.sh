#!/usr/bin/env bash
# META.json is valid PGXN metadata (Meta Spec 1.0.0, checked against PGXN's
# own JSON Schemas with python3-jsonschema), names the version of
# mekatek.control, and points at files that exist.  A copy without its
# license must fail, so a validator that accepts everything cannot pass.
set -euo pipefail
root=${MK_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$root"
py=
for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null && "$p" -c 'import jsonschema' 2>/dev/null; then py=$p; break; fi
done
[ -n "$py" ] || { echo "python3-jsonschema is not installed (test/harness/packages.txt lists it)"; exit 77; }
fails=0
check() { if [ "$2" = "$3" ]; then echo "ok - $1"; else echo "not ok - $1"; echo "#   expected: $2"; echo "#   got:      $3"; fails=$((fails + 1)); fi; }

out=$("$py" test/meta/validate.py META.json 2>&1) && rc=0 || rc=$?
check "META.json validates against PGXN Meta Spec v1" "0:" "$rc:$out"

control=$(sed -n "s/^default_version = '\(.*\)'/\1/p" mekatek.control)
check "META.json version is mekatek.control's default_version" "$control $control" \
    "$("$py" -c 'import json; m = json.load(open("META.json")); print(m["version"], m["provides"]["mekatek"]["version"])')"
for f in $("$py" -c 'import json; e = json.load(open("META.json"))["provides"]["mekatek"]; print(e["file"], e["docfile"])'); do
    check "META.json names an existing file: $f" yes "$([ -f "$f" ] && echo yes || echo no)"
done

tmp=$(mktemp); trap 'rm -f "$tmp"' EXIT
"$py" -c 'import json; m = json.load(open("META.json")); del m["license"]; json.dump(m, open("'"$tmp"'", "w"))'
out=$("$py" test/meta/validate.py "$tmp" 2>&1) && rc=0 || rc=$?
check "a META.json without license is refused" "1:(top): 'license' is a required property" "$rc:$out"

[ "$fails" = 0 ] && echo "META.json: valid" || exit 1
