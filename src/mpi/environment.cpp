#include "prism/mpi/environment.hpp"

namespace prism::mpi {

Environment::Environment(int &argc, char **&argv) {
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided_);
}

Environment::~Environment() {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) {
        MPI_Finalize();
    }
}

} // namespace prism::mpi
