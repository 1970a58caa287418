#!/usr/bin/env bash
# Checkout before and after a change, in one session: each revision is a
# git archive under build/bench-<rev>/, running its own run.sh on the same
# port one after the other.  Usage: before_after.sh REV_BEFORE REV_AFTER [REV ...]
# (issue 14: 3348b57 977b208, the parent of e05c99f and main with it).
source "$(dirname "$0")/../../harness/common.sh"
[ $# -ge 2 ] || mk_die "usage: before_after.sh REV_BEFORE REV_AFTER [REV ...]"
export MK_BENCH_SECONDS=${MK_BENCH_SECONDS:-8} MK_BENCH_ROUNDS=${MK_BENCH_ROUNDS:-3}
for rev in "$@"; do
    tree=$MK_BUILD/bench-$rev
    rm -rf "$tree"; mkdir -p "$tree"
    git -C "$MK_ROOT" archive "$rev" | tar -x -C "$tree"
done
for rev in "$@"; do
    echo "=== $rev $(date -u +%T) load: $(cut -d' ' -f1-3 /proc/loadavg)"
    bash "$MK_BUILD/bench-$rev/test/bench/checkout/run.sh"
done
echo "=== end $(date -u +%T) load: $(cut -d' ' -f1-3 /proc/loadavg)"
