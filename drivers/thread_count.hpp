#pragma once
/// @file
/// --threads N: the threads each rank runs, for OpenMP (the HALS / MU / BPP sweeps, the sparse products)
/// and for OpenBLAS (the dense products and Grams). Drivers only; the library never sets thread counts.

namespace prism::drivers {

/// Sets OpenMP's and, when the BLAS linked is OpenBLAS, OpenBLAS's thread count of this process to
/// `threads` (>= 1). Local. Without --threads the drivers leave both as the environment set them
/// (OMP_NUM_THREADS, OPENBLAS_NUM_THREADS).
void set_threads_per_rank(int threads);

/// OpenMP's thread count for the next parallel region (1 when built without OpenMP).
int openmp_threads();

/// OpenBLAS's thread count, or -1 when the BLAS linked is not OpenBLAS.
int openblas_threads();

} // namespace prism::drivers
