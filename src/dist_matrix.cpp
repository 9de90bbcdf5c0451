#include "prism/dist_matrix.hpp"

#include <algorithm>
#include <new>

#include "prism/mpi/collectives.hpp"

namespace prism {

template <typename T>
DistMatrix<T>::DistMatrix(const Grid &grid, gidx m, gidx n, gidx mb, gidx nb) : grid_(&grid) {
    mpi::agree_call(grid.comm(), [&] {
        PRISM_CHECK(m >= 0 && n >= 0,
                    "matrix size " + std::to_string(m) + "x" + std::to_string(n) + " is negative");
        PRISM_CHECK(mb >= 1 && nb >= 1,
                    "block size " + std::to_string(mb) + "x" + std::to_string(nb) + " must be positive");
        row_dist_ = BlockCyclic(m, mb, grid.rows());
        col_dist_ = BlockCyclic(n, nb, grid.cols());
        local_rows_ = row_dist_.local_size(grid.my_row());
        local_cols_ = col_dist_.local_size(grid.my_col());
        ld_ = std::max<lidx>(1, local_rows_);
        try {
            data_.assign(static_cast<std::size_t>(ld_ * local_cols_), T{});
        } catch (const std::exception &) { // bad_alloc, or length_error beyond max_size()
            throw Error("cannot allocate the local block of a " + std::to_string(m) + "x" +
                        std::to_string(n) + " matrix (" +
                        std::to_string(ld_ * local_cols_ * static_cast<lidx>(sizeof(T))) + " bytes on rank " +
                        std::to_string(grid.rank()) + ")");
        }
    });
}

template <typename T> std::array<int, 9> DistMatrix<T>::descriptor() const {
    // DESC = {DTYPE=1, CTXT, M, N, MB, NB, RSRC, CSRC, LLD}; LLD >= 1 even for an empty local block.
    return {1,
            grid_->blacs_context(),
            narrow<int>(rows(), "global rows in a ScaLAPACK descriptor"),
            narrow<int>(cols(), "global columns in a ScaLAPACK descriptor"),
            narrow<int>(row_dist_.block(), "row block size"),
            narrow<int>(col_dist_.block(), "column block size"),
            row_dist_.source(),
            col_dist_.source(),
            narrow<int>(ld_, "local leading dimension")};
}

template class DistMatrix<double>;
template class DistMatrix<float>;

} // namespace prism
