#!/usr/bin/env bash
# Checks a running one-node cluster (SLURM_CONF set, see one-node-cluster.sh): a 4-task array
# submitted with --wait finishes with every task COMPLETED, and one task of a second array
# cancelled with scancel ends CANCELLED while its siblings complete. Prints timings.
set -euo pipefail
: "${SLURM_CONF:?set SLURM_CONF (one-node-cluster.sh start prints it)}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
now() { date +%s%N; }
ms() { echo $(( ($(now) - $1) / 1000000 )); }

cat >"$work/tiny.sh" <<'SCRIPT'
#!/bin/sh
echo "task $SLURM_ARRAY_TASK_ID of $SLURM_ARRAY_TASK_COUNT on $(hostname -s)"
SCRIPT
t=$(now)
job=$(sbatch --parsable --array=0-3 --output="$work/tiny-%a.out" --wait "$work/tiny.sh")
echo "array 0-3 of a no-op script with --wait: $(ms "$t") ms"
states=$(squeue -t all -h -j "$job" -o "%T" | sort | uniq -c | tr -s ' ')
[ "$(cat "$work"/tiny-*.out | wc -l)" -eq 4 ] || { echo "FAIL: expected 4 task outputs"; exit 1; }
[ "$states" = " 4 COMPLETED" ] || { echo "FAIL: task states: $states"; exit 1; }

cat >"$work/long.sh" <<'SCRIPT'
#!/bin/sh
sleep 3
SCRIPT
job=$(sbatch --parsable --array=0-2 --output=/dev/null "$work/long.sh")
for _ in $(seq 100); do
    [ "$(squeue -h -j "${job}_1" -t running -o %T)" = RUNNING ] && break; sleep 0.1
done
scancel "${job}_1"
for _ in $(seq 300); do [ -z "$(squeue -h -j "$job")" ] && break; sleep 0.1; done
state() { squeue -t all -h -j "${job}_$1" -o %T; }
[ "$(state 1)" = CANCELLED ] || { echo "FAIL: task 1 is $(state 1)"; exit 1; }
[ "$(state 0)" = COMPLETED ] && [ "$(state 2)" = COMPLETED ] || { echo "FAIL: tasks 0, 2: $(state 0) $(state 2)"; exit 1; }
echo "scancel of task 1: CANCELLED, tasks 0 and 2 COMPLETED"
echo "cluster check passed"
