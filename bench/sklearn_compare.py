#!/usr/bin/python3
"""Time to reach scikit-learn's coordinate-descent NMF error: scikit-learn vs prism-nmf on real data.

A benchmark, not part of the product (not run by CTest). Needs Debian's python3-sklearn and python3-h5py
(hence /usr/bin/python3, not a virtualenv's python). For each dataset:

1. scikit-learn: NMF(solver="cd", init="nndsvda", same k, default tol and max_iter), one BLAS thread;
   the time is the wall time of fit_transform (init + iterations), its error ||X - WH||_F / ||X||_F.
2. Prism: `mpirun -np RANKS prism-nmf` with the same k and init, a tolerance small enough that it runs
   past that error; from the output's /history (relative error and seconds per iteration) the time to
   reach is (wall_seconds - sum of the iteration seconds) + the iteration seconds up to the first
   iteration at or below scikit-learn's error. The first term is reading X, NNDSVDa and writing the
   output, so the figure is conservative; MPI start-up (mpirun) and Python start-up are not counted.
   `speed-up` is (h5py read of X + fit_transform) / reach: both sides read the (gzip-compressed) file,
   initialise and iterate. `iter-only` is fit_transform / (reach - setup): Prism's read, NNDSVDa and
   output write left out, scikit-learn's NNDSVDa kept in.

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


def run_prism(args, path, k, algorithm, target):
    """Returns (time to reach target or None, of which setup, final error, iterations to reach, total)."""
    env = dict(os.environ)
    env.update({"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"})
    best = None
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "out.h5")
            cmd = ["mpirun", "-np", str(args.ranks), "--oversubscribe", "--bind-to", "none", "--mca",
                   "mpi_yield_when_idle", "1", args.prism, "--input", path, "--rank", str(k), "--init",
                   "nndsvda", "--algorithm", algorithm, "--tol", "1e-9", "--max-iter", str(args.max_iter),
                   "--output", out, "--quiet"]
            subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
            with h5py.File(out, "r") as f:
                errs = np.asarray(f["/history/relative_error"])
                secs = np.asarray(f["/history/seconds"])
                wall = float(f.attrs["wall_seconds"])
                final = float(f.attrs["relative_error"])
        setup = wall - float(secs.sum())
        hit = np.nonzero(errs <= target)[0]
        reach = None if hit.size == 0 else setup + float(secs[: hit[0] + 1].sum())
        row = (reach, setup, final, None if hit.size == 0 else int(hit[0]) + 1, len(errs))
        if best is None or (reach is not None and (best[0] is None or reach < best[0])):
            best = row
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

    print(f"load average {os.getloadavg()[0]:.2f}; OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']} "
          f"OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}; prism on {args.ranks} ranks; "
          f"best of {args.repeats}")
    print(f"{'dataset':24} {'k':>3} {'read s':>7} {'sklearn s':>10} {'err':>9} {'it':>4}   {'prism alg':9} "
          f"{'reach s':>9} {'setup s':>8} {'at it':>5} {'final err':>9} {'speed-up':>8} {'iter-only':>9}")
    for spec in args.dataset or default_datasets(args.shared_data):
        path, _, k = spec.partition(":")
        k = int(k or 10)
        if not os.path.exists(path):
            print(f"{os.path.basename(path):24} missing: {path}")
            continue
        read_seconds = None
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            with h5py.File(path, "r") as f:
                x = np.asarray(f["X"], dtype=np.float64)
            dt = time.perf_counter() - t0
            read_seconds = dt if read_seconds is None else min(read_seconds, dt)
        sk_seconds, sk_err, sk_iter = run_sklearn(x, k, args.repeats)
        sk_total = read_seconds + sk_seconds
        for alg in args.algorithms.split(","):
            reach, setup, final, at, total = run_prism(args, path, k, alg, sk_err)
            name = os.path.basename(path)[:24]
            if reach is None:
                print(f"{name:24} {k:3d} {read_seconds:7.3f} {sk_seconds:10.3f} {sk_err:9.6f} {sk_iter:4d}   {alg:9} "
                      f"{'never':>9} {setup:8.3f} {'-':>5} {final:9.6f} {'-':>8}   (after {total} iterations)")
            else:
                print(f"{name:24} {k:3d} {read_seconds:7.3f} {sk_seconds:10.3f} {sk_err:9.6f} {sk_iter:4d}   {alg:9} "
                      f"{reach:9.3f} {setup:8.3f} {at:5d} {final:9.6f} {sk_total / reach:7.1f}x "
                      f"{sk_seconds / (reach - setup):8.1f}x")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
