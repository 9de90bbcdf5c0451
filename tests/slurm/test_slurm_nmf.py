#!/usr/bin/env python3
"""slurm/prism-nmf.sbatch on a real Slurm: the Golub data at 4 ranks through srun --mpi=pmix, at 2 ranks x 2
threads through mpirun inside the allocation, and a bad input; each checked by its output file (a job can
show COMPLETED while its work failed), against a direct run."""
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from slurm_harness import Harness  # noqa: E402

h = Harness(sys.argv)
golub = os.path.join(h.data, "golub_esgolub.h5")
script = os.path.join(h.slurm, "prism-nmf.sbatch")
options = ["--init", "nndsvda", "--log-every", "0"]

# The reference: the same run launched directly (the result is the same on any number of ranks).
ref = h.mpirun(1, [os.path.join(h.bin, "prism-nmf"), "--input", golub, "--rank", "3", "--output",
                   h.path("direct.h5")] + options)
assert ref.returncode == 0, ref.stderr
with h5py.File(h.path("direct.h5"), "r") as f:
    ref_error = float(f.attrs["relative_error"])

srun_job = h.sbatch(["--ntasks=4", script, golub, "3", "srun.h5"] + options)
mpirun_job = h.sbatch(["--ntasks=2", "--cpus-per-task=2", script],
                      {"PRISM_LAUNCHER": "mpirun", "PRISM_MPIRUN_FLAGS": "--oversubscribe --bind-to none",
                       "PRISM_INPUT": golub, "PRISM_RANK": "3", "PRISM_OUTPUT": "mpirun.h5",
                       "PRISM_OPTIONS": " ".join(options)})
bad_job = h.sbatch(["--ntasks=2", script, os.path.join(h.data, "no_such_file.h5"), "3", "bad.h5"])

for job, name, nprocs, grid, threads in [(srun_job, "srun.h5", 4, "4x1", 1),
                                         (mpirun_job, "mpirun.h5", 2, "2x1", 2)]:
    fields = h.wait(job, timeout=150)
    log = h.log(f"prism-nmf-{job}.out")
    h.check(f"{name}: job {job} COMPLETED 0:0", fields.get("JobState") == "COMPLETED" and
            fields.get("ExitCode") == "0:0", f"{fields.get('JobState')} {fields.get('ExitCode')}\n{log}")
    path = h.path(name)
    if not h.check(f"{name}: output written", os.path.exists(path), log):
        continue
    with h5py.File(path, "r") as f:
        W, H = f["W"][...], f["H"][...]
        error = float(f.attrs["relative_error"])
        h.check(f"{name}: W 5000x3, H 3x38, non-negative, finite", W.shape == (5000, 3) and H.shape == (3, 38)
                and np.isfinite(W).all() and np.isfinite(H).all() and W.min() >= 0 and H.min() >= 0)
        h.check(f"{name}: relative error {error:.12f} equals the direct run's {ref_error:.12f} (1e-10)",
                abs(error - ref_error) < 1e-10)
        used = f.attrs["grid"].decode() if isinstance(f.attrs["grid"], bytes) else str(f.attrs["grid"])
        h.check(f"{name}: {nprocs} ranks on grid {grid} (from SLURM_NTASKS)",
                int(f.attrs["nprocs"]) == nprocs and used == grid, f"nprocs {f.attrs['nprocs']} grid {used}")
    h.check(f"{name}: OMP_NUM_THREADS={threads} from --cpus-per-task", f"OMP_NUM_THREADS={threads}" in log, log)

# A bad input: the job fails with the driver's status 2 and its one-line error, and writes nothing.
fields = h.wait(bad_job, timeout=120)
log = h.log(f"prism-nmf-{bad_job}.out")
errors = [line for line in log.splitlines() if line.startswith("prism-nmf: error:")]
h.check("bad input: job FAILED with exit code 2", fields.get("JobState") == "FAILED" and
        fields.get("ExitCode") == "2:0", f"{fields.get('JobState')} {fields.get('ExitCode')}\n{log}")
h.check("bad input: one error line naming the file", len(errors) == 1 and "no_such_file.h5" in errors[0], log)
h.check("bad input: no output", not os.path.exists(h.path("bad.h5")))
h.finish()
