# Shared settings for the harness scripts; sourced, never run.
# Every path lives under the project's build/ directory so that several
# checkouts (or CI and a developer) never share a cluster or an install.
set -euo pipefail

MK_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MK_BUILD=$MK_ROOT/build
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}

# Ports.  Every port a test or benchmark listens on is MK_TEST_PORT plus a
# fixed offset below 100, so that two checkouts (or two engineers) with
# base ports 100 apart never collide, and test/harness/port-audit.sh can
# check that nothing strays outside MK_TEST_PORT..MK_TEST_PORT+99.
#   offset  listener                                     used by
#   +0      the test cluster                             run-tests.sh
#   +1      the "edge" cluster (stopped mid-test)        test/scripts/devices_edge_fault.sh
#   +2      the "readme" cluster (README examples)       test/scripts/readme_examples.sh
#   +3      the "valgrind" cluster (MK_VALGRIND=1)       test/scripts/valgrind.sh
#   +4      the "sqlsmith" cluster                       test/bench/sqlsmith/run.sh
#   +5      the "notify" cluster                         test/scripts/devices_notifier.sh
#   +6      the stand-in Telegram Bot API                test/scripts/devices_notifier.sh
#   +7      the "creds" cluster (AWS environment)        test/scripts/backup_credentials.sh
#   +8      the "fuzz" cluster                           test/scripts/core_fuzz.sh
#   +9      PgBouncer (transaction pooling)              test/scripts/pos_webapp.sh
#   +10..19 S3 peers, fault proxy, a port left closed    test/backup_s3/lib.sh (bk_port)
#   +20     the "mqtt" cluster (stopped mid-test)        test/scripts/devices_mqtt.sh
#   +21     mosquitto, the MQTT broker                   test/scripts/devices_mqtt.sh
#   +22     mosquitto for the devices bench              test/bench/devices/run.sh
#   +27     prometheus-postgres-exporter (health)        test/scripts/backup_health.sh
#   +30..32 chain: headquarters, branch 1, branch 2      test/scripts/chain_day.sh
#   +33..35 headquarters, branch 1, branch 2             test/scripts/chain_partial_agg.sh
#   +40     bench cluster: checkout                      test/bench/checkout/run.sh
#   +41     bench cluster: basket                        test/bench/basket/run.sh
#   +42     bench cluster: geo                           test/bench/geo/run.sh
#   +43     bench cluster: firewall                      test/bench/firewall/run.sh
#   +44     bench cluster: backup (S3 peer from +10..19) test/bench/backup/run.sh
#   +45     bench cluster: devices                       test/bench/devices/run.sh
#   +46     bench cluster: ledger                        test/bench/ledger/run.sh
#   +47     bench cluster: survey                        test/bench/survey/run.sh
#   +48..50 bench clusters: chain HQ, branch 1, branch 2 test/bench/chain/run.sh
# The demo cluster is not a test: it listens on MK_PORT (Makefile, 54329).
# The default base lies below Linux's ephemeral range (32768-60999): a
# listener there can find its port taken by the outgoing side of some
# loopback connection (a curl to the S3 peer, a psql over TCP), which made
# a test fail to bind now and then.
MK_TEST_PORT=${MK_TEST_PORT:-25430}
declare -A MK_PORT_OFFSET=(
    [test]=0 [edge]=1 [readme]=2 [valgrind]=3 [sqlsmith]=4 [notify]=5 [telegram]=6
    [creds]=7 [fuzz]=8 [pgbouncer]=9
    [backup_exporter]=27
    [chain_hq]=30 [chain_b1]=31 [chain_b2]=32
    [chain_pa_hq]=33 [chain_pa_b1]=34 [chain_pa_b2]=35
    [s3_first]=10 [s3_last]=19
    [mqtt]=20 [mqtt_broker]=21 [bench_mqtt_broker]=22
    [bench_checkout]=40 [bench_basket]=41 [bench_geo]=42
    [bench_firewall]=43 [bench_backup]=44 [bench_devices]=45
    [bench_ledger]=46
    [bench_survey]=47
    [bench_chain_hq]=48 [bench_chain_b1]=49 [bench_chain_b2]=50
)
# mk_port NAME: MK_TEST_PORT + NAME's offset.
mk_port() {
    [ -n "${MK_PORT_OFFSET[$1]:-}" ] || { echo "mk_port: no port named $1" >&2; return 1; }
    echo $((MK_TEST_PORT + MK_PORT_OFFSET[$1]))
}

# mk_private NAME: set bindir, port, cluster (the script), dir and sock for
# a test's own cluster NAME, started with "$cluster" fresh NAME "$port" "$bindir".
mk_private() {
    bindir=${MK_BINDIR:?MK_BINDIR must point at the PostgreSQL binaries}
    port=$(mk_port "$1")
    cluster=$MK_ROOT/test/harness/cluster.sh
    dir=$MK_BUILD/$1
    sock=$dir/run
}

# mk_mosquitto DIR PORT: start Debian's mosquitto on 127.0.0.1:PORT in the
# background (its pid in DIR/mosquitto.pid, its log in DIR/mosquitto.log),
# with room for the queues of a test (max_queued_messages).
mk_mosquitto() {
    local dir=$1 port=$2 i
    mkdir -p "$dir"
    cat >"$dir/mosquitto.conf" <<CONF
listener $port 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 100000
max_inflight_messages 1000
log_dest stderr
log_type error
log_type warning
CONF
    [ "$(id -u)" = 0 ] && echo "user root" >>"$dir/mosquitto.conf"
    /usr/sbin/mosquitto -c "$dir/mosquitto.conf" 2>"$dir/mosquitto.log" &
    echo $! >"$dir/mosquitto.pid"
    for i in $(seq 1 50); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.1
    done
    cat "$dir/mosquitto.log" >&2
    mk_die "mosquitto did not start on port $port"
}

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
