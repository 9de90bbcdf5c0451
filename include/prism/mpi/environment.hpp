#pragma once
/// RAII owner of MPI initialisation. Used only by drivers and the test main: library code never
/// initialises MPI nor names MPI_COMM_WORLD.

#include <mpi.h>

namespace prism::mpi {

class Environment {
  public:
    /// Initialises MPI with MPI_THREAD_FUNNELED (OpenMP threads inside a rank, MPI calls from the master
    /// only).
    Environment(int &argc, char **&argv);
    ~Environment();
    Environment(const Environment &) = delete;
    Environment &operator=(const Environment &) = delete;

    /// The thread level MPI granted.
    int thread_level() const noexcept { return provided_; }

  private:
    int provided_ = 0;
};

} // namespace prism::mpi
