#!/usr/bin/env bash
# The summary table of a rank sweep: one line per output OUTDIR/k<k>-seed<seed>.h5, read from its root
# attributes (rank, seed, relative_error, iterations, wall_seconds), sorted by k then seed, written to
# TABLE (default OUTDIR/summary.tsv, tab-separated with a header line). Runs as a batch job after the
# array (submit-sweep.sh queues it with --dependency=afterok) or by hand:
#   slurm/prism-sweep-summary.sh OUTDIR [TABLE]
# With PRISM_RANKS/PRISM_SEEDS set, every (k, seed) pair must have its output (exit 1 names the missing).
#SBATCH --job-name=prism-sweep-summary
#SBATCH --ntasks=1
#SBATCH --output=%x-%j.out
set -uo pipefail

outdir=${1:-${PRISM_SWEEP_DIR:-}}
[ -n "$outdir" ] || {
    echo "usage: $0 OUTDIR [TABLE]" >&2
    exit 2
}
table=${2:-$outdir/summary.tsv}
command -v h5dump >/dev/null || {
    echo "prism-sweep-summary: error: h5dump not found (HDF5 tools; Debian: hdf5-tools)" >&2
    exit 2
}

if [ -n "${PRISM_RANKS:-}" ]; then
    files=()
    for k in $PRISM_RANKS; do
        for seed in ${PRISM_SEEDS:-1}; do files+=("$outdir/k$k-seed$seed.h5"); done
    done
else
    shopt -s nullglob
    files=()
    for f in "$outdir"/k*-seed*.h5; do
        [[ $f =~ /k[0-9]+-seed[0-9]+\.h5$ ]] && files+=("$f") # not the checkpoints (*.h5.ckpt.h5)
    done
fi
[ ${#files[@]} -gt 0 ] || {
    echo "prism-sweep-summary: error: no k*-seed*.h5 outputs in $outdir" >&2
    exit 1
}

missing=0
rows=$(mktemp)
trap 'rm -f "$rows"' EXIT
for f in "${files[@]}"; do
    if [ ! -f "$f" ]; then
        echo "prism-sweep-summary: error: missing output $f" >&2
        missing=1
        continue
    fi
    # h5dump prints each attribute's value as "(0): VALUE", in the order asked; %.17g keeps every digit.
    values=$(h5dump -m %.17g -a rank -a seed -a relative_error -a iterations -a wall_seconds "$f" 2>/dev/null |
        sed -n 's/^ *(0): //p' | paste -sd '\t')
    if [ "$(awk -F '\t' '{print NF}' <<<"$values")" != 5 ]; then
        echo "prism-sweep-summary: error: $f lacks the run attributes (not a complete prism output?)" >&2
        missing=1
        continue
    fi
    # Seconds to 4 digits; the relative error keeps all 17.
    awk -F '\t' -v OFS='\t' -v out="$(basename "$f")" '{ $5 = sprintf("%.4g", $5); print $0, out }' \
        <<<"$values" >>"$rows"
done
{
    printf 'k\tseed\trelative_error\titerations\tseconds\toutput\n'
    sort -t "$(printf '\t')" -k1,1n -k2,2n "$rows"
} >"$table.tmp" && mv "$table.tmp" "$table"
echo "prism-sweep-summary: wrote $table ($(($(wc -l <"$table") - 1)) runs)"
exit "$missing"
