#pragma once
/// Building a SparseDistMatrix from entries read anywhere: every rank holds some (row, column, value)
/// entries of the global matrix (whatever part of a file it read); they are moved to the ranks that own
/// them in the 2D block-cyclic layout and each rank sorts its own into a CSR block. Every sparse reader
/// (HDF5 CSR/CSC groups, 10x, AnnData, MatrixMarket) ends here, so orientation (CSR vs CSC, transposition)
/// and relabelling (--permute, sample alignment) are just a change of the (row, column) of an entry.

#include <cstdint>
#include <string>
#include <vector>

#include "prism/sparse_matrix.hpp"

namespace prism::io {

/// One stored entry of a global matrix (global indices).
template <typename T> struct Entry {
    gidx row;
    gidx col;
    T value;
};

/// Moves `entries` to their owners and builds this rank's CSR block of the m x n matrix with blocks mb x nb.
/// Explicitly stored zeros, negative and NaN values are kept as stored (validation judges them). Entries are
/// exchanged in rounds of at most ~1 GiB per rank, so no MPI count exceeds 2^31.
/// Collective on grid.comm(): an entry outside m x n, or two entries at the same (row, column), throw the
/// same prism::Error on every rank naming `name` and the position (`origin_row` / `origin_col`, when not
/// empty, give the index to report for a relabelled row / column: the file's own index).
/// `entries` is consumed (memory: this rank's share of the non-zeros, twice at most, during the exchange).
/// `round_bytes` bounds the bytes a rank sends or receives per all-to-all round (tests use small ones).
template <typename T>
SparseDistMatrix<T> assemble_sparse(const Grid &grid,
                                    gidx m,
                                    gidx n,
                                    gidx mb,
                                    gidx nb,
                                    std::vector<Entry<T>> &&entries,
                                    const std::string &name,
                                    const std::vector<gidx> &origin_row = {},
                                    const std::vector<gidx> &origin_col = {},
                                    std::int64_t round_bytes = std::int64_t{1} << 30);

} // namespace prism::io
