#pragma once
/// Factor<T>: a tall-skinny NMF factor (W, m x k, or H^T, n x k) distributed so that every factor row is
/// stored on exactly one rank, aligned with the block-cyclic rows (or columns) of the data matrix.
///
/// Layout (MPI-FAUN). Take W and the data X (m x n) on a pr x pc grid. The rows of X that grid row i owns
/// (X's row distribution, `dist`) are, in local order, split into pc contiguous slabs; rank (i, j) stores
/// slab j. All-gathering the slabs over the grid row (row_comm) yields W_i, the W rows matching X_ij's
/// local rows, in X's local order, with no index translation. H^T is the same construction on X's column
/// distribution, split over the grid column (col_comm). In Elemental's notation the gathered forms are
/// W[MC,*] and H^T[MR,*].
///
/// Each rank's slab is stored row-major (rows() x k, the k values of a row contiguous): slabs then
/// concatenate into the gathered form, and the gathered form is a column-major k x rows matrix for BLAS.

#include <vector>

#include "prism/block_cyclic.hpp"
#include "prism/dist_matrix.hpp"
#include "prism/grid.hpp"
#include "prism/mpi/comm.hpp"

namespace prism {

/// Which factor: W follows X's rows (split over the grid row), H^T follows X's columns (split over the
/// grid column).
enum class FactorSide { w, ht };

template <typename T> class Factor {
  public:
    /// A zero-filled factor with k columns aligned with the dimension of the data distributed by `dist` on
    /// `grid` (the data's row_dist() for side w, col_dist() for side ht). Collective on the grid (agreed
    /// allocation).
    Factor(const Grid &grid, const BlockCyclic &dist, FactorSide side, gidx k);

    /// Same, aligned with `x`'s rows (side w) or columns (side ht); `x` is any data matrix of the 2D
    /// layout (DistMatrix, SparseDistMatrix, MatrixRef).
    template <typename Matrix>
    Factor(const Matrix &x, FactorSide side, gidx k)
        : Factor(x.grid(), side == FactorSide::w ? x.row_dist() : x.col_dist(), side, k) {}

    Factor(Factor &&) noexcept = default;
    Factor &operator=(Factor &&) noexcept = default;
    Factor(const Factor &) = delete;
    Factor &operator=(const Factor &) = delete;

    const Grid &grid() const noexcept { return *grid_; }
    FactorSide side() const noexcept { return side_; }
    /// Global number of rows (m for W, n for H^T) and columns (k).
    gidx global_rows() const noexcept { return dist_.size(); }
    gidx k() const noexcept { return k_; }
    /// The data matrix's distribution of this dimension, and this rank's process index in it.
    const BlockCyclic &dist() const noexcept { return dist_; }
    int dist_proc() const noexcept { return dist_proc_; }
    /// The communicator over which slabs are gathered (row_comm for W, col_comm for H^T).
    const mpi::Comm &gather_comm() const noexcept {
        return side_ == FactorSide::w ? grid_->row_comm() : grid_->col_comm();
    }

    /// This rank's slab: rows() factor rows, which are local rows [offset(), offset() + rows()) of X's
    /// local index range for this dimension.
    lidx rows() const noexcept { return rows_; }
    lidx offset() const noexcept { return offset_; }
    /// Number of X-local rows of this dimension (the gathered factor's rows).
    lidx gathered_rows() const noexcept { return gathered_rows_; }
    /// Slab row counts of every rank of gather_comm(), in its rank order (they sum to gathered_rows()).
    const std::vector<lidx> &slab_rows() const noexcept { return slab_rows_; }
    /// Global index (row of W, or column of X for H^T) of slab row r.
    gidx global_index(lidx r) const noexcept { return dist_.to_global(offset_ + r, dist_proc_); }

    T *data() noexcept { return data_.data(); }
    const T *data() const noexcept { return data_.data(); }
    T &at(lidx r, lidx l) noexcept { return data_[static_cast<std::size_t>(r * k_ + l)]; }
    const T &at(lidx r, lidx l) const noexcept { return data_[static_cast<std::size_t>(r * k_ + l)]; }

  private:
    const Grid *grid_;
    FactorSide side_;
    BlockCyclic dist_;
    int dist_proc_ = 0;
    gidx k_ = 0;
    lidx rows_ = 0;
    lidx offset_ = 0;
    lidx gathered_rows_ = 0;
    std::vector<lidx> slab_rows_;
    std::vector<T> data_;
};

/// Rows of slab `part` when `n` rows are split into `parts` contiguous slabs as evenly as possible (the
/// first n mod parts slabs get one more). Local.
inline lidx slab_size(lidx n, int parts, int part) noexcept {
    return n / parts + (part < n % parts ? 1 : 0);
}
/// First row of slab `part`. Local.
inline lidx slab_start(lidx n, int parts, int part) noexcept {
    return part * (n / parts) + std::min<lidx>(part, n % parts);
}

} // namespace prism
