#!/usr/bin/python3
"""The single-cell / omics file formats end to end: inputs written by the formats' real producers (Debian's
python3-anndata for .h5ad, scipy for MatrixMarket and CSR/CSC arrays) or with h5py exactly as the format
specifies (10x feature-barcode HDF5, MuData .h5mu), read sparse by prism-nmf / prism-joint and factorized;
the result must equal the dense run of the same matrix to 1e-10 at 1, 2, 4 and 6 ranks, with and without
--permute; AnnData / MuData outputs are read back with anndata; every malformed field is one clear line,
exit status 2 on every rank, and no output left behind. Usage:
    test_formats_cli.py BIN_DIR DATA_DIR MPIEXEC "MPIEXEC_PREFLAGS"
"""
import gzip
import os
import subprocess
import sys
import tempfile
import time
import warnings

import anndata
import anndata.experimental
import h5py
import numpy as np
import scipy.io
import scipy.sparse as sp
import cli_checks  # noqa: E402  (this directory is sys.path[0])
from cli_checks import check  # noqa: E402

warnings.filterwarnings("ignore")
bin_dir, data_dir, mpiexec = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2]), sys.argv[3]
preflags = [f for f in sys.argv[4].replace(";", " ").split() if f] if len(sys.argv) > 4 else []
version = subprocess.run([mpiexec, "--version"], capture_output=True, text=True)
if "Open MPI" in version.stdout + version.stderr or "OpenRTE" in version.stdout + version.stderr:
    preflags.append("-q")
work = tempfile.mkdtemp(prefix="prism-formats-cli-")


def run(program, np_, *args, timeout=180):
    start = time.time()
    p = subprocess.run([mpiexec, "-n", str(np_), *preflags, os.path.join(bin_dir, program), *args],
                       capture_output=True, text=True, timeout=timeout, cwd=work)
    return p.returncode, p.stdout, p.stderr, time.time() - start


def path(name):
    return os.path.join(work, name)


def leftovers(out):
    return sorted(f for f in os.listdir(work) if f.startswith(os.path.basename(out)))


def expect_error(name, expected, np_, *args, program="prism-nmf"):
    out = path("never.h5")
    status, stdout, stderr, seconds = run(program, np_, *args, "--output", out, "--quiet")
    lines = [l for l in stderr.splitlines() if l.strip()]
    ok = status == 2 and len(lines) == 1 and expected in lines[0] and not leftovers(out) and seconds < 30
    check(name, ok, f"status={status} seconds={seconds:.1f} stderr={stderr!r} files={leftovers(out)}")


def strings(d):
    return [s.decode() if isinstance(s, bytes) else str(s) for s in d]


def prism_result(out):
    with h5py.File(out, "r") as f:
        return f["W"][...], f["H"][...], float(f.attrs["relative_error"])


def nmf(np_, inp, out, *extra):
    status, stdout, stderr, _ = run("prism-nmf", np_, "--input", inp, "--rank", "4", "--output", out, "--force",
                                    "--max-iter", "40", "--tol", "0", "--log-every", "0", *extra)
    return status, stdout, stderr


with h5py.File(os.path.join(data_dir, "pbmc_small_counts.h5"), "r") as f:
    X = f["X"][...]  # 230 genes x 80 cells, raw UMI counts
    genes, cells = strings(f["row_names"][...]), strings(f["col_names"][...])
dense_input = os.path.join(data_dir, "pbmc_small_counts.h5")

# --- Inputs written by the real producers.
a = anndata.AnnData(X=sp.csr_matrix(X.T), dtype=np.float64)  # AnnData is cells x genes
a.obs_names, a.var_names = cells, genes
a.write_h5ad(path("pbmc_csr.h5ad"))
a_csc = anndata.AnnData(X=sp.csc_matrix(X.T).astype(np.float32), dtype=np.float32)
a_csc.obs_names, a_csc.var_names = cells, genes
a_csc.write_h5ad(path("pbmc_csc.h5ad"))
a_dense = anndata.AnnData(X=X.T.astype(np.int32), dtype=np.int32)
a_dense.obs_names, a_dense.var_names = cells, genes
a_dense.write_h5ad(path("pbmc_dense.h5ad"))
scipy.io.mmwrite(path("pbmc.mtx"), sp.coo_matrix(X))  # genes x cells, as 10x's matrix.mtx
with h5py.File(path("pbmc_10x.h5"), "w") as f:  # 10x Genomics feature-barcode matrix (CSC, genes x cells)
    c = sp.csc_matrix(X.astype(np.int32))
    m = f.create_group("matrix")
    m.create_dataset("data", data=c.data.astype(np.int32))
    m.create_dataset("indices", data=c.indices.astype(np.int64))
    m.create_dataset("indptr", data=c.indptr.astype(np.int64))
    m.create_dataset("shape", data=np.array(X.shape, dtype=np.int32))
    m.create_dataset("barcodes", data=np.array(cells, dtype="S"))
    feat = m.create_group("features")
    feat.create_dataset("id", data=np.array([f"ENSG{i:05d}" for i in range(len(genes))], dtype="S"))
    feat.create_dataset("name", data=np.array(genes, dtype="S"))
    feat.create_dataset("feature_type", data=np.array(["Gene Expression"] * len(genes), dtype="S"))
with h5py.File(path("pbmc_group.h5"), "w") as f:  # a scipy CSC array in a group, genes x cells
    c = sp.csc_matrix(X)
    g = f.create_group("counts")
    g.attrs["encoding-type"] = "csc_matrix"
    g.attrs["shape"] = np.array(X.shape)
    g["data"], g["indices"], g["indptr"] = c.data.astype(">f8"), c.indices, c.indptr.astype(np.int32)

# --- Every format gives the dense run's factors, at every rank count and with --permute.
for algorithm in ("hals", "anls-bpp"):
    status, _, err = nmf(1, dense_input, path("dense.h5"), "--algorithm", algorithm)
    W0, H0, e0 = prism_result(path("dense.h5"))
    for np_ in (1, 2, 4, 6):
        for name, inp, extra in (("h5ad csr", path("pbmc_csr.h5ad"), []),
                                 ("h5ad csc float32", path("pbmc_csc.h5ad"), []),
                                 ("h5ad dense int32", path("pbmc_dense.h5ad"), []),
                                 ("10x", path("pbmc_10x.h5"), []),
                                 ("mtx", path("pbmc.mtx"), []),
                                 ("csc group", path("pbmc_group.h5") + ":/counts", []),
                                 ("h5ad --permute", path("pbmc_csr.h5ad"), ["--permute"])):
            if np_ in (2, 6) and name not in ("h5ad csr", "h5ad --permute", "10x"):
                continue  # keep the run short: every format at 1 and 4 ranks
            out = path("out.h5")
            status, stdout, stderr = nmf(np_, inp, out, "--algorithm", algorithm, *extra)
            if status != 0:
                check(f"{name} {algorithm} np{np_}", False, stderr)
                continue
            W, H, e = prism_result(out)
            diff = max(np.abs(W - W0).max(), np.abs(H - H0).max(), abs(e - e0))
            check(f"{name} {algorithm} np{np_} equals the dense run", diff < 1e-10, f"max difference {diff}")
            if name == "h5ad csr" and np_ == 4:
                with h5py.File(out, "r") as f:
                    check("h5ad names copied", strings(f["row_names"][...]) == genes
                          and strings(f["col_names"][...]) == cells)
                check("orientation line printed", "factorizing its transpose, genes x cells (230 x 80)" in stdout,
                      stdout)
                check("per-rank nnz logged", "per rank min / mean / max" in stdout, stdout)

# --- AnnData output, read back by anndata.
status, stdout, stderr = nmf(4, path("pbmc_csr.h5ad"), path("result.h5ad"), "--output-format", "h5ad")
status_d, _, _ = nmf(4, dense_input, path("dense4.h5"))
Wd, Hd, ed = prism_result(path("dense4.h5"))
try:
    r = anndata.read_h5ad(path("result.h5ad"))
    ok = (status == 0 and r.shape == (80, 230) and list(r.obs_names) == cells and list(r.var_names) == genes
          and np.abs(r.obsm["X_nmf"] - Hd.T).max() < 1e-10 and np.abs(r.varm["NMF"] - Wd).max() < 1e-10
          and abs(float(r.uns["prism"]["relative_error"]) - ed) < 1e-10 and r.uns["prism"]["algorithm"] == "hals")
    check("h5ad output read by anndata: obsm['X_nmf'] = H^T, varm['NMF'] = W, names, uns", ok, str(r))
except Exception as exc:  # noqa: BLE001 - any failure to read is the test failing
    check("h5ad output read by anndata", False, repr(exc))
with h5py.File(path("result.h5ad"), "r") as f:
    missing = []
    f.visit(lambda n: missing.append(n) if "encoding-type" not in f[n].attrs else None)
    check("every AnnData element carries encoding-type", not missing, str(missing))
before = os.path.getmtime(path("result.h5ad"))
status, _, stderr, _ = run("prism-nmf", 2, "--input", path("pbmc_csr.h5ad"), "--rank", "2", "--output",
                           path("result.h5ad"), "--output-format", "h5ad", "-q")
check("h5ad output never overwritten without --force", status == 2 and "already exists" in stderr
      and os.path.getmtime(path("result.h5ad")) == before and leftovers(path("result.h5ad")) == ["result.h5ad"],
      stderr)

# --- Real data: the lung microbiome counts (51891 x 78, 2.3 % non-zero) as a CSR group equal the dense run.
lung = os.path.join(data_dir, "lung_microbiome_counts.h5")
with h5py.File(lung, "r") as f:
    L = f["X"][...]
with h5py.File(path("lung_csr.h5"), "w") as f:
    c = sp.csr_matrix(L)
    g = f.create_group("X")
    g.attrs["encoding-type"] = "csr_matrix"
    g.attrs["shape"] = np.array(L.shape)
    g["data"], g["indices"], g["indptr"] = c.data, c.indices, c.indptr.astype(np.int64)
for np_ in (1, 4):
    s1 = run("prism-nmf", np_, "--input", lung, "--rank", "5", "--output", path("lung_dense.h5"), "--force",
             "--max-iter", "30", "--tol", "0", "-q", "--algorithm", "anls-bpp")
    s2 = run("prism-nmf", np_, "--input", path("lung_csr.h5"), "--rank", "5", "--output", path("lung_sparse.h5"),
             "--force", "--max-iter", "30", "--tol", "0", "-q", "--algorithm", "anls-bpp")
    if s1[0] or s2[0]:
        check(f"lung np{np_} runs", False, s1[2] + s2[2])
        continue
    Wa, Ha, ea = prism_result(path("lung_dense.h5"))
    Wb, Hb, eb = prism_result(path("lung_sparse.h5"))
    # relative to each factor's largest entry: the counts reach 1e4, so the factors are large
    diff = max(np.abs(Wa - Wb).max() / np.abs(Wa).max(), np.abs(Ha - Hb).max() / np.abs(Ha).max(), abs(ea - eb))
    check(f"lung microbiome CSR np{np_} equals dense (rel. error {eb:.4f})", diff < 1e-10, f"difference {diff}")

# --- MuData input (h5py, exactly as the format specifies) and MuData output.
names = cells


def enc(o, t, v):
    o.attrs["encoding-type"], o.attrs["encoding-version"] = t, v


def dataframe(g, key, index):
    d = g.create_group(key)
    enc(d, "dataframe", "0.2.0")
    d.attrs["_index"] = "_index"
    d.attrs["column-order"] = np.array([], dtype=h5py.string_dtype())
    enc(d.create_dataset("_index", data=np.array(index, dtype=object), dtype=h5py.string_dtype()),
        "string-array", "0.2.0")


with h5py.File(os.path.join(data_dir, "miniacc_multiomics.h5"), "r") as f:
    samples = strings(f["sample_names"][...])
    rna, mut = f["RNASeq2GeneNorm/X"][...], f["Mutations/X"][...]
    rna_names, mut_names = strings(f["RNASeq2GeneNorm/row_names"][...]), strings(f["Mutations/row_names"][...])
rna_cols, mut_cols = list(range(60)), list(range(74, 14, -1))  # overlapping, different orders
with h5py.File(path("study.h5mu"), "w") as f, h5py.File(path("rna.h5"), "w") as r, h5py.File(path("mut.h5"), "w") as m:
    enc(f, "MuData", "0.1.0")
    mods = f.create_group("mod")
    mods.attrs["mod-order"] = np.array(["rna", "mut"], dtype=h5py.string_dtype())
    g = mods.create_group("rna")
    enc(g, "anndata", "0.1.0")
    c = sp.csr_matrix(rna[:, rna_cols].T)
    x = g.create_group("X")
    enc(x, "csr_matrix", "0.1.0")
    x.attrs["shape"] = np.array(c.shape)
    x["data"], x["indices"], x["indptr"] = c.data, c.indices, c.indptr
    dataframe(g, "obs", [samples[j] for j in rna_cols])
    dataframe(g, "var", rna_names)
    g = mods.create_group("mut")
    enc(g, "anndata", "0.1.0")
    g["X"] = mut[:, mut_cols].T
    dataframe(g, "obs", [samples[j] for j in mut_cols])
    dataframe(g, "var", mut_names)
    r["X"], r["col_names"] = rna[:, rna_cols], np.array([samples[j] for j in rna_cols], dtype="S")
    m["X"], m["col_names"] = mut[:, mut_cols], np.array([samples[j] for j in mut_cols], dtype="S")
joint_args = ["--rank", "3", "--log1p", "rna", "--max-iter", "40", "--tol", "0", "--top", "0", "--algorithm",
              "anls-bpp", "--force", "-q"]
status, _, err, _ = run("prism-joint", 4, "--input", path("rna.h5"), "--name", "rna", "--input", path("mut.h5"),
                        "--name", "mut", "--output", path("pairs.h5"), *joint_args)
with h5py.File(path("pairs.h5"), "r") as f:
    Hp, Wr, Wm = f["H"][...], f["W/rna"][...], f["W/mut"][...]
for np_ in (1, 2, 4, 6):
    status, _, err, _ = run("prism-joint", np_, "--input", path("study.h5mu"), "--output", path("joint.h5mu"),
                            "--output-format", "h5mu", *joint_args)
    if status != 0:
        check(f"h5mu joint np{np_}", False, err)
        continue
    with h5py.File(path("joint.h5mu"), "r") as f:
        diff = max(np.abs(f["obsm/X_nmf"][...] - Hp.T).max(), np.abs(f["mod/rna/varm/NMF"][...] - Wr).max(),
                   np.abs(f["mod/mut/varm/NMF"][...] - Wm).max())
        check(f"h5mu (sparse rna + dense mut) np{np_} equals the dense name-aligned run", diff < 1e-10, f"{diff}")
        check("h5mu structure", f.attrs["encoding-type"] == "MuData" and strings(f["obs/_index"][...])[:2] == samples[:2]
              and int(f["obsmap/mut"][15]) == 1 and int(f["obsmap/mut"][0]) == 0
              and strings(f["mod/mut/var/_index"][...]) == mut_names)
        rna_ad = anndata.experimental.read_elem(f["mod/rna"])
        check("h5mu modality read by anndata", rna_ad.shape == (60, 198) and rna_ad.varm["NMF"].shape == (198, 3),
              str(rna_ad))
status, _, err, _ = run("prism-joint", 4, "--input", path("study.h5mu"), "--modalities", "rna", "--output",
                        path("permuted.h5"), "--permute", *joint_args)
status2, _, _, _ = run("prism-joint", 4, "--input", path("study.h5mu"), "--modalities", "rna", "--output",
                       path("unpermuted.h5"), *joint_args)
if status == 0 and status2 == 0:
    with h5py.File(path("permuted.h5")) as p, h5py.File(path("unpermuted.h5")) as u:
        diff = max(np.abs(p["H"][...] - u["H"][...]).max(), np.abs(p["W/rna"][...] - u["W/rna"][...]).max())
    check("joint --permute equals the unpermuted run", diff < 1e-10, f"{diff}")
else:
    check("joint --permute runs", False, err)

# --- Malformed inputs: one line naming file and field, exit 2, no output.


def csr_file(name, data, indices, indptr, shape, encoding="csr_matrix"):
    with h5py.File(path(name), "w") as f:
        g = f.create_group("X")
        if encoding:
            g.attrs["encoding-type"] = encoding
        g.attrs["shape"] = np.array(shape)
        g["data"], g["indices"], g["indptr"] = np.asarray(data), np.asarray(indices), np.asarray(indptr)
    return path(name)


good = sp.csr_matrix(np.array([[1.0, 0, 2], [0, 3, 0], [4, 0, 5], [0, 0, 6]]))
d, i, p = good.data, good.indices, good.indptr
expect_error("indptr not monotone", "/X/indptr is not monotone", 2, "--input",
             csr_file("m1.h5", d, i, [0, 2, 1, 5, 6], (4, 3)), "--rank", "1")
expect_error("indptr wrong length", "/X/indptr has 4 entries", 2, "--input",
             csr_file("m2.h5", d, i, p[:-1], (4, 3)), "--rank", "1")
expect_error("index out of range", "is outside [0, 3)", 4, "--input",
             csr_file("m3.h5", d, [0, 2, 1, 0, 3, 2], p, (4, 3)), "--rank", "1")
expect_error("duplicate index", "is stored twice", 4, "--input",
             csr_file("m4.h5", d, [0, 0, 1, 0, 2, 2], p, (4, 3)), "--rank", "1")
expect_error("shape mismatch", "shape mismatch", 2, "--input", csr_file("m5.h5", d, i, p, (5, 3)), "--rank", "1")
expect_error("wrong encoding-type", "encoding-type is 'coo_matrix'", 2, "--input",
             csr_file("m6.h5", d, i, p, (4, 3), "coo_matrix"), "--rank", "1")
expect_error("negative stored value", "negative", 4, "--input",
             csr_file("m7.h5", [1.0, 2, 3, 4, -5e-6, 6], i, p, (4, 3)), "--rank", "1")
expect_error("NaN stored value", "NaN", 4, "--input", csr_file("m8.h5", [1.0, 2, np.nan, 4, 5, 6], i, p, (4, 3)),
             "--rank", "1")
expect_error("int32 data, int64 indices work; k too large still refused", "exceeds", 2, "--input",
             csr_file("m9.h5", d.astype(np.int32), i.astype(np.int64), p.astype(np.int32), (4, 3)), "--rank", "4")
dup = anndata.AnnData(X=sp.csr_matrix(X.T[:4]), dtype=np.float64)
dup.obs_names, dup.var_names = ["c1", "c2", "c2", "c3"], genes
dup.write_h5ad(path("dup.h5ad"))
expect_error("duplicate obs names", "duplicated names: 'c2'", 2, "--input", path("dup.h5ad"), "--rank", "2")
with open(path("bad.mtx"), "w") as f:
    f.write("%%MatrixMarket matrix coordinate real general\n3 3 2\n1 1 1.0\n4 1 2.0\n")
expect_error("mtx index out of range", "line 4: entry (4, 1) lies outside the 3 x 3", 2, "--input",
             path("bad.mtx"), "--rank", "1")
expect_error("h5mu to prism-nmf", "is a MuData file", 2, "--input", path("study.h5mu"), "--rank", "2")
expect_error("permute a dense input", "--permute relabels sparse inputs", 2, "--input", dense_input, "--rank", "2",
             "--permute")
expect_error("h5mu output from prism-nmf", "--output-format h5mu is for joint runs", 2, "--input", dense_input,
             "--rank", "2", "--output-format", "h5mu")
with h5py.File(path("dup.h5mu"), "w") as f:  # ROBUSTNESS 11: a duplicated sample within a modality
    enc(f, "MuData", "0.1.0")
    g = f.create_group("mod").create_group("rna")
    enc(g, "anndata", "0.1.0")
    g["X"] = rna[:, :4].T
    dataframe(g, "obs", ["s1", "s2", "s2", "s3"])
    dataframe(g, "var", rna_names)
expect_error("h5mu duplicate obs names", "duplicated names: 's2'", 2, "--input", path("dup.h5mu"), "--rank", "2",
             program="prism-joint")
with h5py.File(path("disjoint.h5mu"), "w") as f:  # no sample in common: never silently concatenated
    enc(f, "MuData", "0.1.0")
    for key, obs in (("a", ["s1", "s2"]), ("b", ["s3", "s4"])):
        g = f["/"].require_group("mod").create_group(key)
        enc(g, "anndata", "0.1.0")
        g["X"] = rna[:3, :2].T
        dataframe(g, "obs", obs)
        dataframe(g, "var", rna_names[:3])
expect_error("h5mu modalities without a common sample", "has no sample in common", 2, "--input",
             path("disjoint.h5mu"), "--rank", "1", program="prism-joint")
expect_error("h5mu unknown modality", "no modality 'atac' under /mod", 2, "--input", path("study.h5mu"),
             "--modalities", "rna,atac", "--rank", "2", program="prism-joint")
expect_error("h5ad output from prism-joint", "--output-format h5ad is for single-matrix runs", 2, "--input",
             path("study.h5mu"), "--rank", "2", "--output-format", "h5ad", program="prism-joint")
# ROBUSTNESS 3: a sparse input with no stored entries at all.
status, stdout, stderr, _ = run("prism-nmf", 4, "--input", csr_file("empty.h5", np.zeros(0), np.zeros(0, np.int32),
                                                                     np.zeros(11, np.int64), (10, 8)),
                                "--rank", "2", "--output", path("empty_out.h5"), "-q")
if status == 0:
    W, H, e = prism_result(path("empty_out.h5"))
    check("all-zero sparse input: finite zero factors", np.isfinite(W).all() and np.isfinite(H).all())
else:
    lines = [l for l in stderr.splitlines() if l.strip()]
    check("all-zero sparse input: one clear error", status == 2 and len(lines) == 1 and "nonzero" in lines[0]
          and not leftovers(path("empty_out.h5")), stderr)

# --- AnnData layers and raw are cells x genes like X: transposed, with obs / var (raw/var) names.
full = anndata.AnnData(X=sp.csr_matrix(X.T), dtype=np.float64)
full.obs_names, full.var_names = cells, genes
full.layers["counts"] = sp.csr_matrix(X.T)
full.raw = full  # raw keeps all 230 genes
lay = full[:, :200].copy()  # X and layers: the first 200 genes
lay.X = lay.X.copy()
lay.X.data = np.log1p(lay.X.data)  # X normalised, the raw counts in layers['counts'] (the usual setup)
lay.write_h5ad(path("layers.h5ad"))
with h5py.File(path("first200.h5"), "w") as f:
    f["X"] = X[:200]
with h5py.File(path("layers.h5mu"), "w") as f, h5py.File(path("layers.h5ad"), "r") as a:
    enc(f, "MuData", "0.1.0")
    a.copy(a["/"], f.create_group("mod"), name="rna")
for algorithm in ("hals", "anls-bpp"):
    nmf(1, dense_input, path("dense.h5"), "--algorithm", algorithm)
    W0, H0, e0 = prism_result(path("dense.h5"))
    nmf(1, path("first200.h5"), path("dense200.h5"), "--algorithm", algorithm)
    W2, H2, e2 = prism_result(path("dense200.h5"))
    for np_ in (1, 4):
        for name, inp, ref, rows in (("h5ad layers/counts", path("layers.h5ad") + ":/layers/counts", (W2, H2, e2), 200),
                                     ("h5ad raw/X", path("layers.h5ad") + ":/raw/X", (W0, H0, e0), 230),
                                     ("h5mu modality layers/counts", path("layers.h5mu") + ":/mod/rna/layers/counts",
                                      (W2, H2, e2), 200)):
            status, stdout, stderr = nmf(np_, inp, path("lay.h5"), "--algorithm", algorithm)
            if status != 0:
                check(f"{name} {algorithm} np{np_} runs", False, stderr)
                continue
            W, H, e = prism_result(path("lay.h5"))
            if W.shape != ref[0].shape or H.shape != ref[1].shape:  # factorized cells x genes
                check(f"{name} {algorithm} np{np_} is genes x cells", False, f"W {W.shape}, H {H.shape}")
                continue
            diff = max(np.abs(W - ref[0]).max(), np.abs(H - ref[1]).max(), abs(e - ref[2]))
            check(f"{name} {algorithm} np{np_} equals the dense genes x cells run", diff < 1e-10, f"{diff}")
            with h5py.File(path("lay.h5"), "r") as f:
                check(f"{name} names: var (raw/var for raw/X) x obs", strings(f["row_names"][...]) == genes[:rows]
                      and strings(f["col_names"][...]) == cells)
            check(f"{name} orientation line", f"factorizing its transpose, genes x cells ({rows} x 80)" in stdout,
                  stdout)

# --- MatrixMarket in prism-joint: alone it is one unnamed modality (= prism-nmf); with others it is refused.
status, _, stderr, _ = run("prism-joint", 2, "--input", path("pbmc.mtx"), "--name", "mm", "--rank", "4",
                           "--max-iter", "40", "--tol", "0", "--top", "0", "--output", path("jmm.h5"), "--force",
                           "-q")
status2, _, stderr2, _ = run("prism-joint", 2, "--input", dense_input, "--name", "mm", "--rank", "4",
                             "--max-iter", "40", "--tol", "0", "--top", "0", "--output", path("jdense.h5"),
                             "--force", "-q")
if status == 0 and status2 == 0:
    with h5py.File(path("jmm.h5")) as jm, h5py.File(path("jdense.h5")) as jd:
        diff = max(np.abs(jm["H"][...] - jd["H"][...]).max(), np.abs(jm["W/mm"][...] - jd["W/mm"][...]).max())
    check("prism-joint with one MatrixMarket modality equals the dense run", diff < 1e-10, f"{diff}")
else:
    check("prism-joint with one MatrixMarket modality runs", False, stderr + stderr2)
expect_error("mtx among several joint modalities",
             "modality 'mm' ('" + path("pbmc.mtx") + "'): MatrixMarket carries no sample names and prism-joint "
             "aligns modalities by sample name", 2, "--input", path("pbmc_csr.h5ad"), "--name", "rna", "--input",
             path("pbmc.mtx"), "--name", "mm", "--rank", "2", program="prism-joint")
expect_error("mtx without --name in prism-joint", "a MatrixMarket file is one modality", 2, "--input",
             path("pbmc.mtx"), "--rank", "2", program="prism-joint")

# --- Gzipped inputs (10x ships matrix.mtx.gz) are named as gzip, with or without the .gz suffix.
with open(path("pbmc.mtx"), "rb") as f:
    raw_mtx = f.read()
with gzip.open(path("matrix.mtx.gz"), "wb") as f:
    f.write(raw_mtx)
with open(path("matrix.mtx.gz"), "rb") as f, open(path("gzipped_matrix"), "wb") as g:
    g.write(f.read())
for name in ("matrix.mtx.gz", "gzipped_matrix"):
    expect_error(f"gzip input {name}", f"'{path(name)}': gzip-compressed files are not supported; decompress it "
                 f"first (gunzip {path(name)})", 2, "--input", path(name), "--rank", "2")
    expect_error(f"gzip input {name} in prism-joint", "gzip-compressed files are not supported", 2, "--input",
                 path(name), "--name", "mm", "--rank", "2", program="prism-joint")

# --- indptr one past len(data): named as that, not as "not monotone".
expect_error("indptr ends beyond len(data)", "/X/indptr must end at len(data) (= 6), but indptr[4] = 7", 2,
             "--input", csr_file("m10.h5", d, i, [0, 2, 3, 5, 7], (4, 3)), "--rank", "1")

# --- MatrixMarket duplicates: 1-based, with both line numbers.
with open(path("dup.mtx"), "w") as f:
    f.write("%%MatrixMarket matrix coordinate real general\n3 3 3\n1 1 1.0\n2 3 1.0\n1 1 2.0\n")
expect_error("mtx duplicate entry", "'" + path("dup.mtx") + "': lines 3 and 5 both give the entry (1, 1) "
             "(duplicate entry; indices are 1-based)", 2, "--input", path("dup.mtx"), "--rank", "1")

# --- Joint messages name the modality, then its source; no internal field names.
with h5py.File(path("nan.h5mu"), "w") as f:
    enc(f, "MuData", "0.1.0")
    for key, values in (("rna", rna[:5, :8].T), ("prot", np.where(np.arange(40).reshape(8, 5) == 11, np.nan,
                                                                    rna[5:10, :8].T))):
        g = f["/"].require_group("mod").create_group(key)
        enc(g, "anndata", "0.1.0")
        g["X"] = values
        dataframe(g, "obs", samples[:8])
        dataframe(g, "var", rna_names[:5])
status, _, stderr, _ = run("prism-joint", 2, "--input", path("nan.h5mu"), "--rank", "1", "--output",
                           path("never.h5"), "-q")
lines = [l for l in stderr.splitlines() if l.strip()]
check("joint NaN message: modality 'prot' ('FILE':/mod/prot/X) has ..., no internal field name",
      status == 2 and len(lines) == 1 and f"modality 'prot' ('{path('nan.h5mu')}':/mod/prot/X) has 1 NaN entries"
      in lines[0] and "`" not in lines[0] and "not an observed sample" in lines[0], stderr)

# --- 10x v2 (one group per genome): without the group, the genome groups are listed.
with h5py.File(path("tenx_v2.h5"), "w") as f:
    c = sp.csc_matrix(X)
    for genome in ("GRCh38", "mm10"):
        m = f.create_group(genome)
        m["data"], m["indices"], m["indptr"] = c.data, c.indices, c.indptr
        m["shape"] = np.array(X.shape, dtype=np.int32)
        m["barcodes"] = np.array(cells, dtype="S")
        m["gene_names"] = np.array(genes, dtype="S")
expect_error("10x v2 without the genome group", "'" + path("tenx_v2.h5") + "': no dataset '/X'; it looks like a 10x "
             "v2 file (genome groups: /GRCh38, /mm10); name the genome group, e.g. " + path("tenx_v2.h5") + ":/GRCh38",
             2, "--input", path("tenx_v2.h5"), "--rank", "2")
nmf(1, dense_input, path("dense.h5"))
W0, H0, e0 = prism_result(path("dense.h5"))
status, _, stderr = nmf(4, path("tenx_v2.h5") + ":/GRCh38", path("v2.h5"))
if status == 0:
    W, H, e = prism_result(path("v2.h5"))
    diff = max(np.abs(W - W0).max(), np.abs(H - H0).max(), abs(e - e0))
    check("10x v2 genome group equals the dense run", diff < 1e-10, f"{diff}")
else:
    check("10x v2 genome group runs", False, stderr)

print(f"formats cli: {cli_checks.passed} passed, {cli_checks.failed} failed")
sys.exit(1 if cli_checks.failed else 0)
