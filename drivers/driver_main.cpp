#include "driver_main.hpp"

#include <cstdio>
#include <exception>
#include <regex>
#include <string>

#include "prism/error.hpp"
#include "prism/mpi/environment.hpp"

namespace prism::drivers {

namespace {

// A collective error is about the user's input: the " [function file.cpp:123]" that PRISM_CHECK appends
// for developers is noise in the one line a user reads.
std::string without_source_position(const std::string &message) {
    static const std::regex position(R"( \[[^\[\]]* [A-Za-z0-9_.]+\.(cpp|hpp):[0-9]+\]$)");
    return std::regex_replace(message, position, "");
}

} // namespace

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
                std::fprintf(stderr, "%s: error: %s\n", program, without_source_position(e.what()).c_str());
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
