#!/usr/bin/env bash
# Smoke test of prism-bench (not a timing test): a tiny run must exit 0 and print one table row with a
# ratio per algorithm. Usage: smoke_test.sh PRISM_BENCH MPIEXEC NUMPROC_FLAG "MPIEXEC_PREFLAGS"
set -u
bench=$1 mpiexec=$2 npflag=$3
read -r -a preflags <<<"${4//;/ }"
num_re='[0-9][0-9.e+-]*'
out=$(timeout 120 "$mpiexec" "$npflag" 2 "${preflags[@]}" "$bench" --m 200 --n 100 --k 5 --iterations 2 \
      --warmup 1 --floor-repeats 3 2>&1)
status=$?
echo "$out"
[ "$status" = 0 ] || { echo "FAIL: exit status $status"; exit 1; }
grep -qE '^algorithm +s/iter +products +grams +nnls +comm +other +floor +ratio +med.iter +med.ratio +rel.error' <<<"$out" || { echo "FAIL: no header"; exit 1; }
for a in hals anls-bpp mu; do
    grep -qE "^$a( +[0-9.e+-]+){10} +[0-9.e+-]+$" <<<"$out" || { echo "FAIL: no ratio line for $a"; exit 1; }
done
# The sparse case: same table, plus the per-rank nonzero balance and the memory line against the nonzeros.
out=$(timeout 120 "$mpiexec" "$npflag" 2 "${preflags[@]}" "$bench" --m 300 --n 200 --k 5 --sparse 0.05 \
      --iterations 2 --warmup 1 --floor-repeats 3 2>&1)
status=$?
echo "$out"
[ "$status" = 0 ] || { echo "FAIL: sparse exit status $status"; exit 1; }
for a in hals anls-bpp mu; do
    grep -qE "^$a( +[0-9.e+-]+){10} +[0-9.e+-]+$" <<<"$out" || { echo "FAIL: no sparse ratio line for $a"; exit 1; }
done
grep -qE 'stored entries per rank min / mean / max [0-9]+ / [0-9]+ / [0-9]+' <<<"$out" || { echo "FAIL: no balance"; exit 1; }
grep -qE 'peak RSS / nonzero bytes' <<<"$out" || { echo "FAIL: no memory line"; exit 1; }
# The memory target and the RSS after each stage (MPI init, data, each algorithm's iterations and floor).
grep -qE "memory target .* peak / target $num_re, \(peak - RSS at MPI init\) / target $num_re$" <<<"$out" ||
    { echo "FAIL: no memory target line"; exit 1; }
grep -qE "RSS MiB now / peak \(max over ranks\) after: MPI init $num_re / $num_re, data $num_re / $num_re, hals iterations .*, mu floor $num_re / $num_re$" <<<"$out" ||
    { echo "FAIL: no RSS stages line"; exit 1; }
# --calibrate: the three cost-model constants, positive numbers, at 2 ranks (so beta is measured).
out=$(timeout 120 "$mpiexec" "$npflag" 2 "${preflags[@]}" "$bench" --calibrate 2>&1)
status=$?
echo "$out"
[ "$status" = 0 ] || { echo "FAIL: calibrate exit status $status"; exit 1; }
for c in alpha beta gamma; do
    grep -qE "^  $c +=? +[0-9][0-9.e+-]* (us|ns|ps) per" <<<"$out" || { echo "FAIL: no $c line"; exit 1; }
done
# --model: one prediction line per algorithm and rank count (given as a list and repeated), the measured
# s/iter and its ratio only for this run's rank count; 1 rank has no peer for alpha and beta.
num='[0-9][0-9.e+-]*'
for np in 2 1; do
    out=$(timeout 120 "$mpiexec" "$npflag" $np "${preflags[@]}" "$bench" --m 200 --n 100 --k 5 --iterations 2 \
          --warmup 1 --floor-repeats 3 --model 1,2,4 --model 4096 2>&1)
    status=$?
    echo "$out"
    [ "$status" = 0 ] || { echo "FAIL: --model exit status $status at $np ranks"; exit 1; }
    grep -qE '^model +algorithm +P +grid +s/iter +compute +words +latency +measured +meas/model$' <<<"$out" ||
        { echo "FAIL: no model header at $np ranks"; exit 1; }
    for a in hals anls-bpp mu; do
        for p in 1 2 4 4096; do
            if [ "$p" = "$np" ]; then tail="( +$num){2}"; else tail=" +- +-"; fi
            grep -qE "^model +$a +$p +[0-9]+x[0-9]+( +$num){4}$tail$" <<<"$out" ||
                { echo "FAIL: no model line for $a at P = $p ($np ranks)"; exit 1; }
        done
        [ "$(grep -cE "^model +$a " <<<"$out")" = 4 ] || { echo "FAIL: not 4 model lines for $a"; exit 1; }
    done
    grep -q 'model  hals         4096     64x64' <<<"$out" || { echo "FAIL: 4096 ranks not on a 64x64 grid"; exit 1; }
done
grep -q 'no peer at 1 rank' <<<"$out" || { echo "FAIL: 1 rank does not say alpha and beta have no peer"; exit 1; }
# A bad rank count is one error line and exit status 2.
out=$(timeout 60 "$mpiexec" "$npflag" 2 "${preflags[@]}" "$bench" --model 2,0 2>&1)
status=$?
[ "$status" = 2 ] || { echo "FAIL: --model 2,0 exit status $status"; exit 1; }
grep -q "prism-bench: error: invalid --model '2,0'" <<<"$out" || { echo "FAIL: no --model error line"; exit 1; }
for bad in "--alpha -1|--alpha must be" "--beta nan|--beta must be" "--model 2 --calibrate|exclude each other"; do
    args=${bad%%|*} expected=${bad#*|}
    # shellcheck disable=SC2086
    out=$(timeout 60 "$mpiexec" "$npflag" 2 "${preflags[@]}" "$bench" $args 2>&1)
    status=$?
    [ "$status" = 2 ] && grep -q "prism-bench: error: .*$expected" <<<"$out" ||
        { echo "FAIL: '$args' status $status: $out"; exit 1; }
done
echo "PASS"
