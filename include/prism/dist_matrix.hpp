#pragma once
/// DistMatrix<T>: a dense m x n matrix in the 2D block-cyclic layout [MC,MR] of a Grid, ScaLAPACK-compatible.

#include <array>
#include <vector>

#include "prism/block_cyclic.hpp"
#include "prism/grid.hpp"
#include "prism/types.hpp"

namespace prism {

/// Default distribution block (rows and columns). NMF touches X only through local BLAS-3 products, which
/// do not care about the block size; the block matters for load balance (smaller is more even) and for
/// ScaLAPACK routines (64 is their usual sweet spot).
constexpr gidx default_block = 64;

/// Global m x n matrix; block (I, J) of size mb x nb lives on grid process (I mod pr, J mod pc). Each rank
/// stores its blocks as one column-major local matrix of local_rows() x local_cols() with leading
/// dimension ld() = max(1, local_rows()), exactly as ScaLAPACK expects.
template <typename T> class DistMatrix {
  public:
    /// Allocates (zero-filled) storage. Collective on grid.comm(): an allocation failure on any rank throws
    /// the same prism::Error on every rank.
    DistMatrix(const Grid &grid, gidx m, gidx n, gidx mb = default_block, gidx nb = default_block);

    DistMatrix(DistMatrix &&) noexcept = default;
    DistMatrix &operator=(DistMatrix &&) noexcept = default;
    DistMatrix(const DistMatrix &) = delete;
    DistMatrix &operator=(const DistMatrix &) = delete;

    const Grid &grid() const noexcept { return *grid_; }
    gidx rows() const noexcept { return row_dist_.size(); }
    gidx cols() const noexcept { return col_dist_.size(); }
    /// Distribution of the row index over the grid's process rows.
    const BlockCyclic &row_dist() const noexcept { return row_dist_; }
    /// Distribution of the column index over the grid's process columns.
    const BlockCyclic &col_dist() const noexcept { return col_dist_; }

    lidx local_rows() const noexcept { return local_rows_; }
    lidx local_cols() const noexcept { return local_cols_; }
    lidx ld() const noexcept { return ld_; }
    T *data() noexcept { return data_.data(); }
    const T *data() const noexcept { return data_.data(); }
    T &local(lidx i_loc, lidx j_loc) noexcept { return data_[static_cast<std::size_t>(i_loc + j_loc * ld_)]; }
    const T &local(lidx i_loc, lidx j_loc) const noexcept {
        return data_[static_cast<std::size_t>(i_loc + j_loc * ld_)];
    }
    /// Global row of local row i_loc on this rank.
    gidx global_row(lidx i_loc) const noexcept { return row_dist_.to_global(i_loc, grid_->my_row()); }
    /// Global column of local column j_loc on this rank.
    gidx global_col(lidx j_loc) const noexcept { return col_dist_.to_global(j_loc, grid_->my_col()); }

    /// ScaLAPACK array descriptor (DESC_ of a dense matrix). Throws prism::Error if a size exceeds int.
    /// Local: no communication.
    std::array<int, 9> descriptor() const;

  private:
    const Grid *grid_;
    BlockCyclic row_dist_;
    BlockCyclic col_dist_;
    lidx local_rows_ = 0;
    lidx local_cols_ = 0;
    lidx ld_ = 1;
    std::vector<T> data_;
};

} // namespace prism
