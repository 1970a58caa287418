#!/usr/bin/env bash
# Install the Debian packages listed in packages.txt that are missing.
# Does nothing (and needs no root) when everything is present.
source "$(dirname "$0")/common.sh"

missing=()
while read -r pkg; do
    case "$pkg" in ''|'#'*) continue ;; esac
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$pkg")
    fi
done < "$MK_ROOT/test/harness/packages.txt"

# node >= 20 is needed by the S3 test server; Debian 12's own nodejs is 18,
# so an existing newer node (from the machine image) is kept, never replaced.
if command -v node >/dev/null 2>&1; then
    missing=("${missing[@]/#nodejs/}"); missing=("${missing[@]/#npm/}")
fi
pkgs=()
for p in "${missing[@]}"; do [ -n "$p" ] && pkgs+=("$p"); done

if [ ${#pkgs[@]} -gt 0 ]; then
    mk_log "installing Debian packages: ${pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    mk_sudo apt-get -o DPkg::Lock::Timeout=600 update -qq
    mk_sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
fi
