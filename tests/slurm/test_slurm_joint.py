#!/usr/bin/env python3
"""slurm/prism-joint.sbatch on a real Slurm: joint NMF of the bundled TCGA ACC multi-omics study at 4 ranks,
checked by its output file against the same run launched directly."""
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from slurm_harness import Harness  # noqa: E402

h = Harness(sys.argv)
study = os.path.join(h.data, "miniacc_multiomics.h5")
options = ["--log1p", "RNASeq2GeneNorm,miRNASeqGene", "--algorithm", "anls-bpp", "--log-every", "0"]
modalities = {"RNASeq2GeneNorm": 198, "miRNASeqGene": 471, "Mutations": 58, "gistict": 388}

job = h.sbatch(["--ntasks=4", os.path.join(h.slurm, "prism-joint.sbatch"), study, "3", "acc.h5"] + options)
ref = h.mpirun(2, [os.path.join(h.bin, "prism-joint"), "--input", study, "--rank", "3", "--output",
                   h.path("direct.h5")] + options)
assert ref.returncode == 0, ref.stderr
fields = h.wait(job, timeout=150)
log = h.log(f"prism-joint-{job}.out")
h.check(f"job {job} COMPLETED 0:0", fields.get("JobState") == "COMPLETED" and fields.get("ExitCode") == "0:0",
        f"{fields.get('JobState')} {fields.get('ExitCode')}\n{log}")
if h.check("output written", os.path.exists(h.path("acc.h5")), log):
    with h5py.File(h.path("acc.h5"), "r") as f, h5py.File(h.path("direct.h5"), "r") as g:
        h.check("H 3x75", f["H"].shape == (3, 75), str(f["H"].shape))
        h.check("one W per modality with its feature count",
                {m: f["W"][m].shape for m in f["W"]} == {m: (n, 3) for m, n in modalities.items()})
        h.check("4 ranks", int(f.attrs["nprocs"]) == 4)
        error, ref_error = float(f.attrs["relative_error"]), float(g.attrs["relative_error"])
        h.check(f"relative error {error:.12f} equals the direct 2-rank run's {ref_error:.12f} (1e-10)",
                abs(error - ref_error) < 1e-10)
        diff = np.abs(f["H"][...] - g["H"][...]).max() / np.abs(g["H"][...]).max()
        h.check(f"H equals the direct run's (relative max difference {diff:.2e} < 1e-8)", diff < 1e-8)
h.finish()
