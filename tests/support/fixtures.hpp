#pragma once
// Test fixtures: filling distributed matrices from a formula, and writing HDF5 files serially (rank 0)
// the way other tools do (h5py, R), so the parallel reader is tested on files it did not write.

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include <hdf5.h>

#include "prism/dist_matrix.hpp"
#include "prism/sparse_matrix.hpp"

namespace prism::test {

/// a(i, j) = f(i, j) for every local entry (global indices). Local.
template <typename T> void fill(DistMatrix<T> &a, const std::function<double(gidx, gidx)> &f) {
    for (lidx j = 0; j < a.local_cols(); ++j) {
        for (lidx i = 0; i < a.local_rows(); ++i) {
            a.local(i, j) = static_cast<T>(f(a.global_row(i), a.global_col(j)));
        }
    }
}

/// This rank's CSR block of the m x n matrix f in the (mb, nb) block-cyclic layout of `grid`: the entries
/// with f(i, j) != 0 (NaN included) are stored, and also the zeros where store_zero(i, j) (explicit zeros).
/// Local.
template <typename T>
CsrBlock<T> csr_block(const Grid &grid,
                      gidx m,
                      gidx n,
                      gidx mb,
                      gidx nb,
                      const std::function<double(gidx, gidx)> &f,
                      const std::function<bool(gidx, gidx)> &store_zero = {}) {
    const BlockCyclic rd(m, mb, grid.rows()), cd(n, nb, grid.cols());
    CsrBlock<T> b;
    b.rows = rd.local_size(grid.my_row());
    b.cols = cd.local_size(grid.my_col());
    b.row_ptr.push_back(0);
    for (lidx i = 0; i < b.rows; ++i) {
        const gidx gi = rd.to_global(i, grid.my_row());
        for (lidx j = 0; j < b.cols; ++j) {
            const gidx gj = cd.to_global(j, grid.my_col());
            const double v = f(gi, gj);
            if (v != 0 || (store_zero && store_zero(gi, gj))) {
                b.col.push_back(static_cast<std::int32_t>(j));
                b.values.push_back(static_cast<T>(v));
            }
        }
        b.row_ptr.push_back(b.nnz());
    }
    return b;
}

/// The SparseDistMatrix of csr_block. Collective.
template <typename T>
SparseDistMatrix<T> sparse_matrix(const Grid &grid,
                                  gidx m,
                                  gidx n,
                                  gidx mb,
                                  gidx nb,
                                  const std::function<double(gidx, gidx)> &f,
                                  const std::function<bool(gidx, gidx)> &store_zero = {}) {
    return SparseDistMatrix<T>(grid, m, n, mb, nb, csr_block<T>(grid, m, n, mb, nb, f, store_zero));
}

/// Largest |a(i,j) - f(i,j)| over this rank's entries. Local.
template <typename T>
double max_local_error(const DistMatrix<T> &a, const std::function<double(gidx, gidx)> &f) {
    double worst = 0;
    for (lidx j = 0; j < a.local_cols(); ++j) {
        for (lidx i = 0; i < a.local_rows(); ++i) {
            const double d =
                std::abs(static_cast<double>(a.local(i, j)) - f(a.global_row(i), a.global_col(j)));
            worst = d > worst || d != d ? d : worst;
        }
    }
    return worst;
}

struct SerialDataset {
    std::string name; ///< e.g. "/X"
    gidx rows = 0, cols = 0;
    std::vector<double> row_major;    ///< rows*cols values
    hid_t file_type = H5T_IEEE_F64LE; ///< stored type (values are converted by HDF5)
    std::vector<hsize_t> chunk;       ///< empty: contiguous
    bool deflate = false;             ///< shuffle + deflate(4), as the shared data files
};

/// Creates (truncates) `file` with the given matrices, from rank 0 only, with the serial HDF5 driver.
/// Collective on `comm` only through the final barrier.
void write_serial_file(const mpi::Comm &comm,
                       const std::string &file,
                       const std::vector<SerialDataset> &datasets);

/// Adds a 1-D string dataset to an existing file (rank 0 only, serial). Collective through a barrier.
void write_serial_strings(const mpi::Comm &comm,
                          const std::string &file,
                          const std::string &name,
                          const std::vector<std::string> &values,
                          bool variable_length);

/// Reads a whole 2-D dataset serially on the calling rank (the reference for the parallel reader). Local.
std::vector<double>
read_serial_matrix(const std::string &file, const std::string &name, gidx &rows, gidx &cols);

/// Removes `file` on rank 0 after a barrier.
void remove_file(const mpi::Comm &comm, const std::string &file);

} // namespace prism::test
