#!/usr/bin/python3
"""Checkpoint and restart end to end under mpirun, for prism-nmf and prism-joint:

- a run stopped by --max-iter and resumed with a larger --max-iter equals the uninterrupted run: bitwise at
  the same rank count, to 1e-10 at another rank count / grid;
- a checkpoint of another problem (changed data, k, penalty, log1p) is refused with one line and exit 2;
  a missing, truncated or garbage checkpoint with --resume is exit 2; no output file in any of these;
- kill -USR1 <mpirun> gives exit 4, a valid checkpoint and no output, and resuming completes with the
  factors of an uninterrupted run; SIGTERM to one rank only stops all four at a checkpoint (exit 4);
- SIGKILL of the whole job at random moments while checkpoints are written every iteration never leaves
  a checkpoint that does not open, validate and resume;
- PRISM_JOB_END_TIME in the near future checkpoints and exits 4; with --max-time it is ignored.

Usage: test_checkpoint_cli.py BIN_DIR MPIEXEC "MPIEXEC_PREFLAGS"
"""
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np
import cli_checks  # noqa: E402  (this directory is sys.path[0])
from cli_checks import check  # noqa: E402

bin_dir, mpiexec = os.path.abspath(sys.argv[1]), sys.argv[2]
preflags = [f for f in sys.argv[3].replace(";", " ").split() if f] if len(sys.argv) > 3 else []
version = subprocess.run([mpiexec, "--version"], capture_output=True, text=True)
if "Open MPI" in version.stdout + version.stderr or "OpenRTE" in version.stdout + version.stderr:
    preflags.append("-q")
nmf = os.path.join(bin_dir, "prism-nmf")
joint = os.path.join(bin_dir, "prism-joint")
work = tempfile.mkdtemp(prefix="prism-ckpt-cli-")
rng = np.random.default_rng(3)


def command(np_, program, args):
    return [mpiexec, "-n", str(np_), *preflags, program, *args]


def run(np_, *args, program=nmf, timeout=120, env=None):
    start = time.time()
    p = subprocess.run(command(np_, program, args), capture_output=True, text=True, timeout=timeout, cwd=work,
                       env=env)
    return p.returncode, p.stdout, p.stderr, time.time() - start


def path(name):
    return os.path.join(work, name)


def factors(out, joint_names=None):
    with h5py.File(out, "r") as f:
        ws = [f["W"][...]] if joint_names is None else [f["W"][n][...] for n in joint_names]
        return ws, f["H"][...], f["history/relative_error"][...], dict(f.attrs)


def bitwise_equal(a, b):
    wa, ha, hista, _ = a
    wb, hb, histb, _ = b
    return all(np.array_equal(x, y) for x, y in zip(wa, wb)) and np.array_equal(ha, hb) and \
        np.array_equal(hista, histb)


def max_rel_diff(a, b):
    wa, ha, hista, _ = a
    wb, hb, histb, _ = b
    d = [np.abs(x - y).max() / np.abs(x).max() for x, y in zip(wa + [ha, hista], wb + [hb, histb])]
    return max(d)


def checkpoint_iterations(ckpt):
    """The completed iterations a checkpoint holds, after checking its layout (raises if invalid)."""
    with h5py.File(ckpt, "r") as f:
        assert f.attrs["prism_checkpoint"] == 1
        assert f["W/0"].ndim == 2 and f["H"].ndim == 2
        it = int(f["state/iterations"][0])
        assert len(f["state/history_relative_error"]) == it
        return it


def expect_refused(name, expected, np_, *args, program=nmf, out="refused.h5"):
    """Exit 2, one stderr line containing `expected`, no output file (nor temporary) left."""
    out_path = path(out)
    quiet = [] if "--quiet" in args else ["--quiet"]
    status, _, stderr, seconds = run(np_, *args, "--output", out_path, *quiet, program=program)
    lines = [l for l in stderr.splitlines() if l.strip()]
    left = [f for f in os.listdir(work) if f.startswith(out)]
    ok = status == 2 and len(lines) == 1 and expected in lines[0] and not left and seconds < 60
    check(name, ok, f"status={status} stderr={stderr!r} left={left}")


# ---------------------------------------------------------------------------------------------- data
x = rng.random((157, 6)) @ rng.random((6, 120)) + 0.01 * rng.random((157, 120))
with h5py.File(path("x.h5"), "w") as f:
    f["X"] = x
x_changed = x.copy()
x_changed[100, 17] *= 1.0000001  # one entry, a relative change of 1e-7
with h5py.File(path("x_changed.h5"), "w") as f:
    f["X"] = x_changed
xin = path("x.h5")
common = ["--input", xin, "--rank", "5", "--tol", "0", "--quiet"]

# ------------------------------------------------ stop at --max-iter, extend with --resume (np 4 and np 3)
for algorithm in ["hals", "anls-bpp", "mu"]:
    full = path(f"full_{algorithm}.h5")
    status, _, err, _ = run(4, *common, "-a", algorithm, "--max-iter", "30", "--output", full)
    check(f"{algorithm}: uninterrupted run", status == 0, err)
    ckpt = path(f"c_{algorithm}.h5")
    status, _, err, _ = run(4, *common, "-a", algorithm, "--max-iter", "12", "--output", path(f"p12_{algorithm}.h5"),
                            "--checkpoint", ckpt)
    check(f"{algorithm}: a run of 12 iterations writes its checkpoint", status == 0 and checkpoint_iterations(ckpt) == 12,
          err)
    shutil.copy(ckpt, ckpt + ".copy")
    out4 = path(f"r4_{algorithm}.h5")
    status, _, err, _ = run(4, *common, "-a", algorithm, "--max-iter", "30", "--output", out4, "--checkpoint", ckpt,
                            "--resume")
    check(f"{algorithm}: resumed at np 4 runs", status == 0, err)
    if status == 0:
        a, b = factors(full), factors(out4)
        check(f"{algorithm}: resumed at np 4 is bitwise the uninterrupted run", bitwise_equal(a, b) and
              b[3]["iterations"] == 30 and b[3]["relative_error"] == a[3]["relative_error"],
              f"max rel diff {max_rel_diff(a, b)}")
    out3 = path(f"r3_{algorithm}.h5")
    status, _, err, _ = run(3, *common, "-a", algorithm, "--max-iter", "30", "--output", out3, "--checkpoint",
                            ckpt + ".copy", "--resume", "--block", "7x5")
    check(f"{algorithm}: resumed at np 3, block 7x5 runs", status == 0, err)
    if status == 0:
        a, b = factors(full), factors(out3)
        d = max_rel_diff(a, b)
        check(f"{algorithm}: resumed at np 3 matches to 1e-10", d < 1e-10 and b[3]["iterations"] == 30, f"{d}")
        short = factors(path(f"p12_{algorithm}.h5"))
        d12 = max(np.abs(a[0][0] - short[0][0]).max() / np.abs(a[0][0]).max(), np.abs(a[1] - short[1]).max())
        check(f"{algorithm}: (the comparison can fail: 12 vs 30 iterations differ)", d12 > 1e-6, f"{d12}")

# float precision: factors stored as float32, read back exactly
fargs = [*common, "--precision", "float", "-a", "anls-bpp"]
s1, _, e1, _ = run(4, *fargs, "--max-iter", "30", "--output", path("ffull.h5"))
s2, _, e2, _ = run(4, *fargs, "--max-iter", "10", "--output", path("f10.h5"), "--checkpoint", path("fc.h5"))
s3, _, e3, _ = run(4, *fargs, "--max-iter", "30", "--output", path("fr.h5"), "--checkpoint", path("fc.h5"), "--resume")
check("float: resumed run is bitwise the uninterrupted one", s1 == s2 == s3 == 0 and
      bitwise_equal(factors(path("ffull.h5")), factors(path("fr.h5"))) and
      factors(path("fr.h5"))[0][0].dtype == np.float32, e1 + e2 + e3)

# ----------------------------------------------------------------------- refusals: exit 2, no output
ckpt = path("c_hals.h5")  # 30 iterations of hals, k 5, on x.h5
shutil.copy(xin, path("x_original.h5"))
shutil.copy(path("x_changed.h5"), xin)  # the same file name, one entry changed by 1e-7
expect_refused("changed data refused", "input checksum", 2, "--input", xin, "--rank", "5",
               "--max-iter", "40", "--checkpoint", ckpt, "--resume")
shutil.copy(path("x_original.h5"), xin)
with h5py.File(path("x_moved.h5"), "w") as f:
    f["X"] = x
expect_refused("other input file refused", "input file", 2, "--input", path("x_moved.h5"), "--rank", "5",
               "--max-iter", "40", "--checkpoint", ckpt, "--resume")
expect_refused("changed k refused", "rank k is '5' in the checkpoint, '4' now", 2, "--input", xin, "--rank", "4",
               "--max-iter", "40", "--checkpoint", ckpt, "--resume")
expect_refused("changed algorithm refused", "algorithm", 2, "--input", xin, "--rank", "5", "-a", "mu",
               "--max-iter", "40", "--checkpoint", ckpt, "--resume")
expect_refused("changed penalty refused", "l1-h", 2, "--input", xin, "--rank", "5", "--l1-h", "0.1",
               "--max-iter", "40", "--checkpoint", ckpt, "--resume")
expect_refused("changed precision refused", "precision", 2, "--input", xin, "--rank", "5", "--precision", "float",
               "--max-iter", "40", "--checkpoint", ckpt, "--resume")
expect_refused("fewer iterations than done refused", "more than --max-iter 20", 2, "--input", xin, "--rank", "5",
               "--max-iter", "20", "--checkpoint", ckpt, "--resume")
expect_refused("missing checkpoint refused", "does not exist", 2, "--input", xin, "--rank", "5",
               "--checkpoint", path("nothing.h5"), "--resume")
with open(ckpt, "rb") as f:
    image = f.read()
with open(path("truncated.h5"), "wb") as f:
    f.write(image[: len(image) // 2])
expect_refused("truncated checkpoint refused", "truncated.h5", 2, "--input", xin, "--rank", "5",
               "--checkpoint", path("truncated.h5"), "--resume")
with open(path("garbage.h5"), "wb") as f:
    f.write(os.urandom(8192))
expect_refused("garbage checkpoint refused", "not a readable HDF5 file", 2, "--input", xin, "--rank", "5",
               "--checkpoint", path("garbage.h5"), "--resume")
with h5py.File(path("other.h5"), "w") as f:
    f["X"] = x
expect_refused("an HDF5 file that is no checkpoint refused", "not a Prism checkpoint", 2, "--input", xin, "--rank",
               "5", "--checkpoint", path("other.h5"), "--resume")

# -------------------------------------------------- SIGUSR1 to mpirun: exit 4, checkpoint, no output, resume
long_args = ["--input", xin, "--rank", "5", "--tol", "0", "--max-iter", "100000000", "--quiet"]
sig_out, sig_ckpt = path("sig.h5"), path("sig.ckpt.h5")
p = subprocess.Popen(command(4, nmf, [*long_args, "--output", sig_out, "--checkpoint", sig_ckpt]), cwd=work,
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
time.sleep(3)
p.send_signal(signal.SIGUSR1)
try:
    _, err = p.communicate(timeout=60)
except subprocess.TimeoutExpired:
    p.kill()
    _, err = p.communicate()
check("SIGUSR1: exit 4 and one line naming the signal and --resume",
      p.returncode == 4 and "SIGUSR1" in err and "--resume" in err, f"status={p.returncode} stderr={err!r}")
check("SIGUSR1: no output file", not os.path.exists(sig_out), str(os.listdir(work)))
try:
    done = checkpoint_iterations(sig_ckpt)
except Exception as e:  # noqa: BLE001 - any failure to read is the finding
    done = 0
    check("SIGUSR1: the checkpoint validates", False, repr(e))
if done > 0:
    target = done + 15
    status, _, err, _ = run(4, *common, "--max-iter", str(target), "--output", path("sig_full.h5"))
    status2, _, err2, _ = run(4, *common, "--max-iter", str(target), "--output", sig_out, "--checkpoint", sig_ckpt,
                              "--resume")
    check("SIGUSR1: resuming completes", status == 0 and status2 == 0, err + err2)
    if status == 0 and status2 == 0:
        check("SIGUSR1: resumed factors are those of the uninterrupted run",
              bitwise_equal(factors(path("sig_full.h5")), factors(sig_out)))

# SIGTERM to ONE rank only (as a node-local kill would): every rank stops at the checkpoint, exit 4, no hang
term_out = path("term.h5")
p = subprocess.Popen(command(4, nmf, [*long_args, "--output", term_out]), cwd=work, stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE, text=True)
time.sleep(3)
ranks = subprocess.run(["pgrep", "-P", str(p.pid)], capture_output=True, text=True).stdout.split()
if ranks:
    os.kill(int(ranks[-1]), signal.SIGTERM)
try:
    _, err = p.communicate(timeout=60)
except subprocess.TimeoutExpired:
    p.kill()
    _, err = p.communicate()
check("SIGTERM to one rank of four: exit 4, a valid checkpoint, no output",
      len(ranks) == 4 and p.returncode == 4 and "SIGTERM" in err and not os.path.exists(term_out)
      and checkpoint_iterations(term_out + ".ckpt.h5") > 0, f"ranks={ranks} status={p.returncode} stderr={err!r}")

# ------------------------------------------------ an existing checkpoint is never overwritten by a fresh start
expect_refused("a fresh run over an existing checkpoint refused", "continue that run with --resume", 2,
               "--input", xin, "--rank", "5", "--checkpoint", ckpt)
check("(the refused run left the checkpoint as it was)", checkpoint_iterations(ckpt) == 30)
expect_refused("a checkpoint in a missing folder refused", "folder", 2, "--input", xin, "--rank", "5",
               "--checkpoint", path("no_such_dir/c.h5"))

# ------------------------------------------------ SIGKILL of the whole job while checkpoints are written
big = rng.random((1200, 30)) @ rng.random((30, 900))
with h5py.File(path("big.h5"), "w") as f:
    f["X"] = big
kill_ckpt = path("kill.ckpt.h5")
kill_args = ["--input", path("big.h5"), "--rank", "20", "--tol", "0", "--max-iter", "100000000", "--quiet",
             "--checkpoint-every", "1", "--checkpoint", kill_ckpt, "--force"]
random.seed(7)
kills, valid, seen, mid_write = 0, 0, set(), 0
for attempt in range(6):
    p = subprocess.Popen(command(2, nmf, [*kill_args, "--output", path("kill.h5")]), cwd=work,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    before = os.stat(kill_ckpt).st_mtime_ns if os.path.exists(kill_ckpt) else 0
    tmp_before = {f for f in os.listdir(work) if f.startswith("kill.ckpt.h5.tmp-")}
    deadline = time.time() + 30  # wait for this run's first checkpoint, then kill at a random moment
    while (not os.path.exists(kill_ckpt) or os.stat(kill_ckpt).st_mtime_ns == before) and time.time() < deadline:
        time.sleep(0.01)
    time.sleep(random.uniform(0.0, 0.5))
    # mpirun and every rank at once, as a node failure would (Open MPI gives each rank its own process group)
    ranks = subprocess.run(["pgrep", "-P", str(p.pid)], capture_output=True, text=True).stdout.split()
    for pid in [*ranks, str(p.pid)]:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass
    p.wait()
    while any(os.path.exists(f"/proc/{pid}") for pid in ranks):  # no rank may still write
        time.sleep(0.05)
    kills += 1
    if {f for f in os.listdir(work) if f.startswith("kill.ckpt.h5.tmp-")} - tmp_before:
        mid_write += 1  # this kill hit a checkpoint being written
    try:
        it = checkpoint_iterations(kill_ckpt)
        seen.add(it)
        check(f"SIGKILL {attempt}: the checkpoint is this run's", os.stat(kill_ckpt).st_mtime_ns != before)
        # Resuming reads the factors and verifies their checksums (max-iter = done: nothing to iterate).
        status, _, err, _ = run(2, "--input", path("big.h5"), "--rank", "20", "--tol", "0", "--quiet", "--max-iter",
                                str(it), "--checkpoint", kill_ckpt, "--resume", "--output", path("kill.h5"),
                                "--force")
        valid += status == 0
        check(f"SIGKILL {attempt}: the checkpoint of iteration {it} resumes", status == 0, err)
    except Exception as e:  # noqa: BLE001
        check(f"SIGKILL {attempt}: the checkpoint still opens", False, repr(e))
check("SIGKILL: every checkpoint left behind opens, validates and resumes", valid == kills, f"{valid}/{kills}")
print(f"SIGKILL: {kills} kills, {mid_write} while a checkpoint was being written, iterations {sorted(seen)}")
tmp_left = [f for f in os.listdir(work) if f.startswith("kill.ckpt.h5.tmp-")]
status, _, err, _ = run(2, "--input", path("big.h5"), "--rank", "20", "--tol", "0", "--quiet", "--max-iter",
                        str(max(seen | {0}) + 1), "--checkpoint", kill_ckpt, "--resume", "--output", path("kill.h5"),
                        "--force")
check("SIGKILL: the last checkpoint continues", status == 0, err)
check("SIGKILL: the next successful write removes stale temporaries",
      not [f for f in os.listdir(work) if f.startswith("kill.ckpt.h5.tmp-")], f"before: {tmp_left}")

# ---------------------------------------------------------- PRISM_JOB_END_TIME: checkpoint and exit 4
env = dict(os.environ)
env["PRISM_JOB_END_TIME"] = str(int(time.time()) + 63)  # margin 60 s: ~3 s of iterating
end_out, end_ckpt = path("end.h5"), path("end.ckpt.h5")
status, _, err, seconds = run(4, *long_args, "--output", end_out, "--checkpoint", end_ckpt, env=env, timeout=60)
check("PRISM_JOB_END_TIME: exit 4 before the job's end, checkpoint, no output",
      status == 4 and "end time" in err and seconds < 20 and not os.path.exists(end_out)
      and checkpoint_iterations(end_ckpt) > 0, f"status={status} seconds={seconds:.1f} stderr={err!r}")
env.pop("PRISM_JOB_END_TIME")
env["SLURM_JOB_END_TIME"] = str(int(time.time()) + 62)
status, _, err, seconds = run(2, *long_args, "--output", end_out, "--checkpoint", end_ckpt, "--force", env=env,
                             timeout=60)
check("SLURM_JOB_END_TIME: exit 4", status == 4 and seconds < 20 and not os.path.exists(end_out),
      f"status={status} stderr={err!r}")
status, _, err, seconds = run(2, *long_args, "--output", end_out, "--max-time", "1", env=env, timeout=60)
check("with --max-time the job end time is not used: exit 0 and the result written",
      status == 0 and os.path.exists(end_out) and factors(end_out)[3]["stop_reason"] in ("max-time", b"max-time"), err)

# ------------------------------------------- a checkpoint that cannot be written: warning, or exit 2 at a stop
os.makedirs(path("ckdir.h5/inside"))  # the checkpoint's name taken by a directory: every rename fails
status, _, err, _ = run(2, *common, "--max-iter", "6", "--output", path("nodir.h5"), "--checkpoint-every", "2",
                        "--checkpoint", path("ckdir.h5"), "--force")
check("periodic checkpoint failing: a warning, the run finishes and writes its result",
      status == 0 and "warning: checkpoint after iteration 2 not written" in err and os.path.exists(path("nodir.h5")),
      f"status={status} stderr={err!r}")
env = dict(os.environ)
env["PRISM_JOB_END_TIME"] = str(int(time.time()) + 10)  # within the margin: stop after one iteration
status, _, err, _ = run(2, *long_args, "--output", path("nodir2.h5"), "--checkpoint", path("ckdir.h5"), "--force",
                        env=env, timeout=60)
check("the checkpoint of a stop failing: exit 2, one line, no output",
      status == 2 and len(err.strip().splitlines()) == 1 and not os.path.exists(path("nodir2.h5")),
      f"status={status} stderr={err!r}")

# ---------------------------------------------------------------------------------------- prism-joint
a = rng.random((60, 4)) @ rng.random((4, 40))
b = (rng.random((25, 4)) @ rng.random((4, 30))) * 1000
samples = [f"s{j}" for j in range(40)]
with h5py.File(path("a.h5"), "w") as f:
    f["X"] = a
    f.create_dataset("col_names", data=np.array(samples, dtype=object), dtype=h5py.string_dtype())
with h5py.File(path("b.h5"), "w") as f:
    f["X"] = b
    f.create_dataset("col_names", data=np.array(samples[5:35], dtype=object), dtype=h5py.string_dtype())
jargs = ["--input", path("a.h5"), "--name", "a", "--input", path("b.h5"), "--name", "b", "--rank", "3", "--tol", "0",
         "--quiet", "--top", "0"]
names = ["a", "b"]
for algorithm in ["hals", "anls-bpp"]:
    jfull, jck = path(f"jfull_{algorithm}.h5"), path(f"jc_{algorithm}.h5")
    s1, _, e1, _ = run(2, *jargs, "-a", algorithm, "--max-iter", "25", "--output", jfull, program=joint)
    s2, _, e2, _ = run(2, *jargs, "-a", algorithm, "--max-iter", "9", "--output", path(f"j9_{algorithm}.h5"),
                       "--checkpoint", jck, program=joint)
    shutil.copy(jck, jck + ".copy")
    s3, _, e3, _ = run(2, *jargs, "-a", algorithm, "--max-iter", "25", "--output", path(f"jr2_{algorithm}.h5"),
                       "--checkpoint", jck, "--resume", program=joint)
    s4, _, e4, _ = run(4, *jargs, "-a", algorithm, "--max-iter", "25", "--output", path(f"jr4_{algorithm}.h5"),
                       "--checkpoint", jck + ".copy", "--resume", program=joint)
    check(f"joint {algorithm}: runs", s1 == s2 == s3 == s4 == 0, e1 + e2 + e3 + e4)
    if s1 == s2 == s3 == s4 == 0:
        full_r = factors(jfull, names)
        r2 = factors(path(f"jr2_{algorithm}.h5"), names)
        check(f"joint {algorithm}: resumed at np 2 is bitwise the uninterrupted run", bitwise_equal(full_r, r2),
              f"{max_rel_diff(full_r, r2)}")
        with h5py.File(jfull) as f, h5py.File(path(f"jr2_{algorithm}.h5")) as g:
            same = all(np.array_equal(f["history/modality_relative_error"][n][...],
                                      g["history/modality_relative_error"][n][...]) for n in names)
            check(f"joint {algorithm}: per-modality history bitwise too", same and
                  len(g["history/modality_relative_error/b"]) == 25)
        d = max_rel_diff(full_r, factors(path(f"jr4_{algorithm}.h5"), names))
        check(f"joint {algorithm}: resumed at np 4 matches to 1e-10", d < 1e-10, f"{d}")
jck = path("jc_hals.h5")
expect_refused("joint: changed log1p refused", "transform", 2, *jargs, "--max-iter", "30", "--log1p", "b",
               "--checkpoint", jck, "--resume", program=joint)
expect_refused("joint: changed weights refused", "weight", 2, *jargs, "--max-iter", "30", "--weights", "equal",
               "--checkpoint", jck, "--resume", program=joint)
expect_refused("joint: modalities in another order refused", "modalities", 2, "--input", path("b.h5"), "--name",
               "b", "--input", path("a.h5"), "--name", "a", "--rank", "3", "--max-iter", "30", "--checkpoint", jck,
               "--resume", program=joint)
jsig_out = path("jsig.h5")
p = subprocess.Popen(command(2, joint, [*jargs, "--max-iter", "100000000", "--output", jsig_out]), cwd=work,
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
time.sleep(3)
p.send_signal(signal.SIGUSR1)
try:
    _, err = p.communicate(timeout=60)
except subprocess.TimeoutExpired:
    p.kill()
    _, err = p.communicate()
check("joint SIGUSR1: exit 4, default checkpoint OUTPUT.ckpt.h5, no output",
      p.returncode == 4 and not os.path.exists(jsig_out) and checkpoint_iterations(jsig_out + ".ckpt.h5") > 0,
      f"status={p.returncode} stderr={err!r}")

print(f"prism checkpoint cli: {cli_checks.passed} passed, {cli_checks.failed} failed")
shutil.rmtree(work, ignore_errors=True) if cli_checks.failed == 0 else print(f"kept {work}")
sys.exit(1 if cli_checks.failed else 0)
