# Shared by the devices end-to-end scripts; sourced after common.sh.
# dv_cluster fresh|start NAME PORT WORK: a private cluster for a script that
# stops it mid-test.  The port can be taken for a moment by some client's
# ephemeral port on a busy machine: try a few times before calling it a
# failure (the last error in WORK/cluster.err).
dv_cluster() {
    local i
    for i in 1 2 3 4 5; do
        MK_FAST=1 bash "$MK_ROOT/test/harness/cluster.sh" "$1" "$2" "$3" "$bindir" >/dev/null 2>"$4/cluster.err" && return 0
        sleep 1
    done
    cat "$4/cluster.err"; return 1
}
