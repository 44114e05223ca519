#!/usr/bin/env bash
# A private one-node Slurm cluster on this machine, for tests and benchmarks of
# `--executor slurm`: munged, slurmctld and slurmd, all with their files under STATE_DIR.
#
#   scripts/slurm/one-node-cluster.sh start  STATE_DIR   # prints: export SLURM_CONF=STATE_DIR/slurm.conf
#   scripts/slurm/one-node-cluster.sh status STATE_DIR   # exit 0 when all three daemons run and the node answers
#   scripts/slurm/one-node-cluster.sh stop   STATE_DIR   # cancels its jobs, stops exactly the daemons it started
#
# Installs Debian's slurm-wlm and munge when missing (sudo only when not root).
# Nothing outside STATE_DIR is written or read: the cluster has its own munge key and socket
# (AuthInfo=socket=...), its own ports (free ones, chosen at the first start), state, spool,
# logs and pid files, so it can run beside a system cluster or another private one.
# No cgroups (ProctrackType=proctrack/linuxproc, TaskPlugin=task/none) and no accounting
# daemon: sacct has nothing; finished jobs stay visible to `squeue -t all` and
# `scontrol show job` for MinJobAge (set to an hour here).
# Start is idempotent (a running cluster is left as it is); stop too. The daemons keep none of
# this script's standard streams, so a caller reading its output through a pipe sees the end.
set -euo pipefail

usage() { echo "usage: $0 start|stop|status STATE_DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
action=$1
mkdir -p "$2"
state=$(cd "$2" && pwd)
conf=$state/slurm.conf
export SLURM_CONF=$conf
sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
say() { echo "one-node-cluster: $*" >&2; }

install_packages() {
    command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null \
        && command -v munged >/dev/null && return 0
    say "installing slurm-wlm and munge (Debian)"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq slurm-wlm munge >/dev/null 2>&1 || {
        $sudo apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq slurm-wlm munge >/dev/null
    }
}

# pid of a daemon we started, if it still runs and is still that program.
running_pid() {  # NAME PIDFILE
    local name=$1 file=$2 pid
    [ -s "$file" ] || return 1
    pid=$(tr -dc '0-9' <"$file")
    [ -n "$pid" ] && [ -r "/proc/$pid/comm" ] || return 1
    [ "$(cat "/proc/$pid/comm")" = "$name" ] || return 1
    echo "$pid"
}

munged_running() { running_pid munged "$state/munge/munged.pid" >/dev/null; }
slurmctld_running() { running_pid slurmctld "$state/run/slurmctld.pid" >/dev/null; }
slurmd_running() { running_pid slurmd "$state/run/slurmd.pid" >/dev/null; }

free_port() {  # a TCP port nobody listens on, above 20000; skips $1 if given
    local port
    for _ in $(seq 200); do
        port=$(( 20000 + RANDOM % 30000 ))
        [ "$port" = "${1:-}" ] && continue
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return 0; fi
    done
    say "no free TCP port found"; return 1
}

write_config() {
    [ -f "$conf" ] && return 0
    local host user node ctld_port slurmd_port cpus memory
    host=$(hostname -s)
    user=$(id -un)
    # slurmd -C prints this machine's node line (CPUs, sockets, cores, threads, RealMemory).
    node=$(slurmd -C 2>/dev/null | sed -n 's/^NodeName=[^ ]* //p' | head -n 1)
    if [ -z "$node" ]; then
        cpus=$(nproc)
        memory=$(( $(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024 ))
        node="CPUs=$cpus RealMemory=$memory"
    fi
    cpus=$(sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' <<<"$node")
    memory=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$node")
    ctld_port=$(free_port)
    slurmd_port=$(free_port "$ctld_port")
    mkdir -p "$state"/{state,spool,log,run,munge}
    cat >"$conf.tmp" <<EOF
# Written by scripts/slurm/one-node-cluster.sh: a private one-node cluster.
ClusterName=lightbox
SlurmctldHost=$host
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=$user
SlurmdUser=$user
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$state/munge/munge.socket
StateSaveLocation=$state/state
SlurmdSpoolDir=$state/spool
SlurmctldPidFile=$state/run/slurmctld.pid
SlurmdPidFile=$state/run/slurmd.pid
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
# No cgroups in this sandbox: track processes by parent pid, bind nothing.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Without a default, a job asking no --mem would hold all the node's memory and run alone.
DefMemPerCPU=$(( memory / cpus ))
# The node's real topology can differ from what is written here (containers): trust this file.
SlurmdParameters=config_overrides
ReturnToService=2
# Finished jobs stay known to squeue -t all / scontrol for an hour (there is no accounting).
MinJobAge=3600
SlurmctldTimeout=30
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
NodeName=$host $node State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
    mv "$conf.tmp" "$conf"
}

start_munged() {
    munged_running && return 0
    local dir=$state/munge
    mkdir -p "$dir"
    # Clients (sbatch, slurmd's job steps) reach the socket through this directory.
    chmod 711 "$dir"
    if [ ! -s "$dir/munge.key" ]; then
        # mungekey (munge >= 0.5.14) or 1 KiB of randomness: either is a valid key.
        if command -v mungekey >/dev/null; then
            mungekey --create --keyfile="$dir/munge.key" --force >/dev/null
        else
            head -c 1024 /dev/urandom >"$dir/munge.key"
        fi
        chmod 400 "$dir/munge.key"
    fi
    rm -f "$dir/munge.socket" "$dir/munge.socket.lock"
    # --force: munged refuses some setups (running as root, a socket left by a killed
    # munged) unless forced; the key and socket are private to STATE_DIR anyway.
    munged --force --socket="$dir/munge.socket" --key-file="$dir/munge.key" \
        --pid-file="$dir/munged.pid" --log-file="$dir/munged.log" --seed-file="$dir/munged.seed" \
        </dev/null >/dev/null 2>>"$dir/munged.stderr" || { say "munged did not start: $(tail -n 3 "$dir/munged.log" "$dir/munged.stderr" 2>/dev/null)"; return 1; }
    for _ in $(seq 50); do [ -S "$dir/munge.socket" ] && return 0; sleep 0.1; done
    say "munged started but its socket did not appear"; return 1
}

start_slurmctld() {
    slurmctld_running && return 0
    # -i: ignore state files it cannot read (a previous run killed hard); keeps the job ids going.
    slurmctld -i -f "$conf" </dev/null >/dev/null 2>>"$state/log/slurmctld.stderr" \
        || { say "slurmctld did not start: $(tail -n 5 "$state/log/slurmctld.log" 2>/dev/null)"; return 1; }
    for _ in $(seq 100); do slurmctld_running && return 0; sleep 0.1; done
    say "slurmctld did not stay up: $(tail -n 5 "$state/log/slurmctld.log" 2>/dev/null)"; return 1
}

start_slurmd() {
    slurmd_running && return 0
    slurmd -f "$conf" </dev/null >/dev/null 2>>"$state/log/slurmd.stderr" \
        || { say "slurmd did not start: $(tail -n 5 "$state/log/slurmd.log" 2>/dev/null)"; return 1; }
    for _ in $(seq 100); do slurmd_running && return 0; sleep 0.1; done
    say "slurmd did not stay up: $(tail -n 5 "$state/log/slurmd.log" 2>/dev/null)"; return 1
}

node_state() { sinfo -h -N -o "%T" 2>/dev/null | head -n 1; }

wait_idle() {
    local s=""
    for _ in $(seq 300); do
        s=$(node_state)
        case "$s" in
            idle|mixed|allocated) return 0 ;;
            down*|drain*)
                # ReturnToService=2 brings a node back once it registers; a leftover
                # reason from an earlier run is cleared by hand.
                scontrol update nodename="$(hostname -s)" state=resume >/dev/null 2>&1 || true ;;
        esac
        sleep 0.1
    done
    say "node not idle after 30 s (state: ${s:-none}); see $state/log/"; return 1
}

# Job-step daemons of this cluster (their environment names our slurm.conf).
our_stepds() {
    local pid
    for pid in $(pgrep -x slurmstepd 2>/dev/null || true); do
        tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx "SLURM_CONF=$conf" && echo "$pid"
    done
    return 0
}

stop_daemon() {  # NAME PIDFILE
    local pid
    pid=$(running_pid "$1" "$2") || return 0
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do [ -d "/proc/$pid" ] || return 0; sleep 0.1; done
    say "$1 ($pid) ignored SIGTERM for 10 s; killing it"
    kill -9 "$pid" 2>/dev/null || true
}

case "$action" in
    start)
        started=$(date +%s%N)
        install_packages
        write_config
        start_munged
        start_slurmctld
        start_slurmd
        wait_idle
        elapsed=$(( ($(date +%s%N) - started) / 1000000 ))
        say "cluster up in $((elapsed / 1000)).$(printf '%03d' $((elapsed % 1000))) s ($(hostname -s), $(sinfo -h -o '%c CPUs, %m MB'))"
        echo "export SLURM_CONF=$conf"
        ;;
    status)
        ok=0
        for d in munged slurmctld slurmd; do
            if "${d}_running"; then echo "$d: running"; else echo "$d: stopped"; ok=1; fi
        done
        if [ $ok -eq 0 ]; then echo "node: $(node_state)"; [ -n "$(node_state)" ] || ok=1; fi
        exit $ok
        ;;
    stop)
        [ -f "$conf" ] || { say "no cluster in $state"; exit 0; }
        if slurmctld_running; then
            jobs=$(squeue -h -o %A 2>/dev/null | sort -u)
            [ -z "$jobs" ] || scancel $jobs 2>/dev/null || true
            for _ in $(seq 50); do [ -z "$(squeue -h 2>/dev/null)" ] && break; sleep 0.1; done
        fi
        stop_daemon slurmd "$state/run/slurmd.pid"
        stop_daemon slurmctld "$state/run/slurmctld.pid"
        # Steps whose slurmd is gone would run on: end them (only ours).
        stepds=$(our_stepds)
        [ -z "$stepds" ] || kill $stepds 2>/dev/null || true
        stop_daemon munged "$state/munge/munged.pid"
        say "stopped"
        ;;
    *) usage ;;
esac
