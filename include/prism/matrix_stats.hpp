#pragma once
/// Global statistics of a distributed matrix, computed in parallel: the facts input validation and
/// `prism-info` need (range, non-finite and negative entries with their first position, empty rows/columns).

#include <cstdint>

#include "prism/dist_matrix.hpp"
#include "prism/matrix_ref.hpp"
#include "prism/sparse_matrix.hpp"

namespace prism {

/// A global position; row = col = -1 when there is none.
struct Position {
    gidx row = -1;
    gidx col = -1;
    bool exists() const noexcept { return row >= 0; }
};

struct MatrixStats {
    gidx rows = 0, cols = 0;
    double min = 0, max = 0; ///< over finite entries (0 if none)
    double sum_squares = 0;  ///< over finite entries: ||X||_F^2
    std::int64_t nonzeros = 0;
    std::int64_t nan_count = 0, inf_count = 0, negative_count = 0;
    Position first_nan, first_inf, first_negative; ///< first in row-major order
    double first_negative_value = 0;
    std::int64_t zero_rows = 0, zero_cols = 0; ///< rows/columns with no nonzero entry (NaN counts as nonzero)
    Position first_zero_row_col;               ///< (first zero row, first zero column), -1 if none
};

/// Collective on a.grid().comm(): every rank returns the same statistics. -0.0 is zero, not negative.
/// Sparse matrices: only stored values are visited (never a dense block); an explicitly stored zero is a
/// zero (not a nonzero), and unstored entries are zeros for min / max.
template <typename T> MatrixStats compute_stats(MatrixRef<T> a);
template <typename T> MatrixStats compute_stats(const DistMatrix<T> &a) {
    return compute_stats(MatrixRef<T>(a));
}
template <typename T> MatrixStats compute_stats(const SparseDistMatrix<T> &a) {
    return compute_stats(MatrixRef<T>(a));
}

} // namespace prism
