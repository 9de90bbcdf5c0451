#pragma once
/// Local sparse x dense products of a SparseDistMatrix block with a gathered factor: the sparse
/// counterpart of dist_products.hpp's local_product, writing the same row-major `partial` layout, so the
/// reduce-scatter and everything after it is shared with the dense path.
///
/// Threads (OpenMP) never race and no transposed copy of X is stored:
///   side w  (X_ij H_j^T, mr x k): rows split between threads, balanced by nonzeros (row_ptr bisection);
///   side ht (X_ij^T W_i, nc x k): the scatter is split by *column ranges*, balanced by nonzeros with the
///     block's column prefix counts; each thread walks every row and finds its column range in it by
///     binary search (columns are sorted within a row), so each output row has exactly one writer. The
///     searches are not cached: 2 log2(row length) compares per row and thread, against the row's
///     k-wide updates (< 1 % at k = 30), and no per-row state to store.
/// Measured against thread-private local_cols x k accumulators reduced afterwards (bench/README.md), the
/// column ranges were faster and need no extra memory.
/// Sums run in T, entry by entry in stored order for a given output row and thread count.

#include "prism/factor.hpp"
#include "prism/sparse_matrix.hpp"
#include "prism/types.hpp"

namespace prism {

/// partial = alpha X_ij H_j^T (side w, local_rows x k row-major, `other` = gathered H^T rows) or
/// alpha X_ij^T W_i (side ht, local_cols x k row-major, `other` = gathered W rows); with `accumulate`,
/// partial += instead of =. With a non-null `col_mask` (one char per local column) only the columns with
/// col_mask[j] != 0 take part (X restricted to them; with `accumulate`, masked output rows stay as they are).
/// `partial` must hold the output's rows x k values. Local: no communication.
template <typename T>
void sparse_local_product(const SparseDistMatrix<T> &x,
                          const T *other,
                          FactorSide side,
                          gidx k,
                          T alpha,
                          const char *col_mask,
                          bool accumulate,
                          T *partial);

/// Per-rank counts of stored entries over the whole grid, for load-balance logs. Collective on
/// x.grid().comm(): every rank gets the same values.
struct NnzBalance {
    std::int64_t min = 0, max = 0, total = 0;
    double mean = 0;
    /// max / mean (1 = perfect balance; 0 when there are no entries).
    double imbalance() const noexcept { return mean > 0 ? static_cast<double>(max) / mean : 0.0; }
};
template <typename T> NnzBalance nnz_balance(const SparseDistMatrix<T> &x);

} // namespace prism
