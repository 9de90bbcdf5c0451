#!/usr/bin/env bash
# Submits a rank sweep and its summary:
#   PRISM_RANKS="2 3 4 5" PRISM_SEEDS="1 2 3" slurm/submit-sweep.sh INPUT OUTDIR [prism options]
# the array job (slurm/prism-sweep.sbatch, one task per (k, seed)) and, with --dependency=afterok on the whole
# array, slurm/prism-sweep-summary.sh writing OUTDIR/summary.tsv. Extra sbatch options for both jobs go in
# PRISM_SBATCH_OPTIONS (e.g. "--partition=short --time=1:00:00"), for the array alone in
# PRISM_ARRAY_OPTIONS (e.g. "--ntasks=4 --cpus-per-task=2", or "%4" appended to limit concurrent tasks via
# PRISM_ARRAY_LIMIT=4). Prints the two job ids.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 2 ] || {
    echo "usage: PRISM_RANKS=\"2 3 4\" PRISM_SEEDS=\"1 2\" $0 INPUT OUTDIR [prism options]" >&2
    exit 2
}
export PRISM_RANKS=${PRISM_RANKS:-2 3 4 5 6} PRISM_SEEDS=${PRISM_SEEDS:-1}
read -r -a ranks <<<"$PRISM_RANKS"
read -r -a seeds <<<"$PRISM_SEEDS"
tasks=$((${#ranks[@]} * ${#seeds[@]}))
[ "$tasks" -gt 0 ] || {
    echo "submit-sweep: error: PRISM_RANKS and PRISM_SEEDS must not be empty" >&2
    exit 2
}
outdir=$2
mkdir -p "$outdir"
array="0-$((tasks - 1))${PRISM_ARRAY_LIMIT:+%$PRISM_ARRAY_LIMIT}"
# shellcheck disable=SC2086
array_job=$(sbatch --parsable ${PRISM_SBATCH_OPTIONS:-} ${PRISM_ARRAY_OPTIONS:-} --array="$array" \
    "$here/prism-sweep.sbatch" "$@")
array_job=${array_job%%;*}
# afterok on the array id waits for every task; DependencyParameters=kill_invalid_depend (or scancel)
# removes the summary when a task fails.
# shellcheck disable=SC2086
summary_job=$(sbatch --parsable ${PRISM_SBATCH_OPTIONS:-} --dependency=afterok:"$array_job" \
    "$here/prism-sweep-summary.sh" "$outdir")
summary_job=${summary_job%%;*}
echo "submit-sweep: array job $array_job ($tasks tasks: k in ${ranks[*]}, seeds ${seeds[*]}), summary job $summary_job -> $outdir/summary.tsv"
echo "$array_job $summary_job"
