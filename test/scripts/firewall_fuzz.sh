#!/usr/bin/env bash
# Fuzz the LOG-line parser (src/firewall/logline.c) outside the server with
# libFuzzer + AddressSanitizer + UndefinedBehaviorSanitizer, for a bounded
# time (MK_FUZZ_SECONDS, default 20).  The long run (10 million inputs) is:
#   MK_FUZZ_RUNS=10000000 bash test/scripts/firewall_fuzz.sh
# Exit 0: no crash and no sanitizer report; 77: clang/libFuzzer missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
source "$root/test/harness/libfuzzer.sh"
# Seeds: real-looking lines.
mk_libfuzz firewall_fuzz 9000 "$root/test/firewall_fuzz/fuzz_logline.c" \
    "$root/test/firewall_fuzz/logline.dict" "$root/test/firewall_fuzz/corpus" \
    "$root/src/firewall/logline.c"
