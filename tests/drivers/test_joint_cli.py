#!/usr/bin/python3
"""prism-joint end to end under mpirun: the bundled TCGA ACC study, grid independence, alignment of
modalities by sample name (with missing samples), equality with prism-nmf for one modality, and bad
input refused with one clear line, exit status 2 on every rank and no output file.

Usage: test_joint_cli.py BIN_DIR DATA_DIR MPIEXEC "MPIEXEC_PREFLAGS"
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
    preflags.append("-q")
joint = os.path.join(bin_dir, "prism-joint")
nmf = os.path.join(bin_dir, "prism-nmf")
acc = os.path.join(data_dir, "miniacc_multiomics.h5")
work = tempfile.mkdtemp(prefix="prism-joint-cli-")
rng = np.random.default_rng(1)


def run(np_, *args, program=joint, timeout=120):
    start = time.time()
    p = subprocess.run([mpiexec, "-n", str(np_), *preflags, program, *args], capture_output=True, text=True,
                       timeout=timeout, cwd=work)
    return p.returncode, p.stdout, p.stderr, time.time() - start


def outputs(out):
    folder, base = os.path.dirname(out), os.path.basename(out)
    return sorted(f for f in os.listdir(folder) if f.startswith(base)) if os.path.isdir(folder) else []


def expect_error(name, expected, np_, *args, out="never.h5"):
    out_path = os.path.join(work, out)
    before = outputs(out_path)
    status, _, stderr, seconds = run(np_, *args, "--output", out_path, "--quiet")
    lines = [l for l in stderr.splitlines() if l.strip()]
    ok = status == 2 and len(lines) == 1 and expected in lines[0] and outputs(out_path) == before and seconds < 30
    check(name, ok, f"status={status} seconds={seconds:.1f} stderr={stderr!r} files={outputs(out_path)}")


def modality_file(name, x, samples, group="", extra=None):
    path = os.path.join(work, name)
    with h5py.File(path, "w") as f:
        g = f.require_group(group) if group else f
        g.create_dataset("X", data=x)
        g.create_dataset("col_names", data=np.array(samples, dtype=object), dtype=h5py.string_dtype())
        g.create_dataset("row_names", data=np.array([f"{name}-f{i}" for i in range(x.shape[0])], dtype=object),
                         dtype=h5py.string_dtype())
        for key, value in (extra or {}).items():
            g.create_dataset(key, data=value)
    return path


# --- The bundled study: four modalities over 75 patients, scales 6 orders of magnitude apart.
modalities = ["RNASeq2GeneNorm", "miRNASeqGene", "Mutations", "gistict"]
rows = {"RNASeq2GeneNorm": 198, "miRNASeqGene": 471, "Mutations": 58, "gistict": 388}
out = os.path.join(work, "acc.h5")
status, stdout, stderr, _ = run(4, "--input", acc, "--rank", "3", "--log1p", "RNASeq2GeneNorm,miRNASeqGene",
                                "--labels", "/sample_annot/C1A.C1B", "--output", out)
ok = status == 0
if ok:
    with h5py.File(out, "r") as f:
        H = f["H"][...]
        shapes_ok = H.shape == (3, 75) and all(f["W/" + m].shape == (rows[m], 3) for m in modalities)
        names_ok = len(f["sample_names"]) == 75 and all(len(f["row_names/" + m]) == rows[m] for m in modalities)
        errors = {m: f["W/" + m].attrs["relative_error"] for m in modalities}
        histories = {m: f["history/modality_relative_error/" + m][...] for m in modalities}
        finite = np.isfinite(H).all() and all(np.isfinite(f["W/" + m][...]).all() for m in modalities)
        attrs = dict(f.attrs)
        transform = f["W/RNASeq2GeneNorm"].attrs["transform"]
    ok = shapes_ok and names_ok and finite and (H >= 0).all()
    ok = ok and attrs["modalities"] == ",".join(modalities).encode() and transform == b"log1p"
    ok = ok and all(0 < e < 1 for e in errors.values())
    ok = ok and all(len(h) == attrs["iterations"] and abs(h[-1] - errors[m]) < 1e-6 for m, h in histories.items())
check("ACC study: shapes, names, finite non-negative factors, per-modality fit and history, attributes", ok,
      f"{status} {stdout} {stderr}")
check("summary: per-modality fit, top samples, label comparison",
      "fit per modality" in stdout and "factor 3: TCGA-" in stdout and "adjusted Rand index" in stdout, stdout)

# Grid independence of the whole joint run: 1, 2, 4 (2x2), 6 (2x3) ranks.
for algorithm in ["hals", "anls-bpp"]:
    errs = {}
    for np_, grid in [(1, "1x1"), (2, "1x2"), (4, "2x2"), (6, "2x3")]:
        o = os.path.join(work, f"acc-{algorithm}-{np_}.h5")
        status, _, stderr, _ = run(np_, "--input", acc, "--rank", "4", "--algorithm", algorithm, "--grid", grid,
                                   "--block", "16x7", "--max-iter", "30", "--tol", "0", "--output", o, "--quiet")
        if status == 0:
            with h5py.File(o, "r") as f:
                errs[np_] = [f["W/" + m].attrs["relative_error"] for m in modalities]
        else:
            check(f"{algorithm} at {np_} ranks", False, stderr)
    if len(errs) == 4:
        spread = max(abs(a - b) for e in errs.values() for a, b in zip(e, errs[1]))
        check(f"{algorithm}: per-modality errors equal at 1, 2, 4, 6 ranks (1e-10)", spread < 1e-10, str(errs))

# --modalities picks and orders; the output follows.
o = os.path.join(work, "two.h5")
status, _, stderr, _ = run(2, "--input", acc, "--modalities", "gistict,Mutations", "--rank", "2", "--output", o,
                           "--quiet")
ok = status == 0
if ok:
    with h5py.File(o, "r") as f:
        ok = f.attrs["modalities"] == b"gistict,Mutations" and sorted(f["W"].keys()) == ["Mutations", "gistict"]
check("--modalities gistict,Mutations", ok, stderr)

# --- Alignment by sample name: modality B has samples in another order and lacks some of A's.
samples_a = [f"p{i:02d}" for i in range(12)]
order_b = [5, 3, 11, 0, 7, 9, 2, 8]  # B measures 8 of the 12, shuffled, plus two patients A lacks
samples_b = [samples_a[i] for i in order_b] + ["q1", "q2"]
h_true = rng.random((3, 14)) + 0.05  # columns: p00..p11, q1, q2
wa, wb = rng.random((20, 3)), rng.random((15, 3))
xa = wa @ h_true[:, :12]
xb = wb @ h_true[:, order_b + [12, 13]]
fa = modality_file("a.h5", xa, samples_a, group="assay")
fb = modality_file("b.h5", xb, samples_b)
o = os.path.join(work, "aligned.h5")
status, stdout, stderr, _ = run(4, "--input", fa + ":/assay/X", "--name", "rna", "--input", fb, "--name", "prot",
                                "--rank", "3", "--algorithm", "anls-bpp", "--max-iter", "500", "--tol", "0",
                                "--output", o)
ok = status == 0
if ok:
    with h5py.File(o, "r") as f:
        names = [s.decode() for s in f["sample_names"][...]]
        ok = (names == samples_a + ["q1", "q2"] and f["W/rna"].attrs["observed_samples"] == 12
              and f["W/prot"].attrs["observed_samples"] == 10 and f.attrs["sample_patterns"] == 3
              and f["W/rna"].attrs["relative_error"] < 1e-6 and f["W/prot"].attrs["relative_error"] < 1e-6
              and [s.decode() for s in f["row_names/prot"][...]][0] == "b.h5-f0")
check("modalities aligned by sample name: union order, masks, planted fit recovered", ok, f"{stderr} {stdout}")

# The same study with B's columns stored in yet another order gives the same factors (alignment is by name).
perm = rng.permutation(len(samples_b))
fb2 = modality_file("b2.h5", xb[:, perm], [samples_b[i] for i in perm])
o2 = os.path.join(work, "aligned2.h5")
status, _, stderr, _ = run(2, "--input", fa + ":/assay/X", "--name", "rna", "--input", fb2, "--name", "prot",
                           "--rank", "3", "--max-iter", "20", "--tol", "0", "--output", o2, "--quiet")
o3 = os.path.join(work, "aligned3.h5")
status3, _, stderr3, _ = run(2, "--input", fa + ":/assay/X", "--name", "rna", "--input", fb, "--name", "prot",
                             "--rank", "3", "--max-iter", "20", "--tol", "0", "--output", o3, "--quiet")
ok = status == 0 and status3 == 0
if ok:
    with h5py.File(o2, "r") as f, h5py.File(o3, "r") as g:
        ok = np.abs(f["H"][...] - g["H"][...]).max() < 1e-10 * np.abs(g["H"][...]).max()
check("column order inside a file does not matter", ok, stderr + stderr3)

# --- One modality: prism-joint equals prism-nmf with the same seed.
single = modality_file("single.h5", rng.random((30, 25)), [f"s{i}" for i in range(25)])
oj, on = os.path.join(work, "single-joint.h5"), os.path.join(work, "single-nmf.h5")
sj = run(2, "--input", single, "--name", "x", "--rank", "4", "--max-iter", "25", "--tol", "0", "--output", oj,
         "--quiet")
sn = run(2, "--input", single, "--rank", "4", "--max-iter", "25", "--tol", "0", "--output", on, "--quiet",
         program=nmf)
ok = sj[0] == 0 and sn[0] == 0
if ok:
    with h5py.File(oj, "r") as f, h5py.File(on, "r") as g:
        ok = (np.abs(f["H"][...] - g["H"][...]).max() <= 1e-10 * np.abs(g["H"][...]).max()
              and np.abs(f["W/x"][...] - g["W"][...]).max() <= 1e-10 * np.abs(g["W"][...]).max())
check("one modality: prism-joint == prism-nmf (same seed)", ok, sj[2] + sn[2])

# --- Bad input.
dup = modality_file("dup.h5", rng.random((5, 3)), ["s1", "s2", "s2"])
disjoint = modality_file("disjoint.h5", rng.random((5, 3)), ["x1", "x2", "x3"])
nan_x = rng.random((6, 12))
nan_x[4, 9] = np.nan
nan_file = modality_file("nan.h5", nan_x, samples_a)
short = modality_file("short.h5", rng.random((5, 3)), ["s1", "s2", "s3"], extra={"other_names": np.array([b"a"])})
expect_error("duplicate sample names name the duplicate", "has 1 duplicated sample names: 's2'", 2,
             "--input", fa + ":/assay/X", "--name", "rna", "--input", dup, "--name", "d", "--rank", "2")
expect_error("no sample in common", "has no sample in common with the other modalities", 2, "--input", fa + ":/assay/X", "--name", "rna",
             "--input", disjoint, "--name", "d", "--rank", "2")
expect_error("NaN names modality and position", "NaN", 4, "--input", fa + ":/assay/X", "--name", "rna",
             "--input", nan_file, "--name", "n", "--rank", "2")
expect_error("sample-name count mismatch", "has 1 names but", 2, "--input", short, "--name", "s",
             "--samples-dataset", "other_names", "--rank", "2")
expect_error("missing sample names", "no sample names at '/Mutations/col_names'", 2, "--input", acc + ":/Mutations/X",
             "--name", "m", "--rank", "2")
expect_error("unknown modality lists the available ones", "no modality 'Proteins' (found: Mutations", 2,
             "--input", acc, "--modalities", "RNASeq2GeneNorm,Proteins", "--rank", "2")
expect_error("--name count", "2 --input but 1 --name", 2, "--input", fa, "--input", fb, "--name", "a", "--rank", "2")
expect_error("several inputs without names", "need a --name each", 2, "--input", fa, "--input", fb, "--rank", "2")
expect_error("duplicate --name", "--name 'a' is given twice", 2, "--input", fa + ":/assay/X", "--name", "a",
             "--input", fb, "--name", "a", "--rank", "2")
expect_error("weights count", "--weights has 2 values for 4 modalities", 2, "--input", acc, "--weights", "1,2",
             "--rank", "2")
expect_error("bad weights", "invalid --weights '1,-2'", 2, "--input", acc, "--weights", "1,-2", "--rank", "2")
expect_error("--log1p of an unknown modality", "--log1p names 'RNA'", 2, "--input", acc, "--log1p", "RNA",
             "--rank", "2")
expect_error("--labels missing", "no dataset '/sample_annot/nope' for --labels", 2, "--input", acc, "--labels",
             "/sample_annot/nope", "--rank", "2")
expect_error("k too large", "exceeds", 2, "--input", acc, "--rank", "76")
expect_error("nndsvd not offered", "--init nndsvd is not available for joint NMF", 2, "--input", acc, "--init",
             "nndsvd", "--rank", "2")
expect_error("not a study file", "no modality found", 2, "--input", os.path.join(data_dir, "golub_esgolub.h5"),
             "--rank", "2")
expect_error("missing file", "'nope.h5': no such file", 2, "--input", "nope.h5", "--rank", "2")
expect_error("existing output", "already exists; use --force", 2, "--input", acc, "--rank", "2", out="acc.h5")

status, stdout, _, _ = run(1, "--help")
check("--help", status == 0 and "--modalities" in stdout and "--weights" in stdout and "(=auto)" in stdout, stdout)

print(f"prism-joint cli: {cli_checks.passed} passed, {cli_checks.failed} failed")
sys.exit(1 if cli_checks.failed else 0)
