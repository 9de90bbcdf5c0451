#!/usr/bin/env python3
"""Preemption and crashes on a real Slurm, through slurm/prism-nmf.sbatch (needs prism-nmf with --resume).

A. Preemption: a long run (--tol 0) checkpointing every 20 iterations gets Slurm's warning signal
   (`scancel --signal=USR1 --batch`, what `--signal=B:USR1@N` delivers): the batch shell forwards it, the
   ranks checkpoint and exit 4, the script requeues the job, the restarted job resumes from the checkpoint,
   and the final factors equal an uninterrupted run's (bitwise expected, 1e-10 required).
B. Crashes: the same run checkpointing every iteration has its ranks killed with SIGKILL (the pids from
   `scontrol listpids`, as a node crash would), three times, each time resubmitted with PRISM_RESUME=1:
   after each kill the last checkpoint is intact (a crash mid-write never leaves a broken one) and no output
   exists; the final resume completes and equals the uninterrupted run.
"""
import os
import subprocess
import sys
import time

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from slurm_harness import SKIP, Harness, driver_has_checkpointing  # noqa: E402

h = Harness(sys.argv)
nmf = os.path.join(h.bin, "prism-nmf")
if not driver_has_checkpointing(nmf):
    print("SKIP: checkpointing not built (prism-nmf --help lists no --resume)")
    sys.exit(SKIP)

golub = os.path.join(h.data, "golub_esgolub.h5")
script = os.path.join(h.slurm, "prism-nmf.sbatch")
# Long enough that the signal lands mid-run: per-iteration time varies 20-fold between an idle machine
# and a loaded one, so phase A starts short and grows the run (x5) when it finished before the signal.
iterations = int(os.environ.get("PRISM_TEST_PREEMPT_ITERATIONS", "2000"))


def options():
    return ["--max-iter", str(iterations), "--tol", "0", "--seed", "3", "--log-every", "0"]


reference = None


def wait_for_file(path, job, timeout=90):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if os.path.exists(path):
            return True
        if h.job(job).get("JobState") not in ("PENDING", "RUNNING", "CONFIGURING"):
            return False
        time.sleep(0.05)
    return False


def checkpoint_intact(path):
    """The checkpoint opens as HDF5 and every dataset in it reads back whole and finite."""
    try:
        with h5py.File(path, "r") as f:
            datasets = []
            f.visititems(lambda name, obj: datasets.append(obj) if isinstance(obj, h5py.Dataset) else None)
            return len(datasets) > 0 and all(
                np.isfinite(d[...]).all() for d in datasets if d.dtype.kind == "f")
    except Exception as e:  # noqa: BLE001 - any failure to read is the defect under test
        print(f"  checkpoint {path} unreadable: {e}")
        return False


def kill_ranks(job):
    """SIGKILL to every task of the job's steps (not the batch shell), all at once; returns how many."""
    deadline = time.time() + 30
    while time.time() < deadline:
        r = h.run(["scontrol", "listpids", job])
        pids = [int(f[0]) for f in (line.split() for line in r.stdout.splitlines()[1:])
                if len(f) >= 3 and f[2].isdigit() and f[0].isdigit()]
        if pids:
            for pid in pids:
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass
            return len(pids)
        time.sleep(0.05)
    return 0


def reference_done():
    """The uninterrupted run of `iterations`, on the same 2 ranks, launched directly."""
    if reference.returncode is None:
        out, _ = reference.communicate(timeout=300)
        assert reference.returncode == 0, out


def same_factors(path, name):
    reference_done()
    if not h.check(f"{name}: output written", os.path.exists(path)):
        return
    with h5py.File(path, "r") as f, h5py.File(h.path("reference.h5"), "r") as g:
        h.check(f"{name}: {iterations} iterations in all, history complete",
                int(f.attrs["iterations"]) == iterations and f["history/relative_error"].shape == (iterations,),
                f"iterations {f.attrs['iterations']}, history {f['history/relative_error'].shape}")
        for factor in ("W", "H"):
            a, b = f[factor][...], g[factor][...]
            diff = np.abs(a - b).max() / np.abs(b).max()
            h.check(f"{name}: {factor} equals the uninterrupted run's ({'bitwise' if diff == 0 else diff})",
                    diff <= 1e-10)


# --- A. preemption: USR1 to the batch shell -> checkpoint, exit 4, requeue, resume --------------------------
checkpoint = h.path("preempt.h5.ckpt.h5")
for attempt in range(3):
    for leftover in ("preempt.h5", "preempt.h5.ckpt.h5"):
        if os.path.exists(h.path(leftover)):
            os.remove(h.path(leftover))
    job = h.sbatch(["--ntasks=2", "--time=10", script, golub, "3", "preempt.h5"] + options(),
                   {"PRISM_CHECKPOINT_EVERY": "20"})
    submitted = time.time()
    if not h.check("A: first checkpoint written while the job runs", wait_for_file(checkpoint, job),
                   h.log(f"prism-nmf-{job}.out")):
        break
    subprocess.run(["scancel", "--signal=USR1", "--batch", job], env=h.env, check=True, timeout=30)
    fields = h.wait(job, timeout=60, until=lambda j: int(j.get("Restarts", "0")) >= 1 or
                    j.get("JobState") in ("COMPLETED", "FAILED", "CANCELLED"))
    if fields.get("Restarts") == "0" and fields.get("JobState") == "COMPLETED":
        print(f"A: {iterations} iterations ended before the signal landed; trying {5 * iterations}")
        iterations *= 5
        continue
    break
reference = subprocess.Popen([h.mpiexec, "-n", "2"] + h.preflags +
                             [nmf, "--input", golub, "--rank", "3", "--output", h.path("reference.h5")] + options(),
                             cwd=h.work, env=h.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
if h.check("A: the job was requeued", fields.get("Restarts") == "1", str(fields)):
    h.check("A: checkpoint intact after the signal", checkpoint_intact(checkpoint))
    fields = h.wait(job, timeout=240)
    log = h.log(f"prism-nmf-{job}.out")
    h.check(f"A: job {job} COMPLETED 0:0 after 1 requeue", fields.get("JobState") == "COMPLETED" and
            fields.get("ExitCode") == "0:0" and fields.get("Restarts") == "1", f"{fields}\n{log}")
    h.check("A: the batch shell forwarded SIGUSR1", "received SIGUSR1, forwarding" in log, log)
    h.check("A: the run stopped at a checkpoint and the job requeued itself", "requeueing job" in log, log)
    h.check("A: the restarted job resumed from the checkpoint", "resuming from" in log, log)
    end = [line for line in log.splitlines() if "PRISM_JOB_END_TIME=" in line]
    end_time = int(end[0].split("PRISM_JOB_END_TIME=")[1].rstrip(")")) if end else 0
    h.check("A: PRISM_JOB_END_TIME exported, about 10 minutes after the start",
            submitted + 500 < end_time < submitted + 700, "\n".join(end) or log)
    same_factors(h.path("preempt.h5"), "A")

# --- B. SIGKILL on every process, three times, each followed by a resubmission with PRISM_RESUME=1 ----------
checkpoint = h.path("killed.h5.ckpt.h5")
for attempt in range(3):
    env = {"PRISM_CHECKPOINT_EVERY": "1"}
    if attempt > 0:
        env["PRISM_RESUME"] = "1"
    job = h.sbatch(["--ntasks=2", script, golub, "3", "killed.h5"] + options(), env)
    before = os.path.getmtime(checkpoint) if os.path.exists(checkpoint) else 0
    # Wait for a checkpoint newer than the last one: with a checkpoint every iteration the kill most likely
    # lands in the middle of the next write.
    deadline = time.time() + 90
    while time.time() < deadline and not (os.path.exists(checkpoint) and os.path.getmtime(checkpoint) > before):
        time.sleep(0.02)
    # SIGKILL to every rank at once (scancel --signal=KILL would cancel the job: SIGTERM first).
    killed = kill_ranks(job)
    h.check(f"B{attempt}: ranks of job {job} killed with SIGKILL", killed >= 2, f"{killed} killed")
    fields = h.wait(job, timeout=60)
    log = h.log(f"prism-nmf-{job}.out")
    h.check(f"B{attempt}: job {job} killed before finishing", fields.get("JobState") != "COMPLETED",
            f"{fields.get('JobState')}: make the run longer (PRISM_TEST_PREEMPT_ITERATIONS)\n{log}")
    h.check(f"B{attempt}: no output after the kill", not os.path.exists(h.path("killed.h5")))
    h.check(f"B{attempt}: the last checkpoint is intact", checkpoint_intact(checkpoint))
    leftovers = [n for n in os.listdir(h.work) if n.startswith("killed.h5") and n != "killed.h5.ckpt.h5"]
    print(f"B{attempt}: killed in state {fields.get('JobState')}; files left by the write in progress: "
          f"{leftovers or 'none'}")

job = h.sbatch(["--ntasks=2", script, golub, "3", "killed.h5"] + options(),
               {"PRISM_RESUME": "1", "PRISM_CHECKPOINT_EVERY": "1000"})
fields = h.wait(job, timeout=240)
log = h.log(f"prism-nmf-{job}.out")
h.check(f"B: the resubmitted job {job} resumed and COMPLETED 0:0", fields.get("JobState") == "COMPLETED" and
        fields.get("ExitCode") == "0:0" and "resuming from" in log, f"{fields}\n{log}")

same_factors(h.path("killed.h5"), "B")
h.finish()
