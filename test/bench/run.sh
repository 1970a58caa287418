#!/usr/bin/env bash
# make bench: every benchmark under test/bench/*/run.sh, one after another.
# Each prints Mekatek and its peer side by side with the ratio.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
status=0
for b in "$here"/*/run.sh; do
    echo "=================== $(basename "$(dirname "$b")")"
    bash "$b" || status=1
done
exit $status
