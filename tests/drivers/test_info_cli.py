#!/usr/bin/python3
"""prism-info on every input format prism-nmf reads (AnnData .h5ad CSR / CSC / dense, 10x HDF5, an HDF5 CSC
group, a MuData modality, MatrixMarket .mtx), each written from data/pbmc_small_counts.h5 with rows and
columns zeroed: the printed shape, stored-entry count, min / max, nonzeros and zero-row / zero-column counts
must equal numpy's at 1 and 4 ranks (and on a 2x2 grid); the per-rank stored counts must add up to the total;
--check exits 1 on a stored negative / NaN value naming its (row, column); malformed files are one line,
exit status 2, every rank. Usage:
    test_info_cli.py BIN_DIR DATA_DIR MPIEXEC "MPIEXEC_PREFLAGS"
"""
import os
import re
import subprocess
import sys
import tempfile
import warnings

warnings.filterwarnings("ignore")  # anndata's import warns about optional packages
import anndata  # noqa: E402
import anndata.experimental  # noqa: E402
import h5py  # noqa: E402
import numpy as np  # noqa: E402
import scipy.io  # noqa: E402
import scipy.sparse as sp  # noqa: E402
import cli_checks  # noqa: E402  (this directory is sys.path[0])
from cli_checks import check  # noqa: E402

bin_dir, data_dir, mpiexec = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2]), sys.argv[3]
preflags = [f for f in sys.argv[4].replace(";", " ").split() if f] if len(sys.argv) > 4 else []
version = subprocess.run([mpiexec, "--version"], capture_output=True, text=True)
if "Open MPI" in version.stdout + version.stderr or "OpenRTE" in version.stdout + version.stderr:
    preflags.append("-q")
work = tempfile.mkdtemp(prefix="prism-info-cli-")


def run(np_, *args):
    p = subprocess.run([mpiexec, "-n", str(np_), *preflags, os.path.join(bin_dir, "prism-info"), *args],
                       capture_output=True, text=True, timeout=120, cwd=work)
    return p.returncode, p.stdout, p.stderr


def path(name):
    return os.path.join(work, name)


def field(out, label):
    """The text after LABEL at the start of a line (labels are padded to 11 columns), or None."""
    m = re.search(r"^\s*" + re.escape(label) + r"\s+(.*)$", out, re.MULTILINE)
    return m.group(1) if m else None


def strings(d):
    return [s.decode() if isinstance(s, bytes) else str(s) for s in d]


with h5py.File(os.path.join(data_dir, "pbmc_small_counts.h5"), "r") as f:
    X = f["X"][...]  # 230 genes x 80 cells, raw UMI counts
    genes, cells = strings(f["row_names"][...]), strings(f["col_names"][...])
X[[7, 100, 229], :] = 0  # empty genes and cells, as filtered data has: the counts below must see them
X[:, [0, 41]] = 0
assert not X[[7, 100, 229]].any() and not X[:, [0, 41]].any()
expected = {"shape": f"{X.shape[0]} x {X.shape[1]}", "stored": int((X != 0).sum()), "min": X.min(),
            "max": X.max(), "zero rows": f"{(~X.any(axis=1)).sum()}, first is row {np.flatnonzero(~X.any(axis=1))[0]}",
            "zero cols": f"{(~X.any(axis=0)).sum()}, first is column {np.flatnonzero(~X.any(axis=0))[0]}"}
assert expected["zero rows"] == "3, first is row 7" and expected["zero cols"] == "2, first is column 0"

a = anndata.AnnData(X=sp.csr_matrix(X.T), dtype=np.float64)  # AnnData is cells x genes
a.obs_names, a.var_names = cells, genes
a.write_h5ad(path("pbmc_csr.h5ad"))
a_csc = anndata.AnnData(X=sp.csc_matrix(X.T).astype(np.float32), dtype=np.float32)
a_csc.obs_names, a_csc.var_names = cells, genes
a_csc.write_h5ad(path("pbmc_csc.h5ad"))
a_dense = anndata.AnnData(X=X.T.astype(np.int32), dtype=np.int32)
a_dense.obs_names, a_dense.var_names = cells, genes
a_dense.write_h5ad(path("pbmc_dense.h5ad"))
scipy.io.mmwrite(path("pbmc.mtx"), sp.coo_matrix(X))
with h5py.File(path("pbmc_10x.h5"), "w") as f:  # 10x Genomics feature-barcode matrix (CSC, genes x cells)
    c = sp.csc_matrix(X.astype(np.int32))
    m = f.create_group("matrix")
    m["data"], m["indices"], m["indptr"] = c.data, c.indices.astype(np.int64), c.indptr.astype(np.int64)
    m["shape"] = np.array(X.shape, dtype=np.int32)
    m["barcodes"] = np.array(cells, dtype="S")
    feat = m.create_group("features")
    feat["id"] = np.array([f"ENSG{i:05d}" for i in range(len(genes))], dtype="S")
    feat["name"] = np.array(genes, dtype="S")
    feat["feature_type"] = np.array(["Gene Expression"] * len(genes), dtype="S")
with h5py.File(path("pbmc_group.h5"), "w") as f:  # a scipy CSC array in a group, genes x cells
    c = sp.csc_matrix(X)
    g = f.create_group("counts")
    g.attrs["encoding-type"] = "csc_matrix"
    g.attrs["shape"] = np.array(X.shape)
    g["data"], g["indices"], g["indptr"] = c.data, c.indices, c.indptr
with h5py.File(path("pbmc.h5mu"), "w") as f:  # MuData: one modality, an AnnData group written by anndata
    f.attrs["encoding-type"], f.attrs["encoding-version"] = "MuData", "0.1.0"
    anndata.experimental.write_elem(f.create_group("mod"), "rna", a)
with h5py.File(path("pbmc_dense.h5"), "w") as f:  # Prism's own dense layout
    f["X"] = X

cases = (("h5ad csr", path("pbmc_csr.h5ad"), "h5ad, sparse", True),
         ("h5ad csc float32", path("pbmc_csc.h5ad"), "h5ad, sparse", True),
         ("h5ad dense int32", path("pbmc_dense.h5ad"), "h5ad, dense", False),
         ("10x", path("pbmc_10x.h5"), "10x, sparse", True),
         ("csc group", path("pbmc_group.h5") + ":/counts", "sparse at /counts", True),
         ("h5mu modality", path("pbmc.h5mu") + ":/mod/rna", "h5ad, sparse", True),
         ("mtx", path("pbmc.mtx"), "mtx, sparse", True),
         ("hdf5 dense", path("pbmc_dense.h5"), None, False))
for name, inp, format_text, sparse in cases:
    for np_, extra in ((1, []), (4, []), (4, ["--grid", "2x2", "--block", "16"])):
        status, out, err = run(np_, inp, "--check", *extra)
        where = f"{name} np{np_} {' '.join(extra)}"
        if status != 0:
            check(where, False, f"status {status}: {err}")
            continue
        got = {"shape": (field(out, "shape") or "").split(" (")[0], "min": float(field(out, "min") or "nan"),
               "max": float(field(out, "max") or "nan"), "zero rows": field(out, "zero rows"),
               "zero cols": field(out, "zero cols"),
               "nonzeros": int((field(out, "nonzeros") or "-1").split()[0])}
        want = dict(expected, nonzeros=expected["stored"])
        del want["stored"]
        check(f"{where}: statistics equal numpy's", got == want, f"got {got}\n  want {want}\n{out}")
        if format_text:
            check(f"{where}: format line", format_text in (field(out, "format") or ""), out)
        if sparse:
            stored = field(out, "stored") or ""
            per_rank = [int(s) for s in re.findall(r"local block \d+ x \d+, (\d+) stored", out)]
            balance = re.search(r"stored per rank min / mean / max (\d+) / ([\d.]+) / (\d+)", out)
            check(f"{where}: stored entries", stored.startswith(f"{expected['stored']} entries (")
                  and len(per_rank) == np_ and sum(per_rank) == expected["stored"] and balance is not None
                  and int(balance.group(1)) == min(per_rank) and int(balance.group(3)) == max(per_rank)
                  and abs(float(balance.group(2)) - expected["stored"] / np_) < 1e-3 * expected["stored"], out)
        if name == "h5ad csr" and np_ == 1:
            check("h5ad orientation line", "factorizing its transpose, genes x cells (230 x 80)" in out, out)
            check("h5ad names found", field(out, "names") == "row_names present, col_names present", out)


# --- --check on sparse files: a stored negative / NaN value is status 1, naming where it is.
def csr_file(name, data, indices, indptr, shape):
    with h5py.File(path(name), "w") as f:
        g = f.create_group("X")
        g.attrs["encoding-type"] = "csr_matrix"
        g.attrs["shape"] = np.array(shape)
        g["data"], g["indices"], g["indptr"] = np.asarray(data), np.asarray(indices), np.asarray(indptr)
    return path(name)


neg = sp.csr_matrix(X)
neg.data[1000] = -2.5
neg_row = int(np.searchsorted(neg.indptr, 1000, side="right") - 1)
neg_col = int(neg.indices[1000])
assert neg.toarray()[neg_row, neg_col] == -2.5 and (neg.toarray() < 0).sum() == 1
neg_file = csr_file("negative.h5", neg.data, neg.indices, neg.indptr, X.shape)
for np_ in (1, 4):
    status, out, err = run(np_, neg_file, "--check")
    lines = [l for l in err.splitlines() if l.strip()]
    check(f"--check on a stored negative value np{np_}: status 1, names ({neg_row}, {neg_col})",
          status == 1 and len(lines) == 1 and f"1 negative entries, first at ({neg_row}, {neg_col})" in lines[0]
          and field(out, "negative") == f"1, first at ({neg_row}, {neg_col}) = -2.500000"
          and float(field(out, "min")) == -2.5, f"status {status} stderr {err!r}\n{out}")
    status, out, err = run(np_, neg_file)
    check(f"without --check the negative file is status 0 np{np_}", status == 0, err)
nan = neg.copy()
nan.data[1000] = 1.0
nan.data[5] = np.nan
status, out, err = run(4, csr_file("nan.h5", nan.data, nan.indices, nan.indptr, X.shape), "--check")
check("--check on a stored NaN: status 1", status == 1 and "1 NaN and 0 Inf entries" in err
      and field(out, "NaN").startswith("1, first at (0, "), f"status {status} {err!r}")


# --- Malformed files: one clear line, status 2, every rank agrees (no hang).
def expect_error(name, expected_text, np_, *args):
    status, out, err = run(np_, *args)
    lines = [l for l in err.splitlines() if l.strip()]
    check(name, status == 2 and len(lines) == 1 and expected_text in lines[0] and not out,
          f"status={status} stderr={err!r}")


good = sp.csr_matrix(np.array([[1.0, 0, 2], [0, 3, 0], [4, 0, 5], [0, 0, 6]]))
d, i, p = good.data, good.indices, good.indptr
expect_error("indptr not monotone", "/X/indptr is not monotone", 4, csr_file("m1.h5", d, i, [0, 2, 1, 5, 6], (4, 3)))
expect_error("duplicate index", "is stored twice", 4, csr_file("m4.h5", d, [0, 0, 1, 0, 2, 2], p, (4, 3)))
expect_error("shape mismatch", "shape mismatch", 2, csr_file("m5.h5", d, i, p, (5, 3)))
with open(path("bad.mtx"), "w") as f:
    f.write("%%MatrixMarket matrix coordinate real general\n3 3 2\n1 1 1.0\n4 1 2.0\n")
expect_error("mtx index out of range", "line 4: entry (4, 1) lies outside the 3 x 3", 4, path("bad.mtx"))
with open(path("pbmc_csr.h5ad"), "rb") as src, open(path("truncated.h5ad"), "wb") as dst:
    dst.write(src.read(3000))
expect_error("truncated h5ad", "truncated.h5ad", 4, path("truncated.h5ad"))
with h5py.File(path("no_indptr_10x.h5"), "w") as f:
    m = f.create_group("matrix")
    m["data"], m["indices"], m["shape"] = d, i, np.array([3, 4], dtype=np.int32)
expect_error("10x group without indptr: not taken for 10x, no /X", "no_indptr_10x.h5': no dataset '/X'", 4, path("no_indptr_10x.h5"))
expect_error("h5mu without a modality", "is a MuData file", 4, path("pbmc.h5mu"))

print(f"info_cli: {cli_checks.passed} passed, {cli_checks.failed} failed")
sys.exit(1 if cli_checks.failed else 0)
