#pragma once
/// The input matrix as the drivers read it: dense or sparse as the file stores it (never densified),
/// optionally relabelled by --permute. Shared by prism-nmf (which factorizes it) and prism-info (which
/// describes it), so both see exactly the same matrix.

#include <cstdint>
#include <optional>

#include "prism/dist_matrix.hpp"
#include "prism/grid.hpp"
#include "prism/io/hdf5_matrix.hpp"
#include "prism/io/input_source.hpp"
#include "prism/matrix_ref.hpp"
#include "prism/permutation.hpp"
#include "prism/sparse_matrix.hpp"

namespace prism::drivers {

template <typename T> struct InputMatrix {
    std::optional<DistMatrix<T>> dense;
    std::optional<SparseDistMatrix<T>> sparse;
    IndexOrigin origin; ///< where the rows / columns came from (empty: not permuted)
    MatrixRef<T> ref() const { return sparse ? MatrixRef<T>(*sparse) : MatrixRef<T>(*dense); }
};

/// Reads `src` (described by io::describe_input from the text `input`) in mb x nb blocks over `grid`.
/// With `permute_seed`, a sparse input's rows and columns are relabelled by random_permutation(seed).
/// Collective on grid.comm().
template <typename T>
InputMatrix<T> read_input_matrix(const Grid &grid,
                                 const io::InputSource &src,
                                 const io::DatasetPath &input,
                                 gidx mb,
                                 gidx nb,
                                 std::optional<std::uint64_t> permute_seed = std::nullopt);

} // namespace prism::drivers
