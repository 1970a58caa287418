#!/usr/bin/env bash
# firewall property test: fw_trace and fw_anomalies against an independent
# evaluator of iptables' semantics, on random policies and packets
# (test/scripts/firewall_property.py says what is checked).
# MK_FW_PROP_POLICIES / MK_FW_PROP_PACKETS / MK_FW_PROP_SEED change the run.
set -euo pipefail
command -v python3 >/dev/null || { echo "python3 is not installed"; exit 77; }
exec python3 "$(dirname "$0")/firewall_property.py"
