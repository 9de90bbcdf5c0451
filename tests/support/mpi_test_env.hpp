#pragma once
// The communicator MPI tests run on (a duplicate of MPI_COMM_WORLD made by the test main), and helpers
// shared by MPI tests.

#include <string>
#include <vector>

#include "prism/grid.hpp"
#include "prism/mpi/comm.hpp"

namespace prism::test {

const mpi::Comm &world();
void set_world(mpi::Comm comm);

/// Grid shapes worth testing on `nprocs` ranks: every factorisation pr x pc (1xP, Px1, and the ones between).
std::vector<GridShape> all_grid_shapes(int nprocs);

/// A file name in the test's working directory, unique per test binary and agreed by all ranks.
std::string temp_path(const std::string &stem);

} // namespace prism::test
