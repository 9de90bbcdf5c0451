#include "prism/matrix_stats.hpp"

#include <cmath>
#include <limits>
#include <vector>

#include "prism/mpi/collectives.hpp"

namespace prism {

namespace {

constexpr std::int64_t none = std::numeric_limits<std::int64_t>::max();

Position unlinear(std::int64_t linear, gidx cols) {
    if (linear == none) {
        return {};
    }
    return {linear / cols, linear % cols};
}

// Empty indices of one dimension. `shared` holds the ranks that own the same indices of this dimension
// (they each see part of every index's entries); `counter` says whether this rank does the counting.
std::pair<std::int64_t, gidx> count_empty(const mpi::Comm &all,
                                          const mpi::Comm &shared,
                                          bool counter,
                                          std::vector<std::int64_t> &nonzero_per_index,
                                          const BlockCyclic &dist,
                                          int my_proc) {
    mpi::allreduce(shared, nonzero_per_index.data(), static_cast<std::int64_t>(nonzero_per_index.size()),
                   mpi::Op::sum);
    std::int64_t empty = 0, first = none;
    if (counter) {
        for (std::size_t l = 0; l < nonzero_per_index.size(); ++l) {
            if (nonzero_per_index[l] == 0) {
                ++empty;
                first = std::min<std::int64_t>(first, dist.to_global(static_cast<lidx>(l), my_proc));
            }
        }
    }
    return {mpi::allreduce_value(all, empty, mpi::Op::sum), mpi::allreduce_value(all, first, mpi::Op::min)};
}

// One rank's share of the statistics, filled entry by entry by the dense or sparse pass.
struct LocalStats {
    double lo = std::numeric_limits<double>::infinity(), hi = -std::numeric_limits<double>::infinity(),
           ss = 0;
    std::int64_t counts[4] = {0, 0, 0, 0}; // nonzeros, nan, inf, negative
    std::int64_t first[3] = {none, none, none};
    double first_negative_value = 0;
    std::vector<std::int64_t> row_nnz, col_nnz;

    // Entry v at local (i, j), global row-major position `linear`.
    void visit(double v, lidx i, lidx j, std::int64_t linear) {
        if (v == 0) {
            return;
        }
        ++counts[0];
        ++row_nnz[static_cast<std::size_t>(i)];
        ++col_nnz[static_cast<std::size_t>(j)];
        if (std::isnan(v)) {
            ++counts[1];
            first[0] = std::min(first[0], linear);
        } else if (std::isinf(v)) {
            ++counts[2];
            first[1] = std::min(first[1], linear);
        } else {
            lo = std::min(lo, v);
            hi = std::max(hi, v);
            ss += v * v;
            if (v < 0) {
                ++counts[3];
                if (linear < first[2]) {
                    first[2] = linear;
                    first_negative_value = v;
                }
            }
        }
    }
};

template <typename T> void visit_dense(const DistMatrix<T> &a, LocalStats &l) {
    for (lidx j = 0; j < a.local_cols(); ++j) {
        const gidx gj = a.global_col(j);
        for (lidx i = 0; i < a.local_rows(); ++i) {
            l.visit(static_cast<double>(a.local(i, j)), i, j, a.global_row(i) * a.cols() + gj);
        }
    }
}

// Stored values only: unstored entries are zeros and add nothing but a 0 to min / max.
template <typename T> void visit_sparse(const SparseDistMatrix<T> &a, LocalStats &l) {
    const CsrBlock<T> &b = a.block();
    for (lidx i = 0; i < b.rows; ++i) {
        const std::int64_t row_start = a.global_row(i) * a.cols();
        for (std::int64_t p = b.row_ptr[static_cast<std::size_t>(i)];
             p < b.row_ptr[static_cast<std::size_t>(i + 1)]; ++p) {
            const lidx j = b.col[static_cast<std::size_t>(p)];
            l.visit(static_cast<double>(b.values[static_cast<std::size_t>(p)]), i, j,
                    row_start + a.global_col(j));
        }
    }
}

} // namespace

template <typename T> MatrixStats compute_stats(MatrixRef<T> a) {
    const Grid &grid = a.grid();
    MatrixStats s;
    s.rows = a.rows();
    s.cols = a.cols();
    LocalStats l;
    l.row_nnz.assign(static_cast<std::size_t>(a.local_rows()), 0);
    l.col_nnz.assign(static_cast<std::size_t>(a.local_cols()), 0);
    if (a.is_sparse()) {
        visit_sparse(*a.sparse(), l);
    } else {
        visit_dense(*a.dense(), l);
    }
    double lo = l.lo, hi = l.hi, ss = l.ss;
    std::int64_t *counts = l.counts;
    std::int64_t *first = l.first;
    const double first_negative_value = l.first_negative_value;
    std::vector<std::int64_t> &row_nnz = l.row_nnz;
    std::vector<std::int64_t> &col_nnz = l.col_nnz;
    // Zero entries count for min/max too; a block with any zero contributes 0.
    if (counts[0] < a.local_rows() * a.local_cols()) {
        lo = std::min(lo, 0.0);
        hi = std::max(hi, 0.0);
    }
    const mpi::Comm &comm = grid.comm();
    mpi::allreduce(comm, counts, 4, mpi::Op::sum);
    mpi::allreduce(comm, first, 3, mpi::Op::min);
    s.min = mpi::allreduce_value(comm, lo, mpi::Op::min);
    s.max = mpi::allreduce_value(comm, hi, mpi::Op::max);
    s.sum_squares = mpi::allreduce_value(comm, ss, mpi::Op::sum);
    // The rank owning the first negative entry contributes its value; all others contribute 0.
    const bool mine = first[2] != none && a.local_rows() > 0 && first_negative_value != 0 &&
                      a.row_dist().owner(first[2] / a.cols()) == grid.my_row() &&
                      a.col_dist().owner(first[2] % a.cols()) == grid.my_col();
    s.first_negative_value = mpi::allreduce_value(comm, mine ? first_negative_value : 0.0, mpi::Op::sum);
    if (!std::isfinite(s.min)) { // no finite entries at all
        s.min = s.max = 0;
    }
    s.nonzeros = counts[0];
    s.nan_count = counts[1];
    s.inf_count = counts[2];
    s.negative_count = counts[3];
    s.first_nan = unlinear(first[0], s.cols);
    s.first_inf = unlinear(first[1], s.cols);
    s.first_negative = unlinear(first[2], s.cols);

    // A row is empty when no rank of its grid row has a nonzero in it; grid column 0 does the counting.
    const auto rows =
        count_empty(comm, grid.row_comm(), grid.my_col() == 0, row_nnz, a.row_dist(), grid.my_row());
    const auto cols =
        count_empty(comm, grid.col_comm(), grid.my_row() == 0, col_nnz, a.col_dist(), grid.my_col());
    s.zero_rows = rows.first;
    s.zero_cols = cols.first;
    s.first_zero_row_col = {rows.second == none ? -1 : rows.second, cols.second == none ? -1 : cols.second};
    return s;
}

template MatrixStats compute_stats<double>(MatrixRef<double>);
template MatrixStats compute_stats<float>(MatrixRef<float>);

} // namespace prism
