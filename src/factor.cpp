#include "prism/factor.hpp"

#include "prism/mpi/collectives.hpp"

namespace prism {

template <typename T>
Factor<T>::Factor(const Grid &grid, const BlockCyclic &dist, FactorSide side, gidx k)
    : grid_(&grid), side_(side), dist_(dist), k_(k) {
    const bool w = side == FactorSide::w;
    dist_proc_ = w ? grid.my_row() : grid.my_col();
    gathered_rows_ = dist.local_size(dist_proc_);
    const int parts = w ? grid.cols() : grid.rows();
    const int part = w ? grid.my_col() : grid.my_row();
    rows_ = slab_size(gathered_rows_, parts, part);
    offset_ = slab_start(gathered_rows_, parts, part);
    for (int p = 0; p < parts; ++p) {
        slab_rows_.push_back(slab_size(gathered_rows_, parts, p));
    }
    mpi::agree_call(grid.comm(), [&] {
        PRISM_CHECK(k >= 1, "factor rank k must be >= 1, got " + std::to_string(k));
        try {
            data_.assign(static_cast<std::size_t>(rows_ * k_), T{});
        } catch (const std::exception &) {
            throw Error("cannot allocate " + std::to_string(rows_) + " x " + std::to_string(k) +
                        " factor rows on rank " + std::to_string(grid.rank()));
        }
    });
}

template class Factor<double>;
template class Factor<float>;

} // namespace prism
