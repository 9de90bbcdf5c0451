#!/usr/bin/env bash
# Smoke test of prism-bench (not a timing test): a tiny run must exit 0 and print one table row with a
# ratio per algorithm. Usage: smoke_test.sh PRISM_BENCH MPIEXEC NUMPROC_FLAG "MPIEXEC_PREFLAGS"
set -u
bench=$1 mpiexec=$2 npflag=$3
read -r -a preflags <<<"${4//;/ }"
out=$(timeout 120 "$mpiexec" "$npflag" 2 "${preflags[@]}" "$bench" --m 200 --n 100 --k 5 --iterations 2 \
      --warmup 1 --floor-repeats 3 2>&1)
status=$?
echo "$out"
[ "$status" = 0 ] || { echo "FAIL: exit status $status"; exit 1; }
grep -qE '^algorithm +s/iter +products +grams +nnls +comm +other +floor +ratio' <<<"$out" || { echo "FAIL: no header"; exit 1; }
for a in hals anls-bpp mu; do
    grep -qE "^$a( +[0-9.e+-]+){8} +[0-9.e+-]+$" <<<"$out" || { echo "FAIL: no ratio line for $a"; exit 1; }
done
# The sparse case: same table, plus the per-rank nonzero balance and the memory line against the nonzeros.
out=$(timeout 120 "$mpiexec" "$npflag" 2 "${preflags[@]}" "$bench" --m 300 --n 200 --k 5 --sparse 0.05 \
      --iterations 2 --warmup 1 --floor-repeats 3 2>&1)
status=$?
echo "$out"
[ "$status" = 0 ] || { echo "FAIL: sparse exit status $status"; exit 1; }
for a in hals anls-bpp mu; do
    grep -qE "^$a( +[0-9.e+-]+){8} +[0-9.e+-]+$" <<<"$out" || { echo "FAIL: no sparse ratio line for $a"; exit 1; }
done
grep -qE 'stored entries per rank min / mean / max [0-9]+ / [0-9]+ / [0-9]+' <<<"$out" || { echo "FAIL: no balance"; exit 1; }
grep -qE 'peak RSS / nonzero bytes' <<<"$out" || { echo "FAIL: no memory line"; exit 1; }
# --calibrate: the three cost-model constants, positive numbers, at 2 ranks (so beta is measured).
out=$(timeout 120 "$mpiexec" "$npflag" 2 "${preflags[@]}" "$bench" --calibrate 2>&1)
status=$?
echo "$out"
[ "$status" = 0 ] || { echo "FAIL: calibrate exit status $status"; exit 1; }
for c in alpha beta gamma; do
    grep -qE "^  $c +=? +[0-9][0-9.e+-]* (us|ns|ps) per" <<<"$out" || { echo "FAIL: no $c line"; exit 1; }
done
echo "PASS"
