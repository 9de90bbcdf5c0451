#include "input_matrix.hpp"

#include <vector>

namespace prism::drivers {

template <typename T>
InputMatrix<T> read_input_matrix(const Grid &grid,
                                 const io::InputSource &src,
                                 const io::DatasetPath &input,
                                 gidx mb,
                                 gidx nb,
                                 std::optional<std::uint64_t> permute_seed) {
    InputMatrix<T> in;
    if (!src.sparse) {
        in.dense.emplace(src.format == io::InputFormat::hdf5_dense
                             ? io::read_matrix<T>(grid, input, mb, nb)
                             : io::read_dense_source<T>(grid, src, mb, nb));
        return in;
    }
    std::vector<gidx> row_map, col_map;
    if (permute_seed) {
        row_map = random_permutation(*permute_seed, PermutedAxis::rows, src.rows);
        col_map = random_permutation(*permute_seed, PermutedAxis::cols, src.cols);
        in.origin = permutation_origin(*permute_seed, src.rows, src.cols);
    }
    in.sparse.emplace(io::read_sparse_source<T>(grid, src, mb, nb, row_map, col_map));
    return in;
}

template InputMatrix<float> read_input_matrix<float>(
    const Grid &, const io::InputSource &, const io::DatasetPath &, gidx, gidx, std::optional<std::uint64_t>);
template InputMatrix<double> read_input_matrix<double>(
    const Grid &, const io::InputSource &, const io::DatasetPath &, gidx, gidx, std::optional<std::uint64_t>);

} // namespace prism::drivers
