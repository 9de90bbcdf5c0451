#pragma once
/// Parallel reading of a compressed sparse matrix stored in an HDF5 group as three 1-D datasets: `data`
/// (the stored values, any integer or floating type, either byte order), `indices` (minor index of each
/// value, int32 or int64) and `indptr` (major+1 offsets into data, int32 or int64): scipy's CSR/CSC, the
/// layout of AnnData's sparse X, 10x Genomics' /matrix and h5sparse. CSR's major axis is the rows, CSC's
/// the columns.
///
/// Each rank reads one contiguous range of major indices (indptr, then their data and indices in rounds of
/// a bounded number of entries, collective MPI-IO hyperslabs), so every byte of the file is read once, by
/// one rank; the entries then move to the ranks that own them in the 2D layout (sparse_assembly.hpp).
/// Nothing is densified; all offsets are 64-bit.

#include <string>
#include <vector>

#include "prism/sparse_matrix.hpp"

namespace prism::io {

/// Where a compressed matrix is and how it is stored.
struct CompressedGroup {
    std::string file;
    std::string group;    ///< the group holding data, indices, indptr
    bool by_rows = true;  ///< true: CSR (indptr over stored rows), false: CSC (over stored columns)
    gidx stored_rows = 0; ///< the stored shape (from the format's `shape`)
    gidx stored_cols = 0;
    bool sorted_required = false; ///< refuse unsorted indices within a row/column (else they are sorted)
};

/// How the stored matrix becomes the matrix to build.
struct Orientation {
    bool transpose = false; ///< matrix = stored^T (AnnData cells x genes read as genes x cells)
    /// Matrix shape; -1 = the (transposed) stored shape.
    gidx rows = -1, cols = -1;
    /// row_map[i]: matrix row of (transposed) stored row i, or -1 to drop it (empty = identity); same for
    /// columns. A --permute relabelling and a modality's place among all samples are such maps.
    std::vector<gidx> row_map, col_map;
};

/// Checks the group's structure from metadata only (datasets present, 1-D, numeric / integer types,
/// len(indptr) = major + 1, len(indices) = len(data)) and returns the number of stored entries. Collective
/// on `comm` (rank 0 reads): a defect throws the same prism::Error on every rank naming file and field.
gidx inspect_compressed(const mpi::Comm &comm, const CompressedGroup &g);

/// Reads the group into a SparseDistMatrix with blocks mb x nb. Collective on grid.comm(): malformed
/// content (indptr not starting at 0, decreasing, not ending at len(data); an index outside the stored
/// shape; a duplicate index in a row/column; unsorted indices when sorted_required; a map entry out of
/// range) throws the same prism::Error on every rank naming the file, the field and the position.
/// Stored values are kept as they are, zeros, negatives and NaN included (validation judges them).
/// @param[in] round_entries  at most this many entries read per rank and HDF5 call (tests use small ones)
template <typename T>
SparseDistMatrix<T> read_compressed(const Grid &grid,
                                    const CompressedGroup &g,
                                    const Orientation &orientation,
                                    gidx mb,
                                    gidx nb,
                                    lidx round_entries = lidx{1} << 22);

} // namespace prism::io
