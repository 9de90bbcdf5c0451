#include "driver_main.hpp"

#include <cstdio>
#include <exception>

#include "prism/error.hpp"
#include "prism/mpi/environment.hpp"

namespace prism::drivers {

int run_driver(const char *program,
               int argc,
               char **argv,
               const std::function<int(const mpi::Comm &)> &body) {
    mpi::Environment env(argc, argv);
    int status = exit_ok;
    {
        mpi::Comm world = mpi::Comm::duplicate(MPI_COMM_WORLD);
        try {
            status = body(world);
        } catch (const Error &e) {
            if (!e.collective()) {
                std::fprintf(stderr, "%s: error on rank %d: %s\n", program, world.rank(), e.what());
                std::fflush(stderr);
                MPI_Abort(MPI_COMM_WORLD, exit_internal);
            }
            if (world.rank() == 0) {
                std::fprintf(stderr, "%s: error: %s\n", program, e.what());
            }
            status = exit_error;
        } catch (const std::exception &e) {
            std::fprintf(stderr, "%s: internal error on rank %d: %s\n", program, world.rank(), e.what());
            std::fflush(stderr);
            MPI_Abort(MPI_COMM_WORLD, exit_internal);
        }
        std::fflush(stdout);
        std::fflush(stderr);
    }
    return status;
}

} // namespace prism::drivers
