"""Shared by the Slurm tests: the test bed the CTest fixture started, job submission, bounded polling.

Every test takes the same arguments:
    test_x.py TESTBED_DIR BIN_DIR DATA_DIR SOURCE_DIR MPIEXEC "MPIEXEC_PREFLAGS"
TESTBED_DIR holds slurm.conf (or a file `unavailable` saying why Slurm could not be had here, which makes
the test skip). Jobs are polled with squeue/scontrol, never `sbatch --wait` (it polls at 2, 10, 42 s), and
every wait has a limit.
"""
import os
import subprocess
import sys
import tempfile
import time

SKIP = 77  # CTest SKIP_RETURN_CODE of the slurm tests
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "PREEMPTED",
            "BOOT_FAIL", "DEADLINE"}


class Harness:
    def __init__(self, argv):
        if len(argv) < 7:
            sys.exit(f"usage: {argv[0]} TESTBED_DIR BIN_DIR DATA_DIR SOURCE_DIR MPIEXEC MPIEXEC_PREFLAGS")
        self.testbed, self.bin, self.data, self.source, self.mpiexec = argv[1:6]
        self.preflags = [f for f in argv[6].replace(";", " ").split() if f]
        self.failures = 0
        self.passes = 0
        unavailable = os.path.join(self.testbed, "unavailable")
        if os.path.exists(unavailable):
            print("SKIP: Slurm test bed unavailable: " + open(unavailable).read().strip())
            sys.exit(SKIP)
        self.env = dict(os.environ)
        self.env["SLURM_CONF"] = os.path.join(self.testbed, "slurm.conf")
        self.env["PRISM_BIN"] = self.bin
        # 2 to 4 ranks share 2 cores: waiting ranks must yield. Open MPI refuses root unless told.
        self.env["OMPI_MCA_mpi_yield_when_idle"] = "1"
        self.env["OMP_NUM_THREADS"] = "1"
        if os.getuid() == 0:
            self.env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
            self.env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        self.slurm = os.path.join(self.source, "slurm")
        self.work = tempfile.mkdtemp(prefix="prism-slurm-test-")
        os.chmod(self.work, 0o755)
        self.started = time.time()

    def path(self, name):
        return os.path.join(self.work, name)

    def run(self, cmd, timeout=120, env=None, cwd=None):
        return subprocess.run(cmd, cwd=cwd or self.work, env=env or self.env, capture_output=True, text=True,
                              timeout=timeout)

    def sbatch(self, args, env_extra=None):
        """Submits from the scratch directory (job logs land there); returns the job id."""
        env = dict(self.env)
        env.update(env_extra or {})
        r = self.run(["sbatch", "--parsable"] + args, env=env)
        if r.returncode != 0:
            raise RuntimeError(f"sbatch {' '.join(args)} failed: {r.stderr.strip()}")
        return r.stdout.strip().split(";")[0]

    def job(self, job_id):
        """scontrol's fields of one job as a dict (empty when Slurm no longer knows it)."""
        r = self.run(["scontrol", "show", "job", "-o", job_id])
        if r.returncode != 0 or not r.stdout.strip():
            return {}
        fields = {}
        for token in r.stdout.splitlines()[0].split():
            key, _, value = token.partition("=")
            fields.setdefault(key, value)
        return fields

    def wait(self, job_id, timeout=120, until=None):
        """Polls until the job reaches a final state (or `until(fields)` holds); returns the fields."""
        deadline = time.time() + timeout
        fields = {}
        while time.time() < deadline:
            fields = self.job(job_id)
            if until is not None and until(fields):
                return fields
            if until is None and fields.get("JobState") in TERMINAL:
                return fields
            time.sleep(0.25)
        raise TimeoutError(f"job {job_id} still {fields.get('JobState')} ({fields.get('Reason')}) after "
                           f"{timeout} s")

    def log(self, name):
        p = self.path(name)
        return open(p).read() if os.path.exists(p) else f"(no {name})"

    def mpirun(self, np, args, timeout=120):
        cmd = [self.mpiexec, "-n", str(np)] + self.preflags + args
        return self.run(cmd, timeout=timeout)

    def check(self, name, ok, detail=""):
        if ok:
            self.passes += 1
            print(f"ok: {name}")
        else:
            self.failures += 1
            print(f"FAIL: {name}" + (f"\n  {detail}" if detail else ""))
        return ok

    def finish(self):
        print(f"{self.passes} checks passed, {self.failures} failed, {time.time() - self.started:.1f} s")
        if self.failures == 0:
            subprocess.run(["rm", "-rf", self.work])
        else:
            print(f"scratch directory kept: {self.work}")
        sys.exit(1 if self.failures else 0)


def driver_has_checkpointing(binary):
    """True when the driver was built with checkpoint/restart (its --help lists --resume)."""
    r = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=30)
    return "--resume" in r.stdout
