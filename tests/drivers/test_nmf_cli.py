#!/usr/bin/python3
"""prism-nmf end to end under mpirun: results on real data, grid independence, and every bad input of
../shared/ROBUSTNESS.md that touches a dense single-matrix run refused with one clear line, exit status 2
on every rank, in bounded time, and no output file (nor temporary) left behind.

Inputs are written with h5py, as users' files are. Usage:
    test_nmf_cli.py BIN_DIR DATA_DIR MPIEXEC "MPIEXEC_PREFLAGS"
"""
import os
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np
import cli_checks  # noqa: E402  (this directory is sys.path[0])
from cli_checks import check  # noqa: E402

bin_dir, data_dir, mpiexec = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2]), sys.argv[3]
preflags = [f for f in sys.argv[4].replace(";", " ").split() if f] if len(sys.argv) > 4 else []
version = subprocess.run([mpiexec, "--version"], capture_output=True, text=True)
if "Open MPI" in version.stdout + version.stderr or "OpenRTE" in version.stdout + version.stderr:
    preflags.append("-q")  # Open MPI's own banner after a non-zero exit would hide our one line
nmf = os.path.join(bin_dir, "prism-nmf")
golub = os.path.join(data_dir, "golub_esgolub.h5")
work = tempfile.mkdtemp(prefix="prism-nmf-cli-")


def run(np_, *args, timeout=120):
    start = time.time()
    p = subprocess.run([mpiexec, "-n", str(np_), *preflags, nmf, *args], capture_output=True, text=True,
                       timeout=timeout, cwd=work)
    return p.returncode, p.stdout, p.stderr, time.time() - start


def leftovers(out):
    """The output and any temporary of it (OUT.tmp-PID) in its folder."""
    folder = os.path.dirname(out) or work
    base = os.path.basename(out)
    return sorted(f for f in os.listdir(folder) if f.startswith(base)) if os.path.isdir(folder) else []


def expect_error(name, expected, np_, *args, out="never.h5"):
    """Exit 2 on every rank, exactly one line on stderr containing `expected`, no new or changed output file
    (nor temporary), < 30 s."""
    out_path = os.path.join(work, out)
    before = [(f, os.path.getmtime(os.path.join(os.path.dirname(out_path), f))) for f in leftovers(out_path)]
    status, stdout, stderr, seconds = run(np_, *args, "--output", out_path, "--quiet")
    after = [(f, os.path.getmtime(os.path.join(os.path.dirname(out_path), f))) for f in leftovers(out_path)]
    lines = [l for l in stderr.splitlines() if l.strip()]
    ok = status == 2 and len(lines) == 1 and expected in lines[0] and after == before and seconds < 30
    check(name, ok, f"status={status} seconds={seconds:.1f} stderr={stderr!r} files={after} (before {before})")


def h5(name, x, dtype=None, extra=None):
    path = os.path.join(work, name)
    with h5py.File(path, "w") as f:
        f.create_dataset("X", data=x if dtype is None else x.astype(dtype))
        for key, value in (extra or {}).items():
            f.create_dataset(key, data=value)
    return path


def result(path):
    with h5py.File(path, "r") as f:
        return f["W"][...], f["H"][...], dict(f.attrs)


rng = np.random.default_rng(0)

# --- Real data: Golub leukemia, k = 3, nndsvda. scikit-learn's coordinate-descent NMF reaches ~0.503.
out = os.path.join(work, "golub.h5")
status, stdout, stderr, _ = run(4, "--input", golub, "--rank", "3", "--init", "nndsvda", "--output", out)
ok = status == 0 and os.path.exists(out)
if ok:
    W, H, attrs = result(out)
    with h5py.File(out, "r") as f:
        names_ok = len(f["row_names"]) == 5000 and len(f["col_names"]) == 38
        history = f["history/relative_error"][...]
        history_seconds = f["history/seconds"][...]
    ok = (W.shape == (5000, 3) and H.shape == (3, 38) and attrs["relative_error"] <= 0.5035 and names_ok
          and (W >= 0).all() and (H >= 0).all() and len(history) == attrs["iterations"]
          and abs(history[-1] - attrs["relative_error"]) < 1e-6 and attrs["nprocs"] == 4
          and attrs["init"] == b"nndsvda" and b"--rank 3" in attrs["command_line"])
check("golub k=3 nndsvda: error <= 0.5035, shapes, names, history, attributes", ok, f"{status} {stdout} {stderr}")
check("progress lines and summary on stdout", "relative error" in stdout and "wrote" in stdout, stdout)
# Phase times (bench/sklearn_compare.py uses them): read and init before the iterations, all within the wall.
if ok:
    read_s, init_s, wall_s = attrs["read_seconds"], attrs["init_seconds"], attrs["wall_seconds"]
    check("read_seconds, init_seconds: positive, with the iterations within wall_seconds",
          read_s > 0 and init_s > 0 and read_s + init_s + history_seconds.sum() <= wall_s,
          f"read {read_s} init {init_s} iterations {history_seconds.sum()} wall {wall_s}")
    check("phase line on stdout", "read and checked the input in" in stdout and "initialised in" in stdout, stdout)
check("no temporary file left after success", leftovers(out) == ["golub.h5"], str(leftovers(out)))

# Existing output: refused without --force (and left untouched), replaced with it.
expect_error("existing output refused and untouched", "already exists; use --force", 2, "--input", golub,
             "--rank", "3", out="golub.h5")
status, _, stderr, _ = run(2, "--input", golub, "--rank", "2", "--output", out, "--force", "--quiet")
check("--force overwrites", status == 0 and result(out)[2]["rank"] == 2, stderr)

# --- Same answer whatever the grid: 1, 2, 4 (2x2) and 6 (2x3) ranks, every algorithm.
x = rng.random((61, 47))
x[7, :] = 0
x[:, 13] = 0
small = h5("small.h5", x)
for algorithm in ["hals", "anls-bpp", "mu"]:
    errors = {}
    for np_, grid in [(1, "1x1"), (2, "auto"), (4, "2x2"), (6, "2x3")]:
        o = os.path.join(work, f"grid-{algorithm}-{np_}.h5")
        status, _, stderr, _ = run(np_, "--input", small, "--rank", "5", "--algorithm", algorithm, "--grid", grid,
                                   "--block", "4x3", "--tol", "0", "--max-iter", "40", "--output", o, "--quiet")
        if status != 0:
            check(f"{algorithm} at {np_} ranks", False, stderr)
            continue
        W, H, attrs = result(o)
        errors[np_] = attrs["relative_error"]
        # ROBUSTNESS 1: a zero row of X gives a zero row of W, a zero column a zero column of H, no NaN.
        check(f"{algorithm} np{np_}: finite, zero row/column stay zero",
              np.isfinite(W).all() and np.isfinite(H).all() and W[7].max() == 0 and H[:, 13].max() == 0)
    if len(errors) == 4:
        spread = max(errors.values()) - min(errors.values())
        check(f"{algorithm}: final error equal at 1, 2, 4, 6 ranks (1e-10)", spread < 1e-10 * errors[1], str(errors))

# --- ROBUSTNESS 12: integer and big-endian inputs give the same factors as float64.
counts = rng.integers(0, 20, (40, 30))
reference = None
for dtype in ["<f8", "int8", "uint16", ">i4", "int64", ">f8", "<f4"]:
    o = os.path.join(work, f"dtype-{dtype.replace('<', 'l').replace('>', 'b')}.h5")
    status, _, stderr, _ = run(2, "--input", h5(f"in-{os.path.basename(o)}", counts, dtype), "--rank", "4",
                               "--max-iter", "30", "--tol", "0", "--output", o, "--quiet")
    if status != 0:
        check(f"dtype {dtype}", False, stderr)
        continue
    W, H, _ = result(o)
    if reference is None:
        reference = (W, H)
    check(f"dtype {dtype} converted on read: same factors as float64",
          np.abs(W - reference[0]).max() <= 1e-12 * np.abs(reference[0]).max() and
          np.abs(H - reference[1]).max() <= 1e-12 * np.abs(reference[1]).max())

# --- ROBUSTNESS 5b: signed zeros are zeros: same result as +0.0.
y = rng.random((40, 30))
y[y < 0.1] = 0.0
pos = os.path.join(work, "pos0.h5")
neg = os.path.join(work, "neg0.h5")
run(4, "--input", h5("pz.h5", y), "--rank", "3", "--output", pos, "--quiet", "--max-iter", "20")
status, _, stderr, _ = run(4, "--input", h5("nz.h5", np.where(y == 0, -0.0, y)), "--rank", "3", "--output", neg,
                           "--quiet", "--max-iter", "20")
check("-0.0 accepted and equal to +0.0", status == 0 and np.array_equal(result(pos)[0], result(neg)[0]), stderr)

# --- ROBUSTNESS 2: X = u v^T with a zero in v, k = 1: exact fit, zero column of H, on 1x1 and 1x2.
outer = np.outer([2.0, 1.0, 4.0], [1.0, 3.0, 0.0, 2.0])
for np_, grid in [(1, "1x1"), (2, "1x2")]:
    o = os.path.join(work, f"outer-{np_}.h5")
    status, _, stderr, _ = run(np_, "--input", h5("outer.h5", outer), "--rank", "1", "--algorithm", "anls-bpp",
                               "--grid", grid, "--block", "1", "--output", o, "--quiet")
    ok = status == 0
    if ok:
        W, H, attrs = result(o)
        ok = attrs["relative_error"] < 1e-10 and H[0, 2] == 0
    check(f"outer product k=1 exact on grid {grid}", ok, stderr)

# --- ROBUSTNESS 7a/15: k = min(m, n) with nndsvd on a 3 x 10 matrix; a 7 x 10 matrix on 2x2 with block 8
# (process row 1 owns nothing); a single row on 2x2; k larger than a rank's local rows.
for name, shape, k, np_, grid, block, init in [("k=min(m,n) nndsvd", (3, 10), 3, 1, "1x1", "64", "nndsvd"),
                                               ("empty process row", (7, 10), 2, 4, "2x2", "8", "random"),
                                               ("single row", (1, 50), 1, 4, "2x2", "64", "random"),
                                               ("k > local rows", (16, 12), 4, 6, "6x1", "1", "nndsvda")]:
    o = os.path.join(work, f"shape-{shape[0]}x{shape[1]}-{np_}.h5")
    status, _, stderr, _ = run(np_, "--input", h5(f"shape-{shape[0]}.h5", rng.random(shape) + 0.01), "--rank",
                               str(k), "--grid", grid, "--block", block, "--init", init, "--output", o, "--quiet")
    check(name, status == 0 and np.isfinite(result(o)[0]).all(), stderr)

# --- ROBUSTNESS 10c: identical columns (degenerate NNLS subproblems), k = 5, ANLS-BPP on 2x2: terminates.
tiled = np.tile(rng.random((100, 1)), (1, 60))
o = os.path.join(work, "tiled-out.h5")
status, _, stderr, seconds = run(4, "--input", h5("tiled.h5", tiled), "--rank", "5", "--algorithm", "anls-bpp",
                                 "--grid", "2x2", "--output", o, "--quiet", timeout=60)
check("identical columns: BPP terminates, finite, exact", status == 0 and np.isfinite(result(o)[1]).all() and
      result(o)[2]["relative_error"] < 1e-8, f"{stderr} {seconds}")

# --- ROBUSTNESS 9: many empty columns, large k, nndsvd (which makes zero columns): H[:, j] = 0 where
# X[:, j] = 0, for both solvers.
sparse_x = np.where(rng.random((550, 1500)) < 0.003, rng.random((550, 1500)), 0.0)
empty_cols = np.where(sparse_x.sum(axis=0) == 0)[0]
for algorithm in ["anls-bpp", "hals"]:
    o = os.path.join(work, f"sparse-{algorithm}.h5")
    status, _, stderr, _ = run(2, "--input", h5("sparse.h5", sparse_x), "--rank", "60", "--init", "nndsvd",
                               "--algorithm", algorithm, "--max-iter", "30", "--output", o, "--quiet")
    ok = status == 0
    if ok:
        W, H, _ = result(o)
        ok = np.isfinite(W).all() and np.isfinite(H).all() and len(empty_cols) > 0 and H[:, empty_cols].max() == 0
    check(f"very sparse, k=60, nndsvd, {algorithm}: finite, empty columns give zero H columns", ok, stderr)

# --- ROBUSTNESS 16c/d: prime rank counts with the automatic grid; more process rows than matrix rows.
for np_ in [5]:
    o = os.path.join(work, f"prime-{np_}.h5")
    status, stdout, stderr, _ = run(np_, "--input", small, "--rank", "3", "--output", o, "--max-iter", "5")
    check(f"-np {np_} automatic grid: runs and logs the grid", status == 0 and "grid 5x1 on 5 ranks" in stdout,
          stdout + stderr)
o = os.path.join(work, "tall-grid.h5")
status, _, stderr, _ = run(4, "--input", h5("wide.h5", rng.random((3, 40))), "--rank", "2", "--grid", "4x1",
                           "--block", "1", "--output", o, "--quiet")
check("3 x 40 on a 4x1 grid (a process row owns nothing)", status == 0 and np.isfinite(result(o)[0]).all(), stderr)

# --- ROBUSTNESS 6 (second line of defence): squares that overflow make the objective non-finite: stop at
# once with the iteration number, no output.
expect_error("overflowing data stops with the iteration", "became non-finite at iteration 1", 2,
             "--input", h5("huge.h5", rng.random((20, 10)) * 1e300), "--rank", "2")

# --- Bad input: one clear line, exit 2 everywhere, no output. The bad value sits in the last block (owned
# by the last rank of a 2x2 grid, never rank 0).
bad = rng.random((40, 30))
nan_x = bad.copy(); nan_x[38, 29] = np.nan
inf_x = bad.copy(); inf_x[0, 0] = np.inf
neg_x = bad.copy(); neg_x[35, 25] = -1e-6
expect_error("NaN named with its position", "has 1 NaN entries; the first is at row 38, column 29", 4,
             "--input", h5("nan.h5", nan_x), "--rank", "3", "--grid", "2x2", "--block", "8")
expect_error("Inf named with its position", "has 1 infinite entries; the first is at row 0, column 0", 4,
             "--input", h5("inf.h5", inf_x), "--rank", "3")
expect_error("negative named with value and position", "the first is -1e-06 at row 35, column 25", 4,
             "--input", h5("neg.h5", neg_x), "--rank", "3", "--grid", "2x2", "--block", "8")
expect_error("all-zero input", "has no nonzero entries (10 x 8)", 4, "--input", h5("zero.h5", np.zeros((10, 8))),
             "--rank", "2")
expect_error("k > min(m, n)", "rank k = 4 exceeds min(m, n) = 3", 2, "--input", h5("k.h5", rng.random((3, 10))),
             "--rank", "4", "--init", "nndsvd")
expect_error("k = 0", "rank k = 0 must be at least 1", 2, "--input", golub, "--rank", "0")
expect_error("k = -1", "rank k = -1 must be at least 1", 2, "--input", golub, "--rank", "-1")
expect_error("k = 2.5", "'--rank' is invalid", 2, "--input", golub, "--rank", "2.5")
expect_error("no rank", "--rank K is required", 2, "--input", golub)
expect_error("missing dataset", "no dataset '/Y'", 4, "--input", golub + ":/Y", "--rank", "3")
expect_error("missing file", "'nope.h5': no such file", 4, "--input", "nope.h5", "--rank", "3")
expect_error("1-D dataset", "has 1 dimensions", 2, "--input", golub + ":/col_names", "--rank", "3")
expect_error("string matrix", "expected a numeric", 2,
             "--input", h5("strings.h5", np.array([[b"a", b"b"], [b"c", b"d"]])), "--rank", "1")
with open(golub, "rb") as f:
    truncated = os.path.join(work, "truncated.h5")
    with open(truncated, "wb") as g:
        g.write(f.read(5000))
expect_error("truncated file", "not a readable HDF5 file", 2, "--input", truncated, "--rank", "3")
expect_error("grid does not match ranks", "process grid 3x2 = 6 ranks does not match the 4 MPI ranks", 4,
             "--input", golub, "--rank", "3", "--grid", "3x2")
expect_error("grid 0x4", "invalid grid '0x4'", 4, "--input", golub, "--rank", "3", "--grid", "0x4")
expect_error("grid -1x4", "invalid grid '-1x4'", 4, "--input", golub, "--rank", "3", "--grid", "-1x4")
expect_error("bad algorithm", "anls", 2, "--input", golub, "--rank", "3", "--algorithm", "als")
expect_error("bad init", "nndsvd", 2, "--input", golub, "--rank", "3", "--init", "svd")
expect_error("bad block", "invalid --block '0'", 2, "--input", golub, "--rank", "3", "--block", "0")
expect_error("negative penalty", "--l1-w must be a finite number >= 0", 2, "--input", golub, "--rank", "3",
             "--l1-w", "-1")
expect_error("unknown option", "unrecognised option '--frobnicate'", 2, "--input", golub, "--rank", "3",
             "--frobnicate")
expect_error("output folder missing", "does not exist", 2, "--input", golub, "--rank", "3", out="no/such/dir/o.h5")

# Regression (user report): --force let the result or a checkpoint overwrite the input file itself.
own = h5("own_input.h5", rng.random((30, 20)))
expect_error("--output is the input, even with --force", "is the input file", 2, "--input", own, "--rank", "2",
             "--force", out="own_input.h5")
os.symlink(own, os.path.join(work, "own_link.h5"))
expect_error("--output is the input through a symbolic link", "is the input file", 2, "--input",
             os.path.join(work, "own_link.h5"), "--rank", "2", "--force", out="own_input.h5")
expect_error("--checkpoint is the input", "is the input file", 2, "--input", own, "--rank", "2", "--checkpoint",
             own, "--checkpoint-every", "1", "--force")
expect_error("--checkpoint is --output spelled another way", "are the same file", 2, "--input", own, "--rank",
             "2", "--checkpoint", os.path.join(work, ".", "never.h5"))
with h5py.File(own, "r") as f:
    check("the input survived", list(f.keys()) == ["X"], str(list(f.keys())))
# A job end time that is not a number is an error, not silently no deadline (the job would be killed).
env_before = dict(os.environ)
os.environ["PRISM_JOB_END_TIME"] = "abc"
expect_error("malformed PRISM_JOB_END_TIME", "PRISM_JOB_END_TIME = 'abc' is not a job end time", 2, "--input",
             own, "--rank", "2")
os.environ.clear()
os.environ.update(env_before)
# Collective errors are one line for users: no " [function file.cpp:line]" developer suffix.
bad_mtx = os.path.join(work, "bad.mtx")
with open(bad_mtx, "w") as f:
    f.write("%%MatrixMarket matrix coordinate real general\n3 3 2\n1 1 1\n5 1 2\n")
status, _, stderr, _ = run(2, "--input", bad_mtx, "--rank", "1", "--output", os.path.join(work, "never.h5"))
check("error lines carry no source position", status == 2 and ".cpp:" not in stderr and stderr.strip(), stderr)
# OUT.h5ad without --output-format is AnnData (anndata would refuse Prism's layout under that name).
status, _, stderr, _ = run(2, "--input", own, "--rank", "2", "--output", os.path.join(work, "by_ext.h5ad"),
                           "--quiet")
with h5py.File(os.path.join(work, "by_ext.h5ad"), "r") as f:
    check("--output x.h5ad writes AnnData", status == 0 and f.attrs.get("encoding-type") == "anndata" and
          f["obsm/X_nmf"].shape == (20, 2) and f["varm/NMF"].shape == (30, 2), f"{stderr} {dict(f.attrs)}")
    check("uns['prism'] has read_seconds and init_seconds within wall_seconds",
          0 < f["uns/prism/read_seconds"][()] and 0 < f["uns/prism/init_seconds"][()] and
          f["uns/prism/read_seconds"][()] + f["uns/prism/init_seconds"][()] <= f["uns/prism/wall_seconds"][()])
expect_error("--output x.h5mu from prism-nmf", "h5mu is for joint runs", 2, "--input", own, "--rank", "2",
             out="never.h5mu")

status, stdout, _, _ = run(2, "--help")
check("--help documents options with defaults", status == 0 and "--algorithm" in stdout and "(=200)" in stdout,
      stdout)

print(f"prism-nmf cli: {cli_checks.passed} passed, {cli_checks.failed} failed")
sys.exit(1 if cli_checks.failed else 0)
