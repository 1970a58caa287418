# mk_libfuzz NAME MAX_LEN HARNESS.c DICT CORPUS_DIR SOURCE.c...: build a
# pure-C parser with its libFuzzer harness (+ AddressSanitizer and
# UndefinedBehaviorSanitizer) outside the server and run it for
# MK_FUZZ_SECONDS (default 20), or for MK_FUZZ_RUNS inputs when set (the
# long run).  The working corpus grows in build/NAME only.  Exits 77 when
# clang or libFuzzer is missing, 1 on a crash or sanitizer report.
# Sourced by test/scripts/*_fuzz.sh.
mk_libfuzz() {
    local name=$1 max_len=$2 harness=$3 dict=$4 corpus=$5
    shift 5
    local root out cc
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
    out=$root/build/$name
    mkdir -p "$out/corpus"
    cc=$(command -v clang || command -v clang-14 || true)
    if [ -z "$cc" ]; then echo "clang is not installed (package clang, libclang-rt-14-dev)"; exit 77; fi
    if ! echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n){return 0;}' \
            | "$cc" -x c -fsanitize=fuzzer -o "$out/probe" - 2>/dev/null; then
        echo "clang cannot link libFuzzer (package libclang-rt-14-dev)"; exit 77
    fi
    "$cc" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
        -I"$root/src" "$harness" "$@" -o "$out/fuzz"
    cp -n "$corpus"/* "$out/corpus/"
    local args=(-max_len="$max_len" -timeout=5 -rss_limit_mb=1024 -print_final_stats=1
                -dict="$dict" -artifact_prefix="$out/")
    if [ -n "${MK_FUZZ_RUNS:-}" ]; then
        args+=(-runs="$MK_FUZZ_RUNS")
    else
        args+=(-max_total_time="${MK_FUZZ_SECONDS:-20}")
    fi
    "$out/fuzz" "${args[@]}" "$out/corpus" 2>"$out/fuzz.log" || {
        tail -n 40 "$out/fuzz.log"; echo "fuzzer found a crash or sanitizer report (see $out)"; exit 1; }
    grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb)' "$out/fuzz.log" || true
    echo "$name: $(grep -Eo 'Done [0-9]+ runs in [0-9]+ second' "$out/fuzz.log" | tail -n 1)s, no crash, no sanitizer report"
}
