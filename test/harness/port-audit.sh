#!/usr/bin/env bash
# Port audit: does every test listen inside its base port's window?
#   bash test/harness/port-audit.sh [BASE]      (BASE defaults to 56000)
# Runs `MK_TEST_PORT=BASE make test` (MK_ONLY, MK_FILTER and
# MK_SKIP_SYSTEM_INSTALL pass through) while sampling the listening TCP and
# UDP sockets (`ss -ltunpH`) every 0.2 s, and reports every socket that
# was not listening before the run, belongs to a process of the run and
# lies outside BASE..BASE+99 (the port table is in test/harness/common.sh).
# A process belongs to the run when its environment carries this run's
# MK_PORT_AUDIT token (the postmaster leaves make's process tree when
# pg_ctl daemonises it, but keeps the environment).  Sockets of other
# processes (other checkouts' tests on a shared machine) are counted, not
# reported.  Exit 0 when nothing strays, 1 when something does or the test
# run failed.  Needs root (or the same user as every test process) to read
# other processes' environments.
source "$(dirname "$0")/common.sh"

base=${1:-56000}
token=audit-$$-$RANDOM
out=$MK_BUILD/port-audit
rm -rf "$out"; mkdir -p "$out"
command -v ss >/dev/null || mk_die "ss (iproute2) is needed"

ss -ltunH | awk '{print $1, $5}' | sort -u >"$out/before"

python3 - "$token" "$out" <<'PY' &
import os, re, subprocess, sys, time
token, out = sys.argv[1].encode(), sys.argv[2]
seen = {}
stop = os.path.join(out, "stop")
pat = re.compile(r'pid=(\d+)')
while True:
    last = os.path.exists(stop)
    lines = subprocess.run(["ss", "-ltunpH"], capture_output=True, text=True).stdout.splitlines()
    for line in lines:
        f = line.split()
        if len(f) < 5:
            continue
        key = f[0] + " " + f[4]
        if key in seen and seen[key][0]:
            continue
        ours, procs = False, []
        for pid in pat.findall(line):
            try:
                env = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
                comm = open(f"/proc/{pid}/comm").read().strip()
            except OSError:
                continue
            procs.append(f"{comm}[{pid}]")
            if b"MK_PORT_AUDIT=" + token in env:
                ours = True
        seen[key] = (ours, " ".join(procs))
    if last:
        break
    time.sleep(0.2)
with open(os.path.join(out, "seen"), "w") as fh:
    for key, (ours, procs) in sorted(seen.items()):
        fh.write(f"{key} {'run' if ours else 'other'} {procs}\n")
PY
sampler=$!

mk_log "MK_TEST_PORT=$base make test (sampling listening sockets)"
rc=0
MK_PORT_AUDIT=$token MK_TEST_PORT=$base make -s -C "$MK_ROOT" test >"$out/test.log" 2>&1 || rc=$?
touch "$out/stop"; wait "$sampler"
tail -n 1 "$out/test.log"

strays=0 inside=0 others=0
while read -r proto addr who procs; do
    grep -qxF "$proto $addr" "$out/before" && continue
    port=${addr##*:}
    if [ "$who" != run ]; then others=$((others + 1)); continue; fi
    if [ "$port" -ge "$base" ] && [ "$port" -le $((base + 99)) ]; then
        inside=$((inside + 1)); echo "inside  $proto $addr $procs"
    else
        strays=$((strays + 1)); echo "OUTSIDE $proto $addr $procs"
    fi
done <"$out/seen"
echo "port audit, base $base: $inside socket(s) of the run inside $base-$((base + 99)), $strays outside; $others new socket(s) of other processes ignored; make test exit $rc (log: $out/test.log)"
[ "$strays" = 0 ] && [ "$rc" = 0 ]
