#!/usr/bin/env bash
# Fuzz the ledger command parser (src/ledger/parse.c) outside the server with
# libFuzzer + AddressSanitizer + UndefinedBehaviorSanitizer, for a bounded
# time (MK_FUZZ_SECONDS, default 20).  The harness also checks that every
# accepted amount round-trips through its canonical form.  The long run
# (10 million inputs) is:
#   MK_FUZZ_RUNS=10000000 bash test/scripts/ledger_fuzz.sh
# Exit 0: no crash and no sanitizer report; 77: clang/libFuzzer missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$root/build/ledger_fuzz
mkdir -p "$out/corpus"

cc=$(command -v clang || command -v clang-14 || true)
if [ -z "$cc" ]; then echo "clang is not installed (package clang, libclang-rt-14-dev)"; exit 77; fi
if ! echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n){return 0;}' \
        | "$cc" -x c -fsanitize=fuzzer -o "$out/probe" - 2>/dev/null; then
    echo "clang cannot link libFuzzer (package libclang-rt-14-dev)"; exit 77
fi

"$cc" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -I"$root/src" "$root/test/ledger_fuzz/fuzz_parse.c" "$root/src/ledger/parse.c" \
    -o "$out/fuzz_parse"

# Seeds: real-looking lines; the working corpus grows in build/ only.
cp -n "$root"/test/ledger_fuzz/corpus/* "$out/corpus/"
args=(-max_len=512 -timeout=5 -rss_limit_mb=1024 -print_final_stats=1
      -dict="$root/test/ledger_fuzz/ledger.dict" -artifact_prefix="$out/")
if [ -n "${MK_FUZZ_RUNS:-}" ]; then
    args+=(-runs="$MK_FUZZ_RUNS")
else
    args+=(-max_total_time="${MK_FUZZ_SECONDS:-20}")
fi
"$out/fuzz_parse" "${args[@]}" "$out/corpus" 2>"$out/fuzz.log" || {
    tail -n 40 "$out/fuzz.log"; echo "fuzzer found a crash or sanitizer report (see $out)"; exit 1; }
grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb)' "$out/fuzz.log" || true
echo "ledger fuzz: $(grep -Eo 'Done [0-9]+ runs in [0-9]+ second' "$out/fuzz.log" | tail -n 1)s, no crash, no sanitizer report"
