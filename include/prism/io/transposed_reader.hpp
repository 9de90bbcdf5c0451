#pragma once
/// Parallel reading of a dense 2-D dataset stored transposed: AnnData's dense X is cells x genes
/// (n_obs x n_vars) while Prism factors genes x cells. Each rank reads only its own blocks (the dataset's
/// rows are the matrix's columns), in rounds of a bounded number of columns; no rank holds more than its
/// block plus a small staging buffer.

#include <vector>

#include "prism/dist_matrix.hpp"
#include "prism/io/hdf5_matrix.hpp"

namespace prism::io {

/// Reads dataset D (dims r x c) as the matrix X = D^T (c x r), or, with `file_row`, as the c x
/// file_row.size() matrix whose column j is D's row file_row[j] (zeros where file_row[j] == -1: a sample
/// this modality lacks; a --permute relabelling is also such a map). Integer and floating types of either
/// byte order are converted. Collective on grid.comm(): a missing or non-2-D-numeric dataset, or a map
/// entry outside [-1, r), throws the same prism::Error on every rank.
template <typename T>
DistMatrix<T> read_matrix_transposed(const Grid &grid,
                                     const DatasetPath &path,
                                     gidx mb,
                                     gidx nb,
                                     const std::vector<gidx> &file_row = {},
                                     lidx round_elements = lidx{1} << 23);

} // namespace prism::io
