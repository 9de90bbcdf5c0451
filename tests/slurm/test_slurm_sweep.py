#!/usr/bin/env python3
"""slurm/submit-sweep.sh on a real Slurm: the job array over k in {2, 3} and seeds {1, 2} on the Golub data,
the summary job that waits on it (--dependency=afterok) and its table, checked row by row against the
outputs; then a sweep with an impossible k, whose summary must be cancelled, not left pending forever."""
import os
import sys

import h5py

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from slurm_harness import Harness  # noqa: E402

h = Harness(sys.argv)
golub = os.path.join(h.data, "golub_esgolub.h5")
submit = os.path.join(h.slurm, "submit-sweep.sh")


def submit_sweep(ranks, seeds, outdir):
    env = dict(h.env, PRISM_RANKS=ranks, PRISM_SEEDS=seeds)
    r = h.run([submit, golub, outdir, "--max-iter", "60", "--log-every", "0"], env=env)
    assert r.returncode == 0, r.stderr + r.stdout
    return r.stdout.split("\n")[-2].split()


array_job, summary_job = submit_sweep("2 3", "1 2", "sweep")
bad_array, bad_summary = submit_sweep("2 99", "1", "bad-sweep")  # k = 99 > 38 samples: task 1 exits 2

fields = h.wait(summary_job, timeout=180)
h.check(f"summary job {summary_job} COMPLETED 0:0 after array {array_job}",
        fields.get("JobState") == "COMPLETED" and fields.get("ExitCode") == "0:0",
        f"{fields}\n{h.log(f'prism-sweep-summary-{summary_job}.out')}")
for task in range(4):
    t = h.job(f"{array_job}_{task}")
    h.check(f"array task {task} COMPLETED", t.get("JobState") == "COMPLETED", str(t.get("JobState")))

table = h.path("sweep/summary.tsv")
if h.check("summary table written", os.path.exists(table)):
    lines = open(table).read().splitlines()
    h.check("header k seed relative_error iterations seconds output",
            lines[0].split("\t") == ["k", "seed", "relative_error", "iterations", "seconds", "output"], lines[0])
    rows = [line.split("\t") for line in lines[1:]]
    h.check("4 rows, sorted by k then seed", [(r[0], r[1]) for r in rows] ==
            [("2", "1"), ("2", "2"), ("3", "1"), ("3", "2")], str(rows))
    errors = {}
    for r in rows:
        k, seed, error, iterations, seconds, name = r
        path = h.path(os.path.join("sweep", name))
        h.check(f"k={k} seed={seed}: output k{k}-seed{seed}.h5", name == f"k{k}-seed{seed}.h5" and
                os.path.exists(path), name)
        with h5py.File(path, "r") as f:
            a = f.attrs
            h.check(f"k={k} seed={seed}: row equals the output's attributes",
                    int(a["rank"]) == int(k) and int(a["seed"]) == int(seed) and
                    float(error) == float(a["relative_error"]) and int(iterations) == int(a["iterations"]) and
                    abs(float(seconds) - float(a["wall_seconds"])) <= 1e-3 * float(a["wall_seconds"]) + 1e-9,
                    f"{r} vs {dict(a)}")
            h.check(f"k={k} seed={seed}: 0 < error < 1, 1 <= iterations <= 60",
                    0 < float(error) < 1 and 1 <= int(iterations) <= 60, str(r))
        errors[(int(k), int(seed))] = float(error)
    for seed in (1, 2):
        h.check(f"seed {seed}: k=3 fits better than k=2", errors[(3, seed)] < errors[(2, seed)], str(errors))

# kill_invalid_depend: the failed task makes the afterok dependency impossible, so Slurm cancels the summary.
fields = h.wait(bad_summary, timeout=120)
h.check(f"summary {bad_summary} of a failed sweep CANCELLED (DependencyNeverSatisfied)",
        fields.get("JobState") == "CANCELLED", str(fields.get("JobState")) + " " + str(fields.get("Reason")))
t = h.job(f"{bad_array}_1")
h.check("the impossible task FAILED with exit code 2", t.get("JobState") == "FAILED" and
        t.get("ExitCode") == "2:0", f"{t.get('JobState')} {t.get('ExitCode')}")
h.check("no summary table for the failed sweep", not os.path.exists(h.path("bad-sweep/summary.tsv")))
h.finish()
