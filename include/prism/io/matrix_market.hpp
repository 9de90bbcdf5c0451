#pragma once
/// MatrixMarket coordinate files (.mtx): for small data and interop. Rank 0 parses the text and the
/// entries are moved to their owners (sparse_assembly.hpp), so rank 0 holds every entry once while
/// reading; use an HDF5 CSR/CSC group for large data (read in parallel).
///
/// Accepted: `%%MatrixMarket matrix coordinate real|integer|pattern general|symmetric` (pattern entries
/// are 1; symmetric files store one triangle and the other is mirrored). The matrix is taken as stored:
/// rows are features, columns samples (10x's matrix.mtx is genes x cells).

#include <string>
#include <vector>

#include "prism/sparse_matrix.hpp"

namespace prism::io {

/// The matrix's shape from the size line. Collective on `comm` (rank 0 reads the header): a missing file,
/// a header that is not a supported MatrixMarket coordinate header, or a bad size line throws the same
/// prism::Error on every rank, naming the file and the line.
std::pair<gidx, gidx> matrix_market_shape(const mpi::Comm &comm, const std::string &file);

/// Reads the file into a SparseDistMatrix with blocks mb x nb; `row_map` / `col_map` relabel rows / columns
/// as in Orientation (compressed_reader.hpp; empty = identity) and `rows` / `cols` (>= 0) override the
/// matrix shape (for columns placed among a larger set). Collective on grid.comm(): an unparsable
/// line, an index outside the size line's shape, fewer or more entries than announced, or an entry given
/// twice throws the same prism::Error on every rank naming the file and the line. Stored values are kept
/// as they are (negative, NaN: validation judges them).
template <typename T>
SparseDistMatrix<T> read_matrix_market(const Grid &grid,
                                       const std::string &file,
                                       gidx mb,
                                       gidx nb,
                                       const std::vector<gidx> &row_map = {},
                                       const std::vector<gidx> &col_map = {},
                                       gidx rows = -1,
                                       gidx cols = -1);

/// True if `file` starts with the MatrixMarket banner. Local.
bool looks_like_matrix_market(const std::string &file);

} // namespace prism::io
