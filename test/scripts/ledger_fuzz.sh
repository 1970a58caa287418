#!/usr/bin/env bash
# Fuzz the ledger's command parser (src/ledger/parse.c) outside the server
# with libFuzzer + AddressSanitizer + UndefinedBehaviorSanitizer, for a
# bounded time (MK_FUZZ_SECONDS, default 20).  The harness also checks the
# round-trip property on every accepted amount (the canonical print parses
# back to the same value).  The long run (10 million inputs) is:
#   MK_FUZZ_RUNS=10000000 bash test/scripts/ledger_fuzz.sh
# Exit 0: no crash and no sanitizer report; 77: clang/libFuzzer missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
source "$root/test/harness/libfuzzer.sh"
# Seeds: commands as sellers type them.
mk_libfuzz ledger_fuzz 512 "$root/test/ledger_fuzz/fuzz_parse.c" \
    "$root/test/ledger_fuzz/ledger.dict" "$root/test/ledger_fuzz/corpus" \
    "$root/src/ledger/parse.c"
