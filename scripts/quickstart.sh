#!/usr/bin/env bash
# The README's two commands:
#   scripts/quickstart.sh demo   install what is missing, build, run the main job on the bundled real data
#   scripts/quickstart.sh test   install what is missing, build, run the whole test suite (what CI runs)
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-demo}
jobs=$(nproc 2>/dev/null || echo 2)

scripts/setup-debian.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >build-configure.log 2>&1 || { cat build-configure.log; exit 1; }
cmake --build build -j "$jobs" >build.log 2>&1 || { tail -50 build.log; exit 1; }

# Open MPI refuses to start as root unless told (containers, CI); nothing else needs root.
if [ "$(id -u)" = 0 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
mpirun_flags=(--oversubscribe --mca mpi_yield_when_idle 1 -q)

case "$mode" in
demo)
    export OMP_NUM_THREADS=1
    mkdir -p results
    # The main job: joint NMF of the four TCGA ACC omics (RNA-seq, miRNA-seq, mutations, copy number) over
    # their 75 shared patients, factors compared with the published integrative clusters.
    mpirun -np 4 "${mpirun_flags[@]}" build/drivers/prism-joint --input data/miniacc_multiomics.h5 --rank 3 \
        --log1p RNASeq2GeneNorm,miRNASeqGene --algorithm anls-bpp --labels /sample_annot/COC \
        --output results/acc-joint-k3.h5 --force --log-every 5
    ;;
test)
    cd build
    ctest -j "$jobs" --output-on-failure --timeout 600
    ;;
*)
    echo "usage: $0 demo|test" >&2
    exit 2
    ;;
esac
