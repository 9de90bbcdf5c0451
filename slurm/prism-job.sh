# Shared by the prism-*.sbatch scripts (sourced, not run): site set-up, the prism binaries, threads, the
# job's end time, the launch with signal forwarding, checkpoint/resume and the requeue when a run stopped
# at a checkpoint. See slurm/README.md for every variable.
# shellcheck shell=bash

prism_log() { echo "prism-job: $*" >&2; }
prism_die() { # STATUS MESSAGE
    echo "prism-job: error: $2" >&2
    exit "$1"
}

# Site settings (module loads, paths) stay out of the scripts: slurm/site.env, or $PRISM_SITE_ENV.
prism_source_site_env() {
    local env_file=${PRISM_SITE_ENV:-$PRISM_SCRIPTS_DIR/site.env}
    if [ -f "$env_file" ]; then
        prism_log "sourcing $env_file"
        # shellcheck disable=SC1090
        . "$env_file"
    fi
}

# The directory holding prism-nmf etc.: $PRISM_BIN, else the build tree next to these scripts, else PATH.
prism_find_binary() { # NAME -> path on stdout
    local name=$1 candidate
    for candidate in ${PRISM_BIN:+"$PRISM_BIN/$name"} "$PRISM_SCRIPTS_DIR/../build/drivers/$name"; do
        [ -x "$candidate" ] && {
            echo "$candidate"
            return 0
        }
    done
    [ -n "${PRISM_BIN:-}" ] && prism_die 2 "PRISM_BIN=$PRISM_BIN holds no executable $name"
    command -v "$name" || prism_die 2 "$name not found: set PRISM_BIN to the directory holding it (e.g. build/drivers)"
}

# One thread per CPU Slurm gave each task; BLAS threads likewise (1 for pure-MPI runs).
prism_set_threads() {
    local threads=${SLURM_CPUS_PER_TASK:-1}
    export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads MKL_NUM_THREADS=$threads
    prism_log "${SLURM_NTASKS:-1} ranks, OMP_NUM_THREADS=$threads threads per rank"
    # Since Slurm 22.05 srun no longer inherits --cpus-per-task from the batch allocation.
    [ -n "${SLURM_CPUS_PER_TASK:-}" ] && export SRUN_CPUS_PER_TASK=$SLURM_CPUS_PER_TASK
    return 0
}

# PRISM_JOB_END_TIME (epoch seconds): the driver checkpoints and stops a little before it.
prism_export_end_time() {
    [ -n "${SLURM_JOB_ID:-}" ] || return 0
    local limit end epoch
    limit=$(squeue -h -j "$SLURM_JOB_ID" -o %l 2>/dev/null | head -1)
    end=$(squeue -h -j "$SLURM_JOB_ID" -o %e 2>/dev/null | head -1)
    case "$limit" in '' | UNLIMITED | INVALID | NOT_SET) return 0 ;; esac
    case "$end" in '' | N/A | Unknown | NONE) return 0 ;; esac
    epoch=$(date -d "$end" +%s 2>/dev/null) || return 0
    export PRISM_JOB_END_TIME=$epoch
    prism_log "job ends at $end (PRISM_JOB_END_TIME=$epoch)"
}

# The launcher: srun --mpi=pmix (Debian's Open MPI speaks only PMIx to srun), or mpirun inside the
# allocation (PRISM_LAUNCHER=mpirun; it reads the task count and nodes from Slurm), or none (one process,
# for trying a script outside Slurm).
prism_launcher() { # -> array prism_launch_cmd
    case "${PRISM_LAUNCHER:-srun}" in
    srun)
        # --kill-on-bad-exit: a rank that dies takes the step down instead of leaving the others waiting.
        # shellcheck disable=SC2206
        prism_launch_cmd=(srun --mpi="${PRISM_SRUN_MPI:-pmix}" --kill-on-bad-exit=1 ${PRISM_SRUN_FLAGS:-})
        ;;
    mpirun)
        # Open MPI refuses root (containers) unless told; nothing in Prism needs root.
        [ "$(id -u)" = 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
        # shellcheck disable=SC2206
        prism_launch_cmd=(mpirun ${PRISM_MPIRUN_FLAGS:-})
        ;;
    none) prism_launch_cmd=() ;;
    *) prism_die 2 "PRISM_LAUNCHER must be srun, mpirun or none, not '$PRISM_LAUNCHER'" ;;
    esac
}

# Runs COMMAND... in the background under the launcher and waits for it; SIGUSR1 (Slurm's --signal=B:USR1
# warning, or `scancel --signal=USR1 --batch`) and SIGTERM (time limit, preemption) reaching this batch shell
# are forwarded to the launcher, which passes them to every rank. Sets prism_status and prism_signalled.
prism_launch() {
    local pid count status
    prism_signalled=
    prism_traps=0
    prism_forward() {
        prism_signalled=$1
        prism_traps=$((prism_traps + 1))
        # Always as SIGUSR1, which the drivers treat as SIGTERM: srun and mpirun forward USR1 to every rank,
        # while mpirun answers a SIGTERM by killing the ranks (possibly mid-checkpoint).
        prism_log "received SIG$1, forwarding SIGUSR1 to the ranks (checkpoint at the next iteration)"
        kill -s USR1 "$pid" 2>/dev/null || true
    }
    trap 'prism_forward USR1' USR1
    trap 'prism_forward TERM' TERM
    prism_log "running: ${prism_launch_cmd[*]} $*"
    # In the background so that the trap runs at once: bash runs traps only between commands.
    "${prism_launch_cmd[@]}" "$@" &
    pid=$!
    while :; do
        count=$prism_traps
        wait "$pid"
        status=$?
        prism_status=$status
        # No trap ran, or a status no interruption gives: this is the run's own status.
        [ "$count" = "$prism_traps" ] || [ "$status" -le 128 ] && break
        # A trap interrupted `wait` (status 128 + signal) while the run goes on: wait again. If the child
        # is already gone, `wait` returns its remembered status (127 when it has none).
        kill -0 "$pid" 2>/dev/null && continue
        wait "$pid"
        status=$?
        [ "$status" != 127 ] && prism_status=$status
        break
    done
    trap - USR1 TERM
}

# prism_run DRIVER OUTPUT ARGS...: run DRIVER (prism-nmf, prism-joint) writing OUTPUT with checkpoints,
# resume from the checkpoint when this is a requeued/restarted job (or PRISM_RESUME=1), and requeue the job
# when the run stopped at a checkpoint (exit status 4). Exits with the driver's status.
prism_run() {
    local driver_name=$1 output=$2
    shift 2
    local driver args=() checkpoint restarts=${SLURM_RESTART_COUNT:-0}
    driver=$(prism_find_binary "$driver_name") || exit 2
    prism_set_threads
    prism_export_end_time
    prism_launcher
    args=("$@")
    if [ "$restarts" -gt 0 ] && [ -f "$output" ]; then
        prism_log "restart $restarts: $output is already complete, nothing to do"
        exit 0
    fi
    # The help is read whole before it is searched: with pipefail, `--help | grep -q` fails whenever grep
    # exits at the match before the driver has written the rest (SIGPIPE), a race that load decides.
    local help
    help=$("$driver" --help 2>/dev/null)
    if grep -q -- "--resume" <<<"$help"; then
        checkpoint=${PRISM_CHECKPOINT:-$output.ckpt.h5}
        args+=(--checkpoint "$checkpoint" --checkpoint-interval "${PRISM_CHECKPOINT_INTERVAL:-600}")
        [ -n "${PRISM_CHECKPOINT_EVERY:-}" ] && args+=(--checkpoint-every "$PRISM_CHECKPOINT_EVERY")
        if [ -f "$checkpoint" ] && { [ "$restarts" -gt 0 ] || [ "${PRISM_RESUME:-0}" = 1 ]; }; then
            prism_log "resuming from $checkpoint (restart $restarts)"
            args+=(--resume)
        elif [ "${PRISM_RESUME:-0}" = 1 ]; then
            prism_die 2 "PRISM_RESUME=1 but there is no checkpoint $checkpoint"
        elif [ -f "$checkpoint" ]; then
            # The driver refuses to overwrite it (hours of work) without --resume or --force.
            prism_log "note: $checkpoint exists from an earlier run: PRISM_RESUME=1 continues it; remove it" \
                "(or pass --force) to start afresh"
        fi
    else
        prism_log "note: $driver_name was built without checkpointing: no checkpoint, no resume"
    fi

    # A signal before the run even started: the job is about to end or be preempted. Starting would only be
    # cut short (and a requeue could loop), so stop here; a checkpoint, if any, stays.
    if [ -n "${prism_early_signal:-}" ]; then
        prism_log "received SIG$prism_early_signal before the run started (is the time limit longer than the" \
            "--signal lead time + 60 s?): not starting; resubmit with PRISM_RESUME=1 to continue"
        exit 4
    fi
    local stamp_before
    stamp_before=$(prism_stamp "${checkpoint:-}")
    prism_launch "$driver" --output "$output" "${args[@]}"
    local status=$prism_status
    # 4: stopped at a checkpoint (signal or job end near): requeue, the next run resumes.
    if [ "$status" = 4 ]; then
        prism_requeue "$status"
    fi
    # Killed by a forwarded signal before its handlers were in place (still starting up): requeue only if a
    # checkpoint was written meanwhile. Otherwise a restart would meet the same signal at the same point
    # (Slurm checks --signal every 30 s and may warn up to a minute early, so a time limit shorter than the
    # warning lead + 60 s signals every restart at once) and the job would requeue itself in a loop.
    if [ -n "$prism_signalled" ] && [ "$status" != 0 ] && [ "$status" != 2 ]; then
        if [ -n "${checkpoint:-}" ] && [ "$(prism_stamp "$checkpoint")" != "$stamp_before" ]; then
            prism_requeue "$status"
        fi
        prism_log "the run ended with status $status after SIG$prism_signalled, before writing a checkpoint: not" \
            "requeueing. Is the time limit longer than the --signal lead time + 60 s?"
    fi
    prism_log "$driver_name exited with status $status"
    exit "$status"
}

# The checkpoint's modification time (nanoseconds), or nothing: did this run write one?
prism_stamp() { # FILE
    [ -n "$1" ] && [ -f "$1" ] && stat -c %y "$1"
    return 0
}

prism_requeue() { # STATUS
    local restarts=${SLURM_RESTART_COUNT:-0} max=${PRISM_MAX_REQUEUES:-20}
    if [ -z "${SLURM_JOB_ID:-}" ] || [ "${PRISM_REQUEUE:-1}" = 0 ]; then
        prism_log "stopped at a checkpoint (status $1); resubmit with PRISM_RESUME=1 to continue"
        exit "$1"
    fi
    # scancel also sends SIGTERM (and the run checkpoints): a job its owner cancelled stays cancelled.
    if scontrol show job -o "$SLURM_JOB_ID" 2>/dev/null | grep -q "JobState=CANCELLED"; then
        prism_log "stopped at a checkpoint (status $1); the job was cancelled, so not requeueing (PRISM_RESUME=1 continues)"
        exit "$1"
    fi
    if [ "$restarts" -ge "$max" ]; then
        prism_log "stopped at a checkpoint (status $1) after $restarts requeues (PRISM_MAX_REQUEUES=$max): not requeueing"
        exit "$1"
    fi
    prism_log "stopped at a checkpoint (status $1): requeueing job $SLURM_JOB_ID (restart $((restarts + 1)))"
    # Slurm ends this shell now and starts the job again (SLURM_RESTART_COUNT+1), which then resumes.
    if scontrol requeue "$SLURM_JOB_ID"; then
        sleep 60 # killed by the requeue before this ends
        exit 0
    fi
    prism_log "scontrol requeue failed; resubmit with PRISM_RESUME=1 to continue from the checkpoint"
    exit "$1"
}
