#!/usr/bin/python3
"""--threads N on prism-nmf, prism-joint and prism-bench: N OpenMP and OpenBLAS threads per rank give the
same factors as one thread (to 1e-10, relative to the largest entry) for every algorithm, dense and sparse,
single and joint; the count is applied (logged, and reported by OpenMP and OpenBLAS in prism-bench's
header); --threads 0, negative or not a number is one error line, exit status 2, on every driver.

Usage: test_threads_cli.py BIN_DIR DATA_DIR MPIEXEC "MPIEXEC_PREFLAGS"
"""
import os
import shutil
import subprocess
import sys
import tempfile

import h5py
import numpy as np
import scipy.io
import scipy.sparse as sp
import cli_checks  # noqa: E402  (this directory is sys.path[0])
from cli_checks import check  # noqa: E402

bin_dir, data_dir, mpiexec = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2]), sys.argv[3]
preflags = [f for f in sys.argv[4].replace(";", " ").split() if f] if len(sys.argv) > 4 else []
version = subprocess.run([mpiexec, "--version"], capture_output=True, text=True)
if "Open MPI" in version.stdout + version.stderr or "OpenRTE" in version.stdout + version.stderr:
    preflags.append("-q")  # Open MPI's own banner after a non-zero exit would hide our one line
work = tempfile.mkdtemp(prefix="prism-threads-cli-")
# The environment must not decide the count: a test of --threads 1 against 2 under OMP_NUM_THREADS=2 would
# otherwise compare 2 threads with 2.
env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")


def run(np_, program, *args, timeout=300):
    p = subprocess.run([mpiexec, "-n", str(np_), *preflags, os.path.join(bin_dir, program), *args],
                       capture_output=True, text=True, timeout=timeout, cwd=work, env=env)
    return p.returncode, p.stdout, p.stderr


def factors(path):
    with h5py.File(path, "r") as f:
        w = f["W"]  # a joint result holds one W per modality
        w = np.vstack([w[name][...] for name in sorted(w)]) if isinstance(w, h5py.Group) else w[...]
        return w, f["H"][...], float(f.attrs["relative_error"])


def same(a, b):
    """Largest difference of W and of H relative to their largest entry, and of the error."""
    return max(np.abs(a[0] - b[0]).max() / np.abs(a[0]).max(), np.abs(a[1] - b[1]).max() / np.abs(a[1]).max(),
               abs(a[2] - b[2]))


rng = np.random.default_rng(7)
# Large enough that OpenBLAS and the OpenMP loops do split the work over two threads.
dense = rng.random((1200, 10)) @ rng.random((10, 500)) + 0.01 * rng.random((1200, 500))
dense_path = os.path.join(work, "dense.h5")
with h5py.File(dense_path, "w") as f:
    f.create_dataset("X", data=dense)
sparse_path = os.path.join(work, "sparse.mtx")
scipy.io.mmwrite(sparse_path, sp.random(3000, 400, density=0.05, random_state=3, format="coo"))

cases = [("prism-nmf", ["--input", dense_path, "--rank", "10"], a, "dense") for a in ("hals", "anls-bpp", "mu")]
cases += [("prism-nmf", ["--input", sparse_path, "--rank", "8"], a, "sparse") for a in ("hals", "anls-bpp")]
cases += [("prism-joint", ["--input", os.path.join(data_dir, "miniacc_multiomics.h5"), "--rank", "4"], "hals",
           "joint")]
for program, args, algorithm, label in cases:
    for np_ in (1, 2):
        results = {}
        for threads in (1, 2):
            out = os.path.join(work, f"{label}-{algorithm}-{np_}-{threads}.h5")
            status, stdout, stderr = run(np_, program, *args, "--algorithm", algorithm, "--max-iter", "30",
                                         "--tol", "0", "--threads", str(threads), "--output", out)
            check(f"{program} {label} {algorithm} {np_} ranks --threads {threads} runs and logs the threads",
                  status == 0 and f"on {np_} ranks x {threads} threads" in stdout, stdout + stderr)
            if status == 0:
                results[threads] = factors(out)
        if len(results) == 2:
            d = same(results[1], results[2])
            check(f"{program} {label} {algorithm} {np_} ranks: --threads 2 equals --threads 1 to 1e-10", d <= 1e-10,
                  f"largest relative difference {d:.3g}")

# prism-bench applies the count: OpenMP and OpenBLAS themselves report it.
status, stdout, stderr = run(1, "prism-bench", "--m", "200", "--n", "100", "--k", "5", "--iterations", "2",
                             "--warmup", "0", "--threads", "2")
check("prism-bench --threads 2: OpenMP and OpenBLAS report 2 threads",
      status == 0 and "(OpenMP 2, OpenBLAS 2), set by --threads 2" in stdout, stdout + stderr)

# Bad counts: one line, exit status 2, no output.
for program, args in (("prism-nmf", ["--input", dense_path, "--rank", "3", "--output", "never.h5"]),
                      ("prism-joint", ["--input", os.path.join(data_dir, "miniacc_multiomics.h5"), "--rank", "3",
                                       "--output", "never.h5"]),
                      ("prism-bench", [])):
    for bad in ("0", "-2", "two"):
        status, stdout, stderr = run(2, program, *args, "--threads", bad)
        lines = [l for l in stderr.splitlines() if l.strip()]
        ok = status == 2 and len(lines) == 1 and "--threads" in lines[0] and not os.path.exists(
            os.path.join(work, "never.h5"))
        check(f"{program} --threads {bad}: one error line, status 2", ok, f"status={status} stderr={stderr!r}")

print(f"{cli_checks.passed} passed, {cli_checks.failed} failed")
shutil.rmtree(work, ignore_errors=True) if cli_checks.failed == 0 else print(f"kept {work}")
sys.exit(1 if cli_checks.failed else 0)
