#!/usr/bin/env bash
# The Signature V4 signer (src/backup/s3_sigv4.c) against AWS's published vectors,
# compiled as a stand-alone program: the same source file the extension links.
set -euo pipefail
root=${MK_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
out=${MK_BUILD:-$root/build}/backup_sigv4
mkdir -p "$out"
command -v gcc >/dev/null || { echo "gcc is not installed"; exit 77; }
gcc -Wall -Werror -O1 -I"$root/src" -o "$out/sigv4_test" \
    "$root/test/backup_sigv4/sigv4_test.c" "$root/src/backup/s3_sigv4.c" -lcrypto
"$out/sigv4_test"
echo "signer matches AWS's Signature V4 vectors"
