#!/usr/bin/env bash
# End-to-end checks of the drivers under mpirun: correct output on real data, and bad input giving one
# clear line, a non-zero exit on every rank, within a time bound.
# Usage: test_drivers.sh BIN_DIR DATA_DIR MPIEXEC "MPIEXEC_PREFLAGS"
set -u
bin=$1 data=$2 mpiexec=$3
read -r -a preflags <<<"${4//;/ }"
# Open MPI's own banner about non-zero exits would hide whether the program printed one line: -q drops it.
"$mpiexec" --version 2>&1 | grep -qE "Open MPI|OpenRTE" && preflags+=(-q)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
pass=0

run() { # run NP ARGS... -> sets out, err, status
    local np=$1
    shift
    timeout 60 "$mpiexec" -n "$np" "${preflags[@]}" "$@" >"$work/out" 2>"$work/err"
    status=$?
    out=$(cat "$work/out")
    err=$(cat "$work/err")
}
check() { # check NAME CONDITION-RESULT
    if [ "$2" = 0 ]; then pass=$((pass + 1)); else
        failures=$((failures + 1))
        echo "FAIL: $1"
        echo "  status=$status"
        echo "  stdout: ${out:0:2000}"
        echo "  stderr: ${err:0:2000}"
    fi
}
expect_error() { # NAME EXPECTED-SUBSTRING NP ARGS...
    local name=$1 expected=$2
    shift 2
    run "$@"
    [ "$status" = 2 ] && [ "$(grep -c . <<<"$err")" = 1 ] && grep -qF -- "$expected" <<<"$err"
    check "$name" $?
}

golub="$data/golub_esgolub.h5"
# prism-info on the real data: shape, statistics known from the data's own attributes.
run 4 "$bin/prism-info" "$golub"
[ "$status" = 0 ] && grep -q "shape      5000 x 38" <<<"$out" && grep -q "min        20$" <<<"$out" &&
    grep -q "max        61225$" <<<"$out" && grep -q "NaN        0$" <<<"$out" &&
    grep -q "negative   0$" <<<"$out" && grep -q "zero rows  0$" <<<"$out" && grep -q "grid       4x1" <<<"$out" &&
    grep -q "rank 3 (3,0): local block 1216 x 38" <<<"$out" && grep -q "filters: shuffle+deflate" <<<"$out"
check "prism-info golub at 4 ranks" $?
run 6 "$bin/prism-info" "$data/miniacc_multiomics.h5:/Mutations/X" --grid 2x3 --block 8 --check
[ "$status" = 0 ] && grep -q "shape      58 x 75" <<<"$out" && grep -q "zero cols  46" <<<"$out" &&
    grep -q "max        1$" <<<"$out"
check "prism-info miniACC Mutations at 2x3" $?
run 2 "$bin/prism-info" --help
[ "$status" = 0 ] && grep -q -- "--grid" <<<"$out"
check "prism-info --help" $?

expect_error "missing dataset" "error: '$golub': no dataset '/Y' (nor a sparse matrix group of that name; found: /X, /col_annot, /col_names, /row_names)" \
    4 "$bin/prism-info" "$golub:/Y"
expect_error "missing file" "error: 'nope.h5': no such file" 4 "$bin/prism-info" nope.h5
expect_error "grid mismatch" "error: process grid 3x2 = 6 ranks does not match the 4 MPI ranks" \
    4 "$bin/prism-info" "$golub" --grid 3x2
expect_error "bad grid text" "error: invalid grid '0x4'" 4 "$bin/prism-info" "$golub" --grid 0x4
expect_error "unknown option" "unrecognised option '--frobnicate'" 2 "$bin/prism-info" "$golub" --frobnicate
expect_error "1-D dataset" "has 1 dimensions" 2 "$bin/prism-info" "$golub:/col_names"
head -c 5000 "$golub" >"$work/truncated.h5"
expect_error "truncated file" "not a readable HDF5 file" 2 "$bin/prism-info" "$work/truncated.h5"

echo "drivers: $pass passed, $failures failed"
[ "$failures" = 0 ]
