#!/usr/bin/env bash
# Stop the daemons .ci/slurm/up.sh started (by their recorded PIDs, newest first).
set -uo pipefail
STATE=${LMSTEER_SLURM_STATE:-/tmp/lmsteer-slurm}
[ -f "$STATE/pids" ] || exit 0
for pid in $(tac "$STATE/pids"); do
  kill "$pid" 2>/dev/null && for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  kill -9 "$pid" 2>/dev/null || true
done
rm -f "$STATE/pids"
echo "[slurm-down] stopped the CI cluster's daemons"
