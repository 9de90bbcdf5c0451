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
inline bool penalty_free(const Penalty &p) noexcept {
    return p.l1 == 0 && p.l2 == 0;
}

/// One line of progress, handed to NmfOptions::on_iteration on every rank (identical values everywhere).
struct IterationReport {
    int iteration = 0;         ///< 1-based
    double relative_error = 0; ///< ||X - WH||_F / ||X||_F
    double objective = 0;      ///< (1/2)||X - WH||^2 + penalties
    double seconds = 0;        ///< wall time of this iteration (rank 0's clock)
};

/// Where a resumed run continues: everything besides the factors that carries over from one iteration to
/// the next, so that a run resumed from it on the same grid is bitwise the uninterrupted run. Handed to
/// NmfOptions::on_checkpoint (to save) and set in NmfOptions::resume (to continue).
struct ResumeState {
    int iterations = 0; ///< completed iterations (0: a fresh start)
    /// Objective after iteration `iterations`: the tolerance test of the next iteration compares with it.
    double objective = 0;
    std::vector<double> history_relative_error; ///< `iterations` values
    std::vector<double> history_seconds;        ///< `iterations` values
    /// Joint NMF only: per-modality relative errors [v][iteration - 1] of iterations 1 .. iterations - 1
    /// (a modality's error is known one iteration late), and tr(G_Wv G_Hv) of iteration `iterations`, the
    /// term its pending error still needs.
    std::vector<std::vector<double>> history_modality_relative_error;
    std::vector<double> pending_modality_fit;
    /// Set in a checkpoint that ends an interrupted run (stop request, deadline): it must not fail quietly.
    bool stopping = false;
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
    /// Polled on every rank at iteration boundaries; when it returns true on ANY rank every rank stops
    /// after the current iteration (stop_reason "interrupted", a checkpoint first if on_checkpoint is set).
    /// For signal handling in drivers: a signal may reach only some ranks. Its answer rides in the
    /// all-reduce that shares rank 0's stop decision, so polling costs no extra collective.
    std::function<bool()> stop_requested;
    /// Stop at the last iteration boundary where another iteration (as long as the last one) would end
    /// after this many seconds of iterating (0: none); stop_reason "deadline", checkpoint first. Rank 0's
    /// clock. Unlike max_seconds this marks an interrupted run (a batch job's end), not a finished one.
    double deadline_seconds = 0;
    /// Checkpoint cadence: after every `checkpoint_every`-th iteration (0: off) and/or when
    /// `checkpoint_interval` seconds (rank 0's clock, 0: off) have passed since the last checkpoint.
    int checkpoint_every = 0;
    double checkpoint_interval = 0;
    /// Also checkpoint after the last iteration, whatever stopped the run (so it can be extended).
    bool checkpoint_at_end = false;
    /// Called on every rank at an iteration boundary when a checkpoint is due, with the factors (the
    /// caller's W and H^T) holding that iteration's values and `state` what else resuming needs. Only
    /// with `on_checkpoint` set does anything above write a checkpoint.
    std::function<void(const ResumeState &state)> on_checkpoint;
    /// Continue after resume.iterations completed iterations (the factors passed in are that iteration's).
    /// Iterations are numbered on from there; max_iter counts all of them.
    ResumeState resume;
};

struct NmfInfo {
    int iterations = 0;
    bool converged = false;
    std::string stop_reason;   ///< "tolerance", "max-iter", "max-time", "interrupted", "deadline"
    double relative_error = 0; ///< at the end, from the trace identity
    double objective = 0;
    double seconds = 0; ///< wall time of the iterations
    std::vector<double> history_relative_error;
    std::vector<double> history_seconds; ///< per iteration
    nnls::BppStats bpp;                  ///< ANLS-BPP inner-solver counters summed over ranks and iterations
    /// Seconds per phase summed over iterations (this rank's clock; max over ranks is reported).
    double t_products = 0, t_grams = 0, t_solve = 0, t_comm = 0;
};

} // namespace prism
