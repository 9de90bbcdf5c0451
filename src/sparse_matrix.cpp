#include "prism/sparse_matrix.hpp"

#include <utility>

#include "prism/mpi/collectives.hpp"

namespace prism {

namespace {

// One line naming the first defect of a CSR block, or "" when it is well formed. Local.
template <typename T> std::string csr_defect(const CsrBlock<T> &b, lidx rows, lidx cols) {
    const auto num = [](auto v) { return std::to_string(v); };
    if (b.rows != rows || b.cols != cols) {
        return "local block is " + num(b.rows) + " x " + num(b.cols) + ", expected " + num(rows) + " x " +
               num(cols);
    }
    if (cols > lidx{INT32_MAX}) {
        return num(cols) + " local columns do not fit 32-bit local column indices";
    }
    if (b.row_ptr.empty()) {
        return rows == 0 && b.values.empty() && b.col.empty() ? "" : "row_ptr is empty";
    }
    if (static_cast<lidx>(b.row_ptr.size()) != rows + 1) {
        return "row_ptr has " + num(b.row_ptr.size()) + " entries, expected " + num(rows + 1);
    }
    if (b.row_ptr.front() != 0 || b.row_ptr.back() != b.nnz() || static_cast<lidx>(b.col.size()) != b.nnz()) {
        return "row_ptr runs from " + num(b.row_ptr.front()) + " to " + num(b.row_ptr.back()) +
               " but there are " + num(b.values.size()) + " values and " + num(b.col.size()) +
               " column indices";
    }
    for (lidx i = 0; i < rows; ++i) {
        const std::int64_t begin = b.row_ptr[static_cast<std::size_t>(i)];
        const std::int64_t end = b.row_ptr[static_cast<std::size_t>(i + 1)];
        if (end < begin) {
            return "row_ptr decreases at local row " + num(i);
        }
        for (std::int64_t p = begin; p < end; ++p) {
            const std::int32_t c = b.col[static_cast<std::size_t>(p)];
            if (c < 0 || c >= cols) {
                return "local column " + num(c) + " out of range [0, " + num(cols) + ") in local row " +
                       num(i);
            }
            if (p > begin && c <= b.col[static_cast<std::size_t>(p - 1)]) {
                return "columns not strictly increasing in local row " + num(i);
            }
        }
    }
    return "";
}

} // namespace

template <typename T>
SparseDistMatrix<T>::SparseDistMatrix(
    const Grid &grid, gidx m, gidx n, gidx mb, gidx nb, CsrBlock<T> &&local, const std::string &name)
    : grid_(&grid) {
    mpi::agree_call(grid.comm(), [&] {
        PRISM_CHECK(m >= 0 && n >= 0,
                    name + ": matrix size " + std::to_string(m) + "x" + std::to_string(n) + " is negative");
        PRISM_CHECK(mb >= 1 && nb >= 1, name + ": block size " + std::to_string(mb) + "x" +
                                            std::to_string(nb) + " must be positive");
        row_dist_ = BlockCyclic(m, mb, grid.rows());
        col_dist_ = BlockCyclic(n, nb, grid.cols());
        const std::string defect =
            csr_defect(local, row_dist_.local_size(grid.my_row()), col_dist_.local_size(grid.my_col()));
        PRISM_CHECK(defect.empty(), name + " on rank " + std::to_string(grid.rank()) + ": " + defect);
    });
    block_ = std::move(local);
    if (block_.row_ptr.empty()) {
        block_.row_ptr.assign(1, 0); // rows == 0: keep row_ptr[0] = 0 so kernels need no special case
    }
    column_prefix_.assign(static_cast<std::size_t>(block_.cols + 1), 0);
    for (const std::int32_t c : block_.col) {
        ++column_prefix_[static_cast<std::size_t>(c) + 1];
    }
    for (std::size_t j = 1; j < column_prefix_.size(); ++j) {
        column_prefix_[j] += column_prefix_[j - 1];
    }
}

template class SparseDistMatrix<double>;
template class SparseDistMatrix<float>;

} // namespace prism
