#!/usr/bin/env bash
# Stand up a one-node SLURM cluster on this machine (Debian 12, root, no systemd) for CI:
# munge, a private MariaDB on 127.0.0.1, slurmdbd (so sacct works), slurmctld, slurmd.
# Every daemon's PID goes to $STATE/pids; .ci/slurm/down.sh stops exactly those.
# Refuses to touch an /etc/slurm/slurm.conf it did not write (the plugin's job steps read
# that path, SLURM_CONF is stripped).
set -euo pipefail
STATE=${LMSTEER_SLURM_STATE:-/tmp/lmsteer-slurm}
CONF=/etc/slurm/slurm.conf
MARK="# written by lmsteer .ci/slurm/up.sh"
log() { echo "[slurm-up $(date +%T)] $*"; }

[ "$(id -u)" = 0 ] || { echo "needs root (installs packages, writes $CONF)" >&2; exit 1; }
if [ -f "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
  echo "$CONF exists and was not written by this script; not touching it" >&2; exit 1
fi
need=(munge slurmctld slurmd slurm-client slurmdbd mariadb-server)
if ! command -v slurmctld >/dev/null || ! command -v slurmdbd >/dev/null \
   || ! command -v mariadbd >/dev/null || ! command -v munged >/dev/null; then
  log "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "${need[@]}" >/dev/null
fi

rm -rf "$STATE"
mkdir -p "$STATE"/{log,spool/ctld,spool/d,db,run}
: > "$STATE/pids"
host=$(hostname)
cpus=$(nproc)
mem=$(awk '/MemTotal/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)

# munge: its key and a socket directory owned by the munge user
[ -s /etc/munge/munge.key ] || { mungekey --create 2>/dev/null || \
  dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null; }
chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge
runuser -u munge -- munged --pid-file=/run/munge/lmsteer-ci.pid
sleep 1
cat /run/munge/lmsteer-ci.pid >> "$STATE/pids"
munge -n | unmunge >/dev/null && log "munge up"

# a private MariaDB for the accounting database
mariadb-install-db --user=root --datadir="$STATE/db" --auth-root-authentication-method=normal \
  >"$STATE/log/mariadb-install.log" 2>&1
mariadbd --user=root --datadir="$STATE/db" --socket="$STATE/run/mysql.sock" \
  --bind-address=127.0.0.1 --port=3306 --pid-file="$STATE/run/mariadb.pid" \
  >"$STATE/log/mariadb.log" 2>&1 &
echo $! >> "$STATE/pids"
for _ in $(seq 60); do [ -S "$STATE/run/mysql.sock" ] && break; sleep 0.5; done
mariadb -S "$STATE/run/mysql.sock" -u root <<SQL
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'ci-only';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
FLUSH PRIVILEGES;
SQL
log "mariadb up"

cat > /etc/slurm/slurmdbd.conf <<CFG
$MARK
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=3306
StorageUser=slurm
StoragePass=ci-only
StorageLoc=slurm_acct_db
PidFile=$STATE/run/slurmdbd.pid
LogFile=$STATE/log/slurmdbd.log
CFG
chmod 600 /etc/slurm/slurmdbd.conf
cat > "$CONF" <<CFG
$MARK
ClusterName=lmsteer-ci
SlurmctldHost=$host
AuthType=auth/munge
SlurmUser=root
SlurmdUser=root
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
# without a default, each job would take the whole node's memory: one job at a time
DefMemPerCPU=$((mem / cpus / 2))
StateSaveLocation=$STATE/spool/ctld
SlurmdSpoolDir=$STATE/spool/d
SlurmctldPidFile=$STATE/run/slurmctld.pid
SlurmdPidFile=$STATE/run/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
MinJobAge=600
ReturnToService=2
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=ci Nodes=$host Default=YES MaxTime=INFINITE State=UP
CFG

slurmdbd
for _ in $(seq 60); do [ -s "$STATE/run/slurmdbd.pid" ] && sacctmgr -n list cluster >/dev/null 2>&1 && break; sleep 0.5; done
cat "$STATE/run/slurmdbd.pid" >> "$STATE/pids"
sacctmgr -i add cluster lmsteer-ci >/dev/null 2>&1 || true
sacctmgr -i add account ci Cluster=lmsteer-ci Description=ci Organization=ci >/dev/null 2>&1 || true
sacctmgr -i add user root Account=ci Cluster=lmsteer-ci >/dev/null 2>&1 || true
log "slurmdbd up ($(sacctmgr -n -P list assoc user=root format=cluster,account | head -1))"

slurmctld
for _ in $(seq 60); do [ -s "$STATE/run/slurmctld.pid" ] && break; sleep 0.5; done
cat "$STATE/run/slurmctld.pid" >> "$STATE/pids"
slurmd
for _ in $(seq 60); do [ -s "$STATE/run/slurmd.pid" ] && break; sleep 0.5; done
cat "$STATE/run/slurmd.pid" >> "$STATE/pids"
for _ in $(seq 120); do
  state=$(sinfo -h -n "$host" -o %T 2>/dev/null || true)
  [ "$state" = idle ] && break
  sleep 0.5
done
[ "$state" = idle ] || { echo "node $host not idle (state: ${state:-none})" >&2; tail -20 "$STATE/log/slurmctld.log" >&2; exit 1; }
log "cluster up: node $host idle, $cpus CPUs, ${mem} MB, DefMemPerCPU $((mem / cpus / 2)) MB"
