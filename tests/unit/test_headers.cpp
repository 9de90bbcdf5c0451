// Every public header compiles on its own (each is included first in some translation unit too), and the
// types that own MPI resources are move-only: a copy would be a hidden collective.

#include "prism/block_cyclic.hpp"
#include "prism/dist_matrix.hpp"
#include "prism/error.hpp"
#include "prism/grid.hpp"
#include "prism/io/checkpoint.hpp"
#include "prism/io/hdf5_handle.hpp"
#include "prism/io/hdf5_matrix.hpp"
#include "prism/matrix_stats.hpp"
#include "prism/mpi/collectives.hpp"
#include "prism/mpi/comm.hpp"
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

TEST(Headers, Compile) {
    SUCCEED();
}
