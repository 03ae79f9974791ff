#!/usr/bin/env bash
# CI on a real SLURM cluster: stand up a one-node cluster (.ci/slurm/up.sh), run the DAG on
# config/ci.yaml (+ .ci/slurm/ci-slurm.yaml: sharded) through `--executor slurm` with
# profiles/slurm, check the outputs and that sacct shows every job COMPLETED, then stop the
# daemons it started (by PID, also on failure).
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=${VENV:-.venv}
export PATH="$PWD/$VENV/bin:$PATH"
STATE=${LMSTEER_SLURM_STATE:-/tmp/lmsteer-slurm}
trap 'bash .ci/slurm/down.sh' EXIT
bash .ci/slurm/up.sh
start=$(date +%Y-%m-%dT%H:%M:%S)
out=results/ci-slurm
rm -rf "$out"
log=$STATE/snakemake.log
echo "[slurm-ci] snakemake --executor slurm on config/ci.yaml (log: $log)"
set +e
# shellcheck disable=SC2046  # the flags file holds one flag and its values per line
snakemake $(cat .ci/slurm/flags) --configfile config/ci.yaml .ci/slurm/ci-slurm.yaml \
  > "$log" 2>&1
rc=$?
set -e
grep -E "SLURM jobid|Finished job|Error|error" "$log" | sed 's/^/  /' | tail -400
sacct -n -X -P -S "$start" -o JobID,JobName%60,State,ExitCode,Elapsed > "$STATE/sacct.txt"
echo "[slurm-ci] sacct (jobs since $start):"
column -t -s '|' "$STATE/sacct.txt" | sed 's/^/  /'
if [ $rc -ne 0 ]; then
  echo "[slurm-ci] snakemake failed (rc=$rc); last lines:"; tail -60 "$log"
  for f in .snakemake/slurm_logs/rule_*/*/*.log; do [ -f "$f" ] && { echo "== $f"; tail -20 "$f"; }; done
  exit $rc
fi
python .ci/slurm/check.py --results "$out" --sacct "$STATE/sacct.txt" --snakemake-log "$log"
