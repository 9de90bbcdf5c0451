#pragma once
/// What an NMF run is asked to do (NmfOptions) and what it did (NmfInfo). Plain aggregates: algorithms
/// never read argv, environment variables or files.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "prism/nnls/bpp.hpp"
#include "prism/types.hpp"

namespace prism {

enum class Algorithm { hals, anls_bpp, mu };
enum class Init { random, nndsvd, nndsvda };

/// "hals" | "anls-bpp" | "mu"; throws prism::Error otherwise. Local.
Algorithm parse_algorithm(const std::string &name);
std::string to_string(Algorithm a);
/// "random" | "nndsvd" | "nndsvda"; throws prism::Error otherwise. Local.
Init parse_init(const std::string &name);
std::string to_string(Init i);

/// Penalties on one factor F: l1 * sum(F) + (l2 / 2) * ||F||_F^2, added to (1/2) ||X - WH||_F^2.
struct Penalty {
    double l1 = 0;
    double l2 = 0;
};

/// True when a penalty adds nothing. HALS rescales W's columns to unit norm (H compensating) only when every
/// penalty is zero: the rescaling leaves ||X - WH|| unchanged but not l1 sum(F) or l2 ||F||^2, so with a
/// penalty it could raise the objective and break its monotone decrease.
inline bool penalty_free(const Penalty &p) noexcept { return p.l1 == 0 && p.l2 == 0; }

/// One line of progress, handed to NmfOptions::on_iteration on every rank (identical values everywhere).
struct IterationReport {
    int iteration = 0;          ///< 1-based
    double relative_error = 0;  ///< ||X - WH||_F / ||X||_F
    double objective = 0;       ///< (1/2)||X - WH||^2 + penalties
    double seconds = 0;         ///< wall time of this iteration (rank 0's clock)
};

struct NmfOptions {
    Algorithm algorithm = Algorithm::hals;
    int max_iter = 200;
    /// Stop when the relative decrease of the objective over one iteration is below tol (0: never).
    double tol = 1e-4;
    /// Stop after this many seconds of iterating (0: no limit). Checked at iteration boundaries.
    double max_seconds = 0;
    Penalty w, h;
    /// HALS: entries are kept >= this floor so a component can never die for good (0 allowed).
    double hals_floor = 1e-16;
    /// Called on every rank after every iteration.
    std::function<void(const IterationReport &)> on_iteration;
    /// Polled on rank 0 at iteration boundaries; when it returns true every rank stops after the
    /// current iteration (stop_reason "interrupted"). For signal handling in drivers.
    std::function<bool()> stop_requested;
};

struct NmfInfo {
    int iterations = 0;
    bool converged = false;
    std::string stop_reason;              ///< "tolerance", "max-iter", "max-time", "interrupted", "exact-fit"
    double relative_error = 0;            ///< at the end, from the trace identity
    double objective = 0;
    double seconds = 0;                   ///< wall time of the iterations
    std::vector<double> history_relative_error;
    std::vector<double> history_seconds;  ///< per iteration
    nnls::BppStats bpp;                   ///< ANLS-BPP inner-solver counters summed over ranks and iterations
    /// Seconds per phase summed over iterations (this rank's clock; max over ranks is reported).
    double t_products = 0, t_grams = 0, t_solve = 0, t_comm = 0;
};

} // namespace prism
