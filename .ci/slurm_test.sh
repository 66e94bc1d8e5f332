#!/usr/bin/env bash
# The README's Slurm recipe ("Spreading a reproduction over machines") on a real one-node
# Slurm cluster, started here: Debian's slurmctld, slurmd and munge, installed by this
# script (as root, with apt-get), daemons started by hand (no systemd needed) and stopped
# at the end whatever happens. Skipped, with a message saying why, only where the
# packages cannot be installed.
#
# 1. munged, slurmctld and slurmd with a slurm.conf written here, under a temporary
#    folder; waits until the node is idle.
# 2. Builds target/debug/pdmrl once (opt-level 3) and submits xtask/slurm/reproduce.sbatch as an
#    array of 4 tasks (--shard I/4) of a small experiment (8 runs), all tasks writing into
#    one results folder.
# 3. Cancels task 2 while one of its runs is mid-way (checkpoint written, not complete),
#    resubmits shard 2, and submits the last step (the same script without --array) after
#    both; waits for it.
# 4. Checks: every run complete; the state and exit code of every job from Slurm's own
#    job completion log (jobcomp/filetxt: this cluster has no accounting database, so
#    sacct has nothing to read), cross-checked with `scontrol show job`: tasks 1, 3, 4 and
#    the resubmitted task 2 COMPLETED with exit code 0, the first task 2 CANCELLED, the
#    last step COMPLETED; metrics.csv and eval.csv of every run byte-identical to a
#    single-machine `pdmrl reproduce` of the same experiment; summary.csv and the figures
#    byte-identical to it; summary.md byte-identical to it except for the two wall-clock
#    measurements it reports (CPU-hours and steps/s), and byte-identical to what one
#    process redraws from the same runs; no temporary file left behind.
#
# Usage: bash .ci/slurm_test.sh (from anywhere; `.ci/run` calls it). Keeps its folder
# (logs included) on failure and says where.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
t0=$(date +%s)
say() { echo "[slurm-test $(($(date +%s) - t0))s] $*"; }
skip() {
    echo "SKIPPED: Slurm cluster test: $*"
    exit 0
}

# --- 0. Packages -------------------------------------------------------------------------
missing=()
for tool in munged mungekey munge slurmctld slurmd sbatch sinfo squeue scontrol scancel; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]} > 0)); then
    say "installing slurmctld slurmd slurm-client munge (missing: ${missing[*]})"
    [[ $(id -u) == 0 ]] || skip "not root, so the Debian packages slurmctld, slurmd, slurm-client and munge cannot be installed (missing: ${missing[*]})"
    command -v apt-get >/dev/null 2>&1 || skip "no apt-get, so the Debian packages slurmctld, slurmd, slurm-client and munge cannot be installed (missing: ${missing[*]})"
    apt_log=$(mktemp)
    if ! { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends slurmctld slurmd slurm-client munge; } >"$apt_log" 2>&1; then
        tail -n 20 "$apt_log"
        skip "apt-get could not install slurmctld, slurmd, slurm-client and munge (log above)"
    fi
    rm -f "$apt_log"
    say "installed in $(($(date +%s) - t0))s"
fi
say "$(slurmctld -V), munge $(munged -V 2>&1 | head -n 1)"

# --- 1. A one-node cluster ---------------------------------------------------------------
tmp=$(mktemp -d /tmp/pdmrl-slurm-test.XXXXXX)
chmod 755 "$tmp" # munge's socket must be reachable
mkdir -p "$tmp"/{munge,state,spool,log,jobs}
pids=()
passed=0
cleanup() {
    local status=$?
    set +e
    if [[ -n ${SLURM_CONF:-} ]] && ((${#pids[@]} > 1)); then
        # Jobs first (their processes are not children of slurmd), then the daemons.
        local jobs
        jobs=$(squeue -h -o %i 2>/dev/null)
        if [[ -n $jobs ]]; then
            say "cancelling jobs still queued or running: $jobs"
            # shellcheck disable=SC2086
            scancel $jobs
            for _ in $(seq 100); do
                [[ -z $(squeue -h -t R,CG -o %i 2>/dev/null) ]] && break
                sleep 0.2
            done
        fi
        # Any process a job left, by pid (Slurm knows them).
        local left
        left=$(scontrol listpids 2>/dev/null | awk 'NR > 1 && $1 ~ /^[0-9]+$/ {print $1}')
        # shellcheck disable=SC2086
        [[ -n $left ]] && kill -KILL $left 2>/dev/null
    fi
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        kill -TERM "${pids[i]}" 2>/dev/null
    done
    for pid in "${pids[@]}"; do
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    if ((passed)); then
        rm -rf "$tmp"
        say "daemons stopped, $tmp removed"
    else
        for f in "$tmp"/log/*.log "$tmp"/jobs/*.out; do
            [[ -f $f ]] || continue
            echo "--- tail of $f"
            tail -n 30 "$f"
        done
        say "FAILED (exit status $status); daemons stopped; logs kept in $tmp"
        ((status == 0)) && status=1
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fail() {
    say "FAILED: $*"
    exit 1
}

say "munged"
if command -v mungekey >/dev/null 2>&1; then
    mungekey --create --keyfile="$tmp/munge/munge.key"
else
    dd if=/dev/urandom of="$tmp/munge/munge.key" bs=1024 count=1 status=none
    chmod 400 "$tmp/munge/munge.key"
fi
socket=$tmp/munge/munge.socket
munged --force --foreground --key-file="$tmp/munge/munge.key" --socket="$socket" \
    --log-file="$tmp/log/munged.log" --pid-file="$tmp/munge/munged.pid" \
    --seed-file="$tmp/munge/munged.seed" >>"$tmp/log/munged.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
    munge --socket="$socket" -n 2>/dev/null | unmunge --socket="$socket" >/dev/null 2>&1 && break
    kill -0 "${pids[0]}" 2>/dev/null || fail "munged exited"
    sleep 0.1
done
munge --socket="$socket" -n | unmunge --socket="$socket" >/dev/null || fail "munge does not answer"

# Two free TCP ports: nothing may answer on them.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
ctld_port=0
for _ in $(seq 50); do
    p=$((20000 + RANDOM % 20000))
    if port_free "$p" && port_free $((p + 1)); then
        ctld_port=$p
        break
    fi
done
((ctld_port > 0)) || fail "no two free TCP ports found"
host=$(hostname -s)
cpus=$(nproc)
export SLURM_CONF=$tmp/slurm.conf
cat >"$SLURM_CONF" <<EOF
# One-node cluster of .ci/slurm_test.sh
ClusterName=pdmrlci
SlurmctldHost=$host
SlurmctldPort=$ctld_port
SlurmdPort=$((ctld_port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$socket
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/log/slurmctld.log
SlurmdLogFile=$tmp/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
# No accounting database: Slurm writes each job's end (state, exit code) to a file.
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$tmp/jobcomp.log
# Keep ended jobs visible to scontrol for the whole test.
MinJobAge=3600
NodeName=$host CPUs=$cpus State=UNKNOWN
PartitionName=ci Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
say "slurmctld and slurmd: node $host, $cpus CPUs, ports $ctld_port and $((ctld_port + 1))"
slurmctld -D -i -f "$SLURM_CONF" >>"$tmp/log/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -f "$SLURM_CONF" >>"$tmp/log/slurmd.out" 2>&1 &
pids+=($!)
state=
for _ in $(seq 150); do
    state=$(sinfo -h -o %T 2>/dev/null || true)
    [[ $state == idle ]] && break
    sleep 0.2
done
[[ $state == idle ]] || fail "the node is not idle after 30 s (sinfo: '$state')"
say "node idle"

# --- 2. Build once, submit the array -------------------------------------------------------
# The dev profile, at opt-level 3 like the release profile (Cargo.toml). `cargo test` (which
# CI runs first) builds the test profile, which cargo keeps apart, so this compiles the
# runner's crates once more (about 2 minutes on 2 cores; measured in the log). The README's
# recipe builds --release; the job script takes any binary as PDMRL.
say "cargo build -p pdmrl-runner --locked"
b0=$(date +%s)
cargo build -p pdmrl-runner --locked
target=${CARGO_TARGET_DIR:-$root/target}
pdmrl=$target/debug/pdmrl
[[ -x $pdmrl ]] || fail "no $pdmrl after the build"
export PDMRL=$pdmrl
say "built in $(($(date +%s) - b0))s"

config=$tmp/slurm_ci.toml
cat >"$config" <<'EOF'
name = "slurm_ci"
[env]
id = "CartPole-v1"
[algo]
name = "ppo"
[trainer]
kind = ["bp", "pdm"]
[run]
seeds = [1, 2, 3, 4]
total_timesteps = 20480
eval_every = 4096
eval_episodes = 2
checkpoint_every = 1
EOF
results=$tmp/results
exp=$results/slurm_ci
mapfile -t ids < <("$pdmrl" config show "$config" | sed -n 's/^# run \([^ ]*\) .*/\1/p')
((${#ids[@]} == 8)) || fail "expected 8 runs, the plan has ${#ids[@]}"
# Run k (0-based) goes to shard k % 4 + 1: shard 2 holds runs 1 and 5.
shard2=("${ids[1]}" "${ids[5]}")
say "experiment: ${#ids[@]} runs; shard 2 holds ${shard2[*]}"

export PDMRL_PROGRESS_EVERY=2 # progress lines in the jobs' logs every 2 s
script=xtask/slurm/reproduce.sbatch
s0=$(date +%s)
array=$(sbatch --parsable --array=1-4 --cpus-per-task=1 --output="$tmp/jobs/%A_%a.out" \
    "$script" 4 "$results" "$config")
say "submitted array job $array (tasks 1-4)"

# --- 3. Cancel task 2 mid-run, resubmit it -------------------------------------------------
victim=
for _ in $(seq 1200); do
    for id in "${shard2[@]}"; do
        if [[ -d $exp/$id/checkpoint && ! -f $exp/$id/summary.json ]]; then
            victim=$id
            break 2
        fi
    done
    sleep 0.1
done
[[ -n $victim ]] || fail "shard 2 never had a run mid-way within 120 s"
scancel "${array}_2"
for _ in $(seq 300); do
    st=$(squeue -h -t all -j "${array}_2" -o %T 2>/dev/null || true)
    [[ $st == CANCELLED ]] && break
    sleep 0.1
done
[[ $st == CANCELLED ]] || fail "task 2 is $st, not CANCELLED, 30 s after scancel"
[[ ! -f $exp/$victim/summary.json ]] || fail "$victim completed before the cancellation landed"
resumable_at=$(sed -n 's/.*"global_step": *\([0-9]*\).*/\1/p' "$exp/$victim/checkpoint/checkpoint.json" | head -n 1)
say "cancelled task ${array}_2 while $victim was mid-run (checkpoint at step ${resumable_at:-?})"
again=$(sbatch --parsable --array=2 --cpus-per-task=1 --output="$tmp/jobs/%A_%a.out" \
    "$script" 4 "$results" "$config")
final=$(sbatch --parsable --dependency="afterany:$array:$again" --cpus-per-task=1 \
    --output="$tmp/jobs/final-%j.out" "$script" 4 "$results" "$config")
say "resubmitted shard 2 as job $again; last step (no --array) as job $final, after both"

end_state=
for _ in $(seq 3000); do
    end_state=$(scontrol show job "$final" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p')
    case $end_state in
    PENDING | RUNNING | CONFIGURING | COMPLETING | "") sleep 0.2 ;;
    *) break ;;
    esac
done
say "last step ended: ${end_state:-unknown}; Slurm part took $(($(date +%s) - s0))s"

# --- 4. Checks ---------------------------------------------------------------------------
# 4a. Every job's end, from Slurm's job completion log.
job_end() { # ARRAY_JOB_ID TASK_ID -> "STATE EXITCODE" of that task (TASK_ID - for none)
    awk -v a="$1" -v t="$2" '
        { delete f; for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = substr($i, length(kv[1]) + 2) } }
        (t == "-" && f["JobId"] == a) || (f["ArrayJobId"] == a && f["ArrayTaskId"] == t) { s = f["JobState"] " " f["ExitCode"] }
        END { print s }' "$tmp/jobcomp.log"
}
echo "job completion log ($tmp/jobcomp.log), per job: JobId ArrayJobId_ArrayTaskId JobState ExitCode"
awk '{ delete f; for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = substr($i, length(kv[1]) + 2) }
       task = f["ArrayJobId"] == "" ? "-" : f["ArrayJobId"] "_" f["ArrayTaskId"]
       print "  " f["JobId"], task, f["JobState"], f["ExitCode"] }' "$tmp/jobcomp.log"
for task in 1 3 4; do
    [[ $(job_end "$array" "$task") == "COMPLETED 0:0" ]] ||
        fail "array task ${array}_$task: $(job_end "$array" "$task"), not COMPLETED 0:0"
done
[[ $(job_end "$array" 2) == CANCELLED* ]] || fail "task ${array}_2: $(job_end "$array" 2), not CANCELLED"
[[ $(job_end "$again" 2) == "COMPLETED 0:0" ]] ||
    fail "resubmitted task ${again}_2: $(job_end "$again" 2), not COMPLETED 0:0"
[[ $(job_end "$final" -) == "COMPLETED 0:0" ]] || fail "last step $final: $(job_end "$final" -), not COMPLETED 0:0"
# The same from the controller: "TASK STATE EXITCODE" per array task.
scontrol_end() {
    scontrol show job "$1" | tr ' ' '\n' |
        awk -F= '$1 == "ArrayTaskId" { t = $2 } $1 == "JobState" { s = $2 } $1 == "ExitCode" { print t, s, $2 }' | sort
}
[[ $(scontrol_end "$array" | awk '{print $1, $2}' | tr '\n' ';') == "1 COMPLETED;2 CANCELLED;3 COMPLETED;4 COMPLETED;" ]] ||
    fail "scontrol show job $array: $(scontrol_end "$array" | tr '\n' ';')"
[[ $(scontrol_end "$again") == "2 COMPLETED 0:0" ]] || fail "scontrol show job $again: $(scontrol_end "$again")"
say "job states: tasks 1, 3, 4 and the resubmitted 2 COMPLETED (exit 0), first 2 CANCELLED, last step COMPLETED (jobcomp log and scontrol agree)"
if sacct_out=$(sacct -j "$array" 2>&1); then
    say "sacct answered too: $sacct_out"
else
    say "sacct: '$sacct_out' (no accounting database, as configured: states come from the job completion log)"
fi

# 4b. The logs: the resubmitted task resumed the cancelled run; progress lines were written.
again_log=$tmp/jobs/${again}_2.out
grep -q "^slurm_ci: resumed $victim at step " "$again_log" || fail "$again_log does not say it resumed $victim"
grep -q '^slurm_ci \[.*runs done.*steps/s' "$tmp/jobs/${array}_1.out" || fail "no progress line in task 1's log"
grep -q "0 runs done, 8 skipped (complete), 0 failed" "$tmp/jobs/final-$final.out" ||
    fail "the last step trained something: $(cat "$tmp/jobs/final-$final.out")"

# 4c. Every run complete.
for id in "${ids[@]}"; do
    [[ -f $exp/$id/summary.json ]] || fail "run $id is not complete"
done
stray=$(find "$results" -name '*.tmp*')
[[ -z $stray ]] || fail "temporary files left behind: $stray"
say "all ${#ids[@]} runs complete, no temporary file left"

# 4d. The same experiment on one machine, without Slurm.
say "single-machine reproduction"
m0=$(date +%s)
single=$tmp/single
"$pdmrl" reproduce "$config" --results "$single" --jobs "$cpus" 2>"$tmp/log/single.log" ||
    fail "single-machine reproduction failed: $(tail -n 5 "$tmp/log/single.log")"
say "single-machine reproduction took $(($(date +%s) - m0))s"
# It must have trained every run itself, not copied one from a folder beside it.
! grep -q "copied complete" "$tmp/log/single.log" || fail "the single-machine reproduction copied runs"
for id in "${ids[@]}"; do
    for f in metrics.csv eval.csv config.toml; do
        cmp "$exp/$id/$f" "$single/slurm_ci/$id/$f" || fail "$id/$f differs from the single-machine run"
    done
done
say "metrics.csv, eval.csv and config.toml of all ${#ids[@]} runs byte-identical to the single-machine runs"
cmp "$exp/summary.csv" "$single/slurm_ci/summary.csv" || fail "summary.csv differs"
for f in "$single"/figures/slurm_ci_*; do
    cmp "$f" "$results/figures/$(basename "$f")" || fail "figure $(basename "$f") differs"
done
say "summary.csv and $(find "$single/figures" -name 'slurm_ci_*' | wc -l) figure files byte-identical"
# summary.md reports two wall-clock measurements (the CPU-hours of the runs and their
# steps/s): everything else must be equal.
wallclock() {
    sed -E 's/[0-9.]+ CPU-hours/X CPU-hours/' "$1" |
        awk -F'|' -v OFS='|' '/steps\/s \|$/ { t = 1; print; next }
            t && /^\|/ { if ($0 !~ /^\|---/) $(NF - 1) = " X "; print; next }
            { t = 0; print }'
}
diff <(wallclock "$exp/summary.md") <(wallclock "$single/slurm_ci/summary.md") ||
    fail "summary.md differs beyond its wall-clock measurements"
# And the tables the shards left are exactly what one process draws from these runs.
redraw=$tmp/redraw
cp -r "$results" "$redraw"
"$pdmrl" reproduce "$config" --results "$redraw" --jobs 1 2>"$tmp/log/redraw.log" || fail "redraw failed"
cmp "$exp/summary.md" "$redraw/slurm_ci/summary.md" || fail "summary.md differs from a redraw"
say "summary.md equal to the single-machine one but for its wall-clock numbers, and byte-identical to a redraw"

echo "--- log of the resubmitted task ${again}_2"
cat "$again_log"
echo "--- log of the last step $final"
cat "$tmp/jobs/final-$final.out"
passed=1
say "PASSED in $(($(date +%s) - t0))s"
