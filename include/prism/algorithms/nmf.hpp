#pragma once
/// Distributed NMF: X (m x n) ~= W (m x k) H (k x n), W, H >= 0, by ANLS with block principal pivoting,
/// HALS or MU, on the 2D layout of X's grid (MPI-FAUN communication pattern, see src/algorithms/nmf.cpp).
/// X is dense (DistMatrix) or sparse (SparseDistMatrix): every function takes either (through MatrixRef)
/// and runs the same algorithm; only the local products and sums differ, and a sparse X is never densified.

#include <cstdint>
#include <string>

#include "prism/algorithms/options.hpp"
#include "prism/dist_matrix.hpp"
#include "prism/factor.hpp"
#include "prism/matrix_ref.hpp"
#include "prism/permutation.hpp"
#include "prism/sparse_matrix.hpp"

namespace prism {

/// Refuses data NMF cannot take, with one clear line naming `name` (e.g. "'x.h5':/X"), the count and the
/// first offending (row, column): NaN/Inf, negative entries (-0.0 is fine), k < 1 or k > min(m, n), an
/// empty matrix. Returns ||X||_F^2. Collective on x.grid().comm(): every rank throws the same Error.
template <typename T> double validate_nmf_input(MatrixRef<T> x, gidx k, const std::string &name);
template <typename T> double validate_nmf_input(const DistMatrix<T> &x, gidx k, const std::string &name) {
    return validate_nmf_input(MatrixRef<T>(x), k, name);
}
template <typename T>
double validate_nmf_input(const SparseDistMatrix<T> &x, gidx k, const std::string &name) {
    return validate_nmf_input(MatrixRef<T>(x), k, name);
}

/// Fills W and H^T with uniform values in [0, scale) where scale = sqrt(mean(X) / k), each entry a pure
/// function of (seed, factor, global row, column): the same initial factors for any number of ranks, grid
/// shape or block size. With `origin` (a --permute run) entries are keyed by the original row / column,
/// so the permuted run starts from the permuted unpermuted start. Collective on the grid (one all-reduce
/// for mean(X)).
template <typename T>
void initialize_random(NoDeduce<MatrixRef<T>> x,
                       Factor<T> &w,
                       Factor<T> &ht,
                       std::uint64_t seed,
                       const IndexOrigin &origin = {});

/// Runs NMF from the W and H^T given (initialised by the caller). Collective on x.grid().comm().
/// @param[in]     x     the data, m x n, non-negative (see validate_nmf_input)
/// @param[in,out] w     W, m x k, aligned with x's rows
/// @param[in,out] ht    H^T, n x k, aligned with x's columns
/// @param[in]     opts  algorithm, stopping rules, penalties, callbacks
template <typename T>
NmfInfo nmf(NoDeduce<MatrixRef<T>> x, Factor<T> &w, Factor<T> &ht, const NmfOptions &opts);

/// ||X - W H||_F / ||X||_F computed directly (one extra product, block by block, no m x n temporary), for
/// final reports and tests: the trace identity used per iteration loses accuracy below ~1e-7.
/// Collective on x.grid().comm().
template <typename T>
double relative_error_exact(NoDeduce<MatrixRef<T>> x, const Factor<T> &w, const Factor<T> &ht);

} // namespace prism
