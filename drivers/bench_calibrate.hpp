#pragma once
/// @file
/// prism-bench --calibrate: the alpha-beta-gamma constants of docs/SCALING.md measured on this machine.

#include "prism/mpi/comm.hpp"

#include <ostream>

namespace prism::drivers {

/// Measured constants (seconds): alpha per message, beta per 8-byte word, gamma per flop.
struct CostConstants {
    double alpha = 0.0;
    double beta_allgather = 0.0;      ///< 0 at one rank (nothing moves)
    double beta_reduce_scatter = 0.0; ///< 0 at one rank
    double gamma = 0.0;
};

/// Collective over world: times small all-reduces (alpha), large all-gathers and reduce-scatters (beta,
/// after removing alpha log2 P, per word each rank receives: (P - 1)/P of the total), and the local
/// tall-skinny gemm of the floor (gamma, 2 m n k flops). Medians of repeated timings, all ranks started
/// together by a barrier. Rank 0 writes the report to out.
CostConstants calibrate(mpi::Comm const &world, std::ostream &out);

} // namespace prism::drivers
