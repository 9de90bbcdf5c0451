#!/usr/bin/env bash
# CTest fixture around scripts/slurm-testbed.sh: `start` brings up the single-node Slurm the slurm tests
# use, `stop` takes it down (by pid). When Slurm cannot be had on this machine (not root, no apt-get, the
# packages cannot be installed), start writes the reason to DIR/unavailable and succeeds, so the tests skip
# with that message; any other failure to start fails the fixture (and so every slurm test).
# Usage: testbed_fixture.sh start|stop DIR TESTBED_SCRIPT
set -u
action=$1 dir=$2 testbed=$3
mkdir -p "$dir"
case "$action" in
start)
    rm -f "$dir/unavailable"
    started=$(date +%s.%N)
    bash "$testbed" start "$dir" 2>"$dir/start.err"
    status=$?
    cat "$dir/start.err" >&2
    if [ $status = 3 ]; then
        tail -1 "$dir/start.err" >"$dir/unavailable"
        echo "Slurm test bed unavailable (the slurm tests will skip): $(cat "$dir/unavailable")"
        exit 0
    fi
    [ $status = 0 ] || exit 1
    echo "Slurm test bed up in $(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s: $dir"
    SLURM_CONF=$dir/slurm.conf sinfo
    ;;
stop)
    [ -f "$dir/unavailable" ] && exit 0
    bash "$testbed" stop "$dir" || exit 1
    echo "Slurm test bed stopped"
    ;;
*)
    echo "usage: $0 start|stop DIR TESTBED_SCRIPT" >&2
    exit 2
    ;;
esac
