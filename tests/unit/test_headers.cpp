// Every public header compiles on its own (each is included first in some translation unit too), and the
// types that own MPI resources are move-only: a copy would be a hidden collective.

#include "prism/block_cyclic.hpp"
#include "prism/dist_matrix.hpp"
#include "prism/error.hpp"
#include "prism/grid.hpp"
#include "prism/io/hdf5_handle.hpp"
#include "prism/io/hdf5_matrix.hpp"
#include "prism/linalg/sparse_products.hpp"
#include "prism/matrix_ref.hpp"
#include "prism/matrix_stats.hpp"
#include "prism/mpi/collectives.hpp"
#include "prism/mpi/comm.hpp"
#include "prism/permutation.hpp"
#include "prism/sparse_matrix.hpp"
#include "prism/types.hpp"

#include <gtest/gtest.h>

#include <type_traits>

static_assert(!std::is_copy_constructible_v<prism::mpi::Comm> &&
              std::is_move_constructible_v<prism::mpi::Comm>);
static_assert(!std::is_copy_constructible_v<prism::Grid> && std::is_move_constructible_v<prism::Grid>);
static_assert(!std::is_copy_constructible_v<prism::DistMatrix<double>> &&
              std::is_move_constructible_v<prism::DistMatrix<double>>);
static_assert(!std::is_copy_constructible_v<prism::io::Hid>);
static_assert(std::is_trivially_copyable_v<prism::BlockCyclic>);
static_assert(!std::is_copy_constructible_v<prism::SparseDistMatrix<double>> &&
              std::is_move_constructible_v<prism::SparseDistMatrix<double>>);
// The data handle is a cheap value, built implicitly from either kind of matrix (one algorithm code).
static_assert(std::is_trivially_copyable_v<prism::MatrixRef<double>>);
static_assert(std::is_convertible_v<const prism::DistMatrix<double> &, prism::MatrixRef<double>> &&
              std::is_convertible_v<const prism::SparseDistMatrix<float> &, prism::MatrixRef<float>>);
static_assert(std::is_convertible_v<const prism::SparseDistMatrix<double> *, prism::MatrixPtr<double>> &&
              std::is_convertible_v<std::nullptr_t, prism::MatrixPtr<double>>);

TEST(Headers, Compile) {
    SUCCEED();
}
