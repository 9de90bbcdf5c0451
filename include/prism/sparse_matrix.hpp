#pragma once
/// SparseDistMatrix<T>: a sparse m x n matrix in the same 2D block-cyclic layout [MC,MR] as DistMatrix<T>,
/// each rank's local block stored compressed by rows (CSR) in the local index space.
///
/// Same distribution as a dense DistMatrix built with the same (grid, m, n, mb, nb): local row i_loc is
/// global row row_dist().to_global(i_loc, grid.my_row()), local column j_loc is global column
/// col_dist().to_global(j_loc, grid.my_col()). So Factor<T>s, products and the NMF iteration line up with
/// either kind without index translation. Nothing here ever forms a dense local block.

#include <cstdint>
#include <string>
#include <vector>

#include "prism/block_cyclic.hpp"
#include "prism/grid.hpp"
#include "prism/types.hpp"

namespace prism {

/// One rank's local block in CSR: row_ptr has rows + 1 entries (64-bit offsets, non-decreasing, row_ptr[0]
/// = 0, row_ptr[rows] = nnz); col[p] in [0, cols) is the *local* column of values[p]. Within a row, columns
/// are strictly increasing (no duplicates). A plain aggregate that readers fill; SparseDistMatrix checks it.
template <typename T> struct CsrBlock {
    lidx rows = 0;
    lidx cols = 0;
    std::vector<std::int64_t> row_ptr; ///< rows + 1 offsets (may be empty only when rows == 0 and nnz == 0)
    std::vector<std::int32_t> col;     ///< local column of each stored entry (local_cols < 2^31, checked)
    std::vector<T> values;
    lidx nnz() const noexcept { return static_cast<lidx>(values.size()); }
};

template <typename T> class SparseDistMatrix {
  public:
    /// Adopts `local` as this rank's block of a global m x n matrix with blocks mb x nb. Collective on
    /// grid.comm(): a block whose shape is not this rank's local shape, a malformed row_ptr, a column out of
    /// range, unsorted or duplicate columns within a row on any rank throws the same prism::Error on every
    /// rank (`name` names the source, e.g. "'x.h5':/X", for the message).
    SparseDistMatrix(const Grid &grid,
                     gidx m,
                     gidx n,
                     gidx mb,
                     gidx nb,
                     CsrBlock<T> &&local,
                     const std::string &name = "sparse matrix");

    SparseDistMatrix(SparseDistMatrix &&) noexcept = default;
    SparseDistMatrix &operator=(SparseDistMatrix &&) noexcept = default;
    SparseDistMatrix(const SparseDistMatrix &) = delete;
    SparseDistMatrix &operator=(const SparseDistMatrix &) = delete;

    const Grid &grid() const noexcept { return *grid_; }
    gidx rows() const noexcept { return row_dist_.size(); }
    gidx cols() const noexcept { return col_dist_.size(); }
    const BlockCyclic &row_dist() const noexcept { return row_dist_; }
    const BlockCyclic &col_dist() const noexcept { return col_dist_; }
    lidx local_rows() const noexcept { return block_.rows; }
    lidx local_cols() const noexcept { return block_.cols; }
    /// Stored entries on this rank (explicit zeros count). Local.
    lidx local_nnz() const noexcept { return block_.nnz(); }
    const CsrBlock<T> &block() const noexcept { return block_; }
    /// The stored values, for in-place entry-wise transforms (log1p): the sparsity structure stays fixed.
    std::vector<T> &values() noexcept { return block_.values; }
    gidx global_row(lidx i_loc) const noexcept { return row_dist_.to_global(i_loc, grid_->my_row()); }
    gidx global_col(lidx j_loc) const noexcept { return col_dist_.to_global(j_loc, grid_->my_col()); }
    /// Prefix counts of stored entries per local column (local_cols() + 1 values, last = local_nnz()),
    /// computed once at construction: the transposed product splits its columns between threads by them.
    const std::vector<std::int64_t> &column_prefix() const noexcept { return column_prefix_; }

  private:
    const Grid *grid_;
    BlockCyclic row_dist_;
    BlockCyclic col_dist_;
    CsrBlock<T> block_;
    std::vector<std::int64_t> column_prefix_;
};

} // namespace prism
