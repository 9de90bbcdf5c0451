#!/usr/bin/python3
"""Time to reach scikit-learn's coordinate-descent NMF error: scikit-learn vs prism-nmf on real data.

A benchmark, not part of the product (not run by CTest). Needs Debian's python3-sklearn and python3-h5py
(hence /usr/bin/python3, not a virtualenv's python). For each dataset, best of --repeats runs of each side:

In memory (the issue's comparison, data already loaded on both sides):
  sklearn  `fit s`: wall time of NMF(solver="cd", init="nndsvda", same k, default tol and max_iter)
           .fit_transform(X) on X already in memory, one BLAS thread: its own NNDSVDa init + iterations.
           Its error ||X - WH||_F / ||X||_F is the target.
  prism    `reach s` = init_seconds + the iteration seconds (/history/seconds) up to the first iteration
           at or below that error, both from the output of `mpirun -np RANKS prism-nmf --init nndsvda`
           (tolerance small enough to run past the target): data in memory -> target error, the same span
           as fit_transform. `x mem` = fit s / reach s (the issue asks >= 5x).
Whole job (what a user waits for, start-up included on both sides):
  sklearn  `job s`: wall time of a fresh /usr/bin/python3 that imports h5py and scikit-learn, reads /X
           and runs the same fit_transform.
  prism    `job s`: wall time of the whole mpirun (MPI start-up, read of the compressed file, NNDSVDa,
           iterations, final exact error, output written) minus the iterations run after the target was
           reached. `read s` is prism-nmf's read_seconds (options, metadata, reading and checking /X,
           names, checksum). `x job` = sklearn job s / prism job s.
Both columns are reported because they answer different questions; the load average is printed per
dataset since the machine may be shared.

Usage (from the worktree root, after building):
    bench/sklearn_compare.py [--prism build/drivers/prism-nmf] [--ranks 2] [--algorithms hals,anls-bpp]
                             [--dataset FILE.h5:K ...] [--shared-data /work/shared/data] [--repeats 3]
Datasets default to the bundled Golub data (k = 3) and two larger ones read in place from --shared-data
(hsmm_fpkm.h5 26533 x 271 and fashion_mnist_t10k.h5 784 x 10000, k = 10; provenance in that folder's
README.md; they are not copied into data/).
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import h5py  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.decomposition import NMF  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

def default_datasets(shared):
    return [os.path.join(ROOT, "data", "golub_esgolub.h5") + ":3",
            os.path.join(shared, "hsmm_fpkm.h5") + ":10",
            os.path.join(shared, "fashion_mnist_t10k.h5") + ":10"]


def relative_error(x, w, h):
    return float(np.linalg.norm(x - w @ h) / np.linalg.norm(x))


def run_sklearn(x, k, repeats):
    best = None
    for _ in range(repeats):
        model = NMF(n_components=k, init="nndsvda", solver="cd")
        t0 = time.perf_counter()
        w = model.fit_transform(x)
        seconds = time.perf_counter() - t0
        err = relative_error(x, w, model.components_)
        if best is None or seconds < best[0]:
            best = (seconds, err, model.n_iter_)
    return best


SKLEARN_JOB = """
import os, sys
os.environ.setdefault("OMP_NUM_THREADS", "1"); os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import h5py, numpy as np
from sklearn.decomposition import NMF
with h5py.File(sys.argv[1], "r") as f:
    x = np.asarray(f["X"], dtype=np.float64)
NMF(n_components=int(sys.argv[2]), init="nndsvda", solver="cd").fit_transform(x)
"""


def run_sklearn_job(path, k, repeats):
    """Best wall time of a fresh interpreter that imports, reads /X and fits."""
    best = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(["/usr/bin/python3", "-c", SKLEARN_JOB, path, str(k)], check=True)
        seconds = time.perf_counter() - t0
        best = seconds if best is None else min(best, seconds)
    return best


def run_prism(args, path, k, algorithm, target):
    """Best of args.repeats runs, each figure on its own: dict with reach (in memory), init, iterations to
    reach, job (mpirun wall to reach), read, final error, or reach None if the target is never reached."""
    env = dict(os.environ)
    env.update({"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"})
    best = {}
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "out.h5")
            cmd = ["mpirun", "-np", str(args.ranks), "--oversubscribe", "--bind-to", "none", "--mca",
                   "mpi_yield_when_idle", "1", args.prism, "--input", path, "--rank", str(k), "--init",
                   "nndsvda", "--algorithm", algorithm, "--tol", "1e-9", "--max-iter", str(args.max_iter),
                   "--output", out, "--quiet"]
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
            job = time.perf_counter() - t0
            with h5py.File(out, "r") as f:
                errs = np.asarray(f["/history/relative_error"])
                secs = np.asarray(f["/history/seconds"])
                init = float(f.attrs["init_seconds"])
                read = float(f.attrs["read_seconds"])
                final = float(f.attrs["relative_error"])
        hit = np.nonzero(errs <= target)[0]
        row = {"init": init, "read": read, "final": final, "iterations": len(errs), "reach": None}
        if hit.size:
            row.update(reach=init + float(secs[: hit[0] + 1].sum()), at=int(hit[0]) + 1,
                       iter=float(secs[: hit[0] + 1].sum()), job=job - float(secs[hit[0] + 1:].sum()))
        for key, value in row.items():
            if key not in best or (value is not None and best[key] is not None and
                                   key in ("init", "read", "reach", "iter", "job") and value < best[key]):
                best[key] = value
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prism", default=os.path.join(ROOT, "build", "drivers", "prism-nmf"))
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--algorithms", default="hals,anls-bpp")
    ap.add_argument("--dataset", action="append", help="FILE.h5[:K], dataset /X (repeatable)")
    ap.add_argument("--shared-data", default="/work/shared/data",
                    help="folder of the larger datasets used by default (read in place)")
    ap.add_argument("--max-iter", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3, help="best of this many runs of each side")
    args = ap.parse_args()
    if not os.access(args.prism, os.X_OK):
        sys.exit(f"sklearn_compare: error: {args.prism} is not an executable (build first, or give --prism)")

    print(f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']} OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}; "
          f"prism on {args.ranks} ranks; best of {args.repeats} per column")
    print(f"{'':28}{'---------- scikit-learn ----------':36}{'':11}"
          f"{'------- prism in memory -------':38}{'-------- whole job --------':30}")
    print(f"{'dataset':22} {'k':>3} {'fit s':>7} {'err':>9} {'it':>4} {'job s':>7}   {'prism alg':9} "
          f"{'init s':>7} {'reach s':>8} {'at it':>5} {'final err':>9} {'x mem':>6}   {'read s':>7} {'job s':>7} "
          f"{'x job':>6}  load")
    for spec in args.dataset or default_datasets(args.shared_data):
        path, _, k = spec.partition(":")
        k = int(k or 10)
        name = os.path.basename(path).replace(".h5", "")[:22]
        if not os.path.exists(path):
            print(f"{name:22} missing: {path}")
            continue
        load_before = os.getloadavg()[0]
        with h5py.File(path, "r") as f:
            x = np.asarray(f["X"], dtype=np.float64)
        sk_seconds, sk_err, sk_iter = run_sklearn(x, k, args.repeats)
        sk_job = run_sklearn_job(path, k, args.repeats)
        for alg in args.algorithms.split(","):
            p = run_prism(args, path, k, alg, sk_err)
            load = f"{load_before:.1f}-{os.getloadavg()[0]:.1f}"
            head = f"{name:22} {k:3d} {sk_seconds:7.3f} {sk_err:9.6f} {sk_iter:4d} {sk_job:7.3f}   {alg:9} {p['init']:7.3f}"
            if p["reach"] is None:
                print(f"{head} {'never':>8} {'-':>5} {p['final']:9.6f} {'-':>6}   {p['read']:7.3f} {'-':>7} {'-':>6}  "
                      f"{load}  (after {p['iterations']} iterations)")
            else:
                print(f"{head} {p['reach']:8.3f} {p['at']:5d} {p['final']:9.6f} {sk_seconds / p['reach']:5.1f}x   "
                      f"{p['read']:7.3f} {p['job']:7.3f} {sk_job / p['job']:5.1f}x  {load}")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
