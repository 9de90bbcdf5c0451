#pragma once
/// What every prism-* executable does around its real work: MPI set-up, and turning errors into one clear
/// line and an exit status that every rank shares.

#include <functional>

#include "prism/mpi/comm.hpp"

namespace prism::drivers {

/// Exit statuses of the drivers (documented in README.md).
enum ExitStatus : int {
    exit_ok = 0,
    exit_data_check_failed = 1, ///< prism-info --check found entries NMF cannot take
    exit_error = 2,             ///< a clear, collective error (bad input, bad option, I/O failure)
    exit_internal = 3,          ///< a failure on one rank only: the job is aborted
    exit_stopped = 4,           ///< stopped early at a checkpoint (signal, job deadline): rerun with --resume
};

/// Initialises MPI, runs `body` with a duplicate of MPI_COMM_WORLD, and maps errors to exit statuses:
/// a collective prism::Error prints "PROGRAM: error: MESSAGE" once (rank 0) and every rank returns 2;
/// any other exception prints with its rank and aborts the job (status 3), so no rank waits forever.
int run_driver(const char *program, int argc, char **argv, const std::function<int(const mpi::Comm &)> &body);

} // namespace prism::drivers
